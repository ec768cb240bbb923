// `npm run bench` — runs every workload against roker and its peers, then writes
// benchmark/results/<date>.json, benchmark/RESULTS.md and benchmark/charts/*.svg.
//
//   npm run bench                      full run (about 10 minutes on 2 cores)
//   npm run bench -- --quick           smoke test: fewer sizes, shorter runs (< 3 minutes)
//   npm run bench -- --only W1,W3      only these workloads (Node and Rust)
//   npm run bench -- --no-rust         skip the Rust binary
//   npm run bench -- --rust-json FILE  use a saved `roker-bench --json` document instead
//   npm run bench -- --from-json FILE  only re-render RESULTS.md and the charts from a results file
//   npm run bench -- --out-dir DIR     write the report into DIR instead of benchmark/
//
// Each Node case runs in a fresh driver process (benchmark/node/main.ts), which spawns the
// case's own processes or threads; every process has a hard time limit. A failing case is
// recorded with its error and the run goes on. The Rust workloads come from
// benchmark/rust (`roker-bench --json`); if it cannot be built or run, the report says so.
import { spawn } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { MAIN, NODE_FLAGS } from './node/common.js'
import { Progress } from './report/progress.js'
import { machine, nodeVersions } from './report/machine.js'
import { charts, markdown, targets, sizeLabel, fmtNs, type Report, type Row, type RustRun } from './report/report.js'
import { si } from './report/charts.js'

const HERE = dirname(fileURLToPath(import.meta.url))
const ROOT = join(HERE, '..')
const RUST_DIR = join(HERE, 'rust')
const RUST_BIN = join(RUST_DIR, 'target', 'release', 'roker-bench')

// ---------------------------------------------------------------------------------------------
// Options

const argv = process.argv.slice(2)
const quick = argv.includes('--quick')
const noRust = argv.includes('--no-rust')
const noNode = argv.includes('--no-node')
const optValue = (name: string): string | undefined => {
  const i = argv.findIndex((a) => a === name || a.startsWith(`${name}=`))
  if (i < 0) return undefined
  return argv[i].includes('=') ? argv[i].slice(name.length + 1) : argv[i + 1]
}
const only = optValue('--only')
  ?.split(',')
  .map((s) => s.trim().toUpperCase())
  .filter(Boolean)
const rustJson = optValue('--rust-json')
const fromJson = optValue('--from-json')
const wanted = (w: string): boolean => !only || only.includes(w)
const command = `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`

// ---------------------------------------------------------------------------------------------
// The Node plan

interface Case {
  workload: 'W1' | 'W2' | 'W3' | 'W4' | 'W5'
  args: Record<string, unknown>
  label: string
  /** Rough wall time, for the time limit. */
  seconds: number
  /** Runs (interleaved with the other cases of the workload); the median run is kept. */
  repeat?: number
}

function plan(): Case[] {
  const cases: Case[] = []
  const t1 = quick ? 0.4 : 1.5
  const sizes = quick ? [64, 1 << 20] : [16, 64, 1024, 64 << 10, 1 << 20, 4 << 20]
  if (wanted('W1')) {
    for (const size of sizes) {
      for (const [impl, mode] of [
        ['roker', 'message'],
        ['roker', 'batch'],
        ['zeromq'],
        ['messageport'],
        ['broadcastchannel'],
        ['child_process'],
        ['mqemitter'],
      ] as const) {
        cases.push({ workload: 'W1', args: { impl, mode, size, seconds: t1 }, label: `W1 ${sizeLabel(size)} ${impl}${mode ? ` ${mode}` : ''}`, seconds: t1, repeat: !quick && size === 64 ? 3 : 1 })
      }
    }
  }
  if (wanted('W2')) {
    const t2 = quick ? 0.4 : 2
    for (const [impl, mode] of [['roker', 'poll'], ['roker', 'sync'], ['roker', 'async'], ['zeromq'], ['messageport'], ['broadcastchannel'], ['child_process']] as const) {
      cases.push({ workload: 'W2', args: { impl, mode, seconds: t2 }, label: `W2 latency ${impl}${mode ? ` ${mode}` : ''}`, seconds: t2, repeat: quick ? 1 : 3 })
    }
  }
  if (wanted('W3')) {
    const t3 = quick ? 0.4 : 1.5
    for (const n of [1, 4, 16]) {
      for (const impl of ['roker', 'zeromq', 'messageport', 'broadcastchannel', 'child_process', 'mqemitter']) {
        // Quick mode: 16 subscribers only for roker (the W3 target needs it).
        if (quick && n === 16 && impl !== 'roker') continue
        cases.push({ workload: 'W3', args: { impl, subscribers: n, seconds: t3 }, label: `W3 1→${n} ${impl}`, seconds: t3 + n })
      }
    }
  }
  if (wanted('W4')) {
    const clients = quick ? 2000 : 10_000
    cases.push({ workload: 'W4', args: { clients, subscriptions: 100, seconds: quick ? 0.3 : 1 }, label: `W4 ${clients} clients × 100 filters`, seconds: 30 })
  }
  if (wanted('W5')) {
    for (const impl of ['qlobber', 'roker-matcher', 'roker-matcher-uncached', 'roker-broker', 'roker-broker-uncached', 'roker-matches']) {
      cases.push({ workload: 'W5', args: { impl, filters: 10_000, seconds: quick ? 0.3 : 1 }, label: `W5 ${impl}`, seconds: 5 })
    }
  }
  return cases
}

// ---------------------------------------------------------------------------------------------
// Running things

interface Ran {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  timedOut: boolean
}

function run(cmd: string, args: string[], timeoutMs: number, onStderrLine?: (line: string) => void, cwd = ROOT): Promise<Ran> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    let partial = ''
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      p.kill('SIGKILL')
    }, timeoutMs)
    p.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c))
    p.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr = (stderr + c).slice(-20000)
      if (onStderrLine) {
        const parts = (partial + c).split('\n')
        partial = parts.pop()!
        for (const line of parts) onStderrLine(line)
      }
    })
    const onExit = (): void => {
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL')
    }
    process.once('exit', onExit)
    p.on('error', (e) => {
      stderr += String(e)
    })
    p.on('close', (code, signal) => {
      clearTimeout(timer)
      process.removeListener('exit', onExit)
      resolve({ code, signal, stdout, stderr, timedOut })
    })
  })
}

function tail(s: string, n = 3): string {
  return s.trim().split('\n').slice(-n).join(' | ')
}

function headline(r: Row): string {
  if (r.error) return `FAILED: ${r.error.slice(0, 200)}`
  const m = r.metrics
  if (m.deliveries_per_s !== undefined) return `${si(m.deliveries_per_s)} deliveries/s`
  if (m.topics_per_s !== undefined) return `${si(m.topics_per_s)} topics/s`
  if (m.cost_ratio !== undefined) return `cost ratio ${m.cost_ratio.toFixed(2)}`
  if (m.p50_ns !== undefined) return `one-way p50 ${fmtNs(m.p50_ns)}, p99 ${fmtNs(m.p99_ns)}`
  if (m.msgs_per_s !== undefined) return `${si(m.msgs_per_s)} msg/s, ${si(m.gb_per_s)} GB/s`
  return JSON.stringify(m)
}

async function runNodeCase(c: Case): Promise<Row> {
  const r = await run(process.execPath, [...NODE_FLAGS, MAIN, 'run', JSON.stringify({ workload: c.workload, args: c.args })], (c.seconds * 4 + 120) * 1000)
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '))
  if (line && r.code === 0) return { side: 'node', ...(JSON.parse(line.slice(7)) as Omit<Row, 'side'>) }
  const why = r.timedOut ? 'timed out' : `exit ${r.signal ?? r.code}`
  return {
    side: 'node',
    workload: c.workload,
    name: c.label,
    impl: String(c.args.mode ? `${c.args.impl}-${c.args.mode}` : c.args.impl),
    params: c.args,
    metrics: {},
    error: `${why}: ${tail(r.stderr) || 'no output'}`,
  }
}

async function rust(progress: Progress, rows: Row[]): Promise<RustRun> {
  if (rustJson) {
    const doc = JSON.parse(readFileSync(rustJson, 'utf8')) as RustDoc
    rows.push(...rustRows(doc))
    return { status: 'ok', detail: `read from ${rustJson}`, machine: doc.machine, versions: doc.versions }
  }
  const manifest = join(RUST_DIR, 'Cargo.toml')
  if (!existsSync(manifest)) {
    progress.step('Rust: benchmark/rust/Cargo.toml not found, skipped')
    return { status: 'missing', detail: 'benchmark/rust/Cargo.toml does not exist.' }
  }
  progress.status('building roker-bench (cargo build --release --locked)')
  const build = await run('cargo', ['build', '--release', '--locked', '--manifest-path', manifest], 30 * 60_000)
  if (build.code !== 0) {
    progress.step(`Rust: build failed (${tail(build.stderr, 1)})`)
    return { status: 'build-failed', detail: `\`cargo build --release --locked --manifest-path benchmark/rust/Cargo.toml\` failed: ${tail(build.stderr, 5)}` }
  }
  progress.step('Rust: roker-bench built')
  if (!existsSync(RUST_BIN)) return { status: 'missing', detail: `${relative(ROOT, RUST_BIN)} was not produced by the build.` }
  // Run a private copy: roker-bench re-executes itself for its child processes, and a rebuild
  // replacing target/release/roker-bench mid-run would break those spawns.
  const bin = join(tmpdir(), `roker-bench-${process.pid}`)
  copyFileSync(RUST_BIN, bin)
  chmodSync(bin, 0o755)
  const args = ['--json', ...(quick ? ['--quick'] : []), ...(only ? ['--only', only.join(',')] : [])]
  const base = progress.done
  const planned = progressTotalWithoutRust
  let last = 0
  const t0 = Date.now()
  const r = await run(bin, args, (quick ? 150 : 900) * 1000, (line) => {
    const m = /^progress:\s*(\d+)\/(\d+)\s*(.*)$/.exec(line.trim())
    if (!m) return
    const done = Number(m[1])
    const total = Number(m[2])
    progress.setTotal(planned + total)
    while (last < done) {
      last++
      progress.step(last === done ? `Rust ${m[3]}` : undefined)
    }
    progress.status(`Rust ${done}/${total} ${m[3]}`)
  })
  void base
  rmSync(bin, { force: true })
  const seconds = (Date.now() - t0) / 1000
  let doc: RustDoc | null = null
  try {
    const start = r.stdout.indexOf('{')
    doc = JSON.parse(r.stdout.slice(start)) as RustDoc
  } catch {
    doc = null
  }
  const cmdline = `benchmark/rust/target/release/roker-bench ${args.join(' ')}`
  if (doc && Array.isArray(doc.results)) {
    rows.push(...rustRows(doc))
    const failedRun = r.code !== 0 ? ` (exited ${r.signal ?? r.code} after printing its results)` : ''
    return { status: 'ok', detail: `\`${cmdline}\`${failedRun}`, machine: doc.machine, versions: doc.versions, seconds }
  }
  const why = r.timedOut ? `timed out after ${Math.round(seconds)} s` : `exited ${r.signal ?? r.code} without a JSON document`
  progress.log(`Rust: roker-bench ${why}`)
  return { status: 'failed', detail: `\`${cmdline}\` ${why}: ${tail(r.stderr, 4)}`, seconds }
}

interface RustDoc {
  machine?: Record<string, unknown>
  versions?: Record<string, unknown>
  results: { workload: string; name: string; impl: string; params?: Record<string, unknown>; metrics?: Record<string, number>; error?: string }[]
}

function rustRows(doc: RustDoc): Row[] {
  return doc.results.map((r) => ({
    side: 'rust' as const,
    workload: r.workload,
    name: r.name,
    impl: r.impl,
    params: r.params ?? {},
    metrics: Object.fromEntries(Object.entries(r.metrics ?? {}).filter(([, v]) => typeof v === 'number')),
    ...(r.error ? { error: r.error } : {}),
  }))
}

let progressTotalWithoutRust = 0

/** The run with the median main metric (W1 msgs/s, W2 round-trip p50), annotated with the spread. */
function median(runs: Row[]): Row {
  const ok = runs.filter((r) => !r.error)
  if (ok.length === 0) return runs[runs.length - 1]
  if (runs.length === 1) return runs[0]
  const key = ok[0].metrics.rtt_p50_ns !== undefined ? 'rtt_p50_ns' : 'msgs_per_s'
  const sorted = [...ok].sort((a, b) => a.metrics[key] - b.metrics[key])
  const mid = sorted[Math.floor((sorted.length - 1) / 2)]
  const lo = sorted[0].metrics[key]
  const hi = sorted[sorted.length - 1].metrics[key]
  const fmt = key === 'rtt_p50_ns' ? fmtNs : si
  return { ...mid, params: { ...mid.params, runs: runs.length, failed_runs: runs.length - ok.length, [`${key}_range`]: `${fmt(lo)} – ${fmt(hi)}` } }
}

// ---------------------------------------------------------------------------------------------

/** Where the report goes: benchmark/ by default, or `--out-dir DIR` (CI's smoke test). */
const OUT = optValue('--out-dir') ?? HERE

function write(report: Report): { jsonFile: string; svgs: number } {
  report.targets = targets(report.results)
  const resultsDir = join(OUT, 'results')
  const chartsDir = join(OUT, 'charts')
  mkdirSync(resultsDir, { recursive: true })
  mkdirSync(chartsDir, { recursive: true })
  const jsonFile = join(resultsDir, `${report.date}.json`)
  writeFileSync(jsonFile, JSON.stringify(report, null, 2) + '\n')
  for (const f of readdirSync(chartsDir)) if (f.endsWith('.svg')) rmSync(join(chartsDir, f))
  const svgs = charts(report.results)
  for (const [name, svg] of Object.entries(svgs)) writeFileSync(join(chartsDir, name), svg)
  writeFileSync(join(OUT, 'RESULTS.md'), markdown(report, relative(OUT, jsonFile)))
  return { jsonFile, svgs: Object.keys(svgs).length }
}

async function main(): Promise<void> {
  if (fromJson) {
    const { jsonFile, svgs } = write(JSON.parse(readFileSync(fromJson, 'utf8')) as Report)
    process.stderr.write(`Re-rendered from ${relative(ROOT, jsonFile)}: benchmark/RESULTS.md, ${svgs} charts.\n`)
    return
  }
  const t0 = Date.now()
  const loadStart = loadavg().map((l) => Number(l.toFixed(2)))
  const cases = noNode ? [] : plan()
  const withRust = !noRust
  // Rust: one step for the build plus the binary's own count (learned from its first line).
  progressTotalWithoutRust = cases.length + (withRust && !rustJson ? 1 : 0)
  const progress = new Progress(progressTotalWithoutRust + (withRust && !rustJson ? 20 : 0))
  const rows: Row[] = []
  let rustRun: RustRun = { status: 'skipped', detail: 'run with --no-rust.' }

  // Rust first: its build must not run while Node measures.
  if (withRust) {
    try {
      rustRun = await rust(progress, rows)
    } catch (e) {
      rustRun = { status: 'failed', detail: String(e) }
    }
  }
  // Repeated cases (the headline ones, sensitive to other load) run in rounds interleaved
  // with the other cases of their workload, so a burst of load hits one round, not one peer.
  const schedule: { index: number; round: number }[] = []
  for (const w of ['W1', 'W2', 'W3', 'W4', 'W5']) {
    const idx = cases.map((c, i) => (c.workload === w ? i : -1)).filter((i) => i >= 0)
    const rounds = Math.max(1, ...idx.map((i) => cases[i].repeat ?? 1))
    for (let round = 0; round < rounds; round++) {
      for (const i of idx) if (round < (cases[i].repeat ?? 1)) schedule.push({ index: i, round })
    }
  }
  progress.setTotal(progress.done + schedule.length)
  const runs: Row[][] = cases.map(() => [])
  for (const { index, round } of schedule) {
    const c = cases[index]
    const tag = (c.repeat ?? 1) > 1 ? ` (run ${round + 1}/${c.repeat})` : ''
    progress.status(c.label + tag)
    const row = await runNodeCase(c)
    runs[index].push(row)
    progress.step(`${c.label}${tag}: ${headline(row)}`)
  }
  for (const r of runs) rows.push(median(r))
  progress.finish()

  const date = new Date().toISOString().slice(0, 10)
  const report: Report = {
    date,
    command,
    quick,
    machine: machine(),
    loadStart,
    versions: nodeVersions(),
    rust: rustRun,
    seconds: (Date.now() - t0) / 1000,
    results: rows,
  }
  const { jsonFile, svgs } = write(report)

  const failed = rows.filter((r) => r.error)
  const out = process.stderr
  out.write(`\nDone in ${Math.round(report.seconds)} s: ${rows.length} results (${failed.length} failed), Rust: ${rustRun.status}.\n`)
  for (const t of report.targets ?? []) out.write(`  ${t.id} ${t.met === null ? 'n/a ' : t.met ? 'MET ' : 'MISS'} ${t.target}: ${t.measured}\n`)
  out.write(`Wrote ${relative(ROOT, jsonFile)}, benchmark/RESULTS.md, ${svgs} charts in benchmark/charts/.\n`)
}

main().catch((e: unknown) => {
  console.error(e)
  process.exit(1)
})
