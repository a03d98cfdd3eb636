/**
 * Listings: one row per (idea, marketplace), whose status only moves forward, and the draft
 * parked at the review gate.
 */
import { Effect, Schema } from "effect"
import { attempt, type SqlError } from "../../runtime/sql.ts"
import { Listing, type WriterName } from "../schemas.ts"
import { Instant, JsonObject, lastPerKey, validate, type Db } from "./db.ts"

/**
 * draft -> approved -> publishing -> published (live on a marketplace) or exported (a bundle for
 * a marketplace without an upload API), or failed with the marketplace's reason.
 */
export const ListingStatus = Schema.Literal("draft", "approved", "publishing", "published", "exported", "failed")
export type ListingStatus = typeof ListingStatus.Type

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
  publishedAt: Schema.NullOr(Instant),
  /** Why the listing failed (the marketplace's own message); cleared by a later state. */
  reason: Schema.optional(Schema.NullOr(Schema.String)),
  /** The marketplace's word for the listing (Etsy draft/active, Printify published). */
  remoteState: Schema.optional(Schema.NullOr(Schema.String))
})
export type ListingRow = typeof ListingRow.Type

/**
 * Rank of each listing status; an update may keep or raise it, never lower it. `publishing` and
 * `failed` share a rank: a failed publish can be tried again (a dead letter requeued) and fail again.
 */
const LISTING_RANK = { draft: 0, approved: 1, publishing: 2, failed: 2, exported: 3, published: 4 } as const satisfies Record<ListingStatus, number>

export interface ListingsStore {
  /**
   * New listings, or the next state of a known (idea, marketplace). Status only moves forward
   * (draft, approved, publishing or failed, exported, published), so a redelivered older event
   * cannot undo a publish.
   * Returns rows inserted.
   */
  readonly upsertListings: (rows: ReadonlyArray<ListingRow>) => Effect.Effect<number, SqlError>
  /** Keeps a listing draft at the review gate until a person decides. False when the listing is unknown. */
  readonly parkForReview: (draft: Listing) => Effect.Effect<boolean, SqlError>
  /** Marks drafts approved at the review gate (a listing past draft keeps its state). Returns listings moved. */
  readonly approveListings: (listingIds: ReadonlyArray<string>) => Effect.Effect<number, SqlError>
  /** Records which writer wrote a listing's text, and the model or fallback reason. False when the listing is unknown. */
  readonly setListingWriter: (listingId: string, writer: WriterName, note: string | null) => Effect.Effect<boolean, SqlError>
  /** The drafts parked for an idea, one per marketplace, oldest first (encoded `Listing`s, to decode at the call site). */
  readonly parkedDrafts: (ideaId: string) => Effect.Effect<ReadonlyArray<unknown>, SqlError>
  /** Where an idea is listed: one entry per marketplace, with the remote id, URL, state and any failure reason. */
  readonly listingsOfIdea: (ideaId: string) => Effect.Effect<ReadonlyArray<MarketplaceListing>, SqlError>
}

export interface MarketplaceListing {
  readonly marketplace: string
  readonly status: ListingStatus
  readonly externalId: string | null
  readonly url: string | null
  readonly remoteState: string | null
  readonly reason: string | null
  readonly updatedAt: Date
}

export const makeListingsStore = ({ sql, json, batched, insertedCount }: Db): ListingsStore => {
  const checkListings = validate(Schema.Array(ListingRow), "upsertListings")

  const upsertListings: ListingsStore["upsertListings"] = (input) =>
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
        published_at: r.publishedAt,
        reason: r.reason ?? null,
        remote_state: r.remoteState ?? null
      }))
      const rank = (column: string) =>
        sql.unsafe(`(case ${column} ${Object.entries(LISTING_RANK).map(([s, n]) => `when '${s}' then ${n}`).join(" ")} end)`)
      return batched("upsert listings", values, 13, async (part) => {
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
            "published_at",
            "reason",
            "remote_state"
          )}
          on conflict (idea_id, marketplace) do update set
            external_id = coalesce(excluded.external_id, listings.external_id),
            url = coalesce(excluded.url, listings.url),
            title = excluded.title, description = excluded.description, tags = excluded.tags,
            status = excluded.status,
            performance = listings.performance || excluded.performance,
            published_at = coalesce(listings.published_at, excluded.published_at),
            reason = excluded.reason,
            remote_state = coalesce(excluded.remote_state, listings.remote_state),
            updated_at = now()
          where ${rank("excluded.status")} >= ${rank("listings.status")}
            and (listings.external_id, listings.url, listings.title, listings.description, listings.tags,
                 listings.status, listings.performance, listings.published_at, listings.reason, listings.remote_state)
              is distinct from
                (coalesce(excluded.external_id, listings.external_id), coalesce(excluded.url, listings.url),
                 excluded.title, excluded.description, excluded.tags, excluded.status,
                 listings.performance || excluded.performance, coalesce(listings.published_at, excluded.published_at),
                 excluded.reason, coalesce(excluded.remote_state, listings.remote_state))
          returning (xmax = 0) as inserted`
        return insertedCount(result)
      })
    })

  const parkForReview: ListingsStore["parkForReview"] = (draft) =>
    attempt("park listing for review", async () => {
      const encoded = Schema.encodeSync(Listing)(draft)
      const result = await sql`update listings set draft = ${json(encoded as unknown as Record<string, unknown>)}, updated_at = now()
        where id = ${draft.listingId} and status = 'draft'`
      return result.count > 0
    })

  const approveListings: ListingsStore["approveListings"] = (listingIds) =>
    attempt("approve listings", async () => {
      if (listingIds.length === 0) return 0
      const result = await sql`update listings set status = 'approved', updated_at = now()
        where id = any(${[...listingIds]}::uuid[]) and status = 'draft'`
      return result.count
    })

  const parkedDrafts: ListingsStore["parkedDrafts"] = (ideaId) =>
    attempt("read parked drafts", async () => {
      const rows = await sql<Array<{ draft: unknown }>>`select draft from listings
        where idea_id = ${ideaId} and draft is not null order by created_at, marketplace`
      return rows.map((r) => r.draft)
    })

  const setListingWriter: ListingsStore["setListingWriter"] = (listingId, writer, note) =>
    attempt("set listing writer", async () => {
      const result = await sql`update listings set writer = ${writer}, writer_note = ${note}, updated_at = now() where id = ${listingId}`
      return result.count > 0
    })

  const listingsOfIdea: ListingsStore["listingsOfIdea"] = (ideaId) =>
    attempt("read listings of idea", () =>
      sql<Array<MarketplaceListing>>`select marketplace, status, external_id as "externalId", url, remote_state as "remoteState", reason,
        updated_at as "updatedAt" from listings where idea_id = ${ideaId} order by marketplace`.then((rows) => [...rows])
    )

  return { upsertListings, parkForReview, approveListings, parkedDrafts, setListingWriter, listingsOfIdea }
}
