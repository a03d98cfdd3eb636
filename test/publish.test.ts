/**
 * The publish node with every publisher, run by the worker (embedded transport) against the fake
 * Etsy and Printify servers, a PGlite store and a local blob folder: one listing row per
 * marketplace with the remote id, URL and state; a listing for a marketplace not configured
 * dead-lettered with the reason; the Redbubble and Amazon Merch bundles; Etsy's
 * own 400 message on a dead letter and on the failed row; and the lost answers of a create or
 * an upload reconciled instead of repeated.
 */
import * as path from "node:path"
import { describe, expect, layer } from "@effect/vitest"
import { ConfigProvider, Context, Effect, Layer, Option } from "effect"
import sharp from "sharp"
import { Hono } from "hono"
import type { IdeaListingsResponse } from "../operators/api/contract.ts"
import { listingsApi } from "../operators/api/listings.ts"
import { Credentials } from "../operators/marketplaces/credentials.ts"
import { amazonMerch, MERCH_LIMITS } from "../operators/publishers/amazonMerch.ts"
import { etsy, skuOf } from "../operators/publishers/etsy.ts"
import { exportBundle } from "../operators/publishers/export.ts"
import { Marketplace } from "../operators/publishers/marketplace.ts"
import { printify } from "../operators/publishers/printify.ts"
import { publish } from "../operators/publishers/publish.ts"
import { redbubble, REDBUBBLE_TSHIRT } from "../operators/publishers/redbubble.ts"
import { Listing } from "../operators/schemas.ts"
import { Store } from "../operators/store/store.ts"
import { BlobStore } from "../runtime/blobs.ts"
import { listDeadLetters } from "../runtime/dlq.ts"
import { isRetryable } from "../runtime/errors.ts"
import { makeKeys } from "../runtime/keys.ts"
import * as Http from "../runtime/httpClient.ts"
import { attempt, Sql } from "../runtime/sql.ts"
import { stream, topology } from "../runtime/topology.ts"
import { Transport } from "../runtime/transport.ts"
import * as EtsyFake from "./fakes/etsy.ts"
import * as PrintifyFake from "./fakes/printify.ts"
import { Metrics } from "../runtime/metrics.ts"
import { feeder, startWorker, transportCases, uniqueName, waitUntil } from "./support/harness.ts"
import { approvedListing, forMarketplace } from "./support/approvedListings.ts"
import { migratedStore, tempDir } from "./support/store.ts"

const embedded = transportCases.find((t) => t.name === "embedded")!
const SECRET = "publish-test-secret-key-0123456789"

/** Runs `body` with a fresh in-process transport and metrics, as the worker harness does. */
const inWorker = <A, E, R>(body: Effect.Effect<A, E, R>) =>
  Effect.scoped(body).pipe(Effect.provide(Layer.merge(embedded.layer(), Metrics.layer)))

const PUBLISHERS = [
  exportBundle(),
  etsy({ taxonomyId: 482, shippingProfileId: 1001, readinessStateId: 2002 }),
  printify({
    blueprintId: PrintifyFake.BLUEPRINT_ID,
    printProviderId: PrintifyFake.PRINT_PROVIDER_ID,
    confirmPublishing: true,
    storefrontUrl: "https://shop.example/products"
  }),
  redbubble(),
  amazonMerch({ brand: "Coffee Club Studio" })
]

const base = Layer.mergeAll(
  migratedStore("desainz-publish-"),
  Layer.unwrapScoped(Effect.map(tempDir("desainz-publish-blobs-"), (dir) => BlobStore.layerLocal({ root: path.join(dir, "blobs") })))
)

/** Everything the publish node needs, with the marketplaces pointed at the fakes. */
const marketplaces = (names: ReadonlyArray<string>, env: Record<string, string>) =>
  Effect.gen(function* () {
    const context = yield* Effect.context<Store | BlobStore | Sql>()
    const provider = ConfigProvider.fromMap(new Map(Object.entries({ DESAINZ_SECRET_KEY: SECRET, ...env })))
    const built = yield* Layer.build(
      Marketplace.layer(PUBLISHERS, names).pipe(
        Layer.provide(Layer.mergeAll(Http.layer, Credentials.layerConfig, Layer.succeedContext(context))),
        Layer.provide(Layer.setConfigProvider(provider))
      )
    )
    return Context.merge(context, built)
  })

const fakes = Effect.gen(function* () {
  const etsyFake = yield* EtsyFake.startEtsyFake()
  const printifyFake = yield* PrintifyFake.startPrintifyFake()
  return {
    etsyFake,
    printifyFake,
    env: {
      ETSY_API_URL: etsyFake.apiUrl,
      ETSY_KEYSTRING: EtsyFake.KEYSTRING,
      ETSY_SHARED_SECRET: EtsyFake.SHARED_SECRET,
      ETSY_SHOP_ID: String(EtsyFake.SHOP_ID),
      ETSY_REFRESH_TOKEN: etsyFake.grantRefreshToken(),
      PRINTIFY_API_URL: printifyFake.apiUrl,
      PRINTIFY_TOKEN: PrintifyFake.TOKEN,
      PRINTIFY_SHOP_ID: String(PrintifyFake.SHOP_ID)
    }
  }
})

/** feeder -> listings.approved -> publish -> listings.published, in-process. */
const pipeline = (context: Context.Context<any>, names: ReadonlyArray<string>) => {
  const approved = stream("listings.approved", Listing)
  const published = stream("listings.published", Listing)
  const feed = feeder("approved-feed", approved)
  const t = topology({
    name: uniqueName("publish"),
    nodes: [
      feed.node,
      publish({ marketplaces: names }, { from: approved, to: published }, { maxAttempts: 4, claimIdleMs: 2_000, backoff: { initialMs: 20, maxMs: 100 } })
    ],
    services: Layer.succeedContext(context)
  })
  return { t, feed, published }
}

const publishedCount = (name: string) =>
  Effect.flatMap(Transport, (tr) => Effect.map(tr.info(makeKeys(name).stream("listings.published")), (i) => i.length)).pipe(Effect.orElseSucceed(() => 0))

/** Waits until `count` listings are published; a dead letter on the way fails the wait with its error. */
const settled = (t: { name: string } & Parameters<typeof listDeadLetters>[0], keys: Parameters<typeof listDeadLetters>[1], count: number) =>
  Effect.gen(function* () {
    yield* waitUntil(
      `${count} published listings (or a dead letter)`,
      Effect.zipWith(publishedCount(t.name), listDeadLetters(t, keys, "publish"), (n, letters) => n === count || letters.length > 0),
      50_000
    )
    expect((yield* listDeadLetters(t, keys, "publish")).map((l) => l.error)).toEqual([])
  })

const rowsOf = (ideaId: string) =>
  Effect.flatMap(Sql, ({ client }) =>
    attempt("read listings", () =>
      client<Array<{ marketplace: string; status: string; external_id: string | null; url: string | null; remote_state: string | null; reason: string | null }>>`
        select marketplace, status, external_id, url, remote_state, reason from listings where idea_id = ${ideaId} order by marketplace`
    )
  )

layer(base, { timeout: "120 seconds", excludeTestServices: true })("publish", (it) => {
  it.scoped("publishes an approved listing to every configured marketplace: one row each, with the remote id, URL and state", () =>
    Effect.gen(function* () {
      const { etsyFake, printifyFake, env } = yield* fakes
      const names = ["etsy", "printify", "redbubble", "amazon-merch", "export"]
      const context = yield* marketplaces(names, env)
      const listing = yield* approvedListing(1).pipe(Effect.provide(context))
      yield* inWorker(
        Effect.gen(function* () {
          const { t, feed } = pipeline(context, names)
          const w = yield* startWorker(t)
          feed.push(...names.map((m) => ({ data: forMarketplace(listing, m), key: m })))
          yield* settled(t, w.keys, 5)
          yield* w.stop
        })
      )

      // Etsy: one draft, the SKU set through the inventory, both mock-ups in rank order.
      const [onEtsy, ...more] = etsyFake.listingsTitled(listing.title)
      expect(more).toEqual([])
      expect(onEtsy).toMatchObject({ state: "draft", tags: listing.tags, taxonomy_id: 482, shipping_profile_id: 1001, readiness_state_id: 2002 })
      expect(etsyFake.state.inventory.get(onEtsy!.listing_id)?.[0]?.sku).toBe(skuOf(listing.ideaId))
      expect(etsyFake.state.images.get(onEtsy!.listing_id)?.map((i) => [i.rank, i.alt_text, i.content_type])).toEqual([
        [1, `${listing.title} - front, black`, "image/jpeg"],
        [2, `${listing.title} - front, white`, "image/jpeg"]
      ])
      // Printify: one product, published, and confirmed for the API shop.
      expect(printifyFake.state.creates).toHaveLength(1)
      const product = printifyFake.state.products.get(printifyFake.state.creates[0]!)!
      expect(product.variants.map((v) => v.id)).toEqual(PrintifyFake.VARIANT_IDS)
      expect(product.external?.handle).toMatch(/^https:\/\/shop\.example\/products\//)

      const rows = yield* rowsOf(listing.ideaId).pipe(Effect.provide(context))
      expect(rows.map((r) => [r.marketplace, r.status, r.remote_state])).toEqual([
        ["amazon-merch", "exported", null],
        ["etsy", "published", "draft"],
        ["export", "published", null],
        ["printify", "published", "published"],
        ["redbubble", "exported", null]
      ])
      const byName = new Map(rows.map((r) => [r.marketplace, r]))
      expect(byName.get("etsy")).toMatchObject({ external_id: String(onEtsy!.listing_id), url: onEtsy!.url, reason: null })
      expect(byName.get("printify")).toMatchObject({ external_id: product.id, url: product.external!.handle })

      // The API the UI links from: web links only, bundle files served by the app.
      const app = new Hono()
      listingsApi()(app, {
        run: (effect) => Effect.runPromiseExit(Effect.provide(effect, context) as Effect.Effect<any, any>),
        emit: () => Effect.die("unused"),
        requireToken: (_c, next) => next()
      })
      const body = (yield* Effect.promise(async () => (await app.request(`/api/ideas/${listing.ideaId}/listings`)).json())) as IdeaListingsResponse
      expect(body.listings.map((l) => [l.marketplace, l.status, l.url])).toEqual([
        ["amazon-merch", "exported", `/blobs/published-assets/amazon-merch/${listing.ideaId}/design.png`],
        ["etsy", "published", onEtsy!.url],
        ["export", "published", `/blobs/published-assets/export/${listing.ideaId}/print.png`],
        ["printify", "published", product.external!.handle],
        ["redbubble", "exported", `/blobs/published-assets/redbubble/${listing.ideaId}/design.png`]
      ])
      expect((yield* Effect.promise(async () => await app.request("/api/ideas/not-a-uuid/listings"))).status).toBe(400)

      // The bundles of the marketplaces without an upload API.
      const blobs = context.unsafeMap.get(BlobStore.key) as Context.Tag.Service<BlobStore>
      const rb = yield* blobs.get(`published-assets/redbubble/${listing.ideaId}/design.png`)
      expect(yield* Effect.promise(() => sharp(rb).metadata())).toMatchObject({ format: "png", width: REDBUBBLE_TSHIRT.width, height: REDBUBBLE_TSHIRT.height, hasAlpha: true })
      const rbCsv = Buffer.from(yield* blobs.get(`published-assets/redbubble/${listing.ideaId}/redbubble.csv`)).toString()
      expect(rbCsv.split("\n")[0]).toBe("title,tags,description,artwork_file,default_product_color")
      const merch = yield* blobs.get(`published-assets/amazon-merch/${listing.ideaId}/design.png`)
      expect(yield* Effect.promise(() => sharp(merch).metadata())).toMatchObject({ format: "png", width: 4500, height: 5400 })
      const merchRow = Buffer.from(yield* blobs.get(`published-assets/amazon-merch/${listing.ideaId}/merch.csv`)).toString().split("\n")
      expect(merchRow[0]).toBe("product_type,marketplace,brand,title,bullet_point_1,bullet_point_2,description,list_price,fit_types,colors,artwork_file")
      const title = merchRow[1]!.split(",")[3]!
      expect(title.length).toBeLessThanOrEqual(MERCH_LIMITS.title)
      expect(listing.title.startsWith(title)).toBe(true)
    })
  )

  it.scoped("Etsy's 400 is dead-lettered with Etsy's own message, and the listing row is failed with that reason", () =>
    Effect.gen(function* () {
      const { env } = yield* fakes
      const context = yield* marketplaces(["etsy"], env)
      const listing = yield* approvedListing(2, { tags: ["teacher's #1 gift"], marketplace: "etsy" }).pipe(Effect.provide(context))
      yield* inWorker(
        Effect.gen(function* () {
          const { t, feed } = pipeline(context, ["etsy"])
          const w = yield* startWorker(t)
          feed.push({ data: listing })
          yield* waitUntil("a dead letter", Effect.map(listDeadLetters(t, w.keys, "publish"), (l) => l.length === 1), 60_000)
          const [letter] = yield* listDeadLetters(t, w.keys, "publish")
          expect(letter!.error).toContain(`etsy: tags: "teacher's #1 gift" must be 20 characters or fewer`)
          expect(letter!.attempts).toBe(1)
          yield* w.stop
        })
      )
      const [row] = yield* rowsOf(listing.ideaId).pipe(Effect.provide(context))
      expect(row).toMatchObject({ marketplace: "etsy", status: "failed" })
      expect(row!.reason).toContain("(HTTP 400)")
    })
  )

  it.scoped("a create and an upload whose answers are lost are reconciled on the retry: one listing, each image once", () =>
    Effect.gen(function* () {
      const { etsyFake, env } = yield* fakes
      const context = yield* marketplaces(["etsy"], { ...env, ETSY_STATE: "active" })
      const listing = yield* approvedListing(3, { marketplace: "etsy" }).pipe(Effect.provide(context))
      etsyFake.state.loseNext.push({ method: "POST", path: /\/shops\/\d+\/listings$/ }, { method: "POST", path: /\/images$/ })
      yield* inWorker(
        Effect.gen(function* () {
          const { t, feed } = pipeline(context, ["etsy"])
          const w = yield* startWorker(t)
          feed.push({ data: listing })
          yield* settled(t, w.keys, 1)
          yield* w.stop
        })
      )
      expect(etsyFake.statuses.filter((s) => s === 502)).toHaveLength(2)
      expect(etsyFake.state.creates).toHaveLength(1)
      const id = etsyFake.state.creates[0]!
      expect(etsyFake.state.uploads.map((u) => u.listing_id)).toEqual([id, id])
      expect(etsyFake.state.images.get(id)?.map((i) => i.rank)).toEqual([1, 2])
      const intent = yield* Effect.flatMap(Sql, ({ client }) =>
        attempt("intent", () => client`select attempt, remote_id from publish_intents where idea_id = ${listing.ideaId}`)
      ).pipe(Effect.provide(context))
      expect(intent[0]).toMatchObject({ attempt: 3, remote_id: String(id) })
      const [row] = yield* rowsOf(listing.ideaId).pipe(Effect.provide(context))
      expect(row).toMatchObject({ status: "published", remote_state: "active", external_id: String(id) })
    })
  )

  it.scoped("two deliveries of one approved listing at once (an approval sent twice) make one listing", () =>
    Effect.gen(function* () {
      const { etsyFake, env } = yield* fakes
      const context = yield* marketplaces(["etsy"], env)
      const listing = yield* approvedListing(7, { marketplace: "etsy" }).pipe(Effect.provide(context))
      yield* inWorker(
        Effect.gen(function* () {
          const { t, feed } = pipeline(context, ["etsy"])
          const w = yield* startWorker(t)
          // What the approve API emits when called twice: one batch, the same key.
          feed.push({ data: listing, key: `approved:${listing.ideaId}:etsy` }, { data: listing, key: `approved:${listing.ideaId}:etsy` })
          yield* settled(t, w.keys, 2)
          yield* w.stop
        })
      )
      expect(etsyFake.state.creates).toHaveLength(1)
      const id = etsyFake.state.creates[0]!
      expect(etsyFake.state.uploads.map((u) => u.listing_id)).toEqual([id, id])
      const [row] = yield* rowsOf(listing.ideaId).pipe(Effect.provide(context))
      expect(row).toMatchObject({ status: "published", external_id: String(id) })
    })
  )

  it.scoped("Printify: a product created before a crash (intent stored, id not) is adopted, not created again", () =>
    Effect.gen(function* () {
      const { printifyFake, env } = yield* fakes
      const context = yield* marketplaces(["printify"], env)
      const listing = yield* approvedListing(4).pipe(Effect.provide(context))
      const market = Context.get(context, Marketplace)[0]!
      const store = Context.get(context, Store)
      // The first attempt got as far as Printify's create; the process died before storing the id.
      yield* store.recordPublishIntent(listing.ideaId, "printify", listing.title)
      const upload = yield* Effect.promise(() =>
        fetch(`${printifyFake.apiUrl}/uploads/images.json`, {
          method: "POST",
          headers: { authorization: `Bearer ${PrintifyFake.TOKEN}`, "content-type": "application/json" },
          body: JSON.stringify({ file_name: "x.png", contents: Buffer.from("89504e470d0a1a0a", "hex").toString("base64") })
        }).then((r) => r.json() as Promise<{ id: string }>)
      )
      const earlier = yield* Effect.promise(() =>
        fetch(`${printifyFake.apiUrl}/shops/${PrintifyFake.SHOP_ID}/products.json`, {
          method: "POST",
          headers: { authorization: `Bearer ${PrintifyFake.TOKEN}`, "content-type": "application/json" },
          body: JSON.stringify({
            title: listing.title,
            blueprint_id: PrintifyFake.BLUEPRINT_ID,
            print_provider_id: PrintifyFake.PRINT_PROVIDER_ID,
            variants: [{ id: PrintifyFake.VARIANT_IDS[0], price: 2499, is_enabled: true }],
            print_areas: [{ variant_ids: [PrintifyFake.VARIANT_IDS[0]], placeholders: [{ position: "front", images: [{ id: upload.id, x: 0.5, y: 0.5, scale: 1, angle: 0 }] }] }]
          })
        }).then((r) => r.json() as Promise<{ id: string }>)
      )
      const outcome = yield* market.publish({ ...listing, marketplace: "printify" })
      expect(outcome).toMatchObject({ status: "published", externalId: earlier.id, remoteState: "published" })
      expect(printifyFake.state.creates).toEqual([earlier.id])
      expect(printifyFake.state.publishes).toEqual([earlier.id])
      // And a second run changes nothing.
      expect(yield* market.publish({ ...listing, marketplace: "printify" })).toEqual(outcome)
      expect(printifyFake.state.publishes).toEqual([earlier.id])
      expect(Option.isSome(yield* store.loadCredential("none"))).toBe(false)
    })
  )

  it.scoped("Printify: a publish whose answer is lost is not repeated; the retry finds the product locked and goes on", () =>
    Effect.gen(function* () {
      const { printifyFake, env } = yield* fakes
      const context = yield* marketplaces(["printify"], env)
      const listing = yield* approvedListing(8).pipe(Effect.provide(context))
      const market = Context.get(context, Marketplace)[0]!
      printifyFake.state.loseNext.push({ method: "POST", path: /\/publish\.json$/ })
      const first = yield* Effect.flip(market.publish({ ...listing, marketplace: "printify" }))
      expect(isRetryable(first)).toBe(true)
      const [productId] = printifyFake.state.creates
      expect(printifyFake.state.publishes).toEqual([productId])
      const outcome = yield* market.publish({ ...listing, marketplace: "printify" })
      expect(outcome).toMatchObject({ status: "published", externalId: productId })
      expect(printifyFake.state.publishes).toEqual([productId])
    })
  )

  it.scoped("a listing drafted for a marketplace that is not configured is dead-lettered naming it", () =>
    Effect.gen(function* () {
      const { env } = yield* fakes
      const context = yield* marketplaces(["export"], env)
      const listing = yield* approvedListing(5, { marketplace: "etsy" }).pipe(Effect.provide(context))
      yield* inWorker(
        Effect.gen(function* () {
          const { t, feed } = pipeline(context, ["export"])
          const w = yield* startWorker(t)
          feed.push({ data: listing })
          yield* waitUntil("a dead letter", Effect.map(listDeadLetters(t, w.keys, "publish"), (l) => l.length === 1), 50_000)
          const [letter] = yield* listDeadLetters(t, w.keys, "publish")
          expect(letter!.error).toContain('no publisher configured for marketplace "etsy" (MARKETPLACES: export)')
          yield* w.stop
        })
      )
    })
  )

  describe("configuration", () => {
    it.scoped("an unknown marketplace or a missing Etsy setting stops the start naming the variable", () =>
      Effect.gen(function* () {
        const unknown = yield* Effect.flip(marketplaces(["ebay"], {}))
        expect(String(unknown)).toContain('unknown marketplace "ebay"')
        const missing = yield* Effect.flip(marketplaces(["etsy"], {}))
        expect(String(missing)).toContain("ETSY_KEYSTRING")
      })
    )
  })
})
