/**
 * Hacker News: the official Firebase API. One request for the story ids
 * (`/v0/topstories.json`, `/v0/beststories.json` or `/v0/newstories.json`), then one per
 * story (`/v0/item/<id>.json`) for the first `limit`, a few at a time. Stories already
 * emitted are not fetched again unless re-emission on engagement growth is configured.
 */
import { Effect, Schema } from "effect"
import { decodeConfig, source, type SettingsInput, type SourceNode, type StreamDef } from "../../runtime/topology.ts"
import type { Signal } from "../schemas.ts"
import { baseUrlField, type Candidate, makeHttpSource, optionalField, sourceFields, type SourceServices } from "./http.ts"

export const HackerNewsConfig = Schema.Struct({
  ...sourceFields({ kind: "hackernews", every: "5 minutes", rate: { ratePerSec: 10, burst: 20 } }),
  baseUrl: baseUrlField("https://hacker-news.firebaseio.com"),
  list: Schema.optionalWith(Schema.Literal("top", "best", "new"), { default: () => "top" }).annotations({
    description: "which story list to read"
  }),
  limit: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 500)), { default: () => 30 }).annotations({
    description: "stories read from the head of the list"
  }),
  concurrency: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 20)), { default: () => 5 }).annotations({
    description: "item requests in flight at once"
  })
}).annotations({ identifier: "HackerNewsConfig" })
export type HackerNewsConfig = typeof HackerNewsConfig.Type

export const StoryIds = Schema.Array(Schema.Int.pipe(Schema.positive()))

/** `/v0/item/<id>.json`; the API answers `null` for an id it does not have. */
export const Item = Schema.NullOr(
  Schema.Struct({
    id: Schema.Int,
    type: Schema.Literal("job", "story", "comment", "poll", "pollopt"),
    by: optionalField(Schema.String),
    time: Schema.Int,
    title: optionalField(Schema.String),
    url: optionalField(Schema.String),
    score: optionalField(Schema.Number),
    descendants: optionalField(Schema.Number.pipe(Schema.nonNegative())),
    dead: optionalField(Schema.Boolean),
    deleted: optionalField(Schema.Boolean)
  })
)
type Item = NonNullable<typeof Item.Type>

const SITE = "https://news.ycombinator.com"

const hostOf = (url: string | undefined) => (url !== undefined && URL.canParse(url) ? new URL(url).hostname : null)

const toCandidate = (item: Item & { readonly title: string }, rank: number): Candidate => {
  const discussion = `${SITE}/item?id=${item.id}`
  const kind = /^(Ask|Show|Tell|Launch) HN\b/i.exec(item.title)?.[1]?.toLowerCase()
  const signal: Signal = {
    source: "hackernews",
    sourceId: String(item.id),
    content: item.title.trim(),
    url: item.url ?? discussion,
    capturedAt: new Date(item.time * 1000).toISOString(),
    engagement: {
      ...(item.score !== undefined ? { score: item.score } : {}),
      ...(item.descendants !== undefined ? { comments: item.descendants } : {})
    },
    tags: kind !== undefined ? [`${kind}-hn`] : [],
    locale: "en",
    category: "hackernews",
    metadata: { by: item.by ?? null, type: item.type, rank, discussionUrl: discussion, domain: hostOf(item.url) }
  }
  return { signal, engagement: (item.score ?? 0) + (item.descendants ?? 0) }
}

export const hackernews = (
  config: typeof HackerNewsConfig.Encoded,
  io: { readonly to: StreamDef<Signal> },
  settings?: SettingsInput
): SourceNode<Signal, SourceServices> => {
  const c = decodeConfig(config.name ?? "hackernews", HackerNewsConfig, config)
  const http = makeHttpSource(c)
  return source({
    name: c.name,
    kind: "hackernews",
    to: io.to,
    every: c.every,
    settings,
    config: c,
    poll: http.poll((get) =>
      Effect.gen(function* () {
        const list = yield* get.json(`/v0/${c.list}stories.json`, StoryIds)
        if (list._tag === "NotModified") return { candidates: [] }
        const wanted = list.body.slice(0, c.limit).flatMap((id, i) => (get.settled(String(id)) ? [] : [{ id, rank: i + 1 }]))
        const items = yield* Effect.forEach(
          wanted,
          ({ id, rank }) =>
            // Items change with every vote: validators per item would only grow the cache.
            Effect.map(get.json(`/v0/item/${id}.json`, Item, { conditional: false }), (r) => ({ rank, item: r._tag === "Fresh" ? r.body : null })),
          { concurrency: c.concurrency }
        )
        const candidates = items.flatMap(({ item, rank }) =>
          item !== null && item.type === "story" && item.dead !== true && item.deleted !== true && item.title !== undefined && item.title.trim() !== ""
            ? [toCandidate({ ...item, title: item.title }, rank)]
            : []
        )
        return { candidates }
      })
    )
  })
}
