/**
 * Review gate: screens the drafted listing text for brand & IP safety (the writer, a
 * model above all, may add a brand name or a term the idea did not have), then:
 * a draft whose idea has any brand-safety reason (found here or at select) or whose artwork
 * failed a quality check (stored on the idea and shown in the Ideas view) waits for a person
 * whatever its score; otherwise a
 * draft whose idea scores at least `autoApproveAbove` goes straight to `listings.approved`.
 * Any other waits in the store (review status "pending") until a person approves it in
 * the UI or API, which puts it on `listings.approved` then.
 */
import { Effect, Schema } from "effect"
import { decodeConfig, flatMap, type SettingsInput, type StreamDef } from "../../runtime/topology.ts"
import { BrandSafety } from "../safety/brandSafety.ts"
import type { Listing, ReviewReason } from "../schemas.ts"
import { Store } from "../store/store.ts"

export const ReviewConfig = Schema.Struct({
  autoApproveAbove: Schema.optionalWith(Schema.Number, { default: () => 0.6 }).annotations({
    description: "ideas scoring at least this are approved without a person; above 1 means everything waits"
  })
})

/** The listing's own text, field by field, as the screen reads it. */
export const listingFields = (draft: Listing) => {
  const at = (field: string) => `listing:${draft.marketplace}:${field}`
  return [
    { field: at("title"), text: draft.title },
    { field: at("description"), text: draft.description },
    { field: at("bullets"), text: draft.bullets.join("\n") },
    { field: at("tags"), text: draft.tags.join(", ") }
  ]
}

export const review = (
  config: typeof ReviewConfig.Encoded,
  io: { readonly from: StreamDef<Listing>; readonly to: StreamDef<Listing> },
  settings?: SettingsInput
) => {
  const c = decodeConfig("review", ReviewConfig, config)
  return flatMap({
    name: "review",
    kind: "review",
    ...io,
    settings,
    config: c,
    run: (draft) =>
      Effect.gen(function* () {
        const store = yield* Store
        // A failed artwork quality check, like a safety hit, waits for a person whatever the score.
        const artworkReasons = (draft.mockups.artwork.reviewReasons ?? []).map(
          (failure): ReviewReason => ({ kind: "artwork-check", found: failure, matched: "", field: "artwork", source: "quality checks" })
        )
        const found = yield* (yield* BrandSafety).screen("listing", listingFields(draft))
        const reasons = yield* store.addReviewReasons(draft.ideaId, [...artworkReasons, ...found])
        if (reasons.length === 0 && draft.mockups.artwork.idea.score >= c.autoApproveAbove) {
          yield* store.setReviewStatus(draft.ideaId, "approved")
          yield* store.approveListings([draft.listingId])
          return [draft]
        }
        yield* store.parkForReview(draft)
        return []
      })
  })
}
