import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const workerPath = fileURLToPath(new URL('./fixtures/worker.ts', import.meta.url))

/** A child process running fixtures/worker.ts; always reaped (killed after `limitMs`). */
export class Child {
  readonly proc: ChildProcess
  readonly lines: string[] = []
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  #waiters: Array<[string, (line: string) => void]> = []
  #buf = ''
  #stderr = ''

  constructor(args: string[], limitMs = 120_000) {
    this.proc = spawn(process.execPath, ['--import', '@oxc-node/core/register', workerPath, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), limitMs)
    this.proc.stdout!.on('data', (d: Buffer) => {
      this.#buf += d.toString()
      let i
      while ((i = this.#buf.indexOf('\n')) >= 0) {
        const line = this.#buf.slice(0, i)
        this.#buf = this.#buf.slice(i + 1)
        this.lines.push(line)
        this.#waiters = this.#waiters.filter(([prefix, resolve]) => {
          if (line.startsWith(prefix)) {
            resolve(line)
            return false
          }
          return true
        })
      }
    })
    this.proc.stderr!.on('data', (d: Buffer) => {
      this.#stderr += d.toString()
    })
    this.exited = new Promise((resolve) => {
      this.proc.on('close', (code, signal) => {
        clearTimeout(timer)
        resolve({ code, signal })
      })
    })
  }

  get stderr(): string {
    return this.#stderr
  }

  /** Resolves with the first stdout line starting with `prefix`; rejects if the child exits first. */
  line(prefix: string): Promise<string> {
    const seen = this.lines.find((l) => l.startsWith(prefix))
    if (seen) return Promise.resolve(seen)
    return new Promise((resolve, reject) => {
      this.#waiters.push([prefix, resolve])
      void this.exited.then(() => reject(new Error(`child exited before ${prefix}: ${this.#stderr}`)))
    })
  }
}
