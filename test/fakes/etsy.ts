/**
 * Fake Etsy Open API v3, speaking its wire format, after the public documentation:
 * - developers.etsy.com/documentation/essentials/requests: `x-api-key` (keystring:shared secret,
 *   required since 2026; a bare keystring is refused with "Shared secret is required in x-api-key
 *   header", as reported in the field) and `Authorization: Bearer <user id>.<token>`;
 * - .../essentials/authentication: `POST /v3/public/oauth/token`, form-encoded, grants
 *   `authorization_code` (PKCE S256: the verifier must hash to the challenge of the authorization)
 *   and `refresh_token`; answers `{access_token, token_type: "Bearer", expires_in: 3600, refresh_token}`
 *   and OAuth errors `{error, error_description}`;
 * - .../essentials/rate-limits: `x-limit-per-second`, `x-remaining-this-second`, `x-limit-per-day`,
 *   `x-remaining-today` on successes; a 429 past the per-second budget;
 * - the OpenAPI reference: createDraftListing (POST /application/shops/{shop_id}/listings,
 *   form-encoded: quantity, title, description, price, who_made, when_made, taxonomy_id, and for
 *   physical listings shipping_profile_id and readiness_state_id; `tags` a comma-separated value;
 *   201 with the ShopListing, state "draft"), getListingsByShop (state, sort_on, sort_order, limit,
 *   offset), getListing, updateListing (PATCH, form-encoded, `state=active`), get/updateListingInventory
 *   (JSON `{products: [{sku, property_values, offerings: [{price, quantity, is_enabled}]}]}`),
 *   uploadListingImage (multipart: `image`, `rank`, `alt_text`) and getListingImages,
 *   getShopReceipts; errors `{"error": "..."}` with 400, 401, 403, 404.
 *
 * Faults for the exactly-once tests: a share of writes answered 503 before anything happens, and a
 * share done and then answered 502 (the response is lost), from a seeded generator.
 */
import { createHash, randomBytes } from "node:crypto"
import { Effect } from "effect"
import { type Context, Hono } from "hono"
import { startFake } from "./server.ts"

export const KEYSTRING = "fakekeystring0123456789ab"
export const SHARED_SECRET = "fake-shared-secret"
export const SHOP_ID = 41_000_001
export const USER_ID = 12_345_678

export interface FakeListing {
  listing_id: number
  shop_id: number
  user_id: number
  title: string
  description: string
  state: "draft" | "active"
  quantity: number
  price: { amount: number; divisor: number; currency_code: string }
  who_made: string
  when_made: string
  taxonomy_id: number
  shipping_profile_id: number | null
  readiness_state_id: number | null
  tags: Array<string>
  url: string
  created_timestamp: number
  creation_timestamp: number
  updated_timestamp: number
  /** Lifetime counters (getListingsByShop serves them; the feedback loop differences them). */
  views?: number
  num_favorers?: number
}

export interface FakeImage {
  listing_image_id: number
  listing_id: number
  rank: number
  alt_text: string | null
  sha256: string
  bytes: number
  content_type: string
}

interface FakeProduct {
  sku: string | null
  property_values: Array<unknown>
  offerings: Array<{ price: { amount: number; divisor: number; currency_code: string }; quantity: number; is_enabled: boolean }>
}

export interface EtsyFakeOptions {
  /** Share of writes (POST/PUT/PATCH under /application) answered 503 without doing anything. */
  readonly failWrites?: number
  /** Share of writes done and then answered 502: the caller never learns the outcome. */
  readonly loseWriteResponses?: number
  readonly seed?: number
  readonly limitPerSecond?: number
  readonly limitPerDay?: number
}

const WHO_MADE = new Set(["i_did", "someone_else", "collective"])
const WHEN_MADE = /^(made_to_order|20[0-9]{2}_20[0-9]{2}|before_[0-9]{4}|[0-9]{4}s|[0-9]{4}_[0-9]{4})$/
/** Etsy tags: letters, numbers, whitespace, - ' ™ © ®; at most 20 characters; at most 13. */
const TAG = /^[\p{L}\p{N}\s\-'™©®]{1,20}$/u

/** mulberry32: a small seeded generator, so a fault pattern is reproducible. */
const seeded = (seed: number) => () => {
  seed |= 0
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const etsyError = (c: Context, status: 400 | 401 | 403 | 404 | 409 | 429 | 500 | 502 | 503, error: string, headers: Record<string, string> = {}) =>
  c.json({ error }, status, headers)

export const startEtsyFake = (options: EtsyFakeOptions = {}) =>
  Effect.gen(function* () {
    const random = seeded(options.seed ?? 1)
    const limitPerSecond = options.limitPerSecond ?? 10
    const limitPerDay = options.limitPerDay ?? 10_000
    const state = {
      listings: new Map<number, FakeListing>(),
      images: new Map<number, Array<FakeImage>>(),
      inventory: new Map<number, Array<FakeProduct>>(),
      receipts: [] as Array<{
        receipt_id: number
        status?: string
        created_timestamp: number
        transactions: Array<{ transaction_id?: number; listing_id: number; quantity: number; sku: string | null; created_timestamp?: number }>
      }>,
      accessTokens: new Map<string, number>(),
      refreshTokens: new Set<string>(),
      codes: new Map<string, { challenge: string; redirectUri: string }>(),
      // Ids unique across fakes: tests that share one store must not see two shops' ids collide.
      nextListingId: 1_500_000_000 + randomBytes(3).readUIntBE(0, 3) * 100,
      nextImageId: 4_000_000_001,
      second: 0,
      usedThisSecond: 0,
      usedToday: 0,
      /** Each listing created, in order (also the lost ones). */
      creates: [] as Array<number>,
      /** Each image upload that was stored, in order. */
      uploads: [] as Array<FakeImage>,
      onCreate: undefined as ((listing: FakeListing) => void) | undefined,
      /** Writes whose answer is lost after the work is done, once each: "METHOD path-regex". */
      loseNext: [] as Array<{ method: string; path: RegExp }>
    }
    const now = () => Math.floor(Date.now() / 1000)
    const mint = () => `${USER_ID}.${randomBytes(18).toString("base64url")}`
    const issueTokens = () => {
      const access = mint()
      const refresh = mint()
      state.accessTokens.set(access, Date.now() + 3600_000)
      state.refreshTokens.add(refresh)
      return { access_token: access, token_type: "Bearer", expires_in: 3600, refresh_token: refresh }
    }

    const app = new Hono()

    app.post("/v3/public/oauth/token", async (c) => {
      if (!(c.req.header("content-type") ?? "").startsWith("application/x-www-form-urlencoded")) {
        return c.json({ error: "invalid_request", error_description: "body must be application/x-www-form-urlencoded" }, 400)
      }
      const form = new URLSearchParams(await c.req.text())
      if (form.get("client_id") !== KEYSTRING) return c.json({ error: "invalid_client", error_description: "client_id is not a known API key" }, 401)
      const grant = form.get("grant_type")
      if (grant === "refresh_token") {
        // Old refresh tokens stay valid until they expire (90 days), as Etsy documents.
        if (!state.refreshTokens.has(form.get("refresh_token") ?? "")) return c.json({ error: "invalid_grant", error_description: "Invalid refresh token" }, 400)
        return c.json(issueTokens())
      }
      if (grant === "authorization_code") {
        const code = state.codes.get(form.get("code") ?? "")
        if (code === undefined) return c.json({ error: "invalid_grant", error_description: "code is invalid or expired" }, 400)
        if (code.redirectUri !== form.get("redirect_uri")) return c.json({ error: "invalid_grant", error_description: "redirect_uri does not match" }, 400)
        const challenge = createHash("sha256").update(form.get("code_verifier") ?? "").digest("base64url")
        if (challenge !== code.challenge) return c.json({ error: "invalid_grant", error_description: "code_verifier does not match the code_challenge" }, 400)
        state.codes.delete(form.get("code")!)
        return c.json(issueTokens())
      }
      return c.json({ error: "unsupported_grant_type", error_description: `grant_type ${grant}` }, 400)
    })

    // Authentication, rate limits and injected faults, for every /v3/application call.
    app.use("/v3/application/*", async (c, next) => {
      const apiKey = c.req.header("x-api-key") ?? ""
      if (apiKey === KEYSTRING) return etsyError(c, 403, "Shared secret is required in x-api-key header")
      if (apiKey !== `${KEYSTRING}:${SHARED_SECRET}`) return etsyError(c, 403, "Invalid API key")
      const bearer = /^Bearer (.+)$/.exec(c.req.header("authorization") ?? "")?.[1]
      if (bearer === undefined) return etsyError(c, 401, "Missing access token")
      const expiresAt = state.accessTokens.get(bearer)
      if (expiresAt === undefined) return etsyError(c, 401, "invalid_token")
      if (expiresAt <= Date.now()) return etsyError(c, 401, "invalid_token: access token has expired")
      const second = now()
      if (second !== state.second) {
        state.second = second
        state.usedThisSecond = 0
      }
      if (state.usedThisSecond >= limitPerSecond || state.usedToday >= limitPerDay) {
        return etsyError(c, 429, "You have exceeded your quota of requests", {
          "retry-after": "1",
          "x-limit-per-second": String(limitPerSecond),
          "x-remaining-this-second": "0",
          "x-limit-per-day": String(limitPerDay),
          "x-remaining-today": String(Math.max(0, limitPerDay - state.usedToday))
        })
      }
      state.usedThisSecond++
      state.usedToday++
      const write = c.req.method !== "GET"
      const fault = write ? random() : 1
      const failWrites = options.failWrites ?? 0
      if (fault < failWrites) return etsyError(c, 503, "Service Unavailable")
      const forced = state.loseNext.findIndex((l) => l.method === c.req.method && l.path.test(c.req.path))
      if (forced >= 0) state.loseNext.splice(forced, 1)
      await next()
      c.header("x-limit-per-second", String(limitPerSecond))
      c.header("x-remaining-this-second", String(Math.max(0, limitPerSecond - state.usedThisSecond)))
      c.header("x-limit-per-day", String(limitPerDay))
      c.header("x-remaining-today", String(Math.max(0, limitPerDay - state.usedToday)))
      if ((forced >= 0 || fault < failWrites + (options.loseWriteResponses ?? 0)) && c.res.status < 300) {
        // The work is done; the answer is lost on the way back.
        c.res = new Response(JSON.stringify({ error: "Bad Gateway" }), { status: 502, headers: { "content-type": "application/json" } })
      }
    })

    const shopOf = (c: Context) => {
      const shop = Number(c.req.param("shop_id"))
      return shop === SHOP_ID ? shop : undefined
    }
    const listingOf = (c: Context) => state.listings.get(Number(c.req.param("listing_id")))
    const isForm = (c: Context) => (c.req.header("content-type") ?? "").startsWith("application/x-www-form-urlencoded")

    app.post("/v3/application/shops/:shop_id/listings", async (c) => {
      const shop = shopOf(c)
      if (shop === undefined) return etsyError(c, 403, "The user does not own the shop")
      if (!isForm(c)) return etsyError(c, 400, "Expected a application/x-www-form-urlencoded body")
      const form = new URLSearchParams(await c.req.text())
      for (const field of ["quantity", "title", "description", "price", "who_made", "when_made", "taxonomy_id"]) {
        if (!form.get(field)) return etsyError(c, 400, `Missing required parameter: ${field}`)
      }
      const title = form.get("title")!
      if (title.length > 140) return etsyError(c, 400, "title: must be 140 characters or fewer")
      const price = Number(form.get("price"))
      if (!(price >= 0.2 && price <= 50_000)) return etsyError(c, 400, "price: must be between 0.20 and 50000.00")
      if (!WHO_MADE.has(form.get("who_made")!)) return etsyError(c, 400, "who_made: must be one of i_did, someone_else, collective")
      if (!WHEN_MADE.test(form.get("when_made")!)) return etsyError(c, 400, `when_made: ${form.get("when_made")} is not a valid value`)
      const tags = (form.get("tags") ?? "").split(",").map((t) => t.trim()).filter(Boolean)
      if (tags.length > 13) return etsyError(c, 400, "tags: a listing can have at most 13 tags")
      const badTag = tags.find((t) => !TAG.test(t))
      if (badTag !== undefined) return etsyError(c, 400, `tags: "${badTag}" must be 20 characters or fewer and use only letters, numbers, whitespace, -, ', ™, © and ®`)
      const shippingProfile = form.get("shipping_profile_id")
      if (!shippingProfile) return etsyError(c, 400, "shipping_profile_id is required for physical listings")
      const readiness = form.get("readiness_state_id")
      if (!readiness) return etsyError(c, 400, "readiness_state_id is required for physical listings")
      const id = state.nextListingId++
      const created = now()
      const listing: FakeListing = {
        listing_id: id,
        shop_id: shop,
        user_id: USER_ID,
        title,
        description: form.get("description")!,
        state: "draft",
        quantity: Number(form.get("quantity")),
        price: { amount: Math.round(price * 100), divisor: 100, currency_code: "USD" },
        who_made: form.get("who_made")!,
        when_made: form.get("when_made")!,
        taxonomy_id: Number(form.get("taxonomy_id")),
        shipping_profile_id: Number(shippingProfile),
        readiness_state_id: Number(readiness),
        tags,
        url: `https://www.etsy.com/listing/${id}/${title.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 60)}`,
        created_timestamp: created,
        creation_timestamp: created,
        updated_timestamp: created
      }
      state.listings.set(id, listing)
      state.images.set(id, [])
      state.inventory.set(id, [{ sku: null, property_values: [], offerings: [{ price: listing.price, quantity: listing.quantity, is_enabled: true }] }])
      state.creates.push(id)
      state.onCreate?.(listing)
      return c.json(listing, 201)
    })

    app.get("/v3/application/shops/:shop_id/listings", (c) => {
      if (shopOf(c) === undefined) return etsyError(c, 404, "Shop not found")
      const wanted = c.req.query("state") ?? "active"
      const sortOn = c.req.query("sort_on") ?? "created"
      const order = c.req.query("sort_order") ?? "desc"
      const limit = Number(c.req.query("limit") ?? 25)
      const offset = Number(c.req.query("offset") ?? 0)
      if (!(limit >= 1 && limit <= 100)) return etsyError(c, 400, "limit: must be between 1 and 100")
      if (sortOn !== "created" && sortOn !== "updated") return etsyError(c, 400, `sort_on: ${sortOn} is not supported by this fake`)
      const key = sortOn === "created" ? "created_timestamp" : "updated_timestamp"
      const all = [...state.listings.values()]
        .filter((l) => l.state === wanted)
        .sort((a, b) => (order === "asc" ? a[key] - b[key] || a.listing_id - b.listing_id : b[key] - a[key] || b.listing_id - a.listing_id))
      return c.json({ count: all.length, results: all.slice(offset, offset + limit) })
    })

    app.get("/v3/application/listings/:listing_id", (c) => {
      const listing = listingOf(c)
      return listing === undefined ? etsyError(c, 404, "Listing not found") : c.json(listing)
    })

    app.patch("/v3/application/shops/:shop_id/listings/:listing_id", async (c) => {
      const listing = listingOf(c)
      if (shopOf(c) === undefined || listing === undefined) return etsyError(c, 404, "Listing not found")
      if (!isForm(c)) return etsyError(c, 400, "Expected a application/x-www-form-urlencoded body")
      const form = new URLSearchParams(await c.req.text())
      const next = form.get("state")
      if (next !== null) {
        if (next !== "active" && next !== "inactive") return etsyError(c, 400, `state: ${next} is not a valid value`)
        if (next === "active" && (state.images.get(listing.listing_id) ?? []).length === 0) {
          return etsyError(c, 400, "Cannot activate a listing without images")
        }
        listing.state = next === "active" ? "active" : "draft"
      }
      listing.updated_timestamp = now()
      return c.json(listing)
    })

    app.get("/v3/application/listings/:listing_id/inventory", (c) => {
      const listing = listingOf(c)
      return listing === undefined ? etsyError(c, 404, "Listing not found") : c.json({ products: state.inventory.get(listing.listing_id) ?? [] })
    })

    app.put("/v3/application/listings/:listing_id/inventory", async (c) => {
      const listing = listingOf(c)
      if (listing === undefined) return etsyError(c, 404, "Listing not found")
      if (!(c.req.header("content-type") ?? "").startsWith("application/json")) return etsyError(c, 400, "Expected a JSON body")
      const body = (await c.req.json().catch(() => undefined)) as { products?: Array<Record<string, unknown>> } | undefined
      if (!Array.isArray(body?.products) || body.products.length === 0) return etsyError(c, 400, "products: must be a non-empty array")
      const products: Array<FakeProduct> = []
      for (const p of body.products) {
        const offerings = p["offerings"] as Array<{ price?: unknown; quantity?: unknown; is_enabled?: unknown }> | undefined
        if (!Array.isArray(offerings) || offerings.length === 0) return etsyError(c, 400, "products[0].offerings: must be a non-empty array")
        const sku = typeof p["sku"] === "string" ? p["sku"] : null
        if (sku !== null && sku.length > 32) return etsyError(c, 400, "sku: must be 32 characters or fewer")
        products.push({
          sku,
          property_values: [],
          offerings: offerings.map((o) => ({
            price: { amount: Math.round(Number(o.price) * 100), divisor: 100, currency_code: "USD" },
            quantity: Number(o.quantity),
            is_enabled: o.is_enabled !== false
          }))
        })
      }
      state.inventory.set(listing.listing_id, products)
      return c.json({ products })
    })

    app.post("/v3/application/shops/:shop_id/listings/:listing_id/images", async (c) => {
      const listing = listingOf(c)
      if (shopOf(c) === undefined || listing === undefined) return etsyError(c, 404, "Listing not found")
      if (!(c.req.header("content-type") ?? "").startsWith("multipart/form-data")) return etsyError(c, 400, "Expected a multipart/form-data body")
      const body = await c.req.parseBody()
      const file = body["image"]
      // With `listing_image_id` instead of a file, Etsy re-ranks an image the listing already has.
      if (!(file instanceof File) && typeof body["listing_image_id"] === "string") {
        const images = state.images.get(listing.listing_id)!
        const image = images.find((i) => i.listing_image_id === Number(body["listing_image_id"]))
        if (image === undefined) return etsyError(c, 404, `Could not find a ListingImage with listing_image_id = ${body["listing_image_id"]}`)
        const rank = Math.min(Math.max(1, Number(body["rank"] ?? 1) || 1), images.length)
        const others = images.filter((i) => i !== image).sort((a, b) => a.rank - b.rank)
        others.splice(rank - 1, 0, image)
        others.forEach((i, n) => (i.rank = n + 1))
        return c.json(image, 201)
      }
      if (!(file instanceof File)) return etsyError(c, 400, "Missing required parameter: image (a file)")
      if (!["image/jpeg", "image/png", "image/gif"].includes(file.type)) return etsyError(c, 400, `image: unsupported type ${file.type}`)
      const images = state.images.get(listing.listing_id)!
      if (images.length >= 10) return etsyError(c, 400, "A listing can have at most 10 images")
      const bytes = Buffer.from(await file.arrayBuffer())
      const rank = Math.min(Math.max(1, Number(body["rank"] ?? images.length + 1) || 1), images.length + 1)
      // Inserting at a taken rank moves the others down, as Etsy does.
      for (const image of images) if (image.rank >= rank) image.rank++
      const image: FakeImage = {
        listing_image_id: state.nextImageId++,
        listing_id: listing.listing_id,
        rank,
        alt_text: typeof body["alt_text"] === "string" ? body["alt_text"] : null,
        sha256: createHash("sha256").update(bytes).digest("hex"),
        bytes: bytes.length,
        content_type: file.type
      }
      images.push(image)
      state.uploads.push(image)
      return c.json(image, 201)
    })

    app.get("/v3/application/listings/:listing_id/images", (c) => {
      const listing = listingOf(c)
      if (listing === undefined) return etsyError(c, 404, "Listing not found")
      const images = [...(state.images.get(listing.listing_id) ?? [])].sort((a, b) => a.rank - b.rank)
      return c.json({ count: images.length, results: images })
    })

    app.get("/v3/application/shops/:shop_id/receipts", (c) => {
      if (shopOf(c) === undefined) return etsyError(c, 404, "Shop not found")
      const minCreated = Number(c.req.query("min_created") ?? 0)
      const limit = Number(c.req.query("limit") ?? 25)
      const offset = Number(c.req.query("offset") ?? 0)
      const all = state.receipts.filter((r) => r.created_timestamp >= minCreated)
      return c.json({ count: all.length, results: all.slice(offset, offset + limit) })
    })

    const server = yield* startFake(app)
    return {
      ...server,
      /** Base URL for ETSY_API_URL. */
      apiUrl: `${server.url}/v3`,
      state,
      /** A refresh token as if the seller had connected (ETSY_REFRESH_TOKEN). */
      grantRefreshToken: () => issueTokens().refresh_token,
      /** The seller approving an authorization request: the code the redirect carries. */
      authorize: (codeChallenge: string, redirectUri: string) => {
        const code = randomBytes(16).toString("hex")
        state.codes.set(code, { challenge: codeChallenge, redirectUri })
        return code
      },
      /** Makes every access token issued so far expired. */
      expireAccessTokens: () => {
        for (const token of state.accessTokens.keys()) state.accessTokens.set(token, 0)
      },
      /** Replaces the shop's listings with a snapshot of them (views and favourers as counted then). */
      showListings: (listings: ReadonlyArray<FakeListing>) => {
        state.listings.clear()
        for (const l of listings) state.listings.set(l.listing_id, { ...l })
      },
      /** Listings per exact title. */
      listingsTitled: (title: string) => [...state.listings.values()].filter((l) => l.title === title)
    }
  })

export type EtsyFake = Effect.Effect.Success<ReturnType<typeof startEtsyFake>>
