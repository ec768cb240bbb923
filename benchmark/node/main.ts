// Entry point of every Node benchmark process and worker thread:
//
//   node --import @oxc-node/core/register benchmark/node/main.ts <role> '<json args>'
//
// Role `run` measures one case (a workload with an implementation and parameters) and prints
// `RESULT {json}`; benchmark/run.ts spawns one such driver per case, so cases cannot disturb
// each other (JIT state, heap, leftover threads). Drivers spawn their peers with the other
// roles. In a worker thread the role comes from `process.argv` and the port from `workerData`.
import { isMainThread, workerData, type MessagePort } from 'node:worker_threads'
import { report, type Result } from './common.js'
import { w1, w1Roles, threadPub } from './w1.js'
import { w2, w2Roles, threadPong } from './w2.js'
import { w3, w3Roles, w3ThreadSub } from './w3.js'
import { w4 } from './w4.js'
import { w5 } from './w5.js'

export interface Case {
  workload: 'W1' | 'W2' | 'W3' | 'W4' | 'W5'
  args: Record<string, unknown>
}

async function runCase(c: Case): Promise<Result> {
  const args = c.args as never
  switch (c.workload) {
    case 'W1':
      return w1(args)
    case 'W2':
      return w2(args)
    case 'W3':
      return w3(args)
    case 'W4':
      return w4(args)
    case 'W5':
      return w5(args)
  }
}

const roles: Record<string, (a: never) => Promise<void>> = {
  ...w1Roles,
  ...w2Roles,
  ...w3Roles,
  run: async (c: Case) => {
    report('RESULT', await runCase(c))
  },
}

const [role, json] = process.argv.slice(2)
const args = JSON.parse(json ?? '{}') as never
if (isMainThread) {
  const fn = roles[role]
  if (!fn) {
    console.error(`unknown role ${role}`)
    process.exit(2)
  }
  fn(args).then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e instanceof Error ? (e.stack ?? e.message) : String(e))
      process.exit(1)
    },
  )
} else {
  const port = (workerData as { port: MessagePort }).port
  if (role === 'w1-thread-pub') void threadPub(args, port)
  else if (role === 'w2-thread-pong') threadPong(args, port)
  else if (role === 'w3-thread-sub') w3ThreadSub(args, port)
  else throw new Error(`unknown thread role ${role}`)
}
