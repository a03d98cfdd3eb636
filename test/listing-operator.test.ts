/**
 * The listing operator on the embedded transport with the real store (PGlite) and the LLM
 * writer against the fake OpenAI-compatible server: one draft per configured marketplace,
 * each fitted to its rules, and each row records the writer (and the model, or why the
 * template stood in).
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Deferred, Effect, Exit, Fiber, Layer, ManagedRuntime, Redacted, Scope } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Metrics } from "../runtime/metrics.ts"
import { attempt, migrate, Sql } from "../runtime/sql.ts"
import { sink, stream, topology } from "../runtime/topology.ts"
import * as EmbeddedTransport from "../runtime/transport/embedded.ts"
import { runWorker } from "../runtime/worker.ts"
import { listing } from "../operators/listing/listing.ts"
import { MARKETPLACE_RULES, ruleViolations } from "../operators/listing/rules.ts"
import * as ListingWriter from "../operators/listing/writer.ts"
import { Listing, MockupSet } from "../operators/schemas.ts"
import { Store } from "../operators/store/store.ts"
import { API_KEY, MODEL, startOpenAIFake } from "./fakes/openai.ts"
import { feeder, uniqueName } from "./support/harness.ts"
import { sampleIdea, sampleSet } from "./support/listings.ts"

const dir = mkdtempSync(join(tmpdir(), "desainz-listing-op-"))
const scope = Effect.runSync(Scope.make())
const fake = await Effect.runPromise(Scope.extend(startOpenAIFake, scope))

const mockupsReady = stream("mockups.ready", MockupSet, { maxLen: 1_000 })
const listingsDraft = stream("listings.draft", Listing, { maxLen: 1_000 })
const feed = feeder("mockups-feed", mockupsReady)
const drafts: Array<Listing> = []

const services = Layer.mergeAll(
  Store.layer.pipe(Layer.provideMerge(Layer.effectDiscard(migrate())), Layer.provideMerge(Sql.layerEmbedded({ dataDir: join(dir, "pg"), port: 0 }))),
  ListingWriter.layerLlm({ baseURL: fake.url, model: MODEL, apiKey: Redacted.make(API_KEY), maxRetries: 0 })
)
const t = topology({
  name: uniqueName("listing"),
  nodes: [
    feed.node,
    listing({ marketplaces: ["etsy", "amazon-merch"], priceCents: 2199 }, { from: mockupsReady, to: listingsDraft }),
    sink({ name: "drafts", from: listingsDraft, run: (l) => Effect.sync(() => void drafts.push(l)) })
  ],
  services
})
const runtime = ManagedRuntime.make(Layer.mergeAll(EmbeddedTransport.layer, Metrics.layer, services))
let stop: Deferred.Deferred<void>
let worker: Fiber.RuntimeFiber<void, unknown>

const IDEA = sampleIdea({ ideaId: "6a1f2c0e-58a8-4d7e-9a0b-00000000e001", signalId: "6a1f2c0e-58a8-4d7e-9a0b-00000000e002" })

beforeAll(async () => {
  await runtime.runPromise(
    Effect.gen(function* () {
      const store = yield* Store
      yield* store.upsertSignals([{ id: IDEA.signalId, content: IDEA.signal.content, source: "occasions", capturedAt: new Date(IDEA.signal.capturedAt), metadata: {}, contentHash: "c".repeat(32) }])
      yield* store.upsertIdeas([{ id: IDEA.ideaId, signalId: IDEA.signalId, title: IDEA.title, description: "", embedding: null, score: IDEA.score, factors: IDEA.factors, weightsVersion: 1 }])
    })
  )
  stop = await runtime.runPromise(Deferred.make<void>())
  worker = runtime.runFork(Effect.scoped(runWorker({ topology: t, stop, consumerPrefix: uniqueName("c"), maintenanceEvery: "200 millis" })))
}, 120_000)

afterAll(async () => {
  if (stop) await runtime.runPromise(Deferred.done(stop, Exit.void))
  if (worker) await runtime.runPromise(Fiber.join(worker)).catch(() => undefined)
  await runtime.dispose()
  await Effect.runPromise(Scope.close(scope, Exit.void))
  rmSync(dir, { recursive: true, force: true })
})

describe("listing operator", () => {
  it("drafts one listing per marketplace, fitted to its rules, and records which writer wrote each", async () => {
    // Etsy: the model answers well. Amazon Merch: two bad answers, so the template stands in.
    fake.answers.push(
      (body) => {
        expect(body.messages[0]!.content).toContain("Rules for etsy")
        return JSON.stringify({
          title: "Dog Mom Club T-Shirt - Mother's Day Gift",
          description: "Dog Mom Club in bold type, for dog lovers.",
          bullets: ["Dog Mom Club lettering", "For dog lovers", "For Mother's Day", "In black or heather grey", "Bold type"],
          tags: ["dog mom", "dog mom club", "mothers day gift"]
        })
      },
      "not json",
      "still not json"
    )
    feed.push({ data: sampleSet(IDEA) })
    await expect.poll(() => drafts.length, { timeout: 60_000 }).toBe(2)
    const byMarketplace = Object.fromEntries(drafts.map((d) => [d.marketplace, d]))
    expect(byMarketplace["etsy"]!.writer).toBe("llm")
    expect(byMarketplace["etsy"]!.title).toBe("Dog Mom Club T-Shirt - Mother's Day Gift")
    expect(byMarketplace["amazon-merch"]!.writer).toBe("template")
    for (const d of drafts) {
      expect(d.priceCents).toBe(2199)
      expect(ruleViolations(d, MARKETPLACE_RULES[d.marketplace as keyof typeof MARKETPLACE_RULES])).toEqual([])
    }
    expect(byMarketplace["amazon-merch"]!.bullets).toHaveLength(2)
    expect(byMarketplace["amazon-merch"]!.tags).toEqual([])
    const rows = await runtime.runPromise(
      Effect.flatMap(Sql, ({ client: sql }) =>
        attempt("read listings", () => sql`select marketplace, status, writer, writer_note, title from listings where idea_id = ${IDEA.ideaId} order by marketplace`)
      )
    )
    expect(rows.map((r) => [r["marketplace"], r["status"], r["writer"]])).toEqual([
      ["amazon-merch", "draft", "template"],
      ["etsy", "draft", "llm"]
    ])
    expect(rows[1]!["writer_note"]).toBe(MODEL)
    expect(rows[0]!["writer_note"]).toContain(`${MODEL} answer unusable after one repair: the answer is not valid JSON`)
    expect(rows[1]!["title"]).toBe("Dog Mom Club T-Shirt - Mother's Day Gift")
  }, 90_000)
})
