/**
 * A token bucket per source, shared by every replica that runs it, so N workers polling
 * one API together stay within the rate its owner allows. Two layers with the same
 * semantics: Redis (an atomic Lua script on the server's clock) when `REDIS_URL` is set,
 * and an in-process bucket for the embedded default.
 */
import { readFileSync } from "node:fs"
import { Clock, Config, Context, Effect, Layer, Option, Redacted, Schema } from "effect"
import { Redis } from "ioredis"
import { RetryableError } from "../../runtime/errors.ts"
import { makeKeys } from "../../runtime/keys.ts"

export const RateSettings = Schema.Struct({
  ratePerSec: Schema.Number.pipe(Schema.positive(), Schema.finite()).annotations({
    description: "sustained requests per second, summed over every replica of the source",
    examples: [0.5, 5]
  }),
  burst: Schema.Int.pipe(Schema.greaterThanOrEqualTo(1)).annotations({
    description: "requests allowed back to back after a quiet spell (the bucket's capacity)",
    examples: [5]
  })
}).annotations({ identifier: "RateSettings" })
export type RateSettings = typeof RateSettings.Type

export interface RateLimiterShape {
  /** Waits until the source's bucket has a token, then takes it. */
  readonly acquire: (source: string, rate: RateSettings) => Effect.Effect<void, RetryableError>
}

export class RateLimiter extends Context.Tag("desainz/RateLimiter")<RateLimiter, RateLimiterShape>() {}

/** One attempt to take a token: 0 when taken, else the milliseconds until one is free. */
type Take = (bucket: string, rate: RateSettings) => Effect.Effect<number, RetryableError>

const fromTake = (take: Take, bucketOf: (source: string) => string): RateLimiterShape => ({
  acquire: (source, rate) => {
    const bucket = bucketOf(source)
    const loop: Effect.Effect<void, RetryableError> = Effect.flatMap(take(bucket, rate), (waitMs) =>
      waitMs <= 0 ? Effect.void : Effect.zipRight(Effect.sleep(waitMs), loop)
    )
    return loop
  }
})

/** The in-process bucket: the Lua script's arithmetic, on the Effect clock. */
export const makeInProcess = Effect.sync((): RateLimiterShape => {
  const buckets = new Map<string, { tokens: number; ts: number }>()
  const take: Take = (bucket, { ratePerSec, burst }) =>
    Effect.map(Clock.currentTimeMillis, (now) => {
      const state = buckets.get(bucket) ?? { tokens: burst, ts: now }
      const tokens = Math.min(burst, state.tokens + (Math.max(0, now - state.ts) * ratePerSec) / 1000)
      const granted = tokens >= 1
      buckets.set(bucket, { tokens: granted ? tokens - 1 : tokens, ts: now })
      return granted ? 0 : Math.ceil(((1 - tokens) * 1000) / ratePerSec)
    })
  return fromTake(take, (source) => source)
})

export const layerInProcess: Layer.Layer<RateLimiter> = Layer.effect(RateLimiter, makeInProcess)

interface ScriptedRedis extends Redis {
  desainzTokenBucket(key: string, ratePerSec: number, burst: number): Promise<number>
}

export interface RedisRateLimiterOptions {
  readonly url: Redacted.Redacted<string>
  /** The topology's name: buckets live under its key prefix (`keys.state(source, "tokens")`). */
  readonly topology: string
}

/** The shared bucket: one Lua call per attempt on a connection of its own, closed with the scope. */
export const makeRedis = (options: RedisRateLimiterOptions) =>
  Effect.gen(function* () {
    const redis = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const client = new Redis(Redacted.value(options.url), { maxRetriesPerRequest: 2 })
        // Without a listener ioredis reports connection errors as unhandled; calls still fail and are retried.
        client.on("error", () => {})
        client.defineCommand("desainzTokenBucket", {
          numberOfKeys: 1,
          lua: readFileSync(new URL("./lua/token-bucket.lua", import.meta.url), "utf8")
        })
        return client as ScriptedRedis
      }),
      (client) => Effect.promise(() => client.quit().catch(() => "closed"))
    )
    const keys = makeKeys(options.topology)
    const take: Take = (bucket, rate) =>
      Effect.tryPromise({
        try: () => redis.desainzTokenBucket(bucket, rate.ratePerSec, rate.burst),
        catch: (cause) =>
          new RetryableError({
            message: `rate limiter: redis: ${cause instanceof Error ? cause.message : String(cause)}`,
            cause
          })
      })
    return fromTake(take, (source) => keys.state(source, "tokens"))
  })

export const layerRedis = (options: RedisRateLimiterOptions): Layer.Layer<RateLimiter> =>
  Layer.scoped(RateLimiter, makeRedis(options))

/** Redis when `REDIS_URL` is set, else in-process; `topology` is the topology's name. */
export const layer = (topology: string) =>
  Layer.unwrapEffect(
    Effect.map(Config.option(Config.redacted("REDIS_URL")), (url) =>
      Option.match(url, {
        onNone: () => layerInProcess,
        onSome: (u) => layerRedis({ url: u, topology })
      })
    )
  )
