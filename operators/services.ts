/**
 * The services the pipeline's operators use, each with its embedded default chosen when
 * its variable is unset: store (DATABASE_URL, else PGlite under ./.data/pg), blobs
 * (S3_ENDPOINT, else ./.data/blobs), Bloom filters (REDIS_URL, else in-process), and the
 * HttpClient every outbound call goes through (runtime/httpClient.ts; tests point the
 * adapters at local fakes by their base URL, not by swapping this client).
 * The store's migrations run before anything reads or writes it.
 */
import { Effect, Layer } from "effect"
import { BlobStore } from "../runtime/blobs.ts"
import * as Http from "../runtime/httpClient.ts"
import { migrate, Sql } from "../runtime/sql.ts"
import * as Bloom from "./ingest/dedupe.ts"
import { Store } from "./store/store.ts"

const MigratedSql = Layer.effectDiscard(
  Effect.flatMap(migrate(), (applied) =>
    applied.length > 0 ? Effect.logInfo(`applied migrations ${applied.map((m) => `${m.version}_${m.name}`).join(", ")}`) : Effect.void
  )
).pipe(Layer.provideMerge(Sql.layerConfig))

export const services = (topology: string) =>
  Layer.mergeAll(Store.layer.pipe(Layer.provideMerge(MigratedSql)), BlobStore.layerConfig, Bloom.layer(topology), Http.layer)
