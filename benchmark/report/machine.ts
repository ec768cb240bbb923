// What the report records about the machine and the software versions.
import os from 'node:os'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

export interface Machine {
  cpu: string
  cores: number
  kernel: string
  os: string
  arch: string
  memory_gib: number
  node: string
  v8: string
  /** 1-minute load average when the report was written (other work on the machine skews results). */
  loadavg: number[]
}

export function machine(): Machine {
  let cpu = os.cpus()[0]?.model?.trim() ?? 'unknown'
  try {
    // Some virtual machines report a bare model name; /proc/cpuinfo may say more.
    const info = readFileSync('/proc/cpuinfo', 'utf8')
    const m = /model name\s*:\s*(.+)/.exec(info)
    if (m && m[1].trim().length > cpu.length) cpu = m[1].trim()
  } catch {
    // not Linux
  }
  return {
    cpu,
    cores: os.availableParallelism?.() ?? os.cpus().length,
    kernel: `${os.type()} ${os.release()}`,
    os: os.version(),
    arch: os.arch(),
    memory_gib: Number((os.totalmem() / 2 ** 30).toFixed(1)),
    node: process.version,
    v8: process.versions.v8,
    loadavg: os.loadavg().map((l) => Number(l.toFixed(2))),
  }
}

function pkgVersion(name: string): string {
  try {
    const file = require.resolve(`${name}/package.json`)
    return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version
  } catch {
    return 'not installed'
  }
}

export function nodeVersions(): Record<string, string> {
  const roker = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version
  let libzmq = 'unknown'
  try {
    libzmq = (require('zeromq') as { version: string }).version
  } catch {
    // reported as not installed below
  }
  return {
    roker,
    zeromq: `${pkgVersion('zeromq')} (libzmq ${libzmq})`,
    mqemitter: pkgVersion('mqemitter'),
    qlobber: pkgVersion('qlobber'),
    'worker_threads / BroadcastChannel / child_process': `Node ${process.version}`,
  }
}
