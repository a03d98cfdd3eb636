/**
 * Any RSS 2.0 or Atom feed. Feeds that carry Google Trends' `ht:` extensions (the
 * trending-searches feed, `https://trends.google.com/trending/rss?geo=US`) also yield the
 * approximate search traffic (as `views`), the picture and the related news items.
 *
 * Item titles and summaries are reduced to plain text (markup stripped, entities decoded).
 * An item's id is its `guid` / Atom `id`, else a hash of link, title and date: Google
 * Trends items have no guid and all share one link.
 */
import { Clock, Effect, Either, Schema } from "effect"
import { XMLParser, XMLValidator } from "fast-xml-parser"
import { decodeConfig, source, type SettingsInput, type SourceNode, type StreamDef } from "../../runtime/topology.ts"
import type { Signal } from "../schemas.ts"
import { type Candidate, formatIssues, HttpUrl, makeHttpSource, optionalField, sourceFields, stableId, type SourceServices } from "./http.ts"

export const RssConfig = Schema.Struct({
  ...sourceFields({ kind: "rss", every: "15 minutes", rate: { ratePerSec: 1, burst: 5 } }),
  url: HttpUrl.annotations({
    description: "the feed's URL (RSS 2.0 or Atom)",
    examples: ["https://trends.google.com/trending/rss?geo=US"]
  }),
  maxItems: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 1_000)), { default: () => 100 }).annotations({
    description: "items read from the head of the feed"
  }),
  category: Schema.optional(Schema.String).annotations({
    description: "community these signals belong to (feeds have none)",
    examples: ["search-trends"]
  }),
  tags: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] }).annotations({
    description: "tags added to every signal of this feed",
    examples: [["google-trends", "us"]]
  }),
  locale: Schema.optional(Schema.String).annotations({
    description: "locale of the signals, when the feed does not declare one",
    examples: ["en-US"]
  })
}).annotations({ identifier: "RssConfig" })
export type RssConfig = typeof RssConfig.Type

// ---------------------------------------------------------------------------------------
// The feed as the XML parser hands it over

/** An element's text: a string, or an object when the element has attributes. */
const XmlText = Schema.Union(
  Schema.String,
  Schema.Struct({ "#text": optionalField(Schema.String) })
)
type XmlText = typeof XmlText.Type

const NewsItem = Schema.Struct({
  "ht:news_item_title": optionalField(XmlText),
  "ht:news_item_url": optionalField(XmlText),
  "ht:news_item_source": optionalField(XmlText),
  "ht:news_item_picture": optionalField(XmlText)
})

const RssItem = Schema.Struct({
  title: optionalField(XmlText),
  link: optionalField(XmlText),
  guid: optionalField(XmlText),
  pubDate: optionalField(XmlText),
  description: optionalField(XmlText),
  category: optionalField(Schema.Array(XmlText)),
  author: optionalField(XmlText),
  "dc:creator": optionalField(XmlText),
  "ht:approx_traffic": optionalField(XmlText),
  "ht:picture": optionalField(XmlText),
  "ht:picture_source": optionalField(XmlText),
  "ht:news_item": optionalField(Schema.Array(NewsItem))
})

const RssDocument = Schema.Struct({
  rss: Schema.Struct({
    channel: Schema.Struct({
      title: optionalField(XmlText),
      language: optionalField(XmlText),
      item: Schema.optionalWith(Schema.Array(RssItem), { default: () => [] })
    })
  })
})

const AtomEntry = Schema.Struct({
  id: optionalField(XmlText),
  title: optionalField(XmlText),
  link: optionalField(Schema.Array(Schema.Struct({ "@_href": Schema.String, "@_rel": optionalField(Schema.String) }))),
  published: optionalField(XmlText),
  updated: optionalField(XmlText),
  summary: optionalField(XmlText),
  content: optionalField(XmlText),
  category: optionalField(Schema.Array(Schema.Struct({ "@_term": Schema.String }))),
  author: optionalField(Schema.Array(Schema.Struct({ name: optionalField(XmlText) })))
})

const AtomDocument = Schema.Struct({
  feed: Schema.Struct({
    title: optionalField(XmlText),
    "@_xml:lang": optionalField(Schema.String),
    entry: Schema.optionalWith(Schema.Array(AtomEntry), { default: () => [] })
  })
})

// Elements that may repeat are always arrays, so one item and many look the same.
const REPEATED = new Set([
  "rss.channel.item",
  "rss.channel.item.category",
  "rss.channel.item.ht:news_item",
  "feed.entry",
  "feed.entry.link",
  "feed.entry.category",
  "feed.entry.author"
])

const parser = new XMLParser({
  ignoreAttributes: false,
  parseTagValue: false,
  jPath: true,
  isArray: (_name, path) => REPEATED.has(String(path))
})

// ---------------------------------------------------------------------------------------
// Normalized

interface FeedItem {
  readonly id: string | undefined
  readonly title: string
  readonly link: string | undefined
  readonly published: string | undefined
  readonly summary: string
  readonly categories: ReadonlyArray<string>
  readonly author: string | undefined
  readonly traffic: string | undefined
  readonly picture: string | undefined
  readonly pictureSource: string | undefined
  readonly news: ReadonlyArray<Readonly<Record<string, string | null>>>
}

interface Feed {
  readonly title: string | undefined
  readonly language: string | undefined
  readonly items: ReadonlyArray<FeedItem>
}

const NAMED_ENTITIES: Readonly<Record<string, string>> = {
  amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: " ", hellip: "…", mdash: "—", ndash: "–",
  lsquo: "‘", rsquo: "’", ldquo: "“", rdquo: "”", laquo: "«", raquo: "»", copy: "©", reg: "®", trade: "™"
}

/** Markup stripped first, entities decoded last, so an escaped "&lt;b&gt;" stays visible text. */
export const toPlainText = (html: string): string =>
  html
    .replace(/<[^>]*>/g, " ")
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, ref: string) => {
      if (ref.startsWith("#")) {
        const code = ref[1] === "x" || ref[1] === "X" ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10)
        return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole
      }
      return NAMED_ENTITIES[ref.toLowerCase()] ?? whole
    })
    .replace(/\s+/g, " ")
    .trim()

const text = (value: XmlText | undefined): string | undefined => {
  const raw = typeof value === "string" ? value : value?.["#text"]
  const plain = raw === undefined ? "" : toPlainText(raw)
  return plain === "" ? undefined : plain
}

const fromRss = (doc: typeof RssDocument.Type): Feed => ({
  title: text(doc.rss.channel.title),
  language: text(doc.rss.channel.language),
  items: doc.rss.channel.item.map((item) => ({
    id: text(item.guid),
    title: text(item.title) ?? "",
    link: text(item.link),
    published: text(item.pubDate),
    summary: text(item.description) ?? "",
    categories: (item.category ?? []).flatMap((c) => text(c) ?? []),
    author: text(item["dc:creator"]) ?? text(item.author),
    traffic: text(item["ht:approx_traffic"]),
    picture: text(item["ht:picture"]),
    pictureSource: text(item["ht:picture_source"]),
    news: (item["ht:news_item"] ?? []).map((n) => ({
      title: text(n["ht:news_item_title"]) ?? null,
      url: text(n["ht:news_item_url"]) ?? null,
      source: text(n["ht:news_item_source"]) ?? null,
      picture: text(n["ht:news_item_picture"]) ?? null
    }))
  }))
})

const fromAtom = (doc: typeof AtomDocument.Type): Feed => ({
  title: text(doc.feed.title),
  language: doc.feed["@_xml:lang"],
  items: doc.feed.entry.map((entry) => {
    const links = entry.link ?? []
    return {
      id: text(entry.id),
      title: text(entry.title) ?? "",
      link: (links.find((l) => l["@_rel"] === undefined || l["@_rel"] === "alternate") ?? links[0])?.["@_href"],
      published: text(entry.published) ?? text(entry.updated),
      summary: text(entry.summary) ?? text(entry.content) ?? "",
      categories: (entry.category ?? []).map((c) => c["@_term"]),
      author: text(entry.author?.[0]?.name),
      traffic: undefined,
      picture: undefined,
      pictureSource: undefined,
      news: []
    }
  })
})

/** Parses an RSS 2.0 or Atom document; Left says what is wrong with it. */
export const parseFeed = (body: string): Either.Either<Feed, string> => {
  const wellFormed = XMLValidator.validate(body)
  if (wellFormed !== true) {
    return Either.left(`not well-formed XML: ${wellFormed.err.msg} (line ${wellFormed.err.line}, column ${wellFormed.err.col})`)
  }
  const parsed: unknown = parser.parse(body)
  const root = typeof parsed === "object" && parsed !== null ? Object.keys(parsed).find((k) => !k.startsWith("?")) : undefined
  const decodeWith = <A, I>(schema: Schema.Schema<A, I>, to: (a: A) => Feed) =>
    Either.match(Schema.decodeUnknownEither(schema, { errors: "all" })(parsed), {
      onLeft: (error) => Either.left(formatIssues(error)),
      onRight: (doc) => Either.right(to(doc))
    })
  if (root === "rss") return decodeWith(RssDocument, fromRss)
  if (root === "feed") return decodeWith(AtomDocument, fromAtom)
  return Either.left(`not an RSS 2.0 or Atom feed: the root element is <${root ?? "none"}>`)
}

/** "200,000+", "2K+", "1M+" -> a number. */
export const parseTraffic = (value: string): number | undefined => {
  const m = /^([\d.,]+)\s*([KkMm]?)\+?$/.exec(value.trim())
  if (m === null) return undefined
  const n = Number(m[1]!.replace(/,/g, ""))
  const scale = m[2] === "" ? 1 : m[2]!.toLowerCase() === "k" ? 1_000 : 1_000_000
  return Number.isFinite(n) ? n * scale : undefined
}

const toCandidate = (item: FeedItem, feed: Feed, c: RssConfig, nowMs: number): Candidate | undefined => {
  const content = item.title !== "" ? item.title : item.summary.slice(0, 280)
  if (content === "") return undefined
  const publishedMs = item.published === undefined ? Number.NaN : Date.parse(item.published)
  const traffic = item.traffic === undefined ? undefined : parseTraffic(item.traffic)
  const locale = c.locale ?? feed.language
  const signal: Signal = {
    source: "rss",
    sourceId: item.id ?? stableId(item.link ?? "", item.title, item.published ?? ""),
    content,
    ...(item.link !== undefined ? { url: item.link } : {}),
    // A feed item without a usable date is taken as happening when it was first read.
    capturedAt: new Date(Number.isNaN(publishedMs) ? nowMs : publishedMs).toISOString(),
    // Google Trends' approximate searches: the attention this topic gets.
    engagement: traffic !== undefined ? { views: traffic } : {},
    tags: [...c.tags, ...item.categories],
    ...(locale !== undefined ? { locale } : {}),
    ...(c.category !== undefined ? { category: c.category } : {}),
    metadata: {
      feedTitle: feed.title ?? null,
      feedUrl: c.url,
      author: item.author ?? null,
      summary: item.summary.slice(0, 500),
      approxTraffic: item.traffic ?? null,
      picture: item.picture ?? null,
      pictureSource: item.pictureSource ?? null,
      newsItems: item.news
    }
  }
  return { signal, engagement: traffic ?? 0 }
}

export const rss = (
  config: typeof RssConfig.Encoded,
  io: { readonly to: StreamDef<Signal> },
  settings?: SettingsInput
): SourceNode<Signal, SourceServices> => {
  const c = decodeConfig(config.name ?? "rss", RssConfig, config)
  const http = makeHttpSource({ ...c, baseUrl: c.url })
  return source({
    name: c.name,
    kind: "rss",
    to: io.to,
    every: c.every,
    settings,
    config: c,
    poll: http.poll((get) =>
      Effect.gen(function* () {
        const feed = yield* get.text("", parseFeed, {
          accept: "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.1"
        })
        if (feed._tag === "NotModified") return { candidates: [] }
        const now = yield* Clock.currentTimeMillis
        const candidates = feed.body.items.slice(0, c.maxItems).flatMap((item) => toCandidate(item, feed.body, c, now) ?? [])
        return { candidates }
      })
    )
  })
}
