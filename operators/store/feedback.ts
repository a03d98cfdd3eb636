/**
 * Feedback: marketplace events per listing, keyed by event id, and their totals per signal.
 */
import { Effect, Schema } from "effect"
import { attempt, type SqlError } from "../../runtime/sql.ts"
import { FeedbackEvent } from "../schemas.ts"
import { Finite, Instant, JsonObject, validate, type Db } from "./db.ts"

/** One `feedback.received` event; `id` is its event id. */
export const FeedbackRow = Schema.Struct({
  id: Schema.UUID,
  listingId: Schema.UUID,
  kind: FeedbackEvent.fields.kind,
  value: Finite,
  occurredAt: Instant,
  payload: JsonObject
})
export type FeedbackRow = typeof FeedbackRow.Type

export interface FeedbackStore {
  /** New feedback events; a known id is skipped. Returns rows inserted. */
  readonly insertFeedback: (rows: ReadonlyArray<FeedbackRow>) => Effect.Effect<number, SqlError>
  /** Feedback totals per kind for the ideas made from the given signals, keyed by signal id. */
  readonly feedbackBySignal: (
    signalIds: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyMap<string, Readonly<Record<string, number>>>, SqlError>
}

export const makeFeedbackStore = ({ sql, json, batched }: Db): FeedbackStore => {
  const checkFeedback = validate(Schema.Array(FeedbackRow), "insertFeedback")

  const insertFeedback: FeedbackStore["insertFeedback"] = (input) =>
    Effect.flatMap(checkFeedback(input), (rows) => {
      const values = rows.map((r) => ({
        id: r.id,
        listing_id: r.listingId,
        kind: r.kind,
        value: r.value,
        occurred_at: r.occurredAt,
        payload: json(r.payload)
      }))
      return batched("insert feedback", values, 6, async (part) => {
        const result = await sql`insert into feedback_events ${sql(part, "id", "listing_id", "kind", "value", "occurred_at", "payload")}
          on conflict do nothing`
        return result.count
      })
    })

  const feedbackBySignal: FeedbackStore["feedbackBySignal"] = (signalIds) =>
    attempt("read feedback by signal", async () => {
      const out = new Map<string, Record<string, number>>()
      if (signalIds.length === 0) return out
      const rows = await sql<Array<{ signalId: string; kind: string; total: number }>>`
        select i.signal_id as "signalId", f.kind, sum(f.value)::float8 as total
        from feedback_events f join listings l on l.id = f.listing_id join ideas i on i.id = l.idea_id
        where i.signal_id = any(${[...signalIds]}::uuid[])
        group by 1, 2`
      for (const r of rows) out.set(r.signalId, { ...out.get(r.signalId), [r.kind]: Number(r.total) })
      return out
    })

  return { insertFeedback, feedbackBySignal }
}
