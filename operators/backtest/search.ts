/**
 * Weight search for backtests, seeded so a run can be repeated exactly: random search
 * (weights drawn uniformly from the simplex) or coordinate search (from the current
 * weights, move one factor's weight up or down, keep what improves the objective, halve
 * the step when nothing does). Weights always sum to 1, so scores stay in 0..1.
 */
import { FACTOR_NAMES, type FactorName, type Weights } from "../schemas.ts"

export type SearchMode = "random" | "coordinate"

/** mulberry32: a small, fast, seedable PRNG; the same seed gives the same trials everywhere. */
export const prng = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

/** Shares of the total (summing to 1 up to rounding), rounded to 4 decimals so reports and JSON stay readable. */
export const normalizeWeights = (w: Readonly<Record<FactorName, number>>): Weights => {
  const total = FACTOR_NAMES.reduce((s, f) => s + Math.max(0, w[f]), 0)
  const share = (f: FactorName) => (total > 0 ? Math.max(0, w[f]) / total : 1 / FACTOR_NAMES.length)
  return Object.fromEntries(FACTOR_NAMES.map((f) => [f, Math.round(share(f) * 10_000) / 10_000])) as unknown as Weights
}

export const singleFactor = (factor: FactorName): Weights =>
  Object.fromEntries(FACTOR_NAMES.map((f) => [f, f === factor ? 1 : 0])) as unknown as Weights

export interface Trial {
  readonly weights: Weights
  readonly objective: number
}

/**
 * Runs a search of at most `trials` evaluations of `objective` (higher is better), the
 * starting weights being the first; returns the best trial and how many were evaluated.
 */
export const search = (
  mode: SearchMode,
  start: Weights,
  objective: (w: Weights) => number,
  options: { readonly trials: number; readonly seed: number }
): { readonly best: Trial; readonly evaluated: number } => {
  const seen = new Map<string, number>()
  const evaluate = (w: Weights): Trial => {
    const key = JSON.stringify(w)
    let value = seen.get(key)
    if (value === undefined) {
      value = objective(w)
      seen.set(key, value)
    }
    return { weights: w, objective: value }
  }
  const better = (a: Trial, b: Trial) => a.objective > b.objective
  let best = evaluate(normalizeWeights(start))
  if (mode === "random") {
    const random = prng(options.seed)
    while (seen.size < options.trials) {
      // Exponential draws normalized: a uniform point of the simplex (Dirichlet(1, ..., 1)).
      const draw = Object.fromEntries(FACTOR_NAMES.map((f) => [f, -Math.log(1 - random())])) as Record<FactorName, number>
      const trial = evaluate(normalizeWeights(draw))
      if (better(trial, best)) best = trial
    }
    return { best, evaluated: seen.size }
  }
  // Coordinate search; the seed only orders the factors it tries.
  const random = prng(options.seed)
  const order = [...FACTOR_NAMES]
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[order[i], order[j]] = [order[j]!, order[i]!]
  }
  for (let step = 0.2; step >= 0.0125 && seen.size < options.trials; ) {
    let improved = false
    for (const f of order) {
      for (const direction of [1, -1]) {
        if (seen.size >= options.trials) break
        const moved = normalizeWeights({ ...best.weights, [f]: Math.max(0, best.weights[f] + direction * step) })
        const trial = evaluate(moved)
        if (better(trial, best)) {
          best = trial
          improved = true
        }
      }
    }
    if (!improved) step /= 2
  }
  return { best, evaluated: seen.size }
}
