/**
 * The recent ideas a signal is checked against for near-duplicates (and novelty's nearest
 * idea): one service, one layer per backend.
 *
 * - pgvector (default live): the store's `ideas` table is the index (the score operator's
 *   idea upsert writes the vector, so `add` has nothing to do); `<=>` over the HNSW index,
 *   with `hnsw.ef_search` set and pgvector's iterative scan so the event-time filter does
 *   not starve the search. Approximate: its recall is measured by `npm run bench -- scoring`.
 * - memory: an in-process index for replays and backtests (which must not touch the store),
 *   and for one process that owns all scoring: an exact scan of windows of up to
 *   EXACT_SCAN_MAX ideas, LSH buckets above (see `search`).
 * - redis: the ideas' vectors in Redis, one hash per event-time day, shared by every
 *   replica, with a log per day of the ideas added (`+id`) and removed (`-id`); each
 *   replica keeps the days it read and reads only the log's new part and those vectors (one
 *   script, one round trip), and searches in process as the memory layer does. For scaling
 *   replicas out when the store is the bottleneck (an embedded PGlite is one Postgres session).
 * - qdrant (`QDRANT_URL`): a collection with the embedding size and cosine distance, the
 *   event time as an indexed payload field that filters the recency window; approximate
 *   (HNSW, `hnsw_ef` set).
 *
 * Every layer answers "the ideas with event time in [from, to), other than the signal's
 * own, nearest first"; the scorer takes the cosine itself from the returned vectors, so
 * layers that return the same ideas decide alike.
 */
import { readFileSync } from "node:fs"
import { Config, Context, Effect, Layer, Option, Redacted } from "effect"
import { QdrantClient } from "@qdrant/js-client-rest"
import { type ChainableCommander, Redis } from "ioredis"
import { describeError, PermanentError, RetryableError } from "../../runtime/errors.ts"
import { makeKeys } from "../../runtime/keys.ts"
import { execMulti } from "../../runtime/redisMulti.ts"
import { EmbeddingDim, type SqlError } from "../../runtime/sql.ts"
import { type SparseForm, sparseOf } from "./embedder.ts"
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
// The exact search shared by the in-process and Redis layers

interface Entry {
  readonly ideaId: string
  readonly at: number
  readonly embedding: ReadonlyArray<number>
  readonly inverseNorm: number
  /** Its non-zero terms, ascending: what an LSH candidate is ranked by. */
  readonly sparse: SparseForm
}

const entryOf = (ideaId: string, at: number, embedding: ReadonlyArray<number>): Entry => {
  const sparse = sparseOf(embedding)
  return { ideaId, at, embedding, inverseNorm: sparse.normSq > 0 ? 1 / Math.sqrt(sparse.normSq) : 0, sparse }
}

/**
 * One event-time day of ideas with an inverted index: per dimension, the ideas with a
 * non-zero component there. The built-in hashing embedder fills about a fifth of the
 * dimensions of a short title, so a query touches about a fifth of a fifth of the products
 * a dense scan would (the rest are zero and leave every sum unchanged).
 */
interface Day {
  readonly entries: Array<Entry>
  /** Per dimension: positions in `entries` and their components, in insertion order. */
  readonly postings: Array<{ readonly ids: Array<number>; readonly values: Array<number> } | undefined>
  /** The LSH buckets of the entries, built by the first search that needs them, then kept up to date. */
  buckets?: Buckets
}

const dayOf = (entries: ReadonlyArray<Entry>): Day => {
  const day: Day = { entries: [], postings: [] }
  for (const e of entries) addTo(day, e)
  return day
}

const addTo = (day: Day, entry: Entry) => {
  const position = day.entries.length
  day.entries.push(entry)
  const v = entry.embedding
  for (let d = 0; d < v.length; d++) {
    const x = v[d]!
    if (x === 0) continue
    const list = (day.postings[d] ??= { ids: [], values: [] })
    list.ids.push(position)
    list.values.push(x)
  }
  if (day.buckets !== undefined) bucketIn(day.buckets, signatureOf(v), position)
}

// ---------------------------------------------------------------------------------------
// Locality-sensitive hashing, for windows too large to scan

/**
 * Windows of more ideas than this are searched through LSH buckets instead of exactly: the
 * exact scan costs in proportion to the window (a busy day live holds ~9,000 ideas in the
 * 3-day window, ~0.4 ms per search), the LSH search in proportion to the ideas that share
 * a bucket with the query. Which way a window is searched, and what LSH finds in it, depend
 * only on the ideas in it, never on the order they were added in: replicas and replays agree.
 */
export const EXACT_SCAN_MAX = 1_000

export interface IndexOptions {
  /** Windows of more ideas go through LSH (default EXACT_SCAN_MAX); Infinity scans every window exactly, the reference the bench measures recall against. */
  readonly exactScanMax?: number
}

/**
 * Random-hyperplane LSH (SimHash): a plane's bit is the sign of the vector's projection on
 * it, and two vectors at angle θ agree on a bit with probability 1 - θ/π. A band is
 * BAND_BITS planes; two vectors share a bucket when they agree on a whole band. With 24
 * bands of 12 bits, drawn from 96 planes, ideas at cosine 0.9 (the merge threshold) share a
 * bucket with the query almost always, ideas at cosine 0.2 rarely: the bench measures
 * the recall against the exact scan. Candidates are then ranked by their exact similarity.
 */
const PLANES = 96
const BANDS = 24
const BAND_BITS = 12

/** Per dimension count: a ±1 sign per (dimension, plane), and each band's planes; seeded, the same everywhere. */
const lshTables = new Map<number, { readonly signs: Float64Array; readonly bands: ReadonlyArray<Int32Array> }>()

const tablesFor = (dimensions: number) => {
  let tables = lshTables.get(dimensions)
  if (tables === undefined) {
    let state = 0x9e3779b9
    // xorshift32: a fixed sequence, so every process draws the same planes and bands.
    const next = () => {
      state ^= state << 13
      state ^= state >>> 17
      state ^= state << 5
      return state >>> 0
    }
    const signs = new Float64Array(dimensions * PLANES)
    for (let i = 0; i < signs.length; i++) signs[i] = next() & 1 ? 1 : -1
    const bands = Array.from({ length: BANDS }, () => {
      // BAND_BITS distinct planes per band (a partial Fisher-Yates shuffle).
      const planes = Int32Array.from({ length: PLANES }, (_, i) => i)
      for (let i = 0; i < BAND_BITS; i++) {
        const j = i + (next() % (PLANES - i))
        ;[planes[i], planes[j]] = [planes[j]!, planes[i]!]
      }
      return planes.slice(0, BAND_BITS)
    })
    lshTables.set(dimensions, (tables = { signs, bands }))
  }
  return tables
}

const projection = new Float64Array(PLANES)
// A signal searched as a query is often added as an idea next, as the same array: hashed once.
const signatures = new WeakMap<ReadonlyArray<number>, Int32Array>()

/** The vector's bucket in each band (a band's bits as an integer), from its non-zero components in ascending order. */
const signatureOf = (v: ReadonlyArray<number>): Int32Array => {
  const known = signatures.get(v)
  if (known !== undefined) return known
  const { signs, bands } = tablesFor(v.length)
  const { dims, values } = sparseOf(v)
  const sum = projection
  sum.fill(0)
  for (let j = 0; j < dims.length; j++) {
    const x = values[j]!
    const row = dims[j]! * PLANES
    for (let p = 0; p < PLANES; p++) sum[p] = sum[p]! + signs[row + p]! * x
  }
  const signature = new Int32Array(BANDS)
  for (let b = 0; b < BANDS; b++) {
    const planes = bands[b]!
    let key = 0
    for (let i = 0; i < BAND_BITS; i++) key = (key << 1) | (sum[planes[i]!]! >= 0 ? 1 : 0)
    signature[b] = key
  }
  signatures.set(v, signature)
  return signature
}

/**
 * A day's LSH buckets as chains in typed arrays: `heads[band * 2^BAND_BITS + key]` is the
 * last entry put in that bucket (position + 1; 0 ends a chain), `next[position * BANDS + band]`
 * the one before it.
 */
interface Buckets {
  readonly heads: Int32Array
  next: Int32Array
}

const bucketIn = (buckets: Buckets, signature: Int32Array, position: number) => {
  if (buckets.next.length < (position + 1) * BANDS) {
    const grown = new Int32Array(Math.max(1_024, (position + 1) * 2) * BANDS)
    grown.set(buckets.next)
    buckets.next = grown
  }
  for (let b = 0; b < BANDS; b++) {
    const head = (b << BAND_BITS) + signature[b]!
    buckets.next[position * BANDS + b] = buckets.heads[head]!
    buckets.heads[head] = position + 1
  }
}

const bucketsOf = (day: Day): Buckets => {
  if (day.buckets === undefined) {
    const buckets: Buckets = { heads: new Int32Array(BANDS << BAND_BITS), next: new Int32Array(0) }
    day.entries.forEach((e, position) => bucketIn(buckets, signatureOf(e.embedding), position))
    day.buckets = buckets
  }
  return day.buckets
}

// ---------------------------------------------------------------------------------------
// Search

// Grown as days grow: one accumulator (exact scan) or one mark (LSH) per idea of the day being searched.
let accumulator = new Float64Array(1_024)
let marks = new Uint32Array(1_024)
let mark = 0
// The query of the LSH search, dense.
let dense = new Float64Array(0)

interface Ranked {
  readonly entry: Entry
  readonly similarity: number
}

/**
 * The `limit` ideas of the window nearest to the query, by dot product over stored norms
 * (the scorer takes the exact cosine of the few returned), keeping only a top-k list (ties
 * by id). Windows of up to EXACT_SCAN_MAX ideas are scanned exactly: products are summed in
 * ascending dimension order, as a dense scan would, so results are exactly a dense scan's.
 * Larger windows rank only the ideas that share an LSH bucket with the query, with the same
 * sums: an idea found either way has the same similarity.
 */
const search = (days: ReadonlyArray<Day>, s: NeighbourSearch, exactScanMax: number): ReadonlyArray<IndexedIdea> => {
  const query = s.embedding
  const top: Array<Ranked> = []
  // What an idea must reach to enter a full list (ties then go by id).
  let floor = -Infinity
  const worse = (a: Ranked, similarity: number, id: string) => a.similarity < similarity || (a.similarity === similarity && a.entry.ideaId > id)
  const consider = (entry: Entry, similarity: number) => {
    if (similarity < floor || entry.at < s.from || entry.at >= s.to || entry.ideaId === s.excludeId) return
    if (top.length === s.limit && !worse(top[top.length - 1]!, similarity, entry.ideaId)) return
    let at = top.length
    while (at > 0 && worse(top[at - 1]!, similarity, entry.ideaId)) at--
    top.splice(at, 0, { entry, similarity })
    if (top.length > s.limit) top.pop()
    if (top.length === s.limit) floor = top[top.length - 1]!.similarity
  }
  const size = days.reduce((n, day) => n + day.entries.length, 0)
  if (size <= exactScanMax) {
    const { dims } = sparseOf(query)
    for (const { entries, postings } of days) {
      if (accumulator.length < entries.length) accumulator = new Float64Array(entries.length * 2)
      const dot = accumulator
      dot.fill(0, 0, entries.length)
      for (const d of dims) {
        const list = postings[d]
        if (list === undefined) continue
        const q = query[d]!
        const { ids, values } = list
        for (let j = 0; j < ids.length; j++) {
          const i = ids[j]!
          dot[i] = dot[i]! + q * values[j]!
        }
      }
      for (let i = 0; i < entries.length; i++) consider(entries[i]!, dot[i]! * entries[i]!.inverseNorm)
    }
  } else {
    const signature = signatureOf(query)
    // Typed, so the products load unboxed doubles (and locals: module variables are reloaded on every use).
    if (dense.length !== query.length) dense = new Float64Array(query.length)
    const q = dense
    for (let d = 0; d < query.length; d++) q[d] = query[d]!
    for (const day of days) {
      const { heads, next } = bucketsOf(day)
      const { entries } = day
      if (marks.length < entries.length) marks = new Uint32Array(entries.length * 2)
      const seen = marks
      // A fresh mark per day searched: an idea in several of the query's buckets is ranked once.
      if (++mark === 0xffffffff) {
        seen.fill(0)
        mark = 1
      }
      const current = mark
      for (let b = 0; b < BANDS; b++) {
        for (let at = heads[(b << BAND_BITS) + signature[b]!]!; at !== 0; at = next[(at - 1) * BANDS + b]!) {
          const i = at - 1
          if (seen[i] === current) continue
          seen[i] = current
          const entry = entries[i]!
          // A day at the window's edge holds ideas outside it: no product for those.
          if (entry.at < s.from || entry.at >= s.to) continue
          // Over the idea's non-zero terms in ascending order: the exact scan's sum, product for product.
          const { dims: ds, values } = entry.sparse
          let dot = 0
          for (let j = 0; j < ds.length; j++) dot += q[ds[j]!]! * values[j]!
          consider(entry, dot * entry.inverseNorm)
        }
      }
    }
  }
  return top.map(({ entry }) => ({ ideaId: entry.ideaId, at: entry.at, embedding: entry.embedding }))
}

/** The days of `days` that overlap [from, to), oldest first. */
const daysOf = (days: ReadonlyMap<number, Day>, from: number, to: number): ReadonlyArray<Day> => {
  const out: Array<Day> = []
  for (let b = bucketOf(from); b <= bucketOf(to - 1); b++) {
    const day = days.get(b)
    if (day !== undefined) out.push(day)
  }
  return out
}

// ---------------------------------------------------------------------------------------
// In-process

/**
 * An in-process index by event-time day, so a search reads only its window's days: an exact
 * scan of windows of up to `exactScanMax` ideas, LSH above (see `search`).
 * Days older than the oldest window still searched (with a day to spare) are dropped, so
 * a long replay holds only recent vectors.
 */
export const makeMemory = ({ exactScanMax = EXACT_SCAN_MAX }: IndexOptions = {}): VectorIndexShape => {
  const days = new Map<number, Day>()
  const ids = new Set<string>()
  let oldestNeeded = -Infinity
  return {
    backend: "memory",
    nearest: (searches) =>
      Effect.sync(() => {
        for (const s of searches) oldestNeeded = Math.max(oldestNeeded, s.from - DAY)
        return searches.map((s) => search(daysOf(days, s.from, s.to), s, exactScanMax))
      }),
    add: (added) =>
      Effect.sync(() => {
        for (const [b, day] of days) {
          if ((b + 1) * DAY > oldestNeeded) continue
          for (const e of day.entries) ids.delete(e.ideaId)
          days.delete(b)
        }
        for (const idea of added) {
          if (ids.has(idea.ideaId)) continue
          ids.add(idea.ideaId)
          const b = bucketOf(idea.at)
          let day = days.get(b)
          if (day === undefined) days.set(b, (day = dayOf([])))
          addTo(day, entryOf(idea.ideaId, idea.at, idea.embedding))
        }
      }),
    remove: (removed) =>
      Effect.sync(() => {
        const gone = new Set(removed.map((r) => r.ideaId).filter((id) => ids.delete(id)))
        if (gone.size === 0) return
        for (const [b, day] of days) {
          if (day.entries.some((e) => gone.has(e.ideaId))) days.set(b, dayOf(day.entries.filter((e) => !gone.has(e.ideaId))))
        }
      })
  }
}

export const layerMemory: Layer.Layer<VectorIndex> = Layer.sync(VectorIndex, () => makeMemory())

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

export interface RedisIndexOptions extends IndexOptions {
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

const LOAD_LUA = readFileSync(new URL("./lua/vector-load.lua", import.meta.url), "utf8")

interface IndexRedis extends Redis {
  /** The days' unread log and its vectors (lua/vector-load.lua), bulk replies as Buffers. */
  desainzVectorLoadBuffer(numKeys: number, ...args: ReadonlyArray<string | number>): Promise<ReadonlyArray<unknown>>
}

export const makeRedis = (options: RedisIndexOptions) =>
  Effect.gen(function* () {
    const redis = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const r = new Redis(Redacted.value(options.url), { maxRetriesPerRequest: 3 }) as IndexRedis
        r.on("error", () => undefined) // surfaced by the failing command, whose batch is retried
        r.defineCommand("desainzVectorLoad", { lua: LOAD_LUA })
        return r
      }),
      (r) => Effect.promise(() => r.quit().catch(() => r.disconnect()))
    )
    const keys = makeKeys(options.topology)
    const dayKey = (bucket: number) => keys.state("score", `vectors:${bucket}`)
    const logKey = (bucket: number) => keys.state("score", `vectors:${bucket}:log`)
    const retainMs = Math.max(1, Math.round(options.retainMs ?? 30 * DAY))
    const exactScanMax = options.exactScanMax ?? EXACT_SCAN_MAX
    // Per day: the ideas read, and how much of the day's log they reflect.
    const days = new Map<number, Day>()
    const logRead = new Map<number, number>()
    // One read of the logs at a time: a reply is applied against the offsets it was asked from
    // (replicas in one process share this index; overlapping reads would apply stale offsets).
    const reading = yield* Effect.makeSemaphore(1)

    const load = (buckets: ReadonlyArray<number>) =>
      Effect.gen(function* () {
        const keyArgs = buckets.flatMap((b) => [logKey(b), dayKey(b)])
        const replies = (yield* Effect.tryPromise({
          try: () => redis.desainzVectorLoadBuffer(keyArgs.length, ...keyArgs, ...buckets.map((b) => logRead.get(b) ?? 0)),
          catch: retryable("read")
        })) as ReadonlyArray<
          readonly [number, number, ReadonlyArray<Buffer>, ReadonlyArray<Buffer>, ReadonlyArray<Buffer | null>]
        >
        buckets.forEach((b, i) => {
          const [length, from, logged, added, vectors] = replies[i]!
          // The log began again (it expired): read the day afresh.
          if (from < (logRead.get(b) ?? 0)) {
            days.delete(b)
            logRead.delete(b)
          }
          if (length === from) return
          const found = new Map<string, Buffer>()
          added.forEach((id, j) => vectors[j] != null && found.set(id.toString(), vectors[j]!))
          let day = days.get(b) ?? dayOf([])
          const present = new Set(day.entries.map((e) => e.ideaId))
          const removed = new Set<string>()
          for (const raw of logged) {
            const event = raw.toString()
            const id = event.slice(1)
            if (event.startsWith("-")) {
              if (present.delete(id)) removed.add(id)
            } else if (!present.has(id) && found.has(id)) {
              if (removed.delete(id)) day = dayOf(day.entries.filter((e) => e.ideaId !== id))
              present.add(id)
              addTo(day, decodeEntry(id, found.get(id)!))
            }
          }
          if (removed.size > 0) day = dayOf(day.entries.filter((e) => !removed.has(e.ideaId)))
          days.set(b, day)
          logRead.set(b, length)
        })
      })

    const nearest: VectorIndexShape["nearest"] = (searches) =>
      Effect.gen(function* () {
        if (searches.length === 0) return []
        const first = bucketOf(Math.min(...searches.map((s) => s.from)))
        const last = bucketOf(Math.max(...searches.map((s) => s.to)) - 1)
        const buckets = Array.from({ length: Math.max(0, last - first + 1) }, (_, i) => first + i)
        // The search runs right after, with no yield in between: no other read can interleave.
        yield* reading.withPermits(1)(
          Effect.andThen(
            load(buckets),
            Effect.sync(() => {
              for (const b of [...days.keys()]) {
                if (b >= first - 1) continue
                days.delete(b)
                logRead.delete(b)
              }
            })
          )
        )
        return searches.map((s) => search(daysOf(days, s.from, s.to), s, exactScanMax))
      })

    const execAll = (pipeline: ChainableCommander) => Effect.asVoid(Effect.tryPromise({ try: () => execMulti(pipeline), catch: retryable("write") }))

    const add: VectorIndexShape["add"] = (ideas) => {
      if (ideas.length === 0) return Effect.void
      const byDay = new Map<number, Array<IndexedIdea>>()
      for (const idea of ideas) {
        const list = byDay.get(bucketOf(idea.at))
        if (list === undefined) byDay.set(bucketOf(idea.at), [idea])
        else list.push(idea)
      }
      const pipeline = redis.multi()
      for (const [b, list] of byDay) {
        pipeline.hset(dayKey(b), ...list.flatMap((i) => [i.ideaId, encodeEntry(i)]))
        pipeline.rpush(logKey(b), ...list.map((i) => `+${i.ideaId}`))
        pipeline.pexpire(dayKey(b), retainMs)
        pipeline.pexpire(logKey(b), retainMs)
      }
      return execAll(pipeline)
    }

    const remove: VectorIndexShape["remove"] = (ideas) => {
      if (ideas.length === 0) return Effect.void
      const pipeline = redis.multi()
      for (const i of ideas) {
        pipeline.hdel(dayKey(bucketOf(i.at)), i.ideaId)
        pipeline.rpush(logKey(bucketOf(i.at)), `-${i.ideaId}`)
        pipeline.pexpire(logKey(bucketOf(i.at)), retainMs)
      }
      return execAll(pipeline)
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
    const exists = call("collection exists", () => client.collectionExists(collection).then((r) => r.exists))
    if (!(yield* exists)) {
      // Replicas starting together: the one that creates it second gets Qdrant's "already exists".
      yield* call("create collection", () => client.createCollection(collection, { vectors: { size: options.dimensions, distance: "Cosine" } })).pipe(
        Effect.catchAll((error) => Effect.flatMap(exists, (now) => (now ? Effect.void : Effect.fail(error))))
      )
    }
    const info = yield* call("get collection", () => client.getCollection(collection))
    const vectors = info.config.params.vectors as { size?: number; distance?: string } | undefined
    if (vectors?.size !== options.dimensions || vectors.distance !== "Cosine") {
      return yield* new PermanentError({
        message: `qdrant collection ${collection} holds ${vectors?.size ?? "?"}-dimensional ${vectors?.distance ?? "?"} vectors; the embedder makes ${options.dimensions}-dimensional ones compared by Cosine (set QDRANT_COLLECTION to another name)`
      })
    }
    // The recency window filters on event time: an indexed integer payload field (made here
    // whenever it is missing, so a start that stopped after creating the collection is repaired).
    if (info.payload_schema?.["at"] === undefined) {
      yield* call("create payload index", () => client.createPayloadIndex(collection, { field_name: "at", field_schema: "integer", wait: true }))
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
