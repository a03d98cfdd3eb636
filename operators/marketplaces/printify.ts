/**
 * Printify API v1 client (developers.printify.com): a personal access token as
 * `Authorization: Bearer <token>`, JSON bodies, and the calls a publisher needs: upload an image
 * (`POST /v1/uploads/images.json`, base64 `contents`), the catalog's variants of a blueprint and
 * print provider, create / read / list products (`/v1/shops/{shop_id}/products.json`), publish
 * (`.../products/{id}/publish.json`) and, for shops connected through the API ("custom
 * integration"), confirm the outcome (`publishing_succeeded.json` with the external id and URL,
 * or `publishing_failed.json` with the reason).
 *
 * Limits (the documentation's "API usage guidelines"): 600 requests per minute per account, and
 * the publish endpoint 200 requests per 30 minutes; past either Printify answers 429. We keep
 * both windows on our side: a call waits for room in the minute window, and a publish past its
 * window fails as retryable with the wait, so the worker tries again then.
 *
 * Errors are `{"code": 8251, "message": "Validation failed.", "errors": {"reason": "...", "code": 8251}}`.
 * Creates (uploads, products) are never retried inside the call: the publisher reconciles.
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { Clock, Config, type ConfigError, Context, Duration, Effect, Layer, Redacted, Schema } from "effect"
import { PermanentError, RetryableError } from "../../runtime/errors.ts"
import { send, type HttpError } from "../../runtime/httpClient.ts"

export const PRINTIFY_API_URL = "https://api.printify.com/v1"
export const PRINTIFY_REQUESTS_PER_MINUTE = 600
export const PRINTIFY_PUBLISHES_PER_30_MIN = 200

export interface PrintifyOptions {
  readonly apiUrl: string
  readonly token: Redacted.Redacted<string>
  readonly shopId: string
}

export const PrintifyConfig: Config.Config<PrintifyOptions> = Config.all({
  apiUrl: Config.string("PRINTIFY_API_URL").pipe(Config.withDefault(PRINTIFY_API_URL), Config.map((u) => u.replace(/\/+$/, ""))),
  token: Config.redacted("PRINTIFY_TOKEN"),
  shopId: Config.string("PRINTIFY_SHOP_ID")
})

export const PrintifyImage = Schema.Struct({ id: Schema.String, file_name: Schema.String, width: Schema.optional(Schema.Number), height: Schema.optional(Schema.Number) })
export type PrintifyImage = typeof PrintifyImage.Type

export const PrintifyProduct = Schema.Struct({
  id: Schema.String,
  title: Schema.String,
  /** "2019-07-25 13:40:41+00:00" */
  created_at: Schema.String,
  visible: Schema.optional(Schema.Boolean),
  is_locked: Schema.optional(Schema.Boolean),
  external: Schema.optional(Schema.NullOr(Schema.Struct({ id: Schema.String, handle: Schema.optional(Schema.String) })))
})
export type PrintifyProduct = typeof PrintifyProduct.Type

export const PrintifyProductPage = Schema.Struct({ current_page: Schema.Number, last_page: Schema.Number, data: Schema.Array(PrintifyProduct) })

export const PrintifyVariants = Schema.Struct({
  variants: Schema.Array(Schema.Struct({ id: Schema.Number, title: Schema.String }))
})

export interface NewProduct {
  readonly title: string
  readonly description: string
  readonly tags: ReadonlyArray<string>
  readonly blueprint_id: number
  readonly print_provider_id: number
  readonly variants: ReadonlyArray<{ readonly id: number; readonly price: number; readonly is_enabled: boolean }>
  readonly print_areas: ReadonlyArray<{
    readonly variant_ids: ReadonlyArray<number>
    readonly placeholders: ReadonlyArray<{
      readonly position: string
      readonly images: ReadonlyArray<{ readonly id: string; readonly x: number; readonly y: number; readonly scale: number; readonly angle: number }>
    }>
  }>
}

export interface PrintifyClient {
  readonly shopId: string
  readonly uploadImage: (fileName: string, bytes: Uint8Array) => Effect.Effect<PrintifyImage, HttpError>
  readonly variants: (blueprintId: number, printProviderId: number) => Effect.Effect<typeof PrintifyVariants.Type, HttpError>
  readonly createProduct: (product: NewProduct) => Effect.Effect<PrintifyProduct, HttpError>
  readonly getProduct: (id: string) => Effect.Effect<PrintifyProduct, HttpError>
  readonly listProducts: (page: number, limit: number) => Effect.Effect<typeof PrintifyProductPage.Type, HttpError>
  readonly publishProduct: (id: string) => Effect.Effect<void, HttpError>
  readonly publishingSucceeded: (id: string, external: { readonly id: string; readonly handle: string }) => Effect.Effect<void, HttpError>
  readonly publishingFailed: (id: string, reason: string) => Effect.Effect<void, HttpError>
  /** An order of the shop, for sales feedback. */
  readonly getOrder: (id: string) => Effect.Effect<typeof PrintifyOrder.Type, HttpError>
}

/** Calls made in the last `windowMs`, to stay under a documented limit. */
const slidingWindow = (limit: number, windowMs: number) => {
  const times: Array<number> = []
  return {
    /** ms until a call fits (0: now), after dropping calls that left the window. */
    wait: (now: number) => {
      while (times.length > 0 && times[0]! <= now - windowMs) times.shift()
      return times.length < limit ? 0 : times[0]! + windowMs - now
    },
    record: (now: number) => void times.push(now)
  }
}

/** An order, as `GET /v1/shops/{shop_id}/orders/{order_id}.json` answers (the fields feedback reads). */
export const PrintifyOrder = Schema.Struct({
  id: Schema.String,
  created_at: Schema.String,
  line_items: Schema.Array(
    Schema.Struct({
      product_id: Schema.String,
      variant_id: Schema.Number,
      quantity: Schema.Number,
      metadata: Schema.optional(Schema.Struct({ price: Schema.optional(Schema.Number), title: Schema.optional(Schema.String) }))
    })
  )
})

export const make = (options: PrintifyOptions): Effect.Effect<PrintifyClient, never, HttpClient.HttpClient> =>
  Effect.gen(function* () {
    const http = yield* HttpClient.HttpClient
    const perMinute = slidingWindow(PRINTIFY_REQUESTS_PER_MINUTE, 60_000)
    const publishes = slidingWindow(PRINTIFY_PUBLISHES_PER_30_MIN, 30 * 60_000)
    const url = (path: string) => `${options.apiUrl}${path}`
    const shop = `/shops/${encodeURIComponent(options.shopId)}`

    const call = <A, I>(request: HttpClientRequest.HttpClientRequest, schema: Schema.Schema<A, I>, what: string, idempotent = true) =>
      Effect.gen(function* () {
        const wait = perMinute.wait(yield* Clock.currentTimeMillis)
        if (wait > 0) yield* Effect.sleep(Duration.millis(wait))
        perMinute.record(yield* Clock.currentTimeMillis)
        const response = yield* send(
          HttpClientRequest.setHeaders(request, { authorization: `Bearer ${Redacted.value(options.token)}`, accept: "application/json" }),
          { what: `printify ${what}`, retries: idempotent ? 2 : 0 }
        )
        const body = yield* Effect.mapError(response.json, (e) => new PermanentError({ message: `printify ${what}: body is not JSON: ${e.message}` }))
        return yield* Effect.mapError(Schema.decodeUnknown(schema)(body), (e) => new PermanentError({ message: `printify ${what}: unexpected body: ${e.message}` }))
      }).pipe(Effect.provideService(HttpClient.HttpClient, http))

    const Ack = Schema.Unknown
    return {
      shopId: options.shopId,
      uploadImage: (fileName, bytes) =>
        call(
          HttpClientRequest.post(url("/uploads/images.json")).pipe(
            HttpClientRequest.bodyUnsafeJson({ file_name: fileName, contents: Buffer.from(bytes).toString("base64") })
          ),
          PrintifyImage,
          "upload image",
          false
        ),
      variants: (blueprintId, printProviderId) =>
        call(HttpClientRequest.get(url(`/catalog/blueprints/${blueprintId}/print_providers/${printProviderId}/variants.json`)), PrintifyVariants, "catalog variants"),
      createProduct: (product) =>
        call(HttpClientRequest.post(url(`${shop}/products.json`)).pipe(HttpClientRequest.bodyUnsafeJson(product)), PrintifyProduct, "create product", false),
      getProduct: (id) => call(HttpClientRequest.get(url(`${shop}/products/${encodeURIComponent(id)}.json`)), PrintifyProduct, "get product"),
      listProducts: (page, limit) =>
        call(
          HttpClientRequest.get(url(`${shop}/products.json`)).pipe(HttpClientRequest.setUrlParams({ page: String(page), limit: String(limit) })),
          PrintifyProductPage,
          "list products"
        ),
      publishProduct: (id) =>
        Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis
          const wait = publishes.wait(now)
          if (wait > 0) {
            return yield* Effect.fail(
              new RetryableError({ message: `printify publish: ${PRINTIFY_PUBLISHES_PER_30_MIN} publishes in 30 minutes reached`, cause: { retryAfterMs: wait } })
            )
          }
          publishes.record(now)
          yield* call(
            HttpClientRequest.post(url(`${shop}/products/${encodeURIComponent(id)}/publish.json`)).pipe(
              HttpClientRequest.bodyUnsafeJson({ title: true, description: true, images: true, variants: true, tags: true, keyFeatures: true, shipping_template: true })
            ),
            Ack,
            "publish product",
            // Not repeated within the call: a publish whose answer was lost has locked the
            // product, and a repeat would get 400 "locked"; the publisher's retry sees the lock.
            false
          )
        }),
      publishingSucceeded: (id, external) =>
        Effect.asVoid(
          call(
            HttpClientRequest.post(url(`${shop}/products/${encodeURIComponent(id)}/publishing_succeeded.json`)).pipe(HttpClientRequest.bodyUnsafeJson({ external })),
            Ack,
            "publishing succeeded"
          )
        ),
      publishingFailed: (id, reason) =>
        Effect.asVoid(
          call(
            HttpClientRequest.post(url(`${shop}/products/${encodeURIComponent(id)}/publishing_failed.json`)).pipe(HttpClientRequest.bodyUnsafeJson({ reason })),
            Ack,
            "publishing failed"
          )
        ),
      getOrder: (id) => call(HttpClientRequest.get(url(`${shop}/orders/${encodeURIComponent(id)}.json`)), PrintifyOrder, "get order")
    } satisfies PrintifyClient
  })

export class Printify extends Context.Tag("desainz/Printify")<Printify, PrintifyClient>() {
  static readonly layer = (options: PrintifyOptions): Layer.Layer<Printify, never, HttpClient.HttpClient> => Layer.effect(Printify, make(options))
  static readonly layerConfig: Layer.Layer<Printify, ConfigError.ConfigError, HttpClient.HttpClient> = Layer.effect(Printify, Effect.flatMap(PrintifyConfig, make))
}
