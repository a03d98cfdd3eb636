/**
 * Contract tests of the Printify client (operators/marketplaces/printify.ts) against the fake
 * API (test/fakes/printify.ts): bearer token, JSON bodies, a refused token, Printify's own
 * validation body, a 429 with Retry-After, and the publish window kept on our side.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { make, PRINTIFY_PUBLISHES_PER_30_MIN } from "../../operators/marketplaces/printify.ts"
import { isRetryable, retryAfterMs } from "../../runtime/errors.ts"
import * as Http from "../../runtime/httpClient.ts"
import { jsonResponse } from "../fakes/server.ts"
import { BLUEPRINT_ID, PRINT_PROVIDER_ID, SHOP_ID, startPrintifyFake, TOKEN, VARIANT_IDS } from "../fakes/printify.ts"

const PNG = Buffer.from("89504e470d0a1a0a0000000d49484452", "hex")
const client = (apiUrl: string, token = TOKEN) => make({ apiUrl, token: Redacted.make(token), shopId: String(SHOP_ID) }).pipe(Effect.provide(Http.layer))

const product = (imageId: string, variants = VARIANT_IDS.slice(0, 2)) => ({
  title: "Coffee First Teacher Later",
  description: "A shirt",
  tags: ["teacher"],
  blueprint_id: BLUEPRINT_ID,
  print_provider_id: PRINT_PROVIDER_ID,
  variants: variants.map((id) => ({ id, price: 2499, is_enabled: true })),
  print_areas: [{ variant_ids: variants, placeholders: [{ position: "front", images: [{ id: imageId, x: 0.5, y: 0.5, scale: 1, angle: 0 }] }] }]
})

describe("printify client", () => {
  it.scopedLive("uploads, creates, publishes and confirms with the bearer token and JSON bodies", () =>
    Effect.gen(function* () {
      const fake = yield* startPrintifyFake()
      const printify = yield* client(fake.apiUrl)
      const image = yield* printify.uploadImage("design.png", PNG)
      const created = yield* printify.createProduct(product(image.id))
      yield* printify.publishProduct(created.id)
      expect((yield* printify.getProduct(created.id)).is_locked).toBe(true)
      yield* printify.publishingSucceeded(created.id, { id: "L1", handle: "https://shop.example/p/L1" })
      expect((yield* printify.getProduct(created.id)).external).toEqual({ id: "L1", handle: "https://shop.example/p/L1" })
      expect(fake.requests.every((r) => r.headers.get("authorization") === `Bearer ${TOKEN}`)).toBe(true)
      expect(fake.requests[0]!.headers.get("user-agent")).toBe(Http.USER_AGENT)
    })
  )

  it.scopedLive("a refused token is permanent; Printify's validation reason is on the error", () =>
    Effect.gen(function* () {
      const fake = yield* startPrintifyFake()
      const denied = yield* Effect.flip((yield* client(fake.apiUrl, "wrong")).listProducts(1, 10))
      expect(isRetryable(denied)).toBe(false)
      expect(Http.httpFailure(denied)?.status).toBe(401)
      const printify = yield* client(fake.apiUrl)
      const image = yield* printify.uploadImage("design.png", PNG)
      const invalid = yield* Effect.flip(printify.createProduct(product(image.id, [1])))
      expect(isRetryable(invalid)).toBe(false)
      expect(JSON.parse(Http.httpFailure(invalid)!.body)).toEqual({
        code: 8152,
        message: "Validation failed.",
        errors: { reason: "Variants are not valid for this blueprint and print provider.", code: 8152 }
      })
    })
  )

  it.scopedLive("a 429 carries Printify's Retry-After to the worker; a create is never repeated in the call", () =>
    Effect.gen(function* () {
      const fake = yield* startPrintifyFake()
      const printify = yield* client(fake.apiUrl)
      fake.inject(jsonResponse(429, { error: "Too Many Attempts." }, { "retry-after": "60" }))
      const limited = yield* Effect.flip(printify.listProducts(1, 10))
      expect(isRetryable(limited)).toBe(true)
      expect(retryAfterMs(limited)).toBe(60_000)
      fake.inject(jsonResponse(502, { error: "Bad Gateway" }))
      const lost = yield* Effect.flip(printify.uploadImage("design.png", PNG))
      expect(isRetryable(lost)).toBe(true)
      expect(fake.requests.filter((r) => r.path === "/v1/uploads/images.json")).toHaveLength(1)
    })
  )

  it.scopedLive(`past ${PRINTIFY_PUBLISHES_PER_30_MIN} publishes in 30 minutes the client stops before Printify does, retryable with the wait`, () =>
    Effect.gen(function* () {
      const fake = yield* startPrintifyFake({ publishesPer30Min: 1_000 })
      const printify = yield* client(fake.apiUrl)
      const image = yield* printify.uploadImage("design.png", PNG)
      const created = yield* printify.createProduct(product(image.id))
      for (let i = 0; i < PRINTIFY_PUBLISHES_PER_30_MIN; i++) {
        yield* printify.publishingFailed(created.id, "unlock for the next publish")
        yield* printify.publishProduct(created.id)
      }
      const refused = yield* Effect.flip(printify.publishProduct(created.id))
      expect(isRetryable(refused)).toBe(true)
      expect(retryAfterMs(refused)).toBeGreaterThan(29 * 60_000)
      expect(fake.state.publishes).toHaveLength(PRINTIFY_PUBLISHES_PER_30_MIN)
    })
  )
})
