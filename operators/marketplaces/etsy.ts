/**
 * Etsy Open API v3 client: OAuth 2.0 tokens that refresh themselves, the app key header, the
 * rate-limit headers, and typed calls for listings, inventory, images and receipts. Shared by
 * the Etsy publisher and by feedback sources (same auth, same limits).
 *
 * What the API asks for (developers.etsy.com/documentation/essentials/requests, .../authentication,
 * .../rate-limits, and the OpenAPI reference of each call named below):
 * - every request: `x-api-key: <keystring>:<shared secret>` (the shared secret is required in the
 *   header since 2026) and, for scoped calls, `Authorization: Bearer <access token>`; Etsy's access
 *   token is already `<numeric user id>.<token>`;
 * - tokens: `POST /v3/public/oauth/token`, form-encoded, `grant_type=authorization_code` (with the
 *   PKCE `code_verifier`) or `grant_type=refresh_token`; access tokens last `expires_in` = 3600 s,
 *   and every answer carries a refresh token, which we keep (the newest one) sealed in the store;
 * - errors are `{"error": "..."}` (the OAuth endpoint adds `error_description`); an expired token is
 *   a 401, after which we refresh once and repeat the call;
 * - every success carries `x-limit-per-second`, `x-remaining-this-second`, `x-limit-per-day`,
 *   `x-remaining-today`; a 429 carries none of them. We wait for the next second when this
 *   second's budget is spent, and stop calling (retryable, with a wait) when the day's is.
 *
 * Writes that create something (createDraftListing, uploadListingImage) are never retried inside
 * the call: a 5xx can come after Etsy did the work, and repeating it would create a second
 * listing or image. The publisher reconciles with the shop instead (operators/publishers/etsy.ts).
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { Clock, Config, type ConfigError, Context, Duration, Effect, Layer, Option, Redacted, Schema } from "effect"
import { PermanentError, RetryableError } from "../../runtime/errors.ts"
import { httpFailure, send, type HttpError } from "../../runtime/httpClient.ts"
import type { SqlError } from "../../runtime/sql.ts"
import { Credentials } from "./credentials.ts"

export const ETSY_API_URL = "https://api.etsy.com/v3"
export const ETSY_CONNECT_URL = "https://www.etsy.com/oauth/connect"
/** Name of the sealed refresh token in the store. */
export const ETSY_REFRESH_TOKEN = "etsy.refresh_token"
/** Scopes the publisher and the feedback sources need. */
export const ETSY_SCOPES = ["listings_r", "listings_w", "shops_r", "transactions_r"] as const

export interface EtsyOptions {
  /** Base URL up to and including `/v3`. */
  readonly apiUrl: string
  readonly keystring: string
  readonly sharedSecret: Redacted.Redacted<string>
  readonly shopId: string
  /** Used when the store holds no refresh token (no `desainz etsy connect` yet). */
  readonly refreshToken: Option.Option<Redacted.Redacted<string>>
}

export const EtsyConfig: Config.Config<EtsyOptions> = Config.all({
  apiUrl: Config.string("ETSY_API_URL").pipe(Config.withDefault(ETSY_API_URL), Config.map((u) => u.replace(/\/+$/, ""))),
  keystring: Config.string("ETSY_KEYSTRING"),
  sharedSecret: Config.redacted("ETSY_SHARED_SECRET"),
  shopId: Config.string("ETSY_SHOP_ID"),
  refreshToken: Config.option(Config.redacted("ETSY_REFRESH_TOKEN"))
})

// ---------------------------------------------------------------------------------------
// Wire types (the fields we use; Etsy sends more)

export const EtsyListing = Schema.Struct({
  listing_id: Schema.Number,
  shop_id: Schema.optional(Schema.Number),
  title: Schema.String,
  state: Schema.String,
  url: Schema.optional(Schema.NullOr(Schema.String)),
  /** Epoch seconds. */
  created_timestamp: Schema.Number,
  tags: Schema.optional(Schema.Array(Schema.String)),
  views: Schema.optional(Schema.NullOr(Schema.Number)),
  num_favorers: Schema.optional(Schema.NullOr(Schema.Number))
})
export type EtsyListing = typeof EtsyListing.Type

const Page = <A, I>(item: Schema.Schema<A, I>) => Schema.Struct({ count: Schema.Number, results: Schema.Array(item) })

export const EtsyListingImage = Schema.Struct({
  listing_image_id: Schema.Number,
  listing_id: Schema.Number,
  rank: Schema.Number,
  alt_text: Schema.optional(Schema.NullOr(Schema.String))
})
export type EtsyListingImage = typeof EtsyListingImage.Type

export const EtsyOffering = Schema.Struct({
  price: Schema.Union(Schema.Number, Schema.Struct({ amount: Schema.Number, divisor: Schema.Number })),
  quantity: Schema.Number,
  is_enabled: Schema.Boolean
})
export const EtsyProduct = Schema.Struct({
  sku: Schema.optional(Schema.NullOr(Schema.String)),
  property_values: Schema.Array(Schema.Unknown),
  offerings: Schema.Array(EtsyOffering)
})
export const EtsyInventory = Schema.Struct({ products: Schema.Array(EtsyProduct) })
export type EtsyInventory = typeof EtsyInventory.Type

export const EtsyReceipt = Schema.Struct({
  receipt_id: Schema.Number,
  created_timestamp: Schema.Number,
  transactions: Schema.Array(Schema.Struct({ listing_id: Schema.Number, quantity: Schema.Number, sku: Schema.optional(Schema.NullOr(Schema.String)) }))
})
export type EtsyReceipt = typeof EtsyReceipt.Type

export const EtsyTokenResponse = Schema.Struct({
  access_token: Schema.String,
  token_type: Schema.String,
  expires_in: Schema.Number,
  refresh_token: Schema.String
})
export type EtsyTokenResponse = typeof EtsyTokenResponse.Type

/** createDraftListing's form fields (the required ones, and the profile ids a physical listing needs). */
export interface DraftListing {
  readonly quantity: number
  readonly title: string
  readonly description: string
  /** In the shop's currency, e.g. 24.99. */
  readonly price: number
  readonly who_made: "i_did" | "someone_else" | "collective"
  readonly when_made: string
  readonly taxonomy_id: number
  readonly shipping_profile_id?: number | undefined
  readonly readiness_state_id?: number | undefined
  readonly tags: ReadonlyArray<string>
}

export interface ListingsQuery {
  readonly state?: "active" | "inactive" | "sold_out" | "draft" | "expired"
  readonly sortOn?: "created" | "price" | "updated" | "score"
  readonly sortOrder?: "asc" | "desc"
  readonly limit?: number
  readonly offset?: number
}

/** What the last successful answer said about the remaining budget. */
export interface RateBudget {
  readonly limitPerSecond: number | undefined
  readonly remainingThisSecond: number | undefined
  readonly limitPerDay: number | undefined
  readonly remainingToday: number | undefined
}

export interface EtsyClient {
  readonly shopId: string
  /** Base URL up to and including `/v3`, for requests made with `call`. */
  readonly apiUrl: string
  /** Any authenticated call (for calls not wrapped below); `idempotent: false` disables in-call retries. */
  readonly call: <A, I>(
    request: HttpClientRequest.HttpClientRequest,
    schema: Schema.Schema<A, I>,
    what: string,
    options?: { readonly idempotent?: boolean }
  ) => Effect.Effect<A, HttpError | SqlError>
  readonly createDraftListing: (listing: DraftListing) => Effect.Effect<EtsyListing, HttpError | SqlError>
  readonly getListing: (listingId: number) => Effect.Effect<EtsyListing, HttpError | SqlError>
  readonly getListingsByShop: (query: ListingsQuery) => Effect.Effect<{ readonly count: number; readonly results: ReadonlyArray<EtsyListing> }, HttpError | SqlError>
  readonly updateListing: (listingId: number, fields: Readonly<Record<string, string>>) => Effect.Effect<EtsyListing, HttpError | SqlError>
  readonly getListingInventory: (listingId: number) => Effect.Effect<EtsyInventory, HttpError | SqlError>
  readonly updateListingInventory: (listingId: number, inventory: EtsyInventory) => Effect.Effect<EtsyInventory, HttpError | SqlError>
  readonly getListingImages: (listingId: number) => Effect.Effect<ReadonlyArray<EtsyListingImage>, HttpError | SqlError>
  readonly uploadListingImage: (
    listingId: number,
    image: { readonly bytes: Uint8Array; readonly fileName: string; readonly contentType: string; readonly rank: number; readonly altText?: string }
  ) => Effect.Effect<EtsyListingImage, HttpError | SqlError>
  readonly getShopReceipts: (query: { readonly minCreated?: number; readonly limit?: number; readonly offset?: number }) => Effect.Effect<
    { readonly count: number; readonly results: ReadonlyArray<EtsyReceipt> },
    HttpError | SqlError
  >
  /** The budget the last answer reported (for metrics and tests). */
  readonly budget: Effect.Effect<RateBudget>
}

// ---------------------------------------------------------------------------------------
// OAuth token endpoint (no access token needed)

const tokenRequest = (options: Pick<EtsyOptions, "apiUrl">, form: Record<string, string>) =>
  HttpClientRequest.post(`${options.apiUrl}/public/oauth/token`).pipe(
    HttpClientRequest.setHeader("accept", "application/json"),
    HttpClientRequest.bodyUrlParams(form)
  )

/** The OAuth error's own words (`error`, `error_description`) from a failed token call. */
const oauthReason = (error: unknown): string => {
  const body = httpFailure(error)?.body ?? ""
  try {
    const parsed = JSON.parse(body) as { error?: string; error_description?: string }
    return [parsed.error, parsed.error_description].filter(Boolean).join(": ") || body
  } catch {
    return body
  }
}

const tokenCall = (options: Pick<EtsyOptions, "apiUrl">, form: Record<string, string>, what: string) =>
  send(tokenRequest(options, form), { what, retries: 1 }).pipe(
    Effect.flatMap((response) => response.json),
    Effect.flatMap(Schema.decodeUnknown(EtsyTokenResponse)),
    Effect.mapError((error) =>
      error instanceof RetryableError
        ? error
        : new PermanentError({
            message: `${what}: Etsy refused: ${error instanceof PermanentError ? oauthReason(error) || error.message : error.message}. Run \`desainz etsy connect\` again`,
            cause: error
          })
    )
  )

/** Step 2 of the authorization-code flow: the code and the PKCE verifier for tokens. */
export const exchangeCode = (
  options: Pick<EtsyOptions, "apiUrl" | "keystring">,
  grant: { readonly code: string; readonly codeVerifier: string; readonly redirectUri: string }
): Effect.Effect<EtsyTokenResponse, HttpError, HttpClient.HttpClient> =>
  tokenCall(
    options,
    { grant_type: "authorization_code", client_id: options.keystring, redirect_uri: grant.redirectUri, code: grant.code, code_verifier: grant.codeVerifier },
    "etsy token (authorization code)"
  )

export const refreshAccessToken = (
  options: Pick<EtsyOptions, "apiUrl" | "keystring">,
  refreshToken: Redacted.Redacted<string>
): Effect.Effect<EtsyTokenResponse, HttpError, HttpClient.HttpClient> =>
  tokenCall(options, { grant_type: "refresh_token", client_id: options.keystring, refresh_token: Redacted.value(refreshToken) }, "etsy token (refresh)")

// ---------------------------------------------------------------------------------------
// The client

/** Refresh this long before the access token's stated expiry. */
const EXPIRY_MARGIN_MS = 60_000
/** When the day's budget is spent: how long before the worker tries again. */
const DAY_BUDGET_WAIT_MS = 15 * 60_000

const headerNumber = (headers: Readonly<Record<string, string | undefined>>, name: string): number | undefined => {
  const value = headers[name]
  if (value === undefined || value.trim() === "") return undefined
  const n = Number(value)
  return Number.isFinite(n) ? n : undefined
}

export const make = (options: EtsyOptions): Effect.Effect<EtsyClient, never, HttpClient.HttpClient | Credentials> =>
  Effect.gen(function* () {
    const http = yield* HttpClient.HttpClient
    const credentials = yield* Credentials
    const withHttp = <A, E>(effect: Effect.Effect<A, E, HttpClient.HttpClient>) => Effect.provideService(effect, HttpClient.HttpClient, http)
    const apiKey = () => `${options.keystring}:${Redacted.value(options.sharedSecret)}`

    let token: { readonly value: Redacted.Redacted<string>; readonly expiresAt: number } | undefined
    let refreshToken: Redacted.Redacted<string> | undefined
    let budget: RateBudget = { limitPerSecond: undefined, remainingThisSecond: undefined, limitPerDay: undefined, remainingToday: undefined }
    let budgetSecond = 0
    // When the day's budget was last found spent (or last probed): Etsy's day refills, and only
    // an answer says so, so one call goes out after each wait.
    let daySpentAt: number | undefined
    const refreshLock = yield* Effect.makeSemaphore(1)

    /**
     * Refresh tokens to try, newest first: the one rotated in this process, the one stored by
     * `desainz etsy connect` or an earlier rotation, then ETSY_REFRESH_TOKEN (so a fresh one set
     * in the environment still works when the stored one was revoked).
     */
    const refreshCandidates = Effect.gen(function* () {
      const stored = refreshToken === undefined ? yield* credentials.load(ETSY_REFRESH_TOKEN) : Option.some(refreshToken)
      const candidates = [...Option.toArray(stored), ...Option.toArray(options.refreshToken)]
      const distinct = candidates.filter((t, i) => candidates.findIndex((u) => Redacted.value(u) === Redacted.value(t)) === i)
      if (distinct.length === 0) {
        return yield* Effect.fail(new PermanentError({ message: "etsy: no refresh token: run `desainz etsy connect` (or set ETSY_REFRESH_TOKEN)" }))
      }
      return distinct
    })

    const refreshWithAny = (candidates: ReadonlyArray<Redacted.Redacted<string>>): Effect.Effect<EtsyTokenResponse, HttpError> => {
      const [first, ...rest] = candidates
      const attempt = withHttp(refreshAccessToken(options, first!))
      return rest.length === 0 ? attempt : Effect.catchIf(attempt, (e) => e instanceof PermanentError, () => refreshWithAny(rest))
    }

    /** A valid access token; `stale` is one the API just refused, which forces a refresh. */
    const accessToken = (stale?: Redacted.Redacted<string>) =>
      refreshLock.withPermits(1)(
        Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis
          if (token !== undefined && token.value !== stale && token.expiresAt - EXPIRY_MARGIN_MS > now) return token.value
          const answer = yield* refreshWithAny(yield* refreshCandidates)
          const rotated = Redacted.make(answer.refresh_token)
          refreshToken = rotated
          // Keep the newest refresh token for the next start; without a key it stays in memory only.
          yield* Effect.catchAll(credentials.save(ETSY_REFRESH_TOKEN, rotated), (error) =>
            Effect.logDebug(`etsy: refresh token not stored: ${error.message}`)
          )
          token = { value: Redacted.make(answer.access_token), expiresAt: now + answer.expires_in * 1000 }
          return token.value
        })
      )

    /** Waits out this second when its budget is spent; fails (retryable) when the day's is, but for one call every DAY_BUDGET_WAIT_MS. */
    const gate = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      if (budget.remainingToday === 0) {
        daySpentAt ??= now
        const wait = daySpentAt + DAY_BUDGET_WAIT_MS - now
        if (wait > 0) {
          return yield* Effect.fail(new RetryableError({ message: "etsy: the day's request budget is spent (x-remaining-today: 0)", cause: { retryAfterMs: wait } }))
        }
        daySpentAt = now // this call finds out whether it refilled
      }
      if (budget.remainingThisSecond === 0 && Math.floor(now / 1000) === budgetSecond) {
        yield* Effect.sleep(Duration.millis(1000 - (now % 1000)))
      }
    })

    const note = (headers: Readonly<Record<string, string | undefined>>) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const remainingThisSecond = headerNumber(headers, "x-remaining-this-second")
        if (remainingThisSecond === undefined) return
        budgetSecond = Math.floor(now / 1000)
        const remainingToday = headerNumber(headers, "x-remaining-today")
        if (remainingToday === 0) daySpentAt ??= now
        else daySpentAt = undefined
        budget = {
          limitPerSecond: headerNumber(headers, "x-limit-per-second"),
          remainingThisSecond,
          limitPerDay: headerNumber(headers, "x-limit-per-day"),
          remainingToday
        }
      })

    const call: EtsyClient["call"] = (request, schema, what, callOptions = {}) => {
      const once = (bearer: Redacted.Redacted<string>) =>
        Effect.gen(function* () {
          yield* gate
          const response = yield* withHttp(
            send(HttpClientRequest.setHeaders(request, { "x-api-key": apiKey(), authorization: `Bearer ${Redacted.value(bearer)}`, accept: "application/json" }), {
              what: `etsy ${what}`,
              retries: callOptions.idempotent === false ? 0 : 2
            })
          )
          yield* note(response.headers)
          const body = yield* Effect.mapError(response.json, (e) => new PermanentError({ message: `etsy ${what}: body is not JSON: ${e.message}` }))
          return yield* Effect.mapError(
            Schema.decodeUnknown(schema)(body),
            (e) => new PermanentError({ message: `etsy ${what}: unexpected body: ${e.message}` })
          )
        })
      return Effect.gen(function* () {
        const bearer = yield* accessToken()
        // An expired or revoked token is a 401: refresh once and repeat (the request never ran).
        return yield* Effect.catchIf(
          once(bearer),
          (error) => httpFailure(error)?.status === 401,
          () => Effect.flatMap(accessToken(bearer), once)
        )
      })
    }

    const url = (path: string) => `${options.apiUrl}${path}`
    const shop = encodeURIComponent(options.shopId)

    return {
      shopId: options.shopId,
      apiUrl: options.apiUrl,
      call,
      budget: Effect.sync(() => budget),
      createDraftListing: (listing) =>
        call(
          HttpClientRequest.post(url(`/application/shops/${shop}/listings`)).pipe(
            HttpClientRequest.bodyUrlParams({
              quantity: String(listing.quantity),
              title: listing.title,
              description: listing.description,
              price: listing.price.toFixed(2),
              who_made: listing.who_made,
              when_made: listing.when_made,
              taxonomy_id: String(listing.taxonomy_id),
              ...(listing.shipping_profile_id === undefined ? {} : { shipping_profile_id: String(listing.shipping_profile_id) }),
              ...(listing.readiness_state_id === undefined ? {} : { readiness_state_id: String(listing.readiness_state_id) }),
              ...(listing.tags.length === 0 ? {} : { tags: listing.tags.join(",") })
            })
          ),
          EtsyListing,
          "createDraftListing",
          { idempotent: false }
        ),
      getListing: (id) => call(HttpClientRequest.get(url(`/application/listings/${id}`)), EtsyListing, "getListing"),
      getListingsByShop: (query) =>
        call(
          HttpClientRequest.get(url(`/application/shops/${shop}/listings`)).pipe(
            HttpClientRequest.setUrlParams({
              ...(query.state === undefined ? {} : { state: query.state }),
              ...(query.sortOn === undefined ? {} : { sort_on: query.sortOn }),
              ...(query.sortOrder === undefined ? {} : { sort_order: query.sortOrder }),
              limit: String(query.limit ?? 25),
              offset: String(query.offset ?? 0)
            })
          ),
          Page(EtsyListing),
          "getListingsByShop"
        ),
      updateListing: (id, fields) =>
        call(HttpClientRequest.patch(url(`/application/shops/${shop}/listings/${id}`)).pipe(HttpClientRequest.bodyUrlParams(fields)), EtsyListing, "updateListing"),
      getListingInventory: (id) => call(HttpClientRequest.get(url(`/application/listings/${id}/inventory`)), EtsyInventory, "getListingInventory"),
      updateListingInventory: (id, inventory) =>
        call(HttpClientRequest.put(url(`/application/listings/${id}/inventory`)).pipe(HttpClientRequest.bodyUnsafeJson(inventory)), EtsyInventory, "updateListingInventory"),
      getListingImages: (id) =>
        Effect.map(call(HttpClientRequest.get(url(`/application/listings/${id}/images`)), Page(EtsyListingImage), "getListingImages"), (page) => page.results),
      uploadListingImage: (id, image) => {
        const form = new FormData()
        form.append("image", new Blob([new Uint8Array(image.bytes)], { type: image.contentType }), image.fileName)
        form.append("rank", String(image.rank))
        if (image.altText !== undefined) form.append("alt_text", image.altText)
        return call(
          HttpClientRequest.post(url(`/application/shops/${shop}/listings/${id}/images`)).pipe(HttpClientRequest.bodyFormData(form)),
          EtsyListingImage,
          "uploadListingImage",
          { idempotent: false }
        )
      },
      getShopReceipts: (query) =>
        call(
          HttpClientRequest.get(url(`/application/shops/${shop}/receipts`)).pipe(
            HttpClientRequest.setUrlParams({
              ...(query.minCreated === undefined ? {} : { min_created: String(query.minCreated) }),
              limit: String(query.limit ?? 25),
              offset: String(query.offset ?? 0)
            })
          ),
          Page(EtsyReceipt),
          "getShopReceipts"
        )
    } satisfies EtsyClient
  })

/**
 * No shop configured: every call fails, permanently, naming what to set. The topology leaves
 * out the nodes that need Etsy then; this keeps its services honest about that.
 */
const unconfigured: EtsyClient = (() => {
  const fail = Effect.fail(new PermanentError({ message: "Etsy is not configured: set ETSY_KEYSTRING, ETSY_SHARED_SECRET and ETSY_SHOP_ID" }))
  return {
    shopId: "",
    apiUrl: "",
    call: () => fail,
    createDraftListing: () => fail,
    getListing: () => fail,
    getListingsByShop: () => fail,
    updateListing: () => fail,
    getListingInventory: () => fail,
    updateListingInventory: () => fail,
    getListingImages: () => fail,
    uploadListingImage: () => fail,
    getShopReceipts: () => fail,
    budget: Effect.succeed({ limitPerSecond: undefined, remainingThisSecond: undefined, limitPerDay: undefined, remainingToday: undefined })
  }
})()

export class Etsy extends Context.Tag("desainz/Etsy")<Etsy, EtsyClient>() {
  static readonly layer = (options: EtsyOptions): Layer.Layer<Etsy, never, HttpClient.HttpClient | Credentials> => Layer.effect(Etsy, make(options))
  static readonly layerUnconfigured: Layer.Layer<Etsy> = Layer.succeed(Etsy, unconfigured)
  /** From ETSY_* (see `EtsyConfig`); a missing ETSY_KEYSTRING, ETSY_SHARED_SECRET or ETSY_SHOP_ID stops the start naming it. */
  static readonly layerConfig: Layer.Layer<Etsy, ConfigError.ConfigError, HttpClient.HttpClient | Credentials> = Layer.effect(
    Etsy,
    Effect.flatMap(EtsyConfig, make)
  )
}
