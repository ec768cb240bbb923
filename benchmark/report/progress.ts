// A progress bar on stderr: redrawn in place on a terminal, one plain line per step otherwise
// (CI logs). The total may grow while running (the Rust binary announces its own total).

export class Progress {
  #done = 0
  #total: number
  #label = ''
  readonly #tty = Boolean(process.stderr.isTTY)
  readonly #start = Date.now()

  constructor(total: number) {
    this.#total = total
  }

  get done(): number {
    return this.#done
  }

  /** Grows (or shrinks) the total number of steps. */
  setTotal(total: number): void {
    this.#total = Math.max(total, this.#done)
    this.#draw()
  }

  /** Shows what is running now, without counting a step. */
  status(label: string): void {
    this.#label = label
    this.#draw()
  }

  /** Counts one finished step; `line` is printed above the bar (or as a plain line). */
  step(line?: string): void {
    this.#done++
    if (line) this.log(line)
    else this.#draw()
  }

  /** Prints a line without disturbing the bar. */
  log(line: string): void {
    if (this.#tty) {
      process.stderr.write(`\r\x1b[2K${line}\n`)
      this.#draw()
    } else {
      process.stderr.write(`[${this.#done}/${this.#total}] ${line}\n`)
    }
  }

  #draw(): void {
    if (!this.#tty) return
    const width = Math.max(10, Math.min(40, (process.stderr.columns ?? 80) - 60))
    const frac = this.#total ? Math.min(1, this.#done / this.#total) : 0
    const fill = Math.round(frac * width)
    const secs = Math.round((Date.now() - this.#start) / 1000)
    const label = this.#label.slice(0, Math.max(0, (process.stderr.columns ?? 80) - width - 24))
    process.stderr.write(`\r\x1b[2K[${'#'.repeat(fill)}${'-'.repeat(width - fill)}] ${this.#done}/${this.#total} ${secs}s ${label}`)
  }

  /** Removes the bar (call before printing the final summary). */
  finish(): void {
    if (this.#tty) process.stderr.write('\r\x1b[2K')
  }
}
