// Temperature telemetry: three sensor processes publish JSON readings on
// `/sensors/<room>/temperature` and `/sensors/<room>/humidity` for about two seconds, while a
// dashboard (this process) follows them through two wildcard subscriptions, shows a live table
// per room, and finally checks that every reading arrived exactly once.
//
//   npm run example:telemetry      (or: node --import @oxc-node/core/register examples/telemetry.ts)
//
// Exits with code 1 if any count does not match what the sensors say they published.
import { setTimeout as sleep } from 'node:timers/promises'

import { Broker, type ClientId, type Message } from '../index.js'
import { Child, failedChildren, onInterrupt, report } from './lib/processes.js'

const DURATION_MS = 2000
const ROOMS = [
  { room: 'kitchen', temperature: 22.5, humidity: 55 },
  { room: 'living-room', temperature: 21, humidity: 45 },
  { room: 'garage', temperature: 12, humidity: 70 },
]

type Kind = 'temperature' | 'humidity' | 'status'

/** The JSON body of a reading. */
interface Reading {
  room: string
  value: number
  unit: string
}

/** What a sensor says it published, printed on its stdout when it is done. */
interface Published {
  room: string
  temperature: number
  humidity: number
  status: number
}

// ---------------------------------------------------------------------------------------------
// Sensor process: attaches to the broker by name and publishes readings.

async function sensor(brokerName: string, index: number): Promise<void> {
  const { room, temperature: baseTemperature, humidity: baseHumidity } = ROOMS[index]
  const broker = Broker.connect(brokerName)
  const published: Published = { room, temperature: 0, humidity: 0, status: 0 }
  const publish = (kind: Kind, body: object): void => {
    broker.publish(`/sensors/${room}/${kind}`, JSON.stringify(body))
    published[kind]++
  }

  publish('status', { room, state: 'online' })
  let temperature = baseTemperature
  let humidity = baseHumidity
  const end = Date.now() + DURATION_MS
  for (let tick = 0; Date.now() < end; tick++) {
    temperature += (Math.random() - 0.5) * 0.3
    publish('temperature', { room, value: Number(temperature.toFixed(2)), unit: '°C' } satisfies Reading)
    if (tick % 2 === 0) {
      // Humidity is sampled at half the rate.
      humidity += (Math.random() - 0.5) * 1.5
      publish('humidity', { room, value: Number(humidity.toFixed(1)), unit: '%' } satisfies Reading)
    }
    await sleep(10)
  }
  publish('status', { room, state: 'offline' })

  broker.close()
  report('PUBLISHED', published)
}

// ---------------------------------------------------------------------------------------------
// Dashboard (the parent process): creates the broker, subscribes, spawns the sensors.

/** Running min / average / max of a series of values. */
class Series {
  count = 0
  min = Infinity
  max = -Infinity
  #sum = 0

  add(value: number): void {
    this.count++
    this.#sum += value
    this.min = Math.min(this.min, value)
    this.max = Math.max(this.max, value)
  }

  /** `count  min  avg  max`, in the columns of {@link SERIES_HEADER}. */
  format(): string {
    if (this.count === 0) return columns(['0', '-', '-', '-'])
    const avg = this.#sum / this.count
    return columns([String(this.count), ...[this.min, avg, this.max].map((v) => v.toFixed(1))])
  }
}

const columns = ([n, min, avg, max]: string[]): string =>
  `${n.padStart(5)} ${min.padStart(6)} ${avg.padStart(6)} ${max.padStart(6)}`
const SERIES_HEADER = columns(['n', 'min', 'avg', 'max'])
const center = (text: string, width: number): string =>
  text.padStart(Math.floor((width + text.length) / 2)).padEnd(width)

interface RoomView {
  // Temperatures come from the `/sensors/*/temperature` subscription, the rest from `/sensors/#`.
  temperature: Series
  humidity: Series
  status: string
  /** Messages of each kind seen by the `/sensors/#` subscription, for the final check. */
  counted: Record<Kind, number>
}

async function dashboard(): Promise<void> {
  const name = `telemetry-${process.pid}`
  const broker = new Broker({ name, bufferSize: 1 << 20, maxClients: 8, maxSubscriptionsPerClient: 4 })
  onInterrupt(() => broker.destroy())
  const children: Child[] = []

  try {
    // Subscribe before any sensor starts, so that no reading is published before we listen.
    const everything = broker.registerClient('dashboard: everything')
    broker.subscribe(everything, '/sensors/#')
    const temperatures = broker.registerClient('dashboard: temperatures')
    broker.subscribe(temperatures, '/sensors/*/temperature')

    const rooms = new Map<string, RoomView>()
    const view = (room: string): RoomView => {
      let v = rooms.get(room)
      if (!v) {
        v = {
          temperature: new Series(),
          humidity: new Series(),
          status: '-',
          counted: { temperature: 0, humidity: 0, status: 0 },
        }
        rooms.set(room, v)
      }
      return v
    }

    // Per publisher, the `/sensors/#` subscriber must see sequence numbers 1, 2, 3, ... with no
    // gap and no repeat: that is "every reading exactly once, in order".
    const lastSequence = new Map<number, number>()
    const problems: string[] = []
    let latencySum = 0
    let latencyMax = 0
    let received = 0

    const onAnything = (m: Message): void => {
      const [, , room, kind] = m.topic.split('/') as [string, string, string, Kind]
      const v = view(room)
      v.counted[kind]++
      received++
      const expected = (lastSequence.get(m.publisherId) ?? 0) + 1
      if (m.sequence !== expected) {
        problems.push(`publisher ${m.publisherId}: got sequence ${m.sequence}, expected ${expected}`)
      }
      lastSequence.set(m.publisherId, m.sequence)
      const latency = performance.timeOrigin + performance.now() - m.timestamp
      latencySum += latency
      latencyMax = Math.max(latencyMax, latency)

      if (kind === 'humidity') v.humidity.add((JSON.parse(m.text()) as Reading).value)
      if (kind === 'status') v.status = (JSON.parse(m.text()) as { state: string }).state
    }
    const onTemperature = (m: Message): void => {
      const reading = JSON.parse(m.text()) as Reading
      view(reading.room).temperature.add(reading.value)
    }

    const stop = new AbortController()
    const consumers = Promise.all([
      consume(broker, everything, stop.signal, onAnything),
      consume(broker, temperatures, stop.signal, onTemperature),
    ])

    console.log(`Broker "${name}": dashboard subscribed to /sensors/# and /sensors/*/temperature`)
    console.log(`Starting ${ROOMS.length} sensor processes, publishing for ${DURATION_MS / 1000} s...\n`)
    ROOMS.forEach(({ room }, i) => {
      children.push(new Child(import.meta.url, ['sensor', name, String(i)], `sensor ${room}`))
    })

    const started = Date.now()
    const table = new LiveTable()
    const render = (): void =>
      table.show(renderTable(rooms, received, (Date.now() - started) / 1000), process.stdout.isTTY)
    const refresh = setInterval(render, process.stdout.isTTY ? 200 : 1000)

    // Each sensor prints what it published when it is done.
    const reports = await Promise.allSettled(children.map((c) => c.next<Published>('PUBLISHED')))
    const failed = await failedChildren(children)
    stop.abort()
    await consumers
    clearInterval(refresh)
    render()

    // Final summary: compare what each sensor published with what we received.
    console.log('\nSummary (published by the sensor / received by the dashboard)')
    console.log('room           temperature       humidity          status   via /sensors/*/temperature')
    for (const r of reports) {
      if (r.status === 'rejected') {
        problems.push(r.reason instanceof Error ? r.reason.message : String(r.reason))
        continue
      }
      const p = r.value
      const v = view(p.room)
      const cell = (kind: Kind): string => {
        const ok = p[kind] === v.counted[kind]
        if (!ok) problems.push(`${p.room} ${kind}: published ${p[kind]}, received ${v.counted[kind]}`)
        return `${p[kind]} / ${v.counted[kind]} ${ok ? '✓' : '✗'}`
      }
      const viaWildcard = v.temperature.count === p.temperature
      if (!viaWildcard) {
        problems.push(`${p.room}: /sensors/*/temperature got ${v.temperature.count} of ${p.temperature}`)
      }
      console.log(
        `${p.room.padEnd(15)}${cell('temperature').padEnd(18)}${cell('humidity').padEnd(18)}` +
          `${cell('status').padEnd(9)}${v.temperature.count} ${viaWildcard ? '✓' : '✗'}`,
      )
    }
    if (failed.length > 0) problems.push(`failed: ${failed.join(', ')}`)
    const stats = broker.stats(everything)
    console.log(
      `\n${received} messages received by /sensors/#, ${stats.dropped} dropped, ` +
        `delivery latency avg ${(latencySum / Math.max(received, 1)).toFixed(3)} ms, max ${latencyMax.toFixed(3)} ms`,
    )

    if (problems.length === 0) {
      console.log('OK: every reading was received exactly once, in order.')
    } else {
      for (const p of problems) console.error(`PROBLEM: ${p}`)
      process.exitCode = 1
    }
  } finally {
    for (const c of children) c.kill()
    broker.destroy()
  }
}

/**
 * Feeds a client's messages to `handle` as they arrive, until `signal` aborts; then takes
 * whatever is still queued, so that nothing published before the abort is left behind.
 */
async function consume(
  broker: Broker,
  client: ClientId,
  signal: AbortSignal,
  handle: (m: Message) => void,
): Promise<void> {
  for await (const m of broker.messages(client, { signal })) handle(m)
  for (let batch = broker.receiveMany(client, 1024); batch.length > 0; batch = broker.receiveMany(client, 1024)) {
    batch.forEach(handle)
  }
}

function renderTable(rooms: Map<string, RoomView>, received: number, seconds: number): string[] {
  const lines = [
    `t=${seconds.toFixed(1)}s  ${received} messages`,
    `${'room'.padEnd(13)}${center('temperature °C', 27)}  ${center('humidity %', 27)}  status`,
    `${''.padEnd(13)}${SERIES_HEADER}  ${SERIES_HEADER}`,
  ]
  for (const { room } of ROOMS) {
    const v = rooms.get(room)
    if (!v) lines.push(`${room.padEnd(13)}(waiting for the sensor)`)
    else lines.push(`${room.padEnd(13)}${v.temperature.format()}  ${v.humidity.format()}  ${v.status}`)
  }
  return lines
}

/** Prints a block of lines; on a terminal, redraws it in place instead of scrolling. */
class LiveTable {
  #height = 0
  #shown = false

  show(lines: string[], inPlace: boolean): void {
    if (inPlace && this.#height > 0) process.stdout.write(`\x1b[${this.#height}F\x1b[J`)
    else if (!inPlace && this.#shown) process.stdout.write('\n')
    process.stdout.write(lines.join('\n') + '\n')
    this.#height = lines.length
    this.#shown = true
  }
}

// ---------------------------------------------------------------------------------------------

const [role, ...args] = process.argv.slice(2)
if (role === 'sensor') await sensor(args[0], Number(args[1]))
else await dashboard()
