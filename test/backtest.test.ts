/**
 * Replays and backtests: ranking metrics and the weight search as pure functions; a
 * recording replayed twice (through `desainz backtest`) gives byte-identical `--out`
 * files; a live run over a recording (worker, embedded transport, PGlite) and its backtest
 * replay give the same scores; and the YouTube trending slice is backtested with every
 * weight set side by side (that test needs ../shared/data and skips without it).
 */
import { execFile } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import { Context, Effect, Layer, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { engagementPerHour, rawEngagement } from "../operators/backtest/baselines.ts"
import { type BacktestArgs, parseBacktestArgs, renderTable, runBacktest } from "../operators/backtest/command.ts"
import { evaluateWeightSets, type EvaluatedItem } from "../operators/backtest/evaluate.ts"
import { fromArchive, fromFile, fromStream } from "../operators/backtest/inputs.ts"
import { rawSignalKey } from "../operators/blobKeys.ts"
import { makeKeys } from "../runtime/keys.ts"
import { ndcgAt, precisionAt, type Ranked, spearman } from "../operators/backtest/metrics.ts"
import { replay } from "../operators/backtest/rescore.ts"
import { search, singleFactor } from "../operators/backtest/search.ts"
import { dedupe, layerMemory as bloomMemory } from "../operators/ingest/dedupe.ts"
import { layerHashing } from "../operators/scoring/embedder.ts"
import { enrich } from "../operators/ingest/enrich.ts"
import { Idea, Signal, type Weights } from "../operators/schemas.ts"
import { score } from "../operators/scoring/score.ts"
import { combine, ScoringConfig } from "../operators/scoring/scorer.ts"
import { layerMemory as stateMemory } from "../operators/scoring/state.ts"
import { replay as replaySource } from "../operators/sources/replay.ts"
import { Store } from "../operators/store/store.ts"
import { DEFAULT_WEIGHTS } from "../operators/store/weights.ts"
import { BlobStore } from "../runtime/blobs.ts"
import { makeEnvelopeCodec } from "../runtime/envelope.ts"
import { UsageError } from "../runtime/topology.ts"
import { attempt, migrate, Sql } from "../runtime/sql.ts"
import { stream, topology } from "../runtime/topology.ts"
import { Transport } from "../runtime/transport.ts"
import { runTest, startWorker, transportCases, uniqueName, waitUntil } from "./support/harness.ts"
import { syntheticSignals, writeRecording } from "./support/signals.ts"

const exec = promisify(execFile)
const BIN = new URL("../bin/desainz.js", import.meta.url).pathname
const YOUTUBE = new URL("../../shared/data/youtube-trending/USvideos_2017-11-14_to_2017-11-23.csv", import.meta.url).pathname

const tempDir = Effect.acquireRelease(
  Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "desainz-backtest-"))),
  (dir) => Effect.promise(() => fs.rm(dir, { recursive: true, force: true }))
)

/** A migrated PGlite store in `dir`, as a context for the scope. */
const storeIn = (dir: string) =>
  Layer.build(
    Store.layer.pipe(
      Layer.provideMerge(Layer.effectDiscard(migrate()).pipe(Layer.provideMerge(Sql.layerEmbedded({ dataDir: path.join(dir, "pg"), port: 0 }))))
    )
  ) as Effect.Effect<Context.Context<Store | Sql>, unknown, import("effect").Scope.Scope>

/** The synthetic recording plus two exact re-posts, which dedupe drops live and in replays. */
const recordingSignals = (() => {
  const base = syntheticSignals({ count: 200, days: 7, seed: 3 })
  const copy = (i: number, sourceId: string): Signal => ({ ...base[i]!, sourceId, capturedAt: new Date(Date.parse(base[i]!.capturedAt) + 60_000).toISOString() })
  return [...base, copy(40, "dup-1"), copy(120, "dup-2")].sort((a, b) => Date.parse(a.capturedAt) - Date.parse(b.capturedAt))
})()
const scoring = { allowedLateness: "2 hours", communityFit: { niches: [{ name: "runners", keywords: ["marathon", "trail", "miles"] }] } }
const dedupeConfig = { ttl: "7 days", capacity: 100_000, falsePositiveRate: 0.001 }

// ---------------------------------------------------------------------------------------

describe("ranking metrics", () => {
  const items = (scores: ReadonlyArray<number>, outcomes: ReadonlyArray<number>): ReadonlyArray<Ranked> =>
    scores.map((score, i) => ({ id: `i${i}`, score, outcome: outcomes[i]! }))

  it("NDCG@k is 1 for the ideal order and lower for worse ones", () => {
    expect(ndcgAt(items([4, 3, 2, 1], [10, 5, 1, 0]), 3)).toBe(1)
    const reversed = ndcgAt(items([1, 2, 3, 4], [10, 5, 1, 0]), 3)!
    expect(reversed).toBeLessThan(0.5)
    // gains 0, 1, 5 (outcome minus the floor of 0) at ranks 1..3, over the ideal 10, 5, 1
    const dcg = (g: ReadonlyArray<number>) => g.reduce((s, x, i) => s + x / Math.log2(i + 2), 0)
    expect(reversed).toBeCloseTo(dcg([0, 1, 5]) / dcg([10, 5, 1]), 12)
    expect(ndcgAt(items([1, 2], [3, 3]), 2)).toBeNull()
  })

  it("precision@k counts the top quartile by outcome among the top k by score", () => {
    const outcomes = [8, 7, 6, 5, 4, 3, 2, 1]
    expect(precisionAt(items([8, 7, 6, 5, 4, 3, 2, 1], outcomes), 2)).toBe(1)
    expect(precisionAt(items([1, 2, 3, 4, 5, 6, 7, 8], outcomes), 2)).toBe(0)
    expect(precisionAt(items([8, 1, 7, 2, 3, 4, 5, 6], outcomes), 4)).toBe(0.5)
  })

  it("Spearman is ±1 for (anti-)monotone orders and handles ties", () => {
    expect(spearman(items([1, 2, 3, 4], [10, 20, 30, 40]))).toBeCloseTo(1, 12)
    expect(spearman(items([1, 2, 3, 4], [40, 30, 20, 10]))).toBeCloseTo(-1, 12)
    expect(spearman(items([1, 1, 2, 3], [5, 6, 7, 8]))).toBeGreaterThan(0.9)
    expect(spearman(items([1, 1, 1], [1, 2, 3]))).toBeNull()
  })
})

describe("naive baselines", () => {
  const video = (views: number, publishedAt: string): Signal => ({
    source: "youtube",
    sourceId: "v",
    content: "a video",
    capturedAt: "2017-11-14T00:00:00.000Z",
    engagement: { views, likes: 10 },
    tags: [],
    metadata: { publishedAt }
  })
  it("engagement/hour is views per hour since publication; raw engagement ignores age", () => {
    expect(engagementPerHour.score(video(1_000, "2017-11-13T14:00:00.000Z"))).toBe(100)
    expect(rawEngagement.score(video(1_000, "2017-11-13T14:00:00.000Z"))).toBe(1_000)
    // Unknown publication: one hour; no engagement figure at all: 0.
    expect(engagementPerHour.score(video(50, ""))).toBe(50)
    expect(engagementPerHour.score({ ...video(0, ""), engagement: {} })).toBe(0)
    // Without views: likes + comments + positive net votes.
    expect(rawEngagement.score({ ...video(0, ""), engagement: { likes: 3, comments: 2, score: -5 } })).toBe(5)
  })
})

describe("weight search", () => {
  // A made-up objective that peaks at engagement 0.6, novelty 0.4.
  const target: Weights = { freshness: 0, engagement: 0.6, novelty: 0.4, communityFit: 0, seasonality: 0 }
  const objective = (w: Weights) => -Object.keys(target).reduce((s, f) => s + (w[f as keyof Weights] - target[f as keyof Weights]) ** 2, 0)

  it("is repeatable from its seed and never returns worse than its start", () => {
    const a = search("random", DEFAULT_WEIGHTS, objective, { trials: 300, seed: 42 })
    expect(search("random", DEFAULT_WEIGHTS, objective, { trials: 300, seed: 42 })).toEqual(a)
    expect(a.evaluated).toBe(300)
    expect(a.best.objective).toBeGreaterThanOrEqual(objective(DEFAULT_WEIGHTS))
    expect(Object.values(a.best.weights).reduce((s, x) => s + x, 0)).toBeCloseTo(1, 3)
  })

  it("coordinate search walks to the optimum", () => {
    const { best } = search("coordinate", DEFAULT_WEIGHTS, objective, { trials: 500, seed: 1 })
    expect(best.weights.engagement).toBeCloseTo(0.6, 1)
    expect(best.weights.novelty).toBeCloseTo(0.4, 1)
  })

  it("promotion is judged on the validation part, which the search never sees", () => {
    // Outcomes follow engagement; freshness is noise. Engagement-only wins on both parts.
    const items: ReadonlyArray<EvaluatedItem> = Array.from({ length: 200 }, (_, i) => ({
      id: `i${i}`,
      at: Date.parse("2026-01-01T00:00:00Z") + Math.floor(i / 20) * 86_400_000,
      factors: { freshness: ((i * 7919) % 97) / 97, engagement: ((i * 31) % 101) / 101, novelty: 0.5, communityFit: 0, seasonality: 0 },
      outcome: ((i * 31) % 101) / 101
    }))
    const e = evaluateWeightSets(items, { split: 0.7, k: 5, cohort: "day", current: { name: "current", weights: DEFAULT_WEIGHTS }, candidates: [] })
    expect(e.winner.name).toBe("engagement only")
    expect(e.winner.validation.ndcg).toBeCloseTo(1, 12)
    expect(e.beatsCurrent).toBe(true)
    expect(e.current.train.cohorts + e.current.validation.cohorts).toBe(10)
    expect(e.splitAt).toBe(new Date(items[0]!.at + 0.7 * 9 * 86_400_000).toISOString())
    expect(e.sets.map((s) => s.name)).toEqual(["current", "freshness only", "engagement only", "novelty only", "communityFit only", "seasonality only"])
  })
})

describe("desainz backtest (the command)", () => {
  it("rejects bad command lines with a usage error naming the option", () => {
    expect(() => parseBacktestArgs([])).toThrow(UsageError)
    expect(() => parseBacktestArgs(["--file", "x", "--archive"])).toThrow(/exactly one of --file, --stream or --archive/)
    expect(() => parseBacktestArgs(["--file", "x", "--split", "1.5"])).toThrow(/--split/)
    expect(() => parseBacktestArgs(["--file", "x", "--search", "genetic"])).toThrow(/--search must be one of random, coordinate/)
    expect(() => parseBacktestArgs(["--file", "x", "--weights", "{}"])).toThrow(/--weights must be JSON/)
    expect(() => parseBacktestArgs(["--file", "x", "--nope"])).toThrow(/nope/)
    expect(parseBacktestArgs(["--help"])).toBe("help")
  })

  it(
    "replaying the same recording twice gives byte-identical --out files",
    async () => {
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), "desainz-backtest-cli-"))
      try {
        const recording = path.join(dir, "recording.jsonl")
        writeRecording(recording, recordingSignals)
        const run = async (n: number) => {
          const out = path.join(dir, `scores-${n}.jsonl`)
          const { REDIS_URL: _, DATABASE_URL: __, ...env } = process.env
          const { stdout } = await exec(process.execPath, [BIN, "backtest", "--file", recording, "--format", "jsonl", "--batch", String(7 * n), "--out", out, "--json"], {
            env: { ...env, PGLITE_DIR: path.join(dir, `pg-${n}`), PGLITE_PORT: "0", LOG_LEVEL: "warning", OCCASIONS: "off" },
            maxBuffer: 10_000_000
          })
          return { out: readFileSync(out), report: JSON.parse(stdout) }
        }
        const first = await run(1)
        const second = await run(3)
        expect(first.out.equals(second.out)).toBe(true)
        const lines = first.out.toString("utf8").trim().split("\n").map((l) => JSON.parse(l))
        expect(lines).toHaveLength(recordingSignals.length - 2)
        expect(lines[0]).toMatchObject({ id: expect.stringMatching(/^replay:|^reddit:|^youtube:|^occasions:/), eventTime: expect.any(String), factors: expect.any(Object) })
        expect(Object.keys(lines[0].scores)).toContain("current v1 (default)")
        expect(first.report).toMatchObject({ signals: recordingSignals.length, duplicates: 2, late: 0 })
        expect(first.report.merged).toBeGreaterThan(0)
      } finally {
        await fs.rm(dir, { recursive: true, force: true })
      }
    },
    180_000
  )
})

describe("backtest inputs", () => {
  it("a retained stream, page by page, with the ids the live pipeline gave its signals", async () => {
    const embedded = transportCases.find((c) => c.name === "embedded")!
    const input = stream("signals.enriched", Signal)
    const name = uniqueName("stream")
    const items = await runTest(
      embedded,
      Effect.gen(function* () {
        const transport = yield* Transport
        const codec = makeEnvelopeCodec(input.name, input.schema)
        const signals = syntheticSignals({ count: 2_345, days: 3, seed: 9 })
        yield* transport.append({
          stream: makeKeys(name).stream(input.name),
          entries: signals.map((s, i) =>
            codec.encode({ eventType: input.eventType, eventId: `e-${i}`, timestamp: s.capturedAt, source: "enrich", version: 1, correlationId: `c-${i}`, data: s })
          )
        })
        return yield* fromStream(name, input)
      })
    )
    expect(items).toHaveLength(2_345)
    expect(items.map((i) => i.id)).toEqual(Array.from({ length: 2_345 }, (_, i) => `c-${i}`))
    expect(items.every((i) => i.stage === "enriched")).toBe(true)
  })

  it("the raw-signal archive, for the days asked, in event-time order", async () => {
    const items = await Effect.runPromise(
      Effect.gen(function* () {
        const dir = yield* tempDir
        const blobs = yield* Effect.provide(BlobStore, BlobStore.layerLocal({ root: dir }))
        const signals = syntheticSignals({ count: 30, days: 3, seed: 4 })
        for (const s of [...signals].reverse()) {
          const key = yield* rawSignalKey(new Date(s.capturedAt), s.sourceId)
          yield* blobs.put(key, Buffer.from(JSON.stringify(s)))
        }
        const from = signals[10]!.capturedAt.slice(0, 10)
        return yield* fromArchive({ from, to: from }).pipe(Effect.provideService(BlobStore, blobs))
      }).pipe(Effect.scoped)
    )
    expect(items.length).toBeGreaterThan(5)
    expect(new Set(items.map((i) => i.signal.capturedAt.slice(0, 10))).size).toBe(1)
    expect(items.map((i) => i.signal.capturedAt)).toEqual(items.map((i) => i.signal.capturedAt).sort())
    expect(items.every((i) => i.stage === "raw" && i.key.startsWith("raw-signals/year="))).toBe(true)
  })
})

// ---------------------------------------------------------------------------------------

describe("live run and backtest replay", () => {
  it(
    "give the same scores",
    async () => {
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), "desainz-live-replay-"))
      const recording = path.join(dir, "recording.jsonl")
      writeRecording(recording, recordingSignals)
      try {
        const embedded = transportCases.find((c) => c.name === "embedded")!
        const live = await runTest(
          embedded,
          Effect.gen(function* () {
            const store = yield* storeIn(dir)
            const raw = stream("signals.raw", Signal)
            const unique = stream("signals.unique", Signal)
            const enriched = stream("signals.enriched", Signal)
            const scored = stream("ideas.scored", Idea)
            const name = uniqueName("live")
            const t = topology({
              name,
              nodes: [
                replaySource({ path: recording, format: "jsonl", speed: 0, batch: 50 }, { to: raw }),
                dedupe(dedupeConfig, { from: raw, to: unique }),
                enrich({ archiveRaw: false }, { from: unique, to: enriched }),
                score({ scoring }, { from: enriched, to: scored }, { batchSize: 16 })
              ],
              services: Layer.mergeAll(
                Layer.succeedContext(store),
                BlobStore.layerLocal({ root: path.join(dir, "blobs") }),
                bloomMemory(name),
                stateMemory(name),
                layerHashing(384)
              )
            })
            const worker = yield* startWorker(t)
            const transport = yield* Transport
            const drained = (s: string, group: string) =>
              Effect.map(transport.info(worker.keys.stream(s)), (info) => info.groups.some((g) => g.name === group && g.pending === 0 && g.lag === 0))
            yield* waitUntil(
              "the recording is scored",
              Effect.map(
                Effect.all([transport.info(worker.keys.stream("signals.raw")), drained("signals.raw", "dedupe"), drained("signals.unique", "enrich"), drained("signals.enriched", "score")]),
                ([info, ...rest]) => info.length === recordingSignals.length && rest.every(Boolean)
              ),
              120_000
            )
            yield* worker.stop
            const codec = makeEnvelopeCodec("ideas.scored", Idea)
            const ideas = (yield* transport.range(worker.keys.stream("ideas.scored"), { count: 10_000 })).map((e) => {
              const d = codec.decode(e.fields)
              if (d._tag === "Left") throw d.left
              return d.right.data
            })
            const { client } = Context.get(store, Sql)
            const merges = yield* attempt("merges", () => client`select merged_id::text as id from idea_merges order by 1`)
            return { ideas, merged: merges.map((m) => String(m["id"])) }
          })
        )
        const replayed = await Effect.runPromise(
          replay(fromFile(recording, "jsonl"), { scoring: Schema.decodeUnknownSync(ScoringConfig)(scoring), dedupe: dedupeConfig, batchSize: 50 }).pipe(
            Effect.provide(layerHashing(384))
          )
        )
        expect(replayed.duplicates).toBe(2)
        expect(replayed.items.every((i) => !i.late)).toBe(true)
        const made = replayed.items.filter((i) => i.mergeInto === undefined)
        expect(live.merged.length).toBeGreaterThan(0)
        expect(live.merged).toEqual(replayed.items.filter((i) => i.mergeInto !== undefined).map((i) => i.ideaId).sort())
        const liveScores = Object.fromEntries(live.ideas.map((i) => [i.ideaId, { score: i.score, factors: i.factors }]))
        const replayScores = Object.fromEntries(made.map((i) => [i.ideaId, { score: combine(i.factors, DEFAULT_WEIGHTS), factors: i.factors }]))
        expect(Object.keys(liveScores)).toHaveLength(made.length)
        expect(replayScores).toEqual(liveScores)
      } finally {
        await fs.rm(dir, { recursive: true, force: true })
      }
    },
    240_000
  )
})

// ---------------------------------------------------------------------------------------

describe.skipIf(!existsSync(YOUTUBE))("backtest on the YouTube trending slice (needs ../shared/data/youtube-trending)", () => {
  const args = (overrides: Partial<BacktestArgs> = {}): BacktestArgs => ({
    input: { _tag: "File", path: YOUTUBE, format: "youtube-trending" },
    search: { mode: "random", trials: 150, seed: 1 },
    split: 0.7,
    k: 10,
    cohort: "day",
    weights: [],
    batch: 100,
    json: false,
    promote: false,
    ...overrides
  })
  const options = { topology: "bt", input: stream("signals.enriched", Signal), scoring: {}, dedupe: dedupeConfig }

  it(
    "reports the current weights, single-factor baselines and the searched weights side by side, and promotes only a validated winner",
    async () => {
      const { report, table, versions, runs } = await Effect.runPromise(
        Effect.gen(function* () {
          const dir = yield* tempDir
          const ctx = yield* storeIn(dir)
          const store = Context.get(ctx, Store)
          const services = Layer.mergeAll(Layer.succeedContext(ctx), layerHashing(384), BlobStore.layerLocal({ root: path.join(dir, "blobs") }))
          const run = (a: BacktestArgs) => runBacktest(a, options).pipe(Effect.provide(services))
          const report = yield* run(args())
          const before = (yield* store.currentWeights()).version
          // A deliberately poor current set: the search starting from it finds better, and validation confirms.
          yield* store.insertWeights({ weights: singleFactor("seasonality"), note: "poor", promoted: true })
          const promoted = yield* run(args({ promote: true, search: { mode: "coordinate", trials: 120, seed: 1 } }))
          const after = (yield* store.currentWeights()).version
          const { client } = Context.get(ctx, Sql)
          const [row] = yield* attempt("runs", () => client`select count(*)::int as n, count(finished_at)::int as done from backtest_runs`)
          return { report, table: renderTable(report), versions: { before, after, promoted }, runs: row }
        }).pipe(Effect.scoped)
      )
      const names = report.evaluation.sets.map((s) => s.name)
      expect(names).toEqual([
        "current v1 (default)",
        "freshness only",
        "engagement only",
        "novelty only",
        "communityFit only",
        "seasonality only",
        expect.stringMatching(/^random search \(\d+ trials\)$/)
      ])
      expect(report).toMatchObject({ signals: 665, late: 0 })
      expect(report.evaluated).toBeGreaterThan(600)
      for (const set of report.evaluation.sets) {
        for (const part of [set.train, set.validation]) {
          expect(part.ndcg).toBeGreaterThanOrEqual(0)
          expect(part.ndcg).toBeLessThanOrEqual(1)
          // Null where a set scores every signal of every cohort alike (rho is undefined then).
          if (part.spearman !== null) expect(Math.abs(part.spearman)).toBeLessThanOrEqual(1)
        }
      }
      expect(report.evaluation.current.validation.spearman).not.toBeNull()
      // The search starts from the current weights, so it can only match or beat them on train.
      expect(report.evaluation.winner.train.ndcg!).toBeGreaterThanOrEqual(report.evaluation.current.train.ndcg!)
      expect(report.evaluation.current.validation.cohorts).toBe(3)
      expect(table).toContain("engagement only")
      expect(table).toMatch(/va NDCG@10/)
      // Naive baselines in the same pass; the default must be ahead of both on the held-out days.
      expect(report.evaluation.baselines.map((b) => b.name)).toEqual(["baseline: engagement/hour", "baseline: raw engagement"])
      expect(table).toContain("baseline: engagement/hour")
      for (const b of report.evaluation.baselines) {
        expect(b.validation.cohorts).toBe(3)
        expect(report.evaluation.current.validation.ndcg!).toBeGreaterThan(b.validation.ndcg!)
        expect(report.evaluation.current.validation.spearman!).toBeGreaterThan(b.validation.spearman!)
      }
      expect(versions.promoted.promotedVersion).toBe(versions.before + 2)
      expect(versions.after).toBe(versions.before + 2)
      expect(versions.promoted.promotion).toMatch(/^promoted .* as weight version/)
      expect(runs).toEqual({ n: 2, done: 2 })
    },
    240_000
  )
})
