/**
 * A/B micro-tests and the daily promotion budget, both by Thompson sampling
 * (operators/feedback/thompson.ts).
 *
 * An experiment compares variants of one listing (which mock-up is the primary image, or a
 * title), one variant shown per period. At each period's end the listing's feedback inside
 * each period counts for the variant shown then: trials = views, successes = favourites +
 * clicks (metric `ctr`) or sales (`conversion`), giving each variant a Beta posterior.
 * P(best) is estimated from the posteriors; the experiment stops with a winner when a
 * variant's P(best) reaches `threshold` (once every variant has MIN_TRIALS_PER_VARIANT views),
 * or at `horizonDays` with the likeliest one;
 * otherwise Thompson sampling picks the variant for the next period, and on Etsy the
 * listing's images are re-ranked so that variant's image is shown first. A stopped
 * experiment emits an `ab_result` feedback event (value = the winner's P(best)).
 *
 * The promotion budget (`budgetCents` a day) is split across live listings in proportion to
 * their P(best) of favourites per view over the last `lookbackDays`: an allocation table
 * per day, stored and shown; no ads API is called.
 *
 * Every draw is seeded (per experiment, per period; per day for the allocation), so a
 * step repeated after a crash decides the same.
 */
import { Clock, Effect, Either, Schema } from "effect"
import { DurationString } from "../sources/http.ts"
import { deriveEventId } from "../../runtime/envelope.ts"
import { describeError } from "../../runtime/errors.ts"
import { decodeConfig, type Emission, type SettingsInput, source, type StreamDef } from "../../runtime/topology.ts"
import { prng } from "../backtest/search.ts"
import type { Etsy } from "../marketplaces/etsy.ts"
import type { FeedbackEvent } from "../schemas.ts"
import type { Experiment, ExperimentVariant } from "../store/experiments.ts"
import { Store } from "../store/store.ts"
import { rankListingImage } from "./etsy.ts"
import { allocateBudget, type Posterior, posteriorOf, probabilityBest, thompsonPick } from "./thompson.ts"

/**
 * Trials every variant needs before P(best) may stop an experiment: with none, a variant's
 * flat prior alone can look "best" against one with a low measured rate.
 */
export const MIN_TRIALS_PER_VARIANT = 100

const HOUR = 3_600_000
const DAY = 24 * HOUR

/** A seed from text: the same experiment and period always draw the same numbers. */
const seedOf = (...parts: ReadonlyArray<string | number>) => {
  let h = 2166136261
  for (const c of parts.join(":")) h = Math.imul(h ^ c.charCodeAt(0), 16777619)
  return h >>> 0
}

export interface VariantPosterior extends Posterior {
  readonly key: string
  readonly trials: number
  readonly successes: number
  readonly pBest: number
}

/** Trials and successes of each variant from the listing's feedback in the periods it was shown. */
export const variantPosteriors = (experiment: Experiment, until: number) =>
  Effect.gen(function* () {
    const store = yield* Store
    const periods = yield* store.experimentPeriods(experiment.id)
    const counts = new Map(experiment.variants.map((v) => [v.key, { trials: 0, successes: 0 }]))
    for (let i = 0; i < periods.length; i++) {
      const from = periods[i]!.startsAt
      const to = new Date(Math.min(until, periods[i + 1]?.startsAt.getTime() ?? until))
      if (to.getTime() <= from.getTime()) continue
      const totals = yield* store.feedbackBetween(experiment.listingId, from, to)
      const c = counts.get(periods[i]!.variant)
      if (c === undefined) continue
      c.trials += Math.max(0, totals["view"] ?? 0)
      c.successes += Math.max(0, experiment.metric === "ctr" ? (totals["favorite"] ?? 0) + (totals["click"] ?? 0) : (totals["sale"] ?? 0))
    }
    const arms = experiment.variants.map((v) => {
      const c = counts.get(v.key)!
      return { key: v.key, trials: c.trials, successes: Math.min(c.successes, c.trials), ...posteriorOf(c.trials, c.successes) }
    })
    const pBest = probabilityBest(arms, prng(seedOf(experiment.seed, experiment.id, periods.length, "p-best")))
    return { periods, arms: arms.map((a, i): VariantPosterior => ({ ...a, pBest: pBest[i]! })) }
  })

export type StepOutcome =
  | { readonly _tag: "Waiting" }
  | { readonly _tag: "Next"; readonly variant: ExperimentVariant }
  | { readonly _tag: "Stopped"; readonly winner: string; readonly pBest: number; readonly reason: string }

/**
 * One decision for an experiment at `now`: nothing while its period runs; else stop or pick
 * the next variant (showing it through `show`).
 */
export const stepExperiment = <E, R>(experiment: Experiment, now: number, show: (experiment: Experiment, variant: ExperimentVariant) => Effect.Effect<void, E, R>) =>
  Effect.gen(function* () {
    const store = yield* Store
    const { periods, arms } = yield* variantPosteriors(experiment, now)
    const last = periods[periods.length - 1]
    if (last !== undefined && now < last.startsAt.getTime() + experiment.periodHours * HOUR) return { _tag: "Waiting" } as StepOutcome
    const posterior = Object.fromEntries(arms.map((a) => [a.key, { alpha: a.alpha, beta: a.beta, trials: a.trials, successes: a.successes, pBest: a.pBest }]))
    const best = arms.reduce((a, b) => (b.pBest > a.pBest ? b : a))
    const overHorizon = now >= experiment.startedAt.getTime() + experiment.horizonDays * DAY
    const decided = best.pBest >= experiment.threshold && arms.every((a) => a.trials >= MIN_TRIALS_PER_VARIANT)
    if (decided || overHorizon) {
      const reason = decided
        ? `P(best) of ${best.key} reached ${best.pBest.toFixed(3)} (threshold ${experiment.threshold})`
        : `horizon of ${experiment.horizonDays} days reached; ${best.key} most likely best (P ${best.pBest.toFixed(3)})`
      // Shown first, stopped second: a failed show leaves it running, decided again next time.
      const winner = experiment.variants.find((v) => v.key === best.key)!
      yield* show(experiment, winner)
      yield* store.stopExperiment(experiment.id, { endedAt: new Date(now), winner: best.key, reason, posterior })
      return { _tag: "Stopped", winner: best.key, pBest: best.pBest, reason } as StepOutcome
    }
    const pick = thompsonPick(arms, prng(seedOf(experiment.seed, experiment.id, periods.length, "pick")))
    const variant = experiment.variants[pick]!
    // Shown first, recorded second: a crash in between repeats the same (seeded) pick.
    yield* show(experiment, variant)
    yield* store.addExperimentPeriod(experiment.id, { startsAt: new Date(now), variant: variant.key }, posterior)
    return { _tag: "Next", variant } as StepOutcome
  })

/** On Etsy: the variant's image becomes the listing's primary image. */
export const showOnEtsy = (experiment: Experiment, variant: ExperimentVariant) =>
  Effect.gen(function* () {
    if (variant.imageId === undefined) return
    const store = yield* Store
    const listing = (yield* store.listingFeedback(10_000)).find((l) => l.listingId === experiment.listingId)
    if (listing === undefined || listing.marketplace !== "etsy" || listing.externalId === null) return
    yield* rankListingImage(listing.externalId, variant.imageId, 1)
  })

export const ExperimentsConfig = Schema.Struct({
  every: Schema.optionalWith(DurationString, { default: () => "10 minutes" }).annotations({ description: "how often periods are checked" })
}).annotations({ identifier: "ExperimentsConfig" })

/** Steps every running experiment; a stopped one emits its `ab_result`. */
export const experiments = (config: typeof ExperimentsConfig.Encoded, io: { readonly to: StreamDef<FeedbackEvent> }, settings?: SettingsInput) => {
  const c = decodeConfig("experiments", ExperimentsConfig, config)
  return source({
    name: "experiments",
    kind: "feedback-experiments",
    to: io.to,
    every: c.every,
    settings,
    config: c,
    poll: Effect.gen(function* () {
      const store = yield* Store
      const now = yield* Clock.currentTimeMillis
      const emissions: Array<Emission<FeedbackEvent>> = []
      for (const experiment of yield* store.experiments("running")) {
        // One experiment's failure does not hold back the others' results: it stays running and
        // is stepped again at the next check.
        const stepped = yield* Effect.either(stepExperiment<unknown, Store | Etsy>(experiment, now, showOnEtsy))
        if (Either.isLeft(stepped)) {
          yield* Effect.logWarning(`experiment ${experiment.id}: ${describeError(stepped.left)}; trying again at the next check`)
          continue
        }
        const outcome = stepped.right
        if (outcome._tag !== "Stopped") continue
        const occurredAt = new Date(now).toISOString()
        emissions.push({
          key: `ab_result:${experiment.id}`,
          timestamp: occurredAt,
          data: { listingId: experiment.listingId, kind: "ab_result", value: outcome.pBest, occurredAt, payload: { experimentId: experiment.id, winner: outcome.winner, reason: outcome.reason } }
        })
      }
      return { emissions }
    })
  })
}

// ---------------------------------------------------------------------------------------
// The daily promotion budget

export const PromotionConfig = Schema.Struct({
  every: Schema.optionalWith(DurationString, { default: () => "1 hour" }).annotations({ description: "how often the day's table is checked" }),
  budgetCents: Schema.optionalWith(Schema.Int.pipe(Schema.nonNegative()), { default: () => 5_000 }).annotations({
    description: "promotion budget per day, in cents (PROMOTION_BUDGET_CENTS)"
  }),
  lookbackDays: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 14 }).annotations({ description: "feedback window of the posteriors" })
}).annotations({ identifier: "PromotionConfig" })
export type PromotionConfig = typeof PromotionConfig.Type

/** The allocation of day `day` (YYYY-MM-DD) from the feedback of the `lookbackDays` before it; stored, and returned. */
export const allocateDay = (day: string, config: PromotionConfig) =>
  Effect.gen(function* () {
    const store = yield* Store
    const start = Date.parse(`${day}T00:00:00Z`)
    const live = (yield* store.listingFeedback(1_000)).filter((l) => l.publishedAt !== null && Date.parse(l.publishedAt) < start)
    const arms = yield* Effect.forEach(live, (l) =>
      Effect.map(store.feedbackBetween(l.listingId, new Date(start - config.lookbackDays * DAY), new Date(start)), (t) => ({
        listingId: l.listingId,
        ...posteriorOf(Math.max(0, t["view"] ?? 0), Math.max(0, (t["favorite"] ?? 0) + (t["click"] ?? 0) + (t["sale"] ?? 0)))
      }))
    )
    const pBest = probabilityBest(arms, prng(seedOf("promotion", day)))
    const cents = allocateBudget(config.budgetCents, pBest)
    const rows = arms.map((a, i) => ({ day, listingId: a.listingId, share: pBest[i]!, amountCents: cents[i]!, pBest: pBest[i]!, alpha: a.alpha, beta: a.beta }))
    yield* store.saveAllocation(day, rows)
    return rows
  })

/** Computes today's allocation once a day (the first check of a new UTC day); writes nothing to its stream. */
export const promotion = (config: typeof PromotionConfig.Encoded, io: { readonly to: StreamDef<FeedbackEvent> }, settings?: SettingsInput) => {
  const c = decodeConfig("promotion", PromotionConfig, config)
  return source({
    name: "promotion",
    kind: "feedback-promotion",
    to: io.to,
    every: c.every,
    settings,
    config: c,
    poll: Effect.gen(function* () {
      const store = yield* Store
      const day = new Date(yield* Clock.currentTimeMillis).toISOString().slice(0, 10)
      const latest = yield* store.allocations(1)
      if (latest[0]?.day !== day) yield* allocateDay(day, c)
      return { emissions: [] }
    })
  })
}

/** A new experiment over the variants of a listing, starting with the first variant; its id derives from the listing and name. */
export const newExperiment = (input: {
  readonly listingId: string
  readonly name: string
  readonly metric: "ctr" | "conversion"
  readonly variants: ReadonlyArray<ExperimentVariant>
  readonly threshold?: number | undefined
  readonly horizonDays?: number | undefined
  readonly periodHours?: number | undefined
  readonly now: number
}): Experiment => ({
  id: deriveEventId("experiment", input.listingId, input.name),
  listingId: input.listingId,
  name: input.name,
  metric: input.metric,
  variants: input.variants,
  threshold: input.threshold ?? 0.95,
  horizonDays: input.horizonDays ?? 14,
  periodHours: input.periodHours ?? 24,
  // A 31-bit seed: the column is a Postgres integer.
  seed: seedOf(input.listingId, input.name) >>> 1,
  status: "running",
  startedAt: new Date(input.now),
  endedAt: null,
  winner: null,
  stopReason: null,
  posterior: {}
})
