/**
 * Chaos: Redis is killed with SIGKILL and restarted mid-run. redis-server runs with
 * `appendonly yes` and `appendfsync always`: every write a client saw acknowledged is on
 * disk, so the restarted server has every commit the workers made (with `everysec` up to
 * a second of acknowledged commits can vanish, and with them outputs whose inputs were
 * acknowledged: a loss no redelivery repairs). 100,000 messages cross a 3-stage topology
 * on 2 worker processes; every one reaches the idempotent sink, nothing stays pending, no
 * dead letter, and the workers ride the outage out without being restarted.
 */
import type { ChildProcess } from "node:child_process"
import { Redis } from "ioredis"
import { afterAll, describe, expect, it } from "vitest"
import { makeKeys } from "../../runtime/keys.ts"
import { exitOf, pendingOf, preload, spawnWorker, waitFor } from "../support/crashRun.ts"
import { uniqueName } from "../support/harness.ts"
import { type RedisServer, startRedis } from "../support/redisServer.ts"

const children: Array<ChildProcess> = []
let server: RedisServer | undefined
afterAll(async () => {
  children.forEach((c) => c.exitCode === null && c.kill("SIGKILL"))
  await server?.stop(true)
})

describe("chaos: redis restart", () => {
  it("loses nothing and duplicates nothing when Redis is SIGKILLed and restarted mid-run", async () => {
    server = await startRedis({ appendOnly: true, fsync: "always" })
    const url = server.url
    const name = uniqueName("chaos-redis")
    const total = Number(process.env["CHAOS_TOTAL"] ?? 100_000)
    const probe = () => {
      const r = new Redis(url, { maxRetriesPerRequest: 1, retryStrategy: () => 200 })
      r.on("error", () => undefined)
      return r
    }
    let redis = probe()
    const ids = await preload(redis, name, total)
    const env = { CRASH_STAGES: "3" }
    const workers = [1, 2].map((i) => spawnWorker(children, url, name, i, { only: "relay,relay2,record", env }))
    await waitFor("a third has arrived", async () => (await redis.scard(`${name}:seen`)) >= total / 3, 240_000)

    await server.stop(true)
    redis.disconnect()
    await new Promise((r) => setTimeout(r, 1_000))
    server = await server.restart()
    redis = probe()
    const afterRestart = await redis.scard(`${name}:seen`)
    expect(afterRestart).toBeLessThan(total) // it really happened mid-run

    // Bounded by progress, not by a wall-clock guess: fail when nothing moves for a minute.
    let last = { seen: -1, at: Date.now() }
    await waitFor(
      "every message arrives",
      async () => {
        const seen = await redis.scard(`${name}:seen`).catch(() => last.seen)
        if (seen !== last.seen) {
          if (Math.floor(seen / 10_000) !== Math.floor(last.seen / 10_000)) console.error(`chaos redis restart: ${seen}/${total}`)
          last = { seen, at: Date.now() }
        } else if (Date.now() - last.at > 60_000) {
          const groups = await Promise.all(
            ["crash.in", "crash.mid", "crash.mid2"].map(async (s) => `${s}: ${JSON.stringify(await redis.call("XINFO", "GROUPS", makeKeys(name).stream(s)))}`)
          )
          throw new Error(`no progress for 60 s at ${seen}/${total}; groups ${groups.join("; ")}`)
        }
        return seen === total
      },
      1_200_000
    )
    await waitFor("nothing is left pending", async () => (await pendingOf(redis, name, 3)) === 0, 60_000)
    const missing = (await redis.smismember(`${name}:seen`, ...ids)).filter((x) => x === 0).length
    expect(missing).toBe(0)
    const keys = makeKeys(name)
    expect(await redis.exists(keys.dlq("relay"), keys.dlq("relay2"), keys.dlq("record"))).toBe(0)
    // The same processes finished the run: neither died nor was restarted.
    expect(workers.map((w) => w.exitCode)).toEqual([null, null])
    const deliveries = Number(await redis.get(`${name}:deliveries`))
    console.error(`chaos redis restart: ${afterRestart}/${total} recorded at the restart; ${deliveries - total} duplicate deliveries absorbed by the idempotent sink`)

    for (const w of workers) w.kill("SIGTERM")
    expect((await Promise.all(workers.map(exitOf))).map((e) => e.code)).toEqual([0, 0])
    redis.disconnect()
  })
})
