/**
 * Brand & IP safety through the pipeline and into the UI: the real `select` and `review`
 * operators on the embedded transport with the real store (PGlite) and BrandSafety
 * service, the real ideas API, and the built UI in headless Chromium.
 *
 * - select: a flagged idea is not dropped; it goes on with its reasons stored; an idea
 *   below the threshold is counted.
 * - review: a flagged draft waits for a person even with a high score, also when the hit
 *   is only in the listing text; a clean one is approved on its own.
 * - the Ideas view shows each reason (what, where, which list).
 * Screenshot: test-results/ui/review-reasons.png.
 */
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Deferred, Effect, Exit, Fiber, Layer, ManagedRuntime, Option } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { makeHttpApp, serveHttp } from "../runtime/http.ts"
import { makeKeys } from "../runtime/keys.ts"
import { Metrics } from "../runtime/metrics.ts"
import { migrate, Sql } from "../runtime/sql.ts"
import { mountStatic, UI_DIST } from "../runtime/static.ts"
import { sink, stream, topology } from "../runtime/topology.ts"
import * as EmbeddedTransport from "../runtime/transport/embedded.ts"
import { runWorker } from "../runtime/worker.ts"
import { ideasApi } from "../operators/api/ideas.ts"
import type { IdeasResponse } from "../operators/api/contract.ts"
import { listingIdOf } from "../operators/ids.ts"
import { review } from "../operators/listing/review.ts"
import { templateText } from "../operators/listing/template.ts"
import * as BrandSafety from "../operators/safety/brandSafety.ts"
import { Idea, Listing } from "../operators/schemas.ts"
import { select } from "../operators/scoring/select.ts"
import { Store } from "../operators/store/store.ts"
import { type Browser, launchChromium } from "../ui/support/chromium.ts"
import { feeder, uniqueName } from "./support/harness.ts"
import { sampleIdea, sampleSet } from "./support/listings.ts"

const SHOTS = join(import.meta.dirname, "..", "test-results", "ui")
const dir = mkdtempSync(join(tmpdir(), "desainz-reasons-"))

const ideasScored = stream("ideas.scored", Idea, { maxLen: 1_000 })
const ideasSelected = stream("ideas.selected", Idea, { maxLen: 1_000 })
const listingsDraft = stream("listings.draft", Listing, { maxLen: 1_000 })
const listingsApproved = stream("listings.approved", Listing, { maxLen: 1_000 })
const ideasFeed = feeder("ideas-feed", ideasScored)
const draftsFeed = feeder("drafts-feed", listingsDraft)
const selected: Array<string> = []
const approved: Array<string> = []

const services = Layer.mergeAll(
  Store.layer.pipe(Layer.provideMerge(Layer.effectDiscard(migrate())), Layer.provideMerge(Sql.layerEmbedded({ dataDir: join(dir, "pg"), port: 0 }))),
  BrandSafety.layer({})
)
const t = topology({
  name: uniqueName("reasons"),
  nodes: [
    ideasFeed.node,
    draftsFeed.node,
    select({ minScore: 0.3 }, { from: ideasScored, to: ideasSelected }),
    sink({ name: "selected", from: ideasSelected, run: (i) => Effect.sync(() => void selected.push(i.keyPhrase)) }),
    review({ autoApproveAbove: 0.5 }, { from: listingsDraft, to: listingsApproved }),
    sink({ name: "approved", from: listingsApproved, run: (l) => Effect.sync(() => void approved.push(l.mockups.artwork.idea.keyPhrase)) })
  ],
  services,
  api: [ideasApi({ approved: listingsApproved })]
})

const id = (n: number) => `6a1f2c0e-58a8-4d7e-9a0b-0000000000${String(n).padStart(2, "0")}`
const idea = (n: number, phrase: string, score: number) =>
  sampleIdea({ ideaId: id(n), signalId: id(n + 50), keyPhrase: phrase, title: phrase, score, signal: { ...sampleIdea().signal, content: `${phrase} is trending`, tags: [] } })
const IDEAS = {
  brand: idea(1, "Nike Running Club", 0.9),
  listingOnly: idea(2, "Dog Mom Club", 0.8),
  clean: idea(3, "Plant Mom Energy", 0.7),
  low: idea(4, "Apple Picking Season", 0.1)
}

const draftOf = (i: Idea, title?: string): Listing => {
  const text = templateText({ set: sampleSet(i), marketplace: "etsy", product: "T-Shirt" })
  return { listingId: listingIdOf(i.ideaId, "etsy"), ideaId: i.ideaId, marketplace: "etsy", ...text, ...(title ? { title } : {}), priceCents: 2499, mockups: sampleSet(i), writer: "llm" }
}

const runtime = ManagedRuntime.make(Layer.mergeAll(EmbeddedTransport.layer, Metrics.layer, services))
let base = ""
let browser: Browser
let server: Fiber.RuntimeFiber<void, unknown>
let stop: Deferred.Deferred<void>

const run = <A, E>(effect: Effect.Effect<A, E, Store | Metrics>) => runtime.runPromise(effect)

beforeAll(async () => {
  const built = spawnSync(process.execPath, [join(import.meta.dirname, "..", "ui", "ensure-built.mjs")], { stdio: "inherit" })
  if (built.status !== 0 || !existsSync(join(UI_DIST, "index.html"))) throw new Error("building the UI failed")
  mkdirSync(SHOTS, { recursive: true })
  // The ideas and their listing rows exist before the operators see them, as the scorer and the listing writer leave them.
  await run(
    Effect.gen(function* () {
      const store = yield* Store
      const all = Object.values(IDEAS)
      yield* store.upsertSignals(all.map((i) => ({ id: i.signalId, content: i.signal.content, source: "occasions", capturedAt: new Date(i.signal.capturedAt), metadata: {}, contentHash: i.ideaId.replace(/-/g, "") })))
      yield* store.upsertIdeas(all.map((i) => ({ id: i.ideaId, signalId: i.signalId, title: i.title, description: i.keyPhrase, embedding: null, score: i.score, factors: i.factors, weightsVersion: 1 })))
      yield* store.upsertListings(
        all.map((i) => ({ id: listingIdOf(i.ideaId, "etsy"), ideaId: i.ideaId, marketplace: "etsy", externalId: null, url: null, title: i.title, description: "", tags: [], status: "draft" as const, performance: {}, publishedAt: null }))
      )
    })
  )
  stop = await runtime.runPromise(Deferred.make<void>())
  const ready = await runtime.runPromise(Deferred.make<number>())
  server = runtime.runFork(
    Effect.scoped(
      Effect.gen(function* () {
        const app = yield* makeHttpApp({ topology: t, keys: makeKeys(t.name), token: Option.none(), corsOrigins: [], mount: mountStatic() })
        const http = yield* serveHttp(app, { port: 0, host: "127.0.0.1" })
        yield* Deferred.succeed(ready, (http.address() as AddressInfo).port)
        yield* runWorker({ topology: t, stop, consumerPrefix: uniqueName("c"), maintenanceEvery: "200 millis" })
      })
    )
  )
  base = `http://127.0.0.1:${await runtime.runPromise(Deferred.await(ready))}`
  browser = await launchChromium()
}, 180_000)

afterAll(async () => {
  await browser?.close()
  if (stop) await runtime.runPromise(Deferred.done(stop, Exit.void))
  if (server) await runtime.runPromise(Fiber.join(server)).catch(() => undefined)
  await runtime.dispose()
  rmSync(dir, { recursive: true, force: true })
})

const ideasFromApi = async () => ((await (await fetch(`${base}/api/ideas?limit=10`)).json()) as IdeasResponse).ideas

describe("brand & IP safety in the pipeline and the Ideas view", () => {
  it("select stores the reasons and lets the idea on; review holds flagged drafts and approves clean ones", async () => {
    ideasFeed.push(...Object.values(IDEAS).map((data) => ({ data })))
    await expect.poll(() => [...selected].sort(), { timeout: 30_000 }).toEqual(["Dog Mom Club", "Nike Running Club", "Plant Mom Energy"])
    const m = await runtime.runPromise(Metrics)
    expect(m.registry.counter("desainz_ideas_filtered_total", "").get({ reason: "below-min-score" })).toBe(1)
    expect(m.registry.counter("desainz_brand_safety_hits_total", "").get({ reason: "trademark", stage: "idea" })).toBeGreaterThanOrEqual(1)

    draftsFeed.push(
      { data: draftOf(IDEAS.brand) },
      // A model wrote a near-miss brand into an otherwise clean idea's title.
      { data: draftOf(IDEAS.listingOnly, "Dog Mom Club T-Shirt - Addidas Style Gift") },
      { data: draftOf(IDEAS.clean) }
    )
    await expect.poll(() => approved, { timeout: 30_000 }).toEqual(["Plant Mom Energy"])
    await expect
      .poll(async () => (await ideasFromApi()).filter((i) => (i.reviewReasons ?? []).length > 0).map((i) => i.keyPhrase).sort(), { timeout: 30_000 })
      .toEqual(["Dog Mom Club", "Nike Running Club"])
    const byPhrase = Object.fromEntries((await ideasFromApi()).map((i) => [i.keyPhrase, i]))
    expect(byPhrase["Nike Running Club"]!.reviewStatus).toBe("pending")
    expect(byPhrase["Nike Running Club"]!.reviewReasons).toContainEqual({ kind: "trademark", found: "nike", matched: "Nike", field: "idea", source: "simple-icons" })
    expect(byPhrase["Dog Mom Club"]!.reviewReasons).toEqual([
      { kind: "trademark-near-miss", found: "addidas", matched: "Adidas", field: "listing:etsy:title", source: "simple-icons" }
    ])
    expect(byPhrase["Plant Mom Energy"]!.reviewStatus).toBe("approved")
    expect(byPhrase["Plant Mom Energy"]!.reviewReasons).toEqual([])
    // Both flagged drafts are parked for the reviewer, ready to publish on approval.
    for (const i of [IDEAS.brand, IDEAS.listingOnly]) expect(await run(Effect.flatMap(Store, (s) => s.parkedDrafts(i.ideaId)))).toHaveLength(1)
  }, 90_000)

  it("the Ideas view shows why each flagged idea waits: what matched, where, on which list", async () => {
    const page = await browser.context.newPage()
    const errors: Array<string> = []
    page.on("pageerror", (e) => errors.push(e.message))
    try {
      await page.goto(`${base}/#/ideas`)
      const card = (phrase: string) => page.locator("li[data-idea]").filter({ hasText: phrase })
      await card("Nike Running Club").waitFor()
      const nike = card("Nike Running Club").getByRole("region", { name: "Why this waits for review" })
      await expect.poll(() => nike.textContent()).toContain(
        "trademark “nike” matches Nike in etsy listing bullets, etsy listing description, etsy listing tags, etsy listing title, the idea, the idea's signal · simple-icons"
      )
      expect(await nike.locator("li").count()).toBe(1)
      const dogMom = card("Dog Mom Club").getByTestId("review-reasons")
      expect(await dogMom.textContent()).toContain("near a trademark “addidas” matches Adidas in etsy listing title · simple-icons")
      expect(await card("Plant Mom Energy").getByTestId("review-reasons").count()).toBe(0)
      expect(errors).toEqual([])
    } finally {
      await page.screenshot({ path: join(SHOTS, "review-reasons.png"), fullPage: true }).catch(() => undefined)
      await page.close()
    }
  }, 60_000)
})
