/**
 * Printify publisher: upload the print file, create the product (blueprint, print provider,
 * variants and price from config; the design on the front print area), publish it to the
 * shop's sales channel, and, for a shop connected through the API (`confirmPublishing`),
 * confirm the outcome with `publishing_succeeded`.
 *
 * Exactly once, as for Etsy (operators/publishers/etsy.ts): a publish intent is stored before
 * the create, the product id as soon as it is known, and every run resumes from what Printify
 * has (publish only if the product is neither published nor being published). When a create's
 * answer was lost, the stored id is missing: we look through the shop's products (newest first,
 * at most `RECONCILE_PAGES` pages, stopping at the first page older than the intent) for one
 * created since the intent with the exact title that no other idea claims, and adopt the oldest.
 * An upload whose answer was lost leaves an unused image in the Printify library (uploads are not
 * listings; the next attempt uploads again).
 */
import type { HttpClient } from "@effect/platform"
import { ConfigError, Effect, Option, Schema } from "effect"
import { BlobStore } from "../../runtime/blobs.ts"
import { PermanentError, type RetryableError } from "../../runtime/errors.ts"
import { decodeConfig } from "../../runtime/topology.ts"
import { make as makePrintify, PrintifyConfig, type PrintifyClient, type PrintifyProduct } from "../marketplaces/printify.ts"
import type { Listing } from "../schemas.ts"
import { Store } from "../store/store.ts"
import { readBlob } from "./bundle.ts"
import { inMarketplaceWords, type Publisher } from "./marketplace.ts"

export const PrintifyProductConfig = Schema.Struct({
  blueprintId: Schema.Int.annotations({ description: "catalog blueprint, e.g. 12: Unisex Jersey Short Sleeve Tee" }),
  printProviderId: Schema.Int.annotations({ description: "print provider of the blueprint" }),
  /** Variants to enable; empty: the first 100 of the blueprint and provider (Printify's cap per product). */
  variantIds: Schema.optionalWith(Schema.Array(Schema.Int), { default: () => [] }),
  /** Price of every variant in cents; default: the listing's price. */
  priceCents: Schema.optional(Schema.Int.pipe(Schema.positive())),
  /** For shops connected through the API: desAInz confirms the publish (publishing_succeeded). */
  confirmPublishing: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  /** The storefront's product URL prefix reported with publishing_succeeded. */
  storefrontUrl: Schema.optional(Schema.String)
})
export type PrintifyProductConfig = typeof PrintifyProductConfig.Type

export const PRINTIFY = "printify"
const MAX_VARIANTS = 100
const CLOCK_SKEW_MS = 300_000
const RECONCILE_PAGE = 50
const RECONCILE_PAGES = 10

/** Printify's error bodies: `{code, message, errors: {reason, code}}`. */
const printifyWords = <E extends RetryableError | PermanentError>(error: E) =>
  inMarketplaceWords(PRINTIFY, error, (body) => {
    const b = body as { message?: string; errors?: { reason?: string } }
    return b.errors?.reason ?? b.message
  })

/** "2019-07-25 13:40:41+00:00" as ms. */
const createdAt = (product: PrintifyProduct) => Date.parse(product.created_at.replace(" ", "T"))

export const printify = (config: typeof PrintifyProductConfig.Encoded): Publisher<HttpClient.HttpClient | Store | BlobStore> => {
  const c = decodeConfig(PRINTIFY, PrintifyProductConfig, config)
  return {
    name: PRINTIFY,
    make: Effect.gen(function* () {
      if (c.confirmPublishing && c.storefrontUrl === undefined) {
        return yield* Effect.fail(ConfigError.MissingData(["PRINTIFY_STOREFRONT_URL"], "printify: confirming publishes needs the storefront's product URL prefix"))
      }
      const client = yield* makePrintify(yield* PrintifyConfig)
      const store = yield* Store
      const blobs = yield* BlobStore
      return {
        name: PRINTIFY,
        publish: (listing) =>
          publishToPrintify(client, c, listing).pipe(Effect.mapError(printifyWords), Effect.provideService(Store, store), Effect.provideService(BlobStore, blobs))
      }
    })
  }
}

const findLostCreate = (client: PrintifyClient, intent: { ideaId: string; title: string; createdAt: Date }) =>
  Effect.gen(function* () {
    const since = intent.createdAt.getTime() - CLOCK_SKEW_MS
    const matches: Array<PrintifyProduct> = []
    for (let page = 1; page <= RECONCILE_PAGES; page++) {
      const result = yield* client.listProducts(page, RECONCILE_PAGE)
      matches.push(...result.data.filter((p) => createdAt(p) >= since && p.title === intent.title))
      if (page >= result.last_page || result.data.every((p) => createdAt(p) < since)) {
        const taken = yield* (yield* Store).remoteIdsTaken(PRINTIFY, matches.map((p) => p.id), intent.ideaId)
        const mine = matches.filter((p) => !taken.has(p.id)).sort((a, b) => createdAt(a) - createdAt(b) || a.id.localeCompare(b.id))
        return Option.fromNullable(mine[0])
      }
    }
    return yield* Effect.fail(
      new PermanentError({ message: `printify: more than ${RECONCILE_PAGES * RECONCILE_PAGE} products since the publish intent of idea ${intent.ideaId}; reconcile by hand` })
    )
  })

const publishToPrintify = (client: PrintifyClient, c: PrintifyProductConfig, listing: Listing) =>
  Effect.gen(function* () {
    const store = yield* Store
    const intent = yield* store.recordPublishIntent(listing.ideaId, PRINTIFY, listing.title)

    let productId: string
    if (intent.remoteId !== null) productId = intent.remoteId
    else {
      const lost = yield* findLostCreate(client, intent)
      if (Option.isSome(lost)) productId = lost.value.id
      else {
        const image = yield* client.uploadImage(`${listing.ideaId}.png`, yield* readBlob(listing.mockups.artwork.printFileKey))
        const variantIds =
          c.variantIds.length > 0 ? c.variantIds : (yield* client.variants(c.blueprintId, c.printProviderId)).variants.slice(0, MAX_VARIANTS).map((v) => v.id)
        const price = c.priceCents ?? listing.priceCents
        const product = yield* client.createProduct({
          title: intent.title,
          description: listing.description,
          tags: listing.tags,
          blueprint_id: c.blueprintId,
          print_provider_id: c.printProviderId,
          variants: variantIds.map((id) => ({ id, price, is_enabled: true })),
          print_areas: [{ variant_ids: variantIds, placeholders: [{ position: "front", images: [{ id: image.id, x: 0.5, y: 0.5, scale: 1, angle: 0 }] }] }]
        })
        productId = product.id
      }
      yield* store.recordRemoteId(listing.ideaId, PRINTIFY, productId)
    }

    let product = yield* client.getProduct(productId)
    // Locked: a publish is under way (ours, whose answer may have been lost); do not start another.
    if (!product.external && !product.is_locked) yield* client.publishProduct(productId)
    if (c.confirmPublishing && !product.external) {
      yield* client.publishingSucceeded(productId, { id: listing.listingId, handle: `${c.storefrontUrl!.replace(/\/+$/, "")}/${listing.listingId}` })
    }
    product = yield* client.getProduct(productId)
    return {
      status: "published" as const,
      externalId: productId,
      url: product.external?.handle ?? null,
      remoteState: product.external ? "published" : "publishing"
    }
  })
