/**
 * Amazon Merch on Demand has no public upload API: this publisher writes what the seller
 * uploads by hand under `published-assets/amazon-merch/<idea-id>/`, and the listing is marked
 * `exported`.
 *
 * - `design.png`: the standard t-shirt artwork, 4500 x 5400 px PNG at 300 DPI, transparent,
 *   under 25 MB (Merch on Demand "Artwork guidelines", merch.amazon.com/resource); the print
 *   file already is one, so it is checked and copied, never resampled.
 * - `merch.csv`: one row with the fields of Merch's create page (merch.amazon.com/designs/new):
 *   brand (at most 50 characters), title (at most 60), two bullet points (at most 256 each), a
 *   description (at most 2000), list price, marketplace, product type, fit types, colours and the
 *   artwork's file name. Merch publishes no bulk file format of its own (uploads go through that
 *   form), so the columns follow the form, in its order, and fields are cut to its limits at a
 *   word boundary for a person to review before uploading.
 */
import { Effect, Schema } from "effect"
import sharp from "sharp"
import { BlobStore } from "../../runtime/blobs.ts"
import { PermanentError } from "../../runtime/errors.ts"
import { decodeConfig } from "../../runtime/topology.ts"
import { bundleWriter, csv, fit, readBlob } from "./bundle.ts"
import type { Publisher } from "./marketplace.ts"

export const MERCH_LIMITS = { brand: 50, title: 60, bullet: 256, description: 2000 } as const
export const MERCH_ARTWORK = { width: 4500, height: 5400, maxBytes: 25 * 1024 * 1024 } as const

export const AmazonMerchConfig = Schema.Struct({
  brand: Schema.NonEmptyString.annotations({ description: "brand name shown on the product page (at most 50 characters)" }),
  marketplace: Schema.optionalWith(Schema.String, { default: () => "Amazon.com" }),
  productType: Schema.optionalWith(Schema.String, { default: () => "Standard t-shirt" }),
  fitTypes: Schema.optionalWith(Schema.String, { default: () => "Men;Women" }),
  colors: Schema.optionalWith(Schema.String, { default: () => "Black;White" })
})

const COLUMNS = [
  "product_type",
  "marketplace",
  "brand",
  "title",
  "bullet_point_1",
  "bullet_point_2",
  "description",
  "list_price",
  "fit_types",
  "colors",
  "artwork_file"
] as const

export const amazonMerch = (config: typeof AmazonMerchConfig.Encoded): Publisher<BlobStore> => {
  const c = decodeConfig("amazon-merch", AmazonMerchConfig, config)
  return {
    name: "amazon-merch",
    make: Effect.map(BlobStore, (blobs) => ({
      name: "amazon-merch",
      publish: (listing) =>
        Effect.gen(function* () {
          const bundle = yield* bundleWriter("amazon-merch", listing)
          const art = yield* readBlob(listing.mockups.artwork.printFileKey)
          const meta = yield* Effect.tryPromise({
            try: () => sharp(art).metadata(),
            catch: (e) => new PermanentError({ message: `amazon-merch: the print file does not decode: ${String(e)}` })
          })
          if (meta.format !== "png" || meta.width !== MERCH_ARTWORK.width || meta.height !== MERCH_ARTWORK.height || art.byteLength > MERCH_ARTWORK.maxBytes) {
            return yield* Effect.fail(
              new PermanentError({
                message: `amazon-merch: the print file is ${meta.format} ${meta.width}x${meta.height}, ${art.byteLength} bytes; Merch wants a PNG of ${MERCH_ARTWORK.width}x${MERCH_ARTWORK.height} under 25 MB`
              })
            )
          }
          const designKey = yield* bundle.put("design.png", art, "image/png")
          const row = [
            c.productType,
            c.marketplace,
            fit(c.brand, MERCH_LIMITS.brand),
            fit(listing.title, MERCH_LIMITS.title),
            fit(listing.bullets[0] ?? "", MERCH_LIMITS.bullet),
            fit(listing.bullets[1] ?? "", MERCH_LIMITS.bullet),
            fit(listing.description, MERCH_LIMITS.description),
            (listing.priceCents / 100).toFixed(2),
            c.fitTypes,
            c.colors,
            "design.png"
          ]
          yield* bundle.put("merch.csv", Buffer.from(csv(COLUMNS, [row])), "text/csv")
          return { status: "exported" as const, externalId: null, url: yield* bundle.url(designKey), remoteState: null }
        }).pipe(Effect.provideService(BlobStore, blobs))
    }))
  }
}
