/**
 * Engagement: how unusual a signal's engagement rate is for its source, as a robust
 * z-score against the source's baseline of the 7 closed days before it.
 *
 * - rate: (likes + comments + views + positive net votes) per minute of the item's age at
 *   capture (`metadata.publishedAt` to `capturedAt`), or the plain total when the source
 *   gives no publication time. Taken on a log scale (log1p): engagement is heavy-tailed,
 *   and 10x the views should count as a step, not as 10x the score.
 * - baseline: a bottom-k sample (by hash of the signal's id) per source and event-time
 *   day, merged over the window: bounded memory, and the same sample whatever the order.
 * - z = (x - median) / (1.4826 * MAD): median and MAD, so one viral post moves the
 *   baseline by one sample instead of dragging a mean and a standard deviation with it.
 * - mapped to 0..1 with the logistic 1 / (1 + e^-z): the baseline's median maps to 0.5,
 *   z = 2 to 0.88.
 * - cold start (fewer than `minSamples` in the window): rate / (rate + coldStartScale), a
 *   saturating absolute scale. A signal with no engagement figures at all scores 0.
 */
import { Schema } from "effect"
import type { Signal } from "../schemas.ts"
import { bucketOf, type Cell, type Write } from "./state.ts"
import type { ClosedWindow } from "./window.ts"

export const EngagementConfig = Schema.Struct({
  baselineDays: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 90)), { default: () => 7 }).annotations({
    description: "closed days of the source's history a signal is compared with"
  }),
  sampleSize: Schema.optionalWith(Schema.Int.pipe(Schema.between(16, 10_000)), { default: () => 512 }).annotations({
    description: "engagement rates kept per source and day (a bottom-k sample); bounds memory"
  }),
  minSamples: Schema.optionalWith(Schema.Int.pipe(Schema.between(2, 10_000)), { default: () => 20 }).annotations({
    description: "baseline size below which the cold-start scale is used instead of the z-score"
  }),
  coldStartScale: Schema.optionalWith(Schema.Number.pipe(Schema.positive()), { default: () => 50 }).annotations({
    description: "engagement per minute that maps to 0.5 while a source has no baseline yet"
  })
})
export type EngagementConfig = typeof EngagementConfig.Type

export const FAMILY = "engagement"

/** Consistency constant: 1.4826 * MAD estimates the standard deviation of a normal sample. */
const MAD_TO_SIGMA = 1.4826
/** A floor on the spread (log scale) so a baseline of identical values does not explode z. */
const MIN_SIGMA = 0.05

/** When the item was published at its source (`metadata.publishedAt`, ms), if the source says. */
export const publishedAt = (signal: Signal): number | undefined => {
  const published = Date.parse(String(signal.metadata["publishedAt"] ?? ""))
  return Number.isNaN(published) ? undefined : published
}

/** Engagement per minute, or undefined when the source reports no engagement figure. */
export const engagementRate = (signal: Signal): number | undefined => {
  const e = signal.engagement
  if (e.likes === undefined && e.comments === undefined && e.views === undefined && e.score === undefined) return undefined
  const total = (e.likes ?? 0) + (e.comments ?? 0) + (e.views ?? 0) + Math.max(0, e.score ?? 0)
  const captured = Date.parse(signal.capturedAt)
  const published = publishedAt(signal)
  const minutes = published === undefined ? 1 : Math.max(1, (captured - published) / 60_000)
  return total / minutes
}

const cellsFor = (source: string, buckets: ReadonlyArray<number>): ReadonlyArray<Cell> =>
  buckets.map((bucket) => ({ family: FAMILY, bucket, key: source }))

/** The signal's sample entry in its own day's baseline. */
export const engagementWrites = (id: string, signal: Signal, rate: number | undefined, config: EngagementConfig): ReadonlyArray<Write> =>
  rate === undefined
    ? []
    : [{ _tag: "Sample", cell: cellsFor(signal.source, [bucketOf(Date.parse(signal.capturedAt))])[0]!, id, value: Math.log1p(rate), keep: config.sampleSize }]

export const baselineRead = (signal: Signal, window: ClosedWindow, config: EngagementConfig) => ({
  cells: cellsFor(signal.source, window.buckets(config.baselineDays)),
  keep: config.sampleSize
})

const median = (sorted: ReadonlyArray<number>): number => {
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** Median and scaled MAD of a sample. */
export const robustScale = (sample: ReadonlyArray<number>): { readonly median: number; readonly sigma: number } => {
  const sorted = [...sample].sort((a, b) => a - b)
  const m = median(sorted)
  const deviations = sorted.map((x) => Math.abs(x - m)).sort((a, b) => a - b)
  return { median: m, sigma: Math.max(MIN_SIGMA, MAD_TO_SIGMA * median(deviations)) }
}

export const logistic = (z: number): number => 1 / (1 + Math.exp(-z))

export interface EngagementValue {
  readonly value: number
  /** Absent on a cold start. */
  readonly z?: number
}

/** Baselines are shared by every signal of a source read at one horizon: scale each once. */
const scales = new WeakMap<ReadonlyArray<number>, ReturnType<typeof robustScale>>()

export const engagementFactor = (rate: number | undefined, baseline: ReadonlyArray<number>, config: EngagementConfig): EngagementValue => {
  if (rate === undefined) return { value: 0 }
  if (baseline.length < config.minSamples) return { value: rate / (rate + config.coldStartScale) }
  let scale = scales.get(baseline)
  if (scale === undefined) {
    scale = robustScale(baseline)
    scales.set(baseline, scale)
  }
  const { median: m, sigma } = scale
  const z = (Math.log1p(rate) - m) / sigma
  return { value: logistic(z), z }
}
