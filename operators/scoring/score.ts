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
import { Clock, Duration, Effect, Schema } from "effect"
import { Metrics } from "../../runtime/metrics.ts"
import { batch, decodeConfig, type SettingsInput, type StreamDef } from "../../runtime/topology.ts"
import { ideaIdOf, keyPhraseOf, signalIdOf } from "../ids.ts"
import { contentHash } from "../ingest/normalize.ts"
import type { Idea, Signal, Weights } from "../schemas.ts"
import { fromStore, IdeaIndex } from "./ideaIndex.ts"
import { combine, makeScorer, ScoringConfig, type ScoredSignal } from "./scorer.ts"
import { DurationString } from "../sources/http.ts"
import { Store } from "../store/store.ts"

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

export const score = (
  config: typeof ScoreConfig.Encoded,
  io: { readonly from: StreamDef<Signal>; readonly to: StreamDef<Idea> },
  settings?: SettingsInput
) => {
  const c = decodeConfig("score", ScoreConfig, config)
  const refreshMs = Duration.toMillis(Duration.decode(c.weightsRefresh))
  const scorer = makeScorer(c.scoring)
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
        const now = yield* Clock.currentTimeMillis
        if (current === undefined || now - current.readAt >= refreshMs) {
          const latest = yield* store.currentWeights()
          current = { version: latest.version, weights: latest.weights, readAt: now }
        }
        const weights = current
        const batch = yield* scorer
          .score(entries.map((e) => ({ id: e.correlationId, ideaId: ideaIdOf(e.correlationId), signal: e.data })))
          .pipe(Effect.provideServiceEffect(IdeaIndex, fromStore))
        const scored = batch.signals
        const ideas = scored.map((s) => (s.mergeInto === undefined ? ideaOf(s, weights) : undefined))
        yield* store.upsertIdeas(
          scored.flatMap((s, i) => {
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
        )
        yield* store.recordMerges(
          scored.flatMap((s) =>
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
        )
        const late = (yield* scorer.late(batch)).filter(Boolean).length
        if (late > 0) {
          metrics.registry.counter("desainz_score_late_signals_total", "Signals whose state arrived after a scorer read past their event time").inc({ operator: "score" }, late)
        }
        return ideas.map((idea) => (idea === undefined ? [] : [idea]))
      })
  })
}
