/**
 * The store's side of brand & IP safety and the listing writer (migration 0005): review
 * reasons on an idea (merged, each kept once, shown in the idea cards) and the writer of a
 * listing's text.
 */
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { attempt, migrate, Sql } from "../runtime/sql.ts"
import type { ReviewReason } from "../operators/schemas.ts"
import { Store } from "../operators/store/store.ts"
import { listingIdOf } from "../operators/ids.ts"
import { templateText } from "../operators/listing/template.ts"
import { sampleIdea, sampleSet } from "./support/listings.ts"

const dir = Layer.unwrapScoped(
  Effect.map(
    Effect.acquireRelease(Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "desainz-reasons-store-"))), (d) => Effect.promise(() => fs.rm(d, { recursive: true, force: true }))),
    (d) => Sql.layerEmbedded({ dataDir: path.join(d, "pg"), port: 0 })
  )
)
const StoreLayer = Store.layer.pipe(Layer.provideMerge(Layer.effectDiscard(migrate())), Layer.provideMerge(dir))

const IDEA = "6a1f2c0e-58a8-4d7e-9a0b-00000000c001"
const SIGNAL = "6a1f2c0e-58a8-4d7e-9a0b-00000000c002"
const LISTING = "6a1f2c0e-58a8-4d7e-9a0b-00000000c003"
const nike: ReviewReason = { kind: "trademark", found: "nike", matched: "Nike", field: "idea", source: "simple-icons" }
const addidas: ReviewReason = { kind: "trademark-near-miss", found: "addidas", matched: "Adidas", field: "listing:etsy:title", source: "simple-icons" }

describe("store: review reasons and listing writer", () => {
  layer(StoreLayer, { timeout: "120 seconds" })((it) => {
    it.effect("reasons merge, each kept once, and reach the idea cards; the writer is recorded on the listing", () =>
      Effect.gen(function* () {
        const store = yield* Store
        yield* store.upsertSignals([{ id: SIGNAL, content: "Nike running club", source: "webhook", capturedAt: new Date("2026-01-01T00:00:00Z"), metadata: {}, contentHash: "a".repeat(32) }])
        yield* store.upsertIdeas([{ id: IDEA, signalId: SIGNAL, title: "Nike Running Club", description: "", embedding: null, score: 0.9, factors: {}, weightsVersion: 1 }])
        expect(yield* store.addReviewReasons(IDEA, [])).toEqual([])
        expect(yield* store.addReviewReasons(IDEA, [nike])).toEqual([nike])
        const both = yield* store.addReviewReasons(IDEA, [addidas, nike])
        expect([...both].sort((a, b) => a.kind.localeCompare(b.kind))).toEqual([nike, addidas])
        expect(yield* store.addReviewReasons("6a1f2c0e-58a8-4d7e-9a0b-00000000ffff", [nike])).toEqual([])
        const [card] = yield* store.ideaCards({ limit: 10 })
        expect(card!.reviewReasons).toHaveLength(2)
        expect(card!.reviewStatus).toBe("pending")

        yield* store.upsertListings([{ id: LISTING, ideaId: IDEA, marketplace: "etsy", externalId: null, url: null, title: "t", description: "d", tags: [], status: "draft", performance: {}, publishedAt: null }])
        expect(yield* store.setListingWriter(LISTING, "llm", "gpt-4o-mini")).toBe(true)
        expect(yield* store.setListingWriter("6a1f2c0e-58a8-4d7e-9a0b-00000000fffe", "template", null)).toBe(false)
        const { client: sql } = yield* Sql
        const rows = yield* attempt("read writer", () => sql`select writer, writer_note from listings where id = ${LISTING}`)
        expect(rows).toEqual([{ writer: "llm", writer_note: "gpt-4o-mini" }])
        const refused = yield* Effect.flip(attempt("bad writer", () => sql`update listings set writer = 'human' where id = ${LISTING}`))
        expect(refused.message).toContain("check")
      })
    )

    it.effect("an idea drafted for two marketplaces parks both drafts; approval reads both", () =>
      Effect.gen(function* () {
        const store = yield* Store
        const [idea, signal] = ["6a1f2c0e-58a8-4d7e-9a0b-00000000d001", "6a1f2c0e-58a8-4d7e-9a0b-00000000d002"] as const
        yield* store.upsertSignals([{ id: signal, content: "Dog mom club", source: "webhook", capturedAt: new Date("2026-01-01T00:00:00Z"), metadata: {}, contentHash: "b".repeat(32) }])
        yield* store.upsertIdeas([{ id: idea, signalId: signal, title: "Dog Mom Club", description: "", embedding: null, score: 0.2, factors: {}, weightsVersion: 1 }])
        const set = sampleSet(sampleIdea({ ideaId: idea, signalId: signal }))
        for (const marketplace of ["etsy", "amazon-merch"] as const) {
          const id = listingIdOf(idea, marketplace)
          yield* store.upsertListings([{ id, ideaId: idea, marketplace, externalId: null, url: null, title: "t", description: "d", tags: [], status: "draft", performance: {}, publishedAt: null }])
          const text = templateText({ set, marketplace, product: "T-Shirt" })
          expect(yield* store.parkForReview({ listingId: id, ideaId: idea, marketplace, ...text, priceCents: 2499, mockups: set, writer: "template" })).toBe(true)
        }
        const drafts = (yield* store.parkedDrafts(idea)) as ReadonlyArray<{ marketplace: string; bullets: ReadonlyArray<string> }>
        expect(drafts.map((d) => [d.marketplace, d.bullets.length]).sort()).toEqual([["amazon-merch", 2], ["etsy", 5]])
      })
    )
  })
})
