/**
 * Signals: one row per `signal.ingested` event, keyed by event id and content hash.
 */
import { Effect, Schema } from "effect"
import { ContentHash } from "../schemas.ts"
import { Instant, JsonObject, validate, type Db } from "./db.ts"
import type { SqlError } from "../../runtime/sql.ts"

/** One `signal.ingested` event; `id` is its event id. */
export const SignalRow = Schema.Struct({
  id: Schema.UUID,
  content: Schema.String,
  source: Schema.NonEmptyString,
  capturedAt: Instant,
  metadata: JsonObject,
  contentHash: ContentHash
})
export type SignalRow = typeof SignalRow.Type

export interface SignalsStore {
  /** New signals; a known id or content hash is skipped. Returns rows inserted. */
  readonly upsertSignals: (rows: ReadonlyArray<SignalRow>) => Effect.Effect<number, SqlError>
}

export const makeSignalsStore = ({ sql, json, batched }: Db): SignalsStore => {
  const checkSignals = validate(Schema.Array(SignalRow), "upsertSignals")

  const upsertSignals: SignalsStore["upsertSignals"] = (input) =>
    Effect.flatMap(checkSignals(input), (rows) => {
      const values = rows.map((r) => ({
        id: r.id,
        content: r.content,
        source: r.source,
        captured_at: r.capturedAt,
        metadata: json(r.metadata),
        content_hash: r.contentHash
      }))
      // No conflict target: a clash on the id or on the content hash both mean "already have it".
      return batched("upsert signals", values, 6, async (part) => {
        const result = await sql`insert into signals ${sql(part, "id", "content", "source", "captured_at", "metadata", "content_hash")}
          on conflict do nothing`
        return result.count
      })
    })

  return { upsertSignals }
}
