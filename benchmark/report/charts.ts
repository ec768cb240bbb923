// Hand-written SVG bar charts (no chart library): grouped vertical bars, linear or log scale,
// a legend, and the value printed on each bar.

export interface BarChart {
  title: string
  subtitle?: string
  /** Unit shown on the axis, e.g. 'messages/s'. */
  unit: string
  log: boolean
  /** Category labels along the x axis (e.g. payload sizes). */
  groups: string[]
  /** One bar per series in each group (e.g. implementations). */
  series: string[]
  /** values[group][series]; null for "not measured". */
  values: (number | null)[][]
  format: (v: number) => string
}

const ROKER_COLORS = ['#d9480f', '#f76707', '#fd7e14', '#ffa94d', '#e8590c']
const PEER_COLORS = ['#1c7ed6', '#37b24d', '#7048e8', '#868e96', '#0ca678', '#ae3ec9', '#f59f00', '#495057']

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

/** Colours: roker variants in oranges, peers in other hues, stable per series order. */
export function colors(series: string[]): string[] {
  let r = 0
  let p = 0
  return series.map((s) => (s.startsWith('roker') ? ROKER_COLORS[r++ % ROKER_COLORS.length] : PEER_COLORS[p++ % PEER_COLORS.length]))
}

/** Short number: 1.2M, 340k, 12.5, 0.31. */
export function si(v: number): string {
  const a = Math.abs(v)
  if (a >= 1e9) return `${(v / 1e9).toPrecision(3)}G`
  if (a >= 1e6) return `${(v / 1e6).toPrecision(3)}M`
  if (a >= 1e3) return `${(v / 1e3).toPrecision(3)}k`
  if (a >= 1) return v.toPrecision(3)
  if (a === 0) return '0'
  return v.toPrecision(2)
}

export function barChart(c: BarChart): string {
  const nS = c.series.length
  const barW = nS > 6 ? 14 : 20
  const groupGap = 28
  const longest = Math.max(...c.groups.map((g) => g.length))
  const groupW = Math.max(nS * barW + groupGap, longest * 6.5 + 12)
  const left = 78
  const right = 20
  const plotW = Math.max(360, c.groups.length * groupW)
  const width = left + plotW + right
  const legendRows = Math.ceil(c.series.reduce((a, s) => a + s.length * 7 + 34, 0) / (width - 40))
  const top = 52 + legendRows * 18 + 44 // room for the value labels of the tallest bars
  const plotH = 300
  const bottom = 44
  const height = top + plotH + bottom
  const all = c.values.flat().filter((v): v is number => v !== null && Number.isFinite(v) && v > 0)
  const maxV = all.length ? Math.max(...all) : 1
  const minV = all.length ? Math.min(...all) : 1
  let y: (v: number) => number
  const ticks: number[] = []
  if (c.log) {
    const lo = Math.pow(10, Math.floor(Math.log10(minV)))
    const hi = Math.pow(10, Math.ceil(Math.log10(maxV * 1.0001)))
    const span = Math.log10(hi) - Math.log10(lo) || 1
    y = (v) => top + plotH - ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / span) * plotH
    for (let t = lo; t <= hi * 1.0001; t *= 10) ticks.push(t)
  } else {
    const raw = maxV / 5
    const mag = Math.pow(10, Math.floor(Math.log10(raw)))
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw
    const hi = Math.ceil(maxV / step) * step
    y = (v) => top + plotH - (v / hi) * plotH
    for (let t = 0; t <= hi * 1.0001; t += step) ticks.push(t)
  }
  const palette = colors(c.series)
  const out: string[] = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">`)
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`)
  out.push(`<text x="${width / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${esc(c.title)}</text>`)
  if (c.subtitle) out.push(`<text x="${width / 2}" y="37" text-anchor="middle" font-size="11" fill="#555">${esc(c.subtitle)}</text>`)
  // Legend
  let lx = 20
  let ly = 50
  c.series.forEach((s, i) => {
    const w = s.length * 7 + 34
    if (lx + w > width - 20) {
      lx = 20
      ly += 18
    }
    out.push(`<rect x="${lx}" y="${ly - 9}" width="11" height="11" fill="${palette[i]}"/>`)
    out.push(`<text x="${lx + 15}" y="${ly}" font-size="11">${esc(s)}</text>`)
    lx += w
  })
  // Grid and axis labels
  for (const t of ticks) {
    const ty = y(t)
    out.push(`<line x1="${left}" x2="${left + plotW}" y1="${ty.toFixed(1)}" y2="${ty.toFixed(1)}" stroke="#e5e5e5"/>`)
    out.push(`<text x="${left - 6}" y="${(ty + 4).toFixed(1)}" text-anchor="end" font-size="10" fill="#444">${esc(si(t).replace(/\.0+(?=[kMG]?$)/, ''))}</text>`)
  }
  out.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#888"/>`)
  out.push(`<line x1="${left}" x2="${left + plotW}" y1="${top + plotH}" y2="${top + plotH}" stroke="#888"/>`)
  out.push(
    `<text x="16" y="${top + plotH / 2}" transform="rotate(-90 16 ${top + plotH / 2})" text-anchor="middle" font-size="11" fill="#444">${esc(c.unit)}${c.log ? ' (log scale)' : ''}</text>`,
  )
  // Bars
  const x0 = left + (plotW - c.groups.length * groupW) / 2 + (groupW - nS * barW) / 2
  c.groups.forEach((g, gi) => {
    const gx = x0 + gi * groupW
    c.series.forEach((s, si_) => {
      const v = c.values[gi]?.[si_]
      const bx = gx + si_ * barW
      if (v === null || v === undefined || !Number.isFinite(v) || v <= 0) {
        out.push(`<text x="${bx + barW / 2}" y="${top + plotH - 4}" text-anchor="middle" font-size="9" fill="#aaa">–</text>`)
        return
      }
      const by = y(v)
      out.push(
        `<rect x="${bx.toFixed(1)}" y="${by.toFixed(1)}" width="${barW - 2}" height="${(top + plotH - by).toFixed(1)}" fill="${palette[si_]}"><title>${esc(`${s} · ${g}: ${c.format(v)}`)}</title></rect>`,
      )
      const tx = bx + (barW - 2) / 2 + 3
      const ty = by - 3
      out.push(`<text x="${tx.toFixed(1)}" y="${ty.toFixed(1)}" transform="rotate(-90 ${tx.toFixed(1)} ${ty.toFixed(1)})" font-size="9" fill="#222">${esc(c.format(v))}</text>`)
    })
    out.push(`<text x="${gx + (nS * barW) / 2}" y="${top + plotH + 16}" text-anchor="middle" font-size="11">${esc(g)}</text>`)
  })
  out.push('</svg>')
  return out.join('\n') + '\n'
}
