// W5 — matching 10,000 filters against a stream of topics, in one process.
//
// The filters (seeded, reproducible) mix exact filters, `*` filters and `#` filters over the
// topic space `/w5/<a>/<b>/<c>`; the stream draws from 1,000 distinct topics. Compared:
//   qlobber          — `Qlobber.match(topic)` (a trie; what mqemitter and aedes use),
//   roker-matcher    — roker's `Matcher.match(topic)`: a native trie plus a per-topic result
//                      cache (the stream's 1,000 topics are all cached after warm-up, as the
//                      broker's topic table caches routes); matching only, like qlobber,
//   roker-matcher-uncached — the same with `cacheSize: 0`: a native trie walk per topic,
//   roker-broker     — `broker.publish(topic, '')` on a broker holding the 10,000 filters
//                      (one client each, 'dropOldest' so nothing waits): routing plus
//                      delivery, with topics interned after their first sight,
//   roker-broker-uncached — the same with a topic table of 64 (`maxTopics: 64`), full, so
//                      ~94 % of the publishes scan all filters,
//   roker-matches    — `matches(filter, topic)` called for every filter (one native call per
//                      pair; not how a broker routes, shown for the per-call cost).
// topics_per_s counts topics resolved against all 10,000 filters per second; matches_per_s
// the filter–topic decisions that amounts to (topics/s × filters), the unit the Rust side
// uses. Results are checked to agree with qlobber.
import { Qlobber } from 'qlobber'
import { Broker, Matcher, matches } from '../../index.js'
import { brokerName, now, type Result } from './common.js'

export interface W5Args {
  impl: string
  filters: number
  seconds: number
}

function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function makeFilters(n: number): string[] {
  const r = rng(1)
  const pick = (k: number): number => Math.floor(r() * k)
  const out: string[] = []
  for (let i = 0; i < n; i++) {
    const a = pick(100)
    const b = pick(100)
    const c = pick(10)
    const kind = r()
    // Expected matches per topic: about 13 (exact 0.05, a/*/c 2, */b/c 1.5, a/b/# 0.15,
    // a/# 4.5, */*/c 5).
    if (kind < 0.45) out.push(`/w5/${a}/${b}/${c}`)
    else if (kind < 0.65) out.push(`/w5/${a}/*/${c}`)
    else if (kind < 0.8) out.push(`/w5/*/${b}/${c}`)
    else if (kind < 0.95) out.push(`/w5/${a}/${b}/#`)
    else if (kind < 0.995) out.push(`/w5/${a}/#`)
    else out.push(`/w5/*/*/${c}`)
  }
  return out
}

export function makeTopics(n: number, seed: number): string[] {
  const r = rng(seed)
  return Array.from({ length: n }, () => `/w5/${Math.floor(r() * 100)}/${Math.floor(r() * 100)}/${Math.floor(r() * 10)}`)
}

const STREAM = 1 << 16

export async function w5(args: W5Args): Promise<Result> {
  const filters = makeFilters(args.filters)
  const distinct = makeTopics(1000, 2)
  const r = rng(3)
  const stream = Array.from({ length: STREAM }, () => distinct[Math.floor(r() * distinct.length)])

  // Reference counts from qlobber (also the qlobber measurement).
  const q = new Qlobber({ separator: '/', wildcard_one: '*', wildcard_some: '#' })
  filters.forEach((f, i) => q.add(f, i))
  const expected = new Map<string, number>()
  for (const t of distinct) expected.set(t, q.match(t).length)
  const avgMatches = distinct.reduce((a, t) => a + expected.get(t)!, 0) / distinct.length

  let topics = 0
  let seconds = 0
  let agree = true
  let checked = 0
  const timed = (body: (i: number) => void, perTopic = 1): void => {
    const end = now() + args.seconds * 1e9
    // Warm-up
    for (let i = 0; i < 2000 / perTopic; i++) body(i)
    const t0 = now()
    let i = 0
    do {
      for (let k = 0; k < 256; k++) body(i++)
      topics += 256
    } while (now() < end)
    seconds = (now() - t0) / 1e9
  }

  let broker: Broker | null = null
  try {
    switch (args.impl) {
      case 'qlobber': {
        let sink = 0
        timed((i) => {
          sink += q.match(stream[i & (STREAM - 1)]).length
        })
        if (sink < 0) console.log(sink)
        break
      }
      case 'roker-matcher':
      case 'roker-matcher-uncached': {
        const m = new Matcher<number>({ cacheSize: args.impl === 'roker-matcher' ? 65_536 : 0 })
        filters.forEach((f, i) => m.add(f, i))
        for (const t of distinct) {
          if (m.match(t).length !== expected.get(t)) agree = false
          checked++
        }
        let sink = 0
        timed((i) => {
          sink += m.match(stream[i & (STREAM - 1)]).length
        })
        if (sink < 0) console.log(sink)
        break
      }
      case 'roker-matches': {
        const n = filters.length
        let sink = 0
        const end = now() + args.seconds * 1e9
        const t0 = now()
        let i = 0
        do {
          const t = stream[i++ & (STREAM - 1)]
          let c = 0
          for (let f = 0; f < n; f++) if (matches(filters[f], t)) c++
          if (c !== expected.get(t)) agree = false
          checked++
          sink += c
          topics++
        } while (now() < end)
        seconds = (now() - t0) / 1e9
        if (sink < 0) console.log(sink)
        break
      }
      case 'roker-broker':
      case 'roker-broker-uncached': {
        broker = new Broker({
          name: brokerName('w5'),
          maxClients: filters.length + 2,
          maxSubscriptionsPerClient: 1,
          maxTopicLength: 64,
          inboxCapacity: 2,
          bufferSize: 4 * 1024 * 1024,
          policy: 'dropOldest',
          maxTopics: args.impl === 'roker-broker-uncached' ? 64 : 4096,
        })
        const b = broker
        for (const f of filters) b.subscribe(b.registerClient(), f)
        for (const t of distinct) {
          if (b.publish(t, '') !== expected.get(t)) agree = false
          checked++
        }
        if (args.impl === 'roker-broker') {
          timed((i) => b.publish(stream[i & (STREAM - 1)], ''))
        } else {
          // The check above filled the 64-topic table; ~94 % of the stream's topics are not in
          // it, so those publishes scan all filters.
          timed((i) => b.publish(stream[i & (STREAM - 1)], ''), 100)
        }
        break
      }
      default:
        throw new Error(`W5: unknown impl ${args.impl}`)
    }
  } finally {
    broker?.destroy()
  }
  const perS = topics / seconds
  return {
    workload: 'W5',
    name: `W5 matching ${filters.length} filters`,
    impl: args.impl,
    params: { filters: filters.length, distinct_topics: 1000, ...(args.impl.endsWith('uncached') ? { max_topics: 64 } : {}), avg_matches_per_topic: Number(avgMatches.toFixed(2)), ...(checked ? { agrees_with_qlobber: agree, checked_topics: checked } : {}) },
    metrics: { topics_per_s: perS, matches_per_s: perS * filters.length, ns_per_topic: 1e9 / perS },
    ...(agree ? {} : { error: 'match counts differ from qlobber' }),
  }
}
