/**
 * One score replica of the scoring bench (bench/scoring.ts), as its own process: the
 * bench's topology with one replica of `score`, the store over `DATABASE_URL` (the bench's
 * embedded PGlite, served on its socket, or the bench's fresh database on a PostgreSQL
 * server), state and vector index in Redis (`REDIS_URL`).
 * Counts itself ready once its services are built, waits for the driver's go, then runs
 * the worker until SIGTERM, publishing its `desainz_score_seconds_total` per part as it goes.
 *
 *   BENCH_TOPOLOGY=<name> BENCH_INDEX=redis|pgvector BENCH_BATCH=100 REDIS_URL=... DATABASE_URL=... \
 *     node --import tsx bench/scoring-replica.ts
 */
import { Deferred, Duration, Effect, Exit, Layer, Redacted, Schedule } from "effect"
import { Redis } from "ioredis"
import { Store } from "../operators/store/store.ts"
import { Metrics } from "../runtime/metrics.ts"
import { Sql } from "../runtime/sql.ts"
import * as RedisTransport from "../runtime/transport/redis.ts"
import { runWorker } from "../runtime/worker.ts"
import { log } from "./harness.ts"
import { SCORE_PARTS, scoreSeconds } from "../operators/scoring/score.ts"
import { PARTS_EVERY_MS, scoringServices, scoringTopology, startKeys } from "./scoring.ts"

const required = (name: string): string => {
  const value = process.env[name]
  if (value === undefined || value === "") throw new Error(`bench scoring replica: ${name} is not set`)
  return value
}

const url = required("REDIS_URL")
const name = required("BENCH_TOPOLOGY")
const kind = required("BENCH_INDEX")
if (kind !== "redis" && kind !== "pgvector") throw new Error(`bench scoring replica: BENCH_INDEX must be redis or pgvector (memory is not shared between processes), got "${kind}"`)
const batch = Number(required("BENCH_BATCH"))
const store = Store.layer.pipe(Layer.provide(Sql.layerUrl(Redacted.make(required("DATABASE_URL")))))
const t = scoringTopology(name, 1, batch, scoringServices(url, name, store, kind))

const program = Effect.scoped(
  Effect.gen(function* () {
    const context = yield* Layer.build(t.services)
    const redis = yield* Effect.acquireRelease(Effect.sync(() => new Redis(url)), (r) => Effect.sync(() => r.disconnect()))
    const { ready, go, parts } = startKeys(name)
    yield* Effect.promise(() => redis.incr(ready))
    yield* Effect.promise(() => redis.blpop(go, 0))
    // The driver reads every replica's part seconds at the measured phase's ends.
    const spent = scoreSeconds((yield* Metrics).registry)
    yield* Effect.forkScoped(
      Effect.promise(() => redis.hset(parts, Object.fromEntries(SCORE_PARTS.map((part) => [`${process.pid}:${part}`, spent.get({ operator: "score", part })])))).pipe(
        Effect.repeat(Schedule.spaced(Duration.millis(PARTS_EVERY_MS)))
      )
    )
    const stop = yield* Deferred.make<void>()
    process.once("SIGTERM", () => Effect.runFork(Deferred.done(stop, Exit.void)))
    yield* runWorker({ topology: t, only: ["score"], stop }).pipe(Effect.provide(context))
  })
).pipe(Effect.provide(Layer.merge(RedisTransport.layer({ url: Redacted.make(url) }), Metrics.layer)))

Effect.runPromise(program).catch((error: unknown) => {
  log(`bench scoring replica failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
  process.exitCode = 1
})
