// W2 — latency: ping-pong of a 64-byte message between two processes (threads for
// MessagePort / BroadcastChannel). The pinger timestamps each round trip; one-way latency is
// reported as half the round trip (p50 / p99 / p99.9 / max over all round trips after a
// warm-up). roker is measured with three ways of waiting, used by both sides:
//   poll  — busy loop on `receive` (never sleeps; burns a core per side),
//   sync  — `receiveSync` (spins briefly, then sleeps on the shared futex),
//   async — `await receiveAsync` (native waiter thread, Promise resolution on the loop).
import { Worker, MessageChannel, type MessagePort } from 'node:worker_threads'
import { spawn } from 'node:child_process'
import * as zmq from 'zeromq'
import { Broker } from '../../index.js'
import { Child, MAIN, NODE_FLAGS, brokerName, ipcEndpoint, command, makePayload, now, percentiles, report, withChildren, within, type Result } from './common.js'

const PING = '/bench/w2/ping'
const PONG = '/bench/w2/pong'
const SIZE = 64
const MAX_SAMPLES = 200_000

export interface W2Args {
  impl: string
  seconds: number
  mode?: 'poll' | 'sync' | 'async'
}

interface Lat {
  p50: number
  p99: number
  p999: number
  max: number
  mean: number
  n: number
}

function result(args: W2Args, rtt: Lat): Result {
  const impl = args.impl === 'roker' ? `roker-${args.mode}` : args.impl
  return {
    workload: 'W2',
    name: 'W2 latency 64 B',
    impl,
    params: { payload_bytes: SIZE, round_trips: rtt.n },
    metrics: {
      p50_ns: rtt.p50 / 2,
      p99_ns: rtt.p99 / 2,
      p999_ns: rtt.p999 / 2,
      max_ns: rtt.max / 2,
      rtt_p50_ns: rtt.p50,
      rtt_p99_ns: rtt.p99,
      rtt_mean_ns: rtt.mean,
    },
  }
}

/** Drives round trips: `trip()` sends a ping and resolves when the pong is back. */
async function measureAsync(seconds: number, trip: () => Promise<unknown>): Promise<Lat> {
  const warmEnd = now() + Math.min(0.2, seconds / 5) * 1e9
  while (now() < warmEnd) await trip()
  const samples = new Float64Array(MAX_SAMPLES)
  let n = 0
  const end = now() + seconds * 1e9
  let t = now()
  while (n < MAX_SAMPLES && t < end) {
    await trip()
    const t1 = now()
    samples[n++] = t1 - t
    t = t1
  }
  return percentiles(samples.subarray(0, n))
}

function measureSync(seconds: number, trip: () => void): Lat {
  const warmEnd = now() + Math.min(0.2, seconds / 5) * 1e9
  while (now() < warmEnd) trip()
  const samples = new Float64Array(MAX_SAMPLES)
  let n = 0
  const end = now() + seconds * 1e9
  let t = now()
  while (n < MAX_SAMPLES && t < end) {
    trip()
    const t1 = now()
    samples[n++] = t1 - t
    t = t1
  }
  return percentiles(samples.subarray(0, n))
}

// ---------------------------------------------------------------------------------------------
// roker

async function rokerDriver(args: W2Args): Promise<Result> {
  const name = brokerName('w2')
  const broker = new Broker({ name, bufferSize: 16 * 1024 * 1024, maxClients: 8 })
  const timeout = args.seconds * 1000 + 60_000
  const pong = new Child('w2-roker-pong', { name, mode: args.mode }, 'w2 roker pong', timeout)
  try {
    await within(pong.next('READY'), 30_000, 'w2 roker pong startup')
    const ping = new Child('w2-roker-ping', { name, mode: args.mode, seconds: args.seconds }, 'w2 roker ping', timeout)
    return await withChildren([ping, pong], async () => result(args, await ping.next<Lat>('LATENCY')))
  } finally {
    pong.kill()
    broker.destroy()
  }
}

type RokerWait = (broker: Broker, id: number) => Promise<unknown> | unknown

function rokerWaiter(mode: string): { sync: boolean; wait: RokerWait } {
  if (mode === 'poll') {
    return {
      sync: true,
      wait: (b, id) => {
        let m = b.receive(id)
        while (m === null) m = b.receive(id)
        return m
      },
    }
  }
  if (mode === 'sync') {
    return {
      sync: true,
      wait: (b, id) => {
        const m = b.receiveSync(id, 30_000)
        if (m === null) throw new Error('no message for 30 s')
        return m
      },
    }
  }
  return {
    sync: false,
    wait: async (b, id) => {
      const m = await b.receiveAsync(id, { timeout: 30_000 })
      if (m === null) throw new Error('no message for 30 s')
      return m
    },
  }
}

async function rokerPong(a: { name: string; mode: string }): Promise<void> {
  const broker = Broker.connect(a.name)
  const id = broker.registerClient('pong')
  broker.subscribe(id, PING)
  report('READY')
  const { wait } = rokerWaiter(a.mode)
  for (;;) {
    const m = (await wait(broker, id)) as { payload: Buffer }
    if (m.payload.length === 0) break
    broker.publish(PONG, m.payload)
  }
  broker.unregisterClient(id)
  broker.close()
}

async function rokerPing(a: { name: string; mode: string; seconds: number }): Promise<void> {
  const broker = Broker.connect(a.name)
  const id = broker.registerClient('ping')
  broker.subscribe(id, PONG)
  const payload = makePayload(SIZE)
  const { sync, wait } = rokerWaiter(a.mode)
  const lat = sync
    ? measureSync(a.seconds, () => {
        broker.publish(PING, payload)
        wait(broker, id)
      })
    : await measureAsync(a.seconds, async () => {
        broker.publish(PING, payload)
        await wait(broker, id)
      })
  broker.publish(PING, Buffer.alloc(0))
  broker.unregisterClient(id)
  broker.close()
  report('LATENCY', lat)
}

// ---------------------------------------------------------------------------------------------
// zeromq: each side binds an XPUB and connects a SUB to the other's.

async function zmqDriver(args: W2Args): Promise<Result> {
  const a = ipcEndpoint('w2zmq-ping')
  const b = ipcEndpoint('w2zmq-pong')
  try {
    return await zmqRun(args, a.endpoint, b.endpoint)
  } finally {
    a.cleanup()
    b.cleanup()
  }
}

async function zmqRun(args: W2Args, pingEndpoint: string, pongEndpoint: string): Promise<Result> {
  const timeout = args.seconds * 1000 + 60_000
  const ends = { pingEndpoint, pongEndpoint, seconds: args.seconds }
  const pong = new Child('w2-zmq-pong', ends, 'w2 zeromq pong', timeout)
  const ping = new Child('w2-zmq-ping', ends, 'w2 zeromq ping', timeout)
  return withChildren([ping, pong], async () => {
    await within(Promise.all([ping.next('BOUND'), pong.next('BOUND')]), 30_000, 'w2 zeromq bind')
    ping.send('CONNECT')
    pong.send('CONNECT')
    await within(Promise.all([ping.next('READY'), pong.next('READY')]), 30_000, 'w2 zeromq startup')
    ping.send('GO')
    const lat = await ping.next<Lat>('LATENCY')
    await within(pong.exited, 10_000, 'w2 zeromq pong exit')
    ping.send('EXIT') // only now: exiting drops queued messages
    return result(args, lat)
  })
}

async function zmqSide(a: { pingEndpoint: string; pongEndpoint: string; seconds: number }, isPing: boolean): Promise<void> {
  const pub = new zmq.XPublisher()
  await pub.bind(isPing ? a.pingEndpoint : a.pongEndpoint)
  report('BOUND')
  await command()
  const sub = new zmq.Subscriber()
  sub.connect(isPing ? a.pongEndpoint : a.pingEndpoint)
  sub.subscribe(isPing ? PONG : PING)
  await pub.receive() // the other side's subscription
  report('READY')
  if (isPing) {
    await command()
    const payload = makePayload(SIZE)
    const lat = await measureAsync(a.seconds, async () => {
      await pub.send([PING, payload])
      await sub.receive()
    })
    await pub.send([PING, ''])
    report('LATENCY', lat)
    await command()
  } else {
    for (;;) {
      const [, body] = await sub.receive()
      if (body.length === 0) break
      await pub.send([PONG, body])
    }
  }
  pub.linger = 1000
  pub.close()
  sub.close()
}

// ---------------------------------------------------------------------------------------------
// worker_threads: the main thread pings, a worker thread pongs.

async function threadDriver(args: W2Args): Promise<Result> {
  const channelName = brokerName('w2bc')
  const { port1, port2 } = new MessageChannel()
  const worker = new Worker(MAIN, {
    execArgv: NODE_FLAGS,
    argv: ['w2-thread-pong', JSON.stringify({ impl: args.impl, channelName })],
    workerData: { port: port1 },
    transferList: [port1],
  })
  const bc = args.impl === 'broadcastchannel' ? new BroadcastChannel(channelName) : null
  try {
    let resolveNext: (() => void) | null = null
    const failed = new Promise<never>((_, reject) => {
      worker.on('error', reject)
      worker.on('exit', (code) => reject(new Error(`pong thread exited (${code})`)))
    })
    const onPong = (): void => {
      const r = resolveNext
      resolveNext = null
      r?.()
    }
    const ready = new Promise<void>((resolve) => port2.once('message', () => resolve()))
    await within(Promise.race([ready, failed]), 30_000, 'w2 pong thread startup')
    if (bc) bc.onmessage = onPong
    else port2.on('message', onPong)
    const payload = makePayload(SIZE)
    const target: { postMessage(m: unknown): void } = bc ?? port2
    const lat = await within(
      Promise.race([
        failed,
        measureAsync(
          args.seconds,
          () =>
            new Promise<void>((resolve) => {
              resolveNext = resolve
              target.postMessage(payload)
            }),
        ),
      ]),
      args.seconds * 1000 + 60_000,
      `w2 ${args.impl}`,
    )
    return result(args, lat)
  } finally {
    port2.close()
    bc?.close()
    await worker.terminate()
  }
}

/** The pong thread of the MessagePort / BroadcastChannel runs. */
export function threadPong(a: { impl: string; channelName: string }, port: MessagePort): void {
  if (a.impl === 'broadcastchannel') {
    const bc = new BroadcastChannel(a.channelName)
    bc.onmessage = (e: MessageEvent) => bc.postMessage(e.data)
  } else {
    port.on('message', (m: unknown) => port.postMessage(m))
  }
  // BroadcastChannel delivery needs the channel open on both sides before the first ping.
  setImmediate(() => port.postMessage('ready'))
}

// ---------------------------------------------------------------------------------------------
// child_process IPC: the driver pings a child process that echoes with process.send.

async function ipcDriver(args: W2Args): Promise<Result> {
  const child = spawn(process.execPath, [...NODE_FLAGS, MAIN, 'w2-ipc-pong', '{}'], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), args.seconds * 1000 + 60_000)
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  try {
    let resolveNext: (() => void) | null = null
    const ready = new Promise<void>((resolve) => child.once('message', () => resolve()))
    const failed = exited.then((code): never => {
      throw new Error(`IPC pong exited (${code})`)
    })
    await within(Promise.race([ready, failed]), 30_000, 'w2 ipc pong startup')
    child.on('message', () => {
      const r = resolveNext
      resolveNext = null
      r?.()
    })
    const payload = makePayload(SIZE)
    const lat = await Promise.race([
      failed,
      measureAsync(
        args.seconds,
        () =>
          new Promise<void>((resolve) => {
            resolveNext = resolve
            child.send(payload)
          }),
      ),
    ])
    child.disconnect()
    return result(args, lat)
  } finally {
    clearTimeout(timer)
    if (child.exitCode === null) child.kill('SIGKILL')
    await exited
  }
}

async function ipcPong(): Promise<void> {
  process.on('message', (m: unknown) => process.send!(m))
  process.send!('ready')
  await new Promise((resolve) => process.once('disconnect', resolve))
}

// ---------------------------------------------------------------------------------------------

export async function w2(args: W2Args): Promise<Result> {
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
    default:
      throw new Error(`W2: unknown impl ${args.impl}`)
  }
}

export const w2Roles: Record<string, (a: never) => Promise<void>> = {
  'w2-roker-pong': rokerPong,
  'w2-roker-ping': rokerPing,
  'w2-zmq-ping': (a: { pingEndpoint: string; pongEndpoint: string; seconds: number }) => zmqSide(a, true),
  'w2-zmq-pong': (a: { pingEndpoint: string; pongEndpoint: string; seconds: number }) => zmqSide(a, false),
  'w2-ipc-pong': ipcPong,
}
