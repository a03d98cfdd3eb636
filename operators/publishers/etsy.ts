/**
 * Etsy publisher: createDraftListing, the SKU through updateListingInventory (createDraftListing
 * has no SKU field), uploadListingImage (mock-ups in rank order; the print file when
 * `uploadPrintFile`), then activate or leave as a draft (`state`, draft by default).
 *
 * Exactly once on Etsy. Before the first create, a publish intent (idea, marketplace, attempt,
 * created_at) is stored; the listing id is stored the moment it is known. Every run, first or
 * redelivered, then resumes from what Etsy has: it sets the SKU if missing, uploads the images
 * Etsy does not have (an image is known by its alt text, which names the mock-up), and activates
 * if asked. So a crash or a lost answer after any step redoes nothing.
 *
 * The hard case is a create whose answer was lost (a 502 after Etsy made the draft, a dropped
 * connection, a kill between the create and storing its id): no id was stored, and Etsy has no
 * idempotency key and no SKU on the draft yet. Before creating, we therefore search the shop's
 * drafts created since the intent (getListingsByShop, state=draft, sort_on=created, newest first,
 * stopping at the first older than the intent minus a clock-skew margin) for the exact title,
 * leaving out any listing another idea has recorded as its own, and adopt the oldest match.
 * Why this key: the intent's time bounds when our create can have happened (it is written
 * before), the title is ours verbatim, and drafts are where an unfinished create must be (we only
 * activate after the id is stored). What it cannot tell apart: a draft with the same exact title
 * that someone created by hand in that window, which we would adopt rather than duplicate; and
 * with more than `RECONCILE_PAGES` pages of drafts newer than the intent, we give up with a
 * permanent error naming the idea rather than risk a second listing.
 */
import { Config, ConfigError, Effect, Option, Schema } from "effect"
import { BlobStore } from "../../runtime/blobs.ts"
import { Credentials } from "../marketplaces/credentials.ts"
import { type EtsyClient, EtsyConfig, type EtsyListing, make as makeEtsy } from "../marketplaces/etsy.ts"
import { PermanentError, RetryableError } from "../../runtime/errors.ts"
import type { HttpClient } from "@effect/platform"
import { decodeConfig } from "../../runtime/topology.ts"
import type { Listing } from "../schemas.ts"
import { Store } from "../store/store.ts"
import { readBlob } from "./bundle.ts"
import { inMarketplaceWords, listingImages, type Publisher } from "./marketplace.ts"

export const EtsyProductConfig = Schema.Struct({
  taxonomyId: Schema.optional(Schema.Int).annotations({ description: "seller taxonomy node (getSellerTaxonomyNodes), e.g. your shop's T-shirts category" }),
  shippingProfileId: Schema.optional(Schema.Int).annotations({ description: "shipping profile of the shop (required for physical listings)" }),
  readinessStateId: Schema.optional(Schema.Int).annotations({ description: "processing profile / readiness state (required for physical listings)" }),
  /** Overrides the listing's own price. */
  price: Schema.optional(Schema.Number.pipe(Schema.between(0.2, 50_000))),
  quantity: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 999)), { default: () => 999 }),
  state: Schema.optionalWith(Schema.Literal("draft", "active"), { default: () => "draft" as const }),
  whoMade: Schema.optionalWith(Schema.Literal("i_did", "someone_else", "collective"), { default: () => "i_did" as const }),
  whenMade: Schema.optionalWith(Schema.String, { default: () => "made_to_order" }),
  uploadPrintFile: Schema.optionalWith(Schema.Boolean, { default: () => false })
})
export type EtsyProductConfig = typeof EtsyProductConfig.Type

export const ETSY = "etsy"
/** Etsy's clock and ours may disagree; search a little before the intent. */
const CLOCK_SKEW_S = 300
const RECONCILE_PAGE = 100
const RECONCILE_PAGES = 10
/** Etsy SKUs are at most 32 characters: the idea id without its dashes is exactly that. */
export const skuOf = (ideaId: string) => ideaId.replace(/-/g, "")

/** Etsy's error bodies are `{"error": "..."}`. */
const etsyWords = <E extends RetryableError | PermanentError>(error: E) =>
  inMarketplaceWords(ETSY, error, (body) => (body as { error?: string }).error)

const required = (value: number | undefined, variable: string, why: string) =>
  value === undefined ? Effect.fail(ConfigError.MissingData([variable], `etsy: ${why}`)) : Effect.succeed(value)

/** Settings from topology.ts; ETSY_TAXONOMY_ID, ETSY_SHIPPING_PROFILE_ID, ETSY_READINESS_STATE_ID, ETSY_PRICE and ETSY_STATE override them. */
export const etsy = (config: typeof EtsyProductConfig.Encoded = {}): Publisher<HttpClient.HttpClient | Credentials | Store | BlobStore> => {
  const settings = decodeConfig(ETSY, EtsyProductConfig, config)
  return {
    name: ETSY,
    make: Effect.gen(function* () {
      // The environment overrides the settings written in topology.ts.
      const env = yield* Config.all({
        taxonomyId: Config.option(Config.integer("ETSY_TAXONOMY_ID")),
        shippingProfileId: Config.option(Config.integer("ETSY_SHIPPING_PROFILE_ID")),
        readinessStateId: Config.option(Config.integer("ETSY_READINESS_STATE_ID")),
        price: Config.option(Config.number("ETSY_PRICE")),
        state: Config.option(Config.literal("draft", "active")("ETSY_STATE"))
      })
      const c: EtsyProductConfig = {
        ...settings,
        taxonomyId: Option.getOrElse(env.taxonomyId, () => settings.taxonomyId),
        shippingProfileId: Option.getOrElse(env.shippingProfileId, () => settings.shippingProfileId),
        readinessStateId: Option.getOrElse(env.readinessStateId, () => settings.readinessStateId),
        price: Option.getOrElse(env.price, () => settings.price),
        state: Option.getOrElse(env.state, () => settings.state)
      }
      const taxonomyId = yield* required(c.taxonomyId, "ETSY_TAXONOMY_ID", "the listing's category (find it with getSellerTaxonomyNodes)")
      const shippingProfileId = yield* required(c.shippingProfileId, "ETSY_SHIPPING_PROFILE_ID", "physical listings need a shipping profile")
      const readinessStateId = yield* required(c.readinessStateId, "ETSY_READINESS_STATE_ID", "physical listings need a readiness state")
      const client = yield* makeEtsy(yield* EtsyConfig)
      const store = yield* Store
      const blobs = yield* BlobStore
      return {
        name: ETSY,
        publish: (listing) =>
          publishToEtsy(client, { ...c, taxonomyId, shippingProfileId, readinessStateId }, listing).pipe(
            Effect.mapError(etsyWords),
            Effect.provideService(Store, store),
            Effect.provideService(BlobStore, blobs)
          )
      }
    })
  }
}

/** Drafts created since the intent with exactly this title, not claimed by another idea; the oldest, if any. */
const findLostCreate = (client: EtsyClient, intent: { ideaId: string; title: string; createdAt: Date }) =>
  Effect.gen(function* () {
    const since = Math.floor(intent.createdAt.getTime() / 1000) - CLOCK_SKEW_S
    const matches: Array<EtsyListing> = []
    for (let page = 0; ; page++) {
      if (page === RECONCILE_PAGES) {
        return yield* Effect.fail(
          new PermanentError({ message: `etsy: more than ${RECONCILE_PAGES * RECONCILE_PAGE} drafts since the publish intent of idea ${intent.ideaId}; reconcile by hand` })
        )
      }
      const { results } = yield* client.getListingsByShop({ state: "draft", sortOn: "created", sortOrder: "desc", limit: RECONCILE_PAGE, offset: page * RECONCILE_PAGE })
      matches.push(...results.filter((l) => l.created_timestamp >= since && l.title === intent.title))
      if (results.length < RECONCILE_PAGE || results.some((l) => l.created_timestamp < since)) break
    }
    const taken = yield* (yield* Store).remoteIdsTaken(ETSY, matches.map((l) => String(l.listing_id)), intent.ideaId)
    const mine = matches.filter((l) => !taken.has(String(l.listing_id)))
    mine.sort((a, b) => a.created_timestamp - b.created_timestamp || a.listing_id - b.listing_id)
    return Option.fromNullable(mine[0])
  })

const publishToEtsy = (client: EtsyClient, c: EtsyProductConfig & { taxonomyId: number; shippingProfileId: number; readinessStateId: number }, listing: Listing) =>
  Effect.gen(function* () {
    const store = yield* Store
    const intent = yield* store.recordPublishIntent(listing.ideaId, ETSY, listing.title)
    const price = c.price ?? listing.priceCents / 100

    let listingId: number
    if (intent.remoteId !== null) listingId = Number(intent.remoteId)
    else {
      const lost = yield* findLostCreate(client, intent)
      if (Option.isSome(lost)) {
        listingId = lost.value.listing_id
        yield* Effect.logInfo(`etsy: idea ${listing.ideaId}: adopting draft ${listingId}, created by an earlier attempt whose answer was lost`)
      } else {
        const created = yield* client.createDraftListing({
          quantity: c.quantity,
          title: intent.title,
          description: listing.description,
          price,
          who_made: c.whoMade,
          when_made: c.whenMade,
          taxonomy_id: c.taxonomyId,
          shipping_profile_id: c.shippingProfileId,
          readiness_state_id: c.readinessStateId,
          tags: listing.tags
        })
        listingId = created.listing_id
      }
      yield* store.recordRemoteId(listing.ideaId, ETSY, String(listingId))
    }

    const sku = skuOf(listing.ideaId)
    const inventory = yield* client.getListingInventory(listingId)
    if (!(inventory.products.length > 0 && inventory.products.every((p) => p.sku === sku))) {
      yield* client.updateListingInventory(listingId, {
        products: [{ sku, property_values: [], offerings: [{ price, quantity: c.quantity, is_enabled: true }] }]
      })
    }

    const present = new Set((yield* client.getListingImages(listingId)).map((i) => i.alt_text ?? ""))
    const images = listingImages(listing, { printFile: c.uploadPrintFile })
    for (const [index, image] of images.entries()) {
      if (present.has(image.altText)) continue
      yield* client.uploadListingImage(listingId, {
        bytes: yield* readBlob(image.key),
        fileName: image.fileName,
        contentType: image.contentType,
        rank: index + 1,
        altText: image.altText
      })
    }

    let remote = yield* client.getListing(listingId)
    if (c.state === "active" && remote.state !== "active") remote = yield* client.updateListing(listingId, { state: "active" })
    return { status: "published" as const, externalId: String(listingId), url: remote.url ?? null, remoteState: remote.state }
  })
