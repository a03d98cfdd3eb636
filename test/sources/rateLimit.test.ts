/**
 * The per-source token bucket, one contract for both layers: in-process (two fibers as
 * replicas) and Redis (a real redis-server, two connections as two replicas). Bounds are
 * generous and derived from the measured window, so slow machines cannot make them flaky:
 * a token bucket never grants more than `burst + rate * elapsed` in any window.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { connect } from "node:net"
import { setTimeout as sleep } from "node:timers/promises"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Redacted, type Scope } from "effect"
import { Redis } from "ioredis"
import { makeInProcess, makeRedis, type RateLimiterShape, type RateSettings } from "../../operators/sources/rateLimit.ts"
import { RetryableError } from "../../runtime/errors.ts"
import { makeKeys } from "../../runtime/keys.ts"
import { freePort } from "../fakes/server.ts"

const canConnect = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, "127.0.0.1")
    socket.once("connect", () => {
      socket.destroy()
      resolve(true)
    })
    socket.once("error", () => resolve(false))
  })

/** A throwaway redis-server on a free port, killed when the scope closes. */
const redisServer = Effect.acquireRelease(
  Effect.promise(async () => {
    const port = await freePort()
    const child: ChildProcess = spawn(
      "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      { stdio: "ignore" }
    )
    const exited = new Promise<never>((_, reject) => {
      child.once("error", (e) => reject(new Error(`cannot start redis-server (is it installed?): ${e.message}`)))
      child.once("exit", (code) => reject(new Error(`redis-server exited with code ${code}`)))
    })
    const ready = (async () => {
      for (let i = 0; i < 100; i++) {
        if (await canConnect(port)) return
        await sleep(50)
      }
      throw new Error("redis-server did not accept connections within 5 s")
    })()
    await Promise.race([ready, exited])
    return { port, child }
  }),
  ({ child }) => Effect.sync(() => void child.kill("SIGKILL"))
)

const elapsedSince = (start: number) => (performance.now() - start) / 1000

/** Every replica takes tokens as fast as it can for `windowMs`; returns grants and the measured window. */
const hammer = (replicas: ReadonlyArray<RateLimiterShape>, source: string, rate: RateSettings, windowMs: number) =>
  Effect.gen(function* () {
    const start = performance.now()
    const deadline = start + windowMs
    const counts = yield* Effect.forEach(
      replicas,
      (limiter) =>
        Effect.gen(function* () {
          let granted = 0
          while (performance.now() < deadline) {
            yield* limiter.acquire(source, rate)
            granted++
          }
          return granted
        }),
      { concurrency: "unbounded" }
    )
    return { counts, total: counts.reduce((a, b) => a + b, 0), seconds: elapsedSince(start) }
  })

const contract = (name: string, replicas: Effect.Effect<readonly [RateLimiterShape, RateLimiterShape], never, Scope.Scope>) =>
  describe(name, () => {
    it.scopedLive("grants a burst at once, then one token per 1/rate", () =>
      Effect.gen(function* () {
        const [limiter] = yield* replicas
        yield* limiter.acquire("warm-up", { ratePerSec: 1, burst: 1 }) // connects, for Redis
        const rate = { ratePerSec: 2, burst: 3 }
        const start = performance.now()
        for (let i = 0; i < 3; i++) yield* limiter.acquire("burst", rate)
        // Without the burst, three tokens would take a second.
        expect(elapsedSince(start)).toBeLessThan(0.4)
        yield* limiter.acquire("burst", rate)
        // The 4th token needs 500 ms of refill.
        expect(elapsedSince(start)).toBeGreaterThanOrEqual(0.45)
      })
    )

    it.scopedLive("two replicas sharing one bucket never exceed the rate in aggregate", () =>
      Effect.gen(function* () {
        const both = yield* replicas
        const rate = { ratePerSec: 20, burst: 5 }
        const { counts, total, seconds } = yield* hammer(both, "shared", rate, 1_500)
        expect(counts.every((n) => n > 0)).toBe(true)
        expect(total).toBeLessThanOrEqual(rate.burst + rate.ratePerSec * seconds + 1)
        // And the bucket is not starving them: at least half the allowed rate got through.
        expect(total).toBeGreaterThanOrEqual((rate.ratePerSec * 1.5) / 2)
      })
    )

    it.scopedLive("each source has a bucket of its own", () =>
      Effect.gen(function* () {
        const [limiter] = yield* replicas
        const rate = { ratePerSec: 1, burst: 1 }
        yield* limiter.acquire("one", rate)
        const start = performance.now()
        yield* limiter.acquire("other", rate)
        expect(elapsedSince(start)).toBeLessThan(0.2)
      })
    )
  })

contract(
  "in-process rate limiter",
  Effect.map(makeInProcess, (shared) => [shared, shared] as const)
)

describe("redis rate limiter", () => {
  const replicasOn = (port: number, topology: string) =>
    Effect.all([
      makeRedis({ url: Redacted.make(`redis://127.0.0.1:${port}`), topology }),
      makeRedis({ url: Redacted.make(`redis://127.0.0.1:${port}`), topology })
    ])

  let counter = 0
  contract(
    "on a real redis-server",
    Effect.flatMap(redisServer, ({ port }) => replicasOn(port, `rl${++counter}`))
  )

  it.scopedLive("keeps the bucket under the topology's state key, expiring once it would be full again", () =>
    Effect.gen(function* () {
      const { port } = yield* redisServer
      const [limiter] = yield* replicasOn(port, "shop")
      yield* limiter.acquire("reddit", { ratePerSec: 2, burst: 4 })
      const redis = new Redis(port, "127.0.0.1")
      const key = makeKeys("shop").state("reddit", "tokens")
      const [state, ttl] = yield* Effect.promise(() => Promise.all([redis.hgetall(key), redis.pttl(key)]))
      yield* Effect.promise(() => redis.quit())
      expect(key).toBe("desainz:{shop}:state:reddit:tokens")
      expect(Number(state["tokens"])).toBeCloseTo(3, 1)
      expect(Number(state["ts"])).toBeGreaterThan(0)
      expect(ttl).toBeGreaterThan(0)
      expect(ttl).toBeLessThanOrEqual(4 * 500 + 1_000)
    })
  )

  it.scopedLive("an unreachable Redis fails the acquire as retryable instead of hanging", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(freePort)
      const limiter = yield* makeRedis({ url: Redacted.make(`redis://127.0.0.1:${port}`), topology: "down" })
      const result = yield* Effect.either(limiter.acquire("reddit", { ratePerSec: 1, burst: 1 }))
      expect(Either.isLeft(result) && result.left).toBeInstanceOf(RetryableError)
      expect(Either.isLeft(result) && result.left.message).toContain("rate limiter: redis")
    }),
    10_000
  )
})
