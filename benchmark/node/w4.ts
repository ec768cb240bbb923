// W4 — sparse scale: does publish cost depend on how many clients exist?
//
// Two brokers in one process. Baseline: one subscriber holding `/bench/w4/data/*`. Scaled:
// the same subscriber plus `clients` idle clients holding `subscriptions` filters each
// (exact, `*` and `#` filters that never match the published topics). The same 64-byte
// messages are published round-robin on 64 topics; only the publish calls are timed (the
// subscriber is drained between batches, untimed). Cost ratio = scaled ns/publish ÷
// baseline ns/publish; 1.0 means client count does not matter.
import { Broker } from '../../index.js'
import { brokerName, makePayload, now, type Result } from './common.js'

export interface W4Args {
  clients: number
  subscriptions: number
  seconds: number
}

const TOPICS = Array.from({ length: 64 }, (_, k) => `/bench/w4/data/${k}`)
const FILTER = '/bench/w4/data/*'
const BATCH = 512

function idleFilter(i: number, j: number): string {
  switch (j % 3) {
    case 0:
      return `/bench/w4/idle/${i}/${j}`
    case 1:
      return `/bench/w4/*/${i}/${j}`
    default:
      return `/bench/w4/idle${i}/${j}/#`
  }
}

/** ns per publish with the subscriber kept drained. */
function measure(broker: Broker, sub: number, seconds: number): { ns: number; publishes: number } {
  const payload = makePayload(64)
  // Warm-up, which also interns the topics.
  for (let r = 0; r < 20; r++) {
    for (let i = 0; i < BATCH; i++) broker.publish(TOPICS[i & 63], payload)
    broker.receiveMany(sub, BATCH)
  }
  let timed = 0
  let publishes = 0
  const end = now() + seconds * 1e9
  while (now() < end) {
    const t0 = now()
    for (let i = 0; i < BATCH; i++) broker.publish(TOPICS[i & 63], payload)
    timed += now() - t0
    publishes += BATCH
    if (broker.receiveMany(sub, BATCH).length !== BATCH) throw new Error('W4: subscriber missed messages')
  }
  return { ns: timed / publishes, publishes }
}

export async function w4(args: W4Args): Promise<Result> {
  const common = { bufferSize: 16 * 1024 * 1024, inboxCapacity: 1024, publishTimeout: 10_000, maxTopicLength: 64 }
  const base = new Broker({ name: brokerName('w4a'), maxClients: 4, ...common })
  let baseline: { ns: number; publishes: number }
  try {
    const sub = base.registerClient('subscriber')
    base.subscribe(sub, FILTER)
    baseline = measure(base, sub, args.seconds)
  } finally {
    base.destroy()
  }

  const scaledBroker = new Broker({
    name: brokerName('w4b'),
    maxClients: args.clients + 4,
    maxSubscriptionsPerClient: args.subscriptions,
    ...common,
  })
  let scaled: { ns: number; publishes: number }
  let setupSeconds: number
  try {
    const t0 = now()
    for (let i = 0; i < args.clients; i++) {
      const id = scaledBroker.registerClient()
      for (let j = 0; j < args.subscriptions; j++) scaledBroker.subscribe(id, idleFilter(i, j))
    }
    setupSeconds = (now() - t0) / 1e9
    const sub = scaledBroker.registerClient('subscriber')
    scaledBroker.subscribe(sub, FILTER)
    scaled = measure(scaledBroker, sub, args.seconds)
  } finally {
    scaledBroker.destroy()
  }
  const filters = args.clients * args.subscriptions
  return {
    workload: 'W4',
    name: `W4 sparse ${args.clients} clients × ${args.subscriptions} subscriptions`,
    impl: 'roker',
    params: { clients: args.clients, subscriptions_per_client: args.subscriptions, payload_bytes: 64 },
    metrics: {
      ns_per_publish: scaled.ns,
      baseline_ns_per_publish: baseline.ns,
      cost_ratio: scaled.ns / baseline.ns,
      subscribes_per_s: filters / setupSeconds,
      setup_s: setupSeconds,
    },
  }
}
