/**
 * The recent ideas a signal is checked against for near-duplicates (and novelty's nearest
 * idea): one service, one layer per backend.
 *
 * - pgvector (default live): the store's `ideas` table is the index (the score operator's
 *   idea upsert writes the vector, so `add` has nothing to do); `<=>` over the HNSW index,
 *   with `hnsw.ef_search` set and pgvector's iterative scan so the event-time filter does
 *   not starve the search. Approximate: its recall is measured by `npm run bench -- scoring`.
 * - memory: an in-process, exact index for replays and backtests (which must not touch the
 *   store), and for one process that owns all scoring.
 * - redis: the ideas' vectors in Redis, one hash per event-time day, shared by every
 *   replica; each replica keeps the days it read and re-reads a day only when its size
 *   changed, and scans exactly in process. For scaling replicas out when the store is the
 *   bottleneck (an embedded PGlite is one Postgres session).
 * - qdrant (`QDRANT_URL`): a collection with the embedding size and cosine distance, the
 *   event time as an indexed payload field that filters the recency window; approximate
 *   (HNSW, `hnsw_ef` set).
 *
 * Every layer answers "the ideas with event time in [from, to), other than the signal's
 * own, nearest first"; the scorer takes the cosine itself from the returned vectors, so
 * layers that return the same ideas decide alike.
 */
import { Config, Context, Effect, Layer, Option, Redacted } from "effect"
import { QdrantClient } from "@qdrant/js-client-rest"
import { Redis } from "ioredis"
import { describeError, PermanentError, RetryableError } from "../../runtime/errors.ts"
import { makeKeys } from "../../runtime/keys.ts"
import { EmbeddingDim, type SqlError } from "../../runtime/sql.ts"
import { Store } from "../store/store.ts"
import { bucketOf, DAY } from "./state.ts"

export interface IndexedIdea {
  readonly ideaId: string
  /** Event time (ms) of the idea's signal. */
  readonly at: number
  readonly embedding: ReadonlyArray<number>
}

export interface NeighbourSearch {
  readonly embedding: ReadonlyArray<number>
  readonly from: number
  readonly to: number
  /** The signal's own idea (a redelivery or a second run must not find itself). */
  readonly excludeId: string
  readonly limit: number
}

export type VectorIndexError = SqlError | RetryableError | PermanentError

export interface VectorIndexShape {
  readonly backend: "pgvector" | "memory" | "redis" | "qdrant"
  /** Per search, up to `limit` ideas of its window, nearest first (ties: smaller id). */
  readonly nearest: (searches: ReadonlyArray<NeighbourSearch>) => Effect.Effect<ReadonlyArray<ReadonlyArray<IndexedIdea>>, VectorIndexError>
  /** New ideas (idempotent by id). */
  readonly add: (ideas: ReadonlyArray<IndexedIdea>) => Effect.Effect<void, VectorIndexError>
  /** Ideas merged away (a near-duplicate found late): never found again. Unknown ones are ignored. */
  readonly remove: (ideas: ReadonlyArray<{ readonly ideaId: string; readonly at: number }>) => Effect.Effect<void, VectorIndexError>
}

export class VectorIndex extends Context.Tag("desainz/VectorIndex")<VectorIndex, VectorIndexShape>() {}

// ---------------------------------------------------------------------------------------
// The exact scan shared by the in-process and Redis layers

interface Entry {
  readonly ideaId: string
  readonly at: number
  readonly embedding: ReadonlyArray<number>
  readonly vector: Float64Array
  readonly inverseNorm: number
}

const entryOf = (ideaId: string, at: number, embedding: ReadonlyArray<number>): Entry => {
  const vector = Float64Array.from(embedding)
  let norm = 0
  for (let d = 0; d < vector.length; d++) norm += vector[d]! * vector[d]!
  return { ideaId, at, embedding, vector, inverseNorm: norm > 0 ? 1 / Math.sqrt(norm) : 0 }
}

/** The first position in `entries` (sorted by event time) at or after `at`. */
const firstAtOrAfter = (entries: ReadonlyArray<{ readonly at: number }>, at: number): number => {
  let lo = 0
  for (let hi = entries.length; lo < hi; ) {
    const mid = (lo + hi) >> 1
    if (entries[mid]!.at < at) lo = mid + 1
    else hi = mid
  }
  return lo
}

/**
 * The `limit` entries of the window nearest to the query, by dot product over stored norms
 * (the scorer takes the exact cosine of the few returned), keeping only a top-k list.
 */
const scan = (entries: ReadonlyArray<Entry>, s: NeighbourSearch): ReadonlyArray<IndexedIdea> => {
  // Only the query's non-zero components: the built-in hashing embedder fills about a fifth of
  // the dimensions of a short title, and skipping zero terms leaves every sum unchanged.
  const nonZero: Array<number> = []
  s.embedding.forEach((x, d) => x !== 0 && nonZero.push(d))
  const dims = Int32Array.from(nonZero)
  const q = Float64Array.from(nonZero, (d) => s.embedding[d]!)
  const top: Array<{ readonly entry: Entry; readonly similarity: number }> = []
  const worse = (a: { readonly entry: Entry; readonly similarity: number }, similarity: number, id: string) =>
    a.similarity < similarity || (a.similarity === similarity && a.entry.ideaId > id)
  for (let i = firstAtOrAfter(entries, s.from); i < entries.length && entries[i]!.at < s.to; i++) {
    const entry = entries[i]!
    if (entry.ideaId === s.excludeId) continue
    const e = entry.vector
    let dot = 0
    for (let j = 0; j < dims.length; j++) dot += q[j]! * e[dims[j]!]!
    const similarity = dot * entry.inverseNorm
    if (top.length === s.limit && !worse(top[top.length - 1]!, similarity, entry.ideaId)) continue
    let at = top.length
    while (at > 0 && worse(top[at - 1]!, similarity, entry.ideaId)) at--
    top.splice(at, 0, { entry, similarity })
    if (top.length > s.limit) top.pop()
  }
  return top.map(({ entry }) => ({ ideaId: entry.ideaId, at: entry.at, embedding: entry.embedding }))
}

// ---------------------------------------------------------------------------------------
// In-process

/**
 * An exact in-process index kept in event-time order, so a search scans only its window.
 * Ideas older than the oldest window still searched (with a day to spare) are dropped, so
 * a long replay holds only recent vectors.
 */
export const makeMemory = (): VectorIndexShape => {
  let entries: Array<Entry> = []
  const ids = new Set<string>()
  let oldestNeeded = -Infinity
  return {
    backend: "memory",
    nearest: (searches) =>
      Effect.sync(() => {
        for (const s of searches) oldestNeeded = Math.max(oldestNeeded, s.from - DAY)
        return searches.map((s) => scan(entries, s))
      }),
    add: (added) =>
      Effect.sync(() => {
        const cut = firstAtOrAfter(entries, oldestNeeded)
        if (cut > 0) {
          for (const e of entries.slice(0, cut)) ids.delete(e.ideaId)
          entries = entries.slice(cut)
        }
        for (const idea of added) {
          if (ids.has(idea.ideaId)) continue
          ids.add(idea.ideaId)
          entries.splice(firstAtOrAfter(entries, idea.at + 1), 0, entryOf(idea.ideaId, idea.at, idea.embedding))
        }
      }),
    remove: (removed) =>
      Effect.sync(() => {
        const gone = new Set(removed.map((r) => r.ideaId).filter((id) => ids.delete(id)))
        if (gone.size > 0) entries = entries.filter((e) => !gone.has(e.ideaId))
      })
  }
}

export const layerMemory: Layer.Layer<VectorIndex> = Layer.sync(VectorIndex, makeMemory)

// ---------------------------------------------------------------------------------------
// pgvector, through the store

export const DEFAULT_EF_SEARCH = 100

/** The store's ideas (their HNSW index created if missing); the operator's idea upsert is what adds to it. */
export const makePgvector = (efSearch = DEFAULT_EF_SEARCH): Effect.Effect<VectorIndexShape, SqlError, Store> =>
  Effect.flatMap(Store, (store) => Effect.as(store.ensureEmbeddingIndex(), {
    backend: "pgvector",
    nearest: (searches) =>
      Effect.map(
        store.nearestIdeas(
          searches.map((s) => ({ embedding: s.embedding, from: new Date(s.from), to: new Date(s.to), excludeId: s.excludeId, limit: s.limit })),
          { efSearch }
        ),
        // pgvector prints the shortest decimal that rounds to each float32; fround turns it back into
        // exactly the vector that was stored, so similarities match the in-process index to the bit.
        (results) => results.map((found) => found.map((n) => ({ ideaId: n.id, at: n.eventAt.getTime(), embedding: n.embedding.map(Math.fround) })))
      ),
    add: () => Effect.void,
    // The store deletes (or archives) an absorbed idea's row itself.
    remove: () => Effect.void
  } satisfies VectorIndexShape))

export const layerPgvector = (efSearch?: number): Layer.Layer<VectorIndex, SqlError, Store> => Layer.effect(VectorIndex, makePgvector(efSearch))

// ---------------------------------------------------------------------------------------
// Redis

export interface RedisIndexOptions {
  readonly url: Redacted.Redacted<string>
  readonly topology: string
  /** Wall-time retention of a day's vectors after its last write (as the scoring state's). */
  readonly retainMs?: number
}

const retryable = (what: string) => (cause: unknown) => new RetryableError({ message: `vector index ${what}: ${describeError(cause)}`, cause })

/** `at` as a float64, then the vector as float32, little-endian. */
const encodeEntry = (idea: IndexedIdea): Buffer => {
  const buffer = Buffer.alloc(8 + 4 * idea.embedding.length)
  buffer.writeDoubleLE(idea.at, 0)
  idea.embedding.forEach((x, i) => buffer.writeFloatLE(x, 8 + 4 * i))
  return buffer
}

const decodeEntry = (ideaId: string, buffer: Buffer): Entry => {
  const embedding: Array<number> = []
  for (let o = 8; o + 4 <= buffer.length; o += 4) embedding.push(buffer.readFloatLE(o))
  return entryOf(ideaId, buffer.readDoubleLE(0), embedding)
}

export const makeRedis = (options: RedisIndexOptions) =>
  Effect.gen(function* () {
    const redis = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const r = new Redis(Redacted.value(options.url), { maxRetriesPerRequest: 3 })
        r.on("error", () => undefined) // surfaced by the failing command, whose batch is retried
        return r
      }),
      (r) => Effect.promise(() => r.quit().catch(() => r.disconnect()))
    )
    const keys = makeKeys(options.topology)
    const dayKey = (bucket: number) => keys.state("score", `vectors:${bucket}`)
    const retainMs = Math.max(1, Math.round(options.retainMs ?? 30 * DAY))
    // Per day: the entries read, sorted by event time, and the hash's size when read.
    const days = new Map<number, { readonly size: number; readonly entries: ReadonlyArray<Entry> }>()

    const load = (buckets: ReadonlyArray<number>) =>
      Effect.gen(function* () {
        const sizes = yield* Effect.tryPromise({
          try: () => redis.pipeline(buckets.map((b) => ["hlen", dayKey(b)])).exec(),
          catch: retryable("read")
        })
        const stale = buckets.filter((b, i) => {
          const [error, size] = sizes?.[i] ?? [new Error("no reply"), 0]
          if (error) return true
          return days.get(b)?.size !== Number(size)
        })
        if (stale.length === 0) return
        const replies = yield* Effect.tryPromise({
          try: () => redis.pipeline(stale.map((b) => ["hgetallBuffer", dayKey(b)])).exec(),
          catch: retryable("read")
        })
        for (const [i, b] of stale.entries()) {
          const [error, value] = replies?.[i] ?? [new Error("no reply"), undefined]
          if (error) return yield* retryable("read")(error)
          const hash = value as Record<string, Buffer>
          const entries = Object.entries(hash)
            .map(([id, buffer]) => decodeEntry(id, buffer))
            .sort((a, c) => a.at - c.at || (a.ideaId < c.ideaId ? -1 : 1))
          days.set(b, { size: entries.length, entries })
        }
      })

    const nearest: VectorIndexShape["nearest"] = (searches) =>
      Effect.gen(function* () {
        if (searches.length === 0) return []
        const first = bucketOf(Math.min(...searches.map((s) => s.from)))
        const last = bucketOf(Math.max(...searches.map((s) => s.to)) - 1)
        const buckets = Array.from({ length: Math.max(0, last - first + 1) }, (_, i) => first + i)
        yield* load(buckets)
        for (const b of [...days.keys()]) if (b < first - 1) days.delete(b)
        const entries = buckets.flatMap((b) => days.get(b)?.entries ?? [])
        return searches.map((s) => scan(entries, s))
      })

    const add: VectorIndexShape["add"] = (ideas) => {
      if (ideas.length === 0) return Effect.void
      const byDay = new Map<number, Array<IndexedIdea>>()
      for (const idea of ideas) byDay.set(bucketOf(idea.at), [...(byDay.get(bucketOf(idea.at)) ?? []), idea])
      const pipeline = redis.multi()
      for (const [b, list] of byDay) {
        pipeline.hset(dayKey(b), ...list.flatMap((i) => [i.ideaId, encodeEntry(i)]))
        pipeline.pexpire(dayKey(b), retainMs)
      }
      return Effect.asVoid(Effect.tryPromise({ try: () => pipeline.exec(), catch: retryable("write") }))
    }

    const remove: VectorIndexShape["remove"] = (ideas) => {
      if (ideas.length === 0) return Effect.void
      const pipeline = redis.multi()
      for (const i of ideas) pipeline.hdel(dayKey(bucketOf(i.at)), i.ideaId)
      return Effect.asVoid(Effect.tryPromise({ try: () => pipeline.exec(), catch: retryable("write") }))
    }

    return { backend: "redis", nearest, add, remove } satisfies VectorIndexShape
  })

export const layerRedis = (options: RedisIndexOptions): Layer.Layer<VectorIndex> => Layer.scoped(VectorIndex, makeRedis(options))

// ---------------------------------------------------------------------------------------
// Qdrant

export interface QdrantIndexOptions {
  readonly url: string
  readonly apiKey?: Redacted.Redacted<string> | undefined
  readonly collection: string
  readonly dimensions: number
  /** Candidates the HNSW search keeps (`hnsw_ef`): recall against speed. */
  readonly hnswEf?: number
  readonly timeoutMs?: number
}

/**
 * No response, a timeout, 408, 429 and 5xx are retryable; any other status is permanent
 * (a wrong collection, dimension or filter: retrying cannot fix it).
 */
export const classifyQdrantError = (error: unknown, what: string): RetryableError | PermanentError => {
  const status = typeof error === "object" && error !== null && typeof (error as { status?: unknown }).status === "number" ? (error as { status: number }).status : undefined
  const data = typeof error === "object" && error !== null ? (error as { data?: { status?: { error?: unknown } } }).data : undefined
  const reason = typeof data?.status?.error === "string" ? data.status.error : describeError(error)
  const message = `qdrant ${what}: ${status !== undefined ? `HTTP ${status}: ` : ""}${reason}`
  return status === undefined || status === 408 || status === 429 || status >= 500
    ? new RetryableError({ message, cause: error })
    : new PermanentError({ message, cause: error })
}

export const makeQdrant = (options: QdrantIndexOptions) =>
  Effect.gen(function* () {
    const client = new QdrantClient({
      url: options.url,
      ...(options.apiKey !== undefined ? { apiKey: Redacted.value(options.apiKey) } : {}),
      timeout: options.timeoutMs ?? 30_000,
      checkCompatibility: false
    })
    const { collection } = options
    const call = <A>(what: string, run: () => Promise<A>) => Effect.tryPromise({ try: run, catch: (e) => classifyQdrantError(e, what) })
    const { exists } = yield* call("collection exists", () => client.collectionExists(collection))
    if (!exists) {
      yield* call("create collection", () => client.createCollection(collection, { vectors: { size: options.dimensions, distance: "Cosine" } }))
      // The recency window filters on event time: an indexed integer payload field.
      yield* call("create payload index", () => client.createPayloadIndex(collection, { field_name: "at", field_schema: "integer", wait: true }))
    } else {
      const info = yield* call("get collection", () => client.getCollection(collection))
      const vectors = info.config.params.vectors as { size?: number; distance?: string } | undefined
      if (vectors?.size !== options.dimensions || vectors.distance !== "Cosine") {
        return yield* new PermanentError({
          message: `qdrant collection ${collection} holds ${vectors?.size ?? "?"}-dimensional ${vectors?.distance ?? "?"} vectors; the embedder makes ${options.dimensions}-dimensional ones compared by Cosine (set QDRANT_COLLECTION to another name)`
        })
      }
    }
    const hnswEf = options.hnswEf ?? DEFAULT_EF_SEARCH
    return {
      backend: "qdrant",
      nearest: (searches) =>
        searches.length === 0
          ? Effect.succeed([])
          : Effect.map(
              call("search", () =>
                client.searchBatch(collection, {
                  searches: searches.map((s) => ({
                    vector: [...s.embedding],
                    filter: { must: [{ key: "at", range: { gte: s.from, lt: s.to } }], must_not: [{ has_id: [s.excludeId] }] },
                    limit: s.limit,
                    params: { hnsw_ef: Math.max(hnswEf, s.limit) },
                    with_vector: true,
                    with_payload: ["at"]
                  }))
                })
              ),
              (results) =>
                results.map((points) =>
                  points
                    .map((p) => ({ ideaId: String(p.id), at: Number(p.payload?.["at"]), embedding: (p.vector as Array<number>).map(Math.fround), score: p.score }))
                    .sort((a, b) => b.score - a.score || (a.ideaId < b.ideaId ? -1 : 1))
                    .map(({ score: _, ...idea }) => idea)
                )
            ),
      add: (ideas) =>
        ideas.length === 0
          ? Effect.void
          : Effect.asVoid(
              call("upsert", () =>
                client.upsert(collection, { wait: true, points: ideas.map((i) => ({ id: i.ideaId, vector: [...i.embedding], payload: { at: i.at } })) })
              )
            ),
      remove: (ideas) =>
        ideas.length === 0 ? Effect.void : Effect.asVoid(call("delete", () => client.delete(collection, { wait: true, points: ideas.map((i) => i.ideaId) })))
    } satisfies VectorIndexShape
  })

export const layerQdrant = (options: QdrantIndexOptions): Layer.Layer<VectorIndex, RetryableError | PermanentError> => Layer.effect(VectorIndex, makeQdrant(options))

// ---------------------------------------------------------------------------------------
// Configuration

/**
 * `QDRANT_URL` set: Qdrant (`QDRANT_API_KEY`, `QDRANT_COLLECTION`, default `<topology>_ideas`);
 * else `VECTOR_INDEX=redis` (needs `REDIS_URL`): Redis; else pgvector through the store
 * (`PGVECTOR_EF_SEARCH`, default 100).
 */
export const layerConfig = (topology: string): Layer.Layer<VectorIndex, unknown, Store> =>
  Layer.unwrapEffect(
    Effect.gen(function* () {
      const qdrant = Option.filter(yield* Config.option(Config.string("QDRANT_URL")), (u) => u.trim() !== "")
      if (Option.isSome(qdrant)) {
        const collection = yield* Config.string("QDRANT_COLLECTION").pipe(Config.withDefault(`${topology}_ideas`))
        const apiKey = yield* Config.option(Config.redacted("QDRANT_API_KEY"))
        yield* Effect.logInfo(`vector index: qdrant collection ${collection} at QDRANT_URL`)
        return layerQdrant({ url: qdrant.value.trim(), collection, dimensions: yield* EmbeddingDim, apiKey: Option.getOrUndefined(apiKey) })
      }
      const kind = yield* Config.literal("pgvector", "redis")("VECTOR_INDEX").pipe(Config.withDefault("pgvector" as const))
      if (kind === "redis") {
        const url = yield* Config.redacted("REDIS_URL")
        yield* Effect.logInfo("vector index: redis")
        return layerRedis({ url, topology })
      }
      const ef = yield* Config.integer("PGVECTOR_EF_SEARCH").pipe(Config.withDefault(DEFAULT_EF_SEARCH))
      return layerPgvector(ef)
    })
  )
