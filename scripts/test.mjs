// Runs every Rust and Node test and ends with one line `N passed, N failed` summing both.
// Used by `npm test` (after `npm run build`, via the pretest script) and by CI.
import { spawn } from 'node:child_process'

function run(cmd, args, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], shell: false, env: { ...process.env, ...env } })
    let out = ''
    child.stdout.on('data', (d) => {
      out += d
      process.stdout.write(d)
    })
    child.stderr.on('data', (d) => {
      out += d
      process.stderr.write(d)
    })
    child.on('close', (code, signal) => resolve({ code: code ?? 1, signal, out }))
  })
}

let passed = 0
let failed = 0
let broken = false

// Rust: every `test result:` line of cargo test.
const rust = await run('cargo', ['test', '--workspace', '--all-features', '--locked'])
const rustRe = /test result: \w+\. (\d+) passed; (\d+) failed/g
let rp = 0
let rf = 0
for (const m of rust.out.matchAll(rustRe)) {
  rp += Number(m[1])
  rf += Number(m[2])
}
if (rust.code !== 0 && rf === 0) {
  rf += 1 // the build or a test binary failed without a count
  broken = true
}
// The loom model checks of the lock-free protocols (inbox, lock), built with --cfg roker_loom
// in their own target directory so the normal build cache stays valid.
const loom = await run('cargo', ['test', '-p', 'roker', '--release', '--lib', '--locked', 'loom_'], {
  RUSTFLAGS: '--cfg roker_loom',
  CARGO_TARGET_DIR: 'target/loom',
})
let loomPassed = 0
for (const m of loom.out.matchAll(rustRe)) {
  rp += Number(m[1])
  rf += Number(m[2])
  loomPassed += Number(m[1])
}
if (loom.code !== 0 && loomPassed === 0) {
  rf += 1
  broken = true
}
console.log(`\nrust: ${rp} passed, ${rf} failed (${loomPassed} of them loom model checks)`)

// Node: ava with the TAP reporter (its summary counts are machine-readable).
const node = await run('npx', ['ava', '--tap'])
const np = Number(/^# pass (\d+)/m.exec(node.out)?.[1] ?? 0)
let nf = Number(/^# fail (\d+)/m.exec(node.out)?.[1] ?? 0)
if (node.code !== 0 && nf === 0) {
  nf += 1
  broken = true
}
console.log(`node: ${np} passed, ${nf} failed`)

passed = rp + np
failed = rf + nf
if (broken) console.log('(a suite exited with an error before reporting all its counts)')
console.log(`${passed} passed, ${failed} failed`)
process.exit(failed === 0 && rust.code === 0 && loom.code === 0 && node.code === 0 ? 0 : 1)
