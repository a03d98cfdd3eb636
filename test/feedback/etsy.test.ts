/**
 * The Etsy feedback path against the fake Open API v3 (test/fakes/etsyFeedback.ts): the
 * `etsy-feedback` source -> `feedback.events` -> `feedback-store` into an embedded store.
 * Contract cases on small fixtures, then the real shop data in ../shared/data.
 */
import { existsSync } from "node:fs"
import * as path from "node:path"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { etsyFeedback } from "../../operators/feedback/etsy.ts"
import * as EtsyApi from "../../operators/feedback/etsyApi.ts"
import { recordFeedback } from "../../operators/feedback/record.ts"
import { FeedbackEvent } from "../../operators/schemas.ts"
import { Store } from "../../operators/store/store.ts"
import { httpFailure } from "../../runtime/httpClient.ts"
import { attempt, Sql } from "../../runtime/sql.ts"
import { stream, topology } from "../../runtime/topology.ts"
import { ETSY_KEY, ETSY_TOKEN, SHOP_ID, snapshotFromCsv, startEtsyFeedbackFake, type FakeListing } from "../fakes/etsyFeedback.ts"
import { jsonResponse } from "../fakes/server.ts"
import { failure } from "../sources/harness.ts"
import { uniqueName } from "../support/harness.ts"
import { runtimeLayer, runUntil, seedListings, storeLayer } from "./support.ts"

const feedbackEvents = stream("feedback.events", FeedbackEvent, { eventType: "feedback.received" })

const apiLayer = (url: string, key = ETSY_KEY) =>
  EtsyApi.layer({ baseUrl: url, apiKey: Redacted.make(key), accessToken: Redacted.make(ETSY_TOKEN) })

const pipeline = () =>
  topology({
    name: uniqueName("fb"),
    nodes: [
      etsyFeedback({ shopId: SHOP_ID, every: "50 millis", pageSize: 100, receiptsLookbackDays: 3650 }, { to: feedbackEvents }),
      recordFeedback({ from: feedbackEvents })
    ],
    services: Layer.empty as Layer.Layer<any>
  })

const listing = (id: number, views: number, favorers: number): FakeListing => ({
  listing_id: id,
  shop_id: Number(SHOP_ID),
  title: `listing ${id}`,
  state: "active",
  url: `https://www.etsy.com/listing/${id}`,
  views,
  num_favorers: favorers,
  updated_timestamp: 1_700_000_000
})

const rows = (listingId?: string) =>
  Effect.flatMap(Sql, ({ client }) =>
    attempt("read feedback", () =>
      listingId === undefined
        ? client`select kind, value, occurred_at, idea_id, signal_id, payload from feedback_events order by occurred_at, kind`
        : client`select kind, value, occurred_at, idea_id, signal_id, payload from feedback_events where listing_id = ${listingId} order by occurred_at, kind`
    )
  )
const countRows = Effect.flatMap(Sql, ({ client }) => attempt("count", () => client`select count(*)::int as n from feedback_events`)).pipe(
  Effect.map(([r]) => Number(r?.["n"]))
)

describe("etsy feedback", () => {
  layer(Layer.merge(storeLayer, runtimeLayer), { timeout: "120 seconds", excludeTestServices: true })((it) => {
    it.scoped(
      "differences views and favourites, records sales of our listings, and a second run adds nothing",
      () =>
        Effect.gen(function* () {
          const store = yield* Store
          const seeded = yield* seedListings(store, "etsy", ["900000001", "900000002"])
          const fake = yield* startEtsyFeedbackFake([
            { at: new Date("2023-11-14T12:00:00Z"), listings: [listing(900000001, 100, 5), listing(900000002, 40, 0), listing(900000099, 7, 1)] },
            { at: new Date("2023-11-15T12:00:00Z"), listings: [listing(900000001, 130, 4), listing(900000002, 40, 2), listing(900000099, 9, 1)] }
          ])
          const run = (until: number) =>
            runUntil(pipeline(), Effect.map(countRows, (n) => n >= until)).pipe(Effect.provide(apiLayer(fake.url)))

          // Snapshot 1: 100 views + 5 favourites of one, 40 views of the other (0 favourites: no event), 3 items sold.
          expect(yield* run(5)).toBe(true)
          fake.advance()
          expect(yield* run(8)).toBe(true)
          const first = seeded.get("900000001")!
          const events = (yield* rows(first.listingId)).map((r) => [r["kind"], Number(r["value"]), new Date(r["occurred_at"] as Date).toISOString()])
          expect(events).toEqual([
            ["sale", 2, "2023-11-14T22:13:20.000Z"],
            ["favorite", 5, "2023-11-14T12:00:00.000Z"],
            ["view", 100, "2023-11-14T12:00:00.000Z"],
            ["sale", 1, "2023-11-15T22:13:20.000Z"],
            ["favorite", -1, "2023-11-15T12:00:00.000Z"],
            ["view", 30, "2023-11-15T12:00:00.000Z"]
          ].sort((a, b) => String(a[2]).localeCompare(String(b[2])) || String(a[0]).localeCompare(String(b[0]))))
          const second = (yield* rows(seeded.get("900000002")!.listingId)).map((r) => [r["kind"], Number(r["value"])])
          expect(second).toEqual([["view", 40], ["favorite", 2]])
          // Attributed listing -> idea -> signal.
          const [one] = yield* rows(first.listingId)
          expect([one?.["idea_id"], one?.["signal_id"]]).toEqual([first.ideaId, first.signalId])

          // A second run (a fresh source, as after a restart) over the same snapshot adds nothing.
          const before = yield* countRows
          yield* runUntil(pipeline(), Effect.succeed(false), 1_500).pipe(Effect.provide(apiLayer(fake.url)))
          expect(yield* countRows).toBe(before)
          expect(fake.requests.some((r) => r.path.endsWith("/receipts") && r.query.get("min_created") !== null)).toBe(true)
        }),
      120_000
    )

    it.scoped("quotes Etsy's errors: a bad key is permanent, a 429 retryable with its Retry-After", () =>
      Effect.gen(function* () {
        const fake = yield* startEtsyFeedbackFake([{ at: new Date(), listings: [] }])
        const bad = yield* failure(Effect.flatMap(EtsyApi.EtsyFeedbackApi, (api) => api.listingsByShop(SHOP_ID, { offset: 0, limit: 100 })).pipe(Effect.provide(apiLayer(fake.url, "wrong"))))
        expect(bad._tag).toBe("PermanentError")
        expect(httpFailure(bad)).toMatchObject({ status: 401, body: '{"error":"Invalid API key"}' })
        fake.inject(jsonResponse(429, { error: "Too many requests" }, { "retry-after": "30" }))
        const limited = yield* failure(Effect.flatMap(EtsyApi.EtsyFeedbackApi, (api) => api.receipts(SHOP_ID, { minCreated: 0, offset: 0, limit: 100 })).pipe(Effect.provide(apiLayer(fake.url))))
        expect(limited._tag).toBe("RetryableError")
        expect(httpFailure(limited)?.retryAfterMs).toBe(30_000)
        const tooMany = yield* failure(Effect.flatMap(EtsyApi.EtsyFeedbackApi, (api) => api.listingsByShop(SHOP_ID, { offset: 0, limit: 101 })).pipe(Effect.provide(apiLayer(fake.url))))
        expect(httpFailure(tooMany)).toMatchObject({ status: 400 })
      })
    )

    it.scoped("re-ranks a listing image through uploadListingImage", () =>
      Effect.gen(function* () {
        const fake = yield* startEtsyFeedbackFake([{ at: new Date(), listings: [] }])
        fake.state.images.set("900000001", ["11", "12", "13"])
        yield* Effect.flatMap(EtsyApi.EtsyFeedbackApi, (api) => api.rankListingImage(SHOP_ID, "900000001", "13", 1)).pipe(Effect.provide(apiLayer(fake.url)))
        expect(fake.state.images.get("900000001")).toEqual(["13", "11", "12"])
        const missing = yield* failure(
          Effect.flatMap(EtsyApi.EtsyFeedbackApi, (api) => api.rankListingImage(SHOP_ID, "900000001", "99", 1)).pipe(Effect.provide(apiLayer(fake.url)))
        )
        expect(httpFailure(missing)?.status).toBe(404)
      })
    )
  })

  const DATA = path.join(import.meta.dirname, "..", "..", "..", "shared", "data", "etsy-shop-listings")
  const FILES = [
    ["OldCoinCufflinks_snapshot-2021-01-31.csv", "2021-01-31T12:00:00Z"],
    ["OldCoinCufflinks_snapshot-2021-02-08.csv", "2021-02-08T12:00:00Z"],
    ["OldCoinCufflinks_snapshot-2022-01-15.csv", "2022-01-15T12:00:00Z"]
  ] as const
  const present = existsSync(DATA)
  if (!present) console.warn(`etsy feedback: skipping the shop-data test: ${DATA} is absent`)

  layer(Layer.merge(storeLayer, runtimeLayer), { timeout: "300 seconds", excludeTestServices: true })((it) => {
    it.scoped.skipIf(!present)(
      "three snapshots of a real shop (../shared/data/etsy-shop-listings): the stored differences add up snapshot by snapshot, and a second run adds nothing",
      () =>
        Effect.gen(function* () {
          const snapshots = FILES.map(([file, at]) => snapshotFromCsv(path.join(DATA, file), new Date(at)))
          const ids = [...new Set(snapshots.flatMap((s) => s.listings.map((l) => String(l.listing_id))))]
          const store = yield* Store
          const seeded = yield* seedListings(store, "etsy", ids)
          const fake = yield* startEtsyFeedbackFake(snapshots)
          fake.state.receipts = []

          // What the store must hold after each snapshot: every counter's move from the one before (from 0 at first sight).
          const last = new Map<string, number>()
          const expected = snapshots.map((s) => {
            const moves = new Map<string, number>()
            for (const l of s.listings) {
              for (const [kind, total] of [["view", l.views], ["favorite", l.num_favorers]] as const) {
                const key = `${l.listing_id}:${kind}`
                const delta = total - (last.get(key) ?? 0)
                last.set(key, total)
                if (delta !== 0) moves.set(key, delta)
              }
            }
            return moves
          })
          let total = 0
          for (let i = 0; i < snapshots.length; i++) {
            total += expected[i]!.size
            expect(yield* runUntil(pipeline(), Effect.map(countRows, (n) => n >= total), 240_000).pipe(Effect.provide(apiLayer(fake.url)))).toBe(true)
            if (i < snapshots.length - 1) fake.advance()
          }
          expect(yield* countRows).toBe(total)

          const { client } = yield* Sql
          const stored = yield* attempt("read", () => client`select l.external_id as id, f.kind, f.value, f.occurred_at from feedback_events f join listings l on l.id = f.listing_id`)
          const byDay = snapshots.map(() => new Map<string, number>())
          for (const r of stored) {
            const day = snapshots.findIndex((s) => s.at.getTime() === new Date(r["occurred_at"] as Date).getTime())
            expect(day).toBeGreaterThanOrEqual(0)
            byDay[day]!.set(`${r["id"]}:${r["kind"]}`, Number(r["value"]))
          }
          for (let i = 0; i < snapshots.length; i++) expect(byDay[i]).toEqual(expected[i])
          // A listing seen in all three: its stored views add up to its last reading.
          const sample = snapshots[0]!.listings.find((l) => snapshots[2]!.listings.some((m) => m.listing_id === l.listing_id))!
          const sum = stored.filter((r) => r["id"] === String(sample.listing_id) && r["kind"] === "view").reduce((s, r) => s + Number(r["value"]), 0)
          expect(sum).toBe(snapshots[2]!.listings.find((m) => m.listing_id === sample.listing_id)!.views)
          expect(seeded.size).toBe(ids.length)

          // A second run over the newest snapshot adds nothing.
          yield* runUntil(pipeline(), Effect.succeed(false), 2_000).pipe(Effect.provide(apiLayer(fake.url)))
          expect(yield* countRows).toBe(total)
        }),
      300_000
    )
  })
})
