/**
 * What the bundle publishers share (export, redbubble, amazon-merch): reading a listing's
 * images from the blob store, writing files under `published-assets/<marketplace>/<idea-id>/`,
 * and a CSV with a header row. Same listing, same keys, same bytes: a redelivery rewrites
 * identical files.
 */
import { Effect } from "effect"
import { BlobStore } from "../../runtime/blobs.ts"
import { PermanentError } from "../../runtime/errors.ts"
import { publishedAssetKey } from "../blobKeys.ts"
import { csvField } from "../csv.ts"
import type { Listing } from "../schemas.ts"

/** A blob the listing names; a missing one is permanent (the artwork is gone, no retry brings it back). */
export const readBlob = (key: string) =>
  Effect.flatMap(BlobStore, (blobs) =>
    Effect.catchTag(blobs.get(key), "BlobNotFound", (e) => Effect.fail(new PermanentError({ message: `missing artwork: ${e.message}` })))
  )

export const bundleWriter = (marketplace: string, listing: Listing) =>
  Effect.map(BlobStore, (blobs) => ({
    key: (file: string) => publishedAssetKey(marketplace, listing.ideaId, file),
    put: (file: string, bytes: Uint8Array, contentType: string) =>
      Effect.flatMap(publishedAssetKey(marketplace, listing.ideaId, file), (key) => Effect.as(blobs.put(key, bytes, { contentType }), key)),
    /** Where the app serves the file (`/blobs/<key>`, for the local folder and S3 alike): the listing's URL. */
    url: (key: string) => Effect.succeed(`/blobs/${key.split("/").map(encodeURIComponent).join("/")}`)
  }))

export const csv = (columns: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string | number>>): string =>
  [columns.join(","), ...rows.map((r) => r.map(csvField).join(","))].join("\n") + "\n"

/** `text` cut to `max` characters at a word boundary (bulk sheets refuse longer fields). */
export const fit = (text: string, max: number): string => {
  if (text.length <= max) return text
  const cut = text.slice(0, max + 1)
  const space = cut.lastIndexOf(" ")
  return (space > max / 2 ? cut.slice(0, space) : text.slice(0, max)).replace(/[\s,.;:-]+$/, "")
}
