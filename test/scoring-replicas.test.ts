/**
 * "Two scorer replicas on Redis give the same scores as one": the same recording through
 * enrich -> score on a real redis-server (transport and shared scoring state) and a PGlite
 * store, once with one score replica and once with two, must emit the same ideas with the
 * same scores and factors, merge the same signals, and count no late input.
 *
 * Also here, with time driven: the score operator re-reads the weight version only after
 * `weightsRefresh` and records it on every idea.
 */
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { Context, Effect, Layer, Redacted, TestClock, TestContext } from "effect"
import { describe, expect, inject, it } from "vitest"
import { layerHashing } from "../operators/scoring/embedder.ts"
import { enrich } from "../operators/ingest/enrich.ts"
import { Idea, Signal } from "../operators/schemas.ts"
import { score } from "../operators/scoring/score.ts"
import { layerMemory, layerRedis } from "../operators/scoring/state.ts"
import { signalIdOf } from "../operators/ids.ts"
import { normalizeSignal } from "../operators/ingest/normalize.ts"
import { Store, type StoreService } from "../operators/store/store.ts"
import { BlobStore } from "../runtime/blobs.ts"
import { deriveEventId, makeEnvelopeCodec, ENVELOPE_VERSION } from "../runtime/envelope.ts"
import { Metrics } from "../runtime/metrics.ts"
import { attempt, migrate, Sql } from "../runtime/sql.ts"
import { type OperatorNode, stream, topology } from "../runtime/topology.ts"
import { Transport } from "../runtime/transport.ts"
import { feeder, runTest, startWorker, transportCases, uniqueName, waitUntil } from "./support/harness.ts"
import { syntheticSignals } from "./support/signals.ts"

const redis = transportCases.find((c) => c.name === "redis")!
const SIGNALS = syntheticSignals({ count: 240, days: 8, seed: 11 })
// A day of allowed lateness: far more than two replicas drift apart reading batches of 8.
const scoring = { allowedLateness: "1 day", engagement: { minSamples: 10 }, communityFit: { niches: [{ name: "runners", keywords: ["marathon", "trail"] }] } }

const tempDir = Effect.acquireRelease(
  Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "desainz-replicas-"))),
  (dir) => Effect.promise(() => fs.rm(dir, { recursive: true, force: true }))
)

/** A migrated PGlite store in a fresh directory, for the lifetime of the scope. */
const storeContext = (dir: string) =>
  Layer.build(
    Store.layer.pipe(
      Layer.provideMerge(Layer.effectDiscard(migrate()).pipe(Layer.provideMerge(Sql.layerEmbedded({ dataDir: path.join(dir, "pg"), port: 0 }))))
    )
  )

const decodeIdea = makeEnvelopeCodec("ideas.scored", Idea).decode

/** Runs the recording through enrich -> score with `replicas` score consumers; returns what was emitted and merged. */
const scoreRecording = (replicas: number) =>
  Effect.gen(function* () {
    const name = uniqueName("replicas")
    const dir = yield* tempDir
    const store = yield* storeContext(dir)
    const signalsUnique = stream("signals.unique", Signal)
    const signalsEnriched = stream("signals.enriched", Signal)
    const ideasScored = stream("ideas.scored", Idea)
    const feed = feeder("feed", signalsUnique, { batch: 100 })
    const scorer = score({ scoring }, { from: signalsEnriched, to: ideasScored }, { replicas, batchSize: 8 })
    // Which fibers ran batches: both replicas must have taken part.
    const fibers = new Map<string, number>()
    const watched: OperatorNode<Signal, Idea, any> = {
      ...scorer,
      handle: (batch) =>
        Effect.zipRight(
          Effect.map(Effect.fiberId, (id) => void fibers.set(String(id), (fibers.get(String(id)) ?? 0) + batch.length)),
          scorer.handle(batch)
        )
    }
    const t = topology({
      name,
      nodes: [feed.node, enrich({ archiveRaw: false }, { from: signalsUnique, to: signalsEnriched }), watched],
      services: Layer.mergeAll(
        Layer.succeedContext(store as Context.Context<Store | Sql>),
        BlobStore.layerLocal({ root: path.join(dir, "blobs") }),
        layerRedis({ url: Redacted.make(inject("redisUrl")), topology: name }),
        layerHashing(384)
      )
    })
    feed.push(...SIGNALS.map((s) => ({ data: s, timestamp: s.capturedAt, key: s.sourceId })))
    const worker = yield* startWorker(t)
    const transport = yield* Transport
    yield* waitUntil(
      "every signal is scored",
      Effect.map(transport.info(worker.keys.stream("signals.enriched")), (info) => {
        const group = info.groups.find((g) => g.name === "score")
        return feed.pending() === 0 && info.length === SIGNALS.length && group !== undefined && group.pending === 0 && group.lag === 0
      }),
      120_000
    )
    yield* worker.stop
    const entries = yield* transport.range(worker.keys.stream("ideas.scored"), { count: 10_000 })
    const ideas = entries.map((e) => {
      const decoded = decodeIdea(e.fields)
      if (decoded._tag === "Left") throw decoded.left
      return decoded.right.data
    })
    const { client } = Context.get(store as Context.Context<Sql>, Sql)
    const merges = yield* attempt("read merges", () => client`select merged_id::text as merged, idea_id::text as idea from idea_merges order by 1`)
    const metrics = yield* Metrics
    return {
      scores: Object.fromEntries(ideas.map((i) => [i.ideaId, { score: i.score, factors: i.factors, weightsVersion: i.weightsVersion }])),
      merges: merges.map((m) => `${m["merged"]}->${m["idea"]}`),
      late: metrics.registry.counter("desainz_score_late_signals_total", "").get({ operator: "score" }),
      batchesPerFiber: [...fibers.values()]
    }
  })

describe("score on Redis", () => {
  it(
    "two replicas give the same scores as one",
    async () => {
      const one = await runTest(redis, scoreRecording(1))
      const two = await runTest(redis, scoreRecording(2))
      expect(one.late).toBe(0)
      expect(two.late).toBe(0)
      expect(two.batchesPerFiber.length).toBe(2)
      expect(Math.min(...two.batchesPerFiber)).toBeGreaterThan(SIGNALS.length / 10)
      // Some signals merged (the recording re-posts titles), the rest became ideas.
      expect(one.merges.length).toBeGreaterThan(0)
      expect(Object.keys(one.scores).length + one.merges.length).toBe(SIGNALS.length)
      expect(two.merges).toEqual(one.merges)
      expect(two.scores).toEqual(one.scores)
      // The factors are not trivially constant.
      const engagement = new Set(Object.values(one.scores).map((s) => s.factors.engagement))
      expect(engagement.size).toBeGreaterThan(50)
    },
    300_000
  )
})

describe("score operator", () => {
  it("reads the weight version again only after weightsRefresh, and records it on each idea", async () => {
    const versions = await Effect.runPromise(
      Effect.gen(function* () {
        const ctx = (yield* storeContext(yield* tempDir)) as Context.Context<Store | Sql>
        const store = Context.get(ctx, Store)
        const node = score({ scoring, weightsRefresh: "1 minute" }, { from: stream("in", Signal), to: stream("out", Idea) })
        const run = (raw: Signal, n: number) =>
          Effect.gen(function* () {
            const id = deriveEventId("test", String(n))
            const s = yield* enrichOne(store, raw)
            const [result] = yield* node
              .handle([{ eventType: "in", eventId: id, timestamp: s.capturedAt, source: "test", version: ENVELOPE_VERSION, correlationId: id, data: s, attempt: 1 }])
              .pipe(Effect.provide(ctx))
            if (result?._tag !== "Emit") throw new Error(`not emitted: ${JSON.stringify(result)}`)
            return (result.outputs[0]!.data as Idea).weightsVersion
          })
        const first = yield* run(SIGNALS[0]!, 0)
        yield* store.insertWeights({ weights: { freshness: 0, engagement: 1, novelty: 0, communityFit: 0, seasonality: 0 }, note: "test", promoted: true })
        yield* TestClock.adjust("30 seconds")
        const beforeRefresh = yield* run(SIGNALS[1]!, 1)
        yield* TestClock.adjust("31 seconds")
        const afterRefresh = yield* run(SIGNALS[2]!, 2)
        return [first, beforeRefresh, afterRefresh]
      }).pipe(Effect.scoped, Effect.provide(Layer.mergeAll(layerMemory(uniqueName("w")), layerHashing(384), Metrics.layer, TestContext.TestContext)))
    )
    expect(versions).toEqual([1, 1, 2])
  }, 120_000)
})

/** The signal row an idea references, as enrich stores it. */
const enrichOne = (store: StoreService, raw: Signal) => {
  const s = normalizeSignal(raw)
  return Effect.as(
    store.upsertSignals([
      { id: signalIdOf(s.contentHash!), content: s.content, source: s.source, capturedAt: new Date(s.capturedAt), metadata: {}, contentHash: s.contentHash! }
    ]),
    s
  )
}
