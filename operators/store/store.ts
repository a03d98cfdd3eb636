/**
 * The domain store: signals, ideas, artwork, listings, feedback, scoring weights and
 * backtest runs, in PostgreSQL + pgvector (or embedded PGlite) through the `Sql` service.
 * One service made of one part per aggregate (the files beside this one).
 *
 * Every write is idempotent, keyed by the event id or the content hash, so the runtime's
 * at-least-once delivery never leaves a duplicate row.
 */
import { Context, Effect, Layer } from "effect"
import { PermanentError } from "../../runtime/errors.ts"
import { attempt, Sql, type SqlError } from "../../runtime/sql.ts"
import { type ArtworkStore, makeArtworkStore } from "./artwork.ts"
import { type BacktestsStore, makeBacktestsStore } from "./backtests.ts"
import { makeDb } from "./db.ts"
import { type ExperimentsStore, makeExperimentsStore } from "./experiments.ts"
import { type FeedbackStore, makeFeedbackStore } from "./feedback.ts"
import { type IdeasStore, makeIdeasStore } from "./ideas.ts"
import { type ListingsStore, makeListingsStore } from "./listings.ts"
import { makePublishingStore, type PublishingStore } from "./publishing.ts"
import { makeSignalsStore, type SignalsStore } from "./signals.ts"
import { makeWeightsStore, type WeightsStore } from "./weights.ts"

export const STORE_TABLES = [
  "signals",
  "ideas",
  "mockups",
  "listings",
  "feedback_events",
  "scoring_weights",
  "backtest_runs",
  "generations",
  "candidates",
  "publish_intents",
  "experiments",
  "promotion_allocations",
  "learner_runs"
] as const
export type StoreTable = (typeof STORE_TABLES)[number]

export interface StoreService
  extends SignalsStore,
    IdeasStore,
    ArtworkStore,
    ListingsStore,
    FeedbackStore,
    ExperimentsStore,
    WeightsStore,
    BacktestsStore,
    PublishingStore {
  /** Rows per table, for the UI and for tests that assert "no duplicates". */
  readonly counts: () => Effect.Effect<Record<StoreTable, number>, SqlError>
}

const make = Effect.gen(function* () {
  const { client: sql } = yield* Sql
  const db = makeDb(sql)
  const counts: StoreService["counts"] = () =>
    attempt("count rows", async () => {
      const selects = STORE_TABLES.map((t) => `(select count(*)::int from ${t}) as ${t}`).join(", ")
      const [row] = await sql<Array<Record<StoreTable, number>>>`select ${sql.unsafe(selects)}`
      if (row === undefined) throw new PermanentError({ message: "counts: no row" })
      return row
    })
  return {
    ...makeSignalsStore(db),
    ...makeIdeasStore(db),
    ...makeArtworkStore(db),
    ...makeListingsStore(db),
    ...makeFeedbackStore(db),
    ...makeExperimentsStore(db),
    ...makeWeightsStore(db),
    ...makeBacktestsStore(db),
    ...makePublishingStore(db),
    counts
  } satisfies StoreService
})

export class Store extends Context.Tag("desainz/Store")<Store, StoreService>() {
  /** Needs the schema in place: run `migrate` (from runtime/sql.ts) first. */
  static readonly layer: Layer.Layer<Store, never, Sql> = Layer.effect(Store, make)
}
