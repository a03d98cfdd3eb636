/**
 * Enrich: normalizes a signal (text, tags, PII purge, content hash), stores it, and
 * archives the raw signal under `raw-signals/year=/month=/day=/`. One multi-row upsert per
 * batch; the archive write is idempotent (same key, same bytes).
 */
import { Effect, Either, Schema } from "effect"
import { type BlobError, BlobStore } from "../../runtime/blobs.ts"
import { batch, decodeConfig, entryFailure, type SettingsInput, type StreamDef } from "../../runtime/topology.ts"
import { rawSignalKey } from "../blobKeys.ts"
import { signalIdOf } from "../ids.ts"
import { normalizeSignal } from "./normalize.ts"
import type { Signal } from "../schemas.ts"
import { Store } from "../store/store.ts"

export const EnrichConfig = Schema.Struct({
  archiveRaw: Schema.Boolean.annotations({ description: "keep each raw signal as JSON in the blob store", default: true })
})

export const enrich = (
  config: Partial<typeof EnrichConfig.Type>,
  io: { readonly from: StreamDef<Signal>; readonly to: StreamDef<Signal> },
  settings?: SettingsInput
) => {
  const c = decodeConfig("enrich", EnrichConfig, { archiveRaw: true, ...config })
  return batch({
    name: "enrich",
    kind: "enrich",
    ...io,
    settings,
    config: c,
    run: (entries) =>
      Effect.gen(function* () {
        const store = yield* Store
        const blobs = yield* BlobStore
        // One unusable signal (nothing visible left after cleaning) fails alone, not its batch.
        const results = entries.map((e) => Either.try({ try: () => normalizeSignal(e.data), catch: (error) => error }))
        const enriched = results.flatMap((r) => (Either.isRight(r) ? [r.right] : []))
        yield* store.upsertSignals(
          enriched.map((s) => ({
            id: signalIdOf(s.contentHash!),
            content: s.content,
            source: s.source,
            capturedAt: new Date(s.capturedAt),
            metadata: { ...s.metadata, sourceId: s.sourceId, tags: s.tags, engagement: s.engagement, url: s.url ?? null },
            contentHash: s.contentHash!
          }))
        )
        if (c.archiveRaw) {
          yield* Effect.forEach(
            entries,
            (e, i): Effect.Effect<unknown, BlobError> => {
              const r = results[i]!
              return Either.isLeft(r)
                ? Effect.void
                : Effect.flatMap(rawSignalKey(new Date(e.data.capturedAt), signalIdOf(r.right.contentHash!)), (key) =>
                    blobs.put(key, Buffer.from(JSON.stringify(e.data)), { contentType: "application/json" })
                  )
            },
            { concurrency: 8, discard: true }
          )
        }
        return results.map((r) => (Either.isRight(r) ? [r.right] : entryFailure(r.left)))
      })
  })
}
