/**
 * Scoring bench: signals per second through the scoring code.
 *
 * - `replay-in-process` (the baseline): the backtest replay path, dedupe + normalization +
 *   the scorer with in-process state and an in-process idea index; no Redis, no store.
 * - `redis-1-replica`, `redis-2-replicas`: the `score` operator under the worker on the
 *   Redis transport, with its state shared in Redis and ideas stored in (and neighbours
 *   searched in) an embedded PGlite: the stream is filled first, then the clock runs until
 *   the score group has acknowledged every entry. Replicas run in this one process, so
 *   the second one mostly overlaps waiting on Redis and the store, not CPU.
 *
 *   npm run bench -- scoring [--signals 3000] [--days 20] [--batch 100]
 *
 * Signals are synthetic (test/support/signals.ts, seeded), with the built-in embedder.
 */
import { randomBytes } from "node:crypto"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { Context, Deferred, Effect, Exit, Fiber, Layer, Redacted, Schema } from "effect"
import { Redis } from "ioredis"
import { replay, type RecordedItem } from "../operators/backtest/rescore.ts"
import { layerHashing } from "../operators/scoring/embedder.ts"
import { signalIdOf } from "../operators/ids.ts"
import { normalizeSignal } from "../operators/ingest/normalize.ts"
import { Idea, Signal } from "../operators/schemas.ts"
import { score } from "../operators/scoring/score.ts"
import { ScoringConfig } from "../operators/scoring/scorer.ts"
import { layerRedis as stateRedis } from "../operators/scoring/state.ts"
import { Store } from "../operators/store/store.ts"
import { deriveEventId, ENVELOPE_VERSION, makeEnvelopeCodec } from "../runtime/envelope.ts"
import { makeKeys } from "../runtime/keys.ts"
import { Metrics } from "../runtime/metrics.ts"
import { migrate, Sql } from "../runtime/sql.ts"
import { source, stream, topology } from "../runtime/topology.ts"
import { Transport } from "../runtime/transport.ts"
import * as RedisTransport from "../runtime/transport/redis.ts"
import { runWorker } from "../runtime/worker.ts"
import { syntheticSignals } from "../test/support/signals.ts"
import { emit, intFlag, log, parseFlags, round, sleep } from "./harness.ts"
import { withRedis } from "./redis.ts"

const SCORING = { allowedLateness: "2 hours", communityFit: { niches: [{ name: "runners", keywords: ["marathon", "trail"] }] } }
const DEDUPE = { ttl: "7 days", capacity: 1_000_000, falsePositiveRate: 0.001 }

const replayRun = async (signals: ReadonlyArray<Signal>, batch: number) => {
  const records: ReadonlyArray<RecordedItem> = signals.map((s) => ({ id: deriveEventId("bench", s.sourceId), key: s.sourceId, signal: s, stage: "raw" }))
  const started = performance.now()
  const result = await Effect.runPromise(
    replay(records, { scoring: Schema.decodeUnknownSync(ScoringConfig)(SCORING), dedupe: DEDUPE, batchSize: batch }).pipe(Effect.provide(layerHashing(384)))
  )
  return { seconds: (performance.now() - started) / 1000, scored: result.items.length }
}

const redisRun = (url: string, signals: ReadonlyArray<Signal>, replicas: number, batch: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const dir = yield* Effect.acquireRelease(
        Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "desainz-bench-scoring-"))),
        (d) => Effect.promise(() => fs.rm(d, { recursive: true, force: true }))
      )
      const store = yield* Layer.build(
        Store.layer.pipe(Layer.provideMerge(Layer.effectDiscard(migrate()).pipe(Layer.provideMerge(Sql.layerEmbedded({ dataDir: path.join(dir, "pg"), port: 0 })))))
      )
      const enriched = signals.map(normalizeSignal)
      // Ideas reference their signal rows, which enrich would have stored.
      yield* Context.get(store, Store).upsertSignals(
        enriched.map((s) => ({ id: signalIdOf(s.contentHash!), content: s.content, source: s.source, capturedAt: new Date(s.capturedAt), metadata: {}, contentHash: s.contentHash! }))
      )
      const name = `bench-scoring-${randomBytes(4).toString("hex")}`
      const input = stream("signals.enriched", Signal)
      const t = topology({
        name,
        nodes: [
          // Declares who writes the input; the bench fills the stream itself and never runs it.
          source({ name: "filled", to: input, every: "1 hour", poll: Effect.succeed({ emissions: [], done: true }) }),
          score({ scoring: SCORING }, { from: input, to: stream("ideas.scored", Idea) }, { replicas, batchSize: batch })
        ],
        services: Layer.mergeAll(Layer.succeedContext(store), stateRedis({ url: Redacted.make(url), topology: name }), layerHashing(384))
      })
      const transport = yield* Transport
      const keys = makeKeys(name)
      const codec = makeEnvelopeCodec(input.name, input.schema)
      yield* transport.ensureGroup(keys.stream(input.name), keys.group("score"))
      for (let i = 0; i < enriched.length; i += 1_000) {
        yield* transport.append({
          stream: keys.stream(input.name),
          entries: enriched.slice(i, i + 1_000).map((s) => {
            const id = deriveEventId("bench", s.sourceId)
            return codec.encode({ eventType: input.eventType, eventId: id, timestamp: s.capturedAt, source: "filled", version: ENVELOPE_VERSION, correlationId: id, data: s })
          })
        })
      }
      const stop = yield* Deferred.make<void>()
      const started = performance.now()
      const worker = yield* Effect.fork(runWorker({ topology: t, only: ["score"], stop, consumerPrefix: name }).pipe(Effect.provide(t.services)))
      while (true) {
        const info = yield* transport.info(keys.stream(input.name))
        const group = info.groups.find((g) => g.name === "score")
        if (group !== undefined && group.pending === 0 && group.lag === 0) break
        yield* Effect.promise(() => sleep(20))
      }
      const seconds = (performance.now() - started) / 1000
      yield* Deferred.done(stop, Exit.void)
      yield* Fiber.join(worker)
      return { seconds, name }
    })
  ).pipe(Effect.provide(Layer.merge(RedisTransport.layer({ url: Redacted.make(url) }), Metrics.layer)))

/** Leaves a REDIS_URL server as it was. */
const dropKeys = async (url: string, name: string) => {
  const redis = new Redis(url)
  try {
    let cursor = "0"
    do {
      const [next, page] = await redis.scan(cursor, "MATCH", `desainz:{${name}}:*`, "COUNT", 1_000)
      cursor = next
      if (page.length > 0) await redis.del(...page)
    } while (cursor !== "0")
  } finally {
    redis.disconnect()
  }
}

export const run = async (args: ReadonlyArray<string> = []): Promise<void> => {
  const flags = parseFlags(args, { signals: { type: "string" }, days: { type: "string" }, batch: { type: "string" } })
  const count = intFlag("signals", flags.signals, 3_000, 10)
  const days = intFlag("days", flags.days, 20)
  const batch = intFlag("batch", flags.batch, 100)
  const signals = syntheticSignals({ count, days, seed: 5 })
  log(`scoring: ${count} synthetic signals over ${days} days, batches of ${batch}`)

  const baseline = await replayRun(signals, batch)
  const baselinePerS = baseline.scored / baseline.seconds
  log(`scoring: replay in-process ${baseline.seconds.toFixed(2)} s (${baseline.scored} scored)`)
  emit({ bench: "scoring", case: "replay-in-process", signals: count, scored: baseline.scored, batch_size: batch, signals_per_s: round(baselinePerS, 0) })

  await withRedis(async (url) => {
    for (const replicas of [1, 2]) {
      const result = await Effect.runPromise(redisRun(url, signals, replicas, batch))
      await dropKeys(url, result.name)
      const perS = count / result.seconds
      log(`scoring: redis, ${replicas} replica(s): ${result.seconds.toFixed(2)} s`)
      emit({
        bench: "scoring",
        case: replicas === 1 ? "redis-1-replica" : `redis-${replicas}-replicas`,
        signals: count,
        batch_size: batch,
        signals_per_s: round(perS, 0),
        baseline_case: "replay-in-process",
        baseline_signals_per_s: round(baselinePerS, 0),
        ratio: round(perS / baselinePerS, 3)
      })
    }
  })
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  run(process.argv.slice(2)).catch((error: unknown) => {
    log(`bench scoring failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
    process.exitCode = 1
  })
}
