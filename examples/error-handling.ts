// Error handling: provokes, one by one, the errors users meet, and shows how to tell them apart.
//
//   npm run example:errors      (or: node --import @oxc-node/core/register examples/error-handling.ts)
//
// Every failure inside roker throws a `RokerError` whose `code` is stable (one of
// `ERROR_CODES`); the message is for humans and may change. Arguments of the wrong type throw
// a plain `TypeError` (or `RangeError`) before reaching the broker. The last section shows the
// other slow-subscriber policy, 'dropOldest', where nothing throws and the subscriber learns
// from `message.missed` how many messages it lost.
import { Broker, type BrokerOptions, ERROR_CODES, RokerError } from '../index.js'

let brokers = 0
/** A small broker with a name unique to this process, so concurrent runs never collide. */
function smallBroker(options: Partial<BrokerOptions> = {}): Broker {
  return new Broker({
    name: `errors-${process.pid}-${brokers++}`,
    bufferSize: 1 << 20,
    maxClients: 8,
    maxSubscriptionsPerClient: 8,
    ...options,
  })
}

/** What an application might do about each error. A `switch` on `err.code` is type-checked. */
function advice(err: unknown): string {
  if (err instanceof TypeError || err instanceof RangeError) return 'a bug in the caller: fix the argument'
  if (!(err instanceof RokerError)) throw err // not ours: let it propagate
  switch (err.code) {
    case 'BufferFull':
      return 'a subscriber is not keeping up: retry later, raise publishTimeout, or use dropOldest'
    case 'MaxClientsReached':
    case 'MaxSubscriptionsReached':
      return 'a configured limit: unregister or unsubscribe unused ones, or create the broker with a larger limit'
    case 'MessageTooLarge':
      return 'split the payload, or raise maxMessageSize (at most about half of bufferSize)'
    case 'InvalidTopic':
    case 'InvalidFilter':
      return 'fix the topic or filter (wildcards only in filters, as whole levels, `#` last)'
    case 'NotFound':
      return 'no such broker (start the process that creates it first) or no such subscription'
    case 'AlreadyExists':
      return 'a live broker has this name: connect to it with Broker.connect(name) instead'
    case 'ClientNotFound':
      return 'the id was unregistered (or its process died and was swept): register again'
    case 'Closed':
      return 'the handle was closed or the broker destroyed: stop using it, or connect again'
    case 'InvalidConfig':
    case 'InvalidName':
      return 'fix the broker options'
    default:
      return `unexpected here (${err.code})`
  }
}

let failures = 0
/** Runs `action`, which should throw `expected`, and prints what happened. */
function expectError(expected: string, title: string, action: () => string | void): void {
  console.log(`\n${expected} — ${title}`)
  try {
    const note = action()
    console.log(`  ✗ no error${note ? ` (${note})` : ''}`)
    failures++
  } catch (err) {
    const code = err instanceof RokerError ? err.code : err instanceof Error ? err.name : String(err)
    const kind = err instanceof RokerError ? `RokerError, code ${err.code}` : code
    console.log(`  ${code === expected ? '✓' : '✗'} ${kind}: ${(err as Error).message}`)
    console.log(`    → ${advice(err)}`)
    if (code !== expected) failures++
  }
}

// ---------------------------------------------------------------------------------------------

console.log(`roker error codes: ${ERROR_CODES.join(', ')}`)

{
  // With the 'block' policy a publisher waits up to publishTimeout for a slow subscriber to
  // make room; with 0 it fails at once. Here the subscriber's inbox holds 4 messages.
  const broker = smallBroker({ policy: 'block', publishTimeout: 0, inboxCapacity: 4 })
  const slow = broker.registerClient('slow subscriber')
  broker.subscribe(slow, '/jobs/#')
  let published = 0
  expectError('BufferFull', "policy 'block', publishTimeout 0, a subscriber that never reads", () => {
    for (; published < 100; published++) broker.publish('/jobs/resize', `job ${published}`)
  })
  console.log(`    (${published} messages were accepted before that)`)
  broker.receive(slow) // reading one message makes room for one more
  console.log(`    after the subscriber reads one, publish works again: reached ${broker.publish('/jobs/resize', 'retry')}`)
  broker.destroy()
}

{
  const broker = smallBroker({ maxClients: 2 })
  expectError('MaxClientsReached', 'maxClients: 2, registering a third client', () => {
    broker.registerClient('one')
    broker.registerClient('two')
    broker.registerClient('three')
  })
  broker.destroy()
}

{
  const broker = smallBroker({ maxSubscriptionsPerClient: 2 })
  const id = broker.registerClient()
  expectError('MaxSubscriptionsReached', 'maxSubscriptionsPerClient: 2, a third subscribe', () => {
    broker.subscribe(id, '/a/#')
    broker.subscribe(id, '/b/#')
    broker.subscribe(id, '/c/#')
  })
  broker.destroy()
}

const broker = smallBroker({ maxMessageSize: 1024 })
try {
  const id = broker.registerClient('demo')

  expectError('MessageTooLarge', 'maxMessageSize: 1024, publishing 4 KiB', () => {
    broker.publish('/big', Buffer.alloc(4096))
  })

  expectError('InvalidTopic', 'publishing on a topic with a wildcard', () => {
    broker.publish('/sensors/*/temperature', '21.5')
  })

  expectError('InvalidFilter', "subscribing with '#' not at the end", () => {
    broker.subscribe(id, '/sensors/#/raw')
  })

  expectError('NotFound', 'connecting to a broker nobody created', () => {
    Broker.connect(`no-such-broker-${process.pid}`)
  })

  expectError('NotFound', 'unsubscribing from a filter the client does not hold', () => {
    broker.unsubscribe(id, '/never/subscribed')
  })

  expectError('AlreadyExists', 'creating a broker with the name of a live one', () => {
    new Broker({ name: broker.name }).close()
  })

  expectError('InvalidConfig', 'inboxCapacity must be a power of two', () => {
    smallBroker({ inboxCapacity: 1000 }).destroy()
  })

  expectError('InvalidName', 'broker names are letters, digits, _ - .', () => {
    smallBroker({ name: 'my broker' }).destroy()
  })

  const gone = broker.registerClient('short-lived')
  broker.unregisterClient(gone)
  expectError('ClientNotFound', 'receiving with an unregistered client id', () => {
    broker.receive(gone)
  })

  expectError('TypeError', 'a number as payload', () => {
    broker.publish('/sensors/kitchen/temperature', 21.5 as unknown as string)
  })

  expectError('TypeError', 'a string as client id', () => {
    broker.subscribe(String(id) as unknown as number, '/sensors/#')
  })
} finally {
  broker.destroy()
}

{
  const closedBroker = smallBroker()
  const other = Broker.connect(closedBroker.name) // a second handle, as another process would have
  closedBroker.close()
  expectError('Closed', 'publishing through a handle after close()', () => {
    closedBroker.publish('/x', 'y')
  })
  other.destroy() // removes the broker for everyone
  expectError('Closed', 'using a handle after the broker was destroyed', () => {
    other.registerClient()
  })
}

// ---------------------------------------------------------------------------------------------
// 'dropOldest': the publisher never waits or fails; a slow subscriber loses its oldest
// messages and learns how many from `missed` on the next message it receives.

{
  const broker = smallBroker({ policy: 'dropOldest', inboxCapacity: 4 })
  const slow = broker.registerClient('slow subscriber')
  broker.subscribe(slow, '/ticks')
  for (let i = 1; i <= 10; i++) broker.publish('/ticks', `tick ${i}`)

  console.log("\ndropOldest — policy 'dropOldest', inboxCapacity 4, 10 messages published, none read yet")
  console.log(`  stats: ${JSON.stringify(broker.stats(slow))}`)
  const received = broker.receiveMany(slow, 100)
  for (const m of received) {
    console.log(`  received "${m.text()}" (sequence ${m.sequence})${m.missed ? `, missed ${m.missed} before it` : ''}`)
  }
  const missed = received.reduce((sum, m) => sum + m.missed, 0)
  const ok = received.length === 4 && missed === 6
  console.log(`  ${ok ? '✓' : '✗'} ${received.length} received + ${missed} missed = 10 published`)
  if (!ok) failures++
  broker.destroy()
}

console.log(failures === 0 ? '\nOK: every error had the expected code.' : `\n${failures} unexpected outcome(s)`)
if (failures > 0) process.exitCode = 1
