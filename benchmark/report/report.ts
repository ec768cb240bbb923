// Turns the merged results into benchmark/RESULTS.md, the targets table and SVG charts.
import type { Machine } from './machine.js'
import { barChart, si } from './charts.js'

export interface Row {
  side: 'node' | 'rust'
  workload: string
  name: string
  impl: string
  params: Record<string, unknown>
  metrics: Record<string, number>
  error?: string
}

export interface RustRun {
  status: 'ok' | 'missing' | 'build-failed' | 'failed' | 'skipped'
  detail?: string
  machine?: Record<string, unknown>
  versions?: Record<string, unknown>
  seconds?: number
}

export interface Report {
  date: string
  command: string
  quick: boolean
  machine: Machine
  /** Load average (1, 5, 15 min) when the run started. */
  loadStart?: number[]
  versions: Record<string, string>
  rust: RustRun
  seconds: number
  results: Row[]
  targets?: Target[]
}

export interface Target {
  id: string
  side: 'Node' | 'Rust'
  target: string
  measured: string
  met: boolean | null
  gap: string
  closing: string
}

// ---------------------------------------------------------------------------------------------
// Formatting

const fmtRate = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '–' : si(v))
const fmtGB = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '–' : v >= 10 ? v.toFixed(1) : v >= 0.1 ? v.toFixed(2) : v.toPrecision(2))
export function fmtNs(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '–'
  if (v >= 1e6) return `${(v / 1e6).toPrecision(3)} ms`
  if (v >= 1e3) return `${(v / 1e3).toPrecision(3)} µs`
  return `${v.toPrecision(3)} ns`
}
const fmtRatio = (r: number | null): string =>
  r === null || !Number.isFinite(r) ? '–' : r >= 100 ? `${r.toFixed(0)}×` : r >= 10 ? `${r.toFixed(1)}×` : r >= 0.1 ? `${r.toFixed(2)}×` : `${r.toPrecision(2)}×`

function table(headers: string[], rows: string[][], align?: string[]): string {
  const a = align ?? headers.map((_, i) => (i === 0 ? 'l' : 'r'))
  const sep = a.map((x) => (x === 'r' ? '---:' : x === 'c' ? ':---:' : '---'))
  return [headers, sep, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n') + '\n'
}

export function sizeLabel(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / 1024 / 1024} MiB`
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`
  return `${n} B`
}

/** Payload size of a result: `payload_bytes` (Node) or `payload` (Rust). */
function payloadOf(r: Row): number | undefined {
  const p = r.params.payload_bytes ?? r.params.payload
  return typeof p === 'number' ? p : undefined
}

/** Whether larger is better for a metric. */
function higherIsBetter(metric: string): boolean {
  return !(metric.endsWith('_ns') || metric.startsWith('ns_') || metric === 'cost_ratio')
}

/** How much better `roker` is than `other` on `metric` (>1: roker better). */
function advantage(metric: string, roker: number | undefined, other: number | undefined): number | null {
  if (roker === undefined || other === undefined || !(roker > 0) || !(other > 0)) return null
  return higherIsBetter(metric) ? roker / other : other / roker
}

const IMPL_LABEL: Record<string, string> = {
  'roker-message': 'roker (receive)',
  'roker-batch': 'roker (publishMany + receiveMany)',
  'roker-poll': 'roker (receive, busy poll)',
  'roker-sync': 'roker (receiveSync)',
  'roker-async': 'roker (await receiveAsync)',
  'roker-broker': 'roker broker routing (interned topics)',
  'roker-broker-uncached': 'roker broker routing (topic table full: scan)',
  'roker-matches': 'roker matches() per filter',
  'roker-matcher': 'roker Matcher (trie + topic cache)',
  'roker-matcher-uncached': 'roker Matcher, no cache (trie walk per topic)',
  messageport: 'MessagePort (worker_threads)',
  broadcastchannel: 'BroadcastChannel (worker_threads)',
  child_process: 'child_process IPC',
  zeromq: 'zeromq ipc://',
  mqemitter: 'mqemitter (in process)',
  qlobber: 'qlobber match()',
}
const label = (impl: string): string => IMPL_LABEL[impl] ?? impl

// ---------------------------------------------------------------------------------------------
// Finding results

function find(results: Row[], side: 'node' | 'rust', workload: string, pred: (r: Row) => boolean): Row | undefined {
  return results.find((r) => r.side === side && r.workload === workload && !r.error && pred(r))
}

/** The group of a Rust result: its name without the implementation prefix. */
export function rustGroup(r: Row): string {
  return r.name.startsWith(`${r.impl} `) ? r.name.slice(r.impl.length + 1) : r.name
}

// ---------------------------------------------------------------------------------------------
// Targets

function tgt(
  id: string,
  side: 'Node' | 'Rust',
  target: string,
  value: number | null,
  ok: (v: number) => boolean,
  measured: (v: number) => string,
  gap: (v: number) => string,
  closing: string,
): Target {
  if (value === null || !Number.isFinite(value)) {
    return { id, side, target, measured: 'not measured', met: null, gap: 'no result in this run', closing: '' }
  }
  const met = ok(value)
  return { id, side, target, measured: measured(value), met, gap: met ? '' : gap(value), closing: met ? '' : closing }
}

export function targets(results: Row[]): Target[] {
  const out: Target[] = []
  const w1 = (impl: string, size: number): Row | undefined => find(results, 'node', 'W1', (r) => r.impl === impl && payloadOf(r) === size)
  const msg64 = w1('roker-message', 64)?.metrics.msgs_per_s ?? null
  const batch64 = w1('roker-batch', 64)?.metrics.msgs_per_s ?? null
  const zmq64 = w1('zeromq', 64)?.metrics.msgs_per_s ?? null
  const port64 = w1('messageport', 64)?.metrics.msgs_per_s ?? null
  const best64 = msg64 !== null || batch64 !== null ? Math.max(msg64 ?? 0, batch64 ?? 0) : null
  out.push(
    tgt('N1', 'Node', 'W1 64 B per message (`publish` + `receive`) ≥ 2 M msg/s', msg64, (v) => v >= 2e6, (v) => `${si(v)} msg/s`, (v) => `${(2e6 / v).toFixed(1)}× short`,
      'Profiled: each `receive` is one napi-rs class-method call (argument and class checks, ~0.3 µs), a Buffer copy and a `Message` object; `publish` converts the topic string each call. The batch calls (N2) already meet 5 M/s. Closing N1 needs fewer crossings per message: e.g. a JS-side receive buffer filled by one native call (prefetch), or a hand-written N-API entry point without napi-rs\u2019s per-call checks.'),
  )
  out.push(
    tgt('N2', 'Node', 'W1 64 B batched (`publishMany` + `receiveMany(id, 1024)`) ≥ 5 M msg/s', batch64, (v) => v >= 5e6, (v) => `${si(v)} msg/s`, (v) => `${(5e6 / v).toFixed(1)}× short`,
      'The publisher side (one native call and lock per `publish`) and per-message `Message` objects bound it; a `publishMany` and a lazier batch view (no per-message Buffer/Message until touched) would close it.'),
  )
  out.push(
    tgt('N3', 'Node', 'W1 64 B ≥ 10× zeromq ipc', best64 !== null && zmq64 !== null ? best64 / zmq64 : null, (v) => v >= 10, (v) => `${fmtRatio(v)} (best roker mode ÷ zeromq)`, (v) => `${fmtRatio(10 / v)} short`,
      'Same levers as N1/N2: roker throughput in Node is bound by per-message JS work, not by the shared-memory transport.'),
  )
  out.push(
    tgt('N4', 'Node', 'W1 64 B ≥ 4× postMessage (MessagePort)', best64 !== null && port64 !== null ? best64 / port64 : null, (v) => v >= 4, (v) => `${fmtRatio(v)} (best roker mode ÷ MessagePort)`, (v) => `${fmtRatio(4 / v)} short`,
      'Same levers as N1/N2.'),
  )
  const w2 = (impl: string): Row | undefined => find(results, 'node', 'W2', (r) => r.impl === impl)
  const poll = w2('roker-poll')?.metrics.rtt_p50_ns
  const sync = w2('roker-sync')?.metrics.rtt_p50_ns
  const syncBest = poll !== undefined || sync !== undefined ? Math.min(poll ?? Infinity, sync ?? Infinity) : null
  out.push(
    tgt('N5', 'Node', 'W2 synchronous round trip ≤ 5 µs (p50, best of `receive` busy poll and `receiveSync`)', syncBest, (v) => v <= 5000,
      (v) => `${fmtNs(v)} (busy poll ${fmtNs(poll)}, receiveSync ${fmtNs(sync)})`, (v) => `${fmtNs(v - 5000)} over`,
      'Spinning longer in `receiveSync` before sleeping on the futex (a futex wake costs ~10 µs here), and cheaper receive calls.'),
  )
  const asyncRtt = w2('roker-async')?.metrics.rtt_p50_ns
  const portRtt = w2('messageport')?.metrics.rtt_p50_ns
  out.push(
    tgt('N6', 'Node', 'W2 awaited round trip ≤ ½ of MessagePort’s (p50)', asyncRtt !== undefined && portRtt !== undefined ? asyncRtt / portRtt : null, (v) => v <= 0.5,
      (v) => `${fmtNs(asyncRtt)} vs MessagePort ${fmtNs(portRtt)} (${v.toFixed(2)}×)`, (v) => `${(v / 0.5).toFixed(1)}× too slow`,
      '`receiveAsync` hops native waiter thread → futex wake → threadsafe function → libuv → Promise. On the edge here (0.5× is the target); a short spin on the waiter thread before it sleeps, and settling through one `uv_async` per handle, would remove most of the wake-up cost.'),
  )
  const w3 = (n: number): Row | undefined => find(results, 'node', 'W3', (r) => r.impl === 'roker' && r.params.subscribers === n)
  const d16 = w3(16)?.metrics.deliveries_per_s
  const m1 = w3(1)?.metrics.msgs_per_s
  out.push(
    tgt('N7', 'Node', 'W3 16 subscribers: deliveries/s ≥ 4× the 1-subscriber msgs/s', d16 !== undefined && m1 !== undefined ? d16 / m1 : null, (v) => v >= 4,
      (v) => `${si(d16!)} deliveries/s vs ${si(m1!)} msg/s (${fmtRatio(v)})`, (v) => `${fmtRatio(4 / v)} short`,
      'With 2 cores and 17 processes, deliveries/s is bounded by the CPU each JS subscriber spends per message (`receiveMany` builds a Message per delivery); more cores, or a cheaper batch receive, would close it.'),
  )
  const w4n = find(results, 'node', 'W4', () => true)
  out.push(
    tgt('N8', 'Node', 'W4 publish cost ratio (10,000 idle clients × 100 filters vs 1 client; quick: 2,000) ≤ 2, from Node', w4n?.metrics.cost_ratio ?? null, (v) => v <= 2,
      (v) => `${v.toFixed(2)} (${fmtNs(w4n!.metrics.ns_per_publish)} vs ${fmtNs(w4n!.metrics.baseline_ns_per_publish)} per publish, ${w4n!.params.clients} clients)`, (v) => `${(v / 2).toFixed(1)}× over`,
      'Routing must stay O(matching subscribers): keep the interned-topic bitmap path.'),
  )
  const q = find(results, 'node', 'W5', (r) => r.impl === 'qlobber')?.metrics.topics_per_s
  const rb = find(results, 'node', 'W5', (r) => r.impl === 'roker-matcher')?.metrics.topics_per_s
  out.push(
    tgt('N9', 'Node', 'W5 roker ≥ 3× qlobber (topics matched per second against 10,000 filters; roker `Matcher` vs `Qlobber.match`)', q !== undefined && rb !== undefined ? rb / q : null, (v) => v >= 3,
      (v) => `${si(rb!)} vs ${si(q!)} topics/s (${fmtRatio(v)})`, (v) => `${fmtRatio(3 / v)} short`,
      'Each `match` is one native call (topic string conversion, cached trie result, ids copied out) plus building the JS result array; batching topics per call would close it.'),
  )

  // Rust
  const rr = find(results, 'rust', 'W5', (r) => r.impl === 'roker' && /interned/.test(r.name))?.metrics.msgs_per_s
  if (rr !== undefined && q !== undefined) {
    out.push(
      tgt('R6', 'Rust', 'W5 broker routing (Rust, interned topics) ≥ 3× qlobber (Node) — cross-runtime, for context', rr / q, (v) => v >= 3,
        (v) => `${si(rr)} vs ${si(q)} topics/s (${fmtRatio(v)}; Rust filters and topics differ from Node’s)`, (v) => `${fmtRatio(3 / v)} short`,
        'Cheaper per-delivery work on publish (one descriptor push per matching client dominates at ~12 matches).'),
    )
  }
  const rw1 = (impl: string, size: number): Row | undefined => find(results, 'rust', 'W1', (r) => r.impl === impl && payloadOf(r) === size)
  const r64 = rw1('roker', 64)?.metrics.msgs_per_s ?? null
  const i64 = rw1('iceoryx2', 64)?.metrics.msgs_per_s ?? null
  out.push(
    tgt('R1', 'Rust', 'W1 64 B ≥ 10 M msg/s', r64, (v) => v >= 1e7, (v) => `${si(v)} msg/s`, (v) => `${(1e7 / v).toFixed(1)}× short`,
      'Machine-dependent: the same code measured 7.6–8.0 M msg/s on the quiet machine (`cargo run --release -p roker --example throughput`), and the shm floor itself varies 2–4× between runs here. Profile (perf): the publisher is the bound — lock + topic lookup + routing bitmap + 48-byte record header + timestamp (~65 ns hot) plus cache-line transfers of the inbox tail, descriptor and record to the subscriber\u2019s core. Closing it: `publish_many` (one lock per batch, already in the API), and small messages carried inline in the inbox entry so a message crosses in one cache line instead of about four.'),
  )
  out.push(
    tgt('R2', 'Rust', 'W1 64 B ≥ 1.0× iceoryx2', r64 !== null && i64 !== null ? r64 / i64 : null, (v) => v >= 1, (v) => `${fmtRatio(v)} (${si(r64!)} vs ${si(i64!)} msg/s)`, (v) => `${fmtRatio(1 / v)} short`,
      'iceoryx2 uses a per-pair SPSC queue without a broker-wide lock; a lock-free single-publisher fast path would close it.'),
  )
  const r4 = rw1('roker', 4 * 1024 * 1024)?.metrics.gb_per_s ?? null
  const mc4 = rw1('memcpy', 4 * 1024 * 1024)?.metrics.gb_per_s ?? null
  out.push(
    tgt('R3', 'Rust', 'W1 4 MiB ≥ 30 % of memcpy bandwidth', r4 !== null && mc4 !== null ? r4 / mc4 : null, (v) => v >= 0.3, (v) => `${(v * 100).toFixed(0)} % (${fmtGB(r4!)} vs ${fmtGB(mc4!)} GB/s)`, (v) => `${((0.3 - v) * 100).toFixed(0)} points short`,
      'Zero-copy receive (`receive_with`) and avoiding a second copy on the subscriber side.'),
  )
  const rp = find(results, 'rust', 'W2', (r) => r.impl === 'roker' && /busy/.test(r.name))?.metrics.p50_ns ?? null
  const fp = find(results, 'rust', 'W2', (r) => r.impl === 'shm-floor' && /busy/.test(r.name))?.metrics.p50_ns ?? null
  out.push(
    tgt('R4', 'Rust', 'W2 busy-poll one-way p50 ≤ 1.5× the bare shared-memory ping-pong floor', rp !== null && fp !== null ? rp / fp : null, (v) => v <= 1.5,
      (v) => `${v.toFixed(2)}× (${fmtNs(rp!)} vs floor ${fmtNs(fp!)})`, (v) => `${(v / 1.5).toFixed(1)}× over`,
      'A roker message crosses about four cache lines each way (inbox tail, descriptor, record header and payload) plus the broker lock line when both sides publish, against one for the bare ping-pong. Inline small messages in the inbox entry (one line) and a lock-free single-publisher fast path would bring it near the floor; this is a layout change, planned, not done.'),
  )
  const rw4 = results.filter((r) => r.side === 'rust' && r.workload === 'W4' && !r.error && r.impl === 'roker')
  if (rw4.length) {
    const clientsOf = (r: Row): number => Number(r.params.clients ?? 0)
    const big = rw4.reduce((a, b) => (clientsOf(b) > clientsOf(a) ? b : a))
    const small = rw4.reduce((a, b) => (clientsOf(b) < clientsOf(a) ? b : a))
    const ratio = big.metrics.cost_ratio ?? (big !== small ? big.metrics.ns_per_publish / small.metrics.ns_per_publish : null)
    out.push(
      tgt('R5', 'Rust', 'W4 publish cost ratio (largest vs smallest client count) ≤ 2', ratio ?? null, (v) => v <= 2, (v) => (big === small ? `${v.toFixed(2)} (${rustGroup(big)})` : `${v.toFixed(2)} (${rustGroup(big)} vs ${rustGroup(small)})`), (v) => `${(v / 2).toFixed(1)}× over`,
        'The hot path scans a bitmap of `maxClients` bits per interned topic; keeping a compact list of matching slots per topic (or a two-level bitmap skipping empty words) would make publish cost independent of the client count.'),
    )
  }
  const num = (t: Target): number => Number(t.id.slice(1))
  return out.sort((a, b) => (a.side === b.side ? num(a) - num(b) : a.side === 'Node' ? -1 : 1))
}

// ---------------------------------------------------------------------------------------------
// Markdown

function nodeSection(results: Row[]): string {
  const node = results.filter((r) => r.side === 'node')
  let md = ''
  const errors = node.filter((r) => r.error)

  // W1
  const w1 = node.filter((r) => r.workload === 'W1' && !r.error)
  if (w1.length) {
    md += '### W1 — throughput, 1 publisher → 1 subscriber\n\n'
    md += 'roker, zeromq and child_process: two processes. MessagePort / BroadcastChannel: two threads. mqemitter: one thread (no copy, no hop; a ceiling, not a transport). '
    md += 'In a full run the 64 B cases run three times, interleaved; the median run is shown with the range in parentheses. Ratio columns: roker’s msgs/s ÷ this row’s (>1 means roker is faster).\n\n'
    const sizes = [...new Set(w1.map((r) => payloadOf(r)!))].sort((a, b) => a - b)
    const rows: string[][] = []
    for (const s of sizes) {
      const group = w1.filter((r) => payloadOf(r) === s)
      const rm = group.find((r) => r.impl === 'roker-message')?.metrics.msgs_per_s
      const rb = group.find((r) => r.impl === 'roker-batch')?.metrics.msgs_per_s
      for (const r of group) {
        rows.push([
          sizeLabel(s),
          label(r.impl),
          fmtRate(r.metrics.msgs_per_s) + (r.params.msgs_per_s_range ? ` (${r.params.msgs_per_s_range})` : ''),
          fmtGB(r.metrics.gb_per_s),
          r.impl === 'roker-message' ? '' : fmtRatio(advantage('msgs_per_s', rm, r.metrics.msgs_per_s)),
          r.impl === 'roker-batch' ? '' : fmtRatio(advantage('msgs_per_s', rb, r.metrics.msgs_per_s)),
        ])
      }
    }
    md += table(['Payload', 'Implementation', 'msgs/s', 'GB/s', 'roker receive ÷', 'roker batch ÷'], rows, ['l', 'l', 'r', 'r', 'r', 'r'])
    md += '\n![W1 msgs/s](charts/node-w1-throughput.svg)\n![W1 GB/s](charts/node-w1-bandwidth.svg)\n\n'
  }

  // W2
  const w2 = node.filter((r) => r.workload === 'W2' && !r.error)
  if (w2.length) {
    md += '### W2 — latency, ping-pong of 64 B between two processes (threads for worker_threads)\n\n'
    md += 'One-way = round trip ÷ 2. In a full run each case runs three times, interleaved with the others; the run with the median round-trip p50 is shown, with the range over the runs. Ratio columns: this row’s p50 ÷ roker’s p50 (>1 means roker is faster).\n\n'
    const ref = ['roker-poll', 'roker-sync', 'roker-async'].filter((i) => w2.some((r) => r.impl === i))
    const rows = w2.map((r) => [
      label(r.impl),
      fmtNs(r.metrics.p50_ns),
      fmtNs(r.metrics.p99_ns),
      fmtNs(r.metrics.p999_ns),
      fmtNs(r.metrics.max_ns),
      fmtNs(r.metrics.rtt_p50_ns),
      String(r.params.rtt_p50_ns_range ?? ''),
      String(r.params.round_trips ?? ''),
      ...ref.map((i) => (i === r.impl ? '' : fmtRatio(advantage('p50_ns', w2.find((x) => x.impl === i)!.metrics.p50_ns, r.metrics.p50_ns)))),
    ])
    md += table(['Implementation', 'one-way p50', 'p99', 'p99.9', 'max', 'round trip p50', 'RTT p50 over runs', 'round trips', ...ref.map((i) => `vs ${label(i)}`)], rows)
    md += '\n![W2 latency](charts/node-w2-latency.svg)\n\n'
  }

  // W3
  const w3 = node.filter((r) => r.workload === 'W3' && !r.error)
  if (w3.length) {
    md += '### W3 — fan-out, 1 publisher → N subscribers (wildcard filter, 64 B)\n\n'
    md += 'Subscribers are processes for roker, zeromq and child_process, worker threads for MessagePort / BroadcastChannel, listeners for mqemitter. Ratio: roker’s deliveries/s ÷ this row’s.\n\n'
    const ns = [...new Set(w3.map((r) => Number(r.params.subscribers)))].sort((a, b) => a - b)
    const rows: string[][] = []
    for (const n of ns) {
      const group = w3.filter((r) => r.params.subscribers === n)
      const rk = group.find((r) => r.impl === 'roker')?.metrics.deliveries_per_s
      for (const r of group) {
        rows.push([
          String(n),
          label(r.impl),
          fmtRate(r.metrics.deliveries_per_s),
          fmtRate(r.metrics.msgs_per_s),
          r.impl === 'roker' ? '' : fmtRatio(advantage('deliveries_per_s', rk, r.metrics.deliveries_per_s)),
        ])
      }
    }
    md += table(['Subscribers', 'Implementation', 'deliveries/s', 'published msgs/s', 'roker ÷'], rows, ['r', 'l', 'r', 'r', 'r'])
    md += '\n![W3 fan-out](charts/node-w3-fanout.svg)\n\n'
  }

  // W4
  const w4 = node.filter((r) => r.workload === 'W4' && !r.error)
  if (w4.length) {
    md += '### W4 — sparse scale (roker only: no peer has an equivalent)\n\n'
    md += 'Publish cost with idle clients holding non-matching filters, versus one subscriber alone (same topics, subscriber drained untimed).\n\n'
    md += table(
      ['Clients × filters', 'ns/publish (scaled)', 'ns/publish (1 client)', 'cost ratio', 'subscribe calls/s (setup)'],
      w4.map((r) => [
        `${r.params.clients} × ${r.params.subscriptions_per_client}`,
        fmtNs(r.metrics.ns_per_publish),
        fmtNs(r.metrics.baseline_ns_per_publish),
        r.metrics.cost_ratio.toFixed(2),
        fmtRate(r.metrics.subscribes_per_s),
      ]),
    )
    md += '\n'
  }

  // W5
  const w5 = node.filter((r) => r.workload === 'W5' && !r.error)
  if (w5.length) {
    md += '### W5 — matching 10,000 filters against a topic stream (in process)\n\n'
    const avg = w5[0].params.avg_matches_per_topic
    md += `About ${avg} filters match each topic. “matches/s” = filter–topic decisions per second (topics/s × 10,000). The stream draws from 1,000 distinct topics, so roker’s \`Matcher\` serves them from its per-topic result cache after warm-up (as the broker’s topic table caches routes); the “no cache” row walks the native trie for every topic. roker broker routing also delivers each message to every matching client. Ratio columns: that roker variant’s topics/s ÷ this row’s.\n\n`
    const ref = ['roker-matcher', 'roker-matcher-uncached', 'roker-broker', 'roker-broker-uncached', 'roker-matches'].filter((i) => w5.some((r) => r.impl === i))
    const rows = w5.map((r) => [
      label(r.impl),
      fmtRate(r.metrics.topics_per_s),
      fmtNs(r.metrics.ns_per_topic),
      fmtRate(r.metrics.matches_per_s),
      r.params.agrees_with_qlobber === undefined ? '' : r.params.agrees_with_qlobber ? 'yes' : '**no**',
      ...ref.map((i) => (i === r.impl ? '' : fmtRatio(advantage('topics_per_s', w5.find((x) => x.impl === i)!.metrics.topics_per_s, r.metrics.topics_per_s)))),
    ])
    md += table(['Implementation', 'topics/s', 'per topic', 'matches/s', 'agrees with qlobber', ...ref.map((i) => `${label(i)} ÷`)], rows)
    md += '\n![W5 matching](charts/node-w5-matching.svg)\n\n'
  }

  if (errors.length) {
    md += '### Node cases that failed\n\n'
    md += table(['Workload', 'Implementation', 'Parameters', 'Error'], errors.map((r) => [r.workload, label(r.impl), '`' + JSON.stringify(r.params) + '`', r.error!.replace(/\|/g, '\\|').replace(/\n/g, ' ').slice(0, 300)]), ['l', 'l', 'l', 'l'])
    md += '\n'
  }
  return md
}

const RUST_MAIN_METRIC: Record<string, string> = { W1: 'msgs_per_s', W2: 'p50_ns', W3: 'deliveries_per_s', W4: 'ns_per_publish', W5: 'matches_per_s' }
const METRIC_LABEL: Record<string, string> = {
  msgs_per_s: 'msgs/s',
  gb_per_s: 'GB/s',
  p50_ns: 'p50',
  p99_ns: 'p99',
  p999_ns: 'p99.9',
  max_ns: 'max',
  deliveries_per_s: 'deliveries/s',
  ns_per_publish: 'ns/publish',
  matches_per_s: 'matches/s',
  cost_ratio: 'cost ratio',
}

function fmtMetric(m: string, v: number | undefined): string {
  if (v === undefined) return '–'
  if (m.endsWith('_ns') || m.startsWith('ns_')) return fmtNs(v)
  if (m === 'gb_per_s') return fmtGB(v)
  if (m === 'cost_ratio') return v.toFixed(2)
  return fmtRate(v)
}

function rustSection(results: Row[], rust: RustRun): string {
  let md = ''
  if (rust.status !== 'ok') {
    md += `**The Rust benchmarks did not run: ${rust.status}.** ${rust.detail ?? ''}\n\n`
  }
  const rows = results.filter((r) => r.side === 'rust')
  if (!rows.length) return md
  if (rust.status === 'ok') md += 'From `roker-bench` (benchmark/rust), run by the same command. Ratio: roker ÷ this row on the workload’s main metric (>1 means roker is better; for latencies and costs the inverse).\n\n'
  for (const w of ['W1', 'W2', 'W3', 'W4', 'W5']) {
    const ws = rows.filter((r) => r.workload === w)
    if (!ws.length) continue
    const ok = ws.filter((r) => !r.error)
    const main = RUST_MAIN_METRIC[w]
    const metrics = Object.keys(METRIC_LABEL).filter((m) => ok.some((r) => r.metrics[m] !== undefined))
    md += `### Rust ${w}\n\n`
    const groups = [...new Set(ws.map(rustGroup))]
    const tableRows: string[][] = []
    for (const g of groups) {
      const gr = ws.filter((r) => rustGroup(r) === g)
      const rk = gr.find((r) => r.impl === 'roker' && !r.error)
      for (const r of gr) {
        if (r.error) {
          tableRows.push([g, r.impl, ...metrics.map(() => '–'), `error: ${r.error.replace(/\|/g, '\\|').slice(0, 120)}`])
          continue
        }
        tableRows.push([g, r.impl, ...metrics.map((m) => fmtMetric(m, r.metrics[m])), r === rk || !rk ? '' : fmtRatio(advantage(main, rk.metrics[main], r.metrics[main]))])
      }
    }
    md += table(['Case', 'Implementation', ...metrics.map((m) => METRIC_LABEL[m]), `roker ÷ (${METRIC_LABEL[main] ?? main})`], tableRows, ['l', 'l', ...metrics.map(() => 'r'), 'r'])
    if (w === 'W1') md += '\n![Rust W1 msgs/s](charts/rust-w1-throughput.svg)\n'
    if (w === 'W2') md += '\n![Rust W2 latency](charts/rust-w2-latency.svg)\n'
    md += '\n'
  }
  return md
}

function kv(obj: Record<string, unknown>): string {
  return table(
    ['', ''],
    Object.entries(obj).map(([k, v]) => [k, typeof v === 'object' ? '`' + JSON.stringify(v) + '`' : String(v)]),
    ['l', 'l'],
  )
}

export function markdown(rep: Report, jsonFile: string): string {
  const m = rep.machine
  let md = '# roker benchmark results\n\n'
  md += `Generated ${rep.date} by \`${rep.command}\`${rep.quick ? ' (**quick mode**: fewer sizes, shorter runs — a smoke test, not for quoting)' : ''} in ${Math.round(rep.seconds)} s. `
  md += `Raw data: [\`${jsonFile}\`](${jsonFile}). How to read this: [README.md](README.md).\n\n`
  md += '## Machine\n\n'
  md += table(['CPU', 'Cores', 'Kernel', 'Node', 'Memory'], [[m.cpu, String(m.cores), `${m.kernel} (${m.arch})`, `${m.node} (V8 ${m.v8})`, `${m.memory_gib} GiB`]], ['l', 'r', 'l', 'l', 'r'])
  const startLoad = rep.loadStart
  if (m.loadavg?.length || startLoad?.length) {
    const busy = Math.max(startLoad?.[0] ?? 0, m.loadavg?.[0] ?? 0) > m.cores * 0.75
    md += `\nLoad average (1, 5, 15 min) at start: ${startLoad?.join(', ') ?? '?'}; at end: ${m.loadavg?.join(', ') ?? '?'}.`
    if (busy) md += ' **Other work was running on this machine during the run; absolute figures are lower and noisier than on an idle machine (ratios measured back to back are less affected).**'
    md += '\n'
  }
  md += '\n## Versions\n\n'
  const rv = (rep.rust.versions ?? {}) as Record<string, unknown>
  md += kv({ ...rep.versions, ...Object.fromEntries(Object.entries(rv).map(([k, v]) => [`${k} (Rust)`, v])) })
  md += '\n## Targets\n\n'
  md += 'Evaluated automatically from this run’s results.\n\n'
  md += table(
    ['', 'Side', 'Target', 'Measured', 'Met', 'Gap', 'What would close it'],
    (rep.targets ?? []).map((t) => [t.id, t.side, t.target, t.measured, t.met === null ? 'n/a' : t.met ? '✅ yes' : '❌ no', t.gap, t.closing]),
    ['l', 'l', 'l', 'l', 'c', 'l', 'l'],
  )
  md += '\n## Node.js workloads\n\n'
  md += nodeSection(rep.results)
  md += '## Rust workloads\n\n'
  md += rustSection(rep.results, rep.rust)
  md += TUNING_LOG
  md += '## Notes\n\n'
  md += '- All peers ran in the same invocation, on the same machine, back to back; each case runs in a fresh driver process.\n'
  md += '- Transports without back-pressure (postMessage, BroadcastChannel, process.send) get credit-based flow control (at most 64 MiB or 65,536 messages in flight, acknowledged every quarter window); zeromq uses `ZMQ_XPUB_NODROP` with a matching high-water mark (retrying on `EAGAIN`); roker uses its `block` policy.\n'
  md += '- W4 runs on both sides. From Node, the binding’s fixed cost per `publish` call (~0.5 µs) is in both the scaled and the baseline figure, which pulls the ratio toward 1; the Rust W4 (R5) is the raw ratio and the stricter test.\n'
  md += '- Figures from a 2-core machine are dominated by scheduling when more processes than cores are busy (W2 busy polling, W3 with 16 subscribers).\n'
  md += '- Latencies that involve waking a sleeping thread (roker `receiveAsync`/`receiveSync` after their spin, MessagePort, BroadcastChannel, child_process, zeromq) depend on whether the CPUs were idle or busy with other work (idle vCPUs wake slowly); they vary between runs far more than within one, so compare rows of one run and do not read one run’s N6 verdict as settled.\n'
  return md
}

/** Before/after of each tuning step (measured on this machine, commands given). */
const TUNING_LOG = `## Tuning log

| Change | Before | After | Measured with |
| --- | --- | --- | --- |
| Rust publish path: no clock reads besides the timestamp, publisher caches the subscriber's inbox head, sleep flag moved off the hot cache line | 4.65 M msg/s | 5.9 M msg/s | \`cargo run --release -p roker --example throughput\` (64 B, 10 M messages) |
| Rust receivers pause between polls of an empty inbox (less cache-line stealing from the publisher) | 7.6 M msg/s | 8.0 M msg/s | same, quiet machine |
| Node receive: one Buffer per batch plus a shared metadata array, instead of one external Buffer and one object per message (perf showed malloc/free, GC of external buffers and napi object creation) | \`receiveMany\` 0.3 M msg/s | 6 M msg/s | in-process publish-then-drain loop of 64 B messages (\`publish\` + \`receiveMany(id, 4096)\`) |
| Node publish: separate string and bytes entry points (perf showed \`Either\` conversion formatting an error string on every Buffer payload) | 1.4 M msg/s | 2.0 M msg/s | same loop, \`publish\` side |
| Node \`receive\`: copy one message into a reusable staging Buffer, then into a pooled \`Buffer.allocUnsafe\` (perf showed ~30 % of the time in malloc/free and V8 backing stores for a native Buffer per message) | W1 64 B per message 0.75 M msg/s | 0.88 M msg/s (in process 0.87 → 1.27 M) | \`npm run bench -- --only W1 --no-rust --out-dir /tmp/b1\` (before: the full run below) |
| \`publishMany\`: one native call and one broker-lock acquisition per batch | W1 64 B batched 1.83 M msg/s | 7.07 M msg/s | \`npm run bench\` (N2) |
| \`receiveMany\` gathers at most 256 KiB per call and returns large payloads alone | W1 4 MiB batched 0.32 GB/s | 5.9 GB/s | \`npm run bench\` |
| W5: native trie \`Matcher\` with a per-topic cache instead of routing through \`publish\` | 0.58× qlobber | 17× qlobber (1.5× without the cache) | \`npm run bench\` (N9) |
| Routing by scanning filters in place (no String allocated per filter or topic) when a topic is not interned | 18 M filter checks/s | 48 M filter checks/s | \`benchmark/rust/target/release/roker-bench --only W5 --json\` (full filter scan row) |

`

// ---------------------------------------------------------------------------------------------
// Charts

export function charts(results: Row[]): Record<string, string> {
  const out: Record<string, string> = {}
  const node = results.filter((r) => r.side === 'node' && !r.error)
  const rust = results.filter((r) => r.side === 'rust' && !r.error)

  const w1 = node.filter((r) => r.workload === 'W1')
  if (w1.length) {
    const sizes = [...new Set(w1.map((r) => payloadOf(r)!))].sort((a, b) => a - b)
    const impls = [...new Set(w1.map((r) => r.impl))]
    const grid = (m: string): (number | null)[][] => sizes.map((s) => impls.map((i) => w1.find((r) => r.impl === i && payloadOf(r) === s)?.metrics[m] ?? null))
    out['node-w1-throughput.svg'] = barChart({
      title: 'Node W1: throughput, 1 publisher → 1 subscriber',
      subtitle: 'messages per second by payload size (higher is better)',
      unit: 'messages/s',
      log: true,
      groups: sizes.map(sizeLabel),
      series: impls.map(label),
      values: grid('msgs_per_s'),
      format: si,
    })
    // mqemitter hands over a reference (no copy), so its "bandwidth" is meaningless here.
    const copying = impls.filter((i) => i !== 'mqemitter')
    out['node-w1-bandwidth.svg'] = barChart({
      title: 'Node W1: bandwidth, 1 publisher → 1 subscriber',
      subtitle: 'payload GB/s by payload size (higher is better; mqemitter omitted: it copies nothing)',
      unit: 'GB/s',
      log: true,
      groups: sizes.map(sizeLabel),
      series: copying.map(label),
      values: sizes.map((s) => copying.map((i) => w1.find((r) => r.impl === i && payloadOf(r) === s)?.metrics.gb_per_s ?? null)),
      format: (v) => fmtGB(v),
    })
  }
  const w2 = node.filter((r) => r.workload === 'W2')
  if (w2.length) {
    out['node-w2-latency.svg'] = barChart({
      title: 'Node W2: one-way latency, 64 B ping-pong',
      subtitle: 'microseconds (lower is better)',
      unit: 'µs',
      log: true,
      groups: w2.map((r) => r.impl),
      series: ['p50', 'p99'],
      values: w2.map((r) => [r.metrics.p50_ns / 1e3, r.metrics.p99_ns / 1e3]),
      format: (v) => (v >= 100 ? v.toFixed(0) : v.toPrecision(3)),
    })
  }
  const w3 = node.filter((r) => r.workload === 'W3')
  if (w3.length) {
    const ns = [...new Set(w3.map((r) => Number(r.params.subscribers)))].sort((a, b) => a - b)
    const impls = [...new Set(w3.map((r) => r.impl))]
    out['node-w3-fanout.svg'] = barChart({
      title: 'Node W3: fan-out deliveries per second',
      subtitle: '1 publisher → N subscribers, 64 B, wildcard filter (higher is better)',
      unit: 'deliveries/s',
      log: true,
      groups: ns.map((n) => `${n} subscriber${n > 1 ? 's' : ''}`),
      series: impls.map(label),
      values: ns.map((n) => impls.map((i) => w3.find((r) => r.impl === i && r.params.subscribers === n)?.metrics.deliveries_per_s ?? null)),
      format: si,
    })
  }
  const w5 = node.filter((r) => r.workload === 'W5')
  if (w5.length) {
    out['node-w5-matching.svg'] = barChart({
      title: 'Node W5: topics matched against 10,000 filters per second',
      subtitle: 'in process (higher is better)',
      unit: 'topics/s',
      log: true,
      groups: ['10,000 filters'],
      series: w5.map((r) => label(r.impl)),
      values: [w5.map((r) => r.metrics.topics_per_s)],
      format: si,
    })
  }
  const rw1 = rust.filter((r) => r.workload === 'W1')
  if (rw1.length) {
    const sizes = [...new Set(rw1.map((r) => payloadOf(r)).filter((s): s is number => s !== undefined))].sort((a, b) => a - b)
    const impls = [...new Set(rw1.map((r) => r.impl))]
    out['rust-w1-throughput.svg'] = barChart({
      title: 'Rust W1: throughput, 1 publisher → 1 subscriber',
      subtitle: 'messages per second by payload size (higher is better)',
      unit: 'messages/s',
      log: true,
      groups: sizes.map(sizeLabel),
      series: impls,
      values: sizes.map((s) => impls.map((i) => rw1.find((r) => r.impl === i && payloadOf(r) === s)?.metrics.msgs_per_s ?? null)),
      format: si,
    })
  }
  const rw2 = rust.filter((r) => r.workload === 'W2')
  if (rw2.length) {
    out['rust-w2-latency.svg'] = barChart({
      title: 'Rust W2: one-way latency, 64 B',
      subtitle: 'microseconds (lower is better)',
      unit: 'µs',
      log: true,
      groups: rw2.map((r) => r.name),
      series: ['p50', 'p99'],
      values: rw2.map((r) => [r.metrics.p50_ns / 1e3, r.metrics.p99_ns / 1e3]),
      format: (v) => (v >= 100 ? v.toFixed(0) : v.toPrecision(3)),
    })
  }
  return out
}
