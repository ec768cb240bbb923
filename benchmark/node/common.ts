// Plumbing shared by every Node workload: child processes, timing, statistics, flow control.
//
// A measurement runs in a "driver" process (spawned by benchmark/run.ts); the driver spawns
// its peers (publisher, subscribers, pong) by re-running benchmark/node/main.ts with a role
// argument. Children talk to their parent with `TAG {json}` lines on stdout; the parent
// writes commands as lines on the child's stdin. Every child has a hard time limit and is
// SIGKILLed when it outlives it or its parent, so nothing is left behind.
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'
import { rmSync } from 'node:fs'

/** The entry file of every benchmark child process. */
export const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url))
/** Node flags every child (and worker thread) needs to run TypeScript. */
export const NODE_FLAGS = ['--import', '@oxc-node/core/register']

/** Nanoseconds on CLOCK_MONOTONIC, comparable across processes on one Linux host. */
export function now(): number {
  return Number(process.hrtime.bigint())
}

/** Sleeps `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Prints a `TAG {json}` line for the parent. */
export function report(tag: string, data: unknown = {}): void {
  process.stdout.write(`${tag} ${JSON.stringify(data)}\n`)
}

const running = new Set<ChildProcess>()
process.once('exit', () => {
  for (const proc of running) proc.kill('SIGKILL')
})
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => process.exit(130))
}

/** Lines a child reads from its stdin (commands from its parent). */
let stdinLines: AsyncIterator<string> | null = null
/** Waits for the next command line from the parent (e.g. `GO`). */
export async function command(): Promise<string> {
  stdinLines ??= createInterface({ input: process.stdin })[Symbol.asyncIterator]()
  const r = await stdinLines.next()
  if (r.done) throw new Error('parent closed stdin')
  return r.value
}

/** A child process running benchmark/node/main.ts in some role. */
export class Child {
  readonly label: string
  readonly proc: ChildProcess
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  #lines: string[] = []
  #waiters = new Set<() => void>()
  #done = false
  #stderr = ''

  constructor(role: string, args: unknown, label: string, timeoutMs: number) {
    this.label = label
    this.proc = spawn(process.execPath, [...NODE_FLAGS, MAIN, role, JSON.stringify(args)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    running.add(this.proc)
    const timer = setTimeout(() => {
      this.#stderr += `\n${label}: still running after ${timeoutMs} ms, killed`
      this.proc.kill('SIGKILL')
    }, timeoutMs)
    let partial = ''
    this.proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n')
      partial = parts.pop()!
      this.#lines.push(...parts)
      this.#wake()
    })
    this.proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-4000)
    })
    this.proc.stdin!.on('error', () => {})
    this.exited = new Promise((resolve) => {
      this.proc.on('close', (code, signal) => {
        clearTimeout(timer)
        running.delete(this.proc)
        this.#done = true
        this.#wake()
        resolve({ code, signal })
      })
    })
  }

  #wake(): void {
    for (const wake of [...this.#waiters]) wake()
  }

  /** The tail of the child's stderr. */
  get stderr(): string {
    return this.#stderr.trim()
  }

  /** Resolves with the data of the next `TAG {json}` line; rejects if the child exits first. */
  next<T = unknown>(tag: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const i = this.#lines.findIndex((line) => line === tag || line.startsWith(`${tag} `))
        if (i >= 0) {
          const [line] = this.#lines.splice(i, 1)
          this.#waiters.delete(check)
          const json = line.slice(tag.length).trim()
          resolve((json ? JSON.parse(json) : {}) as T)
        } else if (this.#done) {
          this.#waiters.delete(check)
          reject(new Error(`${this.label} exited without reporting ${tag}${this.stderr ? `: ${lastLines(this.stderr)}` : ''}`))
        }
      }
      this.#waiters.add(check)
      check()
    })
  }

  /** Writes a command line to the child's stdin. */
  send(line: string): void {
    this.proc.stdin!.write(`${line}\n`)
  }

  /** Kills the process if it still runs. */
  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL')
  }
}

function lastLines(s: string, n = 6): string {
  return s.split('\n').slice(-n).join(' | ')
}

/** Waits for children to exit (killing them after `graceMs`); throws if one failed. */
export async function reap(children: Child[], graceMs = 5000): Promise<void> {
  const timer = setTimeout(() => children.forEach((c) => c.kill()), graceMs)
  const exits = await Promise.all(children.map((c) => c.exited))
  clearTimeout(timer)
  const failed = children
    .map((c, i) => ({ c, e: exits[i] }))
    .filter(({ e }) => e.code !== 0)
    .map(({ c, e }) => `${c.label} (${e.signal ?? `exit ${e.code}`})${c.stderr ? `: ${lastLines(c.stderr)}` : ''}`)
  if (failed.length) throw new Error(`child failed: ${failed.join('; ')}`)
}

/** Runs `body` with the given children, always killing and reaping them afterwards. */
export async function withChildren<T>(children: Child[], body: () => Promise<T>): Promise<T> {
  try {
    const out = await body()
    await reap(children)
    return out
  } finally {
    for (const c of children) c.kill()
    await Promise.all(children.map((c) => c.exited))
  }
}

/** Rejects after `ms` with a message (for bounded waits on promises). */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)
    }),
  ])
}

/** Percentiles of latency samples (any unit); sorts `samples` in place. */
export function percentiles(samples: Float64Array): { p50: number; p99: number; p999: number; max: number; mean: number; n: number } {
  samples.sort()
  const n = samples.length
  const at = (q: number): number => samples[Math.min(n - 1, Math.floor(q * n))]
  let sum = 0
  for (let i = 0; i < n; i++) sum += samples[i]
  return { p50: at(0.5), p99: at(0.99), p999: at(0.999), max: samples[n - 1], mean: sum / n, n }
}

/** A unique-enough broker name for one measurement. */
export function brokerName(tag: string): string {
  return `rkb-${tag}-${process.pid}-${Math.floor(Math.random() * 1e6)}`
}

/** Payload of `size` bytes with recognisable content. */
export function makePayload(size: number): Buffer {
  // Not from Buffer's shared pool: structured clone (postMessage) copies a view's whole
  // ArrayBuffer, which for a pooled 64-byte Buffer is the 8 KiB pool.
  const b = Buffer.allocUnsafeSlow(size)
  for (let i = 0; i < size; i++) b[i] = i & 0xff
  return b
}

/**
 * Credit-based flow control for transports without back-pressure (postMessage, process.send):
 * the sender keeps at most `window` messages unacknowledged by the slowest receiver; receivers
 * acknowledge every `ackEvery` messages. roker's 'block' policy and zeromq's XPUB_NODROP give
 * the same bound natively.
 */
export class Credit {
  readonly window: number
  #acked: number[]
  #wake: (() => void) | null = null
  sent = 0

  constructor(receivers: number, window: number) {
    this.window = window
    this.#acked = new Array(receivers).fill(0)
  }

  /** Records that receiver `i` has processed `count` messages in total. */
  ack(i: number, count: number): void {
    this.#acked[i] = count
    if (this.#wake && this.open()) {
      const w = this.#wake
      this.#wake = null
      w()
    }
  }

  /** Whether another message may be sent now. */
  open(): boolean {
    let min = Infinity
    for (const a of this.#acked) if (a < min) min = a
    return this.sent - min < this.window
  }

  /** Resolves when another message may be sent. */
  wait(): Promise<void> {
    if (this.open()) return Promise.resolve()
    return new Promise((resolve) => {
      this.#wake = resolve
    })
  }
}

/** Messages a sender may have in flight for a payload size: ~64 MiB or 65,536 messages. */
export function windowFor(size: number): number {
  return Math.max(4, Math.min(65536, Math.floor((64 * 1024 * 1024) / Math.max(size, 64))))
}

/** Acknowledge every this many messages (a quarter of the window, at least 1). */
export function ackEveryFor(size: number): number {
  return Math.max(1, Math.floor(windowFor(size) / 4))
}

/** One measured result, as written to the JSON report. */
export interface Result {
  workload: string
  name: string
  impl: string
  params: Record<string, unknown>
  metrics: Record<string, number>
  error?: string
  note?: string
}

/**
 * Sends on a zeromq XPUB with ZMQ_XPUB_NODROP: at the high-water mark libzmq fails with
 * EAGAIN instead of dropping, and since a PUB socket always polls writable, zeromq.js
 * rejects rather than waiting; so yield to the event loop and retry.
 */
export async function zmqSend(sock: { send(msg: (string | Buffer)[]): Promise<void> }, msg: (string | Buffer)[]): Promise<number> {
  let retries = 0
  for (;;) {
    try {
      await sock.send(msg)
      return retries
    } catch (e) {
      if ((e as { code?: string }).code !== 'EAGAIN') throw e
      retries++
      await new Promise((r) => setImmediate(r))
    }
  }
}

/** A fresh zeromq ipc:// endpoint and a function removing its socket file afterwards. */
export function ipcEndpoint(tag: string): { endpoint: string; cleanup: () => void } {
  const path = `/tmp/${brokerName(tag)}.ipc`
  return { endpoint: `ipc://${path}`, cleanup: () => rmSync(path, { force: true }) }
}
