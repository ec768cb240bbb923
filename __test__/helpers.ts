import { createHash } from 'node:crypto'

import { Broker, type BrokerOptions } from '../index.js'

let n = 0
/** A broker name unique to this process and call. */
export function uniqueName(tag: string): string {
  return `js${process.pid}-${tag}-${n++}`
}

/** A small broker for one test. */
export function smallBroker(tag: string, extra: Partial<BrokerOptions> = {}): Broker {
  return new Broker({
    name: uniqueName(tag),
    bufferSize: 1 << 20,
    maxClients: 8,
    maxSubscriptionsPerClient: 4,
    ...extra,
  })
}

/** A payload that carries its own checksum: `pub:index:body:sha1`. */
export function makePayload(pub: number, index: number, size = 64): Buffer {
  const head = `${pub}:${index}:`
  const body = Buffer.alloc(Math.max(0, size - head.length - 41), String.fromCharCode(97 + ((pub + index) % 26)))
  const text = head + body.toString() + ':'
  return Buffer.from(text + createHash('sha1').update(text).digest('hex'))
}

/** Checks a payload made by makePayload; returns [pub, index] or null if corrupt. */
export function checkPayload(p: Buffer): [number, number] | null {
  const s = p.toString()
  const cut = s.lastIndexOf(':')
  if (cut < 0) return null
  const text = s.slice(0, cut + 1)
  if (createHash('sha1').update(text).digest('hex') !== s.slice(cut + 1)) return null
  const [pub, index] = text.split(':')
  return [Number(pub), Number(index)]
}
