/**
 * Approved listings for publisher tests: the signal and idea rows they hang off (listings
 * reference ideas), a real 4500x5400 PNG print file and two JPEG mock-ups in the blob store, and
 * the `Listing` as `listings.approved` carries it.
 */
import { createHash, randomUUID } from "node:crypto"
import { Effect } from "effect"
import sharp from "sharp"
import { mockupKey, printFileKey } from "../../operators/blobKeys.ts"
import { listingIdOf } from "../../operators/ids.ts"
import type { Listing } from "../../operators/schemas.ts"
import { Store } from "../../operators/store/store.ts"
import { BlobStore } from "../../runtime/blobs.ts"

const png = (seed: number) =>
  sharp({ create: { width: 4500, height: 5400, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
    .composite([{ input: { create: { width: 900, height: 300, channels: 4, background: { r: seed % 256, g: 40, b: 90, alpha: 1 } } }, top: 2500, left: 1800 }])
    .withMetadata({ density: 300 })
    .png()
    .toBuffer()

const jpeg = (seed: number, colorway: string) =>
  sharp({ create: { width: 400, height: 480, channels: 3, background: colorway === "black" ? { r: 10, g: 10, b: seed % 256 } : { r: 245, g: 245, b: seed % 256 } } })
    .jpeg()
    .toBuffer()

/** The same approved listing as drafted for another marketplace (the listing stage drafts one per marketplace). */
export const forMarketplace = (listing: Listing, marketplace: string): Listing => ({ ...listing, marketplace, listingId: listingIdOf(listing.ideaId, marketplace) })

export const approvedListing = (n: number, overrides: Partial<Pick<Listing, "title" | "tags" | "description" | "marketplace">> = {}) =>
  Effect.gen(function* () {
    const store = yield* Store
    const blobs = yield* BlobStore
    const signalId = randomUUID()
    const ideaId = randomUUID()
    const content = `Coffee First Teacher Later ${n} ${signalId}`
    yield* store.upsertSignals([
      {
        id: signalId,
        content,
        source: "webhook",
        capturedAt: new Date("2026-12-01T10:00:00Z"),
        metadata: {},
        contentHash: createHash("sha256").update(content).digest("hex").slice(0, 32)
      }
    ])
    yield* store.upsertIdeas([
      { id: ideaId, signalId, title: `Coffee First ${n}`, description: "", embedding: null, score: 0.9, factors: {}, weightsVersion: 1 }
    ])
    const printKey = yield* printFileKey(ideaId, "png")
    const print = yield* blobs.put(printKey, yield* Effect.promise(() => png(n)), { contentType: "image/png" })
    const mockups = yield* Effect.forEach(["black", "white"], (colorway) =>
      Effect.gen(function* () {
        const key = yield* mockupKey(ideaId, "front", colorway, "jpg")
        const put = yield* blobs.put(key, yield* Effect.promise(() => jpeg(n, colorway)), { contentType: "image/jpeg" })
        return { variant: "front" as const, colorway, key, uri: put.uri }
      })
    )
    const idea = {
      ideaId,
      signalId,
      signal: { source: "webhook", sourceId: `s-${n}`, content, capturedAt: "2026-12-01T10:00:00.000Z", engagement: {}, tags: ["teachers"], metadata: {} },
      keyPhrase: "Coffee First Teacher Later",
      title: `Coffee First ${n}`,
      niche: "teachers",
      score: 0.9,
      factors: { freshness: 1, engagement: 1, novelty: 1, communityFit: 1, seasonality: 0 },
      weightsVersion: 1
    }
    const marketplace = overrides.marketplace ?? "export"
    const listing: Listing = {
      listingId: listingIdOf(ideaId, marketplace),
      ideaId,
      marketplace,
      title: overrides.title ?? `Coffee First Teacher Later ${n} T-Shirt - Gift for Teachers`,
      bullets: ["Bold typography", "Made for teachers", "Soft unisex fit", "Black and white", "Printed on demand"],
      description: overrides.description ?? "Coffee first, teacher later. A shirt for teachers who run on coffee.",
      tags: overrides.tags ?? ["teacher shirt", "coffee lover", "teacher gift"],
      priceCents: 2499,
      mockups: {
        artwork: { idea, seed: "1", engine: "procedural", printFileKey: printKey, printFileUri: print.uri, width: 4500, height: 5400, dpi: 300, sha256: print.sha256 },
        mockups: [mockups[0]!, mockups[1]!]
      }
    }
    return listing
  })
