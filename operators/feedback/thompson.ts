/**
 * Thompson sampling over Beta-Bernoulli arms: each arm (an A/B variant, a live design) has
 * a Beta(1 + successes, 1 + failures) posterior of its rate (favourites per view, sales per
 * view). To choose, draw one rate from every posterior and take the largest; the share of
 * draws an arm wins is the probability that it is the best arm, which both stops an
 * experiment and splits a promotion budget ("probability matching").
 *
 * Every draw comes from a caller's seeded random source (`prng` of the backtest search),
 * so the same seed gives the same choice, the same P(best) and the same allocation.
 */
export type Random = () => number

export interface Posterior {
  readonly alpha: number
  readonly beta: number
}

/** Beta(1, 1) prior updated with `successes` out of `trials` (clamped so neither goes negative). */
export const posteriorOf = (trials: number, successes: number): Posterior => {
  const s = Math.max(0, Math.min(successes, trials))
  return { alpha: 1 + s, beta: 1 + Math.max(0, trials - s) }
}

/** Standard normal (Box-Muller), from two uniform draws. */
const normal = (random: Random): number => {
  const u = 1 - random()
  const v = random()
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
}

/** Gamma(shape, 1) by Marsaglia and Tsang (2000); shape < 1 through Gamma(shape + 1) · U^(1/shape). */
export const gammaSample = (shape: number, random: Random): number => {
  if (shape < 1) return gammaSample(shape + 1, random) * Math.pow(1 - random(), 1 / shape)
  const d = shape - 1 / 3
  const c = 1 / Math.sqrt(9 * d)
  for (;;) {
    let x: number
    let v: number
    do {
      x = normal(random)
      v = 1 + c * x
    } while (v <= 0)
    v = v * v * v
    const u = 1 - random()
    if (u < 1 - 0.0331 * x ** 4 || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v
  }
}

export const betaSample = (p: Posterior, random: Random): number => {
  const x = gammaSample(p.alpha, random)
  const y = gammaSample(p.beta, random)
  return x / (x + y)
}

/** The arm whose drawn rate is largest: the Thompson choice for the next period. */
export const thompsonPick = (arms: ReadonlyArray<Posterior>, random: Random): number => {
  let best = 0
  let bestDraw = -1
  arms.forEach((arm, i) => {
    const draw = betaSample(arm, random)
    if (draw > bestDraw) {
      bestDraw = draw
      best = i
    }
  })
  return best
}

/** P(arm is best), estimated from `draws` joint draws. */
export const probabilityBest = (arms: ReadonlyArray<Posterior>, random: Random, draws = 4_000): ReadonlyArray<number> => {
  const wins = new Array<number>(arms.length).fill(0)
  if (arms.length === 0) return wins
  for (let n = 0; n < draws; n++) wins[thompsonPick(arms, random)]!++
  return wins.map((w) => w / draws)
}

/**
 * Splits `budgetCents` in proportion to P(best), in whole cents that add up to the budget
 * (largest remainders get the leftover cents, ties to the earlier arm).
 */
export const allocateBudget = (budgetCents: number, pBest: ReadonlyArray<number>): ReadonlyArray<number> => {
  const total = pBest.reduce((s, p) => s + p, 0)
  if (pBest.length === 0) return []
  const shares = pBest.map((p) => (total > 0 ? p / total : 1 / pBest.length))
  const exact = shares.map((s) => s * budgetCents)
  const cents = exact.map(Math.floor)
  let left = budgetCents - cents.reduce((s, c) => s + c, 0)
  const order = exact.map((e, i) => ({ i, r: e - Math.floor(e) })).sort((a, b) => b.r - a.r || a.i - b.i)
  for (const { i } of order) {
    if (left <= 0) break
    cents[i]!++
    left--
  }
  return cents
}

/** ln Γ(x), Lanczos (g = 7, n = 9), for the density curves. */
const lnGamma = (x: number): number => {
  const g = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7]
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x)
  const z = x - 1
  let a = g[0]!
  const t = z + 7.5
  for (let i = 1; i < 9; i++) a += g[i]! / (z + i)
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a)
}

/** The posterior's density at `x` in (0, 1). */
export const betaDensity = (p: Posterior, x: number): number => {
  if (x <= 0 || x >= 1) return 0
  const lnB = lnGamma(p.alpha) + lnGamma(p.beta) - lnGamma(p.alpha + p.beta)
  return Math.exp((p.alpha - 1) * Math.log(x) + (p.beta - 1) * Math.log(1 - x) - lnB)
}

/** The density on `points` evenly spaced x in (0, upTo), for a plot. */
export const densityCurve = (p: Posterior, points = 60, upTo = 1): ReadonlyArray<readonly [number, number]> =>
  Array.from({ length: points }, (_, i) => {
    const x = ((i + 0.5) / points) * upTo
    return [x, betaDensity(p, x)] as const
  })

/** Posterior mean. */
export const meanOf = (p: Posterior): number => p.alpha / (p.alpha + p.beta)
