// Process plumbing shared by the multi-process examples; nothing roker-specific lives here.
//
// An example re-spawns its own file as child processes, each given a role on the command
// line. Children talk to the parent through stdout lines of the form `TAG {json}` (see
// `report`); the parent waits for them with `child.next(TAG)`. Every child is killed if it
// outlives its time limit or the parent, so an example never leaves processes behind.
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const running = new Set<ChildProcess>()
process.once('exit', () => {
  for (const proc of running) proc.kill('SIGKILL')
})

/** Prints a `TAG {json}` line for the parent (the child side of the protocol). */
export function report(tag: string, data: unknown = {}): void {
  process.stdout.write(`${tag} ${JSON.stringify(data)}\n`)
}

/** How a child process ended. */
export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

/** A child process running the calling example file in some role. */
export class Child {
  readonly label: string
  readonly proc: ChildProcess
  /** Settles when the process has exited and its output is fully read. */
  readonly exited: Promise<Exit>
  #lines: string[] = []
  #waiters = new Set<() => void>()
  #done = false

  /**
   * Runs `node <same flags as this process> <moduleFile> ...args`, with stdout piped to the
   * parent and stderr shown on the terminal. Killed with SIGKILL after `timeoutMs`.
   */
  constructor(moduleUrl: string, args: string[], label: string, timeoutMs = 20_000) {
    this.label = label
    this.proc = spawn(process.execPath, [...process.execArgv, fileURLToPath(moduleUrl), ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    running.add(this.proc)
    const timer = setTimeout(() => {
      console.error(`${label}: still running after ${timeoutMs} ms, killing it`)
      this.proc.kill('SIGKILL')
    }, timeoutMs)
    let partial = ''
    this.proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n')
      partial = parts.pop()!
      this.#lines.push(...parts)
      this.#wake()
    })
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
    for (const wake of this.#waiters) wake()
  }

  /**
   * Resolves with the data of the first `TAG {json}` line not yet consumed; rejects if the
   * child exits without printing one.
   */
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
          reject(new Error(`${this.label} exited without reporting ${tag}`))
        }
      }
      this.#waiters.add(check)
      check()
    })
  }

  /** Kills the process if it is still running. */
  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL')
  }
}

/** Waits for every child to exit; returns the labels of those that failed. */
export async function failedChildren(children: Child[]): Promise<string[]> {
  const exits = await Promise.all(children.map((c) => c.exited))
  const failed: string[] = []
  children.forEach((child, i) => {
    const { code, signal } = exits[i]
    if (code !== 0) failed.push(`${child.label} (${signal ?? `exit code ${code}`})`)
  })
  return failed
}

/** Runs `cleanup` then exits if the user presses Ctrl-C (or the process gets SIGTERM). */
export function onInterrupt(cleanup: () => void): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      cleanup()
      process.exit(130)
    })
  }
}
