/**
 * The learner on a synthetic market: ideas over 30 days with random factors, feedback that
 * arrives through the store's feedback path. When sales depend on one known factor the
 * learner promotes weights led by it; on pure noise it promotes nothing and says why.
 */
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { prng } from "../../operators/backtest/search.ts"
import { closedDay, learnDay, learner, LearnerConfig } from "../../operators/feedback/learner.ts"
import { stream } from "../../runtime/topology.ts"
import { deriveEventId } from "../../runtime/envelope.ts"
import { FACTOR_NAMES, WeightsDecision } from "../../operators/schemas.ts"
import { Store } from "../../operators/store/store.ts"
import { seedListings, storeLayer } from "./support.ts"

const DAYS = 30
const PER_DAY = 30
const START = Date.parse("2026-01-01T00:00:00Z")
const config = Schema.decodeSync(LearnerConfig)({})

/** Seeds the market; `sales(factors, random)` decides each listing's outcome. */
const market = (seed: number, sales: (f: Record<string, number>, random: () => number) => number) =>
  Effect.gen(function* () {
    const store = yield* Store
    const random = prng(seed)
    const n = DAYS * PER_DAY
    const factors = Array.from({ length: n }, () => ({
      ...Object.fromEntries(FACTOR_NAMES.map((f) => [f, random()])),
      engagementRate: random() * 5
    }))
    const ids = Array.from({ length: n }, (_, i) => `m${seed}-${i}`)
    const at = (i: number) => new Date(START + Math.floor(i / PER_DAY) * 86_400_000 + (i % PER_DAY) * 60_000)
    const seeded = yield* seedListings(store, "etsy", ids, { factors: (i) => factors[i]!, eventAt: at })
    const events = ids.flatMap((id, i) => {
      const listing = seeded.get(id)!
      const occurredAt = new Date(at(i).getTime() + 6 * 3_600_000).toISOString()
      const sold = sales(factors[i]!, random)
      return [
        { id: deriveEventId("test-view", id), event: { listingId: listing.listingId, kind: "view" as const, value: 50, occurredAt } },
        ...(sold > 0 ? [{ id: deriveEventId("test-sale", id), event: { listingId: listing.listingId, kind: "sale" as const, value: sold, occurredAt } }] : [])
      ]
    })
    const result = yield* store.recordFeedback(events)
    expect(result.inserted).toBe(events.length)
    return (yield* store.latestFeedbackAt())!
  })

describe("learner", () => {
  layer(storeLayer, { timeout: "180 seconds", excludeTestServices: true })((it) => {
    it.effect(
      "promotes weights that favour the factor sales depend on, once per day",
      () =>
        Effect.gen(function* () {
          const store = yield* Store
          // Sales grow with novelty (a Poisson-like count), nothing else matters.
          const latest = yield* market(7, (f, random) => {
            const mean = 4 * f["novelty"]! ** 2
            let k = 0
            for (let p = Math.exp(-mean), s = p, u = random(); u > s; k++) s += p *= mean / (k + 1)
            return k
          })
          const day = closedDay(latest)
          const decision = yield* learnDay(day, config)
          expect(decision.reason).toMatch(/^promoted/)
          const current = yield* store.currentWeights()
          expect(decision.promotedVersion).toBe(current.version)
          const ranked = [...FACTOR_NAMES].sort((a, b) => current.weights[b] - current.weights[a])
          expect(ranked[0]).toBe("novelty")
          const [run] = yield* store.learnerRuns(1)
          expect(run).toMatchObject({ day, promotedVersion: current.version })
          expect((run!.figures as any).gainOverBaseline.mean).toBeGreaterThan(config.minGain)
          // The same day again: recorded once, nothing new promoted.
          yield* learnDay(day, config)
          expect((yield* store.learnerRuns(10)).length).toBe(1)
          expect((yield* store.currentWeights()).version).toBe(current.version)
        }),
      180_000
    )
  })

  layer(storeLayer, { timeout: "180 seconds", excludeTestServices: true })((it) => {
    it.effect(
      "promotes nothing on pure noise, and records why",
      () =>
        Effect.gen(function* () {
          const store = yield* Store
          const before = yield* store.currentWeights()
          const latest = yield* market(11, (_, random) => (random() < 0.3 ? 1 + Math.floor(random() * 3) : 0))
          // Through the scheduled node: its poll learns from the newest closed day once.
          const node = learner({}, { to: stream("weights.decisions", WeightsDecision) })
          const polled = yield* node.poll
          expect(polled.emissions).toHaveLength(1)
          expect(polled.emissions[0]!.data.day).toBe(closedDay(latest))
          expect((yield* node.poll).emissions).toHaveLength(0)
          const decision = polled.emissions[0]!.data
          expect(decision.promotedVersion).toBeNull()
          expect(decision.reason).toMatch(/^not promoted: .*does not beat/)
          expect((yield* store.currentWeights()).version).toBe(before.version)
          const [run] = yield* store.learnerRuns(1)
          expect(run?.reason).toBe(decision.reason)
        }),
      180_000
    )
  })
})
