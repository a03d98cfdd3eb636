/**
 * CommunityFit: affinity of a signal to the niches the seller serves.
 *
 * A niche profile is a name with keywords, subreddits and hashtags; each profile's text is
 * embedded once, when the scorer first needs it. A signal's fit is:
 * - 1 when it comes from one of the profiles' communities: its category or one of its tags
 *   equals a subreddit, hashtag or keyword (case- and `r/` / `#`-insensitive);
 * - else the highest cosine between its embedding and a profile, mapped to 0..1 linearly
 *   up to `saturation` (cosine 0 -> 0, `saturation` and above -> 1). Text embeddings of a
 *   title and of a keyword list rarely pass ~0.5 even when on topic, hence the scale.
 * With no niches configured, fit is 0 for every signal.
 */
import { Schema } from "effect"
import { cosine } from "./embedder.ts"
import type { Signal } from "../schemas.ts"

export const NicheProfile = Schema.Struct({
  name: Schema.NonEmptyTrimmedString,
  keywords: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] }),
  subreddits: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] }),
  hashtags: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] })
}).annotations({ identifier: "NicheProfile" })
export type NicheProfile = typeof NicheProfile.Type

export const CommunityFitConfig = Schema.Struct({
  niches: Schema.optionalWith(Schema.Array(NicheProfile), { default: () => [] }).annotations({
    description: "the seller's niches, each from keywords, subreddits and hashtags",
    examples: [[{ name: "plant lovers", keywords: ["houseplants", "plant mom"], subreddits: ["houseplants"], hashtags: ["plantsofinstagram"] }]]
  }),
  saturation: Schema.optionalWith(Schema.Number.pipe(Schema.between(0.05, 1)), { default: () => 0.5 }).annotations({
    description: "cosine to a niche profile that counts as a full fit"
  })
})
export type CommunityFitConfig = typeof CommunityFitConfig.Type

const community = (s: string) => s.trim().toLowerCase().replace(/^(r\/|#)/, "")

/** The text a niche is embedded from. */
export const profileText = (niche: NicheProfile): string =>
  [niche.name, ...niche.keywords, ...niche.subreddits, ...niche.hashtags].map(community).join(" ")

/** The communities a niche claims outright. */
export const membersOf = (niches: ReadonlyArray<NicheProfile>): ReadonlySet<string> =>
  new Set(niches.flatMap((n) => [n.name, ...n.keywords, ...n.subreddits, ...n.hashtags].map(community)))

export interface CommunityFitValue {
  readonly value: number
  readonly nicheSimilarity?: number
}

export const communityFitFactor = (
  signal: Signal,
  embedding: ReadonlyArray<number>,
  profiles: ReadonlyArray<ReadonlyArray<number>>,
  members: ReadonlySet<string>,
  config: CommunityFitConfig
): CommunityFitValue => {
  if (profiles.length === 0) return { value: 0 }
  const nicheSimilarity = Math.max(...profiles.map((p) => cosine(embedding, p)))
  const direct = [signal.category ?? "", ...signal.tags].some((c) => c !== "" && members.has(community(c)))
  return { value: direct ? 1 : Math.min(1, Math.max(0, nicheSimilarity / config.saturation)), nicheSimilarity }
}
