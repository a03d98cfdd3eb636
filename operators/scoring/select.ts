/**
 * Select: keeps ideas whose score clears the threshold, and screens each kept idea for
 * brand & IP safety (operators/safety/brandSafety.ts: trademarks, the seller's list,
 * NSFW/hate/tragedy terms, optionally EUIPO). A hit does not drop the idea: its reasons are
 * stored on it (shown in the Ideas view) and it goes on to artwork and listing drafting, so
 * the reviewer judges the real design, but the review gate holds it for a person whatever
 * its score. Ideas below the threshold are counted in
 * `desainz_ideas_filtered_total{reason="below-min-score"}`.
 */
import { Effect, Schema } from "effect"
import { Metrics } from "../../runtime/metrics.ts"
import { decodeConfig, flatMap, type SettingsInput, type StreamDef } from "../../runtime/topology.ts"
import { BrandSafety } from "../safety/brandSafety.ts"
import type { Idea } from "../schemas.ts"
import { Store } from "../store/store.ts"

export const SelectConfig = Schema.Struct({
  minScore: Schema.optionalWith(Schema.Number, { default: () => 0.3 }).annotations({ description: "ideas scoring below this are not selected (and counted)" })
})

/** The idea's text the screen reads: its phrase, the signal it came from, and its tags. */
export const ideaFields = (idea: Idea) => [
  { field: "idea", text: idea.keyPhrase },
  { field: "idea:signal", text: idea.signal.content },
  { field: "idea:tags", text: idea.signal.tags.join(", ") }
]

export const select = (
  config: typeof SelectConfig.Encoded,
  io: { readonly from: StreamDef<Idea>; readonly to: StreamDef<Idea> },
  settings?: SettingsInput
) => {
  const c = decodeConfig("select", SelectConfig, config)
  return flatMap({
    name: "select",
    kind: "select",
    ...io,
    settings,
    config: c,
    run: (idea) =>
      Effect.gen(function* () {
        if (idea.score < c.minScore) {
          const filtered = (yield* Metrics).registry.counter("desainz_ideas_filtered_total", "Scored ideas not selected, by reason")
          filtered.inc({ reason: "below-min-score" })
          return []
        }
        const reasons = yield* (yield* BrandSafety).screen("idea", ideaFields(idea), idea.keyPhrase)
        if (reasons.length > 0) yield* (yield* Store).addReviewReasons(idea.ideaId, reasons)
        return [idea]
      })
  })
}
