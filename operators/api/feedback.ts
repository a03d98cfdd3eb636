/**
 * The feedback routes: listings' metrics over time, experiments with their posteriors and
 * P(best), the daily promotion allocation, weight versions with the learner's figures, and
 * two writes behind the bearer token: a CSV report import (onto `feedback.events`) and a new
 * A/B experiment. Responses are typed with the UI's contract (operators/api/contract.ts).
 */
import { Clock, Effect, Schema } from "effect"
import { PermanentError } from "../../runtime/errors.ts"
import type { ApiRoutes, StreamDef } from "../../runtime/topology.ts"
import { parseFeedbackCsv } from "../feedback/csvImport.ts"
import { newExperiment, variantPosteriors } from "../feedback/experiments.ts"
import { densityCurve } from "../feedback/thompson.ts"
import type { FeedbackEvent, Factors } from "../schemas.ts"
import { Store } from "../store/store.ts"
import { decodeWith, responder } from "./respond.ts"
import type { AllocationsResponse, ExperimentsResponse, FeedbackListingsResponse, ImportResponse, WeightsResponse } from "./contract.ts"

const Limit = (fallback: number, max: number) =>
  Schema.optionalWith(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, max)), { default: () => fallback })

const NewExperiment = Schema.Struct({
  listingId: Schema.UUID,
  name: Schema.NonEmptyTrimmedString,
  metric: Schema.optionalWith(Schema.Literal("ctr", "conversion"), { default: () => "ctr" as const }),
  variants: Schema.Array(Schema.Struct({ key: Schema.NonEmptyTrimmedString, label: Schema.String, imageId: Schema.optional(Schema.String) })).pipe(Schema.minItems(2)),
  threshold: Schema.optional(Schema.Number.pipe(Schema.between(0.5, 0.9999))),
  horizonDays: Schema.optional(Schema.Int.pipe(Schema.between(1, 365))),
  periodHours: Schema.optional(Schema.Int.pipe(Schema.between(1, 24 * 30)))
})

const MAX_IMPORT_BYTES = 10 * 1024 * 1024

export const feedbackApi =
  (io: { readonly events: StreamDef<FeedbackEvent> }): ApiRoutes =>
  (app, ctx) => {
    const respond = responder(ctx)

    app.get("/api/feedback/listings", (c) =>
      respond(
        c,
        Effect.gen(function* () {
          const { limit } = yield* decodeWith(Schema.Struct({ limit: Limit(50, 500) }), c.req.query())
          const store = yield* Store
          const listings = yield* store.listingFeedback(limit)
          const points = yield* store.feedbackSeries(listings.map((l) => l.listingId))
          return {
            listings: listings.map((l) => ({ ...l, series: points.filter((p) => p.listingId === l.listingId).map(({ day, kind, value }) => ({ day, kind, value })) }))
          } satisfies FeedbackListingsResponse
        })
      )
    )

    app.get("/api/feedback/experiments", (c) =>
      respond(
        c,
        Effect.gen(function* () {
          const store = yield* Store
          const now = yield* Clock.currentTimeMillis
          const list = yield* store.experiments()
          const experiments = yield* Effect.forEach(list, (e) =>
            Effect.gen(function* () {
              const { periods, arms } = yield* variantPosteriors(e, e.endedAt?.getTime() ?? now)
              // Plot up to a little past the largest plausible rate, so narrow posteriors are visible.
              const upTo = Math.min(1, Math.max(0.02, ...arms.map((a) => (3 * (a.alpha + 1)) / (a.alpha + a.beta))))
              return {
                id: e.id,
                listingId: e.listingId,
                name: e.name,
                metric: e.metric,
                status: e.status,
                threshold: e.threshold,
                horizonDays: e.horizonDays,
                startedAt: e.startedAt.toISOString(),
                endedAt: e.endedAt?.toISOString() ?? null,
                winner: e.winner,
                stopReason: e.stopReason,
                showing: periods[periods.length - 1]?.variant ?? null,
                arms: arms.map((a) => ({
                  key: a.key,
                  label: e.variants.find((v) => v.key === a.key)?.label ?? a.key,
                  trials: a.trials,
                  successes: a.successes,
                  alpha: a.alpha,
                  beta: a.beta,
                  pBest: a.pBest,
                  curve: densityCurve(a, 60, upTo)
                }))
              }
            })
          )
          return { experiments } satisfies ExperimentsResponse
        })
      )
    )

    app.post("/api/feedback/experiments", ctx.requireToken, (c) =>
      respond(
        c,
        Effect.gen(function* () {
          const body = yield* decodeWith(NewExperiment, yield* Effect.tryPromise({ try: () => c.req.json(), catch: () => new PermanentError({ message: "body is not JSON" }) }))
          const keys = new Set(body.variants.map((v) => v.key))
          if (keys.size !== body.variants.length) return yield* new PermanentError({ message: "variants: keys must differ" })
          const now = yield* Clock.currentTimeMillis
          const experiment = newExperiment({ ...body, now })
          const store = yield* Store
          const created = yield* store.createExperiment(experiment, { startsAt: new Date(now), variant: body.variants[0]!.key })
          return { id: experiment.id, created }
        }),
        201
      )
    )

    app.get("/api/feedback/allocations", (c) =>
      respond(
        c,
        Effect.gen(function* () {
          const { days } = yield* decodeWith(Schema.Struct({ days: Limit(14, 365) }), c.req.query())
          const store = yield* Store
          const rows = yield* store.allocations(days)
          const titles = new Map((yield* store.listingFeedback(1_000)).map((l) => [l.listingId, l.title]))
          return {
            allocations: rows.map((r) => ({ day: r.day, listingId: r.listingId, title: titles.get(r.listingId) ?? r.listingId, amountCents: r.amountCents, pBest: r.pBest, alpha: r.alpha, beta: r.beta }))
          } satisfies AllocationsResponse
        })
      )
    )

    app.get("/api/feedback/weights", (c) =>
      respond(
        c,
        Effect.gen(function* () {
          const store = yield* Store
          yield* store.currentWeights()
          const versions = yield* store.weightVersions(50)
          const runs = yield* store.learnerRuns(50)
          return {
            versions: versions.map((v) => ({ version: v.version, weights: v.weights as Factors, note: v.note, promoted: v.promoted, createdAt: v.createdAt.toISOString() })),
            runs: runs.map(({ day, items, promotedVersion, reason, outcome, figures }) => ({ day, items, promotedVersion, reason, outcome, figures }))
          } satisfies WeightsResponse
        })
      )
    )

    app.post("/api/feedback/import", ctx.requireToken, (c) =>
      respond(
        c,
        Effect.gen(function* () {
          const { marketplace, file } = yield* decodeWith(
            Schema.Struct({ marketplace: Schema.String.annotations({ message: () => "?marketplace= is required (e.g. redbubble)" }), file: Schema.optional(Schema.String) }),
            c.req.query()
          )
          const length = Number(c.req.header("content-length") ?? 0)
          if (length > MAX_IMPORT_BYTES) return yield* Effect.fail(Object.assign(new PermanentError({ message: `report over ${MAX_IMPORT_BYTES} bytes` }), { status: 413 }))
          const text = yield* Effect.promise(() => c.req.text())
          const emissions = yield* Effect.try({ try: () => parseFeedbackCsv(text, marketplace, file ?? "report.csv"), catch: (e) => e })
          const ids = yield* ctx.emit("csv-import", io.events, emissions)
          return { accepted: ids.length, ids } satisfies ImportResponse
        }),
        202
      )
    )
  }
