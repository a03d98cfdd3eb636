/**
 * Export publisher: the embedded default for publishing. Writes an export bundle per
 * listing under `published-assets/export/<idea-id>/`: the print file, the mock-ups, the
 * listing as JSON and as a CSV row (with header) that marketplace bulk-upload sheets take.
 * Idempotent: same listing, same keys, same bytes.
 */
import { Effect } from "effect"
import { BlobStore } from "../../runtime/blobs.ts"
import { observe } from "../../runtime/metrics.ts"
import { map, type SettingsInput, type StreamDef } from "../../runtime/topology.ts"
import { publishedAssetKey } from "../blobKeys.ts"
import { csvField } from "../csv.ts"
import type { Listing } from "../schemas.ts"
import { Store } from "../store/store.ts"

const CSV_COLUMNS = ["listing_id", "idea_id", "title", "description", "price", "tags", "bullet_1", "bullet_2", "bullet_3", "bullet_4", "bullet_5", "print_file", "mockups"] as const

export const listingCsv = (listing: Listing, printFile: string, mockups: ReadonlyArray<string>): string => {
  const row = [
    listing.listingId,
    listing.ideaId,
    listing.title,
    listing.description,
    (listing.priceCents / 100).toFixed(2),
    listing.tags.join(","),
    ...listing.bullets,
    printFile,
    mockups.join(" ")
  ]
  return `${CSV_COLUMNS.join(",")}\n${row.map(csvField).join(",")}\n`
}

/** Seconds from a signal's event time to its listing going live: the product's speed KPI. */
export const SIGNAL_TO_PUBLISH_BUCKETS = [60, 300, 900, 1800, 3600, 7200, 14400, 43200, 86400, 259200, 604800, 2592000]

export const exportBundle = (io: { readonly from: StreamDef<Listing>; readonly to: StreamDef<Listing> }, settings?: SettingsInput) =>
  map({
    name: "publish",
    kind: "publish-export",
    ...io,
    settings,
    config: { marketplace: "export" },
    run: (listing) =>
      Effect.gen(function* () {
        const blobs = yield* BlobStore
        const store = yield* Store
        const at = (...parts: Array<string>) => publishedAssetKey("export", listing.ideaId, ...parts)
        const art = listing.mockups.artwork
        const printKey = yield* at("print.png")
        yield* blobs.put(printKey, yield* blobs.get(art.printFileKey), { contentType: "image/png" })
        const mockupKeys = yield* Effect.forEach(listing.mockups.mockups, (m) =>
          Effect.gen(function* () {
            const key = yield* at(`mockup-${m.variant}-${m.colorway}.jpg`)
            yield* blobs.put(key, yield* blobs.get(m.key), { contentType: "image/jpeg" })
            return key
          })
        )
        const publishedAt = new Date().toISOString()
        const published: Listing = { ...listing, externalId: listing.listingId, url: yield* blobs.uri(printKey), publishedAt }
        // The bundle leaves out the publish time, so a redelivery writes the very same bytes.
        yield* blobs.put(yield* at("listing.json"), Buffer.from(JSON.stringify({ ...published, publishedAt: undefined }, null, 2)), {
          contentType: "application/json"
        })
        yield* blobs.put(yield* at("listing.csv"), Buffer.from(listingCsv(listing, printKey, mockupKeys)), { contentType: "text/csv" })
        yield* store.upsertListings([
          {
            id: listing.listingId,
            ideaId: listing.ideaId,
            marketplace: listing.marketplace,
            externalId: published.externalId ?? null,
            url: published.url ?? null,
            title: listing.title,
            description: listing.description,
            tags: listing.tags,
            status: "published",
            performance: {},
            publishedAt: new Date(publishedAt)
          }
        ])
        yield* store.setIdeaStatus(listing.ideaId, "live")
        // At-least-once: a publish redelivered after a crash is observed twice; rare enough for a KPI.
        yield* observe(
          "desainz_signal_to_publish_seconds",
          "Seconds from a signal's event time to its listing being published",
          { marketplace: listing.marketplace },
          (Date.parse(publishedAt) - Date.parse(art.idea.signal.capturedAt)) / 1000,
          SIGNAL_TO_PUBLISH_BUCKETS
        )
        return published
      })
  })
