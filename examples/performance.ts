// Performance: a quick measurement across two processes.
//
//   npm run example:perf      (or: node --import @oxc-node/core/register examples/performance.ts)
//
// 1. Throughput: one process publishes 64-byte messages one `publish` call at a time for
//    3 seconds; another takes them in batches with `receiveMany(id, 4096)`, and awaits
//    `receiveAsync` only when its inbox is empty. With the default 'block' policy the
//    publisher is held back to the subscriber's pace, so the figure is end to end.
// 2. Latency: two processes play ping-pong through the broker, each waiting with
//    `receiveSync` (spin briefly, then sleep on a futex) — 20,000 round trips, p50/p99.
//
// Results depend on the machine; the example takes about 6 seconds.
import { Broker } from '../index.js'
import { Child, failedChildren, onInterrupt, report } from './lib/processes.js'

const MESSAGE_BYTES = 64
const THROUGHPUT_SECONDS = 3
const ROUND_TRIPS = 20_000
const WARMUP_ROUND_TRIPS = 2_000

interface Sent {
  count: number
  seconds: number
}

interface Received {
  count: number
  seconds: number
  outOfOrder: number
  batches: number
}

interface Latency {
  p50: number
  p99: number
  p999: number
  min: number
  max: number
  mean: number
}

// ---------------------------------------------------------------------------------------------
// Throughput: publisher and subscriber processes.

function publisher(brokerName: string): void {
  const broker = Broker.connect(brokerName)
  const payload = Buffer.alloc(MESSAGE_BYTES, 'x')
  let count = 0
  const start = performance.now()
  const end = start + THROUGHPUT_SECONDS * 1000
  while (performance.now() < end) {
    // Look at the clock only every 1000 messages.
    for (let i = 0; i < 1000; i++) {
      payload.writeUInt32LE(count++, 0)
      broker.publish('/perf/data', payload)
    }
  }
  const seconds = (performance.now() - start) / 1000
  broker.publish('/perf/end', JSON.stringify({ count }))
  broker.close()
  report('SENT', { count, seconds } satisfies Sent)
}

async function subscriber(brokerName: string): Promise<void> {
  const broker = Broker.connect(brokerName)
  const id = broker.registerClient('throughput subscriber')
  broker.subscribe(id, '/perf/data')
  broker.subscribe(id, '/perf/end')
  report('READY')

  const result: Received = { count: 0, seconds: 0, outOfOrder: 0, batches: 0 }
  let start = 0
  let expectedSequence = 1
  for (;;) {
    let batch = broker.receiveMany(id, 4096)
    if (batch.length === 0) {
      // Inbox empty: wait without spinning (on a native thread, off the event loop).
      const m = await broker.receiveAsync(id, { timeout: 10_000 })
      if (m === null) throw new Error('subscriber: no message for 10 s')
      batch = [m]
    }
    if (start === 0) start = performance.now()
    result.batches++
    for (const m of batch) {
      if (m.topic === '/perf/end') {
        result.seconds = (performance.now() - start) / 1000
        broker.unregisterClient(id)
        broker.close()
        report('RECEIVED', result)
        return
      }
      if (m.sequence !== expectedSequence) result.outOfOrder++
      expectedSequence = m.sequence + 1
      result.count++
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Latency: ping and pong processes, both blocking in receiveSync.

function pong(brokerName: string): void {
  const broker = Broker.connect(brokerName)
  const id = broker.registerClient('pong')
  broker.subscribe(id, '/perf/ping')
  report('READY')
  for (;;) {
    const m = broker.receiveSync(id, 10_000)
    if (m === null) throw new Error('pong: no ping for 10 s')
    if (m.payload.length === 0) break // the end signal
    broker.publish('/perf/pong', m.payload)
  }
  broker.unregisterClient(id)
  broker.close()
}

function ping(brokerName: string): void {
  const broker = Broker.connect(brokerName)
  const id = broker.registerClient('ping')
  broker.subscribe(id, '/perf/pong')
  const payload = Buffer.alloc(MESSAGE_BYTES, 'p')
  const samples = new Float64Array(ROUND_TRIPS)
  for (let i = -WARMUP_ROUND_TRIPS; i < ROUND_TRIPS; i++) {
    const t0 = process.hrtime.bigint()
    broker.publish('/perf/ping', payload)
    if (broker.receiveSync(id, 10_000) === null) throw new Error('ping: no pong for 10 s')
    const t1 = process.hrtime.bigint()
    if (i >= 0) samples[i] = Number(t1 - t0) / 1000 // µs
  }
  broker.publish('/perf/ping', '') // tells pong to stop
  broker.unregisterClient(id)
  broker.close()

  samples.sort()
  const at = (q: number): number => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length
  report('LATENCY', {
    p50: at(0.5),
    p99: at(0.99),
    p999: at(0.999),
    min: samples[0],
    max: samples[samples.length - 1],
    mean,
  } satisfies Latency)
}

// ---------------------------------------------------------------------------------------------
// Parent: runs both measurements and prints a table.

async function main(): Promise<void> {
  const name = `perf-${process.pid}`
  // A large inbox lets the publisher run ahead of the subscriber's batches.
  const broker = new Broker({ name, bufferSize: 16 << 20, maxClients: 8, inboxCapacity: 1 << 16 })
  onInterrupt(() => broker.destroy())
  const children: Child[] = []
  const spawn = (role: string): Child => {
    const child = new Child(import.meta.url, [role, name], role, 25_000)
    children.push(child)
    return child
  }

  try {
    console.log(`roker performance: two processes, ${MESSAGE_BYTES}-byte messages\n`)

    console.log(`Throughput: publishing for ${THROUGHPUT_SECONDS} s...`)
    const sub = spawn('subscriber')
    await sub.next('READY')
    const pub = spawn('publisher')
    const [sent, received] = await Promise.all([pub.next<Sent>('SENT'), sub.next<Received>('RECEIVED')])

    console.log(`Latency: ${ROUND_TRIPS.toLocaleString('en-US')} round trips...\n`)
    const ponger = spawn('pong')
    await ponger.next('READY')
    const latency = await spawn('ping').next<Latency>('LATENCY')

    const failed = await failedChildren(children)
    const problems: string[] = []
    if (received.count !== sent.count) problems.push(`published ${sent.count}, received ${received.count}`)
    if (received.outOfOrder > 0) problems.push(`${received.outOfOrder} messages out of order`)
    if (failed.length > 0) problems.push(`failed: ${failed.join(', ')}`)

    const rate = (count: number, seconds: number): string => `${(count / seconds / 1e6).toFixed(2)} M msg/s`
    const us = (v: number): string => `${v.toFixed(1)} µs`
    const rows: [string, string][] = [
      ['publish → receiveMany, end to end', rate(received.count, received.seconds)],
      ['  bandwidth (payload only)', `${((received.count * MESSAGE_BYTES) / received.seconds / 1e6).toFixed(0)} MB/s`],
      ['  publisher side', `${rate(sent.count, sent.seconds)}, ${sent.count.toLocaleString('en-US')} messages`],
      ['  messages per receiveMany batch', (received.count / received.batches).toFixed(0)],
      ['round trip p50 (receiveSync)', us(latency.p50)],
      ['round trip p99', us(latency.p99)],
      ['round trip p99.9 / max', `${us(latency.p999)} / ${us(latency.max)}`],
      ['round trip min / mean', `${us(latency.min)} / ${us(latency.mean)}`],
    ]
    const width = Math.max(...rows.map(([label]) => label.length)) + 3
    console.log(`${'measurement'.padEnd(width)}result`)
    console.log(`${'-'.repeat(width - 1)} ${'-'.repeat(24)}`)
    for (const [label, value] of rows) console.log(`${label.padEnd(width)}${value}`)

    if (problems.length > 0) {
      for (const p of problems) console.error(`PROBLEM: ${p}`)
      process.exitCode = 1
    } else {
      console.log(`\nOK: all ${received.count.toLocaleString('en-US')} messages arrived, in order.`)
    }
  } finally {
    for (const c of children) c.kill()
    broker.destroy()
  }
}

// ---------------------------------------------------------------------------------------------

const [role, name] = process.argv.slice(2)
if (role === 'publisher') publisher(name)
else if (role === 'subscriber') await subscriber(name)
else if (role === 'ping') ping(name)
else if (role === 'pong') pong(name)
else await main()
