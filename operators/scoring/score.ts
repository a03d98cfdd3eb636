/**
 * Score: turns enriched signals into scored ideas, S = Σ wᵢ·factorᵢ over freshness,
 * engagement, novelty, community fit and seasonality (operators/scoring/), with the
 * current weight version from the store (re-read every `weightsRefresh`, recorded on each
 * idea). Each idea is stored with its per-factor breakdown and its embedding.
 *
 * A near-duplicate of a recent idea (cosine at or above `novelty.mergeThreshold`) makes no
 * new idea: it is recorded as a merge into that one (`idea_merges`, `ideas.merge_count`)
 * and nothing is emitted.
 *
 * Time is event time throughout (see scoring/window.ts): a replay of the same stream
 * yields the same scores, and any number of replicas score a signal as one would, as long
 * as input stays within `allowedLateness` of event-time order (replicas included). Input
 * beyond it is counted in `desainz_score_late_signals_total`: with that at 0, every signal
 * was scored against complete history.
 */
import { Clock, Duration, Effect, Option, Schema } from "effect"
import { Metrics, type MetricsRegistry } from "../../runtime/metrics.ts"
import { batch, decodeConfig, type SettingsInput, type StreamDef } from "../../runtime/topology.ts"
import { ideaIdOf, keyPhraseOf, signalIdOf } from "../ids.ts"
import { contentHash } from "../ingest/normalize.ts"
import type { Idea, Signal, Weights } from "../schemas.ts"
import { combine, makeScorer, ScoringConfig, type ScoredSignal } from "./scorer.ts"
import { type IndexedIdea, makePgvector, VectorIndex, type VectorIndexShape } from "./vectorIndex.ts"
import { DurationString } from "../sources/http.ts"
import { Store, type StoreService } from "../store/store.ts"
import { cosine } from "./embedder.ts"
import { bucketOf, DAY } from "./state.ts"

export const ScoreConfig = Schema.Struct({
  scoring: Schema.optionalWith(ScoringConfig, { default: () => Schema.decodeUnknownSync(ScoringConfig)({}) }),
  weightsRefresh: Schema.optionalWith(DurationString, { default: () => "30 seconds" }).annotations({
    description: "how often the current weight version is re-read from the store"
  })
})
export type ScoreConfig = typeof ScoreConfig.Type

/** The idea a scored signal makes (its factors on the stream; the breakdown goes to the store). */
export const ideaOf = (s: ScoredSignal, weights: { readonly version: number; readonly weights: Weights }): Idea => {
  const keyPhrase = keyPhraseOf(s.signal.content)
  return {
    ideaId: s.ideaId,
    signalId: signalIdOf(s.signal.contentHash ?? contentHash(s.signal)),
    signal: s.signal,
    keyPhrase,
    title: keyPhrase,
    ...(s.signal.category ? { niche: s.signal.category } : {}),
    score: combine(s.factors, weights.weights),
    factors: s.factors,
    weightsVersion: weights.version
  }
}

/**
 * A late signal arrived after another batch read past it: an idea made by that batch may be
 * a near-duplicate it would have merged into, had the late signal's idea been there. Those
 * ideas are merged into it now (`absorbIdea`), so a crash and a redelivery leave the same
 * ideas as an undisturbed run. Returns ideas absorbed.
 *
 * The search covers exactly the later ideas whose closed window holds the late signal's
 * event time, so ideas that could not have seen it (its own day's) take no place in the
 * results; it is repeated while every result merges. A later idea near several late signals
 * merges into the most similar (ties: smaller id), as its own scoring would have chosen.
 */
export const mergeLate = (
  late: ReadonlyArray<Pick<ScoredSignal, "ideaId" | "at" | "embedding" | "mergeInto">>,
  index: VectorIndexShape,
  store: StoreService,
  config: ScoringConfig
) =>
  Effect.gen(function* () {
    const latenessMs = Duration.toMillis(Duration.decode(config.allowedLateness))
    const { neighbourDays, neighbours, mergeThreshold } = config.novelty
    // A later idea at t reads the closed days before bucketOf(t - lateness): those after the
    // late signal's day, up to neighbourDays of them.
    const windowOf = (at: number) => ({ from: (bucketOf(at) + 1) * DAY + latenessMs, to: (bucketOf(at) + neighbourDays + 1) * DAY + latenessMs })
    const seen = new Set<string>()
    let searching = late.filter((s) => s.mergeInto === undefined)
    let absorbed = 0
    while (searching.length > 0) {
      const found = yield* index.nearest(searching.map((s) => ({ embedding: s.embedding, ...windowOf(s.at), excludeId: s.ideaId, limit: neighbours })))
      const into = new Map<string, { readonly later: IndexedIdea; readonly ideaId: string; readonly similarity: number }>()
      const again: typeof searching = []
      for (const [k, s] of searching.entries()) {
        let merging = 0
        for (const later of found[k]!) {
          const similarity = cosine(s.embedding, later.embedding)
          if (similarity < mergeThreshold) continue
          merging++
          if (seen.has(later.ideaId)) continue
          const best = into.get(later.ideaId)
          if (best === undefined || similarity > best.similarity || (similarity === best.similarity && s.ideaId < best.ideaId)) {
            into.set(later.ideaId, { later, ideaId: s.ideaId, similarity })
          }
        }
        // A full list that merges whole may hide more behind it: those are gone from the index now.
        if (merging === neighbours && found[k]!.some((later) => !seen.has(later.ideaId))) again.push(s)
      }
      for (const [id, m] of [...into].sort(([a], [b]) => (a < b ? -1 : 1))) {
        seen.add(id)
        if (yield* store.absorbIdea({ ideaId: id, into: m.ideaId, similarity: m.similarity, eventAt: new Date(m.later.at) })) absorbed++
        // Gone from the index too, recorded or not (a redelivery may find it recorded already).
        yield* index.remove([m.later])
      }
      searching = again
    }
    return absorbed
  })

/** The parts of a score batch whose time is counted. */
export const SCORE_PARTS = ["score", "store", "late"] as const
export type ScorePart = (typeof SCORE_PARTS)[number]

/** Where a replica's time goes, per part: a store (or index) that holds the replicas up shows in `store`. */
export const scoreSeconds = (registry: MetricsRegistry) =>
  registry.counter(
    "desainz_score_seconds_total",
    "Time the score operator spent per part of its batches: score (embedding, state, neighbour search, factors), store (ideas, merges and index entries written), late (late check and merges)"
  )

export const score = (
  config: typeof ScoreConfig.Encoded,
  io: { readonly from: StreamDef<Signal>; readonly to: StreamDef<Idea> },
  settings?: SettingsInput
) => {
  const c = decodeConfig("score", ScoreConfig, config)
  const refreshMs = Duration.toMillis(Duration.decode(c.weightsRefresh))
  const scorer = makeScorer(c.scoring)
  let pgvector: VectorIndexShape | undefined
  let current: { readonly version: number; readonly weights: Weights; readonly readAt: number } | undefined
  return batch({
    name: "score",
    kind: "score",
    ...io,
    settings,
    config: c,
    run: (entries) =>
      Effect.gen(function* () {
        const store = yield* Store
        const metrics = yield* Metrics
        const configured = yield* Effect.serviceOption(VectorIndex)
        const now = yield* Clock.currentTimeMillis
        if (current === undefined || now - current.readAt >= refreshMs) {
          const latest = yield* store.currentWeights()
          current = { version: latest.version, weights: latest.weights, readAt: now }
        }
        const weights = current
        // The topology's VectorIndex, else pgvector through the store.
        const index = Option.isSome(configured) ? configured.value : (pgvector ??= yield* makePgvector())
        const spent = scoreSeconds(metrics.registry)
        const timed =
          (part: ScorePart) =>
          <A, E, R>(effect: Effect.Effect<A, E, R>) =>
            Effect.map(Effect.timed(effect), ([took, a]) => {
              spent.inc({ operator: "score", part }, Duration.toSeconds(took))
              return a
            })
        const batch = yield* scorer
          .score(entries.map((e) => ({ id: e.correlationId, ideaId: ideaIdOf(e.correlationId), signal: e.data })))
          .pipe(Effect.provideService(VectorIndex, index), timed("score"))
        const scored = batch.signals
        const ideas = scored.map((s) => (s.mergeInto === undefined ? ideaOf(s, weights) : undefined))
        const newIdeas = scored.flatMap((s, i) => {
          const idea = ideas[i]
          return idea === undefined
            ? []
            : [
                {
                  id: idea.ideaId,
                  signalId: idea.signalId,
                  title: idea.title,
                  description: s.signal.content,
                  embedding: s.embedding,
                  score: idea.score,
                  factors: { ...s.factors, ...s.details },
                  weightsVersion: idea.weightsVersion,
                  eventAt: new Date(s.at)
                }
              ]
        })
        const merges = scored.flatMap((s) =>
          s.mergeInto === undefined
            ? []
            : [
                {
                  mergedId: s.ideaId,
                  ideaId: s.mergeInto.ideaId,
                  signalId: signalIdOf(s.signal.contentHash ?? contentHash(s.signal)),
                  similarity: s.mergeInto.similarity,
                  eventAt: new Date(s.at)
                }
              ]
        )
        const indexed = scored.filter((s) => s.mergeInto === undefined).map((s) => ({ ideaId: s.ideaId, at: s.at, embedding: s.embedding }))
        // Ideas first: a merge row points to its idea, and another replica that finds an idea in the
        // index may record a merge into it at once. Then the merges and the index entries, together.
        yield* Effect.andThen(
          store.upsertIdeas(newIdeas),
          Effect.all([store.recordMerges(merges), index.add(indexed)], { concurrency: "unbounded", discard: true })
        ).pipe(timed("store"))
        yield* Effect.gen(function* () {
          const lateFlags = yield* scorer.late(batch)
          const late = scored.filter((_, i) => lateFlags[i])
          if (late.length === 0) return
          metrics.registry.counter("desainz_score_late_signals_total", "Signals whose state arrived after a scorer read past their event time").inc({ operator: "score" }, late.length)
          const absorbed = yield* mergeLate(late, index, store, c.scoring)
          if (absorbed > 0) {
            metrics.registry
              .counter("desainz_score_late_merges_total", "Ideas merged afterwards into an older near-duplicate that arrived late")
              .inc({ operator: "score" }, absorbed)
          }
        }).pipe(timed("late"))
        return ideas.map((idea) => (idea === undefined ? [] : [idea]))
      })
  })
}
