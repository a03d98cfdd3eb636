/**
 * Ranking metrics for backtests: how well an ordering by score recovers an ordering by
 * outcome. Pure functions over (score, outcome) pairs.
 *
 * Items are ranked within cohorts (by default one event-time day): a scorer is used to
 * pick among what arrived together, and outcomes of items seen on different days are not
 * comparable (a video first seen on the last day of a recording has had no time to grow).
 * Each metric is the mean over cohorts that can measure it.
 *
 * - NDCG@k: gain = outcome - the cohort's lowest outcome; DCG = Σ gain / log2(rank + 1)
 *   over the top k by score; divided by the DCG of the best possible order.
 * - precision@k: share of the top k by score that are relevant, relevant meaning an
 *   outcome at or above the cohort's 75th percentile (its top quartile).
 * - Spearman's rho: the correlation of score ranks and outcome ranks (ties get their
 *   average rank).
 * Score ties are broken by item id, so every run ranks identically.
 */

export interface Ranked {
  readonly id: string
  readonly score: number
  readonly outcome: number
}

export interface RankingMetrics {
  readonly ndcg: number | null
  readonly precision: number | null
  readonly spearman: number | null
  readonly items: number
  readonly cohorts: number
}

const byScore = (a: Ranked, b: Ranked) => b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

const dcg = (gains: ReadonlyArray<number>, k: number): number => {
  let sum = 0
  for (let i = 0; i < Math.min(k, gains.length); i++) sum += gains[i]! / Math.log2(i + 2)
  return sum
}

export const ndcgAt = (items: ReadonlyArray<Ranked>, k: number): number | null => {
  if (items.length === 0) return null
  const floor = Math.min(...items.map((i) => i.outcome))
  const ideal = dcg(items.map((i) => i.outcome - floor).sort((a, b) => b - a), k)
  if (ideal <= 0) return null
  return dcg([...items].sort(byScore).map((i) => i.outcome - floor), k) / ideal
}

/** Nearest-rank percentile. */
const percentile = (values: ReadonlyArray<number>, q: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
}

export const precisionAt = (items: ReadonlyArray<Ranked>, k: number): number | null => {
  if (items.length === 0) return null
  const threshold = percentile(items.map((i) => i.outcome), 0.75)
  const top = [...items].sort(byScore).slice(0, k)
  return top.filter((i) => i.outcome >= threshold).length / top.length
}

/** 1-based ranks, ties sharing their average rank. */
const ranks = (values: ReadonlyArray<number>): ReadonlyArray<number> => {
  const order = values.map((v, i) => ({ v, i })).sort((a, b) => a.v - b.v)
  const out = new Array<number>(values.length)
  for (let start = 0; start < order.length; ) {
    let end = start
    while (end + 1 < order.length && order[end + 1]!.v === order[start]!.v) end++
    for (let j = start; j <= end; j++) out[order[j]!.i] = (start + end) / 2 + 1
    start = end + 1
  }
  return out
}

export const spearman = (items: ReadonlyArray<Ranked>): number | null => {
  if (items.length < 3) return null
  const a = ranks(items.map((i) => i.score))
  const b = ranks(items.map((i) => i.outcome))
  const mean = (items.length + 1) / 2
  let cov = 0
  let va = 0
  let vb = 0
  for (let i = 0; i < items.length; i++) {
    cov += (a[i]! - mean) * (b[i]! - mean)
    va += (a[i]! - mean) ** 2
    vb += (b[i]! - mean) ** 2
  }
  return va > 0 && vb > 0 ? cov / Math.sqrt(va * vb) : null
}

const mean = (values: ReadonlyArray<number | null>): number | null => {
  const present = values.filter((v): v is number => v !== null)
  return present.length === 0 ? null : present.reduce((s, v) => s + v, 0) / present.length
}

/** The metrics of one weight set over cohorts of items. */
export const evaluate = (cohorts: ReadonlyArray<ReadonlyArray<Ranked>>, k: number): RankingMetrics => ({
  ndcg: mean(cohorts.map((c) => ndcgAt(c, k))),
  precision: mean(cohorts.map((c) => precisionAt(c, k))),
  spearman: mean(cohorts.map(spearman)),
  items: cohorts.reduce((n, c) => n + c.length, 0),
  cohorts: cohorts.length
})
