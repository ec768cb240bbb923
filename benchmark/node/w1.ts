// W1 — throughput, one publisher → one subscriber.
//
// roker, zeromq and child_process IPC run publisher and subscriber in two processes;
// MessagePort and BroadcastChannel in two threads of one process (worker_threads, the
// baseline for Node); mqemitter in one thread. The publisher sends as fast as the transport
// lets it for a fixed time, then an end marker; throughput is messages received divided by
// the time from the publisher's first send to the subscriber's receipt of the end marker
// (both read from CLOCK_MONOTONIC, shared by all processes). Transports without
// back-pressure get credit-based flow control (see `Credit`), so no queue grows unbounded.
import { Worker, MessageChannel, type MessagePort } from 'node:worker_threads'
import { spawn } from 'node:child_process'
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

const DATA = '/bench/w1/data'
const END = '/bench/w1/end'

export interface W1Args {
  impl: string
  size: number
  seconds: number
  /** roker only: 'message' (publish + receive) or 'batch' (publishMany + receiveMany). */
  mode?: 'message' | 'batch'
}

interface Sent {
  count: number
  t0: number
  /** zeromq: sends retried after EAGAIN at the high-water mark. */
  retries?: number
}
interface Received {
  count: number
  t1: number
  bad: number
}

/** How many sends between clock reads. */
function stride(size: number): number {
  return Math.max(1, Math.min(256, Math.floor(65536 / size)))
}

function result(args: W1Args, sent: Sent, got: Received, extra: Record<string, unknown> = {}): Result {
  const seconds = (got.t1 - sent.t0) / 1e9
  const msgs = got.count / seconds
  const impl = args.impl === 'roker' ? `roker-${args.mode}` : args.impl
  return {
    workload: 'W1',
    name: `W1 throughput ${sizeLabel(args.size)}`,
    impl,
    params: { payload_bytes: args.size, seconds: Number(seconds.toFixed(3)), ...extra },
    metrics: {
      msgs_per_s: msgs,
      gb_per_s: (msgs * args.size) / 1e9,
      messages: got.count,
      sent: sent.count,
      ...(got.bad ? { out_of_order: got.bad } : {}),
    },
  }
}

export function sizeLabel(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / 1024 / 1024} MiB`
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`
  return `${n} B`
}

// ---------------------------------------------------------------------------------------------
// roker

async function rokerDriver(args: W1Args): Promise<Result> {
  const name = brokerName('w1')
  const broker = new Broker({
    name,
    bufferSize: Math.max(64 * 1024 * 1024, 32 * args.size),
    inboxCapacity: 65536,
    publishTimeout: 60_000,
    maxClients: 16,
  })
  const timeout = args.seconds * 1000 + 60_000
  const sub = new Child('w1-roker-sub', { name, mode: args.mode }, 'w1 roker subscriber', timeout)
  const pub = new Child(
    'w1-roker-pub',
    { name, size: args.size, seconds: args.seconds, mode: args.mode },
    'w1 roker publisher',
    timeout,
  )
  try {
    return await withChildren([sub, pub], async () => {
      await within(Promise.all([sub.next('READY'), pub.next('READY')]), 30_000, 'w1 roker startup')
      pub.send('GO')
      const [sent, got] = await Promise.all([pub.next<Sent>('SENT'), sub.next<Received>('RECEIVED')])
      return result(args, sent, got)
    })
  } finally {
    broker.destroy()
  }
}

async function rokerPub(a: { name: string; size: number; seconds: number; mode?: 'message' | 'batch' }): Promise<void> {
  const broker = Broker.connect(a.name)
  const payload = makePayload(a.size)
  const k = stride(a.size)
  // Batch mode publishes with publishMany (one native call per stride), message mode with
  // one publish per message.
  const batch = Array.from({ length: k }, () => payload)
  report('READY')
  await command()
  let count = 0
  const t0 = now()
  const end = t0 + a.seconds * 1e9
  do {
    if (a.mode === 'batch') {
      let sent = 0
      while (sent < k) sent += broker.publishMany(DATA, sent === 0 ? batch : batch.slice(sent))
    } else {
      for (let i = 0; i < k; i++) broker.publish(DATA, payload)
    }
    count += k
  } while (now() < end)
  broker.publish(END, String(count))
  broker.close()
  report('SENT', { count, t0 } satisfies Sent)
}

async function rokerSub(a: { name: string; mode: 'message' | 'batch' }): Promise<void> {
  const broker = Broker.connect(a.name)
  const id = broker.registerClient('w1 subscriber')
  broker.subscribe(id, DATA)
  broker.subscribe(id, END)
  report('READY')
  let count = 0
  let bad = 0
  let expected = 1
  if (a.mode === 'message') {
    for (;;) {
      let m = broker.receive(id)
      if (m === null) {
        m = await broker.receiveAsync(id, { timeout: 60_000 })
        if (m === null) throw new Error('subscriber: nothing for 60 s')
      }
      if (m.topic === END) break
      if (m.sequence !== expected) bad++
      expected = m.sequence + 1
      count++
    }
  } else {
    outer: for (;;) {
      let batch = broker.receiveMany(id, 1024)
      if (batch.length === 0) {
        const m = await broker.receiveAsync(id, { timeout: 60_000 })
        if (m === null) throw new Error('subscriber: nothing for 60 s')
        batch = [m]
      }
      for (let i = 0; i < batch.length; i++) {
        const m = batch[i]
        if (m.topic === END) break outer
        if (m.sequence !== expected) bad++
        expected = m.sequence + 1
        count++
      }
    }
  }
  const t1 = now()
  broker.unregisterClient(id)
  broker.close()
  report('RECEIVED', { count, t1, bad } satisfies Received)
}

// ---------------------------------------------------------------------------------------------
// zeromq: XPUB (to learn when the subscription arrived) with ZMQ_XPUB_NODROP, so a full
// queue makes `send` wait instead of dropping; SUB filters by the prefix `/bench/w1/`.

async function zmqDriver(args: W1Args): Promise<Result> {
  const { endpoint, cleanup } = ipcEndpoint('w1zmq')
  try {
    return await zmqRun(args, endpoint)
  } finally {
    cleanup()
  }
}

async function zmqRun(args: W1Args, endpoint: string): Promise<Result> {
  const timeout = args.seconds * 1000 + 60_000
  const pub = new Child('w1-zmq-pub', { endpoint, size: args.size, seconds: args.seconds }, 'w1 zeromq publisher', timeout)
  try {
    await within(pub.next('BOUND'), 30_000, 'w1 zeromq bind')
  } catch (e) {
    pub.kill()
    await pub.exited
    throw e
  }
  const sub = new Child('w1-zmq-sub', { endpoint, size: args.size }, 'w1 zeromq subscriber', timeout)
  return withChildren([sub, pub], async () => {
    await within(Promise.all([sub.next('READY'), pub.next('READY')]), 30_000, 'w1 zeromq startup')
    pub.send('GO')
    const [sent, got] = await Promise.all([pub.next<Sent>('SENT'), sub.next<Received>('RECEIVED')])
    pub.send('EXIT')
    return result(args, sent, got)
  })
}

async function zmqPub(a: { endpoint: string; size: number; seconds: number }): Promise<void> {
  const pub = new zmq.XPublisher({ noDrop: true, sendHighWaterMark: windowFor(a.size) })
  await pub.bind(a.endpoint)
  report('BOUND')
  await pub.receive() // the subscription message
  report('READY')
  await command()
  const payload = makePayload(a.size)
  const k = stride(a.size)
  let count = 0
  let retries = 0
  const t0 = now()
  const end = t0 + a.seconds * 1e9
  do {
    for (let i = 0; i < k; i++) retries += await zmqSend(pub, [DATA, payload])
    count += k
  } while (now() < end)
  await zmqSend(pub, [END, String(count)])
  report('SENT', { count, t0, retries } satisfies Sent)
  await command() // EXIT, once the subscriber has everything (exiting drops queued messages)
  pub.close()
}

async function zmqSub(a: { endpoint: string; size: number }): Promise<void> {
  const sub = new zmq.Subscriber({ receiveHighWaterMark: windowFor(a.size) })
  sub.connect(a.endpoint)
  sub.subscribe('/bench/w1/')
  report('READY')
  let count = 0
  const endLen = Buffer.byteLength(END)
  for await (const [topic] of sub) {
    if (topic.length === endLen) break
    count++
  }
  const t1 = now()
  sub.close()
  report('RECEIVED', { count, t1, bad: 0 } satisfies Received)
}

// ---------------------------------------------------------------------------------------------
// worker_threads: MessagePort and BroadcastChannel (publisher in a worker thread, subscriber
// on the main thread; acknowledgements go back for flow control).

async function threadDriver(args: W1Args): Promise<Result> {
  const window = windowFor(args.size)
  const ackEvery = ackEveryFor(args.size)
  const channelName = brokerName('w1bc')
  const { port1, port2 } = new MessageChannel()
  const worker = new Worker(MAIN, {
    execArgv: NODE_FLAGS,
    argv: ['w1-thread-pub', JSON.stringify({ impl: args.impl, size: args.size, seconds: args.seconds, window, channelName })],
    workerData: { port: port1 },
    transferList: [port1],
  })
  const bc = args.impl === 'broadcastchannel' ? new BroadcastChannel(channelName) : null
  try {
    const done = new Promise<[Sent, Received]>((resolve, reject) => {
      let count = 0
      let sent: Sent | null = null
      worker.on('error', reject)
      worker.on('exit', (code) => reject(new Error(`publisher thread exited (${code})`)))
      const onData = (m: unknown): void => {
        if (ArrayBuffer.isView(m)) {
          if (++count % ackEvery === 0) port2.postMessage(count)
          return
        }
        const ctl = m as { end?: Sent }
        if (ctl.end) {
          sent = ctl.end
          resolve([sent, { count, t1: now(), bad: 0 }])
        }
      }
      if (bc) bc.onmessage = (e: Event) => onData((e as MessageEvent).data)
      // The start signal and acknowledgements travel on the port (so does data for MessagePort).
      port2.on('message', (m: unknown) => {
        if (typeof m === 'object' && m !== null && !ArrayBuffer.isView(m) && 'ready' in m) port2.postMessage('go')
        else onData(m)
      })
    })
    const [sent, got] = await within(done, args.seconds * 1000 + 60_000, `w1 ${args.impl}`)
    return result(args, sent, got, { window })
  } finally {
    port2.close()
    bc?.close()
    await worker.terminate()
  }
}

/** The publisher thread of the MessagePort / BroadcastChannel runs. */
export async function threadPub(
  a: { impl: string; size: number; seconds: number; window: number; channelName: string },
  port: MessagePort,
): Promise<void> {
  const credit = new Credit(1, a.window)
  const bc = a.impl === 'broadcastchannel' ? new BroadcastChannel(a.channelName) : null
  const go = new Promise<void>((resolve) => {
    port.on('message', (m: unknown) => {
      if (m === 'go') resolve()
      else credit.ack(0, m as number)
    })
  })
  port.postMessage({ ready: true })
  await go
  const payload = makePayload(a.size)
  const k = Math.min(stride(a.size), a.window)
  const t0 = now()
  const end = t0 + a.seconds * 1e9
  do {
    for (let i = 0; i < k; i++) {
      if (!credit.open()) await credit.wait()
      if (bc) bc.postMessage(payload)
      else port.postMessage(payload)
      credit.sent++
    }
  } while (now() < end)
  // On the same channel as the data, so it cannot overtake it.
  ;(bc ?? port).postMessage({ end: { count: credit.sent, t0 } satisfies Sent })
  // Nothing is closed here: the driver terminates this thread once it has the end marker.
}

// ---------------------------------------------------------------------------------------------
// child_process IPC: the publisher is a child process calling process.send (advanced
// serialization, so Buffers travel as bytes); the driver receives.

async function ipcDriver(args: W1Args): Promise<Result> {
  const window = windowFor(args.size)
  const ackEvery = ackEveryFor(args.size)
  const child = spawn(process.execPath, [...NODE_FLAGS, MAIN, 'w1-ipc-pub', JSON.stringify({ size: args.size, seconds: args.seconds, window })], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), args.seconds * 1000 + 60_000)
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  try {
    const [sent, got] = await new Promise<[Sent, Received]>((resolve, reject) => {
      let count = 0
      child.on('error', reject)
      void exited.then((code) => reject(new Error(`IPC publisher exited (${code}) before the end`)))
      child.on('message', (m: unknown) => {
        if (ArrayBuffer.isView(m)) {
          if (++count % ackEvery === 0) child.send(count)
          return
        }
        const ctl = m as { ready?: boolean; end?: Sent }
        if (ctl.ready) child.send('go')
        else if (ctl.end) resolve([ctl.end, { count, t1: now(), bad: 0 }])
      })
    })
    child.disconnect()
    return result(args, sent, got, { window })
  } finally {
    clearTimeout(timer)
    if (child.exitCode === null) child.kill('SIGKILL')
    await exited
  }
}

async function ipcPub(a: { size: number; seconds: number; window: number }): Promise<void> {
  const credit = new Credit(1, a.window)
  const go = new Promise<void>((resolve) => {
    process.on('message', (m: unknown) => {
      if (m === 'go') resolve()
      else credit.ack(0, m as number)
    })
  })
  process.send!({ ready: true })
  await go
  const payload = makePayload(a.size)
  const k = Math.min(stride(a.size), a.window)
  const t0 = now()
  const end = t0 + a.seconds * 1e9
  do {
    for (let i = 0; i < k; i++) {
      if (!credit.open()) await credit.wait()
      process.send!(payload)
      credit.sent++
    }
  } while (now() < end)
  process.send!({ end: { count: credit.sent, t0 } satisfies Sent })
  await new Promise((resolve) => process.once('disconnect', resolve))
}

// ---------------------------------------------------------------------------------------------
// mqemitter (in process: emit calls the listener synchronously; no copy, no thread hop).

async function mqemitterRun(args: W1Args): Promise<Result> {
  const mq = mqemitter({ wildcardOne: '*' })
  let count = 0
  mq.on(DATA, (_m, done) => {
    count++
    done()
  })
  await new Promise((r) => setImmediate(r))
  const payload = makePayload(args.size)
  const message = { topic: DATA, payload }
  const k = stride(args.size)
  let sent = 0
  const t0 = now()
  const end = t0 + args.seconds * 1e9
  do {
    for (let i = 0; i < k; i++) mq.emit(message)
    sent += k
  } while (now() < end)
  const t1 = now()
  await new Promise<void>((r) => mq.close(() => r()))
  return result(args, { count: sent, t0 }, { count, t1, bad: 0 }, { in_process: true })
}

// ---------------------------------------------------------------------------------------------

export async function w1(args: W1Args): Promise<Result> {
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
      throw new Error(`W1: unknown impl ${args.impl}`)
  }
}

export const w1Roles: Record<string, (a: never) => Promise<void>> = {
  'w1-roker-pub': rokerPub,
  'w1-roker-sub': rokerSub,
  'w1-zmq-pub': zmqPub,
  'w1-zmq-sub': zmqSub,
  'w1-ipc-pub': ipcPub,
}
