/**
 * Reddit: the public JSON listings of configured subreddits
 * (`GET /r/<sub>/<hot|top|new|rising>.json?limit=N`). NSFW posts (`over_18`) and
 * moderators' pinned posts (`stickied`, announcements rather than trends) are dropped.
 */
import { Effect, Schema } from "effect"
import { decodeConfig, source, type SettingsInput, type SourceNode, type StreamDef } from "../../runtime/topology.ts"
import type { Signal } from "../schemas.ts"
import { baseUrlField, type Candidate, makeHttpSource, optionalField, sourceFields, type SourceServices } from "./http.ts"

const Subreddit = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9][A-Za-z0-9_]{1,20}$/, { message: () => 'expected a subreddit name without "r/", e.g. "cats"' })
)

export const RedditConfig = Schema.Struct({
  ...sourceFields({ kind: "reddit", every: "5 minutes", rate: { ratePerSec: 0.15, burst: 5 } }),
  baseUrl: baseUrlField("https://www.reddit.com"),
  subreddits: Schema.NonEmptyArray(Subreddit).annotations({
    description: "subreddits to watch, each polled once per listing",
    examples: [["cats", "dadjokes", "gardening"]]
  }),
  listings: Schema.optionalWith(Schema.NonEmptyArray(Schema.Literal("hot", "top", "new", "rising")), {
    default: () => ["hot"] as const
  }).annotations({ description: "which listings of each subreddit to read" }),
  time: Schema.optionalWith(Schema.Literal("hour", "day", "week", "month", "year", "all"), { default: () => "day" }).annotations({
    description: "time window of the `top` listing"
  }),
  limit: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 100)), { default: () => 50 }).annotations({
    description: "posts per listing (Reddit serves at most 100)"
  }),
  locale: Schema.optional(Schema.String).annotations({
    description: "locale to tag these signals with (Reddit does not report one)",
    examples: ["en"]
  })
}).annotations({ identifier: "RedditConfig" })
export type RedditConfig = typeof RedditConfig.Type

/** A post (`t3`) as the listing serves it; only the fields used are checked. */
const Post = Schema.Struct({
  id: Schema.NonEmptyString,
  title: Schema.String,
  subreddit: Schema.String,
  score: Schema.Number,
  num_comments: Schema.Number.pipe(Schema.nonNegative()),
  upvote_ratio: optionalField(Schema.Number.pipe(Schema.between(0, 1))),
  created_utc: Schema.Number,
  over_18: Schema.Boolean,
  permalink: Schema.String,
  link_flair_text: optionalField(Schema.NullOr(Schema.String)),
  stickied: optionalField(Schema.Boolean),
  author: optionalField(Schema.String),
  domain: optionalField(Schema.String),
  url: optionalField(Schema.String),
  is_self: optionalField(Schema.Boolean)
})
type Post = typeof Post.Type

export const Listing = Schema.Struct({
  kind: Schema.Literal("Listing"),
  data: Schema.Struct({
    after: Schema.NullOr(Schema.String),
    children: Schema.Array(Schema.Struct({ kind: Schema.Literal("t3"), data: Post }))
  })
})

const SITE = "https://www.reddit.com"

const toCandidate = (post: Post, listing: string, locale: string | undefined): Candidate => {
  const flair = post.link_flair_text?.trim() || undefined
  const signal: Signal = {
    source: "reddit",
    sourceId: post.id,
    content: post.title.trim(),
    url: `${SITE}${post.permalink}`,
    capturedAt: new Date(post.created_utc * 1000).toISOString(),
    engagement: {
      score: post.score,
      comments: post.num_comments,
      ...(post.upvote_ratio !== undefined ? { upvoteRatio: post.upvote_ratio } : {})
    },
    tags: flair !== undefined ? [post.subreddit.toLowerCase(), flair.toLowerCase()] : [post.subreddit.toLowerCase()],
    ...(locale !== undefined ? { locale } : {}),
    category: post.subreddit,
    metadata: {
      subreddit: post.subreddit,
      listing,
      flair: flair ?? null,
      author: post.author ?? null,
      domain: post.domain ?? null,
      linkUrl: post.url ?? null,
      isSelf: post.is_self ?? null
    }
  }
  return { signal, engagement: post.score + post.num_comments }
}

export const reddit = (
  config: typeof RedditConfig.Encoded,
  io: { readonly to: StreamDef<Signal> },
  settings?: SettingsInput
): SourceNode<Signal, SourceServices> => {
  const c = decodeConfig(config.name ?? "reddit", RedditConfig, config)
  const http = makeHttpSource(c)
  return source({
    name: c.name,
    kind: "reddit",
    to: io.to,
    every: c.every,
    settings,
    config: c,
    poll: http.poll((get) =>
      Effect.gen(function* () {
        const candidates: Array<Candidate> = []
        for (const sub of c.subreddits) {
          for (const listing of c.listings) {
            const page = yield* get.json(`/r/${sub}/${listing}.json`, Listing, {
              // raw_json=1: titles come unescaped (otherwise "&amp;" for "&").
              query: { limit: c.limit, t: listing === "top" ? c.time : undefined, raw_json: 1 }
            })
            if (page._tag === "NotModified") continue
            for (const { data: post } of page.body.data.children) {
              if (post.over_18 || post.stickied === true) continue
              candidates.push(toCandidate(post, listing, c.locale))
            }
          }
        }
        return { candidates }
      })
    )
  })
}
