/**
 * Listing: drafts one listing per configured marketplace (`MARKETPLACES`) for a mocked-up
 * design, with the `ListingWriter` (template by default, an LLM when `LLM_URL` is set),
 * each fitted to its marketplace's rules (rules.ts), and stores the drafts with the writer
 * that wrote them. The publishers take the draft of their own marketplace.
 */
import { Effect, Schema } from "effect"
import { decodeConfig, flatMap, type SettingsInput, type StreamDef } from "../../runtime/topology.ts"
import { listingIdOf } from "../ids.ts"
import type { Listing, MockupSet } from "../schemas.ts"
import { Store } from "../store/store.ts"
import { Marketplace } from "./rules.ts"
import { ListingWriter } from "./writer.ts"

export const ListingConfig = Schema.Struct({
  marketplaces: Schema.optionalWith(Schema.NonEmptyArray(Marketplace), { default: () => ["export"] as const }).annotations({
    description: "one draft per marketplace (MARKETPLACES)"
  }),
  priceCents: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 2499 }).annotations({ description: "list price" }),
  product: Schema.optionalWith(Schema.NonEmptyString, { default: () => "T-Shirt" }).annotations({ description: "the product noun used in copy" })
})

export const listing = (
  config: typeof ListingConfig.Encoded,
  io: { readonly from: StreamDef<MockupSet>; readonly to: StreamDef<Listing> },
  settings?: SettingsInput
) => {
  const c = decodeConfig("listing", ListingConfig, config)
  return flatMap({
    name: "listing",
    kind: "listing",
    ...io,
    settings,
    config: c,
    run: (set) =>
      Effect.gen(function* () {
        const writer = yield* ListingWriter
        const store = yield* Store
        const ideaId = set.artwork.idea.ideaId
        return yield* Effect.forEach(c.marketplaces, (marketplace) =>
          Effect.gen(function* () {
            const written = yield* writer.write({ set, marketplace, product: c.product })
            const draft: Listing = {
              listingId: listingIdOf(ideaId, marketplace),
              ideaId,
              marketplace,
              ...written.text,
              priceCents: c.priceCents,
              mockups: set,
              writer: written.writer
            }
            yield* store.upsertListings([
              {
                id: draft.listingId,
                ideaId,
                marketplace,
                externalId: null,
                url: null,
                title: draft.title,
                description: draft.description,
                tags: draft.tags,
                status: "draft",
                performance: {},
                publishedAt: null
              }
            ])
            yield* store.setListingWriter(draft.listingId, written.writer, written.note ?? null)
            return draft
          })
        )
      })
  })
}
