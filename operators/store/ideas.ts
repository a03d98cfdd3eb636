/**
 * Ideas: scored ideas with their embedding and per-factor breakdown, their status and review
 * status, near-duplicate merges, and the review list's idea cards.
 */
import { Effect, Schema } from "effect"
import { PermanentError } from "../../runtime/errors.ts"
import { attempt, type SqlError } from "../../runtime/sql.ts"
import { ReviewReason } from "../schemas.ts"
import { decodeRows, Finite, Instant, JsonObject, lastPerKey, validate, Vector, VectorText, vectorToSql, type Db } from "./db.ts"

export const IdeaStatus = Schema.Literal("queued", "mocked", "live", "archived")
export type IdeaStatus = typeof IdeaStatus.Type
export const ReviewStatus = Schema.Literal("pending", "approved", "rejected")
export type ReviewStatus = typeof ReviewStatus.Type

/** A scored idea. Status and review status are not written here: they move by their own calls. */
export const IdeaRow = Schema.Struct({
  id: Schema.UUID,
  signalId: Schema.UUID,
  title: Schema.String,
  description: Schema.String,
  /** Must have EMBEDDING_DIM entries; the database refuses any other length. */
  embedding: Schema.NullOr(Vector),
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
export const StoredIdea = Schema.Struct({
  ...IdeaRow.fields,
  status: IdeaStatus,
  reviewStatus: ReviewStatus,
  createdAt: Instant,
  updatedAt: Instant
})
export type StoredIdea = typeof StoredIdea.Type

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
  embedding: Vector,
  from: Instant,
  to: Instant,
  excludeId: Schema.UUID,
  limit: Schema.Int.pipe(Schema.between(1, 100))
})
export type NeighbourQuery = typeof NeighbourQuery.Type

export const AbsorbIdea = Schema.Struct({
  /** The later idea, made without seeing the older one. */
  ideaId: Schema.UUID,
  /** The older idea it merges into. */
  into: Schema.UUID,
  similarity: Finite,
  eventAt: Instant
})
export type AbsorbIdea = typeof AbsorbIdea.Type

export const Neighbour = Schema.Struct({
  id: Schema.UUID,
  eventAt: Instant,
  /** As stored (float32 values). */
  embedding: Vector
})
export type Neighbour = typeof Neighbour.Type

export interface ListIdeasOptions {
  readonly status?: IdeaStatus
  /** 1..1000, best score first. */
  readonly limit: number
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
  /** The picked candidate's print file and mock-ups when it has them (a reviewer's pick shows at once), else the idea's. */
  printFileKey: Schema.NullOr(Schema.String),
  /** `key`: the blob key of a candidate's mock-up; null for the idea's own (`variants/`). */
  mockups: Schema.Array(Schema.Struct({ variant: Schema.String, colorway: Schema.String, blobUri: Schema.String, key: Schema.NullOr(Schema.String) })),
  /** Why the idea waits for a person (brand & IP safety), empty when nothing was found. */
  reviewReasons: Schema.Array(ReviewReason)
})
export type IdeaCard = typeof IdeaCard.Type

/** Ideas as read back: the vector arrives in pgvector's text form. */
const IdeaFromDb = Schema.Struct({ ...StoredIdea.fields, embedding: Schema.NullOr(VectorText) })

const ideaColumns = `id, signal_id as "signalId", title, description, embedding::text as embedding, score, factors,
  weights_version as "weightsVersion", status, review_status as "reviewStatus",
  created_at as "createdAt", updated_at as "updatedAt"`

export interface IdeasStore {
  /**
   * New ideas, or a rescore of known ones (same id, different content); a row without
   * `eventAt` keeps the stored one. Returns rows inserted.
   */
  readonly upsertIdeas: (rows: ReadonlyArray<IdeaUpsert>) => Effect.Effect<number, SqlError>
  /** False when no idea has that id. */
  readonly setIdeaStatus: (ideaId: string, status: IdeaStatus) => Effect.Effect<boolean, SqlError>
  /** False when no idea has that id. */
  readonly setReviewStatus: (ideaId: string, decision: "approved" | "rejected") => Effect.Effect<boolean, SqlError>
  readonly listIdeas: (options: ListIdeasOptions) => Effect.Effect<ReadonlyArray<StoredIdea>, SqlError>
  /** Ideas with their signal and mock-ups, for the UI's review list, best score first. */
  readonly ideaCards: (options: IdeaCardsOptions) => Effect.Effect<ReadonlyArray<IdeaCard>, SqlError>
  /**
   * Adds brand-safety reasons to an idea (a reason already there is kept once) and returns
   * all its reasons; empty when the idea is unknown.
   */
  readonly addReviewReasons: (ideaId: string, reasons: ReadonlyArray<ReviewReason>) => Effect.Effect<ReadonlyArray<ReviewReason>, SqlError>
  /** New merges, each bumping its idea's `merge_count` once; a known merge is skipped. Returns merges recorded. */
  readonly recordMerges: (rows: ReadonlyArray<MergeRow>) => Effect.Effect<number, SqlError>
  /**
   * Merges an idea into an older near-duplicate found late (its signal arrived after the
   * idea was made): records the merge (keyed by the absorbed idea's id, so a redelivery
   * records it once), bumps the older idea's `merge_count`, and deletes the absorbed idea,
   * or archives it when something already references it (artwork, listings, merges).
   * False when the merge was already recorded or either idea is unknown.
   */
  readonly absorbIdea: (merge: AbsorbIdea) => Effect.Effect<boolean, SqlError>
  /** Creates the HNSW index `nearestIdeas` searches, if missing (the pgvector layer does, at start). */
  readonly ensureEmbeddingIndex: () => Effect.Effect<void, SqlError>
  /**
   * Per query, up to `limit` ideas nearest to its embedding (cosine distance, pgvector), in
   * one statement over the HNSW index with `hnsw.ef_search` = `efSearch` and pgvector's
   * iterative scan (the event-time window filters after the index search; the iterative
   * scan keeps searching until `limit` rows pass it). Approximate: see the scoring bench's
   * recall figure. Ties of distance are broken by id.
   */
  readonly nearestIdeas: (
    queries: ReadonlyArray<NeighbourQuery>,
    options?: { readonly efSearch?: number }
  ) => Effect.Effect<ReadonlyArray<ReadonlyArray<Neighbour>>, SqlError>
}

export const makeIdeasStore = ({ sql, json, batched, insertedCount }: Db): IdeasStore => {
  const checkIdeas = validate(Schema.Array(IdeaUpsert), "upsertIdeas")
  const decodeIdeas = decodeRows(IdeaFromDb, "listIdeas")
  const checkMerges = validate(Schema.Array(MergeRow), "recordMerges")
  const checkQueries = validate(Schema.Array(NeighbourQuery), "nearestIdeas")
  const decodeNeighbours = decodeRows(Schema.Struct({ ord: Schema.Int, ...Neighbour.fields, embedding: VectorText }), "nearestIdeas")

  // event_at in the same statement: a separate UPDATE would insert every row into the HNSW
  // index a second time (event_at is indexed, so it is never a HOT update).
  const upsertIdeas: IdeasStore["upsertIdeas"] = (input) =>
    Effect.flatMap(checkIdeas(input), (rows) => {
      const values = lastPerKey(rows, (r) => r.id).map((r) => ({
        id: r.id,
        signal_id: r.signalId,
        title: r.title,
        description: r.description,
        embedding: r.embedding === null ? null : vectorToSql(r.embedding),
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

  const setIdeaStatus: IdeasStore["setIdeaStatus"] = (ideaId, status) =>
    Effect.flatMap(validate(IdeaStatus, "setIdeaStatus")(status), () =>
      attempt("set idea status", async () => {
        const result = await sql`update ideas set status = ${status}, updated_at = now() where id = ${ideaId}`
        return result.count > 0
      })
    )

  const setReviewStatus: IdeasStore["setReviewStatus"] = (ideaId, decision) =>
    Effect.flatMap(validate(Schema.Literal("approved", "rejected"), "setReviewStatus")(decision), () =>
      attempt("set review status", async () => {
        const result = await sql`update ideas set review_status = ${decision}, updated_at = now() where id = ${ideaId}`
        return result.count > 0
      })
    )

  const listIdeas: IdeasStore["listIdeas"] = (options) =>
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

  const checkReasons = validate(Schema.Array(ReviewReason), "addReviewReasons")
  const decodeReasons = decodeRows(ReviewReason, "addReviewReasons")
  const addReviewReasons: IdeasStore["addReviewReasons"] = (ideaId, input) =>
    Effect.gen(function* () {
      const reasons = yield* checkReasons(input)
      const rows = yield* attempt("add review reasons", async () => {
        const [row] = await sql<Array<{ reasons: unknown }>>`
          update ideas set
            review_reasons = (select coalesce(jsonb_agg(distinct r), '[]'::jsonb)
                              from (select jsonb_array_elements(ideas.review_reasons) as r
                                    union select jsonb_array_elements(${json(reasons)}::jsonb)) x),
            updated_at = case when ${reasons.length} = 0 then updated_at else now() end
          where id = ${ideaId}
          returning review_reasons as reasons`
        const stored = typeof row?.reasons === "string" ? JSON.parse(row.reasons) : row?.reasons
        return Array.isArray(stored) ? stored : []
      })
      return yield* decodeReasons(rows)
    })

  const ideaCards: IdeasStore["ideaCards"] = (options) =>
    Effect.gen(function* () {
      const { limit, status, review } = options
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
        return yield* new PermanentError({ message: `ideaCards: limit must be an integer in 1..1000, got ${limit}` })
      }
      if (status !== undefined) yield* validate(IdeaStatus, "ideaCards")(status)
      if (review !== undefined) yield* validate(ReviewStatus, "ideaCards")(review)
      const rows = yield* attempt("list idea cards", () =>
        sql`select i.id, i.title, i.score, i.factors, i.status, i.review_status, i.weights_version, i.created_at, i.review_reasons,
                   s.source, s.content, s.metadata->>'url' as url, s.captured_at,
                   coalesce(p.print_file_key, (select m.generation_params->>'printFile' from mockups m where m.idea_id = i.id limit 1)) as print_file_key,
                   coalesce(
                     (select json_agg(json_build_object('variant', e->>'variant', 'colorway', e->>'colorway', 'blobUri', e->>'uri', 'key', e->>'key')
                             order by e->>'variant', e->>'colorway') from jsonb_array_elements(p.mockups) e),
                     (select json_agg(json_build_object('variant', m.variant, 'colorway', m.colorway, 'blobUri', m.blob_uri, 'key', null)
                             order by m.variant, m.colorway) from mockups m where m.idea_id = i.id),
                     '[]') as mockups
            from ideas i join signals s on s.id = i.signal_id
              left join candidates p on p.id = i.picked_candidate_id
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
          mockups: typeof r["mockups"] === "string" ? JSON.parse(r["mockups"]) : r["mockups"],
          reviewReasons: typeof r["review_reasons"] === "string" ? JSON.parse(r["review_reasons"]) : r["review_reasons"]
        })
      )
    })

  const recordMerges: IdeasStore["recordMerges"] = (input) =>
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

  const nearestIdeas: IdeasStore["nearestIdeas"] = (input, options) =>
    Effect.gen(function* () {
      const queries = yield* checkQueries(input)
      if (queries.length === 0) return []
      const ef = options?.efSearch ?? 100
      if (!Number.isInteger(ef) || ef < 1 || ef > 1000) {
        return yield* new PermanentError({ message: `nearestIdeas: efSearch must be an integer in 1..1000, got ${ef}` })
      }
      const rows = yield* attempt("find nearest ideas", () =>
        sql.begin(async (tx) => {
          // set local: the settings end with this transaction, whoever uses the session next.
          await tx.unsafe(`set local hnsw.ef_search = ${ef}`)
          await tx.unsafe(`set local hnsw.iterative_scan = relaxed_order`)
          return tx`
          -- materialized: parse each query vector once
          with q as materialized (
            select ord::int as ord, vec::vector as vec, from_at, to_at, exclude_id, lim
            from unnest(${queries.map((q) => vectorToSql(q.embedding))}::text[],
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
              -- An idea merged away afterwards keeps its row when something refers to it (absorbIdea).
              and not exists (select 1 from idea_merges m where m.merged_id = i.id)
            order by i.embedding <=> q.vec
            limit q.lim
          ) n
          order by q.ord, n.distance, n.id`
        })
      )
      const found = yield* decodeNeighbours(rows)
      const out: Array<Array<Neighbour>> = queries.map(() => [])
      for (const { ord, ...neighbour } of found) out[ord - 1]?.push(neighbour)
      return out
    })

  const absorbIdea: IdeasStore["absorbIdea"] = (input) =>
    Effect.flatMap(validate(AbsorbIdea, "absorbIdea")(input), (m) =>
      attempt("absorb idea", () =>
        sql.begin(async (tx) => {
          const added = await tx`
            with added as (
              insert into idea_merges (merged_id, idea_id, signal_id, similarity, event_at)
              select l.id, o.id, l.signal_id, ${m.similarity}, ${m.eventAt.toISOString()}::timestamptz
              from ideas l join ideas o on o.id = ${m.into}
              where l.id = ${m.ideaId}
              on conflict (merged_id) do nothing
              returning idea_id
            )
            update ideas set merge_count = merge_count + 1, updated_at = now() from added where ideas.id = added.idea_id
            returning ideas.id`
          if (added.length === 0) return false
          try {
            await tx.savepoint((sp) => sp`delete from ideas where id = ${m.ideaId}`)
          } catch {
            // Referenced already (artwork, listings, merges into it): keep the row, out of the way.
            await tx`update ideas set status = 'archived', updated_at = now() where id = ${m.ideaId}`
          }
          return true
        })
      )
    )

  const ensureEmbeddingIndex: IdeasStore["ensureEmbeddingIndex"] = () =>
    attempt("create the ideas' HNSW index", () => sql`create index if not exists ideas_embedding_hnsw_idx on ideas using hnsw (embedding vector_cosine_ops)`).pipe(
      Effect.asVoid
    )

  return { upsertIdeas, setIdeaStatus, setReviewStatus, listIdeas, ideaCards, addReviewReasons, recordMerges, absorbIdea, ensureEmbeddingIndex, nearestIdeas }
}
