/**
 * The Etsy Open API v3 calls the feedback loop needs (shapes from Etsy's OpenAPI spec,
 * https://developers.etsy.com/documentation/reference, `ShopListing`, `ShopReceipt`,
 * `ShopReceiptTransaction`, `ListingImage`):
 *
 * - `getListingsByShop`: `GET /v3/application/shops/{shop_id}/listings?state=active&limit&offset`
 *   -> `{ count, results: ShopListing[] }`; `views` and `num_favorers` are lifetime counters.
 * - `getShopReceipts`: `GET /v3/application/shops/{shop_id}/receipts?min_created&limit&offset`
 *   -> `{ count, results: ShopReceipt[] }`, each receipt with its `transactions`.
 * - `uploadListingImage` with `listing_image_id` and `rank` (multipart form): re-ranks an
 *   image the listing already has; rank 1 is the primary image buyers see first.
 *
 * Every request carries `x-api-key` (ETSY_API_KEY) and an OAuth bearer token
 * (ETSY_ACCESS_TOKEN); errors come back as `{ "error": "..." }` with 400/401/403/404/429/5xx,
 * classified by runtime/httpClient.ts (429 and 5xx retryable, honouring Retry-After).
 *
 * Lead: the publishing branch owns the full Etsy client (OAuth refresh, rate limits) in
 * operators/marketplaces/etsy.ts; these three calls duplicate its transport setup until
 * the feedback source is moved onto it.
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { Config, type ConfigError, Context, Effect, Layer, Option, Redacted, Schema } from "effect"
import { PermanentError } from "../../runtime/errors.ts"
import * as Http from "../../runtime/httpClient.ts"

export const ETSY_API_KEY = "ETSY_API_KEY"
export const ETSY_ACCESS_TOKEN = "ETSY_ACCESS_TOKEN"
export const ETSY_API_URL = "ETSY_API_URL"

const Money = Schema.Struct({ amount: Schema.Number, divisor: Schema.Number, currency_code: Schema.String })

/** The `ShopListing` fields the feedback loop reads (the rest are ignored). */
export const ShopListing = Schema.Struct({
  listing_id: Schema.Number,
  shop_id: Schema.optional(Schema.NullOr(Schema.Number)),
  title: Schema.optional(Schema.String),
  state: Schema.String,
  views: Schema.NullOr(Schema.Number),
  num_favorers: Schema.NullOr(Schema.Number),
  updated_timestamp: Schema.optional(Schema.NullOr(Schema.Number))
})
export type ShopListing = typeof ShopListing.Type

export const ShopReceiptTransaction = Schema.Struct({
  transaction_id: Schema.Number,
  listing_id: Schema.NullOr(Schema.Number),
  quantity: Schema.Number,
  created_timestamp: Schema.optional(Schema.Number),
  price: Schema.optional(Money)
})

export const ShopReceipt = Schema.Struct({
  receipt_id: Schema.Number,
  status: Schema.optional(Schema.String),
  is_paid: Schema.optional(Schema.Boolean),
  created_timestamp: Schema.Number,
  transactions: Schema.Array(ShopReceiptTransaction)
})
export type ShopReceipt = typeof ShopReceipt.Type

const Page = <A, I>(item: Schema.Schema<A, I>) => Schema.Struct({ count: Schema.Number, results: Schema.Array(item) })

export interface Dated<A> {
  readonly body: A
  /** The response's `Date` header, ms: when Etsy produced the figures (undefined without one). */
  readonly at: number | undefined
}

export interface EtsyFeedbackApiShape {
  readonly listingsByShop: (
    shopId: string,
    page: { readonly offset: number; readonly limit: number }
  ) => Effect.Effect<Dated<{ readonly count: number; readonly results: ReadonlyArray<ShopListing> }>, Http.HttpError>
  readonly receipts: (
    shopId: string,
    page: { readonly minCreated: number; readonly offset: number; readonly limit: number }
  ) => Effect.Effect<{ readonly count: number; readonly results: ReadonlyArray<ShopReceipt> }, Http.HttpError>
  /** Makes `listingImageId` the listing's image at `rank` (1 = primary). */
  readonly rankListingImage: (shopId: string, listingId: string, listingImageId: string, rank: number) => Effect.Effect<void, Http.HttpError>
}

export class EtsyFeedbackApi extends Context.Tag("desainz/EtsyFeedbackApi")<EtsyFeedbackApi, EtsyFeedbackApiShape>() {}

export interface EtsyFeedbackApiOptions {
  readonly baseUrl: string
  readonly apiKey: Redacted.Redacted<string>
  readonly accessToken: Redacted.Redacted<string>
}

export const make = (options: EtsyFeedbackApiOptions) =>
  Effect.map(HttpClient.HttpClient, (client): EtsyFeedbackApiShape => {
    const base = options.baseUrl.replace(/\/+$/, "")
    const authed = (request: HttpClientRequest.HttpClientRequest) =>
      request.pipe(
        HttpClientRequest.setHeader("x-api-key", Redacted.value(options.apiKey)),
        HttpClientRequest.bearerToken(Redacted.value(options.accessToken)),
        HttpClientRequest.acceptJson
      )
    const provide = <A, E>(effect: Effect.Effect<A, E, HttpClient.HttpClient>) => Effect.provideService(effect, HttpClient.HttpClient, client)
    return {
      listingsByShop: (shopId, page) => {
        const request = authed(
          HttpClientRequest.get(`${base}/v3/application/shops/${encodeURIComponent(shopId)}/listings`, {
            urlParams: { state: "active", limit: String(page.limit), offset: String(page.offset) }
          })
        )
        const what = "etsy getListingsByShop"
        return provide(
          Effect.gen(function* () {
            const response = yield* Http.send(request, { what })
            const date = Date.parse(response.headers["date"] ?? "")
            const json = yield* Effect.mapError(response.json, (e) => Http.statusError(what, 502, `body is not JSON: ${e.message}`))
            const body = yield* Effect.mapError(Schema.decodeUnknown(Page(ShopListing))(json), (e) => Http.statusError(what, 422, `unexpected body: ${e.message}`))
            return { body, at: Number.isNaN(date) ? undefined : date }
          })
        )
      },
      receipts: (shopId, page) =>
        provide(
          Http.sendJson(
            authed(
              HttpClientRequest.get(`${base}/v3/application/shops/${encodeURIComponent(shopId)}/receipts`, {
                urlParams: { min_created: String(page.minCreated), limit: String(page.limit), offset: String(page.offset), sort_on: "created", sort_order: "asc" }
              })
            ),
            Page(ShopReceipt),
            { what: "etsy getShopReceipts" }
          )
        ),
      rankListingImage: (shopId, listingId, listingImageId, rank) => {
        const form = new FormData()
        form.set("listing_image_id", listingImageId)
        form.set("rank", String(rank))
        const request = authed(
          HttpClientRequest.post(`${base}/v3/application/shops/${encodeURIComponent(shopId)}/listings/${encodeURIComponent(listingId)}/images`)
        ).pipe(HttpClientRequest.bodyFormData(form))
        return provide(Effect.asVoid(Http.send(request, { what: "etsy uploadListingImage (rank)" })))
      }
    }
  })

export const layer = (options: EtsyFeedbackApiOptions): Layer.Layer<EtsyFeedbackApi> =>
  Layer.effect(EtsyFeedbackApi, make(options)).pipe(Layer.provide(Http.layer))

const notConfigured = new PermanentError({ message: `etsy: not configured: set ${ETSY_API_KEY} and ${ETSY_ACCESS_TOKEN}` })

/**
 * From ETSY_API_KEY, ETSY_ACCESS_TOKEN and ETSY_API_URL (default https://openapi.etsy.com).
 * Without a key every call fails with a message naming the variables (a dead letter, not
 * a crash), so the topology starts on a machine that has no Etsy shop.
 */
export const layerConfig: Layer.Layer<EtsyFeedbackApi, ConfigError.ConfigError> = Layer.unwrapEffect(
  Effect.gen(function* () {
    const apiKey = yield* Config.option(Config.redacted(Config.nonEmptyString(ETSY_API_KEY)))
    const accessToken = yield* Config.redacted(ETSY_ACCESS_TOKEN).pipe(Config.withDefault(Redacted.make("")))
    const baseUrl = yield* Config.string(ETSY_API_URL).pipe(Config.withDefault("https://openapi.etsy.com"))
    if (Option.isSome(apiKey)) return layer({ baseUrl, apiKey: apiKey.value, accessToken })
    return Layer.succeed(EtsyFeedbackApi, {
      listingsByShop: () => Effect.fail(notConfigured),
      receipts: () => Effect.fail(notConfigured),
      rankListingImage: () => Effect.fail(notConfigured)
    })
  })
)
