/**
 * Scoring bench: signals per second through the scoring code, and the recall of the
 * approximate near-duplicate search.
 *
 * - `replay-in-process` (the baseline): the backtest replay path, dedupe + normalization +
 *   the scorer with in-process state and the exact in-process vector index; no Redis, no store.
 * - `near-duplicate-recall`: every replayed signal's neighbour search, once through pgvector's
 *   HNSW index (PGlite, `hnsw.ef_search`) and once through the exact in-process scan over the
 *   same ideas: the share of signals with an idea at or above the merge threshold whose
 *   nearest idea the HNSW search also returns first.
 * - `busy-day-replay-in-process`: the replay path on a busy day live: `--signals` in one day
 *   after `--history-days` days of history at the same rate (scored first, untimed), the
 *   baseline of the Redis cases, which run the same workload.
 * - `redis-1-replica`, `redis-2-replicas`: the `score` operator under the worker on the
 *   Redis transport, its state shared in Redis, with the vector index of `--index` (redis by
 *   default: the store only takes the idea upserts). The history goes through first,
 *   untimed (state, index and store filled, replicas warmed up), then the clock runs from
 *   filling the busy day until the score group has acknowledged every entry. A busy day's
 *   concurrent batches lie minutes apart in event time, as live (in the 20-day replay
 *   workload they would lie ~16 hours apart, beyond the allowed lateness, and most signals
 *   would be late). Each replica is its own
 *   process (bench/scoring-replica.ts; `--replicas-in one-process` runs them in this one, as
 *   `--index memory` must), sharing the store through the embedded PGlite's socket, which
 *   this process serves (one Postgres session: the idea upserts of all replicas queue on it).
 *   `--cpu-prof DIR` writes each replica process's CPU profile under DIR.
 * - `redis-1-replica-pgvector` (the first `--pgvector-signals` of the 20-day workload, no history): the same with the pgvector
 *   layer, where the embedded PGlite (one Postgres session, in this process) is the bottleneck.
 *
 *   npm run bench -- scoring [--signals 3000] [--days 20] [--history-days 3] [--batch 100] [--index redis|memory|pgvector] [--replicas-in processes|one-process] [--pgvector-signals 600] [--cpu-prof DIR]
 *
 * Signals are synthetic (test/support/signals.ts, seeded), with the built-in embedder. Each
 * line carries the machine's load (`load_1m`, CPU pressure): on a shared machine the
 * absolute figures move with other people's work; the ratios are measured in the same run.
 */
import { randomBytes } from "node:crypto"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { Context, Deferred, Duration, Effect, Exit, Fiber, Layer, Redacted, Schema } from "effect"
import { Redis } from "ioredis"
import { replay, type RecordedItem } from "../operators/backtest/rescore.ts"
import { cosine, layerHashing } from "../operators/scoring/embedder.ts"
import { signalIdOf } from "../operators/ids.ts"
import { normalizeSignal } from "../operators/ingest/normalize.ts"
import { Idea, Signal } from "../operators/schemas.ts"
import { score } from "../operators/scoring/score.ts"
import { ScoringConfig } from "../operators/scoring/scorer.ts"
import { DAY, layerRedis as stateRedis } from "../operators/scoring/state.ts"
import * as VectorIndex from "../operators/scoring/vectorIndex.ts"
import { closedWindow } from "../operators/scoring/window.ts"
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
import { emit, intFlag, log, machineLoad, parseFlags, round, sleep, spawnChild, stopAll, UsageError, waitFor } from "./harness.ts"
import { withRedis } from "./redis.ts"

const SCORING = { allowedLateness: "2 hours", communityFit: { niches: [{ name: "runners", keywords: ["marathon", "trail"] }] } }
const DEDUPE = { ttl: "7 days", capacity: 1_000_000, falsePositiveRate: 0.001 }

/** A replay in this process; with `untimed`, the clock starts once that many signals are done. */
const replayRun = async (signals: ReadonlyArray<Signal>, batch: number, untimed = 0) => {
  const records: ReadonlyArray<RecordedItem> = signals.map((s) => ({ id: deriveEventId("bench", s.sourceId), key: s.sourceId, signal: s, stage: "raw" }))
  let started = performance.now()
  const onProgress = (done: number) => {
    if (done === untimed) started = performance.now()
  }
  const result = await Effect.runPromise(
    replay(records, { scoring: Schema.decodeUnknownSync(ScoringConfig)(SCORING), dedupe: DEDUPE, batchSize: batch, onProgress }).pipe(
      Effect.provide(layerHashing(384))
    )
  )
  return { seconds: (performance.now() - started) / 1000, scored: result.items.length - untimed, items: result.items }
}

/** A migrated embedded store in a fresh directory, for the scope. */
const benchStore = Effect.gen(function* () {
  const dir = yield* Effect.acquireRelease(
    Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "desainz-bench-scoring-"))),
    (d) => Effect.promise(() => fs.rm(d, { recursive: true, force: true }))
  )
  return yield* Layer.build(
    Store.layer.pipe(Layer.provideMerge(Layer.effectDiscard(migrate()).pipe(Layer.provideMerge(Sql.layerEmbedded({ dataDir: path.join(dir, "pg"), port: 0 })))))
  )
})

const signalRows = (signals: ReadonlyArray<Signal>) =>
  signals.map((s) => ({ id: signalIdOf(s.contentHash!), content: s.content, source: s.source, capturedAt: new Date(s.capturedAt), metadata: {}, contentHash: s.contentHash! }))

/**
 * Recall of pgvector's HNSW search against the exact scan, on the replay's own ideas and
 * searches: of the signals whose exact nearest idea is at or above the merge threshold,
 * the share whose HNSW search returns that idea first.
 */
const recallRun = (items: Awaited<ReturnType<typeof replayRun>>["items"], efSearch: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const config = Schema.decodeUnknownSync(ScoringConfig)(SCORING)
      const latenessMs = Duration.toMillis(Duration.decode(config.allowedLateness))
      const span = config.novelty.neighbourDays * DAY
      const ideas = items.filter((i) => i.mergeInto === undefined)
      const store = Context.get(yield* benchStore, Store)
      yield* store.upsertSignals(signalRows([...new Map(items.map((i) => [i.signal.contentHash!, i.signal])).values()]))
      yield* store.upsertIdeas(
        ideas.map((i) => ({ id: i.ideaId, signalId: signalIdOf(i.signal.contentHash!), title: "t", description: i.signal.content, embedding: i.embedding, score: 0, factors: {}, weightsVersion: 1, eventAt: new Date(i.at) }))
      )
      const searches = items.map((i) => {
        const { horizon } = closedWindow(i.at, latenessMs)
        return { embedding: i.embedding, from: horizon - span, to: horizon, excludeId: i.ideaId, limit: config.novelty.neighbours }
      })
      const exact = VectorIndex.makeMemory()
      yield* exact.add(ideas.map((i) => ({ ideaId: i.ideaId, at: i.at, embedding: i.embedding })))
      const approximate = yield* VectorIndex.makePgvector(efSearch).pipe(Effect.provideService(Store, store))
      const timed = <A, E>(effect: Effect.Effect<A, E>) =>
        Effect.map(Effect.timed(effect), ([d, a]) => ({ seconds: Duration.toMillis(d) / 1000, result: a }))
      const chunks = Array.from({ length: Math.ceil(searches.length / 100) }, (_, i) => searches.slice(i * 100, i * 100 + 100))
      const exactRun = yield* timed(Effect.map(Effect.forEach(chunks, (c) => exact.nearest(c)), (r) => r.flat()))
      const approximateRun = yield* timed(Effect.map(Effect.forEach(chunks, (c) => approximate.nearest(c)), (r) => r.flat()))
      let atThreshold = 0
      let found = 0
      let top1 = 0
      searches.forEach((s, k) => {
        const truth = exactRun.result[k]![0]
        const got = approximateRun.result[k]![0]
        if (truth?.ideaId === got?.ideaId) top1++
        if (truth === undefined || cosine(s.embedding, truth.embedding) < config.novelty.mergeThreshold) return
        atThreshold++
        if (got?.ideaId === truth.ideaId) found++
      })
      return { searches: searches.length, atThreshold, found, top1, exactSeconds: exactRun.seconds, approximateSeconds: approximateRun.seconds, threshold: config.novelty.mergeThreshold }
    })
  )

type IndexKind = "redis" | "memory" | "pgvector"

const INPUT = stream("signals.enriched", Signal)

/** The bench's topology: the score operator reading a stream the bench fills itself. */
export const scoringTopology = (name: string, replicas: number, batch: number, services: ReturnType<typeof scoringServices>) =>
  topology({
    name,
    nodes: [
      // Declares who writes the input; the bench fills the stream itself and never runs it.
      source({ name: "filled", to: INPUT, every: "1 hour", poll: Effect.succeed({ emissions: [], done: true }) }),
      score({ scoring: SCORING }, { from: INPUT, to: stream("ideas.scored", Idea) }, { replicas, batchSize: batch })
    ],
    services
  })

/** The services of a score replica: the store, the state in Redis, the built-in embedder and the vector index. */
export const scoringServices = (url: string, name: string, store: Layer.Layer<Store, unknown>, kind: IndexKind) =>
  Layer.mergeAll(
    store,
    stateRedis({ url: Redacted.make(url), topology: name }),
    layerHashing(384),
    kind === "redis"
      ? VectorIndex.layerRedis({ url: Redacted.make(url), topology: name })
      : kind === "memory"
        ? VectorIndex.layerMemory
        : VectorIndex.layerPgvector().pipe(Layer.provide(store))
  )

/** Keys a replica process and the driver meet on: each replica counts itself ready, then waits for a go. */
export const startKeys = (name: string) => ({ ready: makeKeys(name).state("bench", "ready"), go: makeKeys(name).state("bench", "go") })

const REPLICA_SCRIPT = fileURLToPath(new URL("./scoring-replica.ts", import.meta.url))

/**
 * The `score` operator on the Redis transport with `replicas` replicas, each its own
 * process (`processes`), or all in this one; the stream is filled first, then the clock
 * runs until the score group has acknowledged every entry. Replica processes share the
 * store through the embedded PGlite's socket (served by this process) and start together
 * once each has built its services, so start-up is not timed.
 */
const redisRun = (
  url: string,
  workload: { readonly history: ReadonlyArray<Signal>; readonly measured: ReadonlyArray<Signal> },
  replicas: number,
  batch: number,
  kind: IndexKind,
  processes: boolean,
  cpuProf?: string
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const storeContext = yield* benchStore
      const history = workload.history.map(normalizeSignal)
      const measured = workload.measured.map(normalizeSignal)
      // Ideas reference their signal rows, which enrich would have stored.
      yield* Context.get(storeContext, Store).upsertSignals(signalRows([...history, ...measured]))
      const name = `bench-scoring-${randomBytes(4).toString("hex")}`
      const transport = yield* Transport
      const keys = makeKeys(name)
      const codec = makeEnvelopeCodec(INPUT.name, INPUT.schema)
      yield* transport.ensureGroup(keys.stream(INPUT.name), keys.group("score"))
      const fill = (signals: ReadonlyArray<Signal>) =>
        Effect.forEach(
          Array.from({ length: Math.ceil(signals.length / 1_000) }, (_, k) => signals.slice(k * 1_000, k * 1_000 + 1_000)),
          (chunk) =>
            transport.append({
              stream: keys.stream(INPUT.name),
              entries: chunk.map((s) => {
                const id = deriveEventId("bench", s.sourceId)
                return codec.encode({ eventType: INPUT.eventType, eventId: id, timestamp: s.capturedAt, source: "filled", version: ENVELOPE_VERSION, correlationId: id, data: s })
              })
            }),
          { discard: true }
        )
      const drained = Effect.gen(function* () {
        while (true) {
          const info = yield* transport.info(keys.stream(INPUT.name))
          const group = info.groups.find((g) => g.name === "score")
          if (group !== undefined && group.pending === 0 && group.lag === 0) return
          yield* Effect.promise(() => sleep(20))
        }
      })
      // The history is scored first, untimed (it also warms the replicas up); then the measured part.
      yield* fill(history.length > 0 ? history : measured)
      let started = 0
      let finish: Effect.Effect<void>
      if (processes) {
        const endpoint = Context.get(storeContext, Sql).endpoint
        if (endpoint._tag !== "Embedded") throw new Error("the bench store is the embedded PGlite")
        const redis = yield* Effect.acquireRelease(Effect.sync(() => new Redis(url)), (r) => Effect.sync(() => r.disconnect()))
        const { ready, go } = startKeys(name)
        const children = Array.from({ length: replicas }, (_, i) =>
          spawnChild(
            `score-${i + 1}`,
            process.execPath,
            [...(cpuProf === undefined ? [] : ["--cpu-prof", "--cpu-prof-dir", path.join(cpuProf, `${replicas}-replicas-${i + 1}`)]), "--import", "tsx", REPLICA_SCRIPT],
            {
            env: {
              ...process.env,
              REDIS_URL: url,
              DATABASE_URL: `postgres://postgres@${endpoint.host}:${endpoint.port}/postgres`,
              BENCH_TOPOLOGY: name,
              BENCH_INDEX: kind,
              BENCH_BATCH: String(batch),
              DESAINZ_CONSUMER: `${name}-p${i + 1}`,
              LOG_LEVEL: process.env["LOG_LEVEL"] ?? "warning"
            }
            }
          )
        )
        yield* Effect.addFinalizer(() => Effect.promise(() => stopAll(children)))
        yield* Effect.promise(() => waitFor("score replicas ready", async () => Number(await redis.get(ready)) >= replicas, 120_000))
        started = performance.now()
        yield* Effect.promise(() => redis.rpush(go, ...children.map(() => "go")))
        finish = Effect.promise(() => stopAll(children))
      } else {
        const t = scoringTopology(name, replicas, batch, scoringServices(url, name, Layer.succeedContext(storeContext), kind))
        const stop = yield* Deferred.make<void>()
        started = performance.now()
        const worker = yield* Effect.fork(runWorker({ topology: t, only: ["score"], stop, consumerPrefix: name }).pipe(Effect.provide(t.services)))
        finish = Effect.andThen(Deferred.done(stop, Exit.void), Fiber.join(worker)).pipe(Effect.orDie)
      }
      yield* drained
      if (history.length > 0) {
        yield* fill(measured)
        started = performance.now()
        yield* drained
      }
      const seconds = (performance.now() - started) / 1000
      yield* finish
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
  const flags = parseFlags(args, {
    signals: { type: "string" },
    days: { type: "string" },
    "history-days": { type: "string" },
    batch: { type: "string" },
    index: { type: "string" },
    "pgvector-signals": { type: "string" },
    "ef-search": { type: "string" },
    "replicas-in": { type: "string" },
    "cpu-prof": { type: "string" }
  })
  const count = intFlag("signals", flags.signals, 3_000, 10)
  const days = intFlag("days", flags.days, 20)
  const historyDays = intFlag("history-days", flags["history-days"], 3)
  const batch = intFlag("batch", flags.batch, 100)
  const pgvectorCount = intFlag("pgvector-signals", flags["pgvector-signals"], 600, 10)
  const efSearch = intFlag("ef-search", flags["ef-search"], VectorIndex.DEFAULT_EF_SEARCH)
  const kind = (flags.index ?? "redis") as IndexKind
  if (!["redis", "memory", "pgvector"].includes(kind)) throw new UsageError(`--index must be redis, memory or pgvector, got "${kind}"`)
  const replicasIn = flags["replicas-in"] ?? (kind === "memory" ? "one-process" : "processes")
  if (!["processes", "one-process"].includes(replicasIn)) throw new UsageError(`--replicas-in must be processes or one-process, got "${replicasIn}"`)
  if (kind === "memory" && replicasIn === "processes") throw new UsageError("--index memory is not shared between processes: use --replicas-in one-process")
  const processes = replicasIn === "processes"
  const signals = syntheticSignals({ count, days, seed: 5 })
  log(`scoring: ${count} synthetic signals over ${days} days, batches of ${batch}`)
  const load = machineLoad()
  const machine = () => ({ load_1m: load.load_1m, cpu_pressure_pct: load.cpuPressurePct(), note: "shared machine: figures taken under other engineers' load" })

  // A warm-up replay (JIT, module loading), then the measured one.
  await replayRun(signals.slice(0, Math.min(500, count)), batch)
  const baseline = await replayRun(signals, batch)
  const baselinePerS = baseline.scored / baseline.seconds
  log(`scoring: replay in-process ${baseline.seconds.toFixed(2)} s (${baseline.scored} scored)`)
  emit({ bench: "scoring", case: "replay-in-process", signals: count, scored: baseline.scored, batch_size: batch, vector_index: "memory (exact)", signals_per_s: round(baselinePerS, 0), target_signals_per_s: 10_000, ...machine() })

  const recall = await Effect.runPromise(recallRun(baseline.items, efSearch))
  log(`scoring: recall ${recall.found}/${recall.atThreshold} at cosine >= ${recall.threshold}; top-1 agreement ${recall.top1}/${recall.searches}`)
  emit({
    bench: "scoring",
    case: "near-duplicate-recall",
    vector_index: `pgvector HNSW (PGlite), ef_search ${efSearch}`,
    searches: recall.searches,
    merge_threshold: recall.threshold,
    at_threshold: recall.atThreshold,
    recall_at_threshold: recall.atThreshold === 0 ? null : round(recall.found / recall.atThreshold, 4),
    top1_agreement: round(recall.top1 / recall.searches, 4),
    target_recall: 0.95,
    searches_per_s: round(recall.searches / recall.approximateSeconds, 0),
    baseline_case: "exact in-process scan",
    baseline_searches_per_s: round(recall.searches / recall.exactSeconds, 0),
    ratio: round(recall.exactSeconds / recall.approximateSeconds, 3),
    ...machine()
  })

  // The live operator on a busy day: `--history-days` days of history at the same rate, scored
  // first and untimed (state, index and store filled; replicas warmed up), then the day measured.
  // Its concurrent batches lie minutes apart in event time, as live, not hours as in a replay.
  const live = syntheticSignals({ count: count * (historyDays + 1), days: historyDays + 1, seed: 5 })
  const workload = { history: live.slice(0, count * historyDays), measured: live.slice(count * historyDays) }
  const liveBaseline = await replayRun(live, batch, workload.history.length)
  const liveBaselinePerS = liveBaseline.scored / liveBaseline.seconds
  log(`scoring: busy day replayed in-process ${liveBaseline.seconds.toFixed(2)} s (${liveBaseline.scored} scored after ${workload.history.length} of history)`)
  const busyDay = { signals: count, history_signals: workload.history.length, workload: `${count} signals in one day, after ${historyDays} days of history (untimed)` }
  emit({ bench: "scoring", case: "busy-day-replay-in-process", ...busyDay, batch_size: batch, vector_index: "memory (exact)", signals_per_s: round(liveBaselinePerS, 0), ...machine() })

  await withRedis(async (url) => {
    let one: number | undefined
    for (const replicas of [1, 2]) {
      const result = await Effect.runPromise(redisRun(url, workload, replicas, batch, kind, processes, flags["cpu-prof"]))
      await dropKeys(url, result.name)
      const perS = count / result.seconds
      one ??= perS
      log(`scoring: redis, ${replicas} replica(s), ${kind} index: ${result.seconds.toFixed(2)} s`)
      emit({
        bench: "scoring",
        case: replicas === 1 ? "redis-1-replica" : `redis-${replicas}-replicas`,
        ...busyDay,
        batch_size: batch,
        vector_index: kind,
        replicas_in: processes ? "one process each (the store: PGlite served by the bench process)" : "one process (one JS thread)",
        signals_per_s: round(perS, 0),
        target_signals_per_s: replicas === 1 ? 2_000 : undefined,
        baseline_case: "busy-day-replay-in-process",
        baseline_signals_per_s: round(liveBaselinePerS, 0),
        ratio: round(perS / liveBaselinePerS, 3),
        ...(replicas > 1 ? { vs_one_replica: round(perS / one, 3), target_vs_one_replica: 1.7 } : {}),
        ...machine()
      })
    }
    if (kind !== "pgvector") {
      const few = signals.slice(0, Math.min(count, pgvectorCount))
      const result = await Effect.runPromise(redisRun(url, { history: [], measured: few }, 1, batch, "pgvector", false))
      await dropKeys(url, result.name)
      const perS = few.length / result.seconds
      log(`scoring: redis, 1 replica, pgvector index: ${result.seconds.toFixed(2)} s for ${few.length}`)
      emit({
        bench: "scoring",
        case: "redis-1-replica-pgvector",
        signals: few.length,
        batch_size: batch,
        vector_index: "pgvector (PGlite, HNSW)",
        bottleneck: "embedded PGlite: one Postgres session in this process (HNSW inserts and searches)",
        signals_per_s: round(perS, 0),
        baseline_case: "replay-in-process",
        baseline_signals_per_s: round(baselinePerS, 0),
        ratio: round(perS / baselinePerS, 3),
        ...machine()
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
