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
  autoApproveAbove: Schema.optionalWith(Schema.Number, { default: () => 0.6 }).annotations({
    description: "ideas scoring at least this are approved without a person; above 1 means everything waits"
  })
})

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
        if (draft.mockups.artwork.idea.score >= c.autoApproveAbove) {
          yield* store.setReviewStatus(draft.ideaId, "approved")
          return [draft]
        }
        yield* store.parkForReview(draft)
        return []
      })
  })
}
