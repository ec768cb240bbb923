// Image broadcast: a camera process publishes 40 frames of 1024×1024 RGBA pixels (4 MiB each)
// on `/camera/front/frame`; three viewer processes subscribe to `/camera/*/frame`, check the
// SHA-256 that the camera put in each frame's header, and report their throughput. One viewer
// uses `receiveZeroCopy`, which reads the pixels in place in shared memory instead of copying.
//
//   npm run example:image      (or: node --import @oxc-node/core/register examples/image-broadcast.ts)
//
// The broker uses the 'block' policy: when the 64 MiB buffer is full of frames some viewer has
// not read yet, the camera waits (up to publishTimeout) instead of dropping frames.
import { createHash } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'

import { Broker, type Message } from '../index.js'
import { Child, failedChildren, onInterrupt, report } from './lib/processes.js'

const FRAMES = 40
const WIDTH = 1024
const HEIGHT = 1024
const PIXEL_BYTES = WIDTH * HEIGHT * 4
const MiB = 1024 * 1024

// Frame layout: a 48-byte header, then the pixels.
const MAGIC = 0x314d5246 // 'FRM1' read as a little-endian u32
const HEADER_BYTES = 48
const OFFSET = { magic: 0, frame: 4, width: 8, height: 12, sha256: 16 } as const

type ViewerMode = 'copy' | 'zero-copy'

interface CameraReport {
  frames: number
  seconds: number
  blockedSeconds: number
}

interface ViewerReport {
  frames: number
  bad: number
  bytes: number
  seconds: number
}

// ---------------------------------------------------------------------------------------------
// Camera process

function camera(brokerName: string): void {
  const broker = Broker.connect(brokerName)
  const frame = Buffer.from(new ArrayBuffer(HEADER_BYTES + PIXEL_BYTES))
  const pixels = frame.subarray(HEADER_BYTES)
  const words = new Uint32Array(frame.buffer, HEADER_BYTES, PIXEL_BYTES / 4)

  // Cheap pseudo-random pixels: fill once from a seeded xorshift, then change a few per frame.
  let state = 0x2545f491
  const next = (): number => {
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    return state >>> 0
  }
  for (let i = 0; i < words.length; i++) words[i] = next()

  let blocked = 0
  const start = performance.now()
  for (let n = 0; n < FRAMES; n++) {
    for (let i = 0; i < 256; i++) words[next() % words.length] = next()
    frame.writeUInt32LE(MAGIC, OFFSET.magic)
    frame.writeUInt32LE(n, OFFSET.frame)
    frame.writeUInt32LE(WIDTH, OFFSET.width)
    frame.writeUInt32LE(HEIGHT, OFFSET.height)
    createHash('sha256').update(pixels).digest().copy(frame, OFFSET.sha256)

    // Copies the frame once into shared memory, whatever the number of viewers. With the
    // 'block' policy this waits while the buffer is full of frames a viewer has not read yet.
    const t = performance.now()
    broker.publish('/camera/front/frame', frame)
    blocked += performance.now() - t
  }
  const seconds = (performance.now() - start) / 1000
  broker.close()
  report('PUBLISHED', { frames: FRAMES, seconds, blockedSeconds: blocked / 1000 } satisfies CameraReport)
}

// ---------------------------------------------------------------------------------------------
// Viewer process

async function viewer(brokerName: string, mode: ViewerMode): Promise<void> {
  const broker = Broker.connect(brokerName)
  const id = broker.registerClient(`viewer (${mode})`)
  broker.subscribe(id, '/camera/*/frame')
  report('READY')

  const result: ViewerReport = { frames: 0, bad: 0, bytes: 0, seconds: 0 }
  let firstPublished = 0
  const check = (m: Message): void => {
    if (result.frames === 0) firstPublished = m.timestamp
    const ok = verify(m.payload, result.frames)
    if (!ok) {
      result.bad++
      console.error(`viewer (${mode}): frame ${result.frames} on ${m.topic} is corrupt`)
    }
    result.frames++
    result.bytes += m.payload.length
  }

  if (mode === 'copy') {
    // Each message's payload is an ordinary Buffer, copied out of shared memory.
    for await (const m of broker.messages(id, { signal: AbortSignal.timeout(15_000) })) {
      check(m)
      if (result.frames === FRAMES) break
    }
  } else {
    // The payload is a view of the shared region, valid until the next receive on this client
    // or `release(id)`. Releasing as soon as we are done lets the camera reuse that space.
    // There is no async variant of receiveZeroCopy, so when nothing is queued we poll.
    const deadline = Date.now() + 15_000
    while (result.frames < FRAMES && Date.now() < deadline) {
      const m = broker.receiveZeroCopy(id)
      if (m === null) {
        await sleep(1)
        continue
      }
      check(m)
      broker.release(id)
    }
  }
  result.seconds = (performance.timeOrigin + performance.now() - firstPublished) / 1000

  broker.close()
  report('RESULT', result)
}

/** Whether `payload` is frame number `expected` with pixels matching the header's SHA-256. */
function verify(payload: Buffer, expected: number): boolean {
  if (payload.length !== HEADER_BYTES + PIXEL_BYTES) return false
  if (payload.readUInt32LE(OFFSET.magic) !== MAGIC || payload.readUInt32LE(OFFSET.frame) !== expected) return false
  const digest = createHash('sha256').update(payload.subarray(HEADER_BYTES)).digest()
  return digest.equals(payload.subarray(OFFSET.sha256, OFFSET.sha256 + 32))
}

// ---------------------------------------------------------------------------------------------
// Parent: creates the broker, starts the viewers, then the camera, and checks the results.

async function main(): Promise<void> {
  const name = `image-${process.pid}`
  const broker = new Broker({
    name,
    bufferSize: 64 * MiB,
    maxClients: 8,
    maxSubscriptionsPerClient: 4,
    policy: 'block',
    publishTimeout: 10_000,
  })
  onInterrupt(() => broker.destroy())
  const children: Child[] = []

  try {
    console.log(`Broker "${name}": ${broker.config().bufferSize / MiB} MiB buffer, policy 'block'`)
    const modes: ViewerMode[] = ['copy', 'copy', 'zero-copy']
    const viewers = modes.map((mode, i) => new Child(import.meta.url, ['viewer', name, mode], `viewer ${i + 1}`))
    children.push(...viewers)
    // Viewers must be subscribed before the camera publishes its first frame.
    await Promise.all(viewers.map((v) => v.next('READY')))

    const frameMiB = (HEADER_BYTES + PIXEL_BYTES) / MiB
    console.log(`${viewers.length} viewers subscribed to /camera/*/frame`)
    console.log(`Camera publishing ${FRAMES} frames of ${WIDTH}×${HEIGHT} RGBA (${frameMiB.toFixed(2)} MiB each)...\n`)
    const cam = new Child(import.meta.url, ['camera', name], 'camera')
    children.push(cam)

    const [published, ...results] = await Promise.allSettled([
      cam.next<CameraReport>('PUBLISHED'),
      ...viewers.map((v) => v.next<ViewerReport>('RESULT')),
    ])
    const failed = await failedChildren(children)

    const problems: string[] = []
    const mbps = (bytes: number, seconds: number): string => (bytes / 1e6 / seconds).toFixed(0).padStart(6)
    console.log('process      mode        frames   bad     MB/s')
    if (published.status === 'fulfilled') {
      const p = published.value as CameraReport
      const bytes = p.frames * (HEADER_BYTES + PIXEL_BYTES)
      console.log(
        `camera       publish     ${String(p.frames).padStart(6)}     -   ${mbps(bytes, p.seconds)}` +
          `   (${p.seconds.toFixed(2)} s, ${p.blockedSeconds.toFixed(2)} s of it waiting for room)`,
      )
    } else problems.push(message(published.reason))
    results.forEach((r, i) => {
      if (r.status === 'rejected') {
        problems.push(message(r.reason))
        return
      }
      const v = r.value as ViewerReport
      console.log(
        `viewer ${i + 1}     ${modes[i].padEnd(10)}  ${String(v.frames).padStart(6)}  ${String(v.bad).padStart(4)}   ` +
          `${mbps(v.bytes, v.seconds)}`,
      )
      if (v.frames !== FRAMES) problems.push(`viewer ${i + 1} received ${v.frames} of ${FRAMES} frames`)
      if (v.bad > 0) problems.push(`viewer ${i + 1} saw ${v.bad} corrupt frames`)
    })
    if (failed.length > 0) problems.push(`failed: ${failed.join(', ')}`)

    console.log()
    if (problems.length === 0) {
      console.log(`OK: ${viewers.length} viewers received all ${FRAMES} frames, every checksum matched.`)
    } else {
      for (const p of problems) console.error(`PROBLEM: ${p}`)
      process.exitCode = 1
    }
  } finally {
    for (const c of children) c.kill()
    broker.destroy()
  }
}

const message = (reason: unknown): string => (reason instanceof Error ? reason.message : String(reason))

// ---------------------------------------------------------------------------------------------

const [role, ...args] = process.argv.slice(2)
if (role === 'camera') camera(args[0])
else if (role === 'viewer') await viewer(args[0], args[1] as ViewerMode)
else await main()
