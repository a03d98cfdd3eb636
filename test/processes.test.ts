/**
 * Worker processes on a real redis-server: a SIGKILL mid-run loses nothing and leaves
 * nothing pending; SIGTERM finishes in-flight work and exits 0; the CLI lists and
 * requeues dead letters. These spawn `desainz worker` exactly as Nomad would.
 */
import { type ChildProcess, execFile } from "node:child_process"
import { promisify } from "node:util"
import { Redis } from "ioredis"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { inject } from "vitest"
import { makeKeys } from "../runtime/keys.ts"
import { BIN, envFor as crashEnv, exitOf, pendingOf as crashPending, preload as preloadCrash, spawnWorker, TOPOLOGY, waitFor } from "./support/crashRun.ts"
import { uniqueName } from "./support/harness.ts"

const run = promisify(execFile)

let redis: Redis
beforeAll(() => {
  redis = new Redis(inject("redisUrl"))
})
afterAll(() => redis.quit())

const children: Array<ChildProcess> = []
afterAll(() => children.forEach((c) => c.exitCode === null && c.kill("SIGKILL")))

const startWorker = (name: string, index: number, env: Record<string, string> = {}) => spawnWorker(children, inject("redisUrl"), name, index, { env })
const envFor = (name: string) => crashEnv(inject("redisUrl"), name)
const preload = (name: string, count: number, poison?: (n: number) => boolean) => preloadCrash(redis, name, count, poison)
const pendingOf = (name: string) => crashPending(redis, name)

describe("worker processes on redis", () => {
  it("loses nothing when one of two workers is killed with SIGKILL mid-run", async () => {
    const name = uniqueName("crash")
    const total = Number(process.env["CRASH_TOTAL"] ?? 100_000)
    const ids = await preload(name, total)
    const a = startWorker(name, 1)
    const b = startWorker(name, 2)
    await waitFor("a third has arrived", async () => (await redis.scard(`${name}:seen`)) >= total / 3, 120_000)
    a.kill("SIGKILL")
    expect((await exitOf(a)).signal).toBe("SIGKILL")
    const atKill = await redis.scard(`${name}:seen`)
    expect(atKill).toBeLessThan(total) // it really died mid-run

    await waitFor(
      "every message arrives",
      async () => {
        const seen = await redis.scard(`${name}:seen`)
        if (process.env["CRASH_VERBOSE"]) console.error(`seen ${seen}, pending ${await pendingOf(name)}`)
        return seen === total
      },
      240_000
    )
    await waitFor("nothing is left pending", async () => (await pendingOf(name)) === 0, 30_000)
    const missing = (await redis.smismember(`${name}:seen`, ...ids)).filter((x) => x === 0).length
    expect(missing).toBe(0)
    const deliveries = Number(await redis.get(`${name}:deliveries`))
    // At-least-once: the killed worker's unacked batch is redelivered; the sink absorbs it.
    expect(deliveries).toBeGreaterThanOrEqual(total)
    console.error(`crash test: killed at ${atKill}/${total}; ${deliveries - total} duplicate deliveries absorbed by the idempotent sink`)
    const keys = makeKeys(name)
    expect(await redis.exists(keys.dlq("relay"), keys.dlq("record"))).toBe(0)

    b.kill("SIGTERM")
    expect((await exitOf(b)).code).toBe(0)
  }, 300_000)

  it("on SIGTERM finishes and acknowledges in-flight work, then exits 0", async () => {
    const name = uniqueName("term")
    await preload(name, 3_000)
    const w = startWorker(name, 1, { RELAY_DELAY_MS: "20" })
    await waitFor("work is under way", async () => (await redis.scard(`${name}:seen`)) > 0, 60_000)
    const stoppedAt = Date.now()
    w.kill("SIGTERM")
    expect((await exitOf(w)).code).toBe(0)
    expect(Date.now() - stoppedAt).toBeLessThan(10_000)
    expect(await pendingOf(name)).toBe(0)
    const seen = await redis.scard(`${name}:seen`)
    expect(seen).toBeGreaterThan(0)
    expect(seen).toBeLessThan(3_000)
  }, 120_000)

  it("dead-letters a poison message and `desainz dlq requeue` puts it back", async () => {
    const name = uniqueName("poison")
    await preload(name, 100, (n) => n === 50)
    const w = startWorker(name, 1)
    const env = envFor(name)
    const cli = async (...args: Array<string>) =>
      JSON.parse((await run(process.execPath, [BIN, ...args, "--topology", TOPOLOGY], { env })).stdout) as any
    await waitFor("99 arrive", async () => (await redis.scard(`${name}:seen`)) === 99, 60_000)
    await waitFor("the poison is dead-lettered", async () => (await cli("dlq", "list", "relay")).entries.length === 1, 30_000)
    const [letter] = (await cli("dlq", "list", "relay")).entries
    expect(letter.error).toContain("poison message 50")
    expect(letter.attempts).toBe(3)

    expect(await cli("dlq", "requeue", "relay", "--id", letter.id)).toEqual({ requeued: 1 })
    // Still poison: it is tried again from scratch and comes back with a fresh attempt count.
    await waitFor(
      "it is dead-lettered again",
      async () => {
        const entries = (await cli("dlq", "list", "relay")).entries
        return entries.length === 1 && entries[0].id !== letter.id
      },
      30_000
    )
    const [again] = (await cli("dlq", "list", "relay")).entries
    expect(again.attempts).toBe(3)
    expect(await cli("dlq", "drop", "relay", "--all")).toEqual({ dropped: 1 })
    expect(await pendingOf(name)).toBe(0)

    const bad = await run(process.execPath, [BIN, "dlq", "requeue", "relay", "--id", "nope", "--topology", TOPOLOGY], { env }).catch((e) => e)
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('--id "nope"')
    w.kill("SIGTERM")
    expect((await exitOf(w)).code).toBe(0)
  }, 120_000)
})
