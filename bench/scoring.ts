/**
 * Scoring bench: signals per second through the scoring code, and the recall of the
 * approximate near-duplicate search.
 *
 * - `replay-in-process` (the baseline): the backtest replay path, dedupe + normalization +
 *   the scorer with in-process state and the exact in-process vector index; no Redis, no store.
 *   One full replay of the workload first, untimed (JIT), then 3 timed replays, each from
 *   fresh state; the figure is their median, and all three are on the line.
 * - `near-duplicate-recall`: every replayed signal's neighbour search, once through pgvector's
 *   HNSW index (the `--store`, `hnsw.ef_search`) and once through the exact in-process scan over
 *   the same ideas: the share of signals with an idea at or above the merge threshold whose
 *   nearest idea the HNSW search also returns first.
 * - `busy-day-replay-in-process`: the replay path on a busy day live: `--signals` in one day
 *   after `--history-days` days of history at the same rate (scored first, untimed), the
 *   baseline of the Redis cases, which run the same workload. Measured once (it is long),
 *   after the replays above, so the JIT is warm.
 * - `near-duplicate-recall-lsh`: the busy day's searches, whose windows hold more ideas than
 *   the exact scan takes, through the LSH search (in-process; the Redis layer searches alike)
 *   and through the exact scan over the same ideas: recall at the merge threshold, top-1
 *   agreement, and how much less similar the nearest idea found is where it differs.
 * - `redis-1-replica`, `redis-2-replicas`: the `score` operator under the worker on the
 *   Redis transport, its state shared in Redis, with the vector index of `--index` (redis by
 *   default: the store only takes the idea upserts). The history goes through first,
 *   untimed (state, index and store filled, replicas warmed up), then the clock runs from
 *   filling the busy day until the score group has acknowledged every entry. A busy day's
 *   concurrent batches lie minutes apart in event time, as live (in the 20-day replay
 *   workload they would lie ~16 hours apart, beyond the allowed lateness, and most signals
 *   would be late). Each replica is its own process (bench/scoring-replica.ts;
 *   `--replicas-in one-process` runs them in this one, as `--index memory` must).
 *   `--cpu-prof DIR` writes each replica process's CPU profile under DIR. `replica_time_pct`:
 *   the share of each replica's measured time spent scoring (embedding, state, neighbour
 *   search, factors), in the store (ideas, merges, index entries) and on late signals, from
 *   `desainz_score_seconds_total`; the rest is reading and committing through the stream.
 * - `redis-1-replica-pgvector` (the first `--pgvector-signals` of the 20-day workload, no
 *   history): the same with the pgvector layer.
 *
 * The store (`--store`) of the replica and recall cases, empty and migrated for each case:
 * - `pglite` (default, nothing to install): the embedded PGlite in a temp dir, served on its
 *   socket by this process. It is one Postgres session: the idea upserts of all replicas
 *   queue on it, and with the pgvector layer it is the bottleneck (said on those lines).
 * - `postgres`: a real PostgreSQL with pgvector at `DATABASE_URL` (its role must be allowed to
 *   create databases). Each case creates `bench_scoring_<random>` there, migrates it with the
 *   project's migrations and drops it afterwards, also when the case fails (a bench killed by
 *   a signal leaves it behind: drop it by hand).
 * Every line that used a store names it, with the versions the server reports.
 *
 *   npm run bench -- scoring [--signals 3000] [--days 20] [--history-days 3] [--batch 100] [--index redis|memory|pgvector] [--replicas-in processes|one-process] [--store pglite|postgres] [--pgvector-signals 600] [--ef-search 100] [--cpu-prof DIR]
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
import { SCORE_PARTS, type ScorePart, score, scoreSeconds } from "../operators/scoring/score.ts"
import { ScoringConfig } from "../operators/scoring/scorer.ts"
import { DAY, layerRedis as stateRedis } from "../operators/scoring/state.ts"
import * as VectorIndex from "../operators/scoring/vectorIndex.ts"
import { closedWindow } from "../operators/scoring/window.ts"
import { Store } from "../operators/store/store.ts"
import { deriveEventId, ENVELOPE_VERSION, makeEnvelopeCodec } from "../runtime/envelope.ts"
import { PermanentError } from "../runtime/errors.ts"
import { makeKeys } from "../runtime/keys.ts"
import { Metrics } from "../runtime/metrics.ts"
import { attempt, migrate, Sql } from "../runtime/sql.ts"
import { source, stream, topology } from "../runtime/topology.ts"
import { Transport } from "../runtime/transport.ts"
import * as RedisTransport from "../runtime/transport/redis.ts"
import { runWorker } from "../runtime/worker.ts"
import { syntheticSignals } from "../test/support/signals.ts"
import { cpuBusy, emit, intFlag, log, machineLoad, median, parseFlags, round, sleep, spawnChild, stopAll, UsageError, waitFor } from "./harness.ts"
import { withRedis } from "./redis.ts"

const SCORING = { allowedLateness: "2 hours", communityFit: { niches: [{ name: "runners", keywords: ["marathon", "trail"] }] } }
const DEDUPE = { ttl: "7 days", capacity: 1_000_000, falsePositiveRate: 0.001 }
/** The in-process layer, as the replay cases run it. */
const MEMORY_INDEX = `memory (exact up to ${VectorIndex.EXACT_SCAN_MAX} ideas per window, LSH above)`
/** Timed replays of the 20-day workload; the figure is their median. */
const REPLAY_RUNS = 3

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

/** The store of the replica and recall cases: the embedded PGlite (default), or a fresh database on a PostgreSQL server. */
type StoreChoice = { readonly _tag: "pglite" } | { readonly _tag: "postgres"; readonly url: Redacted.Redacted<string> }

/**
 * A fresh database `bench_scoring_<random>` on the server at `url` (created through a client
 * connected to the url's own database), dropped when the scope ends, after the clients
 * acquired later in the scope have closed (`with (force)` ends any left over).
 */
const freshDatabase = (url: Redacted.Redacted<string>) =>
  Effect.gen(function* () {
    const { client: admin } = Context.get(yield* Layer.build(Sql.layerUrl(url)), Sql)
    const name = `bench_scoring_${randomBytes(4).toString("hex")}`
    const database = yield* Effect.try({
      try: () => {
        const database = new URL(Redacted.value(url))
        database.pathname = `/${name}`
        return Redacted.make(database.href)
      },
      catch: () => new PermanentError({ message: "DATABASE_URL is not a URL (postgres://user@host:port/database)" })
    })
    yield* Effect.acquireRelease(attempt(`create database ${name} at DATABASE_URL`, () => admin.unsafe(`create database ${name}`)), () =>
      attempt(`drop database ${name}`, () => admin.unsafe(`drop database if exists ${name} with (force)`)).pipe(
        Effect.catchAll((error) => Effect.sync(() => log(`bench: ${error.message}; drop it by hand`)))
      )
    )
    return database
  })

/**
 * A migrated store for the scope, empty: the embedded PGlite in a fresh directory, served on
 * a free port, or a fresh database at DATABASE_URL. Also the url replica processes connect
 * to, and what ran (engine and pgvector versions, as the server reports them).
 */
const benchStore = (choice: StoreChoice) =>
  Effect.gen(function* () {
    let sql: Layer.Layer<Sql, unknown>
    let database: Redacted.Redacted<string> | undefined
    if (choice._tag === "pglite") {
      const dir = yield* Effect.acquireRelease(
        Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "desainz-bench-scoring-"))),
        (d) => Effect.promise(() => fs.rm(d, { recursive: true, force: true }))
      )
      sql = Sql.layerEmbedded({ dataDir: path.join(dir, "pg"), port: 0 })
    } else {
      database = yield* freshDatabase(choice.url)
      sql = Sql.layerUrl(database)
    }
    const context = yield* Layer.build(Store.layer.pipe(Layer.provideMerge(Layer.effectDiscard(migrate()).pipe(Layer.provideMerge(sql)))))
    const { client, endpoint } = Context.get(context, Sql)
    const [versions] = yield* attempt("read the store's versions", () =>
      client<Array<{ server: string; pgvector: string }>>`select version() as server, (select extversion from pg_extension where extname = 'vector') as pgvector`
    )
    const server = /^PostgreSQL (\S+)/.exec(versions!.server)?.[1] ?? versions!.server
    return endpoint._tag === "Embedded"
      ? {
          context,
          url: Redacted.make(`postgres://postgres@${endpoint.host}:${endpoint.port}/postgres`),
          engine: "PGlite",
          description: `PGlite (embedded PostgreSQL ${server}, one Postgres session, served by the bench process), pgvector ${versions!.pgvector}`
        }
      : { context, url: database!, engine: `PostgreSQL ${server}`, description: `PostgreSQL ${server} at DATABASE_URL, pgvector ${versions!.pgvector}` }
  })

const signalRows = (signals: ReadonlyArray<Signal>) =>
  signals.map((s) => ({ id: signalIdOf(s.contentHash!), content: s.content, source: s.source, capturedAt: new Date(s.capturedAt), metadata: {}, contentHash: s.contentHash! }))

type ReplayedItems = Awaited<ReturnType<typeof replayRun>>["items"]

/**
 * An approximate search against the exact scan, on replayed ideas and the searches of the
 * replayed signals from `from` on: recall at the merge threshold (of the signals whose exact
 * nearest idea is at or above it, the share whose approximate search returns that idea
 * first), top-1 agreement over all, how much less similar the nearest idea found is where it
 * differs, and searches per second of both.
 */
const compareWithExact = (items: ReplayedItems, approximate: VectorIndex.VectorIndexShape, from = 0) =>
  Effect.gen(function* () {
    const config = Schema.decodeUnknownSync(ScoringConfig)(SCORING)
    const latenessMs = Duration.toMillis(Duration.decode(config.allowedLateness))
    const span = config.novelty.neighbourDays * DAY
    const ideas = items.filter((i) => i.mergeInto === undefined).map((i) => ({ ideaId: i.ideaId, at: i.at, embedding: i.embedding }))
    const searches = items.slice(from).map((i) => {
      const { horizon } = closedWindow(i.at, latenessMs)
      return { embedding: i.embedding, from: horizon - span, to: horizon, excludeId: i.ideaId, limit: config.novelty.neighbours }
    })
    const exact = VectorIndex.makeMemory({ exactScanMax: Infinity })
    yield* exact.add(ideas)
    yield* approximate.add(ideas)
    const timed = <A, E>(effect: Effect.Effect<A, E>) =>
      Effect.map(Effect.timed(effect), ([d, a]) => ({ seconds: Duration.toMillis(d) / 1000, result: a }))
    const chunks = Array.from({ length: Math.ceil(searches.length / 100) }, (_, i) => searches.slice(i * 100, i * 100 + 100))
    const exactRun = yield* timed(Effect.map(Effect.forEach(chunks, (c) => exact.nearest(c)), (r) => r.flat()))
    const approximateRun = yield* timed(Effect.map(Effect.forEach(chunks, (c) => approximate.nearest(c)), (r) => r.flat()))
    let atThreshold = 0
    let found = 0
    let top1 = 0
    let shortfall = 0
    searches.forEach((s, k) => {
      const truth = exactRun.result[k]![0]
      const got = approximateRun.result[k]![0]
      if (truth?.ideaId === got?.ideaId) top1++
      if (truth === undefined) return
      const similarity = cosine(s.embedding, truth.embedding)
      shortfall += similarity - (got === undefined ? 0 : cosine(s.embedding, got.embedding))
      if (similarity < config.novelty.mergeThreshold) return
      atThreshold++
      if (got?.ideaId === truth.ideaId) found++
    })
    const differing = searches.length - top1
    return {
      merge_threshold: config.novelty.mergeThreshold,
      searches: searches.length,
      at_threshold: atThreshold,
      recall_at_threshold: atThreshold === 0 ? null : round(found / atThreshold, 4),
      top1_agreement: round(top1 / searches.length, 4),
      nearest_similarity_shortfall_where_differing: differing === 0 ? 0 : round(shortfall / differing, 4),
      target_recall: 0.95,
      searches_per_s: round(searches.length / approximateRun.seconds, 0),
      baseline_case: "exact in-process scan",
      baseline_searches_per_s: round(searches.length / exactRun.seconds, 0),
      ratio: round(exactRun.seconds / approximateRun.seconds, 3)
    }
  })

/** pgvector's HNSW search (in the chosen store) against the exact scan, on the replay's ideas. */
const recallRun = (items: ReplayedItems, efSearch: number, storeChoice: StoreChoice) =>
  Effect.scoped(
    Effect.gen(function* () {
      const ideas = items.filter((i) => i.mergeInto === undefined)
      const bench = yield* benchStore(storeChoice)
      const store = Context.get(bench.context, Store)
      yield* store.upsertSignals(signalRows([...new Map(items.map((i) => [i.signal.contentHash!, i.signal])).values()]))
      yield* store.upsertIdeas(
        ideas.map((i) => ({ id: i.ideaId, signalId: signalIdOf(i.signal.contentHash!), title: "t", description: i.signal.content, embedding: i.embedding, score: 0, factors: {}, weightsVersion: 1, eventAt: new Date(i.at) }))
      )
      // The pgvector layer's ideas are the store's rows: its `add` has nothing to do.
      const pgvector = yield* VectorIndex.makePgvector(efSearch).pipe(Effect.provideService(Store, store))
      return { store: bench, figures: yield* compareWithExact(items, pgvector) }
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
export const startKeys = (name: string) => ({
  ready: makeKeys(name).state("bench", "ready"),
  go: makeKeys(name).state("bench", "go"),
  /** Each replica process's `desainz_score_seconds_total` per part, as `<pid>:<part>` fields, refreshed every few ms. */
  parts: makeKeys(name).state("bench", "parts")
})

/** How often a replica process publishes its part seconds, and how long the driver waits for a final publication. */
export const PARTS_EVERY_MS = 20

/** Seconds per part of score batches, summed over the replicas. */
type PartSeconds = Record<ScorePart, number>

const REPLICA_SCRIPT = fileURLToPath(new URL("./scoring-replica.ts", import.meta.url))

/**
 * The `score` operator on the Redis transport with `replicas` replicas, each its own
 * process (`processes`), or all in this one; the stream is filled first, then the clock
 * runs until the score group has acknowledged every entry. Replica processes share the
 * case's store (the embedded PGlite's socket, served by this process, or the fresh database
 * at DATABASE_URL) and start together once each has built its services, so start-up is not timed.
 */
const redisRun = (
  url: string,
  workload: { readonly history: ReadonlyArray<Signal>; readonly measured: ReadonlyArray<Signal> },
  replicas: number,
  batch: number,
  kind: IndexKind,
  processes: boolean,
  storeChoice: StoreChoice,
  cpuProf?: string
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const store = yield* benchStore(storeChoice)
      const storeContext = store.context
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
      // Replicas that died would leave the stream undrained forever.
      let replicasAlive = () => true
      const REPLICA_DIED = "a score replica ended before the stream was drained (its log is above)"
      const drained = Effect.gen(function* () {
        while (true) {
          if (!replicasAlive()) return yield* Effect.die(new Error(REPLICA_DIED))
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
      let partsRedis: Redis | undefined
      if (processes) {
        const redis = yield* Effect.acquireRelease(Effect.sync(() => new Redis(url)), (r) => Effect.sync(() => r.disconnect()))
        partsRedis = redis
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
              DATABASE_URL: Redacted.value(store.url),
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
        replicasAlive = () => children.every((c) => c.running())
        yield* Effect.promise(() =>
          waitFor(
            "score replicas ready",
            async () => {
              if (!replicasAlive()) throw new Error(REPLICA_DIED)
              return Number(await redis.get(ready)) >= replicas
            },
            120_000
          )
        )
        started = performance.now()
        yield* Effect.promise(() => redis.rpush(go, ...children.map(() => "go")))
        finish = Effect.promise(() => stopAll(children))
      } else {
        const t = scoringTopology(name, replicas, batch, scoringServices(url, name, Layer.succeedContext(storeContext), kind))
        const stop = yield* Deferred.make<void>()
        started = performance.now()
        const worker = yield* Effect.fork(runWorker({ topology: t, only: ["score"], stop, consumerPrefix: name }).pipe(Effect.provide(t.services)))
        replicasAlive = () => worker.unsafePoll() === null
        finish = Effect.andThen(Deferred.done(stop, Exit.void), Fiber.join(worker)).pipe(Effect.orDie)
      }
      // The part seconds of every replica, once each has published its latest (no batch runs while the stream is drained).
      const metrics = yield* Metrics
      const partSeconds: Effect.Effect<PartSeconds> = processes
        ? Effect.promise(async () => {
            await sleep(3 * PARTS_EVERY_MS)
            const fields = await partsRedis!.hgetall(startKeys(name).parts)
            return Object.fromEntries(
              SCORE_PARTS.map((part) => [part, Object.entries(fields).reduce((sum, [field, v]) => (field.endsWith(`:${part}`) ? sum + Number(v) : sum), 0)])
            ) as PartSeconds
          })
        : Effect.sync(() => Object.fromEntries(SCORE_PARTS.map((part) => [part, scoreSeconds(metrics.registry).get({ operator: "score", part })])) as PartSeconds)
      let before: PartSeconds = Object.fromEntries(SCORE_PARTS.map((part) => [part, 0])) as PartSeconds
      let busy = cpuBusy()
      yield* drained
      if (history.length > 0) {
        before = yield* partSeconds
        // The clock starts before the fill: replicas take the first entries while the rest are appended.
        started = performance.now()
        busy = cpuBusy()
        yield* fill(measured)
        yield* drained
      }
      const seconds = (performance.now() - started) / 1000
      const cpuBusyPct = busy()
      const after = yield* partSeconds
      // Each replica's measured time, by part; the rest is reading and committing through the stream.
      const replicaTimePct = Object.fromEntries(SCORE_PARTS.map((part) => [part, round((100 * (after[part] - before[part])) / (seconds * replicas), 1)]))
      yield* finish
      return { seconds, name, store: store.description, cpuBusyPct, replicaTimePct }
    })
  ).pipe(Effect.provide(Layer.merge(RedisTransport.layer({ url: Redacted.make(url) }), Metrics.layer)))

/** `--store`: `pglite` (the default: runs with nothing installed) or `postgres` at DATABASE_URL. */
const storeFlag = (value: string | undefined): StoreChoice => {
  if (value === undefined || value === "pglite") return { _tag: "pglite" }
  if (value !== "postgres") throw new UsageError(`--store must be pglite or postgres, got "${value}"`)
  const url = process.env["DATABASE_URL"]?.trim()
  if (url === undefined || url === "") {
    throw new UsageError("--store postgres needs DATABASE_URL: a PostgreSQL server with pgvector installed, whose role may create databases (the bench creates and drops a bench_scoring_* database there)")
  }
  return { _tag: "postgres", url: Redacted.make(url) }
}

const PGLITE_HNSW_BOTTLENECK = "embedded PGlite: one Postgres session in the bench process (HNSW inserts and searches)"

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
    store: { type: "string" },
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
  const storeChoice = storeFlag(flags.store)
  const signals = syntheticSignals({ count, days, seed: 5 })
  log(`scoring: ${count} synthetic signals over ${days} days, batches of ${batch}`)
  const load = machineLoad()
  const machine = () => ({ load_1m: load.load_1m, cpu_pressure_pct: load.cpuPressurePct(), note: "shared machine: figures taken under other engineers' load" })

  // One full replay of the same workload warms the JIT up, untimed; then REPLAY_RUNS timed
  // replays, each from fresh state (`replay` builds its own), and their median.
  await replayRun(signals, batch)
  const replays: Array<Awaited<ReturnType<typeof replayRun>>> = []
  for (let i = 0; i < REPLAY_RUNS; i++) {
    replays.push(await replayRun(signals, batch))
    log(`scoring: replay in-process ${replays[i]!.seconds.toFixed(2)} s (${replays[i]!.scored} scored)`)
  }
  const replayRates = replays.map((r) => r.scored / r.seconds)
  const baselinePerS = median(replayRates)
  emit({
    bench: "scoring",
    case: "replay-in-process",
    signals: count,
    scored: replays[0]!.scored,
    batch_size: batch,
    vector_index: MEMORY_INDEX,
    signals_per_s: round(baselinePerS, 0),
    runs_signals_per_s: replayRates.map((r) => round(r, 0)),
    method: `median of ${REPLAY_RUNS} replays, each from fresh state, after one untimed warm-up replay of the same signals`,
    target_signals_per_s: 10_000,
    ...machine()
  })

  const recall = await Effect.runPromise(recallRun(replays[0]!.items, efSearch, storeChoice))
  log(`scoring: pgvector recall at the merge threshold ${recall.figures.recall_at_threshold}; top-1 agreement ${recall.figures.top1_agreement}`)
  emit({
    bench: "scoring",
    case: "near-duplicate-recall",
    vector_index: `pgvector HNSW (${recall.store.engine}), ef_search ${efSearch}`,
    store: recall.store.description,
    ...recall.figures,
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
  emit({ bench: "scoring", case: "busy-day-replay-in-process", ...busyDay, batch_size: batch, vector_index: MEMORY_INDEX, signals_per_s: round(liveBaselinePerS, 0), ...machine() })
  // The busy day's windows hold more ideas than the exact scan takes: LSH, against the exact scan.
  const lsh = await Effect.runPromise(compareWithExact(liveBaseline.items, VectorIndex.makeMemory(), workload.history.length))
  log(`scoring: LSH recall at the merge threshold ${lsh.recall_at_threshold}; top-1 agreement ${lsh.top1_agreement}`)
  emit({ bench: "scoring", case: "near-duplicate-recall-lsh", ...busyDay, vector_index: `memory and redis: LSH (windows of over ${VectorIndex.EXACT_SCAN_MAX} ideas)`, ...lsh, ...machine() })

  await withRedis(async (url) => {
    let one: number | undefined
    for (const replicas of [1, 2]) {
      const result = await Effect.runPromise(redisRun(url, workload, replicas, batch, kind, processes, storeChoice, flags["cpu-prof"]))
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
        replicas_in: processes ? "one process each" : "one process (one JS thread)",
        store: result.store,
        ...(kind === "pgvector" && storeChoice._tag === "pglite" ? { bottleneck: PGLITE_HNSW_BOTTLENECK } : {}),
        signals_per_s: round(perS, 0),
        target_signals_per_s: replicas === 1 ? 2_000 : undefined,
        baseline_case: "busy-day-replay-in-process",
        baseline_signals_per_s: round(liveBaselinePerS, 0),
        ratio: round(perS / liveBaselinePerS, 3),
        ...(replicas > 1 ? { vs_one_replica: round(perS / one, 3), target_vs_one_replica: 1.7 } : {}),
        // Replicas, Redis, the store and this process share the machine's cores: near 100, the CPUs are the bottleneck.
        cpu_busy_pct: result.cpuBusyPct,
        replica_time_pct: result.replicaTimePct,
        cores: os.cpus().length,
        ...machine()
      })
    }
    if (kind !== "pgvector") {
      const few = signals.slice(0, Math.min(count, pgvectorCount))
      const result = await Effect.runPromise(redisRun(url, { history: [], measured: few }, 1, batch, "pgvector", false, storeChoice))
      await dropKeys(url, result.name)
      const perS = few.length / result.seconds
      log(`scoring: redis, 1 replica, pgvector index: ${result.seconds.toFixed(2)} s for ${few.length}`)
      emit({
        bench: "scoring",
        case: "redis-1-replica-pgvector",
        signals: few.length,
        batch_size: batch,
        vector_index: "pgvector (HNSW)",
        store: result.store,
        ...(storeChoice._tag === "pglite" ? { bottleneck: PGLITE_HNSW_BOTTLENECK } : {}),
        signals_per_s: round(perS, 0),
        replica_time_pct: result.replicaTimePct,
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
