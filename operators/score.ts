/**
 * Score: turns an enriched signal into a scored idea, S = Σ wᵢ·factorᵢ, with the current
 * weight version from the store (re-read every `weightsRefresh`, recorded on each idea).
 *
 * Time is event time: "now" is the newest event time this scorer has seen (its
 * watermark), never the wall clock, so replaying a recording reproduces its scores.
 */
import { Duration, Effect, Schema } from "effect"
import { decodeConfig, batch, type SettingsInput, type StreamDef } from "../runtime/topology.ts"
import { ideaIdOf, keyPhraseOf, signalIdOf } from "./ideas.ts"
import { type Factors, type Idea, type Signal, type Weights } from "./schemas.ts"
import { Store } from "./store.ts"

export const ScoreConfig = Schema.Struct({
  freshnessHalfLifeHours: Schema.Number.pipe(Schema.positive()).annotations({
    description: "hours after its event time at which a signal's freshness is 0.5",
    default: 48
  }),
  engagementScale: Schema.Number.pipe(Schema.positive()).annotations({
    description: "engagement per minute at which the engagement factor is 0.5",
    default: 50
  }),
  weightsRefresh: Schema.DurationFromSelf.annotations({ description: "how often the weights are re-read from the store" })
})
export type ScoreConfig = typeof ScoreConfig.Type

const HOUR = 3_600_000

/** 1 at the event, 0.5 after one half-life, falling like a logistic decay after. */
export const freshness = (hoursSince: number, halfLife: number): number => 2 / (1 + Math.exp((Math.max(0, hoursSince) / halfLife) * Math.log(3)))

/** Saturating rate of (likes + comments + views) per minute since publication. */
export const engagement = (signal: Signal, scale: number): number => {
  const e = signal.engagement
  const total = (e.likes ?? 0) + (e.comments ?? 0) + (e.views ?? 0) + Math.max(0, e.score ?? 0)
  if (total === 0) return 0
  const published = Date.parse(String(signal.metadata["publishedAt"] ?? "")) || Date.parse(signal.capturedAt)
  const minutes = Math.max(1, (Date.parse(signal.capturedAt) - published) / 60_000)
  const rate = total / minutes
  return rate / (rate + scale)
}

export const combine = (factors: Factors, weights: Weights): number =>
  factors.freshness * weights.freshness +
  factors.engagement * weights.engagement +
  factors.novelty * weights.novelty +
  factors.communityFit * weights.communityFit +
  factors.seasonality * weights.seasonality

export const score = (
  config: Partial<Omit<typeof ScoreConfig.Type, "weightsRefresh">> & { readonly weightsRefresh?: Duration.DurationInput },
  io: { readonly from: StreamDef<Signal>; readonly to: StreamDef<Idea> },
  settings?: SettingsInput
) => {
  const c = decodeConfig("score", ScoreConfig, {
    freshnessHalfLifeHours: 48,
    engagementScale: 50,
    ...config,
    weightsRefresh: Duration.decode(config.weightsRefresh ?? "30 seconds")
  })
  let watermark = 0
  let weights: { version: number; weights: Weights; readAt: number } | undefined
  return batch({
    name: "score",
    kind: "score",
    ...io,
    settings,
    config: { ...c, weightsRefresh: Duration.format(c.weightsRefresh) },
    run: (entries) =>
      Effect.gen(function* () {
        const store = yield* Store
        if (weights === undefined || Date.now() - weights.readAt > Duration.toMillis(c.weightsRefresh)) {
          const current = yield* store.currentWeights()
          weights = { version: current.version, weights: current.weights, readAt: Date.now() }
        }
        const w = weights
        const ideas = entries.map((e): Idea => {
          const s = e.data
          const at = Date.parse(s.capturedAt)
          watermark = Math.max(watermark, at)
          // A signal peaks at its event time; an occasion peaks on its date and stays fresh until then.
          const peak = s.eventDate ? Date.parse(s.eventDate) : at
          const factors: Factors = {
            freshness: freshness((watermark - peak) / HOUR, c.freshnessHalfLifeHours),
            engagement: engagement(s, c.engagementScale),
            novelty: 0,
            communityFit: 0,
            seasonality: 0
          }
          const keyPhrase = keyPhraseOf(s.content)
          return {
            ideaId: ideaIdOf(e.correlationId),
            signalId: signalIdOf(s.contentHash!),
            signal: s,
            keyPhrase,
            title: keyPhrase,
            ...(s.category ? { niche: s.category } : {}),
            score: combine(factors, w.weights),
            factors,
            weightsVersion: w.version
          }
        })
        yield* store.upsertIdeas(
          ideas.map((i) => ({
            id: i.ideaId,
            signalId: i.signalId,
            title: i.title,
            description: i.signal.content,
            embedding: null,
            score: i.score,
            factors: { ...i.factors },
            weightsVersion: i.weightsVersion
          }))
        )
        return ideas.map((i) => [i])
      })
  })
}
