/**
 * Export publisher: the embedded default for publishing (`MARKETPLACES` unset). Writes an
 * export bundle per listing under `published-assets/export/<idea-id>/`: the print file, the
 * mock-ups, the listing as JSON and as a CSV row (with header). It stands in for a marketplace,
 * so the listing counts as published (its id is the listing id, its URL the print file's).
 */
import { Effect } from "effect"
import { BlobStore } from "../../runtime/blobs.ts"
import type { Listing } from "../schemas.ts"
import { bundleWriter, csv, readBlob } from "./bundle.ts"
import type { Publisher } from "./marketplace.ts"

const CSV_COLUMNS = ["listing_id", "idea_id", "title", "description", "price", "tags", "bullet_1", "bullet_2", "bullet_3", "bullet_4", "bullet_5", "print_file", "mockups"] as const

export const listingCsv = (listing: Listing, printFile: string, mockups: ReadonlyArray<string>): string =>
  csv(CSV_COLUMNS, [
    [
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
  ])

export const exportBundle = (): Publisher<BlobStore> => ({
  name: "export",
  make: Effect.map(BlobStore, (blobs) => ({
    name: "export",
    publish: (listing) =>
      Effect.gen(function* () {
        const bundle = yield* bundleWriter("export", listing)
        const printKey = yield* bundle.put("print.png", yield* readBlob(listing.mockups.artwork.printFileKey), "image/png")
        const mockupKeys = yield* Effect.forEach(listing.mockups.mockups, (m) =>
          Effect.flatMap(readBlob(m.key), (bytes) => bundle.put(`mockup-${m.variant}-${m.colorway}.jpg`, bytes, "image/jpeg"))
        )
        const url = yield* bundle.url(printKey)
        // The bundle leaves out the publish time, so a redelivery writes the very same bytes.
        yield* bundle.put("listing.json", Buffer.from(JSON.stringify({ ...listing, externalId: listing.listingId, url }, null, 2)), "application/json")
        yield* bundle.put("listing.csv", Buffer.from(listingCsv(listing, printKey, mockupKeys)), "text/csv")
        return { status: "published" as const, externalId: listing.listingId, url, remoteState: null }
      }).pipe(Effect.provideService(BlobStore, blobs))
  }))
})
