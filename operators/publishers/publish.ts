/**
 * Publish: takes each approved listing to its own marketplace (`listing.marketplace`; the
 * listing stage drafts one listing per marketplace of `MARKETPLACES`, each fitted to that
 * marketplace's rules) through the `Marketplace` service, and emits the published listing onto
 * `listings.published`. One listing row per (idea, marketplace), moving approved -> publishing ->
 * published / exported, or failed with the marketplace's own message, which also dead-letters
 * the entry (a transient failure retries it; publishers are idempotent, so a retry or a requeued
 * dead letter only finishes what is missing). One publish of a listing runs at a time (a lease
 * in the store): two at once would both find nothing on the marketplace and both create.
 */
import { Effect } from "effect"
import { PermanentError, RetryableError } from "../../runtime/errors.ts"
import { observe } from "../../runtime/metrics.ts"
import { map, type SettingsInput, type StreamDef } from "../../runtime/topology.ts"
import type { Listing } from "../schemas.ts"
import type { ListingRow } from "../store/listings.ts"
import { Store } from "../store/store.ts"
import { Marketplace, type MarketplaceShape, type PublishOutcome } from "./marketplace.ts"

/** Seconds from a signal's event time to its listing going live: the product's speed KPI. */
export const SIGNAL_TO_PUBLISH_BUCKETS = [60, 300, 900, 1800, 3600, 7200, 14400, 43200, 86400, 259200, 604800, 2592000]

const row = (listing: Listing, status: ListingRow["status"], extra: Partial<ListingRow> = {}): ListingRow => ({
  id: listing.listingId,
  ideaId: listing.ideaId,
  marketplace: listing.marketplace,
  externalId: null,
  url: null,
  title: listing.title,
  description: listing.description,
  tags: listing.tags,
  status,
  performance: {},
  publishedAt: null,
  reason: null,
  ...extra
})

/** How long a publish may hold its lease; longer only if its process died (see sql/0010). */
const LEASE_MS = 2 * 60_000
/** How long a second publish of the same listing waits for the first, before it is retried later. */
const LEASE_WAIT_MS = 20_000
const LEASE_POLL_MS = 250

/** Runs `publishing` holding the lease on (idea, marketplace): one publish of a listing at a time. */
const leased = <A, E, R>(listing: Listing, publishing: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const store = yield* Store
    for (let waited = 0; !(yield* store.leasePublish(listing.ideaId, listing.marketplace, listing.title, LEASE_MS)); waited += LEASE_POLL_MS) {
      if (waited >= LEASE_WAIT_MS) {
        return yield* new RetryableError({ message: `publish: idea ${listing.ideaId} is being published to ${listing.marketplace} by another delivery; trying again after it` })
      }
      yield* Effect.sleep(LEASE_POLL_MS)
    }
    return yield* publishing.pipe(Effect.ensuring(Effect.ignore(store.releasePublish(listing.ideaId, listing.marketplace))))
  })

const publishTo = (marketplace: MarketplaceShape, listing: Listing) =>
  Effect.gen(function* () {
    const store = yield* Store
    yield* store.upsertListings([row(listing, "publishing")])
    const outcome: PublishOutcome = yield* leased(listing, marketplace.publish(listing)).pipe(
      // The reason shows in the UI; a retry moves the row back to publishing.
      Effect.tapError((error) => store.upsertListings([row(listing, "failed", { reason: error.message })]))
    )
    const publishedAt = new Date()
    yield* store.upsertListings([
      row(listing, outcome.status, { externalId: outcome.externalId, url: outcome.url, remoteState: outcome.remoteState, publishedAt })
    ])
    if (outcome.status === "published") {
      yield* store.setIdeaStatus(listing.ideaId, "live")
      // At-least-once: a publish redelivered after a crash is observed twice; rare enough for a KPI.
      yield* observe(
        "desainz_signal_to_publish_seconds",
        "Seconds from a signal's event time to its listing being published",
        { marketplace: listing.marketplace },
        (publishedAt.getTime() - Date.parse(listing.mockups.artwork.idea.signal.capturedAt)) / 1000,
        SIGNAL_TO_PUBLISH_BUCKETS
      )
    }
    return {
      ...listing,
      ...(outcome.externalId === null ? {} : { externalId: outcome.externalId }),
      ...(outcome.url === null ? {} : { url: outcome.url }),
      publishedAt: publishedAt.toISOString()
    } satisfies Listing
  })

/** `marketplaces` is shown by `desainz topology`; the `Marketplace` service built from the same list does the work. */
export const publish = (
  config: { readonly marketplaces: ReadonlyArray<string> },
  io: { readonly from: StreamDef<Listing>; readonly to: StreamDef<Listing> },
  settings?: SettingsInput
) =>
  map({
    name: "publish",
    kind: "publish",
    ...io,
    settings,
    config,
    run: (listing) =>
      Effect.gen(function* () {
        const marketplace = (yield* Marketplace).find((m) => m.name === listing.marketplace)
        if (marketplace === undefined) {
          return yield* Effect.fail(
            new PermanentError({ message: `publish: no publisher configured for marketplace "${listing.marketplace}" (MARKETPLACES: ${config.marketplaces.join(", ")})` })
          )
        }
        return yield* publishTo(marketplace, listing)
      })
  })
