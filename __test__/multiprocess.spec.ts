import test from 'ava'

import { Child } from './child.js'
import { smallBroker } from './helpers.js'

test('several publisher processes reach several subscriber processes, verified', async (t) => {
  const b = smallBroker('mp', { bufferSize: 4 << 20, maxClients: 16, publishTimeout: 60_000 })
  const PER = 20_000
  const PUBS = 3
  const all = new Child(['subscribe', b.name, '/mp/#', String(PUBS * PER)])
  const even = new Child(['subscribe', b.name, '/mp/*/even', String((PUBS * PER) / 2)])
  const one = new Child(['subscribe', b.name, '/mp/1/*', String(PER)])
  await Promise.all([all.line('READY'), even.line('READY'), one.line('READY')])
  const pubs = Array.from({ length: PUBS }, (_, p) => new Child(['publish', b.name, String(p), String(PER)]))
  for (const p of pubs) {
    const r = await p.exited
    t.deepEqual(r, { code: 0, signal: null }, p.stderr)
  }
  for (const [c, n] of [
    [all, PUBS * PER],
    [even, (PUBS * PER) / 2],
    [one, PER],
  ] as const) {
    const r = await c.exited
    t.deepEqual(r, { code: 0, signal: null }, c.stderr)
    t.true(c.lines.includes(`OK ${n}`), c.lines.join('\n'))
  }
  b.close()
})
