/**
 * "Redelivered work must not change the outcome" (issue 15, item 12), at the operator:
 * enrich -> score on a real redis-server and a PGlite store. A crash that leaves an older
 * signal pending lets a later near-duplicate be scored first, without the older idea to
 * merge into; when the older signal is redelivered, it is late (another batch read past
 * it), and the near-duplicate idea made without it is merged into it afterwards. The
 * store ends as an undisturbed run leaves it: the same ideas, the same merges, and
 * `desainz_score_late_signals_total` / `desainz_score_late_merges_total` say what happened.
 *
 * The same scenario with real processes (SIGKILLed worker and redis-server) is
 * test/scoring-crash.test.ts; this one drives the order such a crash produces directly.
 * "late merges" holds `mergeLate` to what each later idea's own scoring would have chosen.
 */
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { Context, Effect, Layer, Redacted, Schema } from "effect"
import { describe, expect, inject, it } from "vitest"
import { ideaIdOf, signalIdOf } from "../operators/ids.ts"
import { enrich } from "../operators/ingest/enrich.ts"
import { Idea, Signal } from "../operators/schemas.ts"
import { layerHashing } from "../operators/scoring/embedder.ts"
import { mergeLate, SCORE_PARTS, score, scoreSeconds } from "../operators/scoring/score.ts"
import { ScoringConfig } from "../operators/scoring/scorer.ts"
import { DAY, layerRedis } from "../operators/scoring/state.ts"
import { makeMemory } from "../operators/scoring/vectorIndex.ts"
import { Store } from "../operators/store/store.ts"
import { BlobStore } from "../runtime/blobs.ts"
import { Metrics } from "../runtime/metrics.ts"
import { deriveEventId } from "../runtime/envelope.ts"
import { attempt, migrate, Sql } from "../runtime/sql.ts"
import { stream, topology } from "../runtime/topology.ts"
import { Transport } from "../runtime/transport.ts"
import { feeder, runTest, startWorker, transportCases, uniqueName, waitUntil } from "./support/harness.ts"

const redis = transportCases.find((c) => c.name === "redis")!
const scoring = { allowedLateness: "2 hours", communityFit: { niches: [{ name: "runners", keywords: ["marathon", "trail"] }] } }

const signal = (id: string, day: number, content: string): Signal => ({
  source: "youtube",
  sourceId: id,
  content,
  capturedAt: new Date(Date.parse("2026-11-10T00:00:00Z") + day * 86_400_000).toISOString(),
  engagement: { views: 1_000 * (day + 1), likes: 10 },
  tags: [],
  metadata: {}
})

// B re-posts A two days later: a near-duplicate that merges into A when A is there to see.
const A = signal("a", 1, "Marathon finish line sunrise club official tee")
const B = signal("b", 3, "Marathon finish line sunrise club official tee!")
const OTHERS = [signal("c", 0, "Teachers grading coffee recess mode"), signal("d", 2, "Plant mom monstera jungle energy"), signal("e", 3, "Deploy on friday debugging vibes")]

/** Feeds `waves` one after the other, each scored to the end before the next; returns the store's end state. */
const run = (waves: ReadonlyArray<ReadonlyArray<Signal>>) =>
  Effect.gen(function* () {
    const name = uniqueName("late")
    const dir = yield* Effect.acquireRelease(
      Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "desainz-late-"))),
      (d) => Effect.promise(() => fs.rm(d, { recursive: true, force: true }))
    )
    const store = yield* Layer.build(
      Store.layer.pipe(Layer.provideMerge(Layer.effectDiscard(migrate()).pipe(Layer.provideMerge(Sql.layerEmbedded({ dataDir: path.join(dir, "pg"), port: 0 })))))
    )
    const unique = stream("signals.unique", Signal)
    const enriched = stream("signals.enriched", Signal)
    const feed = feeder("feed", unique)
    const t = topology({
      name,
      nodes: [feed.node, enrich({ archiveRaw: false }, { from: unique, to: enriched }), score({ scoring }, { from: enriched, to: stream("ideas.scored", Idea) }, { batchSize: 8 })],
      services: Layer.mergeAll(
        Layer.succeedContext(store),
        BlobStore.layerLocal({ root: path.join(dir, "blobs") }),
        layerRedis({ url: Redacted.make(inject("redisUrl")), topology: name }),
        layerHashing(384)
      )
    })
    const worker = yield* startWorker(t)
    const transport = yield* Transport
    let fed = 0
    for (const wave of waves) {
      feed.push(...wave.map((s) => ({ data: s, timestamp: s.capturedAt, key: s.sourceId })))
      fed += wave.length
      yield* waitUntil(
        "the wave is scored",
        Effect.map(transport.info(worker.keys.stream("signals.enriched")), (info) => {
          const group = info.groups.find((g) => g.name === "score")
          return feed.pending() === 0 && info.length === fed && group !== undefined && group.pending === 0 && group.lag === 0
        }),
        120_000
      )
    }
    yield* worker.stop
    const { client } = Context.get(store, Sql)
    const ideas = yield* attempt("ideas", () => client`select i.id::text as id, s.content, i.merge_count as merges, i.status from ideas i join signals s on s.id = i.signal_id order by 1`)
    const merges = yield* attempt("merges", () => client`select merged_id::text as merged, idea_id::text as idea, similarity from idea_merges order by 1`)
    const metrics = yield* Metrics
    return {
      ideas: ideas.map((r) => ({ ...r })),
      merges: merges.map((r) => ({ ...r })),
      late: metrics.registry.counter("desainz_score_late_signals_total", "").get({ operator: "score" }),
      lateMerges: metrics.registry.counter("desainz_score_late_merges_total", "").get({ operator: "score" }),
      spent: Object.fromEntries(SCORE_PARTS.map((part) => [part, scoreSeconds(metrics.registry).get({ operator: "score", part })]))
    }
  })

describe("a near-duplicate found late", () => {
  it(
    "is merged afterwards: a redelivered older signal leaves the ideas and merges of an undisturbed run",
    async () => {
      const undisturbed = await runTest(redis, run([[OTHERS[0]!, A, OTHERS[1]!, B, OTHERS[2]!]]))
      // The crash's order: A's batch is pending while B's is scored; then A is redelivered.
      const redelivered = await runTest(redis, run([[OTHERS[0]!, OTHERS[1]!, B, OTHERS[2]!], [A]]))

      expect(undisturbed.late).toBe(0)
      expect(undisturbed.merges).toHaveLength(1)
      expect(undisturbed.ideas).toHaveLength(4)
      expect(undisturbed.ideas.find((i) => i["content"] === A.content)).toMatchObject({ merges: 1 })

      expect(redelivered.late).toBeGreaterThanOrEqual(1)
      expect(redelivered.lateMerges).toBe(1)
      expect(redelivered.ideas).toEqual(undisturbed.ideas)
      expect(redelivered.merges).toEqual(undisturbed.merges)
      // Where the batches' time went, per part (desainz_score_seconds_total).
      for (const part of SCORE_PARTS) expect(redelivered.spent[part]).toBeGreaterThan(0)
    },
    300_000
  )
})

describe("late merges", () => {
  const HOUR = 3_600_000
  const D0 = 20_400 * DAY
  const config = Schema.decodeUnknownSync(ScoringConfig)(scoring)
  /** A unit vector of 384 from its first components. */
  const direction = (...head: ReadonlyArray<number>) => {
    const n = Math.hypot(...head)
    return Array.from({ length: 384 }, (_, d) => Math.fround((head[d] ?? 0) / n))
  }
  const idea = (name: string, at: number, embedding: ReadonlyArray<number>) => ({ ideaId: ideaIdOf(deriveEventId("late-merge", name)), at, embedding })
  type Made = ReturnType<typeof idea>

  /** The ideas in a PGlite store and the in-process index; `late` merged afterwards; the merges recorded (merged -> into, by name). */
  const mergeAfterwards = (late: ReadonlyArray<Made>, later: ReadonlyArray<Made>) =>
    Effect.gen(function* () {
      const dir = yield* Effect.acquireRelease(
        Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "desainz-late-merge-"))),
        (d) => Effect.promise(() => fs.rm(d, { recursive: true, force: true }))
      )
      const ctx = yield* Layer.build(
        Store.layer.pipe(Layer.provideMerge(Layer.effectDiscard(migrate()).pipe(Layer.provideMerge(Sql.layerEmbedded({ dataDir: path.join(dir, "pg"), port: 0 })))))
      )
      const store = Context.get(ctx, Store)
      const all = [...late, ...later]
      const hashOf = (i: Made) => i.ideaId.replaceAll("-", "")
      yield* store.upsertSignals(all.map((i) => ({ id: signalIdOf(hashOf(i)), content: i.ideaId, source: "test", capturedAt: new Date(i.at), metadata: {}, contentHash: hashOf(i) })))
      yield* store.upsertIdeas(
        all.map((i) => ({ id: i.ideaId, signalId: signalIdOf(hashOf(i)), title: "t", description: "d", embedding: i.embedding, score: 0.5, factors: {}, weightsVersion: 1, eventAt: new Date(i.at) }))
      )
      const index = makeMemory()
      yield* index.add(all)
      const absorbed = yield* mergeLate(late, index, store, config)
      const { client } = Context.get(ctx, Sql)
      const rows = yield* attempt("merges", () => client`select merged_id::text as merged, idea_id::text as into from idea_merges`)
      const name = new Map(all.map((i, n) => [i.ideaId, n < late.length ? `late${n}` : `later${n - late.length}`]))
      return { absorbed, merges: Object.fromEntries(rows.map((r) => [name.get(String(r["merged"])), name.get(String(r["into"]))])) }
    }).pipe(Effect.scoped, Effect.runPromise)

  it("looks only at later ideas whose window holds the late signal: its own day's near-duplicates take no place", async () => {
    const s = idea("s", D0 + 9 * HOUR, direction(1, 0, 0))
    // Five re-posts later on the same day (cosine 0.95; they never see s, nor each other).
    const sameDay = Array.from({ length: 5 }, (_, i) => idea(`same-day-${i}`, D0 + (10 + i) * HOUR, direction(0.95, 0.31225, i * 1e-3)))
    // The next day's idea (cosine 0.92) reads s's day: it would have merged into s.
    const nextDay = idea("next-day", D0 + DAY + 5 * HOUR, direction(0.92, -0.2, 0.3368))
    const result = await mergeAfterwards([s], [...sameDay, nextDay])
    expect(result).toEqual({ absorbed: 1, merges: { later5: "late0" } })
  }, 120_000)

  it("merges every qualifying idea, more than one search returns", async () => {
    const s = idea("s", D0 + 9 * HOUR, direction(1, 0, 0))
    const later = Array.from({ length: 8 }, (_, i) => idea(`later-${i}`, D0 + DAY + (3 + i) * HOUR, direction(1, 0.1 + i * 0.02, 0)))
    const result = await mergeAfterwards([s], later)
    expect(result.absorbed).toBe(8)
    expect(Object.values(result.merges)).toEqual(Array(8).fill("late0"))
  }, 120_000)

  it("merges a later idea near two late signals into the more similar, whatever their order", async () => {
    const one = idea("one", D0 + 9 * HOUR, direction(1, 0.3, 0))
    const two = idea("two", D0 + 10 * HOUR, direction(1, 0, 0.1))
    const later = idea("later", D0 + DAY + 5 * HOUR, direction(1, 0.05, 0.05))
    for (const late of [[one, two], [two, one]]) {
      const result = await mergeAfterwards(late, [later])
      expect(result.absorbed).toBe(1)
      expect(result.merges["later0"]).toBe(late[0] === two ? "late0" : "late1")
    }
  }, 240_000)
})
