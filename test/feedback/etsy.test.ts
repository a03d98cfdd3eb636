/**
 * The Etsy feedback path against the fake Open API v3 (test/fakes/etsyFeedback.ts): the
 * `etsy-feedback` source -> `feedback.events` -> `feedback-store` into an embedded store.
 * Contract cases on small fixtures, then the real shop data in ../shared/data.
 */
import { existsSync, readFileSync } from "node:fs"
import * as path from "node:path"
import { describe, expect, layer } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Option, Redacted } from "effect"
import { etsyFeedback, rankListingImage } from "../../operators/feedback/etsy.ts"
import { newExperiment, showOnEtsy, stepExperiment } from "../../operators/feedback/experiments.ts"
import { recordFeedback } from "../../operators/feedback/record.ts"
import { Credentials } from "../../operators/marketplaces/credentials.ts"
import { Etsy } from "../../operators/marketplaces/etsy.ts"
import { FeedbackEvent } from "../../operators/schemas.ts"
import { Store } from "../../operators/store/store.ts"
import * as Http from "../../runtime/httpClient.ts"
import { attempt, Sql } from "../../runtime/sql.ts"
import { stream, topology } from "../../runtime/topology.ts"
import { parseCsv } from "../../operators/csv.ts"
import { type EtsyFake, type FakeListing, KEYSTRING, SHARED_SECRET, SHOP_ID, startEtsyFake, USER_ID } from "../fakes/etsy.ts"
import { jsonFixture } from "../fakes/server.ts"
import { failure } from "../sources/harness.ts"
import { uniqueName } from "../support/harness.ts"
import { runtimeLayer, runUntil, seedListings, storeLayer } from "./support.ts"

const feedbackEvents = stream("feedback.events", FeedbackEvent, { eventType: "feedback.received" })

const credentials = Credentials.layerConfig.pipe(
  Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["DESAINZ_SECRET_KEY", "test-secret-key-0123456789abcdef"]]))))
)

/** The shared Etsy client (operators/marketplaces/etsy.ts) against the fake, as the seller connected it. */
const apiLayer = (fake: EtsyFake) =>
  Etsy.layer({
    apiUrl: fake.apiUrl,
    keystring: KEYSTRING,
    sharedSecret: Redacted.make(SHARED_SECRET),
    shopId: String(SHOP_ID),
    refreshToken: Option.some(Redacted.make(fake.grantRefreshToken()))
  }).pipe(Layer.provide(Layer.merge(Http.layer, credentials)))

/** A listing dump of Etsy API v2 (`findAllShopListingsActive` as CSV) in the v3 `ShopListing` shape of the fake. */
const snapshotFromCsv = (file: string): ReadonlyArray<FakeListing> =>
  parseCsv(readFileSync(file, "utf8"), file).rows.map(({ fields: f }) => listing(Number(f["listing_id"]), Number(f["views"]), Number(f["num_favorers"])))

const pipeline = () =>
  topology({
    name: uniqueName("fb"),
    nodes: [
      etsyFeedback({ every: "50 millis", pageSize: 100, receiptsLookbackDays: 3650 }, { to: feedbackEvents }),
      recordFeedback({ from: feedbackEvents })
    ],
    services: Layer.empty as Layer.Layer<any>
  })

function listing(id: number, views: number, favorers: number): FakeListing {
  return {
    listing_id: id,
    shop_id: SHOP_ID,
    user_id: USER_ID,
    title: `listing ${id}`,
    description: "",
    state: "active",
    quantity: 1,
    price: { amount: 2499, divisor: 100, currency_code: "USD" },
    who_made: "i_did",
    when_made: "made_to_order",
    taxonomy_id: 482,
    shipping_profile_id: null,
    readiness_state_id: null,
    tags: [],
    url: `https://www.etsy.com/listing/${id}`,
    created_timestamp: 1_600_000_000,
    creation_timestamp: 1_600_000_000,
    updated_timestamp: 1_600_000_000,
    views,
    num_favorers: favorers
  }
}

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

/** The receipts of the fixture (Etsy's `ShopReceipt` shape) in the fake's receipt list. */
const fixtureReceipts = () =>
  jsonFixture<{ results: Array<{ receipt_id: number; status: string; created_timestamp: number; transactions: Array<{ transaction_id: number; listing_id: number; quantity: number; sku: string; created_timestamp: number }> }> }>(
    "etsy",
    "receipts.json"
  ).results

describe("etsy feedback", () => {
  layer(Layer.merge(storeLayer, runtimeLayer), { timeout: "120 seconds", excludeTestServices: true })((it) => {
    it.scoped(
      "differences views and favourites, records sales of our listings, and a second run adds nothing",
      () =>
        Effect.gen(function* () {
          const store = yield* Store
          const seeded = yield* seedListings(store, "etsy", ["900000001", "900000002"])
          const fake = yield* startEtsyFake({ limitPerSecond: 1_000 })
          fake.state.receipts.push(...fixtureReceipts())
          const run = (until: number) => runUntil(pipeline(), Effect.map(countRows, (n) => n >= until)).pipe(Effect.provide(apiLayer(fake)))

          // Reading 1: 100 views + 5 favourites of one, 40 views of the other (0 favourites: no event); 3 items sold.
          fake.showListings([listing(900000001, 100, 5), listing(900000002, 40, 0), listing(900000099, 7, 1)])
          expect(yield* run(5)).toBe(true)
          const firstRead = Date.now()
          fake.showListings([listing(900000001, 130, 4), listing(900000002, 40, 2), listing(900000099, 9, 1)])
          expect(yield* run(8)).toBe(true)

          const first = seeded.get("900000001")!
          const events = (yield* rows(first.listingId)).map((r) => ({ kind: r["kind"], value: Number(r["value"]), at: new Date(r["occurred_at"] as Date).getTime() }))
          // Sales at the receipts' times (the canceled receipt is none), counters at the time they were read.
          expect(events.filter((e) => e.kind === "sale").map((e) => [e.value, new Date(e.at).toISOString()])).toEqual([
            [2, "2023-11-14T22:13:20.000Z"],
            [1, "2023-11-15T22:13:20.000Z"]
          ])
          const counters = events.filter((e) => e.kind !== "sale")
          expect(counters.map((e) => [e.kind, e.value])).toEqual([["favorite", 5], ["view", 100], ["favorite", -1], ["view", 30]])
          expect(counters[0]!.at).toBeLessThanOrEqual(firstRead)
          expect(counters[2]!.at).toBeGreaterThan(counters[0]!.at)
          const second = (yield* rows(seeded.get("900000002")!.listingId)).map((r) => [r["kind"], Number(r["value"])])
          expect(second).toEqual([["view", 40], ["favorite", 2]])
          // Attributed listing -> idea -> signal.
          const [one] = yield* rows(first.listingId)
          expect([one?.["idea_id"], one?.["signal_id"]]).toEqual([first.ideaId, first.signalId])

          // A second run (a fresh source, as after a restart) over the same figures adds nothing.
          const before = yield* countRows
          yield* runUntil(pipeline(), Effect.succeed(false), 1_500).pipe(Effect.provide(apiLayer(fake)))
          expect(yield* countRows).toBe(before)
          expect(fake.requests.some((r) => r.path.endsWith("/receipts") && r.query.get("min_created") !== null)).toBe(true)
        }),
      120_000
    )

    it.scoped("re-ranks a listing image through uploadListingImage (the variant shown first)", () =>
      Effect.gen(function* () {
        const fake = yield* startEtsyFake({ limitPerSecond: 1_000 })
        fake.showListings([listing(900000001, 0, 0)])
        const image = (id: number, rank: number) => ({ listing_image_id: id, listing_id: 900000001, rank, alt_text: null, sha256: "", bytes: 1, content_type: "image/jpeg" })
        fake.state.images.set(900000001, [image(11, 1), image(12, 2), image(13, 3)])
        yield* rankListingImage("900000001", "13", 1).pipe(Effect.provide(apiLayer(fake)))
        expect(fake.state.images.get(900000001)!.sort((a, b) => a.rank - b.rank).map((i) => i.listing_image_id)).toEqual([13, 11, 12])
        const missing = yield* failure(rankListingImage("900000001", "99", 1).pipe(Effect.provide(apiLayer(fake))))
        expect(Http.httpFailure(missing)?.status).toBe(404)
      })
    )
  })

  layer(Layer.merge(storeLayer, runtimeLayer), { timeout: "120 seconds", excludeTestServices: true })((it) => {
    it.scoped("an A/B step shows the picked variant by making its image the listing's first", () =>
      Effect.gen(function* () {
        const store = yield* Store
        const fake = yield* startEtsyFake({ limitPerSecond: 1_000 })
        fake.showListings([listing(900000007, 0, 0)])
        const image = (id: number, rank: number) => ({ listing_image_id: id, listing_id: 900000007, rank, alt_text: null, sha256: "", bytes: 1, content_type: "image/jpeg" })
        fake.state.images.set(900000007, [image(21, 1), image(22, 2)])
        const seeded = yield* seedListings(store, "etsy", ["900000007"])
        const t0 = Date.parse("2026-01-01T00:00:00Z")
        const experiment = newExperiment({
          listingId: seeded.get("900000007")!.listingId,
          name: "primary image",
          metric: "ctr",
          variants: [{ key: "black", label: "black", imageId: "21" }, { key: "white", label: "white", imageId: "22" }],
          periodHours: 24,
          now: t0
        })
        yield* store.createExperiment(experiment, { startsAt: new Date(t0), variant: "black" })
        const outcome = yield* stepExperiment(experiment, t0 + 24 * 3_600_000, showOnEtsy).pipe(Effect.provide(apiLayer(fake)))
        expect(outcome._tag).toBe("Next")
        const shown = outcome._tag === "Next" ? outcome.variant : undefined
        const first = fake.state.images.get(900000007)!.find((i) => i.rank === 1)!
        expect(String(first.listing_image_id)).toBe(shown?.imageId)
        const rerank = fake.requests.filter((r) => r.method === "POST" && r.path.endsWith("/listings/900000007/images"))
        expect(rerank).toHaveLength(1)
      })
    )
  })

  const DATA = path.join(import.meta.dirname, "..", "..", "..", "shared", "data", "etsy-shop-listings")
  const FILES = ["OldCoinCufflinks_snapshot-2021-01-31.csv", "OldCoinCufflinks_snapshot-2021-02-08.csv", "OldCoinCufflinks_snapshot-2022-01-15.csv"]
  const present = existsSync(DATA)
  if (!present) console.warn(`etsy feedback: skipping the shop-data test: ${DATA} is absent`)

  layer(Layer.merge(storeLayer, runtimeLayer), { timeout: "300 seconds", excludeTestServices: true })((it) => {
    it.scoped.skipIf(!present)(
      "three snapshots of a real shop (../shared/data/etsy-shop-listings): the stored differences add up snapshot by snapshot, and a second run adds nothing",
      () =>
        Effect.gen(function* () {
          const snapshots = FILES.map((file) => snapshotFromCsv(path.join(DATA, file)))
          const ids = [...new Set(snapshots.flatMap((s) => s.map((l) => String(l.listing_id))))]
          const store = yield* Store
          yield* seedListings(store, "etsy", ids)
          const fake = yield* startEtsyFake({ limitPerSecond: 10_000 })

          // What the store must hold after each snapshot: every counter's move from the one before (from 0 at first sight).
          const last = new Map<string, number>()
          const expected = snapshots.map((s) => {
            const moves = new Map<string, number>()
            for (const l of s) {
              for (const [kind, total] of [["view", l.views!], ["favorite", l.num_favorers!]] as const) {
                const key = `${l.listing_id}:${kind}`
                const delta = total - (last.get(key) ?? 0)
                last.set(key, total)
                if (delta !== 0) moves.set(key, delta)
              }
            }
            return moves
          })
          let total = 0
          const readAt: Array<number> = []
          for (let i = 0; i < snapshots.length; i++) {
            fake.showListings(snapshots[i]!)
            total += expected[i]!.size
            expect(yield* runUntil(pipeline(), Effect.map(countRows, (n) => n >= total), 240_000).pipe(Effect.provide(apiLayer(fake)))).toBe(true)
            readAt.push(Date.now())
          }
          expect(yield* countRows).toBe(total)

          const { client } = yield* Sql
          const stored = yield* attempt("read", () => client`select l.external_id as id, f.kind, f.value, f.occurred_at from feedback_events f join listings l on l.id = f.listing_id`)
          const bySnapshot = snapshots.map(() => new Map<string, number>())
          for (const r of stored) {
            // Each snapshot was read after the previous one's run ended.
            const at = new Date(r["occurred_at"] as Date).getTime()
            const n = readAt.findIndex((end) => at <= end)
            bySnapshot[n]!.set(`${r["id"]}:${r["kind"]}`, Number(r["value"]))
          }
          for (let i = 0; i < snapshots.length; i++) expect(bySnapshot[i]).toEqual(expected[i])
          // A listing seen in all three: its stored views add up to its last reading.
          const sample = snapshots[0]!.find((l) => snapshots[2]!.some((m) => m.listing_id === l.listing_id))!
          const sum = stored.filter((r) => r["id"] === String(sample.listing_id) && r["kind"] === "view").reduce((s, r) => s + Number(r["value"]), 0)
          expect(sum).toBe(snapshots[2]!.find((m) => m.listing_id === sample.listing_id)!.views)

          // A second run over the newest snapshot adds nothing.
          yield* runUntil(pipeline(), Effect.succeed(false), 2_000).pipe(Effect.provide(apiLayer(fake)))
          expect(yield* countRows).toBe(total)
        }),
      300_000
    )
  })
})
