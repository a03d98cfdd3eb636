/**
 * Contract tests of the Etsy client (operators/marketplaces/etsy.ts) against the fake Open API v3
 * (test/fakes/etsy.ts): headers, the refresh-token grant, a 401 on an expired token, the
 * rate-limit headers and a 429, and Etsy's own 400 bodies classified as permanent.
 */
import { describe, expect, layer } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Option, Redacted, TestClock, TestContext } from "effect"
import { Credentials } from "../../operators/marketplaces/credentials.ts"
import { ETSY_REFRESH_TOKEN } from "../../operators/marketplaces/etsy.ts"
import { connectEtsy } from "../../operators/marketplaces/etsyConnect.ts"
import { Store } from "../../operators/store/store.ts"
import * as Etsy from "../../operators/marketplaces/etsy.ts"
import { isRetryable, retryAfterMs } from "../../runtime/errors.ts"
import * as Http from "../../runtime/httpClient.ts"
import { startEtsyFake, KEYSTRING, SHARED_SECRET, SHOP_ID } from "../fakes/etsy.ts"
import { jsonResponse } from "../fakes/server.ts"
import { migratedStore } from "../support/store.ts"

const SECRET_KEY = "test-secret-key-0123456789abcdef"
const withEnv = (vars: Record<string, string>) => Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(vars))))

const credentials = Credentials.layerConfig.pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["DESAINZ_SECRET_KEY", SECRET_KEY]])))))

const draft: Etsy.DraftListing = {
  quantity: 999,
  title: "Teacher Life Shirt - Back to School Gift",
  description: "A shirt.",
  price: 24.99,
  who_made: "someone_else",
  when_made: "made_to_order",
  taxonomy_id: 482,
  shipping_profile_id: 1001,
  readiness_state_id: 2002,
  tags: ["teacher", "back to school"]
}

const client = (apiUrl: string, refreshToken?: string) =>
  Etsy.make({
    apiUrl,
    keystring: KEYSTRING,
    sharedSecret: Redacted.make(SHARED_SECRET),
    shopId: String(SHOP_ID),
    refreshToken: refreshToken === undefined ? Option.none() : Option.some(Redacted.make(refreshToken))
  })

layer(Layer.merge(credentials.pipe(Layer.provideMerge(migratedStore("desainz-etsy-"))), Http.layer), { timeout: "60 seconds", excludeTestServices: true })("etsy client", (it) => {
  describe("auth", () => {
    it.scoped("refreshes an access token from ETSY_REFRESH_TOKEN, sends both headers, and keeps the rotated refresh token sealed", () =>
      Effect.gen(function* () {
        const fake = yield* startEtsyFake()
        const etsy = yield* client(fake.apiUrl, fake.grantRefreshToken())
        const created = yield* etsy.createDraftListing(draft)
        expect(created.state).toBe("draft")
        expect(fake.state.listings.get(created.listing_id)?.tags).toEqual(["teacher", "back to school"])
        const [token, create] = fake.requests
        expect(token?.path).toBe("/v3/public/oauth/token")
        expect(create?.headers.get("x-api-key")).toBe(`${KEYSTRING}:${SHARED_SECRET}`)
        expect(create?.headers.get("authorization")).toMatch(/^Bearer 12345678\./)
        expect(create?.headers.get("content-type")).toContain("application/x-www-form-urlencoded")
        // The newest refresh token is in the store, sealed: it opens with the key, and is not stored in the clear.
        const stored = Option.getOrThrow(yield* (yield* Credentials).load(ETSY_REFRESH_TOKEN))
        expect(fake.state.refreshTokens.has(Redacted.value(stored))).toBe(true)
        const sealed = Option.getOrThrow(yield* (yield* Store).loadCredential(ETSY_REFRESH_TOKEN))
        expect(sealed).not.toContain(Redacted.value(stored).split(".")[1])
      })
    )

    it.scoped("an expired access token gets a 401; the client refreshes once and repeats the call", () =>
      Effect.gen(function* () {
        const fake = yield* startEtsyFake()
        const etsy = yield* client(fake.apiUrl, fake.grantRefreshToken())
        const created = yield* etsy.createDraftListing(draft)
        fake.expireAccessTokens()
        const before = fake.requests.length
        const listing = yield* etsy.getListing(created.listing_id)
        expect(listing.listing_id).toBe(created.listing_id)
        expect(fake.statuses.slice(before)).toEqual([401, 200, 200])
        expect(fake.requests.slice(before).map((r) => r.path)).toEqual([
          `/v3/application/listings/${created.listing_id}`,
          "/v3/public/oauth/token",
          `/v3/application/listings/${created.listing_id}`
        ])
      })
    )

    it.scoped("a refresh token Etsy refuses is a permanent error quoting Etsy's reason", () =>
      Effect.gen(function* () {
        const fake = yield* startEtsyFake()
        const etsy = yield* client(fake.apiUrl, "12345678.not-a-known-token")
        const error = yield* Effect.flip(etsy.getListing(1))
        expect(isRetryable(error)).toBe(false)
        expect(error.message).toContain("invalid_grant: Invalid refresh token")
      }).pipe(withEnv({}))
    )
  })

  describe("desainz etsy connect", () => {
    it.scoped("runs the authorization-code flow with PKCE on a loopback redirect and stores the refresh token sealed", () =>
      Effect.gen(function* () {
        const fake = yield* startEtsyFake()
        const approve = (url: string) =>
          Effect.sync(() => {
            const q = new URL(url).searchParams
            expect(q.get("code_challenge_method")).toBe("S256")
            expect(q.get("scope")).toBe("listings_r listings_w shops_r transactions_r")
            expect(q.get("redirect_uri")).toMatch(/^http:\/\/localhost:\d+\/callback$/)
            // The seller approves on Etsy, which redirects the browser to the loopback URL.
            const code = fake.authorize(q.get("code_challenge")!, q.get("redirect_uri")!)
            void fetch(`${q.get("redirect_uri")}?code=${code}&state=${q.get("state")}`)
          })
        const { userId } = yield* connectEtsy({ port: 0, timeout: "20 seconds", onAuthorizeUrl: approve }).pipe(
          withEnv({ ETSY_KEYSTRING: KEYSTRING, ETSY_API_URL: fake.apiUrl, ETSY_CONNECT_URL: "https://www.etsy.com/oauth/connect", DESAINZ_SECRET_KEY: SECRET_KEY })
        )
        expect(userId).toBe("12345678")
        // A client with no ETSY_REFRESH_TOKEN now works from the stored one.
        const etsy = yield* client(fake.apiUrl)
        expect((yield* etsy.createDraftListing(draft)).state).toBe("draft")
      })
    )

    it.scoped("a refusal on Etsy's page ends the command with Etsy's reason", () =>
      Effect.gen(function* () {
        const fake = yield* startEtsyFake()
        const refuse = (url: string) =>
          Effect.sync(() => {
            const q = new URL(url).searchParams
            void fetch(`${q.get("redirect_uri")}?error=access_denied&error_description=The+user+denied+the+request&state=${q.get("state")}`)
          })
        const error = yield* Effect.flip(
          connectEtsy({ port: 0, timeout: "20 seconds", onAuthorizeUrl: refuse }).pipe(
            withEnv({ ETSY_KEYSTRING: KEYSTRING, ETSY_API_URL: fake.apiUrl, DESAINZ_SECRET_KEY: SECRET_KEY })
          )
        )
        expect(error.message).toContain("Etsy refused: access_denied: The user denied the request")
      })
    )
  })

  describe("rate limits", () => {
    it.scoped("reads the x-limit / x-remaining headers and waits out a spent second instead of drawing 429s", () =>
      Effect.gen(function* () {
        const fake = yield* startEtsyFake({ limitPerSecond: 3 })
        const etsy = yield* client(fake.apiUrl, fake.grantRefreshToken())
        const created = yield* etsy.createDraftListing(draft)
        for (let i = 0; i < 7; i++) yield* etsy.getListing(created.listing_id)
        expect(fake.statuses.filter((s) => s === 429)).toEqual([])
        const budget = yield* etsy.budget
        expect(budget.limitPerSecond).toBe(3)
        expect(budget.limitPerDay).toBe(10_000)
        expect(budget.remainingToday).toBe(10_000 - 8)
      })
    )

    it.scoped("a spent day's budget refuses calls, then lets one through every 15 minutes to find it refilled", () =>
      Effect.gen(function* () {
        const fake = yield* startEtsyFake({ limitPerDay: 3 })
        const etsy = yield* client(fake.apiUrl, fake.grantRefreshToken())
        const created = yield* etsy.createDraftListing(draft)
        yield* etsy.getListing(created.listing_id)
        yield* etsy.getListing(created.listing_id)
        expect((yield* etsy.budget).remainingToday).toBe(0)
        const refused = yield* Effect.flip(etsy.getListing(created.listing_id))
        expect(refused.message).toContain("day's request budget is spent")
        expect(retryAfterMs(refused)).toBe(15 * 60_000)
        const sent = fake.requests.length
        yield* TestClock.adjust("10 minutes")
        expect(retryAfterMs(yield* Effect.flip(etsy.getListing(created.listing_id)))).toBe(5 * 60_000)
        expect(fake.requests.length).toBe(sent)
        // Etsy's day refills; the first call after the wait finds out.
        fake.state.usedToday = 0
        yield* TestClock.adjust("5 minutes")
        expect((yield* etsy.getListing(created.listing_id)).listing_id).toBe(created.listing_id)
        expect((yield* etsy.budget).remainingToday).toBe(2)
      }).pipe(Effect.provide(TestContext.TestContext))
    )

    it.scoped("a 429 is retried after its wait; one that persists is retryable with the wait on the error", () =>
      Effect.gen(function* () {
        const fake = yield* startEtsyFake()
        const etsy = yield* client(fake.apiUrl, fake.grantRefreshToken())
        const created = yield* etsy.createDraftListing(draft)
        const limited = jsonResponse(429, { error: "You have exceeded your quota of requests" }, { "retry-after": "1", "x-remaining-this-second": "0" })
        fake.inject(limited)
        expect((yield* etsy.getListing(created.listing_id)).listing_id).toBe(created.listing_id)
        fake.inject(limited, limited, limited)
        const error = yield* Effect.flip(etsy.getListing(created.listing_id))
        expect(isRetryable(error)).toBe(true)
        expect(Http.httpFailure(error)).toMatchObject({ status: 429, retryAfterMs: 1000 })
      })
    )
  })

  describe("errors", () => {
    it.scoped("Etsy's 400 body is a permanent error carrying Etsy's message; a create is never repeated inside the call", () =>
      Effect.gen(function* () {
        const fake = yield* startEtsyFake()
        const etsy = yield* client(fake.apiUrl, fake.grantRefreshToken())
        const error = yield* Effect.flip(etsy.createDraftListing({ ...draft, tags: ["this tag is far too long for etsy"] }))
        expect(isRetryable(error)).toBe(false)
        expect(error.message).toContain('tags: \\"this tag is far too long for etsy\\" must be 20 characters or fewer')
        fake.inject(jsonResponse(503, { error: "Service Unavailable" }))
        const unavailable = yield* Effect.flip(etsy.createDraftListing(draft))
        expect(isRetryable(unavailable)).toBe(true)
        expect(fake.state.creates).toEqual([])
      })
    )

    it.effect("without a shop configured, every call fails permanently and names what to set", () =>
      Effect.gen(function* () {
        const etsy = yield* Effect.provide(Etsy.Etsy, Etsy.Etsy.layerUnconfigured)
        const error = yield* Effect.flip(etsy.createDraftListing(draft))
        expect(isRetryable(error)).toBe(false)
        expect(error.message).toContain("ETSY_KEYSTRING")
        expect(yield* Effect.flip(etsy.getShopReceipts({}))).toMatchObject({ _tag: "PermanentError" })
      })
    )
  })
})
