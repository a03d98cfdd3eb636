/**
 * Redbubble has no public upload API and no bulk upload: this publisher writes what the seller
 * uploads by hand under `published-assets/redbubble/<idea-id>/`, and the listing is marked
 * `exported`.
 *
 * - `design.png`: the artwork fitted (not cropped, transparent margins) into 2875 x 3900 px, the
 *   size Redbubble's image-size guide gives for its classic t-shirt (help.redbubble.com, "What
 *   image sizes should I upload?"); a PNG keeps the transparency.
 * - `redbubble.csv`: one row with the fields of Redbubble's "Add new work" form, in its order:
 *   title, tags (Redbubble takes up to 15, comma-separated), description, the artwork's file
 *   name, and the default product colour. There is no official bulk file; the row is what a
 *   person (or an uploader tool) copies into that form.
 */
import { Effect, Schema } from "effect"
import sharp from "sharp"
import { BlobStore } from "../../runtime/blobs.ts"
import { PermanentError } from "../../runtime/errors.ts"
import { decodeConfig } from "../../runtime/topology.ts"
import { bundleWriter, csv, readBlob } from "./bundle.ts"
import type { Publisher } from "./marketplace.ts"

export const REDBUBBLE_TSHIRT = { width: 2875, height: 3900 } as const
export const REDBUBBLE_MAX_TAGS = 15

export const RedbubbleConfig = Schema.Struct({
  defaultColor: Schema.optionalWith(Schema.String, { default: () => "black" })
})

const COLUMNS = ["title", "tags", "description", "artwork_file", "default_product_color"] as const

export const redbubble = (config: typeof RedbubbleConfig.Encoded = {}): Publisher<BlobStore> => {
  const c = decodeConfig("redbubble", RedbubbleConfig, config)
  return {
    name: "redbubble",
    make: Effect.map(BlobStore, (blobs) => ({
      name: "redbubble",
      publish: (listing) =>
        Effect.gen(function* () {
          const bundle = yield* bundleWriter("redbubble", listing)
          const art = yield* readBlob(listing.mockups.artwork.printFileKey)
          const fitted = yield* Effect.tryPromise({
            catch: (e) => new PermanentError({ message: `redbubble: the print file does not decode: ${String(e)}` }),
            try: () =>
            sharp(art)
              .resize(REDBUBBLE_TSHIRT.width, REDBUBBLE_TSHIRT.height, { fit: "contain", background: { r: 0, g: 0, b: 0, alpha: 0 } })
              .withMetadata({ density: 300 })
              .png()
              .toBuffer()
          })
          const designKey = yield* bundle.put("design.png", fitted, "image/png")
          const row = [listing.title, listing.tags.slice(0, REDBUBBLE_MAX_TAGS).join(", "), listing.description, "design.png", c.defaultColor]
          yield* bundle.put("redbubble.csv", Buffer.from(csv(COLUMNS, [row])), "text/csv")
          return { status: "exported" as const, externalId: null, url: yield* bundle.url(designKey), remoteState: null }
        }).pipe(Effect.provideService(BlobStore, blobs))
    }))
  }
}
