/**
 * The Feedback view in a real headless Chromium against the real feedback API
 * (operators/api/feedback.ts) on an embedded store holding data: listings with daily
 * feedback, a running and a stopped experiment, a day's promotion allocation and a learner
 * decision. Saves test-results/ui/feedback.png.
 */
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync } from "node:fs"
import type { AddressInfo } from "node:net"
import { join } from "node:path"
import { Deferred, Effect, Fiber, Layer, ManagedRuntime, Option, Schema } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { feedbackApi } from "../../operators/api/feedback.ts"
import { allocateDay, newExperiment, PromotionConfig, stepExperiment } from "../../operators/feedback/experiments.ts"
import { FeedbackEvent } from "../../operators/schemas.ts"
import { Store } from "../../operators/store/store.ts"
import { deriveEventId } from "../../runtime/envelope.ts"
import { makeHttpApp, serveHttp } from "../../runtime/http.ts"
import { makeKeys } from "../../runtime/keys.ts"
import { mountStatic, UI_DIST } from "../../runtime/static.ts"
import { sink, stream, topology } from "../../runtime/topology.ts"
import { type Browser, launchChromium } from "../../ui/support/chromium.ts"
import { feeder, uniqueName } from "../support/harness.ts"
import { runtimeLayer, seedListings, storeLayer } from "./support.ts"

const SHOTS = join(import.meta.dirname, "..", "..", "test-results", "ui")
const DAY = 86_400_000
const T0 = Date.parse("2026-03-01T00:00:00Z")

const events = stream("feedback.events", FeedbackEvent, { eventType: "feedback.received" })
const feed = feeder("feedback-feed", events)
const t = topology({
  name: uniqueName("fbui"),
  nodes: [feed.node, sink({ name: "noop", from: events, run: () => Effect.void })],
  services: Layer.empty,
  api: [feedbackApi({ events })]
})

const seed = Effect.gen(function* () {
  const store = yield* Store
  const seeded = yield* seedListings(store, "etsy", ["1001", "1002", "1003"], { publishedAt: () => new Date(T0 - 2 * DAY), eventAt: () => new Date(T0 - 3 * DAY) })
  const ids = [...seeded.values()]
  const rows = ids.flatMap((l, n) =>
    Array.from({ length: 6 }, (_, d) =>
      (["view", "favorite", "sale"] as const).map((kind) => ({
        id: deriveEventId("ui", l.externalId, String(d), kind),
        event: { listingId: l.listingId, kind, value: kind === "view" ? 100 + 20 * d + 30 * n : kind === "favorite" ? 3 + n * 2 + (d % 3) : d % 2, occurredAt: new Date(T0 + d * DAY + 3_600_000).toISOString() }
      }))
    ).flat()
  )
  yield* store.recordFeedback(rows)
  const variants = [
    { key: "black", label: "Black mock-up first" },
    { key: "white", label: "White mock-up first" }
  ]
  const running = newExperiment({ listingId: ids[0]!.listingId, name: "Primary colourway", metric: "ctr", variants, now: T0, periodHours: 48 })
  yield* store.createExperiment(running, { startsAt: new Date(T0), variant: "black" })
  yield* stepExperiment(running, T0 + 2 * DAY, () => Effect.void)
  const stopped = newExperiment({ listingId: ids[1]!.listingId, name: "Title variant", metric: "ctr", variants: [{ key: "a", label: "Funny title" }, { key: "b", label: "Plain title" }], now: T0, horizonDays: 3, periodHours: 24 })
  yield* store.createExperiment(stopped, { startsAt: new Date(T0), variant: "a" })
  for (let d = 1; d <= 4; d++) {
    const [e] = (yield* store.experiments("running")).filter((x) => x.id === stopped.id)
    if (e !== undefined) yield* stepExperiment(e, T0 + d * DAY, () => Effect.void)
  }
  yield* allocateDay("2026-03-07", Schema.decodeSync(PromotionConfig)({ budgetCents: 5_000 }))
  yield* store.recordLearnerRun({
    day: "2026-03-06",
    outcome: "test",
    items: 3,
    promotedVersion: null,
    reason: "not enough feedback: 3 ideas with feedback, 60 needed",
    figures: {}
  })
  return seeded
})

const runtime = ManagedRuntime.make(Layer.merge(storeLayer, runtimeLayer))
let base = ""
let browser: Browser
let server: Fiber.RuntimeFiber<void, unknown>
let shutdown: Deferred.Deferred<void>

beforeAll(async () => {
  const built = spawnSync(process.execPath, [join(import.meta.dirname, "..", "..", "ui", "ensure-built.mjs")], { stdio: "inherit" })
  if (built.status !== 0 || !existsSync(join(UI_DIST, "index.html"))) throw new Error("building the UI failed")
  mkdirSync(SHOTS, { recursive: true })
  await runtime.runPromise(seed)
  shutdown = await runtime.runPromise(Deferred.make<void>())
  const ready = await runtime.runPromise(Deferred.make<number>())
  server = runtime.runFork(
    Effect.scoped(
      Effect.gen(function* () {
        const app = yield* makeHttpApp({ topology: t, keys: makeKeys(t.name), token: Option.none(), corsOrigins: [], mount: mountStatic() })
        const http = yield* serveHttp(app, { port: 0, host: "127.0.0.1" })
        yield* Deferred.succeed(ready, (http.address() as AddressInfo).port)
        yield* Deferred.await(shutdown)
      })
    )
  )
  base = `http://127.0.0.1:${await runtime.runPromise(Deferred.await(ready))}`
  browser = await launchChromium()
}, 240_000)

afterAll(async () => {
  await browser?.close()
  if (shutdown) await runtime.runPromise(Deferred.succeed(shutdown, undefined))
  if (server) await runtime.runPromise(Fiber.join(server)).catch(() => undefined)
  await runtime.dispose()
})

describe("feedback view", () => {
  it("shows listings over time, experiments with posteriors and P(best), the allocation and the learner's decisions", async () => {
    const page = await browser.context.newPage()
    const errors: Array<string> = []
    page.on("pageerror", (e) => errors.push(e.message))
    try {
      await page.goto(`${base}/#/feedback`)
      const listings = page.getByRole("table", { name: "Listings with feedback" })
      await expect.poll(() => listings.locator("tbody tr").count(), { timeout: 30_000 }).toBe(3)
      expect(await listings.textContent()).toContain("listing 1003")
      // The selected listing's chart: a uPlot canvas with one series per kind.
      await expect.poll(() => page.locator(".feedback-chart canvas").count()).toBeGreaterThanOrEqual(3)
      await page.getByRole("button", { name: "listing 1002" }).click()
      await expect.poll(() => page.getByRole("heading", { name: "listing 1002: per day" }).count()).toBe(1)

      const running = page.getByRole("article", { name: "Experiment Primary colourway" })
      expect(await running.textContent()).toContain("running")
      const pBest = await running.locator(".p-best").allTextContents()
      expect(pBest).toHaveLength(2)
      expect(pBest.reduce((s, p) => s + Number(p.replace("%", "")), 0)).toBeCloseTo(100, 0)
      const stopped = page.getByRole("article", { name: "Experiment Title variant" })
      expect(await stopped.textContent()).toMatch(/Winner: (a|b)\./)
      expect(await stopped.textContent()).toContain("horizon of 3 days")

      const budget = page.getByRole("table", { name: "Daily allocation" })
      expect(await budget.locator("tbody tr").count()).toBe(3)
      const cents = (await budget.locator("tbody tr td:nth-child(3)").allTextContents()).reduce((s, v) => s + Math.round(Number(v.replace("$", "")) * 100), 0)
      expect(cents).toBe(5_000)

      expect(await page.getByRole("table", { name: "Weight versions" }).textContent()).toContain("v1")
      expect(await page.getByRole("table", { name: "Learner runs" }).textContent()).toContain("not enough feedback")
      expect(errors).toEqual([])
    } finally {
      await page.screenshot({ path: join(SHOTS, "feedback.png"), fullPage: true }).catch(() => undefined)
      await page.close()
    }
  }, 120_000)
})
