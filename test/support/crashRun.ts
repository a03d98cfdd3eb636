/**
 * Worker processes of `test/fixtures/crash.topology.ts`, spawned as `desainz worker`
 * exactly as Nomad would: preload its input, start and kill workers, wait on Redis.
 */
import { type ChildProcess, spawn } from "node:child_process"
import type { Redis } from "ioredis"
import { deriveEventId, makeEnvelopeCodec } from "../../runtime/envelope.ts"
import { makeKeys } from "../../runtime/keys.ts"
import crash from "../fixtures/crash.topology.ts"

export const BIN = new URL("../../bin/desainz.js", import.meta.url).pathname
export const TOPOLOGY = new URL("../fixtures/crash.topology.ts", import.meta.url).pathname

export const envFor = (redisUrl: string, name: string, extra: Record<string, string> = {}) => ({
  ...process.env,
  REDIS_URL: redisUrl,
  CRASH_TOPOLOGY: name,
  LOG_LEVEL: "warning",
  ...extra
})

/** Starts `desainz worker --only <only>` for topology `name`; `children` collects it for cleanup. */
export const spawnWorker = (
  children: Array<ChildProcess>,
  redisUrl: string,
  name: string,
  index: number,
  options: { only?: string; env?: Record<string, string> } = {}
) => {
  const child = spawn(process.execPath, [BIN, "worker", "--topology", TOPOLOGY, "--only", options.only ?? "relay,record"], {
    env: envFor(redisUrl, name, { DESAINZ_CONSUMER: `w${index}-${process.pid}`, ...options.env }),
    stdio: ["ignore", "inherit", "inherit"]
  })
  children.push(child)
  return child
}

export const exitOf = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.exitCode !== null || child.signalCode !== null
      ? resolve({ code: child.exitCode, signal: child.signalCode })
      : child.once("exit", (code, signal) => resolve({ code, signal }))
  )

const codec = makeEnvelopeCodec("crash.in", crash.streams.find((s) => s.name === "crash.in")!.schema)

const pad = "x".repeat(200)

/** Message `n` of topology `name` as the XADD arguments of `crash.in`; its correlation id is what the sink records. */
export const inputEntry = (name: string, n: number, poison = false) => {
  const eventId = deriveEventId(name, String(n))
  const fields = codec.encode({
    eventType: "crash.in",
    eventId,
    timestamp: new Date().toISOString(),
    source: "test",
    version: 1,
    correlationId: eventId,
    data: { n, pad, ...(poison ? { poison: true } : {}) }
  })
  return { eventId, args: Object.entries(fields).flat() }
}

/** Writes `count` envelopes to the input stream; returns their correlation ids. */
export const preload = async (redis: Redis, name: string, count: number, poison: (n: number) => boolean = () => false) => {
  const key = makeKeys(name).stream("crash.in")
  const ids: Array<string> = []
  for (let start = 0; start < count; start += 2_000) {
    const pipe = redis.pipeline()
    for (let n = start; n < Math.min(count, start + 2_000); n++) {
      const entry = inputEntry(name, n, poison(n))
      ids.push(entry.eventId)
      pipe.xadd(key, "*", ...entry.args)
    }
    await pipe.exec()
  }
  return ids
}

/** Entries pending in every group of the topology (run with `CRASH_STAGES` 2 or 3). */
export const pendingOf = async (redis: Redis, name: string, stages: 2 | 3 = 2) => {
  const keys = makeKeys(name)
  const groups: Array<[string, string]> =
    stages === 3
      ? [
          ["crash.in", "relay"],
          ["crash.mid", "relay2"],
          ["crash.mid2", "record"]
        ]
      : [
          ["crash.in", "relay"],
          ["crash.mid", "record"]
        ]
  const counts = await Promise.all(
    groups.map(([s, g]) => (redis.xpending(keys.stream(s), g) as Promise<[number, ...Array<unknown>]>).then((r) => Number(r[0])).catch(() => 0))
  )
  return counts.reduce((a, b) => a + b, 0)
}

export const waitFor = async (what: string, check: () => Promise<boolean>, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}
