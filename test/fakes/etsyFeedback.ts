/**
 * Fake Etsy Open API v3, the feedback loop's endpoints, with the shapes of Etsy's OpenAPI
 * spec (https://developers.etsy.com/documentation/reference; `ShopListing`, `ShopReceipt`,
 * `ShopReceiptTransaction`, `ListingImage`) and its error body `{ "error": "..." }`:
 *
 * - `GET /v3/application/shops/{shop_id}/listings?state&limit&offset` (getListingsByShop):
 *   `{ count, results }` of the current snapshot, with the snapshot's time as `Date`, so a
 *   test can serve a shop's listings as they were at several dates, in sequence.
 * - `GET /v3/application/shops/{shop_id}/receipts?min_created&limit&offset` (getShopReceipts).
 * - `POST /v3/application/shops/{shop_id}/listings/{listing_id}/images` (uploadListingImage)
 *   with `listing_image_id` and `rank` in a multipart form: re-ranks an existing image.
 *
 * Every call needs `x-api-key` (401 otherwise) and `Authorization: Bearer` (401); `limit`
 * above 100 is a 400; an unknown shop a 404.
 */
import { readFileSync } from "node:fs"
import { Effect } from "effect"
import { Hono } from "hono"
import { parseCsv } from "../../operators/csv.ts"
import { jsonFixture, startFake } from "./server.ts"

export const ETSY_KEY = "fake1keystring2for3etsy:shared-secret"
export const ETSY_TOKEN = "12345678.fake-oauth-access-token"
export const SHOP_ID = "17905617"

export interface FakeListing {
  readonly listing_id: number
  readonly shop_id: number
  readonly title: string
  readonly state: string
  readonly url: string
  readonly views: number
  readonly num_favorers: number
  readonly updated_timestamp: number
}

export interface Snapshot {
  /** When the figures were counted: served as the response's Date. */
  readonly at: Date
  readonly listings: ReadonlyArray<FakeListing>
}

/** A listing dump of Etsy API v2 (`findAllShopListingsActive` as CSV) in the v3 `ShopListing` shape. */
export const snapshotFromCsv = (path: string, at: Date): Snapshot => ({
  at,
  listings: parseCsv(readFileSync(path, "utf8"), path).rows.map(({ fields: f }) => ({
    listing_id: Number(f["listing_id"]),
    shop_id: Number(SHOP_ID),
    title: f["title"] ?? "",
    state: f["state"] ?? "active",
    url: f["url"] ?? "",
    views: Number(f["views"]),
    num_favorers: Number(f["num_favorers"]),
    updated_timestamp: Math.floor(Number(f["last_modified_tsz"]))
  }))
})

const error = (status: 400 | 401 | 404, message: string) => () =>
  new Response(JSON.stringify({ error: message }), { status, headers: { "content-type": "application/json" } })

export const startEtsyFeedbackFake = (snapshots: ReadonlyArray<Snapshot>) =>
  Effect.gen(function* () {
    const state = {
      snapshots: [...snapshots],
      current: 0,
      receipts: jsonFixture<{ results: Array<{ created_timestamp: number }> }>("etsy", "receipts.json").results as Array<Record<string, unknown> & { created_timestamp: number }>,
      /** Image ids per listing, in rank order (rank 1 first). */
      images: new Map<string, Array<string>>()
    }
    const app = new Hono()
    app.use("/v3/*", async (c, next) => {
      if (c.req.header("x-api-key") !== ETSY_KEY) return error(401, "Invalid API key")()
      if (c.req.header("authorization") !== `Bearer ${ETSY_TOKEN}`) return error(401, "invalid_token")()
      return next()
    })
    const page = (q: Record<string, string>) => {
      const limit = Number(q["limit"] ?? 25)
      const offset = Number(q["offset"] ?? 0)
      if (!Number.isInteger(limit) || limit < 1 || limit > 100) return { error: `Expected int <= 100 for param 'limit', got ${q["limit"]}` }
      if (!Number.isInteger(offset) || offset < 0) return { error: `Expected int >= 0 for param 'offset', got ${q["offset"]}` }
      return { limit, offset }
    }
    app.get("/v3/application/shops/:shop/listings", (c) => {
      if (c.req.param("shop") !== SHOP_ID) return error(404, `Could not find a Shop with shop_id = ${c.req.param("shop")}`)()
      const p = page(c.req.query())
      if ("error" in p) return error(400, p.error!)()
      const snapshot = state.snapshots[state.current]
      const all = (snapshot?.listings ?? []).filter((l) => l.state === (c.req.query("state") ?? "active"))
      return c.json({ count: all.length, results: all.slice(p.offset, p.offset + p.limit) }, 200, {
        date: (snapshot?.at ?? new Date()).toUTCString()
      })
    })
    app.get("/v3/application/shops/:shop/receipts", (c) => {
      if (c.req.param("shop") !== SHOP_ID) return error(404, `Could not find a Shop with shop_id = ${c.req.param("shop")}`)()
      const p = page(c.req.query())
      if ("error" in p) return error(400, p.error!)()
      const min = Number(c.req.query("min_created") ?? 0)
      const all = state.receipts.filter((r) => r.created_timestamp >= min).sort((a, b) => a.created_timestamp - b.created_timestamp)
      return c.json({ count: all.length, results: all.slice(p.offset, p.offset + p.limit) })
    })
    app.post("/v3/application/shops/:shop/listings/:listing/images", async (c) => {
      if (c.req.param("shop") !== SHOP_ID) return error(404, `Could not find a Shop with shop_id = ${c.req.param("shop")}`)()
      if (!(c.req.header("content-type") ?? "").startsWith("multipart/form-data")) return error(400, "Expected multipart/form-data")()
      const form = await c.req.formData()
      const imageId = form.get("listing_image_id")
      const rank = Number(form.get("rank") ?? 1)
      if (typeof imageId !== "string") return error(400, "Either image or listing_image_id is required")()
      const listingId = c.req.param("listing")
      const images = state.images.get(listingId) ?? []
      if (!images.includes(imageId)) return error(404, `Could not find a ListingImage with listing_image_id = ${imageId}`)()
      if (!Number.isInteger(rank) || rank < 1 || rank > 10) return error(400, "Expected int between 1 and 10 for param 'rank'")()
      const reordered = images.filter((i) => i !== imageId)
      reordered.splice(rank - 1, 0, imageId)
      state.images.set(listingId, reordered)
      return c.json({ listing_id: Number(listingId), listing_image_id: Number(imageId), rank, url_fullxfull: `https://i.etsystatic.com/${imageId}/il_fullxfull.jpg` }, 201)
    })
    const server = yield* startFake(app)
    return { ...server, state, advance: () => void (state.current = Math.min(state.current + 1, state.snapshots.length - 1)) }
  })
