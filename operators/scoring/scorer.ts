/**
 * The scoring core shared by the live `score` operator and by replays/backtests: turns a
 * batch of enriched signals into their five factors (plus the raw figures behind them)
 * and their merge decisions. Weights are applied by the caller (`combine`), so a backtest
 * computes factors once and tries many weight sets on them.
 *
 * Per batch:
 *   1. embed every signal (one batched call);
 *   2. write every signal's contribution to the shared state (engagement sample, topic
 *      peaks, category centroid), idempotent by the signal's identity: first the writes to
 *      days the batch itself reads (it spans midnight), the rest alongside steps 3 and 4;
 *   3. record the batch as a reader up to its last horizon, then read, per distinct
 *      horizon, only the CLOSED buckets before each signal (see window.ts);
 *   4. search recent ideas in the closed window for near-duplicates (alongside step 3);
 *   5. decide, oldest first, merge or new idea (a new idea is a neighbour for the signals
 *      after it in the same batch, as it would be from an earlier batch), then the factors.
 * The caller then stores the batch's ideas and asks `late`: which of its signals another
 * batch may already have read past (readers record themselves before reading, and `late`
 * looks after every write is durable, so none goes unnoticed).
 * A signal's result depends only on the signal and on the signals older than its horizon,
 * so batch boundaries, replicas and replays do not change it, absent late input.
 */
import { createHash } from "node:crypto"
import { Duration, Effect, Either, Schema } from "effect"
import { cosine, Embedder } from "./embedder.ts"
import type { Factors, Signal, Weights } from "../schemas.ts"
import { DurationString } from "../sources/http.ts"
import { CommunityFitConfig, communityFitFactor, membersOf, profileText } from "./communityFit.ts"
import { baselineRead, EngagementConfig, engagementFactor, engagementRate, engagementWrites } from "./engagement.ts"
import { FreshnessConfig, freshnessFactor, peakRead, peakWrites, topicsOf } from "./freshness.ts"
import { type IndexedIdea, VectorIndex } from "./vectorIndex.ts"
import { categoryOf, centroid, centroidRead, centroidWrites, NoveltyConfig, noveltyFactor } from "./novelty.ts"
import { makeSeasonality, SeasonalityConfig } from "./seasonality.ts"
import { bucketOf, type Cell, DAY, type MaxRecord, type Reads, ScoringState } from "./state.ts"
import { type ClosedWindow, closedWindow } from "./window.ts"

const defaults = <A, I>(schema: Schema.Schema<A, I>): A => Schema.decodeUnknownSync(schema)({})

export const ScoringConfig = Schema.Struct({
  allowedLateness: Schema.optionalWith(DurationString, { default: () => "2 hours" }).annotations({
    description:
      "how far out of event-time order input may arrive (source delays, replica skew): a signal is scored against buckets closed this long before it"
  }),
  retentionDays: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 365)), { default: () => 30 }).annotations({
    description: "days (wall time) a state bucket is kept after its last write; must cover the longest lookback"
  }),
  engagement: Schema.optionalWith(EngagementConfig, { default: () => defaults(EngagementConfig) }),
  freshness: Schema.optionalWith(FreshnessConfig, { default: () => defaults(FreshnessConfig) }),
  novelty: Schema.optionalWith(NoveltyConfig, { default: () => defaults(NoveltyConfig) }),
  communityFit: Schema.optionalWith(CommunityFitConfig, { default: () => defaults(CommunityFitConfig) }),
  seasonality: Schema.optionalWith(SeasonalityConfig, { default: () => defaults(SeasonalityConfig) })
}).pipe(
  Schema.filter(
    (c) =>
      c.retentionDays > Math.max(c.engagement.baselineDays, c.freshness.peakLookbackDays, c.novelty.lookbackDays) ||
      `retentionDays (${c.retentionDays}) must exceed the longest lookback (baseline, peak and centroid days)`
  )
)
export type ScoringConfig = typeof ScoringConfig.Type

export const combine = (factors: Factors, weights: Weights): number =>
  factors.freshness * weights.freshness +
  factors.engagement * weights.engagement +
  factors.novelty * weights.novelty +
  factors.communityFit * weights.communityFit +
  factors.seasonality * weights.seasonality

export interface ScoringInput {
  /** The signal's identity through the graph (its correlation id): state writes are idempotent by it. */
  readonly id: string
  /** The idea this signal makes unless it merges. */
  readonly ideaId: string
  /** Enriched (normalized) signal. */
  readonly signal: Signal
}

export interface ScoredSignal extends ScoringInput {
  /** Event time, ms. */
  readonly at: number
  readonly embedding: ReadonlyArray<number>
  readonly factors: Factors
  /** The figures behind the factors (rate, z, hours since peak, similarities, days to the occasion). */
  readonly details: Readonly<Record<string, number>>
  /** Set for a near-duplicate of a recent idea: it merges into that idea instead of making one. */
  readonly mergeInto?: { readonly ideaId: string; readonly similarity: number }
}

export interface ScoredBatch {
  /** The batch as a reader of the state: named by its signals, so a redelivery reads as itself. */
  readonly reader: string
  /** In the caller's order. */
  readonly signals: ReadonlyArray<ScoredSignal>
}

/** Read requests of one horizon, each made once for the signals that share it (a source's baseline, a topic's peaks, a category's days). */
const requests = <R>() => {
  const index = new Map<string, number>()
  const list: Array<R> = []
  return {
    list,
    /** The position of `key`'s request, made by `make` the first time. */
    add: (key: string, make: () => R) => {
      let i = index.get(key)
      if (i === undefined) {
        i = list.length
        index.set(key, i)
        list.push(make())
      }
      return i
    }
  }
}
/** `values` cut into consecutive runs as long as each of `lists`. */
const slices = <A>(lists: ReadonlyArray<ReadonlyArray<unknown>>, values: ReadonlyArray<A>): ReadonlyArray<ReadonlyArray<A>> => {
  let start = 0
  return lists.map((list) => values.slice(start, (start += list.length)))
}

/** A read of nothing: records the reader only. */
const NO_READS: Reads = { samples: [], maxes: [], sums: [] }

export const makeScorer = (config: ScoringConfig) => {
  const latenessMs = Duration.toMillis(Duration.decode(config.allowedLateness))
  const retainMs = config.retentionDays * DAY
  const seasonality = makeSeasonality(config.seasonality)
  const members = membersOf(config.communityFit.niches)
  let profiles: ReadonlyArray<ReadonlyArray<number>> | undefined

  const score = (inputs: ReadonlyArray<ScoringInput>) =>
    Effect.gen(function* () {
      const embedder = yield* Embedder
      const state = yield* ScoringState
      const index = yield* VectorIndex
      // The niche profiles are embedded once, by the first batch.
      profiles ??= yield* embedder.embed(config.communityFit.niches.map(profileText))
      const items = inputs
        .map((input, n) => ({ input, n, at: Date.parse(input.signal.capturedAt) }))
        .sort((a, b) => a.at - b.at || (a.input.id < b.input.id ? -1 : a.input.id > b.input.id ? 1 : 0))
      const embeddings = yield* embedder.embed(items.map((i) => i.input.signal.content))
      const rates = items.map((i) => engagementRate(i.input.signal))

      const topics = items.map((i) => topicsOf(i.input.signal, config.freshness))

      const reader = createHash("sha1").update(items.map((i) => i.input.id).join("\u0000")).digest("base64")
      const windows: ReadonlyArray<ClosedWindow> = items.map((i) => closedWindow(i.at, latenessMs))
      const writes = items.flatMap(({ input: { id, signal }, at }, k) => [
        ...engagementWrites(id, signal, rates[k], config.engagement),
        ...peakWrites(id, at, topics[k]!, rates[k]),
        ...centroidWrites(id, signal, embeddings[k]!)
      ])
      // The batch reads only buckets before its latest horizon. Its writes there (a batch that spans
      // midnight reads its own earlier day) go first; the rest, to days it does not read, go while it
      // reads and searches. All are durable when `score` returns, before the caller asks `late`.
      const lastHorizon = Math.max(...windows.map((w) => w.horizon))
      const lastRead = bucketOf(lastHorizon)
      const readFirst = writes.filter((w) => w.cell.bucket < lastRead)
      if (readFirst.length > 0) yield* state.write(readFirst, retainMs)
      // A reader before it searches: the search is not part of the state's atomic read, and an
      // idea another batch adds after it must find this reader when that batch asks `late`.
      yield* state.read(lastHorizon, NO_READS, reader)

      const readState = Effect.gen(function* () {
        const reads: Array<{
          readonly baseline: ReadonlyArray<number>
          readonly peaks: ReadonlyArray<MaxRecord | undefined>
          readonly centroid: ReadonlyArray<number> | undefined
        }> = []
        const horizons = [...new Set(windows.map((w) => w.horizon))].sort((a, b) => a - b)
        for (const horizon of horizons) {
          const group = items.flatMap((_, k) => (windows[k]!.horizon === horizon ? [k] : []))
          // One horizon, one set of closed buckets: requests are made per source, topic and category.
          const window = windows[group[0]!]!
          const samples = requests<Reads["samples"][number]>()
          const peaks = requests<ReadonlyArray<Cell>>()
          const categories = requests<ReadonlyArray<Cell>>()
          const plan = group.map((k) => {
            const signal = items[k]!.input.signal
            return {
              k,
              baseline: samples.add(signal.source, () => baselineRead(signal, window, config.engagement)),
              peaks: topics[k]!.map((topic) => peaks.add(topic, () => peakRead(topic, window, config.freshness))),
              category: categories.add(categoryOf(signal), () => centroidRead(signal, window, config.novelty))
            }
          })
          // One request for every topic's cells (one lookup per day's hash), one for every category's.
          const result = yield* state.read(horizon, { samples: samples.list, maxes: [peaks.list.flat()], sums: categories.list.flat() }, reader)
          const topicPeaks = slices(peaks.list, result.maxes[0]!)
          const categorySums = slices(categories.list, result.sums)
          // Signals of one horizon share their category's centroid (taken at the horizon).
          const centroids = categories.list.map((cells, c) => centroid(horizon, cells, categorySums[c]!, config.novelty))
          for (const p of plan) {
            reads[p.k] = { baseline: result.samples[p.baseline]!, peaks: p.peaks.flatMap((t) => topicPeaks[t]!), centroid: centroids[p.category] }
          }
        }
        return reads
      })

      const span = config.novelty.neighbourDays * DAY
      const searches = items.map((item, k) => ({
        embedding: embeddings[k]!,
        from: windows[k]!.horizon - span,
        to: windows[k]!.horizon,
        excludeId: item.input.ideaId,
        limit: config.novelty.neighbours
      }))
      // Each runs to its end even when another fails: no write or store query is left in flight
      // behind a failed batch (its retry starts from settled state). The search goes out first:
      // with the Redis layers, its read of new ideas is then not queued behind the state scripts,
      // which Redis runs while this process searches.
      const [searched, read, written] = yield* Effect.all(
        [index.nearest(searches), readState, state.write(writes.filter((w) => w.cell.bucket >= lastRead), retainMs)],
        { concurrency: "unbounded", mode: "either" }
      )
      if (Either.isLeft(written)) return yield* Effect.fail(written.left)
      if (Either.isLeft(read)) return yield* Effect.fail(read.left)
      if (Either.isLeft(searched)) return yield* Effect.fail(searched.left)
      const reads = read.right
      const found = searched.right

      const made: Array<IndexedIdea> = []
      const scored = items.map(({ input, at }, k): ScoredSignal => {
        const { signal } = input
        const embedding = embeddings[k]!
        const { horizon } = windows[k]!
        let nearest: { readonly ideaId: string; readonly similarity: number } | undefined
        const consider = (c: IndexedIdea) => {
          const similarity = cosine(embedding, c.embedding)
          if (nearest === undefined || similarity > nearest.similarity || (similarity === nearest.similarity && c.ideaId < nearest.ideaId)) {
            nearest = { ideaId: c.ideaId, similarity }
          }
        }
        found[k]!.forEach(consider)
        for (const m of made) if (m.at >= horizon - span && m.at < horizon && m.ideaId !== input.ideaId) consider(m)
        const merge = nearest !== undefined && nearest.similarity >= config.novelty.mergeThreshold ? nearest : undefined
        if (merge === undefined) made.push({ ideaId: input.ideaId, at, embedding })

        const rate = rates[k]
        const engagement = engagementFactor(rate, reads[k]!.baseline, config.engagement)
        const freshness = freshnessFactor(signal, rate, reads[k]!.peaks, config.freshness)
        const novelty = noveltyFactor(embedding, reads[k]!.centroid, nearest?.similarity)
        const fit = communityFitFactor(signal, embedding, profiles!, members, config.communityFit)
        const season = seasonality(signal)
        // Figures that exist only sometimes are set only then (in a fixed order: `--out` files compare byte for byte).
        const details: Record<string, number> = {}
        if (rate !== undefined) details["engagementRate"] = rate
        if (engagement.z !== undefined) details["engagementZ"] = engagement.z
        details["baselineSize"] = reads[k]!.baseline.length
        details["hoursSincePeak"] = freshness.hoursSincePeak
        if (freshness.hoursSincePublished !== undefined) details["hoursSincePublished"] = freshness.hoursSincePublished
        if (novelty.centroidSimilarity !== undefined) details["centroidSimilarity"] = novelty.centroidSimilarity
        if (novelty.neighbourSimilarity !== undefined) details["neighbourSimilarity"] = novelty.neighbourSimilarity
        if (fit.nicheSimilarity !== undefined) details["nicheSimilarity"] = fit.nicheSimilarity
        if (season.days !== undefined) details["occasionDays"] = season.days
        const factors = { freshness: freshness.value, engagement: engagement.value, novelty: novelty.value, communityFit: fit.value, seasonality: season.value }
        return merge === undefined ? { ...input, at, embedding, factors, details } : { ...input, at, embedding, factors, details, mergeInto: merge }
      })
      // Back in the caller's order.
      const signals = new Array<ScoredSignal>(scored.length)
      items.forEach((item, k) => (signals[item.n] = scored[k]!))
      return { reader, signals } satisfies ScoredBatch
    })

  /** After the batch's ideas are stored: per signal, whether another batch may have read past it without it. */
  const late = (batch: ScoredBatch) => Effect.flatMap(ScoringState, (state) => state.missedBy(batch.reader, batch.signals.map((s) => s.at)))

  return { config, score, late }
}

export type Scorer = ReturnType<typeof makeScorer>
