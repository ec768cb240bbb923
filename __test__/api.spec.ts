import test from 'ava'

import { Broker, ERROR_CODES, Matcher, Message, RokerError, Topic, matches } from '../index.js'
import { smallBroker, uniqueName } from './helpers.js'

test('the quick start works as written', (t) => {
  const name = uniqueName('quick')
  const broker = new Broker({ name, bufferSize: 64 * 1024 * 1024, maxClients: 1000, maxSubscriptionsPerClient: 100 })
  const other = Broker.connect(name)
  const sub = broker.registerClient('subscriber')
  broker.subscribe(sub, '/sensors/#')
  t.is(broker.publish(new Message(new Topic('/sensors/temperature'), Buffer.from('25.5'))), 1)
  t.is(broker.publish('/sensors/temperature', '25.5'), 1)
  const msg = broker.receive(sub)
  t.true(msg instanceof Message)
  t.is(msg!.topic, '/sensors/temperature')
  t.is(msg!.payload.toString(), '25.5')
  t.is(msg!.sequence, 1)
  t.true(Math.abs(msg!.timestamp - Date.now()) < 60_000)
  const many = broker.receiveMany(sub, 1024)
  t.is(many.length, 1)
  t.is(many[0].sequence, 2)
  t.is(many[0].text(), '25.5')
  broker.unsubscribe(sub, '/sensors/#')
  t.is(broker.publish('/sensors/temperature', 'x'), 0)
  broker.unregisterClient(sub)
  other.close()
  broker.close()
  t.true(broker.closed)
})

test('payloads may be strings, Buffers or any Uint8Array', (t) => {
  const b = smallBroker('payloads')
  const s = b.registerClient()
  b.subscribe(s, 'p')
  b.publish('p', 'héllo')
  b.publish('p', Buffer.from([1, 2, 3]))
  const big = new Uint8Array([9, 8, 7, 6, 5])
  b.publish('p', big.subarray(1, 4))
  b.publish(new Topic('p'), new Uint8Array(0))
  const got = b.receiveMany(s, 10).map((m) => [...m.payload])
  t.deepEqual(got, [[...Buffer.from('héllo')], [1, 2, 3], [8, 7, 6], []])
  b.close()
})

test('wildcard routing reaches exactly the matching clients', (t) => {
  const b = smallBroker('routing')
  const room = b.registerClient('room')
  const all = b.registerClient('all')
  const root = b.registerClient('root')
  b.subscribe(room, '/sensors/*/temperature')
  b.subscribe(all, '/sensors/#')
  b.subscribe(root, '#')
  b.publish('/sensors/room1/temperature', '1')
  b.publish('/sensors/room1/humidity', '2')
  b.publish('/sensors', '3')
  b.publish('$SYS/uptime', '4')
  const texts = (id: number) => b.receiveMany(id).map((m) => m.text())
  t.deepEqual(texts(room), ['1'])
  t.deepEqual(texts(all), ['1', '2', '3'])
  t.deepEqual(texts(root), ['1', '2', '3'])
  t.deepEqual(b.subscriptions(all), ['/sensors/#'])
  t.true(matches('/sensors/*/temperature', '/sensors/x/temperature'))
  t.false(matches('#', '$SYS/x'))
  t.true(new Topic('/a/b').matches('/a/#'))
  b.close()
})

test('stats, config and publisher ids', (t) => {
  const name = uniqueName('stats')
  const b = new Broker({ name, bufferSize: 1 << 20, maxClients: 4, maxSubscriptionsPerClient: 2, policy: 'dropOldest', inboxCapacity: 4, publishTimeout: 50 })
  const cfg = b.config()
  t.is(cfg.name, name)
  t.is(cfg.policy, 'dropOldest')
  t.is(cfg.inboxCapacity, 4)
  t.is(cfg.maxClients, 4)
  t.is(cfg.publishTimeout, 50)
  t.is(cfg.mode, 0o600)
  const s = b.registerClient('s')
  b.subscribe(s, 't')
  for (let i = 0; i < 10; i++) b.publish('t', String(i))
  t.deepEqual(b.stats(s), { queued: 4, received: 0, dropped: 6, subscriptions: 1 })
  const got = b.receiveMany(s, 10)
  t.deepEqual(got.map((m) => m.text()), ['6', '7', '8', '9'])
  t.is(got[0].missed, 6)
  const other = Broker.connect(name)
  t.not(other.publisherId, b.publisherId)
  t.is(got[0].publisherId, b.publisherId)
  other.close()
  b.close()
})

test('Message and Topic validate their input', (t) => {
  const m = new Message('/a', 'x')
  t.is(m.topic, '/a')
  t.is(m.sequence, 0)
  t.throws(() => new Topic('/a/*'), { instanceOf: RokerError, code: 'InvalidTopic' })
  t.throws(() => new Message('', 'x'), { instanceOf: RokerError, code: 'InvalidTopic' })
  t.throws(() => new Message('/a', 5 as unknown as string), { instanceOf: TypeError })
  t.true(ERROR_CODES.includes('BufferFull'))
  t.is(new Topic('/x').toString(), '/x')
})

test('zero-copy receive lends the payload until the next receive', (t) => {
  const b = smallBroker('zerocopy')
  const s = b.registerClient()
  b.subscribe(s, 'z')
  const big = Buffer.alloc(100_000, 7)
  b.publish('z', big)
  b.publish('z', 'second')
  const m = b.receiveZeroCopy(s)!
  t.is(m.payload.length, 100_000)
  t.true(m.payload.equals(big))
  const next = b.receive(s)!
  t.is(next.text(), 'second')
  b.release(s)
  t.is(b.receiveZeroCopy(s), null)
  b.close()
})

test('connect shares one broker between handles; destroy closes all of them', (t) => {
  const b = smallBroker('share')
  const other = Broker.connect(b.name)
  const s = other.registerClient()
  other.subscribe(s, 'x')
  b.publish('x', 'hi')
  t.is(other.receive(s)!.text(), 'hi')
  t.true(Broker.exists(b.name))
  const name = b.name
  b.destroy()
  t.false(Broker.exists(name))
  t.throws(() => other.publish('x', 'y'), { instanceOf: RokerError, code: 'Closed' })
  other.close()
})

test('publishMany publishes a batch in order and reports partial progress', (t) => {
  const b = smallBroker('many', { publishTimeout: 0, inboxCapacity: 4 })
  const s = b.registerClient()
  b.subscribe(s, 'm/#')
  t.is(b.publishMany('m/x', ['a', Buffer.from('b'), new Uint8Array([99])]), 3)
  t.deepEqual(b.receiveMany(s).map((m) => m.text()), ['a', 'b', 'c'])
  t.is(b.publishMany(new Topic('m/y'), ['1', '2', '3', '4', '5', '6']), 4)
  t.deepEqual(b.receiveMany(s).map((m) => m.sequence), [4, 5, 6, 7])
  t.is(b.publishMany('m/x', []), 0)
  t.throws(() => b.publishMany('m/x', 'abc' as any), { instanceOf: TypeError })
  t.throws(() => b.publishMany('m/x', ['ok', 5 as any]), { instanceOf: TypeError })
  t.throws(() => b.publishMany('m/#', ['x']), { instanceOf: RokerError, code: 'InvalidTopic' })
  b.close()
})

test('receiveMany returns large payloads whole and in order', (t) => {
  const b = smallBroker('manybig', { bufferSize: 8 << 20 })
  const s = b.registerClient()
  b.subscribe(s, 'big')
  const sizes = [10, 200_000, 5, 70_000, 1_000_000, 3]
  sizes.forEach((n, i) => b.publish('big', Buffer.alloc(n, i + 1)))
  const got = b.receiveMany(s, 100)
  t.deepEqual(got.map((m) => m.payload.length), sizes)
  got.forEach((m, i) => t.true(m.payload.every((x) => x === i + 1)))
  b.close()
})

test('Matcher matches filters like the broker routes', (t) => {
  const m = new Matcher<number>()
  const filters = ['/s/*/t', '/s/#', '#', '$SYS/#', '/s/a/t', '*/x']
  filters.forEach((f, i) => m.add(f, i))
  t.is(m.size, filters.length)
  const topics = ['/s/a/t', '/s', '$SYS/up', 'q/x', '/s/b/c', 'other']
  for (const topic of topics) {
    const expect = filters.map((f, i) => [f, i] as const).filter(([f]) => matches(f, topic)).map(([, i]) => i)
    t.deepEqual(m.match(topic).sort(), expect, topic)
    t.deepEqual(m.match(topic).sort(), expect, `${topic} (cached)`)
  }
  t.true(m.remove(1))
  t.false(m.remove(1))
  t.deepEqual(m.match('/s').sort(), [2])
  const many = new Matcher()
  for (let i = 0; i < 200; i++) many.add('#', `v${i}`)
  t.is(many.match('a/b').length, 200)
  t.throws(() => m.add('a/#/b'), { instanceOf: RokerError, code: 'InvalidFilter' })
  t.throws(() => m.match('a/*'), { instanceOf: RokerError, code: 'InvalidTopic' })
  t.throws(() => m.match(5 as any), { instanceOf: TypeError })
})

test('receive returns small and large payloads intact, on new and known topics', (t) => {
  const b = smallBroker('one', { bufferSize: 4 << 20 })
  const s = b.registerClient()
  b.subscribe(s, 'r/#')
  const cases: Array<[string, number]> = [
    ['r/small', 10],
    ['r/small', 0],
    ['r/big', 200_000], // first sight of the topic, larger than the staging area
    ['r/big', 100_000], // known topic, larger than the staging area
    ['r/edge', 64 * 1024 - 6], // topic + payload exactly fill the staging area
    ['r/small', 65_536],
  ]
  cases.forEach(([topic, n], i) => b.publish(topic, Buffer.alloc(n, i + 1)))
  for (const [i, [topic, n]] of cases.entries()) {
    const m = b.receive(s)!
    t.is(m.topic, topic)
    t.is(m.payload.length, n)
    t.true(m.payload.every((x) => x === i + 1))
    t.is(m.sequence, i + 1)
  }
  // Received payloads are independent copies: the next receive does not change them.
  b.publish('r/small', 'first')
  const first = b.receive(s)!
  b.publish('r/small', 'other')
  b.receive(s)
  t.is(first.text(), 'first')
  t.is(b.receive(s), null)
  b.close()
})
