/**
 * Review gate: a draft whose idea scores at least `autoApproveAbove` goes straight to
 * `listings.approved`; any other waits in the store (review status "pending") until a
 * person approves it in the UI or API, which puts it on `listings.approved` then.
 */
import { Effect, Schema } from "effect"
import { decodeConfig, flatMap, type SettingsInput, type StreamDef } from "../../runtime/topology.ts"
import type { Listing } from "../schemas.ts"
import { Store } from "../store/store.ts"

export const ReviewConfig = Schema.Struct({
  autoApproveAbove: Schema.Number.annotations({
    description: "ideas scoring at least this are approved without a person; above 1 means everything waits",
    default: 0.6
  })
})

export const review = (
  config: Partial<typeof ReviewConfig.Type>,
  io: { readonly from: StreamDef<Listing>; readonly to: StreamDef<Listing> },
  settings?: SettingsInput
) => {
  const c = decodeConfig("review", ReviewConfig, { autoApproveAbove: 0.6, ...config })
  return flatMap({
    name: "review",
    kind: "review",
    ...io,
    settings,
    config: c,
    run: (draft) =>
      Effect.gen(function* () {
        const store = yield* Store
        // An artwork that failed a quality check always waits for a person, whatever its score.
        const artworkFlagged = (draft.mockups.artwork.reviewReasons?.length ?? 0) > 0
        if (!artworkFlagged && draft.mockups.artwork.idea.score >= c.autoApproveAbove) {
          yield* store.setReviewStatus(draft.ideaId, "approved")
          return [draft]
        }
        yield* store.parkForReview(draft)
        return []
      })
  })
}
