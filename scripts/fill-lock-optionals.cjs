// Adds lockfile stubs for platform-specific optionalDependencies that the local
// registry mirror does not serve (npm install skips them silently; npm ci then
// refuses the lockfile as "Missing: <pkg>@ from lock file").
const fs = require('fs')
const lock = JSON.parse(fs.readFileSync('package-lock.json', 'utf8'))
const pkgs = lock.packages
let added = 0
for (const [path, meta] of Object.entries(pkgs)) {
  for (const [name, version] of Object.entries(meta.optionalDependencies || {})) {
    const key = `node_modules/${name}`
    if (pkgs[key] || pkgs[`${path}/node_modules/${name}`]) continue
    const m = /-(android|darwin|freebsd|linux|win32|openharmony|wasm32)-([a-z0-9]+)(?:-(gnu|musl|msvc|eabi|gnueabihf|wasi))?$/.exec(name)
    const stub = { version, dev: meta.dev || undefined, optional: true }
    if (m && m[1] === 'wasm32') stub.cpu = ['wasm32']
    else if (m) {
      stub.os = [m[1]]
      stub.cpu = [m[2]]
      if (m[3] === 'gnu' || m[3] === 'gnueabihf') stub.libc = ['glibc']
      if (m[3] === 'musl') stub.libc = ['musl']
    }
    pkgs[key] = stub
    added++
  }
}
lock.packages = Object.fromEntries(Object.entries(pkgs).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))))
fs.writeFileSync('package-lock.json', JSON.stringify(lock, null, 2) + '\n')
console.log(`added ${added} lockfile stubs`)
