/**
 * The domain store: signals, ideas, mock-ups, listings, feedback, scoring weights and
 * backtest runs, in PostgreSQL + pgvector (or embedded PGlite) through the `Sql` service.
 *
 * Every write is idempotent, keyed by the event id or the content hash, so the runtime's
 * at-least-once delivery never leaves a duplicate row. Writes are batched: one multi-row
 * statement per batch (split only to stay under the wire protocol's parameter limit), and
 * each returns how many rows were new, so callers can tell a redelivery from fresh input.
 *
 * Rows are checked against their Schema here: a malformed row is a PermanentError naming
 * the field, before it costs a round trip.
 */
import { Context, Effect, Layer, Option, Schema } from "effect"
import type postgres from "postgres"
import { PermanentError } from "../runtime/errors.ts"
import { attempt, Sql, type SqlError } from "../runtime/sql.ts"
import { ContentHash, FeedbackEvent, Listing, Weights } from "./schemas.ts"

// ---------------------------------------------------------------------------------------
// Row schemas (what callers pass in and get back; column names are snake_case in SQL)

const JsonObject = Schema.Record({ key: Schema.String, value: Schema.Unknown })
const Finite = Schema.Number.pipe(Schema.finite())
const Instant = Schema.ValidDateFromSelf

export const IdeaStatus = Schema.Literal("queued", "mocked", "live", "archived")
export type IdeaStatus = typeof IdeaStatus.Type
export const ReviewStatus = Schema.Literal("pending", "approved", "rejected")
export type ReviewStatus = typeof ReviewStatus.Type
export const MockupVariant = Schema.Literal("front", "back", "colorway")
export const ListingStatus = Schema.Literal("draft", "approved", "published", "failed")
export type ListingStatus = typeof ListingStatus.Type

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

/** A scored idea. Status and review status are not written here: they move by their own calls. */
export const IdeaRow = Schema.Struct({
  id: Schema.UUID,
  signalId: Schema.UUID,
  title: Schema.String,
  description: Schema.String,
  /** Must have EMBEDDING_DIM entries; the database refuses any other length. */
  embedding: Schema.NullOr(Schema.Array(Finite)),
  score: Finite,
  /** The per-factor breakdown that produced `score`. */
  factors: JsonObject,
  weightsVersion: Schema.Int
})
export type IdeaRow = typeof IdeaRow.Type

/** An idea to store; the scorer adds the signal's `capturedAt`, on which near-duplicate searches window. */
export const IdeaUpsert = Schema.Struct({ ...IdeaRow.fields, eventAt: Schema.optional(Instant) })
export type IdeaUpsert = typeof IdeaUpsert.Type

/** An idea as stored, from `listIdeas`. */
export const Idea = Schema.Struct({
  ...IdeaRow.fields,
  status: IdeaStatus,
  reviewStatus: ReviewStatus,
  createdAt: Instant,
  updatedAt: Instant
})
export type Idea = typeof Idea.Type

export const MockupRow = Schema.Struct({
  id: Schema.UUID,
  ideaId: Schema.UUID,
  blobUri: Schema.NonEmptyString,
  variant: MockupVariant,
  /** "" for the design's default garment colour. */
  colorway: Schema.String,
  generationParams: JsonObject
})
export type MockupRow = typeof MockupRow.Type

export const ListingRow = Schema.Struct({
  id: Schema.UUID,
  ideaId: Schema.UUID,
  marketplace: Schema.NonEmptyString,
  externalId: Schema.NullOr(Schema.String),
  url: Schema.NullOr(Schema.String),
  title: Schema.String,
  description: Schema.String,
  tags: Schema.Array(Schema.String),
  status: ListingStatus,
  /** Merged into what is stored, so a later event without metrics keeps the earlier ones. */
  performance: JsonObject,
  publishedAt: Schema.NullOr(Instant)
})
export type ListingRow = typeof ListingRow.Type

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

export const WeightsVersion = Schema.Struct({
  version: Schema.Int,
  weights: Weights,
  note: Schema.String,
  promoted: Schema.Boolean,
  createdAt: Instant
})
export type WeightsVersion = typeof WeightsVersion.Type

export const NewWeights = Schema.Struct({
  weights: Weights,
  note: Schema.String,
  promoted: Schema.Boolean
})
export type NewWeights = typeof NewWeights.Type

/** Recorded when a backtest starts (no `finishedAt`) and again when it ends, under the same id. */
export const BacktestRun = Schema.Struct({
  id: Schema.UUID,
  startedAt: Instant,
  finishedAt: Schema.NullOr(Instant),
  params: JsonObject,
  results: JsonObject,
  winner: Schema.NullOr(JsonObject)
})
export type BacktestRun = typeof BacktestRun.Type

/** An idea as the scorer writes it: an `IdeaRow` and the event time of its signal. */

/** A near-duplicate signal folded into an existing idea instead of making its own. */
export const MergeRow = Schema.Struct({
  /** The idea id the signal would have had: a redelivered merge is recorded once. */
  mergedId: Schema.UUID,
  ideaId: Schema.UUID,
  signalId: Schema.UUID,
  similarity: Finite,
  eventAt: Instant
})
export type MergeRow = typeof MergeRow.Type

/** One nearest-idea search: ideas with event time in [from, to), other than `excludeId`. */
export const NeighbourQuery = Schema.Struct({
  embedding: Schema.Array(Finite),
  from: Instant,
  to: Instant,
  excludeId: Schema.UUID,
  limit: Schema.Int.pipe(Schema.between(1, 100))
})
export type NeighbourQuery = typeof NeighbourQuery.Type

export const Neighbour = Schema.Struct({
  id: Schema.UUID,
  eventAt: Instant,
  /** As stored (float32 values). */
  embedding: Schema.Array(Finite)
})
export type Neighbour = typeof Neighbour.Type

/** The weights scorers use until a learned set is promoted: recency and engagement only. */
export const DEFAULT_WEIGHTS: Weights = { freshness: 0.5, engagement: 0.5, novelty: 0, communityFit: 0, seasonality: 0 }

export const STORE_TABLES = [
  "signals",
  "ideas",
  "mockups",
  "listings",
  "feedback_events",
  "scoring_weights",
  "backtest_runs"
] as const
export type StoreTable = (typeof STORE_TABLES)[number]

export interface ListIdeasOptions {
  readonly status?: IdeaStatus
  /** 1..1000, best score first. */
  readonly limit: number
}

// ---------------------------------------------------------------------------------------
// Service

export interface StoreService {
  /** New signals; a known id or content hash is skipped. Returns rows inserted. */
  readonly upsertSignals: (rows: ReadonlyArray<SignalRow>) => Effect.Effect<number, SqlError>
  /**
   * New ideas, or a rescore of known ones (same id, different content); a row without
   * `eventAt` keeps the stored one. Returns rows inserted.
   */
  readonly upsertIdeas: (rows: ReadonlyArray<IdeaUpsert>) => Effect.Effect<number, SqlError>
  /** New mock-ups; a known id or (idea, variant, colorway) is skipped. Returns rows inserted. */
  readonly upsertMockups: (rows: ReadonlyArray<MockupRow>) => Effect.Effect<number, SqlError>
  /**
   * New listings, or the next state of a known (idea, marketplace). Status only moves forward
   * (draft, approved, failed, published), so a redelivered older event cannot undo a publish.
   * Returns rows inserted.
   */
  readonly upsertListings: (rows: ReadonlyArray<ListingRow>) => Effect.Effect<number, SqlError>
  /** New feedback events; a known id is skipped. Returns rows inserted. */
  readonly insertFeedback: (rows: ReadonlyArray<FeedbackRow>) => Effect.Effect<number, SqlError>
  /** False when no idea has that id. */
  readonly setIdeaStatus: (ideaId: string, status: IdeaStatus) => Effect.Effect<boolean, SqlError>
  /** False when no idea has that id. */
  readonly setReviewStatus: (ideaId: string, decision: "approved" | "rejected") => Effect.Effect<boolean, SqlError>
  /** The newest promoted weight set; seeds DEFAULT_WEIGHTS as version 1 on an empty table. */
  readonly currentWeights: () => Effect.Effect<WeightsVersion, SqlError>
  /** Returns the new version number. */
  readonly insertWeights: (weights: NewWeights) => Effect.Effect<number, SqlError>
  /** Returns 1 when the run is new, 0 when it updated the run's earlier record. */
  readonly recordBacktestRun: (run: BacktestRun) => Effect.Effect<number, SqlError>
  readonly listIdeas: (options: ListIdeasOptions) => Effect.Effect<ReadonlyArray<Idea>, SqlError>
  /** Rows per table, for the UI and for tests that assert "no duplicates". */
  readonly counts: () => Effect.Effect<Record<StoreTable, number>, SqlError>
  /** Keeps a listing draft at the review gate until a person decides. False when the listing is unknown. */
  readonly parkForReview: (draft: Listing) => Effect.Effect<boolean, SqlError>
  /** The draft parked for an idea, if any (encoded `Listing`, to decode at the call site). */
  readonly parkedDraft: (ideaId: string) => Effect.Effect<Option.Option<unknown>, SqlError>
  /** Ideas with their signal and mock-ups, for the UI's review list, best score first. */
  readonly ideaCards: (options: IdeaCardsOptions) => Effect.Effect<ReadonlyArray<IdeaCard>, SqlError>
  /** New merges, each bumping its idea's `merge_count` once; a known merge is skipped. Returns merges recorded. */
  readonly recordMerges: (rows: ReadonlyArray<MergeRow>) => Effect.Effect<number, SqlError>
  /**
   * Per query, up to `limit` ideas nearest to its embedding (cosine distance, pgvector), in
   * one statement. Exact within the window: the search scans the window's ideas rather
   * than the approximate HNSW index, so every replica and replay gets the same answer.
   */
  readonly nearestIdeas: (queries: ReadonlyArray<NeighbourQuery>) => Effect.Effect<ReadonlyArray<ReadonlyArray<Neighbour>>, SqlError>
  /** Feedback totals per kind for the ideas made from the given signals, keyed by signal id. */
  readonly feedbackBySignal: (
    signalIds: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyMap<string, Readonly<Record<string, number>>>, SqlError>
}

export interface IdeaCardsOptions {
  readonly status?: IdeaStatus | undefined
  readonly review?: ReviewStatus | undefined
  /** 1..1000. */
  readonly limit: number
}

export const IdeaCard = Schema.Struct({
  ideaId: Schema.String,
  title: Schema.String,
  score: Schema.Number,
  factors: Schema.Record({ key: Schema.String, value: Schema.Number }),
  status: IdeaStatus,
  reviewStatus: ReviewStatus,
  weightsVersion: Schema.Number,
  createdAt: Schema.String,
  signal: Schema.Struct({ source: Schema.String, content: Schema.String, url: Schema.NullOr(Schema.String), capturedAt: Schema.String }),
  printFileKey: Schema.NullOr(Schema.String),
  mockups: Schema.Array(Schema.Struct({ variant: Schema.String, colorway: Schema.String, blobUri: Schema.String }))
})
export type IdeaCard = typeof IdeaCard.Type

/** Parameters per statement are capped by the protocol's 16-bit count. */
const MAX_PARAMETERS = 65_534

const chunk = <A>(rows: ReadonlyArray<A>, columns: number): ReadonlyArray<ReadonlyArray<A>> => {
  const size = Math.max(1, Math.floor(MAX_PARAMETERS / columns))
  const chunks: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < rows.length; i += size) chunks.push(rows.slice(i, i + size))
  return chunks
}

/** `ON CONFLICT DO UPDATE` may touch a row once per statement, so a batch keeps the last row per key. */
const lastPerKey = <A>(rows: ReadonlyArray<A>, key: (row: A) => string): ReadonlyArray<A> =>
  Array.from(new Map(rows.map((row) => [key(row), row])).values())

/** pgvector's text form; sent untyped, the server parses it as the column's vector type. */
const vectorLiteral = (values: ReadonlyArray<number>): string => `[${values.join(",")}]`

const validate = <A, I>(schema: Schema.Schema<A, I>, what: string) => {
  const check = Schema.validate(schema)
  return (value: unknown): Effect.Effect<A, PermanentError> =>
    Effect.mapError(check(value), (error) => new PermanentError({ message: `${what}: ${error.message}`, cause: error }))
}

const decodeRows = <A, I>(schema: Schema.Schema<A, I>, what: string) => {
  const decode = Schema.decodeUnknown(Schema.Array(schema))
  return (rows: unknown): Effect.Effect<ReadonlyArray<A>, PermanentError> =>
    Effect.mapError(decode(rows), (error) => new PermanentError({ message: `${what}: unexpected row shape: ${error.message}`, cause: error }))
}

/** Ideas as read back: the vector arrives in pgvector's text form, which is a JSON array. */
const IdeaFromDb = Schema.Struct({
  ...Idea.fields,
  embedding: Schema.NullOr(Schema.parseJson(Schema.Array(Finite)))
})

const ideaColumns = `id, signal_id as "signalId", title, description, embedding::text as embedding, score, factors,
  weights_version as "weightsVersion", status, review_status as "reviewStatus",
  created_at as "createdAt", updated_at as "updatedAt"`

const weightsColumns = `version, weights, note, promoted, created_at as "createdAt"`

/** Rank of each listing status; an update may keep or raise it, never lower it. */
const LISTING_PROGRESS = ["draft", "approved", "failed", "published"] as const satisfies ReadonlyArray<ListingStatus>

const make = Effect.gen(function* () {
  const { client: sql } = yield* Sql
  const json = (value: unknown) => sql.json(value as postgres.JSONValue)

  /** Runs one idempotent multi-row statement per chunk and adds up what it reports as new. */
  const batched = <A>(
    action: string,
    rows: ReadonlyArray<A>,
    columns: number,
    statement: (chunk: ReadonlyArray<A>) => Promise<number>
  ): Effect.Effect<number, SqlError> =>
    Effect.reduce(chunk(rows, columns), 0, (total, part) => Effect.map(attempt(action, () => statement(part)), (n) => total + n))

  /** Counts rows of `returning (xmax = 0) as inserted`: xmax is 0 exactly on rows this statement created. */
  const insertedCount = (result: ReadonlyArray<postgres.Row>): number => result.filter((r) => r["inserted"] === true).length

  const checkSignals = validate(Schema.Array(SignalRow), "upsertSignals")
  const checkIdeas = validate(Schema.Array(IdeaUpsert), "upsertIdeas")
  const checkMockups = validate(Schema.Array(MockupRow), "upsertMockups")
  const checkListings = validate(Schema.Array(ListingRow), "upsertListings")
  const checkFeedback = validate(Schema.Array(FeedbackRow), "insertFeedback")
  const checkWeights = validate(NewWeights, "insertWeights")
  const checkBacktest = validate(BacktestRun, "recordBacktestRun")
  const decodeIdeas = decodeRows(IdeaFromDb, "listIdeas")
  const decodeWeights = decodeRows(WeightsVersion, "currentWeights")

  const upsertSignals: StoreService["upsertSignals"] = (input) =>
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

  // event_at in the same statement: a separate UPDATE would insert every row into the HNSW
  // index a second time (event_at is indexed, so it is never a HOT update).
  const upsertIdeas: StoreService["upsertIdeas"] = (input) =>
    Effect.flatMap(checkIdeas(input), (rows) => {
      const values = lastPerKey(rows, (r) => r.id).map((r) => ({
        id: r.id,
        signal_id: r.signalId,
        title: r.title,
        description: r.description,
        embedding: r.embedding === null ? null : vectorLiteral(r.embedding),
        score: r.score,
        factors: json(r.factors),
        weights_version: r.weightsVersion,
        event_at: r.eventAt ?? null
      }))
      // The `where` leaves an identical redelivery untouched (updated_at included).
      return batched("upsert ideas", values, 9, async (part) => {
        const result = await sql`
          insert into ideas ${sql(part, "id", "signal_id", "title", "description", "embedding", "score", "factors", "weights_version", "event_at")}
          on conflict (id) do update set
            title = excluded.title, description = excluded.description, embedding = excluded.embedding,
            score = excluded.score, factors = excluded.factors, weights_version = excluded.weights_version,
            event_at = coalesce(excluded.event_at, ideas.event_at), updated_at = now()
          where (ideas.title, ideas.description, ideas.embedding, ideas.score, ideas.factors, ideas.weights_version, ideas.event_at)
            is distinct from
            (excluded.title, excluded.description, excluded.embedding, excluded.score, excluded.factors, excluded.weights_version,
             coalesce(excluded.event_at, ideas.event_at))
          returning (xmax = 0) as inserted`
        return insertedCount(result)
      })
    })

  const upsertMockups: StoreService["upsertMockups"] = (input) =>
    Effect.flatMap(checkMockups(input), (rows) => {
      const values = rows.map((r) => ({
        id: r.id,
        idea_id: r.ideaId,
        blob_uri: r.blobUri,
        variant: r.variant,
        colorway: r.colorway,
        generation_params: json(r.generationParams)
      }))
      return batched("upsert mockups", values, 6, async (part) => {
        const result = await sql`insert into mockups ${sql(part, "id", "idea_id", "blob_uri", "variant", "colorway", "generation_params")}
          on conflict do nothing`
        return result.count
      })
    })

  const upsertListings: StoreService["upsertListings"] = (input) =>
    Effect.flatMap(checkListings(input), (rows) => {
      const values = lastPerKey(rows, (r) => `${r.ideaId}\u0000${r.marketplace}`).map((r) => ({
        id: r.id,
        idea_id: r.ideaId,
        marketplace: r.marketplace,
        external_id: r.externalId,
        url: r.url,
        title: r.title,
        description: r.description,
        tags: r.tags as Array<string>,
        status: r.status,
        performance: json(r.performance),
        published_at: r.publishedAt
      }))
      const progress = sql.array([...LISTING_PROGRESS])
      return batched("upsert listings", values, 11, async (part) => {
        const result = await sql`
          insert into listings ${sql(
            part,
            "id",
            "idea_id",
            "marketplace",
            "external_id",
            "url",
            "title",
            "description",
            "tags",
            "status",
            "performance",
            "published_at"
          )}
          on conflict (idea_id, marketplace) do update set
            external_id = coalesce(excluded.external_id, listings.external_id),
            url = coalesce(excluded.url, listings.url),
            title = excluded.title, description = excluded.description, tags = excluded.tags,
            status = excluded.status,
            performance = listings.performance || excluded.performance,
            published_at = coalesce(listings.published_at, excluded.published_at),
            updated_at = now()
          where array_position(${progress}::text[], excluded.status) >= array_position(${progress}::text[], listings.status)
            and (listings.external_id, listings.url, listings.title, listings.description, listings.tags,
                 listings.status, listings.performance, listings.published_at)
              is distinct from
                (coalesce(excluded.external_id, listings.external_id), coalesce(excluded.url, listings.url),
                 excluded.title, excluded.description, excluded.tags, excluded.status,
                 listings.performance || excluded.performance, coalesce(listings.published_at, excluded.published_at))
          returning (xmax = 0) as inserted`
        return insertedCount(result)
      })
    })

  const insertFeedback: StoreService["insertFeedback"] = (input) =>
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

  const setIdeaStatus: StoreService["setIdeaStatus"] = (ideaId, status) =>
    Effect.flatMap(validate(IdeaStatus, "setIdeaStatus")(status), () =>
      attempt("set idea status", async () => {
        const result = await sql`update ideas set status = ${status}, updated_at = now() where id = ${ideaId}`
        return result.count > 0
      })
    )

  const setReviewStatus: StoreService["setReviewStatus"] = (ideaId, decision) =>
    Effect.flatMap(validate(Schema.Literal("approved", "rejected"), "setReviewStatus")(decision), () =>
      attempt("set review status", async () => {
        const result = await sql`update ideas set review_status = ${decision}, updated_at = now() where id = ${ideaId}`
        return result.count > 0
      })
    )

  const latestPromoted = () =>
    sql`select ${sql.unsafe(weightsColumns)} from scoring_weights where promoted order by version desc limit 1`

  const currentWeights: StoreService["currentWeights"] = () =>
    Effect.gen(function* () {
      let rows = yield* attempt("read current weights", latestPromoted)
      if (rows.length === 0) {
        // Replicas starting together must seed once: the lock makes the second one see the first's row.
        rows = yield* attempt("seed default weights", () =>
          sql.begin(async (tx) => {
            await tx`select pg_advisory_xact_lock(hashtext('desainz.scoring_weights.seed'))`
            const existing = await tx`select ${tx.unsafe(weightsColumns)} from scoring_weights where promoted order by version desc limit 1`
            if (existing.length > 0) return existing
            return tx`insert into scoring_weights (weights, note, promoted)
              values (${json(DEFAULT_WEIGHTS)}, 'default: freshness and engagement', true)
              returning ${tx.unsafe(weightsColumns)}`
          })
        )
      }
      const [current] = yield* decodeWeights(rows)
      if (current === undefined) return yield* new PermanentError({ message: "currentWeights: seeding returned no row" })
      return current
    })

  const insertWeights: StoreService["insertWeights"] = (input) =>
    Effect.flatMap(checkWeights(input), (w) =>
      attempt("insert weights", async () => {
        const [row] = await sql<Array<{ version: number }>>`
          insert into scoring_weights (weights, note, promoted) values (${json(w.weights)}, ${w.note}, ${w.promoted})
          returning version`
        if (row === undefined) throw new PermanentError({ message: "insertWeights: insert returned no row" })
        return row.version
      })
    )

  const recordBacktestRun: StoreService["recordBacktestRun"] = (input) =>
    Effect.flatMap(checkBacktest(input), (run) =>
      attempt("record backtest run", async () => {
        const result = await sql`
          insert into backtest_runs (id, started_at, finished_at, params, results, winner)
          values (${run.id}, ${run.startedAt}, ${run.finishedAt}, ${json(run.params)}, ${json(run.results)},
                  ${run.winner === null ? null : json(run.winner)})
          on conflict (id) do update set
            finished_at = excluded.finished_at, results = excluded.results, winner = excluded.winner
          returning (xmax = 0) as inserted`
        return insertedCount(result)
      })
    )

  const listIdeas: StoreService["listIdeas"] = (options) =>
    Effect.gen(function* () {
      const { limit, status } = options
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
        return yield* new PermanentError({ message: `listIdeas: limit must be an integer in 1..1000, got ${limit}` })
      }
      if (status !== undefined) yield* validate(IdeaStatus, "listIdeas")(status)
      const rows = yield* attempt("list ideas", () =>
        sql`select ${sql.unsafe(ideaColumns)} from ideas
            ${status === undefined ? sql`` : sql`where status = ${status}`}
            order by score desc, created_at desc
            limit ${limit}`
      )
      return yield* decodeIdeas(rows)
    })

  const counts: StoreService["counts"] = () =>
    attempt("count rows", async () => {
      const selects = STORE_TABLES.map((t) => `(select count(*)::int from ${t}) as ${t}`).join(", ")
      const [row] = await sql<Array<Record<StoreTable, number>>>`select ${sql.unsafe(selects)}`
      if (row === undefined) throw new PermanentError({ message: "counts: no row" })
      return row
    })

  const parkForReview: StoreService["parkForReview"] = (draft) =>
    attempt("park listing for review", async () => {
      const encoded = Schema.encodeSync(Listing)(draft)
      const result = await sql`update listings set draft = ${json(encoded as unknown as Record<string, unknown>)}, updated_at = now()
        where id = ${draft.listingId} and status = 'draft'`
      return result.count > 0
    })

  const parkedDraft: StoreService["parkedDraft"] = (ideaId) =>
    attempt("read parked draft", async () => {
      const [row] = await sql<Array<{ draft: unknown }>>`select draft from listings
        where idea_id = ${ideaId} and draft is not null order by created_at limit 1`
      return Option.fromNullable(row?.draft)
    })

  const ideaCards: StoreService["ideaCards"] = (options) =>
    Effect.gen(function* () {
      const { limit, status, review } = options
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
        return yield* new PermanentError({ message: `ideaCards: limit must be an integer in 1..1000, got ${limit}` })
      }
      if (status !== undefined) yield* validate(IdeaStatus, "ideaCards")(status)
      if (review !== undefined) yield* validate(ReviewStatus, "ideaCards")(review)
      const rows = yield* attempt("list idea cards", () =>
        sql`select i.id, i.title, i.score, i.factors, i.status, i.review_status, i.weights_version, i.created_at,
                   s.source, s.content, s.metadata->>'url' as url, s.captured_at,
                   (select m.generation_params->>'printFile' from mockups m where m.idea_id = i.id limit 1) as print_file_key,
                   coalesce((select json_agg(json_build_object('variant', m.variant, 'colorway', m.colorway, 'blobUri', m.blob_uri)
                             order by m.variant, m.colorway) from mockups m where m.idea_id = i.id), '[]') as mockups
            from ideas i join signals s on s.id = i.signal_id
            where true
              ${status === undefined ? sql`` : sql`and i.status = ${status}`}
              ${review === undefined ? sql`` : sql`and i.review_status = ${review}`}
            order by i.score desc, i.created_at desc
            limit ${limit}`
      )
      return rows.map(
        (r): IdeaCard => ({
          ideaId: r["id"],
          title: r["title"],
          score: Number(r["score"]),
          factors: r["factors"],
          status: r["status"],
          reviewStatus: r["review_status"],
          weightsVersion: Number(r["weights_version"]),
          createdAt: new Date(r["created_at"]).toISOString(),
          signal: { source: r["source"], content: r["content"], url: r["url"] ?? null, capturedAt: new Date(r["captured_at"]).toISOString() },
          printFileKey: r["print_file_key"] ?? null,
          mockups: typeof r["mockups"] === "string" ? JSON.parse(r["mockups"]) : r["mockups"]
        })
      )
    })

  const checkMerges = validate(Schema.Array(MergeRow), "recordMerges")
  const checkQueries = validate(Schema.Array(NeighbourQuery), "nearestIdeas")
  const decodeNeighbours = decodeRows(
    Schema.Struct({ ord: Schema.Int, ...Neighbour.fields, embedding: Schema.parseJson(Schema.Array(Finite)) }),
    "nearestIdeas"
  )

  const recordMerges: StoreService["recordMerges"] = (input) =>
    Effect.flatMap(checkMerges(input), (rows) =>
      batched("record merges", lastPerKey(rows, (r) => r.mergedId), 5, async (part) => {
        const [row] = await sql<Array<{ added: number }>>`
          with added as (
            insert into idea_merges (merged_id, idea_id, signal_id, similarity, event_at)
            select * from unnest(${part.map((r) => r.mergedId)}::uuid[], ${part.map((r) => r.ideaId)}::uuid[],
                                 ${part.map((r) => r.signalId)}::uuid[], ${part.map((r) => r.similarity)}::float8[],
                                 ${part.map((r) => r.eventAt.toISOString())}::timestamptz[])
            on conflict (merged_id) do nothing
            returning idea_id
          ), bumped as (
            update ideas set merge_count = merge_count + c.n, updated_at = now()
            from (select idea_id, count(*)::int as n from added group by idea_id) c
            where ideas.id = c.idea_id
          )
          select count(*)::int as added from added`
        return row?.added ?? 0
      })
    )

  const nearestIdeas: StoreService["nearestIdeas"] = (input) =>
    Effect.gen(function* () {
      const queries = yield* checkQueries(input)
      if (queries.length === 0) return []
      const rows = yield* attempt("find nearest ideas", () =>
        sql`
          -- materialized: parse each query vector once, not once per idea it is compared with
          with q as materialized (
            select ord::int as ord, vec::vector as vec, from_at, to_at, exclude_id, lim
            from unnest(${queries.map((q) => vectorLiteral(q.embedding))}::text[],
                        ${queries.map((q) => q.from.toISOString())}::timestamptz[],
                        ${queries.map((q) => q.to.toISOString())}::timestamptz[],
                        ${queries.map((q) => q.excludeId)}::uuid[],
                        ${queries.map((q) => q.limit)}::int[])
              with ordinality as u(vec, from_at, to_at, exclude_id, lim, ord)
          )
          select q.ord, n.id, n.event_at as "eventAt", n.embedding::text as embedding
          from q cross join lateral (
            select i.id, i.event_at, i.embedding, i.embedding <=> q.vec as distance
            from ideas i
            where i.event_at >= q.from_at and i.event_at < q.to_at and i.id <> q.exclude_id and i.embedding is not null
            -- "+ 0" keeps the planner off the HNSW index, which is approximate and filters after
            -- the search: within an event-time window the exact scan is small and certain.
            order by (i.embedding <=> q.vec) + 0, i.id
            limit q.lim
          ) n
          order by q.ord, n.distance, n.id`
      )
      const found = yield* decodeNeighbours(rows)
      const out: Array<Array<Neighbour>> = queries.map(() => [])
      for (const { ord, ...neighbour } of found) out[ord - 1]?.push(neighbour)
      return out
    })

  const feedbackBySignal: StoreService["feedbackBySignal"] = (signalIds) =>
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

  return {
    recordMerges,
    nearestIdeas,
    feedbackBySignal,
    parkForReview,
    parkedDraft,
    ideaCards,
    upsertSignals,
    upsertIdeas,
    upsertMockups,
    upsertListings,
    insertFeedback,
    setIdeaStatus,
    setReviewStatus,
    currentWeights,
    insertWeights,
    recordBacktestRun,
    listIdeas,
    counts
  } satisfies StoreService
})

export class Store extends Context.Tag("desainz/Store")<Store, StoreService>() {
  /** Needs the schema in place: run `migrate` (from runtime/sql.ts) first. */
  static readonly layer: Layer.Layer<Store, never, Sql> = Layer.effect(Store, make)
}
