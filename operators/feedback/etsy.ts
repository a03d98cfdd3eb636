/**
 * Etsy feedback: per published listing, its lifetime `views` and `num_favorers` as Etsy
 * reports them (getListingsByShop), and sales from the shop's receipts with their
 * transactions (getShopReceipts), onto `feedback.events`.
 *
 * - Counters are emitted as cumulative readings (`counter: "cumulative"`) timed when they
 *   were read (Etsy counts them live); the store differences each reading
 *   against the last one it stored, in one transaction, so a re-poll, a restart or a
 *   redelivery adds nothing, and two readings far apart add their true difference. The
 *   source also skips a listing whose figures did not move since its last poll.
 * - Each transaction of a listing of ours is a `sale` (value = quantity) at the receipt's
 *   creation time, keyed by the transaction id; receipts are read from `receiptsLookbackDays`
 *   back on the first poll, then from the newest seen minus a day (ids absorb the overlap).
 *   Canceled and fully refunded receipts are not sales.
 * - Listings and transactions that are not listings this pipeline published are counted
 *   in `desainz_feedback_unattributed_total`, not emitted.
 *
 * Calls go through the shared Etsy client (operators/marketplaces/etsy.ts: OAuth, x-api-key,
 * rate limits). Receipts are read with its `call` and the receipt fields a sale needs
 * (`status`, each transaction's `transaction_id`), from Etsy's `ShopReceipt` schema.
 */
import { HttpClientRequest } from "@effect/platform"
import { Clock, Effect, Schema } from "effect"
import { DurationString } from "../sources/http.ts"
import { Metrics } from "../../runtime/metrics.ts"
import { decodeConfig, type Emission, type SettingsInput, source, type StreamDef } from "../../runtime/topology.ts"
import type { FeedbackEvent } from "../schemas.ts"
import { Store } from "../store/store.ts"
import { Etsy } from "../marketplaces/etsy.ts"

export const EtsyFeedbackConfig = Schema.Struct({
  name: Schema.optionalWith(Schema.String, { default: () => "etsy-feedback" }).annotations({ description: "node name" }),
  every: Schema.optionalWith(DurationString, { default: () => "1 hour" }).annotations({ description: "pause between polls" }),
  pageSize: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 100)), { default: () => 100 }).annotations({
    description: "listings / receipts per request (Etsy serves at most 100)"
  }),
  maxPages: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 1_000)), { default: () => 100 }).annotations({
    description: "pages read per poll and endpoint"
  }),
  receiptsLookbackDays: Schema.optionalWith(Schema.Number.pipe(Schema.between(0, 3650)), { default: () => 30 }).annotations({
    description: "how far back the first poll reads receipts"
  })
}).annotations({ identifier: "EtsyFeedbackConfig" })

/** The `ShopReceipt` fields a sale needs (Etsy's OpenAPI spec; the rest are ignored). */
const ShopReceipt = Schema.Struct({
  receipt_id: Schema.Number,
  status: Schema.optional(Schema.String),
  created_timestamp: Schema.Number,
  transactions: Schema.Array(
    Schema.Struct({
      transaction_id: Schema.Number,
      listing_id: Schema.NullOr(Schema.Number),
      quantity: Schema.Number,
      created_timestamp: Schema.optional(Schema.Number),
      price: Schema.optional(Schema.Struct({ amount: Schema.Number, divisor: Schema.Number, currency_code: Schema.String }))
    })
  )
})
const Receipts = Schema.Struct({ count: Schema.Number, results: Schema.Array(ShopReceipt) })

const DAY_S = 86_400
const NOT_SALES = new Set(["canceled", "fully refunded"])

export const etsyFeedback = (config: typeof EtsyFeedbackConfig.Encoded, io: { readonly to: StreamDef<FeedbackEvent> }, settings?: SettingsInput) => {
  const c = decodeConfig("etsy-feedback", EtsyFeedbackConfig, config)
  /** The last reading emitted per listing and counter, so an unmoved counter is not re-sent. */
  const lastReading = new Map<string, number>()
  let receiptsSince: number | undefined

  const poll = Effect.gen(function* () {
    const store = yield* Store
    const etsy = yield* Etsy
    const { registry } = yield* Metrics
    const unattributed = registry.counter("desainz_feedback_unattributed_total", "Marketplace items seen that are not listings this pipeline published")
    const ours = yield* store.marketListings("etsy")
    const now = yield* Clock.currentTimeMillis
    const emissions: Array<Emission<FeedbackEvent>> = []
    const moved: Array<[string, number]> = []

    for (let page = 0, offset = 0; page < c.maxPages; page++) {
      const body = yield* etsy.getListingsByShop({ state: "active", limit: c.pageSize, offset })
      const occurredAt = new Date(now).toISOString()
      for (const listing of body.results) {
        const mine = ours.get(String(listing.listing_id))
        if (mine === undefined) {
          unattributed.inc({ marketplace: "etsy", item: "listing" })
          continue
        }
        for (const [kind, total] of [["view", listing.views], ["favorite", listing.num_favorers]] as const) {
          if (total === null || total === undefined) continue
          const key = `${listing.listing_id}:${kind}`
          if (lastReading.get(key) === total) continue
          moved.push([key, total])
          emissions.push({
            key: `etsy:${key}:${total}@${occurredAt}`,
            timestamp: occurredAt,
            data: {
              listingId: mine.listingId,
              ideaId: mine.ideaId,
              kind,
              value: total,
              counter: "cumulative",
              marketplace: "etsy",
              occurredAt,
              payload: { externalId: String(listing.listing_id) }
            }
          })
        }
      }
      offset += body.results.length
      if (body.results.length === 0 || offset >= body.count) break
    }

    const since = receiptsSince ?? Math.floor(now / 1000 - c.receiptsLookbackDays * DAY_S)
    let newest = since
    for (let page = 0, offset = 0; page < c.maxPages; page++) {
      const body = yield* etsy.call(
        HttpClientRequest.get(`${etsy.apiUrl}/application/shops/${encodeURIComponent(etsy.shopId)}/receipts`).pipe(
          HttpClientRequest.setUrlParams({ min_created: String(since), limit: String(c.pageSize), offset: String(offset), sort_on: "created", sort_order: "asc" })
        ),
        Receipts,
        "getShopReceipts"
      )
      for (const receipt of body.results) {
        newest = Math.max(newest, receipt.created_timestamp)
        if (NOT_SALES.has((receipt.status ?? "").toLowerCase())) {
          unattributed.inc({ marketplace: "etsy", item: "cancelled-receipt" })
          continue
        }
        for (const t of receipt.transactions) {
          const mine = t.listing_id === null ? undefined : ours.get(String(t.listing_id))
          if (mine === undefined) {
            unattributed.inc({ marketplace: "etsy", item: "transaction" })
            continue
          }
          const occurredAt = new Date((t.created_timestamp ?? receipt.created_timestamp) * 1000).toISOString()
          emissions.push({
            key: `etsy:transaction:${t.transaction_id}`,
            timestamp: occurredAt,
            data: {
              listingId: mine.listingId,
              ideaId: mine.ideaId,
              kind: "sale",
              value: t.quantity,
              marketplace: "etsy",
              occurredAt,
              payload: {
                externalId: String(t.listing_id),
                receiptId: String(receipt.receipt_id),
                transactionId: String(t.transaction_id),
                ...(t.price === undefined ? {} : { unitPrice: t.price.amount / t.price.divisor, currency: t.price.currency_code })
              }
            }
          })
        }
      }
      offset += body.results.length
      if (body.results.length === 0 || offset >= body.count) break
    }
    // Only after every call succeeded: a failed poll is retried from the same place.
    for (const [key, total] of moved) lastReading.set(key, total)
    receiptsSince = Math.max(since, newest - DAY_S)
    return { emissions }
  })

  return source({ name: c.name, kind: "feedback-etsy", to: io.to, every: c.every, settings, config: c, poll })
}

const ListingImage = Schema.Struct({ listing_image_id: Schema.Number, listing_id: Schema.Number, rank: Schema.Number })

/**
 * Makes an image the listing already has its image at `rank` (1 = primary, the one buyers
 * see first): `uploadListingImage` with `listing_image_id` and `rank` instead of a file.
 * Re-ranking is idempotent, so the client may retry it.
 */
export const rankListingImage = (listingId: string, listingImageId: string, rank = 1) =>
  Effect.flatMap(Etsy, (etsy) => {
    const form = new FormData()
    form.set("listing_image_id", listingImageId)
    form.set("rank", String(rank))
    return etsy.call(
      HttpClientRequest.post(`${etsy.apiUrl}/application/shops/${encodeURIComponent(etsy.shopId)}/listings/${encodeURIComponent(listingId)}/images`).pipe(
        HttpClientRequest.bodyFormData(form)
      ),
      ListingImage,
      "uploadListingImage (rank)"
    )
  })
