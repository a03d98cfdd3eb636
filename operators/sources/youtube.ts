/**
 * YouTube: the "most popular" chart per region from the Data API v3
 * (`GET /youtube/v3/videos?part=snippet,statistics&chart=mostPopular&regionCode=XX`),
 * one page per poll, following `nextPageToken` (with `more`) up to `maxPages`, then the
 * next region. The API key comes from `YOUTUBE_API_KEY`; without it every poll fails
 * with a message naming the variable (a dead letter, not a crash), so a topology that
 * wires this source still starts on a machine without the key.
 */
import { Config, Effect, Schema } from "effect"
import { PermanentError } from "../../runtime/errors.ts"
import { decodeConfig, source, type SettingsInput, type SourceNode, type StreamDef } from "../../runtime/topology.ts"
import { IsoTime, type Signal } from "../schemas.ts"
import { baseUrlField, type Candidate, makeHttpSource, optionalField, sourceFields, type SourceServices } from "./http.ts"

export const YOUTUBE_API_KEY = "YOUTUBE_API_KEY"

export const YouTubeConfig = Schema.Struct({
  ...sourceFields({ kind: "youtube", every: "30 minutes", rate: { ratePerSec: 2, burst: 5 } }),
  baseUrl: baseUrlField("https://www.googleapis.com"),
  regions: Schema.optionalWith(
    Schema.NonEmptyArray(Schema.String.pipe(Schema.pattern(/^[A-Z]{2}$/, { message: () => 'expected an ISO 3166-1 alpha-2 code such as "US"' }))),
    { default: () => ["US"] as const }
  ).annotations({ description: "regions whose chart is read", examples: [["US", "GB"]] }),
  categoryId: Schema.optional(Schema.String.pipe(Schema.pattern(/^\d+$/))).annotations({
    description: "only this video category (videoCategoryId), e.g. 10 = Music",
    examples: ["10"]
  }),
  maxResults: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 50)), { default: () => 50 }).annotations({
    description: "videos per page (the API serves at most 50)"
  }),
  maxPages: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 10)), { default: () => 4 }).annotations({
    description: "pages read per region and cycle (the chart holds about 200 videos)"
  })
}).annotations({ identifier: "YouTubeConfig" })
export type YouTubeConfig = typeof YouTubeConfig.Type

/** Counts are decimal strings in the real API. */
const Count = Schema.NumberFromString.pipe(Schema.nonNegative())

const Video = Schema.Struct({
  kind: Schema.Literal("youtube#video"),
  id: Schema.NonEmptyString,
  snippet: Schema.Struct({
    publishedAt: IsoTime,
    channelId: Schema.String,
    title: Schema.String,
    description: optionalField(Schema.String),
    thumbnails: optionalField(Schema.Record({ key: Schema.String, value: Schema.Struct({ url: Schema.String }) })),
    channelTitle: optionalField(Schema.String),
    tags: optionalField(Schema.Array(Schema.String)),
    categoryId: optionalField(Schema.String),
    defaultLanguage: optionalField(Schema.String),
    defaultAudioLanguage: optionalField(Schema.String)
  }),
  // likeCount is absent when the owner hides it, commentCount when comments are off.
  statistics: Schema.Struct({
    viewCount: optionalField(Count),
    likeCount: optionalField(Count),
    commentCount: optionalField(Count)
  })
})
type Video = typeof Video.Type

export const VideoListResponse = Schema.Struct({
  kind: Schema.Literal("youtube#videoListResponse"),
  items: Schema.Array(Video),
  nextPageToken: optionalField(Schema.String)
})

/** The assignable video categories (stable ids of the API's videoCategories list). */
const CATEGORIES: Readonly<Record<string, string>> = {
  "1": "Film & Animation",
  "2": "Autos & Vehicles",
  "10": "Music",
  "15": "Pets & Animals",
  "17": "Sports",
  "19": "Travel & Events",
  "20": "Gaming",
  "22": "People & Blogs",
  "23": "Comedy",
  "24": "Entertainment",
  "25": "News & Politics",
  "26": "Howto & Style",
  "27": "Education",
  "28": "Science & Technology",
  "29": "Nonprofits & Activism"
}

const THUMBNAIL_SIZES = ["maxres", "standard", "high", "medium", "default"] as const

const toCandidate = (video: Video, region: string): Candidate => {
  const { snippet, statistics } = video
  const locale = snippet.defaultLanguage ?? snippet.defaultAudioLanguage
  const category = snippet.categoryId === undefined ? undefined : (CATEGORIES[snippet.categoryId] ?? snippet.categoryId)
  const thumbnail = THUMBNAIL_SIZES.map((size) => snippet.thumbnails?.[size]?.url).find((u) => u !== undefined)
  const signal: Signal = {
    source: "youtube",
    sourceId: video.id,
    content: snippet.title.trim(),
    url: `https://www.youtube.com/watch?v=${encodeURIComponent(video.id)}`,
    capturedAt: new Date(snippet.publishedAt).toISOString(),
    engagement: {
      ...(statistics.viewCount !== undefined ? { views: statistics.viewCount } : {}),
      ...(statistics.likeCount !== undefined ? { likes: statistics.likeCount } : {}),
      ...(statistics.commentCount !== undefined ? { comments: statistics.commentCount } : {})
    },
    tags: (snippet.tags ?? []).map((t) => t.trim()).filter((t) => t !== ""),
    ...(locale !== undefined ? { locale } : {}),
    ...(category !== undefined ? { category } : {}),
    metadata: {
      region,
      categoryId: snippet.categoryId ?? null,
      channelId: snippet.channelId,
      channelTitle: snippet.channelTitle ?? null,
      thumbnail: thumbnail ?? null,
      description: (snippet.description ?? "").slice(0, 500)
    }
  }
  return { signal, engagement: statistics.viewCount ?? 0 }
}

const apiKey = Config.redacted(Config.nonEmptyString(YOUTUBE_API_KEY)).pipe(
  Effect.mapError(
    () =>
      new PermanentError({
        message: `youtube: ${YOUTUBE_API_KEY} is not set: create an API key for "YouTube Data API v3" in a Google Cloud project and export ${YOUTUBE_API_KEY}`
      })
  )
)

interface Cursor {
  readonly region: number
  readonly page: number
  readonly pageToken?: string
}

export const youtube = (
  config: typeof YouTubeConfig.Encoded,
  io: { readonly to: StreamDef<Signal> },
  settings?: SettingsInput
): SourceNode<Signal, SourceServices> => {
  const c = decodeConfig(config.name ?? "youtube", YouTubeConfig, config)
  const http = makeHttpSource(c)
  let cursor: Cursor = { region: 0, page: 0 }
  return source({
    name: c.name,
    kind: "youtube",
    to: io.to,
    every: c.every,
    settings,
    config: c,
    poll: http.poll((get) =>
      Effect.gen(function* () {
        const key = yield* apiKey
        const region = c.regions[cursor.region] ?? c.regions[0]
        const page = yield* get.json("/youtube/v3/videos", VideoListResponse, {
          query: {
            part: "snippet,statistics",
            chart: "mostPopular",
            regionCode: region,
            videoCategoryId: c.categoryId,
            maxResults: c.maxResults,
            pageToken: cursor.pageToken,
            key
          }
        })
        // Unchanged since the last poll (304): the rest of this region's chart is taken as unchanged too.
        const nextToken = page._tag === "Fresh" ? page.body.nextPageToken : undefined
        const next: Cursor =
          nextToken !== undefined && cursor.page + 1 < c.maxPages
            ? { region: cursor.region, page: cursor.page + 1, pageToken: nextToken }
            : { region: (cursor.region + 1) % c.regions.length, page: 0 }
        return {
          candidates: page._tag === "Fresh" ? page.body.items.map((v) => toCandidate(v, region)) : [],
          // A cycle ends after the last page of the last region; the next starts after `every`.
          more: next.page > 0 || next.region > 0,
          commit: () => {
            cursor = next
          }
        }
      })
    )
  })
}
