/**
 * One contract for every VectorIndex layer: in-process, pgvector (PGlite with the HNSW
 * index, through the store), Redis (a real redis-server) and Qdrant (the REST client against
 * test/fakes/qdrant.ts, which speaks Qdrant's wire format; no real Qdrant runs here).
 *
 * The contract: a search returns ideas of its event-time window [from, to) only, never the
 * excluded one, nearest first (ties by id), at most `limit`; adding an idea twice keeps one;
 * a removed idea (merged away) is never found again.
 */
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { Context, Effect, Layer, Redacted, Scope } from "effect"
import { Redis } from "ioredis"
import { describe, expect, inject, it } from "vitest"
import { prng } from "../operators/backtest/search.ts"
import { deriveEventId } from "../runtime/envelope.ts"
import { ideaIdOf, signalIdOf } from "../operators/ids.ts"
import { cosine, hashEmbedding } from "../operators/scoring/embedder.ts"
import { bucketOf, DAY } from "../operators/scoring/state.ts"
import { makeKeys } from "../runtime/keys.ts"
import {
  classifyQdrantError,
  EXACT_SCAN_MAX,
  type IndexedIdea,
  layerMemory,
  layerPgvector,
  layerQdrant,
  layerRedis,
  makeMemory,
  VectorIndex,
  type VectorIndexShape
} from "../operators/scoring/vectorIndex.ts"
import { Store } from "../operators/store/store.ts"
import { PermanentError, RetryableError } from "../runtime/errors.ts"
import { migrate, Sql } from "../runtime/sql.ts"
import { startQdrantFake } from "./fakes/qdrant.ts"
import { uniqueName } from "./support/harness.ts"
import { syntheticSignals } from "./support/signals.ts"

const DIM = 384
const T0 = Date.parse("2026-03-01T00:00:00Z")

const unit = (v: ReadonlyArray<number>) => {
  const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0))
  return v.map((x) => Math.fround(x / n))
}

/** 60 ideas over 6 days: random directions, plus a few near-duplicates of the first ones. */
const IDEAS: ReadonlyArray<IndexedIdea> = (() => {
  const random = prng(3)
  const out: Array<IndexedIdea> = []
  for (let i = 0; i < 60; i++) {
    const base = i % 10 === 9 ? out[i - 9]!.embedding : undefined
    const embedding = unit(Array.from({ length: DIM }, (_, d) => (base?.[d] ?? 0) + (base ? 0.05 : 1) * (random() - 0.5)))
    out.push({ ideaId: ideaIdOf(deriveEventId("vi", `idea-${i}`)), at: T0 + Math.floor((i / 60) * 6 * DAY), embedding })
  }
  return out
})()

/** What every layer must answer: the exact nearest of the window. */
const expected = (query: ReadonlyArray<number>, from: number, to: number, excludeId: string, limit: number, removed?: string) =>
  IDEAS.filter((i) => i.at >= from && i.at < to && i.ideaId !== excludeId && i.ideaId !== removed)
    .map((i) => ({ id: i.ideaId, similarity: cosine(query, i.embedding) }))
    .sort((a, b) => b.similarity - a.similarity || (a.id < b.id ? -1 : 1))
    .slice(0, limit)
    .map((i) => i.id)

interface LayerCase {
  readonly name: string
  /** The index, and how ideas get into it (the pgvector layer's ideas are the store's rows). */
  readonly make: Effect.Effect<
    {
      readonly index: VectorIndexShape
      readonly insert: (ideas: ReadonlyArray<IndexedIdea>) => Effect.Effect<void, unknown>
      readonly drop: (ideas: ReadonlyArray<IndexedIdea>) => Effect.Effect<void, unknown>
    },
    unknown,
    Scope.Scope
  >
}

const viaIndex = (layer: Layer.Layer<VectorIndex, unknown>) =>
  Effect.map(Layer.build(layer), (ctx) => {
    const index = Context.get(ctx, VectorIndex)
    return { index, insert: index.add, drop: index.remove }
  })

const pgvectorCase = Effect.gen(function* () {
  const dir = yield* Effect.acquireRelease(
    Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "desainz-vi-"))),
    (d) => Effect.promise(() => fs.rm(d, { recursive: true, force: true }))
  )
  const ctx = yield* Layer.build(
    layerPgvector(100).pipe(
      Layer.provideMerge(Store.layer),
      Layer.provideMerge(Layer.effectDiscard(migrate()).pipe(Layer.provideMerge(Sql.layerEmbedded({ dataDir: path.join(dir, "pg"), port: 0 }))))
    )
  )
  const store = Context.get(ctx, Store)
  const { client } = Context.get(ctx, Sql)
  return {
    index: Context.get(ctx, VectorIndex),
    // As the score operator merges an idea away afterwards (absorbIdea; the layer's remove has
    // nothing to do): with a merge into it recorded first, so its row stays, archived.
    drop: (ideas: ReadonlyArray<IndexedIdea>) =>
      Effect.gen(function* () {
        for (const i of ideas) {
          const signalId = signalIdOf(i.ideaId.replaceAll("-", ""))
          yield* store.recordMerges([{ mergedId: deriveEventId("vi-merge", i.ideaId), ideaId: i.ideaId, signalId, similarity: 0.95, eventAt: new Date(i.at) }])
          const into = IDEAS.find((other) => other.ideaId !== i.ideaId)!
          expect(yield* store.absorbIdea({ ideaId: i.ideaId, into: into.ideaId, similarity: 0.9, eventAt: new Date(i.at) })).toBe(true)
          const [row] = yield* Effect.promise(() => client`select status from ideas where id = ${i.ideaId}`)
          expect(row).toMatchObject({ status: "archived" })
        }
        yield* Context.get(ctx, VectorIndex).remove(ideas)
      }),
    insert: (ideas: ReadonlyArray<IndexedIdea>) =>
      Effect.gen(function* () {
        const rows = ideas.map((i) => ({ i, signalId: signalIdOf(i.ideaId.replaceAll("-", "")) }))
        yield* store.upsertSignals(
          rows.map(({ i, signalId }) => ({ id: signalId, content: i.ideaId, source: "test", capturedAt: new Date(i.at), metadata: {}, contentHash: i.ideaId.replaceAll("-", "") }))
        )
        yield* store.upsertIdeas(
          rows.map(({ i, signalId }) => ({ id: i.ideaId, signalId, title: "t", description: "d", embedding: i.embedding, score: 0.5, factors: {}, weightsVersion: 1, eventAt: new Date(i.at) }))
        )
      })
  }
})

const cases: ReadonlyArray<LayerCase> = [
  { name: "memory", make: viaIndex(layerMemory) },
  { name: "pgvector (PGlite, HNSW)", make: pgvectorCase },
  { name: "redis", make: viaIndex(layerRedis({ url: Redacted.make(inject("redisUrl")), topology: uniqueName("vi") })) },
  {
    name: "qdrant (fake REST server)",
    make: Effect.flatMap(startQdrantFake(), (fake) => viaIndex(layerQdrant({ url: fake.url, collection: uniqueName("ideas"), dimensions: DIM })))
  }
]

describe.each(cases)("VectorIndex contract: $name", ({ make }) => {
  it("returns the nearest ideas of the window only, without the excluded one, nearest first; adding twice keeps one", async () => {
    const result = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const { index, insert, drop } = yield* make
          expect(yield* index.nearest([])).toEqual([])
          yield* insert(IDEAS.slice(0, 40))
          yield* insert(IDEAS.slice(30)) // overlaps: 30..39 twice
          const searches = [
            // a near-duplicate's query: its original must come first
            { embedding: IDEAS[19]!.embedding, from: T0 + DAY, to: T0 + 4 * DAY, excludeId: IDEAS[19]!.ideaId, limit: 5 },
            { embedding: IDEAS[0]!.embedding, from: T0, to: T0 + 2 * DAY, excludeId: IDEAS[0]!.ideaId, limit: 3 },
            { embedding: IDEAS[55]!.embedding, from: T0 + 3 * DAY, to: T0 + 6 * DAY, excludeId: "00000000-0000-4000-8000-000000000000", limit: 50 },
            // an empty window
            { embedding: IDEAS[5]!.embedding, from: T0 + 10 * DAY, to: T0 + 11 * DAY, excludeId: IDEAS[5]!.ideaId, limit: 5 }
          ]
          const found = yield* index.nearest(searches)
          // Idea 10 merged away: the near-duplicate's search no longer finds it.
          yield* drop([IDEAS[10]!])
          const [afterRemove] = yield* index.nearest([searches[0]!])
          return { searches, found, afterRemove: afterRemove! }
        })
      )
    )
    result.searches.forEach((s, k) => {
      const got = result.found[k]!
      expect(got.map((i) => i.ideaId)).toEqual(expected(s.embedding, s.from, s.to, s.excludeId, s.limit))
      for (const idea of got) {
        expect(idea.at).toBeGreaterThanOrEqual(s.from)
        expect(idea.at).toBeLessThan(s.to)
        const original = IDEAS.find((i) => i.ideaId === idea.ideaId)!
        expect(idea.at).toBe(original.at)
        expect(cosine(idea.embedding, original.embedding)).toBeGreaterThan(0.999999)
      }
    })
    // The near-duplicate (idea 19 of idea 10) is found, with a cosine above a merge threshold of 0.9.
    expect(result.found[0]![0]!.ideaId).toBe(IDEAS[10]!.ideaId)
    expect(cosine(IDEAS[19]!.embedding, result.found[0]![0]!.embedding)).toBeGreaterThan(0.9)
    expect(result.found[3]).toEqual([])
    const s0 = result.searches[0]!
    expect(result.afterRemove.map((i) => i.ideaId)).toEqual(expected(s0.embedding, s0.from, s0.to, s0.excludeId, s0.limit, IDEAS[10]!.ideaId))
  }, 120_000)
})

describe("Redis layer", () => {
  it("fails a write whose command failed inside its transaction, so the batch is retried, not dropped", async () => {
    const topology = uniqueName("vi-fail")
    const idea = IDEAS[0]!
    // A key of the wrong type: HSET and HDEL fail at EXEC, which itself succeeds.
    const day = makeKeys(topology).state("score", `vectors:${bucketOf(idea.at)}`)
    const redis = new Redis(inject("redisUrl"))
    await redis.set(day, "not a hash").finally(() => redis.quit())
    const result = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const index = Context.get(yield* Layer.build(layerRedis({ url: Redacted.make(inject("redisUrl")), topology })), VectorIndex)
          return { add: yield* Effect.either(index.add([idea])), remove: yield* Effect.either(index.remove([idea])) }
        })
      )
    )
    for (const outcome of [result.add, result.remove]) {
      expect(outcome._tag).toBe("Left")
      if (outcome._tag === "Left") {
        expect(outcome.left).toBeInstanceOf(RetryableError)
        expect(outcome.left.message).toContain("WRONGTYPE")
      }
    }
  })
})

describe("Qdrant layer", () => {
  it("creates the collection with the embedding size and cosine distance and an indexed event-time field, and refuses one of another size", async () => {
    const out = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const fake = yield* startQdrantFake()
          yield* Layer.build(layerQdrant({ url: fake.url, collection: "ideas", dimensions: DIM }))
          const created = fake.collections.get("ideas")!
          // A second start finds it and checks it; another size is a clear, permanent error.
          yield* Layer.build(layerQdrant({ url: fake.url, collection: "ideas", dimensions: DIM }))
          const refused = yield* Effect.flip(Layer.build(layerQdrant({ url: fake.url, collection: "ideas", dimensions: 8 })))
          return { created: { size: created.size, distance: created.distance, schema: created.payloadSchema }, refused, requests: fake.requests.map((r) => `${r.method} ${r.path}`) }
        })
      )
    )
    expect(out.created).toEqual({ size: DIM, distance: "Cosine", schema: { at: { data_type: "integer" } } })
    expect(out.refused).toBeInstanceOf(PermanentError)
    expect(out.refused.message).toMatch(/384-dimensional Cosine.*8-dimensional/)
    expect(out.requests.slice(0, 4)).toEqual(["GET /collections/ideas/exists", "PUT /collections/ideas", "GET /collections/ideas", "PUT /collections/ideas/index"])
  })

  it("starts beside another replica creating the same collection, and adds a missing event-time index", async () => {
    const out = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const fake = yield* startQdrantFake()
          const start = (collection: string) => Layer.build(layerQdrant({ url: fake.url, collection, dimensions: DIM }))
          yield* Effect.all([start("ideas"), start("ideas")], { concurrency: "unbounded" })
          // A start that stopped between creating the collection and its payload index.
          fake.collections.set("half", { size: DIM, distance: "Cosine", points: new Map(), payloadSchema: {} })
          yield* start("half")
          return { statuses: fake.statuses, ideas: fake.collections.get("ideas")!.payloadSchema, half: fake.collections.get("half")!.payloadSchema }
        })
      )
    )
    // Both saw no collection and created it; the second got Qdrant's "already exists".
    expect(out.statuses).toContain(400)
    expect(out.ideas).toEqual({ at: { data_type: "integer" } })
    expect(out.half).toEqual({ at: { data_type: "integer" } })
  })

  it("classifies failures: 5xx and 429 retryable, other 4xx permanent with Qdrant's reason", async () => {
    const out = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const fake = yield* startQdrantFake()
          const index = Context.get(yield* Layer.build(layerQdrant({ url: fake.url, collection: "c", dimensions: DIM })), VectorIndex)
          const search = [{ embedding: IDEAS[0]!.embedding, from: 0, to: 1, excludeId: IDEAS[0]!.ideaId, limit: 1 }]
          fake.inject(() => new Response(JSON.stringify({ status: { error: "Service internal error: boom" }, time: 0 }), { status: 500 }))
          const busy = yield* Effect.flip(index.nearest(search))
          const wrongDim = yield* Effect.flip(index.add([{ ideaId: IDEAS[0]!.ideaId, at: 0, embedding: [1, 0, 0] }]))
          return { busy, wrongDim }
        })
      )
    )
    expect(out.busy).toBeInstanceOf(RetryableError)
    expect(out.wrongDim).toBeInstanceOf(PermanentError)
    expect(out.wrongDim.message).toMatch(/HTTP 400: Wrong input: Vector dimension error: expected dim: 384, got 3/)
    expect(classifyQdrantError(new Error("ECONNREFUSED"), "search")).toBeInstanceOf(RetryableError)
  })
})

describe("large windows: LSH instead of the exact scan (in-process and Redis layers)", () => {
  // 1,500 ideas in one day, more than EXACT_SCAN_MAX: synthetic titles through the built-in embedder.
  const titles = syntheticSignals({ count: 1_500, days: 1, seed: 3 }).map((s) => s.content)
  const ideas: ReadonlyArray<IndexedIdea> = titles.map((t, i) => ({
    ideaId: ideaIdOf(deriveEventId("lsh", `idea-${i}`)),
    at: T0 + i * 50_000,
    embedding: hashEmbedding(t, DIM)
  }))
  // Queries: 150 re-posts of ideas with a word added (near-duplicates, cosine 0.90 to 0.98), and 150 titles of the same vocabulary not in the index.
  const queries = [
    ...Array.from({ length: 150 }, (_, k) => hashEmbedding(`${titles[k * 10]!} tee`, DIM)),
    ...syntheticSignals({ count: 150, days: 1, seed: 4 }).map((s) => hashEmbedding(`${s.content} again`, DIM))
  ].map((embedding) => ({ embedding, from: T0, to: T0 + DAY, excludeId: "00000000-0000-4000-8000-000000000000", limit: 5 }))

  it("finds what the exact scan finds at the merge threshold, whatever the insertion order, alike on both layers", async () => {
    expect(ideas.length).toBeGreaterThan(EXACT_SCAN_MAX)
    const result = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const exact = makeMemory({ exactScanMax: Infinity })
          yield* exact.add(ideas)
          const inOrder = makeMemory()
          yield* inOrder.add(ideas)
          // Reversed, in uneven chunks, with a search in between (buckets built, then added to).
          const reversed = makeMemory()
          const backwards = [...ideas].reverse()
          yield* reversed.add(backwards.slice(0, 1_100))
          yield* reversed.nearest(queries.slice(0, 1))
          for (let i = 1_100; i < backwards.length; i += 7) yield* reversed.add(backwards.slice(i, i + 7))
          const redis = Context.get(yield* Layer.build(layerRedis({ url: Redacted.make(inject("redisUrl")), topology: uniqueName("lsh") })), VectorIndex)
          yield* redis.add(ideas.slice(0, 1_100))
          yield* redis.nearest(queries.slice(0, 1))
          yield* redis.add(ideas.slice(1_100))
          return {
            exact: yield* exact.nearest(queries),
            inOrder: yield* inOrder.nearest(queries),
            reversed: yield* reversed.nearest(queries),
            redis: yield* redis.nearest(queries)
          }
        })
      )
    )
    const ids = (found: ReadonlyArray<ReadonlyArray<IndexedIdea>>) => found.map((list) => list.map((i) => i.ideaId))
    expect(ids(result.reversed)).toEqual(ids(result.inOrder))
    expect(ids(result.redis)).toEqual(ids(result.inOrder))
    // Of the queries whose exact nearest idea is at or above a merge threshold of 0.9, the share LSH also ranks first.
    const atThreshold = queries.flatMap((q, k) => {
      const truth = result.exact[k]![0]
      return truth !== undefined && cosine(q.embedding, truth.embedding) >= 0.9 ? [k] : []
    })
    expect(atThreshold.length).toBeGreaterThanOrEqual(145)
    const found = atThreshold.filter((k) => result.inOrder[k]![0]?.ideaId === result.exact[k]![0]!.ideaId)
    expect(found.length / atThreshold.length).toBeGreaterThanOrEqual(0.95)
    // Below the threshold LSH is approximate: it ranks only the ideas sharing a bucket, nearest first, by the exact similarity.
    expect(ids(result.inOrder)).not.toEqual(ids(result.exact))
    queries.forEach((q, k) => {
      const similarities = result.inOrder[k]!.map((i) => cosine(q.embedding, i.embedding))
      expect(similarities).toEqual([...similarities].sort((a, b) => b - a))
      expect(similarities[0] ?? -1).toBeLessThanOrEqual(cosine(q.embedding, result.exact[k]![0]!.embedding))
    })
  }, 120_000)

  it("Redis: a second replica reads another's ideas as they come, a busy day in one read, a day afresh after its log expired, and searches at once", async () => {
    const topology = uniqueName("replica")
    const day = makeKeys(topology).state("score", `vectors:${bucketOf(T0)}`)
    const removed = ideas.slice(0, 40)
    const result = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const replica = () => Effect.map(Layer.build(layerRedis({ url: Redacted.make(inject("redisUrl")), topology })), (ctx) => Context.get(ctx, VectorIndex))
          const [a, b] = [yield* replica(), yield* replica()]
          const reference = (present: ReadonlyArray<IndexedIdea>) => Effect.flatMap(Effect.succeed(makeMemory()), (m) => Effect.zipRight(m.add(present), m.nearest(queries)))
          // Over 1,000 ideas of one day, read by `b` in one load.
          yield* a.add(ideas.slice(0, 1_200))
          const first = { got: yield* b.nearest(queries), want: yield* reference(ideas.slice(0, 1_200)) }
          // Then only what was added and removed since.
          yield* a.add(ideas.slice(1_200))
          yield* a.remove(removed)
          const second = { got: yield* b.nearest(queries), want: yield* reference(ideas.slice(40)) }
          // The day's keys expire; `a` adds a few again: `b` reads the day afresh, not on top of what it held.
          const redis = new Redis(inject("redisUrl"))
          yield* Effect.promise(() => redis.del(day, `${day}:log`).finally(() => redis.quit()))
          yield* a.add(ideas.slice(100, 150))
          const third = { got: yield* b.nearest(queries), want: yield* reference(ideas.slice(100, 150)) }
          // Two batches of one process (replicas share the layer) search at once, then once more.
          yield* a.add(ideas.slice(150, 200))
          const [both] = yield* Effect.all([b.nearest(queries), b.nearest(queries)], { concurrency: "unbounded" })
          const concurrent = { got: both, want: yield* reference(ideas.slice(100, 200)) }
          const after = { got: yield* b.nearest(queries), want: concurrent.want }
          return [first, second, third, concurrent, after]
        })
      )
    )
    const ids = (found: ReadonlyArray<ReadonlyArray<IndexedIdea>>) => found.map((list) => list.map((i) => i.ideaId))
    for (const { got, want } of result) expect(ids(got)).toEqual(ids(want))
    expect(ids(result[1]!.got).flat()).not.toContain(removed[0]!.ideaId)
    expect(ids(result[2]!.got).flat().length).toBeGreaterThan(0)
  }, 120_000)
})
