/**
 * Evaluates weight sets on replayed signals with known outcomes, in one pass: the factors
 * were computed once per signal by the replay, each weight set only recombines them.
 *
 * Outcomes (one number per signal, higher is better):
 * - YouTube trending recordings: log views growth after the first appearance,
 *   ln((1 + views at the last appearance) / (1 + views at the first)). It rewards staying
 *   power, which is what a design riding a trend needs; unlike "days trending" it is not a
 *   handful of tied integers, and a video trending one day only scores 0.
 * - otherwise, marketplace feedback on the ideas made from the signal (joined by signal
 *   id): ln(1 + 10·sales + 4·add-to-carts + 2·favourites + clicks + 0.01·views). Rates
 *   (ctr, A/B results) are left out: they do not add up.
 *
 * Time split: the first `split` of the evaluated signals' event-time span trains (the
 * search optimises its NDCG@k), the rest validates; a weight set is only worth promoting
 * if it beats the current one on the validation part, which the search never saw.
 */
import type { Outcome } from "../sources/recordings.ts"
import { FACTOR_NAMES, type FactorName, type Factors, type Signal, type Weights } from "../schemas.ts"
import { combine } from "../scoring/scorer.ts"
import { bucketOf } from "../scoring/state.ts"
import { evaluate, type RankingMetrics, type Ranked } from "./metrics.ts"
import { search, type SearchMode, singleFactor } from "./search.ts"

export const youtubeOutcome = (signal: Signal, outcome: Outcome): number =>
  Math.log((1 + outcome.lastViews) / (1 + (signal.engagement.views ?? 0)))

export const FEEDBACK_WEIGHTS: Readonly<Record<string, number>> = { sale: 10, add_to_cart: 4, favorite: 2, click: 1, view: 0.01 }

export const feedbackOutcome = (totals: Readonly<Record<string, number>>): number =>
  Math.log1p(Object.entries(totals).reduce((sum, [kind, value]) => sum + (FEEDBACK_WEIGHTS[kind] ?? 0) * value, 0))

export interface EvaluatedItem {
  readonly id: string
  /** Event time, ms. */
  readonly at: number
  readonly factors: Factors
  readonly outcome: number
  /** Each naive baseline's score of the signal (baselines.ts), by name. */
  readonly baselines?: Readonly<Record<string, number>>
}

export interface WeightSet {
  readonly name: string
  readonly weights: Weights
}

export interface SetResult extends WeightSet {
  readonly train: RankingMetrics
  readonly validation: RankingMetrics
}

/** A naive baseline measured on the same items and split as the weight sets. */
export interface BaselineResult {
  readonly name: string
  readonly train: RankingMetrics
  readonly validation: RankingMetrics
}

export type Cohort = "day" | "all"

export interface EvaluateOptions {
  readonly split: number
  readonly k: number
  readonly cohort: Cohort
  /** The store's current weights, always evaluated first; promotion is measured against it. */
  readonly current: WeightSet
  /** More sets to compare (defaults, custom). Single-factor baselines are added here. */
  readonly candidates: ReadonlyArray<WeightSet>
  readonly search?: { readonly mode: SearchMode; readonly trials: number; readonly seed: number } | undefined
}

export interface Evaluation {
  readonly splitAt: string | null
  readonly sets: ReadonlyArray<SetResult>
  /** The naive baselines (views/hour, raw engagement): the default must beat them on validation. */
  readonly baselines: ReadonlyArray<BaselineResult>
  /** The best set on the training part: the search's result, or the best candidate without a search. */
  readonly winner: SetResult
  readonly current: SetResult
  /** The winner scores a higher validation NDCG@k than the current weights. */
  readonly beatsCurrent: boolean
  readonly searched?: { readonly mode: SearchMode; readonly trials: number; readonly seed: number }
}

const cohortsOf = (items: ReadonlyArray<EvaluatedItem>, cohort: Cohort): ReadonlyArray<ReadonlyArray<EvaluatedItem>> => {
  if (cohort === "all") return items.length > 0 ? [items] : []
  const byDay = new Map<number, Array<EvaluatedItem>>()
  for (const item of items) {
    const day = bucketOf(item.at)
    byDay.set(day, [...(byDay.get(day) ?? []), item])
  }
  return [...byDay.keys()].sort((a, b) => a - b).map((d) => byDay.get(d)!)
}

const rankedWith = (cohorts: ReadonlyArray<ReadonlyArray<EvaluatedItem>>, weights: Weights): ReadonlyArray<ReadonlyArray<Ranked>> =>
  cohorts.map((c) => c.map((i) => ({ id: i.id, score: combine(i.factors, weights), outcome: i.outcome })))

const rankedBy = (cohorts: ReadonlyArray<ReadonlyArray<EvaluatedItem>>, baseline: string): ReadonlyArray<ReadonlyArray<Ranked>> =>
  cohorts.map((c) => c.map((i) => ({ id: i.id, score: i.baselines?.[baseline] ?? 0, outcome: i.outcome })))

const sameWeights = (a: Weights, b: Weights) => FACTOR_NAMES.every((f: FactorName) => a[f] === b[f])

export const evaluateWeightSets = (items: ReadonlyArray<EvaluatedItem>, options: EvaluateOptions): Evaluation => {
  const times = items.map((i) => i.at)
  const first = Math.min(...times)
  const cutoff = items.length === 0 ? undefined : first + options.split * (Math.max(...times) - first)
  const train = cohortsOf(
    items.filter((i) => cutoff !== undefined && i.at < cutoff),
    options.cohort
  )
  const validation = cohortsOf(
    items.filter((i) => cutoff !== undefined && i.at >= cutoff),
    options.cohort
  )
  const measure = (set: WeightSet): SetResult => ({
    ...set,
    train: evaluate(rankedWith(train, set.weights), options.k),
    validation: evaluate(rankedWith(validation, set.weights), options.k)
  })
  const objective = (w: Weights) => evaluate(rankedWith(train, w), options.k).ndcg ?? -Infinity

  const sets: Array<WeightSet> = [options.current]
  const add = (set: WeightSet) => {
    if (!sets.some((s) => sameWeights(s.weights, set.weights))) sets.push(set)
  }
  options.candidates.forEach(add)
  FACTOR_NAMES.forEach((f) => add({ name: `${f} only`, weights: singleFactor(f) }))
  const results = sets.map(measure)

  let winner: SetResult
  if (options.search !== undefined) {
    const { best, evaluated } = search(options.search.mode, options.current.weights, objective, options.search)
    winner = measure({ name: `${options.search.mode} search (${evaluated} trials)`, weights: best.weights })
    results.push(winner)
  } else {
    winner = results.reduce((a, b) => ((b.train.ndcg ?? -Infinity) > (a.train.ndcg ?? -Infinity) ? b : a))
  }
  const current = results[0]!
  const baselineNames = [...new Set(items.flatMap((i) => Object.keys(i.baselines ?? {})))]
  return {
    splitAt: cutoff === undefined ? null : new Date(cutoff).toISOString(),
    sets: results,
    baselines: baselineNames.map((name) => ({
      name,
      train: evaluate(rankedBy(train, name), options.k),
      validation: evaluate(rankedBy(validation, name), options.k)
    })),
    winner,
    current,
    beatsCurrent: (winner.validation.ndcg ?? -Infinity) > (current.validation.ndcg ?? -Infinity),
    ...(options.search !== undefined ? { searched: options.search } : {})
  }
}
