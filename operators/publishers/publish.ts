/**
 * Publish: takes an approved listing to every configured marketplace (the `Marketplace`
 * service, chosen by `MARKETPLACES`), one listing row per (idea, marketplace), and emits one
 * published listing per marketplace onto `listings.published`.
 *
 * Each row moves approved -> publishing -> published / exported, or failed with the
 * marketplace's own message. A permanent failure on any marketplace dead-letters the entry with
 * that message (the others are done and stay done: publishers are idempotent, so a requeued
 * dead letter only finishes what is missing); a transient one retries the entry.
 */
import { Effect, Either } from "effect"
import { isRetryable, PermanentError, RetryableError } from "../../runtime/errors.ts"
import { observe } from "../../runtime/metrics.ts"
import { flatMap, output, type SettingsInput, type StreamDef } from "../../runtime/topology.ts"
import { listingIdOf } from "../ids.ts"
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

const publishTo = (marketplace: MarketplaceShape, approved: Listing) =>
  Effect.gen(function* () {
    const store = yield* Store
    const listing: Listing = { ...approved, marketplace: marketplace.name, listingId: listingIdOf(approved.ideaId, marketplace.name) }
    yield* store.upsertListings([row(listing, "publishing")])
    const outcome: PublishOutcome = yield* marketplace.publish(listing).pipe(
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
  flatMap({
    name: "publish",
    kind: "publish",
    ...io,
    settings,
    config,
    run: (approved) =>
      Effect.gen(function* () {
        const marketplaces = yield* Marketplace
        // One marketplace's failure does not stop the others; the entry fails after all were tried.
        const results = yield* Effect.forEach(marketplaces, (m) => Effect.either(publishTo(m, approved)))
        const failures = results.flatMap((r) => (Either.isLeft(r) ? [r.left] : []))
        if (failures.length > 0) {
          const message = failures.map((f) => f.message).join("; ")
          // Permanent only when no failure could pass on a retry.
          return yield* Effect.fail(
            failures.some(isRetryable) ? new RetryableError({ message, cause: failures[0] }) : new PermanentError({ message, cause: failures[0] })
          )
        }
        return results.flatMap((r, i) => (Either.isRight(r) ? [output(r.right, { key: marketplaces[i]!.name })] : []))
      })
  })
