// Topic patterns: which filters match which topics, in one process.
//
//   npm run example:patterns      (or: node --import @oxc-node/core/register examples/topic-patterns.ts)
//
// Topics are split into levels by `/`. In a subscription filter, `*` matches exactly one level
// (even an empty one) and `#`, only as the last level, matches any number of levels, including
// none. Filters that start with a wildcard do not match topics whose first level starts with
// `$` (such as `$SYS/...`). Matching is case-sensitive. These are MQTT's rules, with `*` where
// MQTT writes `+`; in roker `+` is an ordinary character.
//
// The table is computed with `matches(filter, topic)`, then checked against real
// subscriptions on a broker. Invalid filters and topics throw a RokerError with a stable code.
import { Broker, matches, RokerError, Topic } from '../index.js'

const TOPICS: [topic: string, note: string][] = [
  ['/sensors', ''],
  ['/sensors/kitchen/temperature', ''],
  ['/sensors/kitchen/humidity', ''],
  ['/sensors//temperature', 'an empty level between the slashes'],
  ['/sensors/kitchen/temperature/raw', ''],
  ['sensors/kitchen/temperature', 'no leading `/`: the first level is "sensors", not ""'],
  ['/Sensors/kitchen/temperature', 'matching is case-sensitive'],
  ['/sensors/+', '`+` is an ordinary character in roker'],
  ['$SYS/broker/clients', 'a `$` topic, for broker internals'],
]

const FILTERS: [filter: string, note: string][] = [
  ['/sensors/#', '`#` also matches the parent level itself'],
  ['/sensors/*/temperature', '`*` is exactly one level, possibly empty'],
  ['/sensors/*', 'one level below /sensors, not two'],
  ['/*/*/temperature', ''],
  ['sensors/#', 'no leading `/`'],
  ['/sensors/kitchen/temperature', 'no wildcard: exact match only'],
  ['#', 'everything, except `$` topics'],
  ['/#', 'every topic starting with `/`'],
  ['*/broker/clients', 'a leading wildcard never matches `$` topics'],
  ['$SYS/#', 'name `$SYS` explicitly to see them'],
]

const INVALID_FILTERS = ['', 'sensors*', '/sensors/#/raw', '#/sensors', '/sensors/te#', '**', 'a\0b']
const INVALID_TOPICS = ['', '/sensors/*/temperature', '/sensors/#', 'a\0b', `/${'x'.repeat(300)}`]

// 1. The table, from matches().

console.log('Topics:')
TOPICS.forEach(([topic, note], i) => console.log(`  ${String(i + 1).padStart(2)}  ${topic.padEnd(34)}${note}`.trimEnd()))

const width = Math.max(...FILTERS.map(([f]) => f.length)) + 2
const numbers = TOPICS.map((_, i) => String(i + 1).padStart(2)).join('')
console.log(`\n${'filter'.padEnd(width)}${numbers}   note`)
const expected = new Map<string, Set<string>>()
for (const [filter, note] of FILTERS) {
  const matched = new Set(TOPICS.map(([t]) => t).filter((topic) => matches(filter, topic)))
  expected.set(filter, matched)
  const marks = TOPICS.map(([t]) => (matched.has(t) ? ' ✓' : ' ·')).join('')
  console.log(`${filter.padEnd(width)}${marks}   ${note}`.trimEnd())
}

// 2. The same table through a real broker: one client per filter, each topic published once.

const broker = new Broker({
  name: `patterns-${process.pid}`,
  bufferSize: 1 << 20,
  maxClients: FILTERS.length,
  maxSubscriptionsPerClient: 1,
})
let agree = true
try {
  const clients = FILTERS.map(([filter]) => {
    const id = broker.registerClient(filter)
    broker.subscribe(id, filter)
    return { filter, id }
  })

  console.log('\nPublishing each topic once to a broker with one subscriber per filter:')
  for (const [topic] of TOPICS) {
    const reached = broker.publish(new Topic(topic), `reading for ${topic}`)
    console.log(`  ${topic.padEnd(34)} reached ${reached} subscriber${reached === 1 ? '' : 's'}`)
  }

  for (const { filter, id } of clients) {
    const received = new Set(broker.receiveMany(id, 100).map((m) => m.topic))
    const want = expected.get(filter)!
    if (received.size !== want.size || [...received].some((t) => !want.has(t))) {
      agree = false
      console.error(`  ${filter}: received [${[...received].join(', ')}], matches() says [${[...want].join(', ')}]`)
    }
  }
  console.log(
    agree
      ? `Every subscriber received exactly the topics matches() predicts (${FILTERS.length} × ${TOPICS.length} pairs).`
      : 'MISMATCH between subscriptions and matches()!',
  )

  // 3. Invalid filters and topics are errors with a stable code, never a silent non-match.

  console.log('\nInvalid filters (broker.subscribe):')
  const probe = clients[0].id
  for (const filter of INVALID_FILTERS) {
    console.log(`  ${JSON.stringify(filter).padEnd(18)} ${outcome(() => broker.subscribe(probe, filter))}`)
  }
  console.log('\nInvalid topics (broker.publish):')
  for (const topic of INVALID_TOPICS) {
    const shown = topic.length > 40 ? `"/xxx…" (${topic.length} bytes)` : JSON.stringify(topic)
    console.log(`  ${shown.padEnd(26)} ${outcome(() => broker.publish(topic, 'x'))}`)
  }
} finally {
  broker.destroy()
}
if (!agree) process.exitCode = 1

/** Runs `f` and describes the RokerError it throws. */
function outcome(f: () => void): string {
  try {
    f()
    return 'accepted (unexpected!)'
  } catch (err) {
    if (err instanceof RokerError) return `${err.code.padEnd(14)} ${err.message}`
    throw err
  }
}
