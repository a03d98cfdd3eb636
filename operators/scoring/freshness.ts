/**
 * Freshness: sigmoid(decay(age)), the age being the longer of the hours since the peak of
 * the signal's topic and the hours since the item itself was published.
 *
 * A topic is a source's key phrase or tag ("youtube/thanksgiving"): every signal with an
 * engagement rate records (rate, event time) under each of its topics, per day bucket, as
 * a maximum. A signal's peak is the highest rate among itself and its topics' records in
 * the closed window before it: a topic that peaked three days ago makes today's signal on
 * it stale, a topic at its highest so far makes it fresh. A calendar signal peaks on its
 * `eventDate`, so it stays fresh until the occasion and fades after it.
 *
 * The item's own age counts too (`metadata.publishedAt`, when the source gives it): a video
 * published ten days ago is not fresh because its topic peaks today. On the YouTube trending
 * slice this is what made freshness worth its weight (see the README's backtest section):
 * the topic peak alone is 0 hours for most signals (each is its topic's highest so far).
 *
 * Mapped to 0..1 by 2 / (1 + e^(ln 3 * h / halfLife)): 1 at the peak, 0.5 one half-life
 * later, a logistic tail after (never negative, never above 1).
 */
import { Schema } from "effect"
import { keyPhraseOf } from "../ids.ts"
import type { Signal } from "../schemas.ts"
import { publishedAt } from "./engagement.ts"
import { bucketOf, type Cell, type MaxRecord, type Write } from "./state.ts"
import type { ClosedWindow } from "./window.ts"

export const FreshnessConfig = Schema.Struct({
  halfLifeHours: Schema.optionalWith(Schema.Number.pipe(Schema.positive()), { default: () => 48 }).annotations({
    description: "hours after its topic's peak at which a signal's freshness is 0.5"
  }),
  peakLookbackDays: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 90)), { default: () => 7 }).annotations({
    description: "closed days of a topic's history searched for its peak"
  }),
  maxTopics: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 32)), { default: () => 6 }).annotations({
    description: "topics per signal: its key phrase, then its first tags"
  })
})
export type FreshnessConfig = typeof FreshnessConfig.Type

export const FAMILY = "peak"
const HOUR = 3_600_000

/** 1 at the peak, 0.5 after one half-life, falling like a logistic decay after. */
export const freshness = (hoursSince: number, halfLife: number): number => 2 / (1 + Math.exp((Math.max(0, hoursSince) / halfLife) * Math.log(3)))

/** The signal's topics, scoped to its source (rates of two sources do not compare). */
export const topicsOf = (signal: Signal, config: FreshnessConfig): ReadonlyArray<string> => {
  const topics = new Set([keyPhraseOf(signal.content).toLowerCase(), ...signal.tags.map((t) => t.toLowerCase())])
  return [...topics].slice(0, config.maxTopics).map((t) => `${signal.source}/${t}`)
}

/** The signal's record under each of its topics (`topicsOf`) in its own day. */
export const peakWrites = (id: string, at: number, topics: ReadonlyArray<string>, rate: number | undefined): ReadonlyArray<Write> =>
  rate === undefined ? [] : topics.map((key) => ({ _tag: "Max", cell: { family: FAMILY, bucket: bucketOf(at), key }, id, value: rate, at }))

/** One topic's cells in the window, oldest first. */
export const peakRead = (topic: string, window: ClosedWindow, config: FreshnessConfig): ReadonlyArray<Cell> =>
  window.buckets(config.peakLookbackDays).map((bucket) => ({ family: FAMILY, bucket, key: topic }))

export interface FreshnessValue {
  readonly value: number
  readonly hoursSincePeak: number
  /** Absent when the source gives no publication time. */
  readonly hoursSincePublished?: number
}

export const freshnessFactor = (
  signal: Signal,
  rate: number | undefined,
  history: ReadonlyArray<MaxRecord | undefined>,
  config: FreshnessConfig
): FreshnessValue => {
  const at = Date.parse(signal.capturedAt)
  let peakAt = signal.eventDate !== undefined ? Date.parse(signal.eventDate) : at
  if (signal.eventDate === undefined && rate !== undefined) {
    let best = rate
    for (const record of history) {
      if (record !== undefined && record.value > best) {
        best = record.value
        peakAt = record.at
      }
    }
  }
  const hoursSincePeak = Math.max(0, at - peakAt) / HOUR
  const published = publishedAt(signal)
  if (published === undefined) return { value: freshness(hoursSincePeak, config.halfLifeHours), hoursSincePeak }
  const hoursSincePublished = Math.max(0, at - published) / HOUR
  return { value: freshness(Math.max(hoursSincePeak, hoursSincePublished), config.halfLifeHours), hoursSincePeak, hoursSincePublished }
}
