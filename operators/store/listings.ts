/**
 * Listings: one row per (idea, marketplace), whose status only moves forward, and the draft
 * parked at the review gate.
 */
import { Effect, Schema } from "effect"
import { attempt, type SqlError } from "../../runtime/sql.ts"
import { Listing, type WriterName } from "../schemas.ts"
import { Instant, JsonObject, lastPerKey, validate, type Db } from "./db.ts"

export const ListingStatus = Schema.Literal("draft", "approved", "published", "failed")
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
  publishedAt: Schema.NullOr(Instant)
})
export type ListingRow = typeof ListingRow.Type

/** Rank of each listing status; an update may keep or raise it, never lower it. */
const LISTING_PROGRESS = ["draft", "approved", "failed", "published"] as const satisfies ReadonlyArray<ListingStatus>

export interface ListingsStore {
  /**
   * New listings, or the next state of a known (idea, marketplace). Status only moves forward
   * (draft, approved, failed, published), so a redelivered older event cannot undo a publish.
   * Returns rows inserted.
   */
  readonly upsertListings: (rows: ReadonlyArray<ListingRow>) => Effect.Effect<number, SqlError>
  /** Keeps a listing draft at the review gate until a person decides. False when the listing is unknown. */
  readonly parkForReview: (draft: Listing) => Effect.Effect<boolean, SqlError>
  /** Records which writer wrote a listing's text, and the model or fallback reason. False when the listing is unknown. */
  readonly setListingWriter: (listingId: string, writer: WriterName, note: string | null) => Effect.Effect<boolean, SqlError>
  /** The drafts parked for an idea, one per marketplace, oldest first (encoded `Listing`s, to decode at the call site). */
  readonly parkedDrafts: (ideaId: string) => Effect.Effect<ReadonlyArray<unknown>, SqlError>
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

  const parkForReview: ListingsStore["parkForReview"] = (draft) =>
    attempt("park listing for review", async () => {
      const encoded = Schema.encodeSync(Listing)(draft)
      const result = await sql`update listings set draft = ${json(encoded as unknown as Record<string, unknown>)}, updated_at = now()
        where id = ${draft.listingId} and status = 'draft'`
      return result.count > 0
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

  return { upsertListings, parkForReview, parkedDrafts, setListingWriter }
}
