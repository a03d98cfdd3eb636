/**
 * Enrich: the step where a signal becomes a record. Per batch, in order:
 *
 * 1. normalize: text, tags, PII purge, and the content hash that is the signal's id;
 * 2. store: one multi-row upsert of the signal rows (ideas and feedback reference them);
 * 3. archive (`archiveRaw`): each raw signal as JSON under `raw-signals/year=/month=/day=/<id>.json`,
 *    which backtests replay; idempotent (same key, same bytes).
 *
 * Storing and archiving are not nodes of their own on purpose: both key on the id that
 * normalizing computes, and a signal passed downstream must already have its row.
 */
import { Effect, Either, Schema } from "effect"
import { type BlobError, BlobStore, type BlobStoreService } from "../../runtime/blobs.ts"
import { batch, decodeConfig, entryFailure, type SettingsInput, type StreamDef } from "../../runtime/topology.ts"
import { rawSignalKey } from "../blobKeys.ts"
import { signalIdOf } from "../ids.ts"
import { normalizeSignal } from "./normalize.ts"
import type { Signal } from "../schemas.ts"
import { Store, type StoreService } from "../store/store.ts"

export const EnrichConfig = Schema.Struct({
  archiveRaw: Schema.optionalWith(Schema.Boolean, { default: () => true }).annotations({
    description: "keep each raw signal as JSON in the blob store"
  })
})

const storeSignals = (store: StoreService, enriched: ReadonlyArray<Signal>) =>
  store.upsertSignals(
    enriched.map((s) => ({
      id: signalIdOf(s.contentHash!),
      content: s.content,
      source: s.source,
      capturedAt: new Date(s.capturedAt),
      metadata: { ...s.metadata, sourceId: s.sourceId, tags: s.tags, engagement: s.engagement, url: s.url ?? null },
      contentHash: s.contentHash!
    }))
  )

/** The raw signal as it arrived, under the id its normalized form got. */
const archiveRawSignals = (blobs: BlobStoreService, raw: ReadonlyArray<Signal>, normalized: ReadonlyArray<Either.Either<Signal, unknown>>) =>
  Effect.forEach(
    raw,
    (signal, i): Effect.Effect<unknown, BlobError> => {
      const r = normalized[i]!
      return Either.isLeft(r)
        ? Effect.void
        : Effect.flatMap(rawSignalKey(new Date(signal.capturedAt), signalIdOf(r.right.contentHash!)), (key) =>
            blobs.put(key, Buffer.from(JSON.stringify(signal)), { contentType: "application/json" })
          )
    },
    { concurrency: 8, discard: true }
  )

export const enrich = (
  config: typeof EnrichConfig.Encoded,
  io: { readonly from: StreamDef<Signal>; readonly to: StreamDef<Signal> },
  settings?: SettingsInput
) => {
  const c = decodeConfig("enrich", EnrichConfig, config)
  return batch({
    name: "enrich",
    kind: "enrich",
    ...io,
    settings,
    config: c,
    run: (entries) =>
      Effect.gen(function* () {
        // One unusable signal (nothing visible left after cleaning) fails alone, not its batch.
        const normalized = entries.map((e) => Either.try({ try: () => normalizeSignal(e.data), catch: (error) => error }))
        yield* storeSignals(yield* Store, normalized.flatMap((r) => (Either.isRight(r) ? [r.right] : [])))
        if (c.archiveRaw) yield* archiveRawSignals(yield* BlobStore, entries.map((e) => e.data), normalized)
        return normalized.map((r) => (Either.isRight(r) ? [r.right] : entryFailure(r.left)))
      })
  })
}
