import { writeFileSync, unlinkSync } from 'node:fs'

import test from 'ava'

import { Broker, RokerError } from '../index.js'
import { smallBroker, uniqueName } from './helpers.js'

function code(t: { throws: Function }, fn: () => unknown, c: string): void {
  ;(t as any).throws(fn, { instanceOf: RokerError, code: c })
}

test('every broker error code reachable from JavaScript', (t) => {
  const b = smallBroker('codes', { publishTimeout: 0, inboxCapacity: 2, maxClients: 3, maxSubscriptionsPerClient: 1 })
  const s = b.registerClient('s')
  b.subscribe(s, 'full')
  b.publish('full', '1')
  b.publish('full', '2')
  code(t, () => b.publish('full', '3'), 'BufferFull')
  b.registerClient('a')
  b.registerClient('b')
  code(t, () => b.registerClient('c'), 'MaxClientsReached')
  code(t, () => b.subscribe(s, 'other'), 'MaxSubscriptionsReached')
  const max = b.config().maxMessageSize
  code(t, () => b.publish('x', Buffer.alloc(max + 1)), 'MessageTooLarge')
  code(t, () => b.publish('a/#', 'x'), 'InvalidTopic')
  code(t, () => b.publish('', 'x'), 'InvalidTopic')
  code(t, () => b.publish('a\u0000b', 'x'), 'InvalidTopic')
  code(t, () => b.subscribe(s, 'a/#/b'), 'InvalidFilter')
  code(t, () => b.subscribe(s, 'a*'), 'InvalidFilter')
  code(t, () => b.unsubscribe(s, 'never'), 'NotFound')
  code(t, () => Broker.connect(uniqueName('missing')), 'NotFound')
  code(t, () => new Broker({ name: b.name }), 'AlreadyExists')
  code(t, () => b.receive(123456), 'ClientNotFound')
  code(t, () => new Broker({ name: uniqueName('cfg'), bufferSize: 10 }), 'InvalidConfig')
  code(t, () => new Broker({ name: uniqueName('cfg'), inboxCapacity: 1000 }), 'InvalidConfig')
  code(t, () => new Broker({ name: uniqueName('cfg'), maxClients: 0 }), 'InvalidConfig')
  code(t, () => new Broker({ name: 'bad/name' }), 'InvalidName')
  code(t, () => b.registerClient('x'.repeat(65)), 'InvalidName')
  code(t, () => new Broker({ name: uniqueName('huge'), bufferSize: 2 ** 42 }), 'OutOfSharedMemory')
  b.close()
  code(t, () => b.publish('x', 'y'), 'Closed')
  code(t, () => b.receive(s), 'Closed')
})

// Needs to write a region file directly, which only Linux exposes (/dev/shm).
const linuxOnly = process.platform === 'linux' ? test : null
linuxOnly?.('a foreign or corrupt region is IncompatibleRegion, not a crash', (t) => {
  const name = uniqueName('foreign')
  const path = `/dev/shm/rk.${name}`
  writeFileSync(path, Buffer.alloc(8192, 0xab), { mode: 0o600 })
  try {
    code(t, () => Broker.connect(name), 'IncompatibleRegion')
    code(t, () => new Broker({ name, bufferSize: 1 << 20 }), 'IncompatibleRegion')
  } finally {
    unlinkSync(path)
  }
})

test('wrong argument types are TypeErrors and the process survives', (t) => {
  const b = smallBroker('types')
  const s = b.registerClient('s')
  b.subscribe(s, 'ok')
  const bad: Array<() => unknown> = [
    () => new Broker(null as any),
    () => new Broker({ name: 5 } as any),
    () => new Broker({ name: uniqueName('x'), bufferSize: '1' } as any),
    () => new Broker({ name: uniqueName('x'), policy: 'fast' } as any),
    () => b.publish(5 as any, 'x'),
    () => b.publish('ok', 5 as any),
    () => b.publish('ok', { length: 1 } as any),
    () => b.publish('ok', undefined as any),
    () => b.subscribe('s' as any, 'ok'),
    () => b.subscribe(s, 7 as any),
    () => b.receive(-1),
    () => b.receive(1.5),
    () => b.receive('1' as any),
    () => b.registerClient(null as any),
    () => Broker.connect(undefined as any),
  ]
  for (const fn of bad) t.throws(fn, { instanceOf: TypeError })
  t.throws(() => b.receiveMany(s, 0), { instanceOf: RangeError })
  t.throws(() => b.receiveSync(s, -5), { instanceOf: RangeError })
  // Still fully working afterwards, nothing lost.
  b.publish('ok', 'still here')
  t.is(b.receive(s)!.text(), 'still here')
  b.close()
})

test('use after close throws Closed for every method', async (t) => {
  const b = smallBroker('afterclose')
  const s = b.registerClient('s')
  b.close()
  for (const fn of [
    () => b.registerClient('x'),
    () => b.subscribe(s, 'a'),
    () => b.unsubscribe(s, 'a'),
    () => b.publish('a', 'x'),
    () => b.receive(s),
    () => b.receiveMany(s, 5),
    () => b.stats(s),
    () => b.sweep(),
    () => b.name,
  ]) {
    code(t, fn, 'Closed')
  }
  await t.throwsAsync(b.receiveAsync(s, { timeout: 10 }), { instanceOf: RokerError, code: 'Closed' })
  b.close() // closing twice is harmless
})
