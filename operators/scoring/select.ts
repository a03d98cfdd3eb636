/**
 * Select: keeps ideas whose score clears the threshold and whose text passes the
 * brand-safety list (trademarks, slurs, tragedies: things a seller must not print).
 */
import { Effect, Schema } from "effect"
import { decodeConfig, flatMap, type SettingsInput, type StreamDef } from "../../runtime/topology.ts"
import type { Idea } from "../schemas.ts"

/** A starting list: famous marks and tragedy words that get listings pulled. Extend it in topology.ts. */
export const DEFAULT_BLOCKED_TERMS = [
  "disney", "marvel", "pokemon", "nike", "adidas", "nfl", "nba", "harry potter", "star wars", "taylor swift",
  "shooting", "massacre", "killed", "dies", "dead", "murder", "terror", "rape", "suicide", "nazi"
]

export const SelectConfig = Schema.Struct({
  minScore: Schema.optionalWith(Schema.Number, { default: () => 0.3 }).annotations({ description: "ideas scoring below this are dropped" }),
  blockedTerms: Schema.optionalWith(Schema.Array(Schema.String), { default: () => DEFAULT_BLOCKED_TERMS }).annotations({
    description: "case-insensitive whole words that disqualify an idea (brand safety)",
    examples: [["disney", "nike", "shooting"]]
  })
})

export const select = (
  config: typeof SelectConfig.Encoded,
  io: { readonly from: StreamDef<Idea>; readonly to: StreamDef<Idea> },
  settings?: SettingsInput
) => {
  const c = decodeConfig("select", SelectConfig, config)
  const blocked = c.blockedTerms.length === 0 ? undefined : new RegExp(`\\b(${c.blockedTerms.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|")})\\b`, "i")
  return flatMap({
    name: "select",
    kind: "select",
    ...io,
    settings,
    config: c,
    run: (idea) =>
      Effect.succeed(
        idea.score >= c.minScore && !(blocked?.test(`${idea.keyPhrase} ${idea.signal.content} ${idea.signal.tags.join(" ")}`) ?? false)
          ? [idea]
          : []
      )
  })
}
