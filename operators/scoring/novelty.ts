/**
 * Novelty: how far a signal is from what its category has been saying lately, and from
 * the ideas already made.
 *
 * - centroid: 1 - cosine(embedding, the category's rolling centroid). Each signal adds its
 *   embedding (quantized to integers, so sums are exact in any order) to its category's
 *   sum for its day; a signal reads the closed days of the lookback, each weighted by
 *   0.5^(age / halfLife) in event time from the signal's own time.
 * - neighbours: 1 - the highest cosine to a recent idea (pgvector, `order by embedding <=>`)
 *   in the closed window. At or above `mergeThreshold` the signal is a near-duplicate and
 *   merges into that idea instead of making a new one.
 *
 * Novelty is the smaller of the two, clamped to 0..1 (cosine may be negative). A category
 * with no history yet, and a signal with no recent neighbour, are fully novel (1).
 */
import { Schema } from "effect"
import { cosine } from "./embedder.ts"
import type { Signal } from "../schemas.ts"
import { bucketOf, DAY, type Cell, type SumRecord, type Write } from "./state.ts"
import { bucketMiddle, type ClosedWindow } from "./window.ts"

export const NoveltyConfig = Schema.Struct({
  halfLifeDays: Schema.optionalWith(Schema.Number.pipe(Schema.positive()), { default: () => 3 }).annotations({
    description: "event-time half-life of a day's weight in its category's centroid"
  }),
  lookbackDays: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 90)), { default: () => 14 }).annotations({
    description: "closed days summed into a category's centroid"
  }),
  neighbourDays: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 90)), { default: () => 3 }).annotations({
    description: "closed days of ideas searched for near-duplicates"
  }),
  neighbours: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 100)), { default: () => 5 }).annotations({
    description: "nearest ideas fetched per signal (the most similar decides)"
  }),
  mergeThreshold: Schema.optionalWith(Schema.Number.pipe(Schema.between(0, 1)), { default: () => 0.9 }).annotations({
    description: "cosine to a recent idea at or above which a signal merges into it"
  })
})
export type NoveltyConfig = typeof NoveltyConfig.Type

export const FAMILY = "centroid"
/** 2^16 steps per unit: components of a unit vector lose < 1e-5, sums stay exact integers. */
const SCALE = 65_536

export const categoryOf = (signal: Signal): string => (signal.category ?? "").toLowerCase() || "(none)"

/** Small integers throughout (-0 counts as 0: sums are the same), so the array holds no boxed numbers. */
export const quantize = (embedding: ReadonlyArray<number>): ReadonlyArray<number> => {
  const out = new Array<number>(embedding.length).fill(0)
  for (let i = 0; i < embedding.length; i++) if (embedding[i] !== 0) out[i] = Math.round(embedding[i]! * SCALE) || 0
  return out
}

export const centroidWrites = (id: string, signal: Signal, embedding: ReadonlyArray<number>): ReadonlyArray<Write> => [
  { _tag: "Sum", cell: { family: FAMILY, bucket: bucketOf(Date.parse(signal.capturedAt)), key: categoryOf(signal) }, id, vector: quantize(embedding) }
]

export const centroidRead = (signal: Signal, window: ClosedWindow, config: NoveltyConfig): ReadonlyArray<Cell> =>
  window.buckets(config.lookbackDays).map((bucket) => ({ family: FAMILY, bucket, key: categoryOf(signal) }))

/**
 * The decayed centroid direction (unnormalized: only cosines are taken of it), or undefined
 * when empty. Days weigh 0.5^(age / halfLife) as seen from `at`; a later `at` only scales
 * every weight alike, so signals sharing a horizon can share one centroid.
 */
export const centroid = (
  at: number,
  cells: ReadonlyArray<Cell>,
  sums: ReadonlyArray<SumRecord | undefined>,
  config: NoveltyConfig
): ReadonlyArray<number> | undefined => {
  let out: Array<number> | undefined
  sums.forEach((sum, i) => {
    if (sum === undefined || sum.n === 0) return
    const weight = Math.pow(0.5, (at - bucketMiddle(cells[i]!.bucket)) / (config.halfLifeDays * DAY))
    // Filled with zeros up front, so it holds unboxed doubles (and a dimension no day has stays 0).
    out ??= new Array<number>(Math.max(...sums.map((s) => s?.vector.length ?? 0))).fill(0)
    const { vector } = sum
    for (let d = 0; d < vector.length; d++) out[d] = out[d]! + weight * (vector[d] ?? 0)
  })
  return out
}

export interface NoveltyValue {
  readonly value: number
  readonly centroidSimilarity?: number
  readonly neighbourSimilarity?: number
}

const clamp01 = (x: number) => Math.min(1, Math.max(0, x))

export const noveltyFactor = (
  embedding: ReadonlyArray<number>,
  categoryCentroid: ReadonlyArray<number> | undefined,
  neighbourSimilarity: number | undefined
): NoveltyValue => {
  const centroidSimilarity = categoryCentroid === undefined ? undefined : cosine(embedding, categoryCentroid)
  const value = clamp01(Math.min(1 - (centroidSimilarity ?? 0), 1 - (neighbourSimilarity ?? 0)))
  return {
    value,
    ...(centroidSimilarity !== undefined ? { centroidSimilarity } : {}),
    ...(neighbourSimilarity !== undefined ? { neighbourSimilarity } : {})
  }
}
