/**
 * A/B micro-tests and the promotion budget on a store with feedback: the variant shown per
 * period counts that period's views and favourites; Thompson sampling (seeded) picks the
 * next variant, the experiment stops once P(best) passes the threshold; the daily budget
 * is split by P(best) in whole cents that add up.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { allocateDay, newExperiment, PromotionConfig, stepExperiment, variantPosteriors } from "../../operators/feedback/experiments.ts"
import { allocateBudget, posteriorOf, probabilityBest } from "../../operators/feedback/thompson.ts"
import { prng } from "../../operators/backtest/search.ts"
import { deriveEventId } from "../../runtime/envelope.ts"
import { RetryableError } from "../../runtime/errors.ts"
import type { Experiment, ExperimentVariant } from "../../operators/store/experiments.ts"
import { Store } from "../../operators/store/store.ts"
import { seedListings, storeLayer } from "./support.ts"

const HOUR = 3_600_000
const T0 = Date.parse("2026-02-01T00:00:00Z")

describe("thompson sampling", () => {
  it("is deterministic per seed and puts P(best) on the better arm", () => {
    const arms = [posteriorOf(1000, 20), posteriorOf(1000, 45), posteriorOf(200, 1)]
    const a = probabilityBest(arms, prng(3))
    expect(probabilityBest(arms, prng(3))).toEqual(a)
    expect(a[1]).toBeGreaterThan(0.9)
    expect(a.reduce((s, p) => s + p, 0)).toBeCloseTo(1, 9)
    expect(allocateBudget(1001, [0.5, 0.25, 0.25])).toEqual([501, 250, 250])
  })
})

describe("experiments and promotion", () => {
  layer(storeLayer, { timeout: "120 seconds", excludeTestServices: true })((it) => {
    it.effect("counts each period for the variant shown, picks the next by Thompson sampling, stops above the threshold", () =>
      Effect.gen(function* () {
        const store = yield* Store
        const seeded = yield* seedListings(store, "etsy", ["700", "701", "702"], { publishedAt: () => new Date(T0 - 48 * HOUR) })
        const listing = seeded.get("700")!
        const variants: ReadonlyArray<ExperimentVariant> = [
          { key: "black", label: "black mock-up first", imageId: "11" },
          { key: "white", label: "white mock-up first", imageId: "12" }
        ]
        const experiment = newExperiment({ listingId: listing.listingId, name: "primary colourway", metric: "ctr", variants, threshold: 0.95, periodHours: 24, now: T0 })
        expect(yield* store.createExperiment(experiment, { startsAt: new Date(T0), variant: "black" })).toBe(true)
        const shown: Array<string> = []
        const show = (_: Experiment, v: ExperimentVariant) => Effect.sync(() => void shown.push(v.key))
        const feedback = (day: number, views: number, favorites: number) =>
          store.recordFeedback(
            (["view", "favorite"] as const).map((kind) => ({
              id: deriveEventId("exp", String(day), kind),
              event: { listingId: listing.listingId, kind, value: kind === "view" ? views : favorites, occurredAt: new Date(T0 + day * 24 * HOUR + 6 * HOUR).toISOString() }
            }))
          )
        const running = () => Effect.map(store.experiments("running"), (list) => list[0]!)

        // Within the first period nothing happens.
        expect((yield* stepExperiment(yield* running(), T0 + 3 * HOUR, show))._tag).toBe("Waiting")
        // Day 0 (black): 400 views, 4 favourites.
        yield* feedback(0, 400, 4)
        const next = yield* stepExperiment(yield* running(), T0 + 24 * HOUR, show)
        expect(next._tag).toBe("Next")
        const { arms } = yield* variantPosteriors(yield* running(), T0 + 24 * HOUR)
        expect(arms.find((a) => a.key === "black")).toMatchObject({ trials: 400, successes: 4 })
        expect(arms.find((a) => a.key === "white")).toMatchObject({ trials: 0, successes: 0 })

        // Whatever is shown, white converts at 6% and black at 1%: the experiment ends on white.
        let day = 1
        let outcome = next
        while (outcome._tag !== "Stopped" && day < 14) {
          const periods = yield* store.experimentPeriods(experiment.id)
          const showing = periods[periods.length - 1]!.variant
          yield* feedback(day, 400, showing === "white" ? 24 : 4)
          day++
          outcome = yield* stepExperiment(yield* running(), T0 + day * 24 * HOUR, show)
        }
        expect(outcome).toMatchObject({ _tag: "Stopped", winner: "white" })
        const [stopped] = yield* store.experiments("stopped")
        expect(stopped).toMatchObject({ winner: "white", status: "stopped" })
        expect(stopped!.stopReason).toContain("threshold 0.95")
        expect(shown[shown.length - 1]).toBe("white")
      })
    )

    it.effect("stops only once the winner is shown: a failed show leaves the experiment running", () =>
      Effect.gen(function* () {
        const store = yield* Store
        // Published after the promotion test's day, so that test's table does not include it.
        const listing = (yield* seedListings(store, "etsy", ["900"], { publishedAt: () => new Date(T0 + 365 * 24 * HOUR) })).get("900")!
        const variants = [{ key: "a", label: "a", imageId: "1" }, { key: "b", label: "b", imageId: "2" }]
        const experiment = newExperiment({ listingId: listing.listingId, name: "over its horizon", metric: "ctr", variants, horizonDays: 1, periodHours: 24, now: T0 })
        yield* store.createExperiment(experiment, { startsAt: new Date(T0), variant: "a" })
        const failing = yield* Effect.either(stepExperiment(experiment, T0 + 48 * HOUR, () => Effect.fail(new RetryableError({ message: "etsy uploadListingImage: HTTP 503" }))))
        expect(failing._tag).toBe("Left")
        expect((yield* store.experiments("running")).map((e) => e.id)).toContain(experiment.id)
        const shown: Array<string> = []
        expect(yield* stepExperiment(experiment, T0 + 48 * HOUR, (_, v) => Effect.sync(() => void shown.push(v.key)))).toMatchObject({ _tag: "Stopped" })
        expect(shown).toHaveLength(1)
        expect((yield* store.experiments("stopped")).map((e) => e.id)).toContain(experiment.id)
      })
    )

    it.effect("splits the day's budget by P(best) of favourites per view", () =>
      Effect.gen(function* () {
        const store = yield* Store
        const seeded = yield* seedListings(store, "etsy", ["800", "801", "802"], { publishedAt: () => new Date(T0 - 48 * HOUR) })
        const rates: Record<string, number> = { "800": 2, "801": 12, "802": 5 }
        yield* store.recordFeedback(
          [...seeded.values()].flatMap((l) =>
            (["view", "favorite"] as const).map((kind) => ({
              id: deriveEventId("promo", l.externalId, kind),
              event: { listingId: l.listingId, kind, value: kind === "view" ? 300 : rates[l.externalId]!, occurredAt: new Date(T0 + 6 * HOUR).toISOString() }
            }))
          )
        )
        const rows = yield* allocateDay("2026-02-02", Schema.decodeSync(PromotionConfig)({ budgetCents: 10_000 }))
        const ours = rows.filter((r) => [...seeded.values()].some((l) => l.listingId === r.listingId))
        expect(rows.reduce((s, r) => s + r.amountCents, 0)).toBe(10_000)
        const best = ours.reduce((a, b) => (b.amountCents > a.amountCents ? b : a))
        expect(best.listingId).toBe(seeded.get("801")!.listingId)
        expect(yield* store.allocations(1)).toHaveLength(rows.length)
        // The same day again gives the same table.
        expect(yield* allocateDay("2026-02-02", Schema.decodeSync(PromotionConfig)({ budgetCents: 10_000 }))).toEqual(rows)
      })
    )
  })
})
