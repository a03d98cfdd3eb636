/**
 * The learner: once per closed event-time day, learns scoring weights from marketplace
 * feedback and promotes a new weight version only when it is better on days it never saw.
 *
 * Training set: every idea with a published listing and at least one feedback event up to
 * the end of the day, with its stored factors. Outcome: the backtest's `feedbackOutcome`,
 * ln(1 + 10·sales + 4·carts + 2·favourites + clicks + 0.01·views), so `desainz backtest` and
 * the learner judge weights by the same number. A listing published earlier has had longer
 * to collect feedback; ranking within event-time days (cohorts of ideas that arrived, and
 * were published, together) keeps that exposure difference out of the comparison. Ideas
 * without any feedback are left out: on a marketplace that reports nothing (the export
 * bundle) a zero says nothing about the design.
 *
 * Search and split: the backtest's own code (evaluateWeightSets: random search on the
 * simplex, seeded, optimising NDCG@k on the first `split` of the event-time span).
 *
 * Promotion: the winner must beat, on every validation day taken together and by a paired
 * t-statistic over validation days, both the current weights and the naive baseline
 * (engagement per hour since the item was published: the scorer's stored engagement rate,
 * which is engagement per minute of the item's age), each by at least `minGain` NDCG@k.
 * Anything less is recorded with the reason, so pure noise promotes nothing.
 */
import { Effect, Schema } from "effect"
import { DurationString } from "../sources/http.ts"
import { decodeConfig, type SettingsInput, source, type StreamDef } from "../../runtime/topology.ts"
import { engagementPerHour } from "../backtest/baselines.ts"
import { type EvaluatedItem, evaluateWeightSets, feedbackOutcome } from "../backtest/evaluate.ts"
import { ndcgAt } from "../backtest/metrics.ts"
import { combine } from "../scoring/scorer.ts"
import { bucketOf } from "../scoring/state.ts"
import { FACTOR_NAMES, type Factors, type Weights, type WeightsDecision } from "../schemas.ts"
import { Store } from "../store/store.ts"

export const LearnerConfig = Schema.Struct({
  every: Schema.optionalWith(DurationString, { default: () => "15 minutes" }).annotations({ description: "how often to look for a newly closed day" }),
  split: Schema.optionalWith(Schema.Number.pipe(Schema.between(0.1, 0.9)), { default: () => 0.7 }).annotations({ description: "share of the event-time span that trains" }),
  k: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 100)), { default: () => 10 }).annotations({ description: "cut-off of NDCG@k" }),
  trials: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 10_000)), { default: () => 300 }).annotations({ description: "weight sets the search tries" }),
  seed: Schema.optionalWith(Schema.Int, { default: () => 1 }).annotations({ description: "seed of the search" }),
  minItems: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 60 }).annotations({ description: "ideas with feedback needed to learn at all" }),
  minValidationDays: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 3 }).annotations({ description: "held-out days needed to judge" }),
  minGain: Schema.optionalWith(Schema.Number.pipe(Schema.nonNegative()), { default: () => 0.02 }).annotations({ description: "NDCG@k the winner must gain over each rival" }),
  minT: Schema.optionalWith(Schema.Number.pipe(Schema.nonNegative()), { default: () => 2 }).annotations({
    description: "paired t-statistic over validation days the gain must reach"
  })
}).annotations({ identifier: "LearnerConfig" })
export type LearnerConfig = typeof LearnerConfig.Type

const DAY = 86_400_000
export const OUTCOME = "ln(1 + 10·sales + 4·carts + 2·favourites + clicks + 0.01·views), ranked within event-time days"
const BASELINE = engagementPerHour.name

const factorsOf = (stored: Readonly<Record<string, number>>): Factors =>
  Object.fromEntries(FACTOR_NAMES.map((f) => [f, stored[f] ?? 0])) as unknown as Factors

/** Per validation day, NDCG@k of a ranking; the gain of `a` over `b` as mean and paired t. */
const pairedGain = (days: ReadonlyArray<ReadonlyArray<EvaluatedItem>>, k: number, a: (i: EvaluatedItem) => number, b: (i: EvaluatedItem) => number) => {
  const diffs: Array<number> = []
  for (const day of days) {
    const x = ndcgAt(day.map((i) => ({ id: i.id, score: a(i), outcome: i.outcome })), k)
    const y = ndcgAt(day.map((i) => ({ id: i.id, score: b(i), outcome: i.outcome })), k)
    if (x !== null && y !== null) diffs.push(x - y)
  }
  const n = diffs.length
  const mean = n === 0 ? 0 : diffs.reduce((s, d) => s + d, 0) / n
  const sd = n < 2 ? 0 : Math.sqrt(diffs.reduce((s, d) => s + (d - mean) ** 2, 0) / (n - 1))
  const t = sd === 0 ? (mean > 0 ? Infinity : mean < 0 ? -Infinity : 0) : mean / (sd / Math.sqrt(n))
  return { mean, t, days: n }
}

const round = (x: number | null, digits = 4) => (x === null || !Number.isFinite(x) ? x : Math.round(x * 10 ** digits) / 10 ** digits)

/** Learns from the feedback of event time before the end of `day` (YYYY-MM-DD) and records the decision. */
export const learnDay = (day: string, config: LearnerConfig) =>
  Effect.gen(function* () {
    const store = yield* Store
    const until = new Date(Date.parse(`${day}T00:00:00Z`) + DAY)
    const rows = yield* store.trainingSet(until)
    const items: Array<EvaluatedItem> = rows
      .filter((r) => Object.keys(r.totals).length > 0)
      .map((r) => ({
        id: r.ideaId,
        at: r.at,
        factors: factorsOf(r.factors),
        outcome: feedbackOutcome(r.totals),
        baselines: { [BASELINE]: (r.engagementRate ?? 0) * 60 }
      }))
    const current = yield* store.currentWeights()
    const record = (promotedVersion: number | null, reason: string, figures: Record<string, unknown>) =>
      Effect.as(store.recordLearnerRun({ day, outcome: OUTCOME, items: items.length, promotedVersion, reason, figures }), {
        day,
        items: items.length,
        promotedVersion,
        reason
      } satisfies WeightsDecision)

    if (items.length < config.minItems) {
      return yield* record(null, `not enough feedback: ${items.length} ideas with feedback, ${config.minItems} needed`, {})
    }
    const evaluation = evaluateWeightSets(items, {
      split: config.split,
      k: config.k,
      cohort: "day",
      current: { name: `current v${current.version}`, weights: current.weights },
      candidates: [],
      search: { mode: "random", trials: config.trials, seed: config.seed }
    })
    const cutoff = evaluation.splitAt === null ? Infinity : Date.parse(evaluation.splitAt)
    const byDay = new Map<number, Array<EvaluatedItem>>()
    for (const item of items) if (item.at >= cutoff) byDay.set(bucketOf(item.at), [...(byDay.get(bucketOf(item.at)) ?? []), item])
    const validationDays = [...byDay.values()]
    const winner = evaluation.winner
    const score = (w: Weights) => (i: EvaluatedItem) => combine(i.factors, w)
    const vsCurrent = pairedGain(validationDays, config.k, score(winner.weights), score(current.weights))
    const vsBaseline = pairedGain(validationDays, config.k, score(winner.weights), (i) => i.baselines?.[BASELINE] ?? 0)
    const baseline = evaluation.baselines.find((b) => b.name === BASELINE)
    const figures = {
      splitAt: evaluation.splitAt,
      k: config.k,
      validationDays: validationDays.length,
      winner: { name: winner.name, weights: winner.weights, trainNdcg: round(winner.train.ndcg), validationNdcg: round(winner.validation.ndcg) },
      current: { version: current.version, weights: current.weights, trainNdcg: round(evaluation.current.train.ndcg), validationNdcg: round(evaluation.current.validation.ndcg) },
      baseline: { name: BASELINE, trainNdcg: round(baseline?.train.ndcg ?? null), validationNdcg: round(baseline?.validation.ndcg ?? null) },
      gainOverCurrent: { mean: round(vsCurrent.mean), t: round(vsCurrent.t, 2) },
      gainOverBaseline: { mean: round(vsBaseline.mean), t: round(vsBaseline.t, 2) },
      sets: evaluation.sets.map((s) => ({ name: s.name, weights: s.weights, trainNdcg: round(s.train.ndcg), validationNdcg: round(s.validation.ndcg) }))
    }
    const failing = [
      validationDays.length < config.minValidationDays ? `${validationDays.length} held-out days, ${config.minValidationDays} needed` : undefined,
      FACTOR_NAMES.every((f) => winner.weights[f] === current.weights[f]) ? "the search kept the current weights" : undefined,
      vsCurrent.mean < config.minGain || vsCurrent.t < config.minT
        ? `does not beat the current weights on held-out days (NDCG@${config.k} gain ${round(vsCurrent.mean, 3)}, t ${round(vsCurrent.t, 2)}; needs ${config.minGain} and t ${config.minT})`
        : undefined,
      vsBaseline.mean < config.minGain || vsBaseline.t < config.minT
        ? `does not beat the naive baseline (engagement per hour since published) on held-out days (gain ${round(vsBaseline.mean, 3)}, t ${round(vsBaseline.t, 2)})`
        : undefined
    ].filter((r): r is string => r !== undefined)
    if (failing.length > 0) return yield* record(null, `not promoted: ${failing.join("; ")}`, figures)
    const version = yield* store.insertWeights({
      weights: winner.weights,
      note: `learner ${day}: held-out NDCG@${config.k} ${round(winner.validation.ndcg, 3)} vs current ${round(evaluation.current.validation.ndcg, 3)} and baseline ${round(baseline?.validation.ndcg ?? null, 3)}`,
      promoted: true
    })
    return yield* record(version, `promoted ${winner.name} as weight version ${version}`, figures)
  })

/** The last event-time day that is over: the one before the newest feedback's day. */
export const closedDay = (latestFeedbackAt: number): string => new Date((bucketOf(latestFeedbackAt) - 1) * DAY).toISOString().slice(0, 10)

/**
 * The scheduled learner node: every `every`, if feedback has closed a day the learner has not
 * learned from yet, learns from it; one decision per day (a second run of a day is a no-op).
 */
export const learner = (config: typeof LearnerConfig.Encoded, io: { readonly to: StreamDef<WeightsDecision> }, settings?: SettingsInput) => {
  const c = decodeConfig("learner", LearnerConfig, config)
  return source({
    name: "learner",
    kind: "feedback-learner",
    to: io.to,
    every: c.every,
    settings,
    config: c,
    poll: Effect.gen(function* () {
      const store = yield* Store
      const latest = yield* store.latestFeedbackAt()
      if (latest === null) return { emissions: [] }
      const day = closedDay(latest)
      const runs = yield* store.learnerRuns(1)
      if (runs[0] !== undefined && runs[0].day >= day) return { emissions: [] }
      const decision = yield* learnDay(day, c)
      yield* Effect.logInfo(`learner ${day}: ${decision.reason}`)
      return { emissions: [{ key: `learner:${day}`, timestamp: new Date(Date.parse(`${day}T00:00:00Z`) + DAY).toISOString(), data: decision }] }
    })
  })
}
