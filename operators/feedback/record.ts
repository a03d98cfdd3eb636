/**
 * Stores `feedback.events` in the store, one transaction per batch: each event attributed
 * listing -> idea -> signal, plain events idempotent by event id, cumulative counters
 * differenced against the last reading stored (operators/store/feedback.ts). An event
 * whose listing the store does not know is dead-lettered with that reason, never dropped.
 */
import { Effect } from "effect"
import { PermanentError } from "../../runtime/errors.ts"
import { Metrics } from "../../runtime/metrics.ts"
import { batch, entryFailure, type SettingsInput, type StreamDef } from "../../runtime/topology.ts"
import type { FeedbackEvent } from "../schemas.ts"
import { Store } from "../store/store.ts"

export const recordFeedback = (io: { readonly from: StreamDef<FeedbackEvent> }, settings?: SettingsInput) =>
  batch<FeedbackEvent, any, unknown, Store | Metrics>({
    name: "feedback-store",
    kind: "feedback-store",
    from: io.from,
    to: [],
    settings,
    config: {},
    run: (entries) =>
      Effect.gen(function* () {
        const store = yield* Store
        const { registry } = yield* Metrics
        const result = yield* store.recordFeedback(entries.map((e) => ({ id: e.eventId, event: e.data })))
        const stored = registry.counter("desainz_feedback_events_total", "Feedback events stored, and readings that changed nothing")
        stored.inc({ result: "stored" }, result.inserted)
        stored.inc({ result: "unchanged" }, result.unchanged)
        const unknown = new Set(result.unknownListing)
        return entries.map((e) =>
          unknown.has(e.eventId)
            ? entryFailure(
                new PermanentError({
                  message: `feedback ${e.data.kind} on listing ${e.data.listingId ?? `${e.data.marketplace ?? "?"} ${e.data.externalId ?? "(no id)"}`}: no such listing in the store`
                })
              )
            : []
        )
      })
  })
