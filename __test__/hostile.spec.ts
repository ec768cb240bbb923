// Hostile input from JavaScript: every kind of wrong argument, out-of-range number, huge
// payload, invalid topic, use-after-close and unknown client. Each must fail with a clear
// error (a RokerError with a known code, or a TypeError/RangeError), the process must
// survive, and no message may be lost for the other clients.
import test from 'ava'

import { Broker, ERROR_CODES, RokerError } from '../index.js'
import { smallBroker, uniqueName } from './helpers.js'

function expectClearError(t: any, fn: () => unknown, label: string): void {
  let threw: unknown = null
  try {
    fn()
  } catch (e) {
    threw = e
  }
  t.truthy(threw, `${label}: did not throw`)
  const e = threw as Error
  t.true(e instanceof Error, `${label}: threw a non-Error`)
  t.true(typeof e.message === 'string' && e.message.length > 0, `${label}: empty message`)
  if (e instanceof RokerError) t.true(ERROR_CODES.includes(e.code), `${label}: unknown code ${e.code}`)
  else t.true(e instanceof TypeError || e instanceof RangeError, `${label}: ${e.name} ${(e as any).code}: ${e.message}`)
}

test('a barrage of bad calls never loses a bystander message', (t) => {
  const b = smallBroker('hostile', { maxClients: 4, inboxCapacity: 4096 })
  const victim = b.registerClient('victim')
  const bystander = b.registerClient('bystander')
  b.subscribe(bystander, 'keep/#')
  const closed = Broker.connect(b.name)
  closed.close()
  const huge = Buffer.alloc(b.config().maxMessageSize + 1)
  const anyB = b as any
  const bad: Array<[string, () => unknown]> = [
    ['options null', () => new Broker(null as any)],
    ['options string', () => new Broker('name' as any)],
    ['name missing', () => new Broker({} as any)],
    ['negative bufferSize', () => new Broker({ name: uniqueName('h'), bufferSize: -1 })],
    ['fractional bufferSize', () => new Broker({ name: uniqueName('h'), bufferSize: 1.5e6 + 0.5 })],
    ['infinite bufferSize', () => new Broker({ name: uniqueName('h'), bufferSize: Infinity })],
    ['NaN maxClients', () => new Broker({ name: uniqueName('h'), maxClients: NaN })],
    ['huge maxClients', () => new Broker({ name: uniqueName('h'), maxClients: 1e9 })],
    ['inboxCapacity 3', () => new Broker({ name: uniqueName('h'), inboxCapacity: 3 })],
    ['negative publishTimeout', () => new Broker({ name: uniqueName('h'), publishTimeout: -1 })],
    ['mode without owner rw', () => new Broker({ name: uniqueName('h'), mode: 0o044 })],
    ['empty name', () => new Broker({ name: '' })],
    ['path name', () => new Broker({ name: '../etc/passwd' })],
    ['long name', () => new Broker({ name: 'n'.repeat(65) })],
    ['connect number', () => Broker.connect(42 as any)],
    ['register object', () => b.registerClient({} as any)],
    ['register long', () => b.registerClient('x'.repeat(1000))],
    ['register NUL', () => b.registerClient('a\u0000b')],
    ['subscribe NaN id', () => b.subscribe(NaN, 'a')],
    ['subscribe Infinity id', () => b.subscribe(Infinity, 'a')],
    ['subscribe 2^53 id', () => b.subscribe(2 ** 53, 'a')],
    ['subscribe unknown id', () => b.subscribe(999_999, 'a')],
    ['subscribe bigint id', () => anyB.subscribe(1n, 'a')],
    ['subscribe null filter', () => b.subscribe(victim, null as any)],
    ['subscribe bad filter', () => b.subscribe(victim, 'a/#/b')],
    ['subscribe huge filter', () => b.subscribe(victim, 'a/'.repeat(500))],
    ['unsubscribe missing', () => b.unsubscribe(victim, 'never')],
    ['publish no args', () => anyB.publish()],
    ['publish number topic', () => b.publish(1 as any, 'x')],
    ['publish array payload', () => b.publish('keep/x', [1, 2] as any)],
    ['publish huge payload', () => b.publish('keep/x', huge)],
    ['publish wildcard topic', () => b.publish('keep/#', 'x')],
    ['publish empty topic', () => b.publish('', 'x')],
    ['publish NUL topic', () => b.publish('keep/\u0000', 'x')],
    ['publish huge topic', () => b.publish('k/'.repeat(1000), 'x')],
    ['receive unknown', () => b.receive(123_456)],
    ['receive negative', () => b.receive(-1)],
    ['receiveMany zero', () => b.receiveMany(victim, 0)],
    ['receiveMany huge', () => b.receiveMany(victim, 2 ** 40)],
    ['receiveMany string', () => b.receiveMany(victim, '5' as any)],
    ['receiveSync negative', () => b.receiveSync(victim, -1)],
    ['receiveSync string', () => b.receiveSync(victim, '1' as any)],
    ['stats unknown', () => b.stats(77)],
    ['unregister unknown', () => b.unregisterClient(77)],
    ['closed publish', () => closed.publish('keep/x', 'x')],
    ['closed register', () => closed.registerClient('x')],
    ['closed receive', () => closed.receive(bystander)],
    ['closed subscribe', () => closed.subscribe(bystander, 'x')],
  ]
  let sent = 0
  for (const [label, fn] of bad) {
    b.publish('keep/x', String(sent++))
    expectClearError(t, fn, label)
    b.publish('keep/y', String(sent++))
  }
  const got = b.receiveMany(bystander, 10_000).map((m) => Number(m.text()))
  t.deepEqual(got, Array.from({ length: sent }, (_, i) => i), 'a bystander message was lost or reordered')
  t.deepEqual(b.subscriptions(bystander), ['keep/#'])
  b.close()
})

test('async calls with bad input reject clearly', async (t) => {
  const b = smallBroker('hostile-async')
  const s = b.registerClient()
  await t.throwsAsync(b.receiveAsync(s, { timeout: -5 }), { instanceOf: RangeError })
  await t.throwsAsync(b.receiveAsync(s, { timeout: 'soon' as any }), { instanceOf: TypeError })
  await t.throwsAsync(b.receiveAsync(s, null as any), { instanceOf: TypeError })
  await t.throwsAsync(b.receiveAsync(31337, { timeout: 5 }), { instanceOf: RokerError, code: 'ClientNotFound' })
  await t.throwsAsync(b.waitForMessage(-3), { instanceOf: TypeError })
  const it = b.messages(31337)
  await t.throwsAsync(it.next(), { instanceOf: RokerError, code: 'ClientNotFound' })
  b.close()
})
