import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'

import test from 'ava'

import { Broker, RokerError } from '../index.js'
import { Child } from './child.js'
import { smallBroker } from './helpers.js'

test('receiveAsync resolves on publish and times out with null', async (t) => {
  const b = smallBroker('async')
  const s = b.registerClient()
  b.subscribe(s, 'a')
  t.is(await b.receiveAsync(s, { timeout: 30 }), null)
  const pending = b.receiveAsync(s, { timeout: 10_000 })
  setTimeout(() => b.publish('a', 'late'), 20)
  t.is((await pending)!.text(), 'late')
  b.close()
})

test('receiveAsync rejects on abort with the signal reason', async (t) => {
  const b = smallBroker('abort')
  const s = b.registerClient()
  const ac = new AbortController()
  const p = b.receiveAsync(s, { signal: ac.signal })
  setTimeout(() => ac.abort(new Error('stop now')), 20)
  await t.throwsAsync(p, { message: 'stop now' })
  const pre = AbortSignal.abort()
  await t.throwsAsync(b.receiveAsync(s, { signal: pre }), { any: true, name: 'AbortError' })
  b.close()
})

test('waiting does not occupy the libuv thread pool', async (t) => {
  const b = smallBroker('pool')
  const subs = Array.from({ length: 8 }, (_, i) => {
    const s = b.registerClient(`s${i}`)
    b.subscribe(s, `q/${i}`)
    return s
  })
  let settled = 0
  const waits = subs.map((s) => b.receiveAsync(s, { timeout: 20_000 }).then((m) => (settled++, m)))
  // With 8 waits parked on libuv's 4 pool threads this would hang until they end.
  const data = await readFile(fileURLToPath(import.meta.url))
  t.true(data.length > 0)
  t.is(settled, 0)
  subs.forEach((_, i) => b.publish(`q/${i}`, String(i)))
  const got = await Promise.all(waits)
  t.deepEqual(got.map((m) => m!.text()), subs.map((_, i) => String(i)))
  b.close()
})

test('messages() yields in order and ends cleanly on break and on abort', async (t) => {
  const b = smallBroker('iter')
  const s = b.registerClient()
  b.subscribe(s, 'i/#')
  for (let i = 0; i < 5; i++) b.publish(`i/${i}`, String(i))
  const seen: string[] = []
  for await (const m of b.messages(s)) {
    seen.push(m.text())
    if (seen.length === 3) break
  }
  t.deepEqual(seen, ['0', '1', '2'])
  // Nothing was taken that was not yielded.
  t.deepEqual(b.receiveMany(s).map((m) => m.text()), ['3', '4'])
  const ac = new AbortController()
  setTimeout(() => b.publish('i/x', 'x'), 10)
  setTimeout(() => ac.abort(), 60)
  const later: string[] = []
  for await (const m of b.messages(s, { signal: ac.signal })) later.push(m.text())
  t.deepEqual(later, ['x'])
  b.close()
})

test('receiveSync blocks the thread up to the timeout', (t) => {
  const b = smallBroker('sync')
  const s = b.registerClient()
  b.subscribe(s, 's')
  t.is(b.receiveSync(s, 20), null)
  b.publish('s', 'now')
  t.is(b.receiveSync(s, 1000)!.text(), 'now')
  b.close()
})

test('an idle subscription does not keep a process alive', async (t) => {
  const b = smallBroker('idle')
  const child = new Child(['idle', b.name], 30_000)
  await child.line('READY')
  const { code, signal } = await child.exited
  t.is(signal, null, 'the child had to be killed: the subscription kept it alive')
  t.is(code, 0)
  // Its client is reclaimed once its process is gone.
  t.is(b.sweep(), 1)
  b.close()
})

test('the addon works inside worker_threads, across threads', async (t) => {
  const b = smallBroker('worker')
  const s = b.registerClient()
  b.subscribe(s, 'from/worker')
  const indexPath = fileURLToPath(new URL('../index.js', import.meta.url))
  const code = `
    const { parentPort, workerData } = require('node:worker_threads')
    const { Broker } = require(workerData.indexPath)
    const b = Broker.connect(workerData.name)
    const me = b.registerClient('w')
    b.subscribe(me, 'to/worker')
    parentPort.postMessage('ready')
    b.receiveAsync(me, { timeout: 10000 }).then((m) => {
      b.publish('from/worker', 'echo:' + m.text())
      b.close()
      parentPort.postMessage('done')
    })
  `
  const worker = new Worker(code, { eval: true, workerData: { name: b.name, indexPath } })
  await new Promise<void>((resolve) => worker.once('message', () => resolve()))
  b.publish('to/worker', 'ping')
  const m = await b.receiveAsync(s, { timeout: 10_000 })
  t.is(m!.text(), 'echo:ping')
  await worker.terminate()
  b.close()
})

test('async errors are RokerErrors', async (t) => {
  const b = smallBroker('asyncerr')
  await t.throwsAsync(b.receiveAsync(424242, { timeout: 10 }), { instanceOf: RokerError, code: 'ClientNotFound' })
  const s = b.registerClient()
  const p = b.receiveAsync(s, { timeout: 10_000 })
  setTimeout(() => b.unregisterClient(s), 20)
  await t.throwsAsync(p, { instanceOf: RokerError, code: 'ClientNotFound' })
  b.close()
  await t.throwsAsync(Broker.prototype.receiveAsync.call(b, s), { instanceOf: RokerError, code: 'Closed' })
})

test('waitForMessage resolves without taking the message', async (t) => {
  const b = smallBroker('waitfor')
  const s = b.registerClient()
  b.subscribe(s, 'w')
  t.false(await b.waitForMessage(s, { timeout: 20 }))
  setTimeout(() => b.publish('w', 'big'), 10)
  t.true(await b.waitForMessage(s, { timeout: 10_000 }))
  const m = b.receiveZeroCopy(s)
  t.is(m!.text(), 'big')
  b.close()
})
