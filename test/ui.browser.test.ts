/**
 * The UI in a real headless Chromium against the real server: the runtime's HTTP app
 * (makeHttpApp) with the built UI mounted by runtime/static.ts, serving a live topology
 * on the embedded transport. Data flows the whole time (a feeder pushes every 100 ms).
 *
 * The ideas routes are not in the runtime yet, so the ideas test runs against a small
 * fake of their contract (operators/api/contract.ts) mounted in this test's app.
 *
 * Each test saves a screenshot to test-results/ui/<name>.png.
 */
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync } from "node:fs"
import type { AddressInfo } from "node:net"
import { join } from "node:path"
import { Deferred, Effect, Fiber, Layer, ManagedRuntime, Option, Redacted, Schema } from "effect"
import type { Hono } from "hono"
import type { Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { listDeadLetters } from "../runtime/dlq.ts"
import { makeHttpApp, serveHttp } from "../runtime/http.ts"
import type { Keys } from "../runtime/keys.ts"
import { Metrics } from "../runtime/metrics.ts"
import { mountStatic, UI_DIST } from "../runtime/static.ts"
import { map, sink, stream, topology } from "../runtime/topology.ts"
import * as EmbeddedTransport from "../runtime/transport/embedded.ts"
import type { IdeaListingsResponse, IdeaSummary, ReviewStatus } from "../operators/api/contract.ts"
import { type Browser, launchChromium } from "../ui/support/chromium.ts"
import { feeder, startWorker, uniqueName } from "./support/harness.ts"

const TOKEN = "ui-test-token-7f3a"
const SHOTS = join(import.meta.dirname, "..", "test-results", "ui")

// ---------------------------------------------------------------------------------------
// The topology under test: feed -> items -> check -> checked -> { enrich -> enriched -> done, audit }
// `check` fails "poison" items until they are healed (maxAttempts 2: one retry, then DLQ).

const Item = Schema.Struct({ n: Schema.Number, poison: Schema.optional(Schema.Boolean), note: Schema.optional(Schema.String) })
const healed = new Set<number>()
const delivered = new Set<number>()

const items = stream("items", Item, { maxLen: 5_000 })
const checked = stream("checked", Item, { maxLen: 5_000 })
const enriched = stream("enriched", Item, { maxLen: 5_000 })
const feed = feeder("feed", items)
const t = topology({
  name: uniqueName("ui"),
  nodes: [
    feed.node,
    map({
      name: "check",
      from: items,
      to: checked,
      settings: { maxAttempts: 2, backoff: { initialMs: 20, maxMs: 50 } },
      run: (i) => (i.poison && !healed.has(i.n) ? Effect.fail(new Error(`poison pill n=${i.n}: refusing to process`)) : Effect.succeed(i))
    }),
    map({ name: "enrich", from: checked, to: enriched, run: (i) => Effect.succeed({ ...i, note: `enriched ${i.n}` }) }),
    sink({ name: "done", from: enriched, run: (i) => Effect.sync(() => void delivered.add(i.n)) }),
    sink({ name: "audit", from: checked, run: () => Effect.void })
  ],
  services: Layer.empty
})

// ---------------------------------------------------------------------------------------
// A fake of the ideas contract (GET /api/ideas, POST /api/ideas/:id/approve|reject)

const mockup = (text: string, fill: string) =>
  `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 200"><rect width="200" height="200" fill="#eef2f6"/>` +
  `<path d="M60 40 L85 30 Q100 45 115 30 L140 40 L170 70 L150 90 L140 80 L140 175 L60 175 L60 80 L50 90 L30 70 Z" fill="${fill}"/>` +
  `<text x="100" y="115" font-family="sans-serif" font-size="13" font-weight="700" text-anchor="middle" fill="${fill === "#111827" ? "#fff" : "#111"}">${text}</text></svg>`

const ideas: Array<IdeaSummary> = [
  {
    ideaId: "6a1f2c0e-58a8-4d7e-9a0b-000000000001",
    title: "Retro “Leap Day” tee",
    keyPhrase: "Born to leap",
    score: 0.87,
    factors: { freshness: 0.93, engagement: 0.81, novelty: 0.74, communityFit: 0.66, seasonality: 1 },
    status: "mocked",
    reviewStatus: "pending",
    signal: { source: "reddit", content: "Leap day babies, what do you do on your 'real' birthday? (r/AskReddit, 12.4k upvotes)", url: "https://example.invalid/r/1", capturedAt: new Date(Date.now() - 3 * 3600_000).toISOString() },
    createdAt: new Date(Date.now() - 2 * 3600_000).toISOString(),
    printFileUrl: "/fake-blobs/print-1.svg",
    mockups: [
      { variant: "front", colorway: "black", url: "/fake-blobs/front-black-1.svg" },
      { variant: "front", colorway: "white", url: "/fake-blobs/front-white-1.svg" }
    ]
  },
  {
    ideaId: "6a1f2c0e-58a8-4d7e-9a0b-000000000002",
    title: "Sourdough starter name tag",
    keyPhrase: "Clint Yeastwood",
    score: 0.71,
    factors: { freshness: 0.55, engagement: 0.9, novelty: 0.62, communityFit: 0.8, seasonality: 0.1 },
    status: "queued",
    reviewStatus: "pending",
    signal: { source: "hackernews", content: "Show HN: I named my sourdough starter and built it a dashboard", capturedAt: new Date(Date.now() - 26 * 3600_000).toISOString() },
    createdAt: new Date(Date.now() - 20 * 3600_000).toISOString(),
    mockups: []
  },
  {
    ideaId: "6a1f2c0e-58a8-4d7e-9a0b-000000000003",
    title: "Tax day survival kit",
    keyPhrase: "Audit-proof vibes",
    score: 0.42,
    factors: { freshness: 0.3, engagement: 0.35, novelty: 0.5, communityFit: 0.4, seasonality: 0.6 },
    status: "queued",
    reviewStatus: "rejected",
    signal: { source: "occasions", content: "Tax Day (US) in 9 days", capturedAt: new Date(Date.now() - 50 * 3600_000).toISOString() },
    createdAt: new Date(Date.now() - 48 * 3600_000).toISOString(),
    mockups: [{ variant: "back", colorway: "navy", url: "/fake-blobs/back-navy-3.svg" }]
  }
]

const mountFakeIdeas = (app: Hono) => {
  app.get("/fake-blobs/:file", (c) => {
    const file = c.req.param("file")
    const fill = file.includes("black") ? "#111827" : file.includes("navy") ? "#1e3a8a" : file.includes("print") ? "#ffffff00" : "#f8fafc"
    return c.body(mockup(file.includes("3") ? "AUDIT-PROOF" : "BORN TO LEAP", fill), 200, { "content-type": "image/svg+xml" })
  })
  app.get("/api/ideas", (c) => {
    const status = c.req.query("status")
    const review = c.req.query("review")
    const limit = Number(c.req.query("limit") ?? 50)
    const list = ideas.filter((i) => (!status || i.status === status) && (!review || i.reviewStatus === review)).sort((a, b) => b.score - a.score)
    return c.json({ ideas: list.slice(0, limit) })
  })
  for (const [action, status] of [
    ["approve", "approved"],
    ["reject", "rejected"]
  ] as const) {
    app.post(`/api/ideas/:id/${action}`, (c) => {
      if (c.req.header("authorization") !== `Bearer ${TOKEN}`) return c.json({ error: "missing or wrong bearer token" }, 401)
      const idea = ideas.find((i) => i.ideaId === c.req.param("id"))
      if (!idea) return c.json({ error: "no such idea" }, 404)
      ;(idea as { reviewStatus: ReviewStatus }).reviewStatus = status
      return c.json({ ideaId: idea.ideaId, reviewStatus: status })
    })
  }
  // Where the first idea is listed (operators/api/listings.ts): live on Etsy, refused by Printify, exported for Merch.
  app.get("/api/ideas/:id/listings", (c) => {
    const at = new Date().toISOString()
    const body: IdeaListingsResponse = {
      listings:
        c.req.param("id") !== ideas[0]!.ideaId
          ? []
          : [
              { marketplace: "amazon-merch", status: "exported", externalId: null, url: "/fake-blobs/merch-design.svg", remoteState: null, reason: null, updatedAt: at },
              { marketplace: "etsy", status: "published", externalId: "1500000123", url: "https://www.etsy.com/listing/1500000123/born-to-leap", remoteState: "active", reason: null, updatedAt: at },
              { marketplace: "printify", status: "failed", externalId: null, url: null, remoteState: null, reason: "printify: Variants are not valid for this blueprint and print provider. (HTTP 400)", updatedAt: at }
            ]
    }
    return c.json(body)
  })
}

// ---------------------------------------------------------------------------------------
// Server and browser

const runtime = ManagedRuntime.make(Layer.merge(EmbeddedTransport.layer, Metrics.layer))
let base = ""
let keys: Keys
let browser: Browser
let server: Fiber.RuntimeFiber<void, unknown>
let shutdown: Deferred.Deferred<void>
let pusher: ReturnType<typeof setInterval>
let n = 0

const deadLetters = () => runtime.runPromise(listDeadLetters(t, keys, "check"))

beforeAll(async () => {
  // Builds ui/dist when it is missing or older than ui/src (a no-op otherwise).
  const built = spawnSync(process.execPath, [join(import.meta.dirname, "..", "ui", "ensure-built.mjs")], { stdio: "inherit" })
  if (built.status !== 0 || !existsSync(join(UI_DIST, "index.html"))) throw new Error("building the UI failed")
  mkdirSync(SHOTS, { recursive: true })
  shutdown = await runtime.runPromise(Deferred.make<void>())
  const ready = await runtime.runPromise(Deferred.make<{ port: number; keys: Keys }>())
  server = runtime.runFork(
    Effect.scoped(
      Effect.gen(function* () {
        const w = yield* startWorker(t)
        const app = yield* makeHttpApp({
          topology: t,
          keys: w.keys,
          token: Option.some(Redacted.make(TOKEN)),
          corsOrigins: [],
          feedEveryMs: 250,
          mount: (app) => {
            mountFakeIdeas(app)
            mountStatic()(app)
          }
        })
        const http = yield* serveHttp(app, { port: 0, host: "127.0.0.1" })
        yield* Deferred.succeed(ready, { port: (http.address() as AddressInfo).port, keys: w.keys })
        yield* Deferred.await(shutdown)
        yield* w.stop
      })
    )
  )
  const info = await runtime.runPromise(Deferred.await(ready))
  base = `http://127.0.0.1:${info.port}`
  keys = info.keys
  pusher = setInterval(() => feed.push(...Array.from({ length: 3 }, () => ({ data: { n: ++n } }))), 100)
  browser = await launchChromium()
}, 180_000)

afterAll(async () => {
  clearInterval(pusher)
  await browser?.close()
  if (shutdown) await runtime.runPromise(Deferred.succeed(shutdown, undefined))
  if (server) await runtime.runPromise(Fiber.join(server)).catch(() => undefined)
  await runtime.dispose()
})

const withPage = async (name: string, body: (page: Page) => Promise<void>, options: { token?: string } = {}) => {
  const page = await browser.context.newPage()
  const errors: Array<string> = []
  page.on("pageerror", (e) => errors.push(e.message))
  try {
    if (options.token !== undefined) {
      // The token as Settings stores it (sessionStorage), then a reload so the page starts with it.
      await page.goto(`${base}/`)
      await page.evaluate(`sessionStorage.setItem("desainz.token", ${JSON.stringify(options.token)})`)
      await page.reload()
    }
    await body(page)
    expect(errors, "uncaught errors in the page").toEqual([])
  } finally {
    await page.screenshot({ path: join(SHOTS, `${name}.png`) }).catch(() => undefined)
    await page.close()
  }
}

const numberIn = async (page: Page, selector: string) => {
  const text = (await page.locator(selector).first().textContent()) ?? ""
  const m = /([\d.]+)(k|M)?/.exec(text.replace(/,/g, ""))
  if (!m) return Number.NaN
  return Number(m[1]) * (m[2] === "k" ? 1_000 : m[2] === "M" ? 1_000_000 : 1)
}

const setTokenInSettings = async (page: Page, token: string) => {
  await page.getByRole("button", { name: /^Settings/ }).click()
  const dialog = page.getByRole("dialog", { name: "Settings" })
  await dialog.getByLabel("API token").fill(token)
  await dialog.getByRole("button", { name: "Save" }).click()
  await expect.poll(() => dialog.isVisible()).toBe(false)
}

const pushPoison = (value: number) => feed.push({ data: { n: value, poison: true } })
const waitForDeadLetter = async (value: number) =>
  expect.poll(async () => (await deadLetters()).some((d) => d.fields["data"]?.includes(`"n":${value}`)), { timeout: 20_000 }).toBe(true)

describe("ui in headless chromium", () => {
  it("serves the built UI from the API's port: content types, cache headers, SPA fallback, no traversal", async () => {
    const index = await fetch(`${base}/`)
    expect(index.status).toBe(200)
    expect(index.headers.get("content-type")).toBe("text/html; charset=utf-8")
    expect(index.headers.get("cache-control")).toBe("no-cache")
    const html = await index.text()
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1]!
    const js = await fetch(`${base}${asset}`)
    expect(js.headers.get("content-type")).toBe("text/javascript; charset=utf-8")
    expect(js.headers.get("cache-control")).toContain("immutable")
    const deep = await fetch(`${base}/dlq/check`)
    expect(deep.status).toBe(200)
    expect(await deep.text()).toBe(html)
    expect((await fetch(`${base}/assets/nope-123.js`)).status).toBe(404)
    expect((await fetch(`${base}/api/nope`)).headers.get("content-type")).toContain("application/json")
    for (const path of ["/%2e%2e/package.json", "/assets/%2e%2e/%2e%2e/package.json", "/..%2f..%2fpackage.json", "/assets/..%5c..%5cpackage.json"]) {
      const r = await fetch(`${base}${path}`)
      expect(await r.text(), path).not.toContain('"name": "desainz"')
    }
    expect((await fetch(`${base}/api/topology`)).headers.get("content-type")).toContain("application/json")
  })

  it("topology view renders every operator, source and stream of the topology", () =>
    withPage("topology", async (page) => {
      await page.goto(`${base}/#/topology`)
      await page.locator("svg.graph [data-node]").first().waitFor()
      const names = await page.locator("svg.graph [data-node]").evaluateAll((els) => els.map((e) => e.getAttribute("data-node")))
      expect(names.sort()).toEqual(t.nodes.map((x) => x.name).sort())
      for (const node of t.nodes) await expect.poll(() => page.locator(`[data-node="${node.name}"]`).isVisible()).toBe(true)
      for (const s of ["items", "checked", "enriched"]) expect(await page.locator(`[data-stream="${s}"]`).count()).toBeGreaterThan(0)
      // Live figures arrive over SSE: the source's state turns to "running".
      await expect.poll(() => page.locator('[data-node="feed"] [data-metric="state"]').textContent(), { timeout: 15_000 }).toBe("running")
      await expect.poll(() => page.getByRole("status").filter({ hasText: "live" }).count()).toBe(1)
      // Wait for a few sparkline samples so the screenshot shows them.
      await page.waitForTimeout(3_000)
    }))

  it("a throughput counter visibly moves while messages flow", () =>
    withPage("topology-details", async (page) => {
      await page.goto(`${base}/#/topology`)
      const done = '[data-node="done"] [data-metric="processed"]'
      await expect.poll(() => numberIn(page, done), { timeout: 15_000 }).toBeGreaterThan(0)
      const first = await numberIn(page, done)
      await page.waitForTimeout(1_500)
      const second = await numberIn(page, done)
      expect(second).toBeGreaterThan(first)
      // Clicking a node opens its details; Escape closes them; Enter opens an edge's.
      await page.locator('[data-node="check"]').click()
      const details = page.getByRole("complementary", { name: "Details" })
      await expect.poll(() => details.getByRole("heading", { name: "check" }).isVisible()).toBe(true)
      expect(await details.textContent()).toContain("processed")
      await page.keyboard.press("Escape")
      await expect.poll(() => details.isVisible()).toBe(false)
      await page.locator('[data-edge^="checked:check->enrich"]').focus()
      await page.keyboard.press("Enter")
      await expect.poll(() => details.getByRole("heading", { name: "checked" }).isVisible()).toBe(true)
      await expect.poll(async () => (await details.textContent()) ?? "").toContain("enrich")
      await page.locator('[data-node="check"]').click()
      await page.waitForTimeout(2_000)
    }))

  it("the live feed reconnects with backoff after the connection fails", () =>
    withPage("reconnect", async (page) => {
      // Every attempt fails until the route is lifted; the header says so, then recovers.
      await page.route("**/api/events", (route) => route.abort("connectionreset"))
      await page.goto(`${base}/#/topology`)
      const status = page.getByRole("status").filter({ hasText: /reconnecting|live|connecting/ })
      await expect.poll(async () => (await status.textContent()) ?? "", { timeout: 15_000 }).toMatch(/reconnecting \(attempt [2-9]\)/)
      await page.screenshot({ path: join(SHOTS, "reconnecting.png") })
      await page.unroute("**/api/events")
      await expect.poll(async () => (await status.textContent()) ?? "", { timeout: 20_000 }).toMatch(/^live/)
      const done = '[data-node="done"] [data-metric="processed"]'
      await expect.poll(() => numberIn(page, done), { timeout: 15_000 }).toBeGreaterThan(0)
      const first = await numberIn(page, done)
      await expect.poll(() => numberIn(page, done), { timeout: 10_000 }).toBeGreaterThan(first)
    }))

  it("streams view tails a stream live and opens an entry's envelope", () =>
    withPage("streams", async (page) => {
      await page.goto(`${base}/#/streams/items`)
      const rows = page.locator("table.entries tbody tr[data-entry]")
      await rows.first().waitFor()
      const newest = await rows.first().getAttribute("data-entry")
      await expect.poll(async () => rows.first().getAttribute("data-entry"), { timeout: 10_000 }).not.toBe(newest)
      await rows.first().getByRole("button").click()
      const detail = page.getByRole("region", { name: /^Entry / })
      await expect.poll(async () => (await detail.locator("pre").textContent()) ?? "").toMatch(/"n": \d+/)
      expect(await detail.textContent()).toContain("correlationId")
      const groups = page.getByRole("region", { name: "Consumer groups" })
      expect(await groups.textContent()).toContain("check")
    }))

  it("a poison message shows up in the dead letters, and requeue sends it on to the sink once healed", () =>
    withPage("dlq", async (page) => {
      const poison = 1_000_001
      pushPoison(poison)
      await waitForDeadLetter(poison)
      await page.goto(`${base}/#/dlq/check`)
      const row = page.locator("tr[data-dead-letter]").filter({ hasText: `n=${poison}` })
      await row.waitFor({ timeout: 15_000 })
      expect(await row.textContent()).toContain("max-attempts")
      await row.getByRole("button", { name: "Inspect" }).click()
      await expect.poll(async () => (await page.getByRole("region", { name: /^Dead letter / }).textContent()) ?? "").toContain(`"n": ${poison}`)
      const count = page.getByTestId("dlq-count")
      const before = Number(await count.textContent())
      expect(before).toBeGreaterThanOrEqual(1)
      await page.screenshot({ path: join(SHOTS, "dlq-inspect.png") })

      await setTokenInSettings(page, TOKEN)
      healed.add(poison)
      await row.getByRole("button", { name: "Requeue" }).click()
      await expect.poll(() => page.getByRole("status").filter({ hasText: "Requeued 1 dead letter" }).count()).toBe(1)
      await expect.poll(async () => Number(await count.textContent())).toBe(before - 1)
      await expect.poll(() => delivered.has(poison), { timeout: 20_000 }).toBe(true)
      expect((await deadLetters()).some((d) => d.fields["data"]?.includes(`"n":${poison}`))).toBe(false)

      // Drop asks first: Cancel keeps the dead letter, confirming deletes it.
      const doomed = 1_000_002
      pushPoison(doomed)
      await waitForDeadLetter(doomed)
      const doomedRow = page.locator("tr[data-dead-letter]").filter({ hasText: `n=${doomed}` })
      await doomedRow.waitFor({ timeout: 15_000 })
      await doomedRow.getByRole("button", { name: "Drop" }).click()
      const confirm = page.getByRole("dialog", { name: /Drop this dead letter/ })
      await confirm.getByRole("button", { name: "Cancel" }).click()
      expect((await deadLetters()).some((d) => d.fields["data"]?.includes(`"n":${doomed}`))).toBe(true)
      await doomedRow.getByRole("button", { name: "Drop" }).click()
      await confirm.getByRole("button", { name: "Drop" }).click()
      await expect.poll(() => page.getByRole("status").filter({ hasText: "Dropped 1 dead letter" }).count()).toBe(1)
      await expect.poll(async () => (await deadLetters()).some((d) => d.fields["data"]?.includes(`"n":${doomed}`))).toBe(false)
      await doomedRow.waitFor({ state: "detached" })
    }))

  it("mutating calls without the token get 401, say so, and change nothing", () =>
    withPage("unauthorized", async (page) => {
      const poison = 1_000_003
      pushPoison(poison)
      await waitForDeadLetter(poison)
      await page.goto(`${base}/#/dlq/check`)
      const row = page.locator("tr[data-dead-letter]").filter({ hasText: `n=${poison}` })
      await row.waitFor({ timeout: 15_000 })
      const before = (await deadLetters()).length

      // No token at all: the UI's requeue and drop-all, then raw calls from the page.
      await row.getByRole("button", { name: "Requeue" }).click()
      const alert = page.getByTestId("action-error")
      await expect.poll(async () => (await alert.textContent()) ?? "").toContain("401")
      expect(await alert.textContent()).toMatch(/needs the API token/)
      await page.getByRole("button", { name: "Drop all" }).click()
      await page.getByRole("dialog", { name: /Drop all dead letters/ }).getByRole("button", { name: "Drop all" }).click()
      await expect.poll(async () => (await alert.textContent()) ?? "").toContain("401")
      const statuses = await page.evaluate(async () => {
        const post = (path: string, headers: Record<string, string> = {}) =>
          fetch(path, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ all: true }) }).then((r) => r.status)
        return [
          await post("/api/dlq/check/requeue"),
          await post("/api/dlq/check/drop"),
          await post("/api/dlq/check/drop", { authorization: "Bearer wrong" }),
          await post("/api/ideas/6a1f2c0e-58a8-4d7e-9a0b-000000000002/approve")
        ]
      })
      expect(statuses).toEqual([401, 401, 401, 401])
      // A wrong token in Settings: the message says the server refused it.
      await setTokenInSettings(page, "not-the-token")
      await row.getByRole("button", { name: "Requeue" }).click()
      await expect.poll(async () => (await alert.textContent()) ?? "").toMatch(/refused the token/)
      expect((await deadLetters()).length).toBe(before)
      expect((await deadLetters()).some((d) => d.fields["data"]?.includes(`"n":${poison}`))).toBe(true)
      expect(Number(await page.getByTestId("dlq-count").textContent())).toBe(before)

      // The ideas review is refused the same way, and the status does not change.
      await page.goto(`${base}/#/ideas`)
      const idea = page.locator('li[data-idea="6a1f2c0e-58a8-4d7e-9a0b-000000000002"]')
      await idea.getByRole("button", { name: /Approve/ }).click()
      await expect.poll(async () => (await idea.getByTestId("review-error").textContent()) ?? "").toContain("401")
      expect(await idea.getByTestId("review-status").textContent()).toBe("pending")
      expect(ideas[1]!.reviewStatus).toBe("pending")
      await page.goto(`${base}/#/dlq/check`)
      await row.waitFor()
      await row.getByRole("button", { name: "Requeue" }).click()
      await expect.poll(async () => (await page.getByTestId("action-error").textContent()) ?? "").toMatch(/refused the token/)
    }))

  it("ideas view: ranked with the score breakdown, and approve changes the review status", () =>
    withPage(
      "ideas",
      async (page) => {
        await page.goto(`${base}/#/ideas`)
        const cards = page.locator("li[data-idea]")
        await cards.first().waitFor()
        expect(await cards.evaluateAll((els) => els.map((e) => e.getAttribute("data-idea")))).toEqual(ideas.map((i) => i.ideaId))
        const first = cards.first()
        for (const f of ["freshness", "engagement", "novelty", "community fit", "seasonality"]) {
          expect(await first.getByRole("meter", { name: new RegExp(`^${f} `) }).count()).toBe(1)
        }
        expect(await first.locator("img").count()).toBe(3)
        await expect.poll(() => first.locator("img").first().evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth)).toBeGreaterThan(0)
        expect(await first.getByTestId("review-status").textContent()).toBe("pending")
        await first.getByRole("button", { name: /Approve/ }).click()
        await expect.poll(() => first.getByTestId("review-status").textContent()).toBe("approved")
        expect(ideas[0]!.reviewStatus).toBe("approved")
        expect(await first.getByRole("button", { name: /Approve/ }).getAttribute("aria-pressed")).toBe("true")
        // The filter asks the server again.
        await page.getByRole("combobox", { name: "Review filter" }).selectOption("approved")
        await expect.poll(() => cards.count()).toBe(1)
        await page.getByRole("combobox", { name: "Review filter" }).selectOption("")
        await expect.poll(() => cards.count()).toBe(3)
      },
      { token: TOKEN }
    ))

  it("ideas view: each marketplace listing links to its page or bundle, and a failure shows the marketplace's reason", () =>
    withPage("ideas-listings", async (page) => {
      await page.goto(`${base}/#/ideas`)
      const first = page.locator(`li[data-idea="${ideas[0]!.ideaId}"]`)
      const listings = first.getByTestId("idea-listings")
      await listings.waitFor()
      const etsy = listings.locator('[data-marketplace="etsy"] a')
      expect(await etsy.getAttribute("href")).toBe("https://www.etsy.com/listing/1500000123/born-to-leap")
      expect(await etsy.textContent()).toContain("published · active #1500000123")
      expect(await listings.locator('[data-marketplace="amazon-merch"] a').getAttribute("href")).toBe("/fake-blobs/merch-design.svg")
      const printify = listings.locator('[data-marketplace="printify"]')
      expect(await printify.locator("a").count()).toBe(0)
      expect(await printify.textContent()).toContain("Variants are not valid for this blueprint and print provider.")
      // Ideas listed nowhere show no listings row.
      expect(await page.locator(`li[data-idea="${ideas[1]!.ideaId}"]`).getByTestId("idea-listings").count()).toBe(0)
    }))

  it("keyboard: number keys switch views, the tabs follow the ARIA pattern, and the theme toggles", () =>
    withPage("topology-dark", async (page) => {
      await page.goto(`${base}/#/topology`)
      await page.locator("svg.graph [data-node]").first().waitFor()
      await page.keyboard.press("3")
      await expect.poll(() => page.getByRole("tab", { name: /Dead letters/ }).getAttribute("aria-selected")).toBe("true")
      await page.getByRole("tab", { name: /Dead letters/ }).focus()
      await page.keyboard.press("ArrowLeft")
      await expect.poll(() => page.getByRole("tab", { name: "Streams" }).getAttribute("aria-selected")).toBe("true")
      await page.keyboard.press("1")
      await page.locator("svg.graph [data-node]").first().waitFor()
      const theme = () => page.locator("html").getAttribute("data-theme")
      expect(await theme()).toBe("light")
      await page.getByRole("button", { name: /Switch to dark theme/ }).click()
      expect(await theme()).toBe("dark")
      await page.locator('[data-node="check"]').click()
      await page.waitForTimeout(1_500)
    }))
})
