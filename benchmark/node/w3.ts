// W3 — fan-out: one publisher, N = 1, 4 or 16 subscribers, 64-byte messages on four topics
// (`/bench/w3/<k>/data`), every subscriber holding the wildcard filter `/bench/w3/*/data`
// (zeromq: the prefix `/bench/w3/`, it has no wildcards). roker, zeromq and child_process
// use one process per subscriber; MessagePort and BroadcastChannel one worker thread per
// subscriber; mqemitter N listeners in one thread. Deliveries/s = messages received by all
// subscribers together ÷ time from the first publish to the last subscriber's end marker.
// roker subscribers take batches (`receiveMany`) and await `receiveAsync` when idle, so 16
// of them share two cores without spinning.
import { Worker, MessageChannel, type MessagePort } from 'node:worker_threads'
import { spawn, type ChildProcess } from 'node:child_process'
import mqemitter from 'mqemitter'
import * as zmq from 'zeromq'
import { Broker } from '../../index.js'
import {
  Child,
  Credit,
  MAIN,
  NODE_FLAGS,
  ackEveryFor,
  brokerName,
  ipcEndpoint,
  command,
  makePayload,
  now,
  report,
  withChildren,
  within,
  windowFor,
  zmqSend,
  type Result,
} from './common.js'

const SIZE = 64
const TOPICS = [0, 1, 2, 3].map((k) => `/bench/w3/${k}/data`)
const FILTER = '/bench/w3/*/data'
const END = '/bench/w3/end'

export interface W3Args {
  impl: string
  subscribers: number
  seconds: number
}

interface Sent {
  count: number
  t0: number
}
interface Received {
  count: number
  t1: number
}

function result(args: W3Args, sent: Sent, got: Received[], extra: Record<string, unknown> = {}): Result {
  const total = got.reduce((a, g) => a + g.count, 0)
  const t1 = Math.max(...got.map((g) => g.t1))
  const seconds = (t1 - sent.t0) / 1e9
  return {
    workload: 'W3',
    name: `W3 fan-out 1 → ${args.subscribers}`,
    impl: args.impl,
    params: { subscribers: args.subscribers, payload_bytes: SIZE, seconds: Number(seconds.toFixed(3)), ...extra },
    metrics: {
      deliveries_per_s: total / seconds,
      msgs_per_s: sent.count / seconds,
      deliveries: total,
      sent: sent.count,
      ...(total !== sent.count * args.subscribers ? { missing: sent.count * args.subscribers - total } : {}),
    },
  }
}

const K = 64 // publishes between clock reads

// ---------------------------------------------------------------------------------------------
// roker

async function rokerDriver(args: W3Args): Promise<Result> {
  const name = brokerName('w3')
  const broker = new Broker({ name, bufferSize: 64 * 1024 * 1024, inboxCapacity: 65536, publishTimeout: 60_000, maxClients: 64 })
  const timeout = args.seconds * 1000 + 90_000
  const subs = Array.from({ length: args.subscribers }, (_, i) => new Child('w3-roker-sub', { name }, `w3 roker subscriber ${i}`, timeout))
  const pub = new Child('w3-roker-pub', { name, seconds: args.seconds }, 'w3 roker publisher', timeout)
  try {
    return await withChildren([...subs, pub], async () => {
      await within(Promise.all([...subs.map((s) => s.next('READY')), pub.next('READY')]), 60_000, 'w3 roker startup')
      pub.send('GO')
      const [sent, ...got] = await Promise.all([pub.next<Sent>('SENT'), ...subs.map((s) => s.next<Received>('RECEIVED'))])
      return result(args, sent, got)
    })
  } finally {
    broker.destroy()
  }
}

async function rokerPub(a: { name: string; seconds: number }): Promise<void> {
  const broker = Broker.connect(a.name)
  const payload = makePayload(SIZE)
  report('READY')
  await command()
  let count = 0
  const t0 = now()
  const end = t0 + a.seconds * 1e9
  do {
    for (let i = 0; i < K; i++) broker.publish(TOPICS[i & 3], payload)
    count += K
  } while (now() < end)
  broker.publish(END, '')
  broker.close()
  report('SENT', { count, t0 } satisfies Sent)
}

async function rokerSub(a: { name: string }): Promise<void> {
  const broker = Broker.connect(a.name)
  const id = broker.registerClient('w3 subscriber')
  broker.subscribe(id, FILTER)
  broker.subscribe(id, END)
  report('READY')
  let count = 0
  outer: for (;;) {
    let batch = broker.receiveMany(id, 1024)
    if (batch.length === 0) {
      const m = await broker.receiveAsync(id, { timeout: 60_000 })
      if (m === null) throw new Error('subscriber: nothing for 60 s')
      batch = [m]
    }
    for (let i = 0; i < batch.length; i++) {
      if (batch[i].topic === END) break outer
      count++
    }
  }
  const t1 = now()
  broker.unregisterClient(id)
  broker.close()
  report('RECEIVED', { count, t1 } satisfies Received)
}

// ---------------------------------------------------------------------------------------------
// zeromq (XPUB with ZMQ_XPUB_VERBOSE to see every subscription, ZMQ_XPUB_NODROP)

async function zmqDriver(args: W3Args): Promise<Result> {
  const { endpoint, cleanup } = ipcEndpoint('w3zmq')
  try {
    return await zmqRun(args, endpoint)
  } finally {
    cleanup()
  }
}

async function zmqRun(args: W3Args, endpoint: string): Promise<Result> {
  const timeout = args.seconds * 1000 + 90_000
  const pub = new Child('w3-zmq-pub', { endpoint, seconds: args.seconds, subscribers: args.subscribers }, 'w3 zeromq publisher', timeout)
  try {
    await within(pub.next('BOUND'), 30_000, 'w3 zeromq bind')
  } catch (e) {
    pub.kill()
    await pub.exited
    throw e
  }
  const subs = Array.from({ length: args.subscribers }, (_, i) => new Child('w3-zmq-sub', { endpoint }, `w3 zeromq subscriber ${i}`, timeout))
  return withChildren([...subs, pub], async () => {
    await within(Promise.all([...subs.map((s) => s.next('READY')), pub.next('READY')]), 60_000, 'w3 zeromq startup')
    pub.send('GO')
    const [sent, ...got] = await Promise.all([pub.next<Sent>('SENT'), ...subs.map((s) => s.next<Received>('RECEIVED'))])
    pub.send('EXIT')
    return result(args, sent, got)
  })
}

async function zmqPub(a: { endpoint: string; seconds: number; subscribers: number }): Promise<void> {
  const pub = new zmq.XPublisher({ noDrop: true, verbosity: 'allSubs', sendHighWaterMark: windowFor(SIZE) })
  await pub.bind(a.endpoint)
  report('BOUND')
  for (let i = 0; i < a.subscribers; i++) await pub.receive()
  report('READY')
  await command()
  const payload = makePayload(SIZE)
  let count = 0
  const t0 = now()
  const end = t0 + a.seconds * 1e9
  do {
    for (let i = 0; i < K; i++) await zmqSend(pub, [TOPICS[i & 3], payload])
    count += K
  } while (now() < end)
  await zmqSend(pub, [END, ''])
  report('SENT', { count, t0 } satisfies Sent)
  await command()
  pub.close()
}

async function zmqSub(a: { endpoint: string }): Promise<void> {
  const sub = new zmq.Subscriber({ receiveHighWaterMark: windowFor(SIZE) })
  sub.connect(a.endpoint)
  sub.subscribe('/bench/w3/')
  report('READY')
  let count = 0
  const endLen = Buffer.byteLength(END)
  for await (const [topic] of sub) {
    if (topic.length === endLen) break
    count++
  }
  const t1 = now()
  sub.close()
  report('RECEIVED', { count, t1 } satisfies Received)
}

// ---------------------------------------------------------------------------------------------
// worker_threads: the driver's main thread publishes; each subscriber is a worker thread.
// MessagePort: one port per subscriber, so the publisher posts (and the runtime copies)
// once per subscriber. BroadcastChannel: one post reaches every worker.

async function threadDriver(args: W3Args): Promise<Result> {
  const window = windowFor(SIZE)
  const ackEvery = ackEveryFor(SIZE)
  const channelName = brokerName('w3bc')
  const credit = new Credit(args.subscribers, window)
  const workers: Worker[] = []
  const ports: MessagePort[] = []
  const bc = args.impl === 'broadcastchannel' ? new BroadcastChannel(channelName) : null
  try {
    const ready: Promise<void>[] = []
    const done: Promise<Received>[] = []
    const failures: Promise<never>[] = []
    for (let i = 0; i < args.subscribers; i++) {
      const { port1, port2 } = new MessageChannel()
      const w = new Worker(MAIN, {
        execArgv: NODE_FLAGS,
        argv: ['w3-thread-sub', JSON.stringify({ impl: args.impl, channelName, ackEvery })],
        workerData: { port: port1 },
        transferList: [port1],
      })
      workers.push(w)
      ports.push(port2)
      failures.push(
        new Promise<never>((_, reject) => {
          w.on('error', reject)
          w.on('exit', (code) => reject(new Error(`subscriber thread exited (${code})`)))
        }),
      )
      let onReady: () => void
      let onDone: (r: Received) => void
      ready.push(new Promise((r) => (onReady = r)))
      done.push(new Promise((r) => (onDone = r)))
      port2.on('message', (m: { ready?: true; ack?: number; done?: Received }) => {
        if (m.ready) onReady()
        else if (m.ack !== undefined) credit.ack(i, m.ack)
        else if (m.done) onDone(m.done)
      })
    }
    const failed = Promise.race(failures)
    await within(Promise.race([Promise.all(ready), failed]), 60_000, `w3 ${args.impl} startup`)
    const payload = makePayload(SIZE)
    const t0 = now()
    const end = t0 + args.seconds * 1e9
    do {
      for (let i = 0; i < K; i++) {
        if (!credit.open()) await credit.wait()
        if (bc) bc.postMessage(payload)
        else for (const p of ports) p.postMessage(payload)
        credit.sent++
      }
    } while (now() < end)
    if (bc) bc.postMessage('end')
    else for (const p of ports) p.postMessage('end')
    const got = await within(Promise.race([Promise.all(done), failed]), 90_000, `w3 ${args.impl}`)
    return result(args, { count: credit.sent, t0 }, got, { window })
  } finally {
    for (const p of ports) p.close()
    bc?.close()
    await Promise.all(workers.map((w) => w.terminate()))
  }
}

/** A subscriber thread of the MessagePort / BroadcastChannel runs. */
export function w3ThreadSub(a: { impl: string; channelName: string; ackEvery: number }, port: MessagePort): void {
  let count = 0
  const onData = (data: unknown): void => {
    if (data === 'end') {
      // The channel stays open (the driver terminates this thread): closing it could end the
      // thread before the driver has read `done`.
      port.postMessage({ done: { count, t1: now() } satisfies Received })
      return
    }
    if (++count % a.ackEvery === 0) port.postMessage({ ack: count })
  }
  const bc = a.impl === 'broadcastchannel' ? new BroadcastChannel(a.channelName) : null
  if (bc) bc.onmessage = (e: Event) => onData((e as MessageEvent).data)
  else port.on('message', onData)
  port.on('close', () => bc?.close())
  setImmediate(() => port.postMessage({ ready: true }))
}

// ---------------------------------------------------------------------------------------------
// child_process IPC: the driver sends to each child with child.send.

async function ipcDriver(args: W3Args): Promise<Result> {
  const window = windowFor(SIZE)
  const ackEvery = ackEveryFor(SIZE)
  const credit = new Credit(args.subscribers, window)
  const children: ChildProcess[] = []
  const exits: Promise<unknown>[] = []
  const timer = setTimeout(() => children.forEach((c) => c.kill('SIGKILL')), args.seconds * 1000 + 90_000)
  try {
    const ready: Promise<void>[] = []
    const done: Promise<Received>[] = []
    for (let i = 0; i < args.subscribers; i++) {
      const c = spawn(process.execPath, [...NODE_FLAGS, MAIN, 'w3-ipc-sub', JSON.stringify({ ackEvery })], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        serialization: 'advanced',
      })
      children.push(c)
      let onReady: () => void
      let onDone: (r: Received) => void
      let onFail: (e: Error) => void
      ready.push(new Promise((r) => (onReady = r)))
      done.push(
        new Promise((resolve, reject) => {
          onDone = resolve
          onFail = reject
        }),
      )
      exits.push(
        new Promise((resolve) =>
          c.on('exit', (code) => {
            onFail(new Error(`IPC subscriber exited (${code})`))
            resolve(code)
          }),
        ),
      )
      c.on('message', (m: { ready?: true; ack?: number; done?: Received }) => {
        if (m.ready) onReady()
        else if (m.ack !== undefined) credit.ack(i, m.ack)
        else if (m.done) onDone(m.done)
      })
    }
    await within(Promise.all(ready), 60_000, 'w3 ipc startup')
    const payload = makePayload(SIZE)
    const t0 = now()
    const end = t0 + args.seconds * 1e9
    do {
      for (let i = 0; i < K; i++) {
        if (!credit.open()) await credit.wait()
        for (const c of children) c.send(payload)
        credit.sent++
      }
    } while (now() < end)
    for (const c of children) c.send('end')
    const got = await within(Promise.all(done), 90_000, 'w3 ipc')
    for (const c of children) c.disconnect()
    return result(args, { count: credit.sent, t0 }, got, { window })
  } finally {
    clearTimeout(timer)
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
    await Promise.all(exits)
  }
}

async function ipcSub(a: { ackEvery: number }): Promise<void> {
  let count = 0
  process.on('message', (m: unknown) => {
    if (m === 'end') process.send!({ done: { count, t1: now() } satisfies Received })
    else if (++count % a.ackEvery === 0) process.send!({ ack: count })
  })
  process.send!({ ready: true })
  await new Promise((resolve) => process.once('disconnect', resolve))
}

// ---------------------------------------------------------------------------------------------
// mqemitter: N listeners with the wildcard filter, in the driver's thread.

async function mqemitterRun(args: W3Args): Promise<Result> {
  const mq = mqemitter({ wildcardOne: '*' })
  const counts = new Array<number>(args.subscribers).fill(0)
  for (let i = 0; i < args.subscribers; i++) {
    mq.on(FILTER, (_m, done) => {
      counts[i]++
      done()
    })
  }
  await new Promise((r) => setImmediate(r))
  const payload = makePayload(SIZE)
  const messages = TOPICS.map((topic) => ({ topic, payload }))
  let sent = 0
  const t0 = now()
  const end = t0 + args.seconds * 1e9
  do {
    for (let i = 0; i < K; i++) mq.emit(messages[i & 3])
    sent += K
  } while (now() < end)
  const t1 = now()
  await new Promise<void>((r) => mq.close(() => r()))
  return result(
    args,
    { count: sent, t0 },
    counts.map((count) => ({ count, t1 })),
    { in_process: true },
  )
}

// ---------------------------------------------------------------------------------------------

export async function w3(args: W3Args): Promise<Result> {
  switch (args.impl) {
    case 'roker':
      return rokerDriver(args)
    case 'zeromq':
      return zmqDriver(args)
    case 'messageport':
    case 'broadcastchannel':
      return threadDriver(args)
    case 'child_process':
      return ipcDriver(args)
    case 'mqemitter':
      return mqemitterRun(args)
    default:
      throw new Error(`W3: unknown impl ${args.impl}`)
  }
}

export const w3Roles: Record<string, (a: never) => Promise<void>> = {
  'w3-roker-pub': rokerPub,
  'w3-roker-sub': rokerSub,
  'w3-zmq-pub': zmqPub,
  'w3-zmq-sub': zmqSub,
  'w3-ipc-sub': ipcSub,
}
