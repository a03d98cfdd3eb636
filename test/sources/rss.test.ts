/**
 * Contract tests of the RSS/Atom adapter against a fake feed host (test/fakes/rss.ts),
 * fed with a Google Trends feed (with its `ht:` extras), an RSS 2.0 blog and an Atom feed.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { Signal } from "../../operators/schemas.ts"
import { retryAfterMs, stableId } from "../../operators/sources/http.ts"
import { parseTraffic, rss, toPlainText } from "../../operators/sources/rss.ts"
import { PermanentError, RetryableError, TopologyError } from "../../runtime/errors.ts"
import { startFeedFake } from "../fakes/rss.ts"
import { fixture, jsonResponse } from "../fakes/server.ts"
import { failure, runSource, signalsRaw, sourceServices } from "./harness.ts"

const fast = { ratePerSec: 1_000, burst: 1_000 }
const make = (url: string, extra: Partial<Parameters<typeof rss>[0]> = {}) => rss({ url, rate: fast, ...extra }, { to: signalsRaw })

const TRENDS_LINK = "https://trends.google.com/trending/rss?geo=US"

const xmlResponse = (body: string, status = 200) => () =>
  new Response(body, { status, headers: { "content-type": "application/rss+xml; charset=UTF-8" } })

describe("rss source", () => {
  it.scopedLive("reads a Google Trends feed with its traffic, picture and news items", () =>
    Effect.gen(function* () {
      const fake = yield* startFeedFake
      const node = make(`${fake.url}/feeds/google-trends-us`, {
        name: "google-trends-us",
        category: "search-trends",
        tags: ["google-trends", "us"],
        locale: "en-US"
      })
      const result = yield* node.poll
      for (const e of result.emissions) expect(Schema.validateSync(Signal)(e.data)).toEqual(e.data)
      expect(result.emissions.map((e) => [e.data.content, e.data.engagement])).toEqual([
        ["leonid meteor shower", { views: 50_000 }],
        ["friendsgiving ideas", { views: 20_000 }],
        ["first snow", { views: 2_000 }]
      ])
      expect(result.emissions[0]!.data).toEqual({
        source: "rss",
        sourceId: stableId(TRENDS_LINK, "leonid meteor shower", "Sat, 16 Nov 2024 21:40:00 -0800"),
        content: "leonid meteor shower",
        url: TRENDS_LINK,
        capturedAt: "2024-11-17T05:40:00.000Z",
        engagement: { views: 50_000 },
        tags: ["google-trends", "us"],
        locale: "en-US",
        category: "search-trends",
        metadata: {
          feedTitle: "Daily Search Trends",
          feedUrl: `${fake.url}/feeds/google-trends-us`,
          author: null,
          summary: "",
          approxTraffic: "50000+",
          picture: "https://encrypted-tbn1.gstatic.com/images?q=tbn:ANd9GcQm2Lp0sX4vB7",
          pictureSource: "Sky & Telescope",
          newsItems: [
            {
              title: "Leonid meteor shower peaks tonight: how to watch",
              url: "https://skyandtelescope.example.org/observing/leonids-2024-peak/",
              source: "Sky & Telescope",
              picture: "https://encrypted-tbn1.gstatic.com/images?q=tbn:ANd9GcQm2Lp0sX4vB7"
            },
            {
              title: "Best time to see the Leonids — and why the moon won't help",
              url: "https://space.example.com/leonid-meteor-shower-2024-moon",
              source: "Space.com",
              picture: "https://encrypted-tbn2.gstatic.com/images?q=tbn:ANd9GcT8sWq1Lm3"
            }
          ]
        }
      })
      // Items without a guid share one link: their ids still differ.
      expect(new Set(result.emissions.map((e) => e.key)).size).toBe(3)
      expect(fake.requests[0]!.headers.get("accept")).toContain("application/rss+xml")
    }).pipe(Effect.provide(sourceServices))
  )

  it.scopedLive("reads RSS 2.0: guid, plain-text titles and summaries, categories, channel language", () =>
    Effect.gen(function* () {
      const fake = yield* startFeedFake
      const [first, second] = (yield* make(`${fake.url}/feeds/blog`).poll).emissions.map((e) => e.data)
      expect(first).toMatchObject({
        sourceId: "https://printshop.example.com/journal/retro-sunset-palettes",
        content: "Retro sunset palettes are back & here’s why",
        url: "https://printshop.example.com/journal/retro-sunset-palettes",
        capturedAt: "2024-11-15T15:30:00.000Z",
        tags: ["Color", "Trends"],
        locale: "en-us",
        metadata: {
          feedTitle: "The Print Shop Journal",
          author: "Ana Ferreira",
          summary: "Faded oranges, dusty pinks and a single teal accent: the palette of 2025."
        }
      })
      expect(second).toMatchObject({
        sourceId: "journal-2024-11-12-mushrooms",
        content: "Cottagecore mushrooms: 5 motifs that keep selling",
        metadata: { summary: "Toadstools, ferns & snails — the evergreen kit." }
      })
      expect(first!.engagement).toEqual({})
    }).pipe(Effect.provide(sourceServices))
  )

  it.scopedLive("reads Atom: entry id, the alternate link, published or else updated", () =>
    Effect.gen(function* () {
      const fake = yield* startFeedFake
      const [first, second] = (yield* make(`${fake.url}/feeds/atom`).poll).emissions.map((e) => e.data)
      expect(first).toMatchObject({
        sourceId: "tag:foundry.example.org,2024-11-14:/holiday-scripts",
        content: "Hand-lettered scripts for the holidays",
        url: "https://foundry.example.org/2024/11/holiday-scripts",
        capturedAt: "2024-11-14T09:45:00.000Z",
        tags: ["lettering", "holidays"],
        locale: "en",
        metadata: { feedTitle: "Type Foundry Notes", author: "Lee Marchetti" }
      })
      expect(second).toMatchObject({
        url: "https://foundry.example.org/2024/11/variable-fonts-fabric",
        capturedAt: "2024-11-08T12:00:00.000Z"
      })
    }).pipe(Effect.provide(sourceServices))
  )

  it.scopedLive("sends If-Modified-Since on a re-poll; a 304 yields nothing", () =>
    Effect.gen(function* () {
      const fake = yield* startFeedFake
      const node = make(`${fake.url}/feeds/blog`)
      yield* node.poll
      expect((yield* node.poll).emissions).toEqual([])
      expect(fake.statuses).toEqual([200, 304])
      expect(fake.requests[1]!.headers.get("if-modified-since")).toBe(fake.state.lastModified.toUTCString())
    }).pipe(Effect.provide(sourceServices))
  )

  it.scopedLive("a re-poll of a grown feed emits only the new item", () =>
    Effect.gen(function* () {
      const fake = yield* startFeedFake
      fake.state.validators = "none"
      const node = make(`${fake.url}/feeds/google-trends-us`)
      yield* node.poll
      const blog = fake.state.feeds.get("google-trends-us")!
      const added = `<channel>
    <item><title>cozy sweater weather</title><ht:approx_traffic>10000+</ht:approx_traffic><link>${TRENDS_LINK}</link><pubDate>Sun, 17 Nov 2024 06:00:00 -0800</pubDate></item>`
      fake.state.feeds.set("google-trends-us", { ...blog, body: blog.body.replace("<channel>", added) })
      const again = yield* node.poll
      expect(again.emissions.map((e) => [e.data.content, e.data.engagement])).toEqual([["cozy sweater weather", { views: 10_000 }]])
    }).pipe(Effect.provide(sourceServices))
  )

  it.scopedLive("429 with Retry-After is a RetryableError carrying the wait", () =>
    Effect.gen(function* () {
      const fake = yield* startFeedFake
      fake.inject(() => new Response("Too Many Requests", { status: 429, headers: { "retry-after": "60" } }))
      const error = yield* failure(make(`${fake.url}/feeds/blog`).poll)
      expect(error).toBeInstanceOf(RetryableError)
      expect(retryAfterMs(error)).toBe(60_000)
    }).pipe(Effect.provide(sourceServices))
  )

  it.scopedLive("a broken or foreign document is a PermanentError naming the problem", () =>
    Effect.gen(function* () {
      const fake = yield* startFeedFake
      fake.inject(
        xmlResponse('<?xml version="1.0"?><rss version="2.0"><channel><title>Cut off</title><item><title>half</item></channel></rss>'),
        xmlResponse("<html><head><title>Consent</title></head><body><p>Before you continue</p></body></html>"),
        xmlResponse('<rss version="2.0"><item><title>no channel</title></item></rss>'),
        jsonResponse(200, { items: [] })
      )
      const node = make(`${fake.url}/feeds/blog`)
      const broken = yield* failure(node.poll)
      const html = yield* failure(node.poll)
      const noChannel = yield* failure(node.poll)
      const json = yield* failure(node.poll)
      for (const e of [broken, html, noChannel, json]) expect(e).toBeInstanceOf(PermanentError)
      expect(broken.message).toContain("not well-formed XML: Expected closing tag 'title'")
      expect(html.message).toContain("not an RSS 2.0 or Atom feed: the root element is <html>")
      expect(noChannel.message).toContain("rss.channel: is missing")
      expect(json.message).toContain("not well-formed XML")
      const missing = yield* failure(make(`${fake.url}/feeds/gone`).poll)
      expect(missing).toBeInstanceOf(PermanentError)
      expect(missing.message).toContain("HTTP 404: 404 Not Found")
    }).pipe(Effect.provide(sourceServices))
  )

  it("reduces markup to text and reads traffic figures", () => {
    expect(toPlainText("<p>Tom &amp; Jerry&#8217;s <b>big</b>&nbsp;day &#x2014; &bogus;</p>")).toBe("Tom & Jerry’s big day — &bogus;")
    expect(toPlainText("&lt;b&gt; stays")).toBe("<b> stays")
    expect([parseTraffic("200,000+"), parseTraffic("2K+"), parseTraffic("1M+"), parseTraffic("500"), parseTraffic("lots")]).toEqual([
      200_000, 2_000, 1_000_000, 500, undefined
    ])
  })

  it("rejects a bad config at construction, naming the field", () => {
    expect(() => rss({ url: "ftp://example.com/feed" }, { to: signalsRaw })).toThrow(TopologyError)
    expect(() => rss({ url: "ftp://example.com/feed" }, { to: signalsRaw })).toThrow(/rss: invalid config: url: expected an http\(s\) URL/)
    expect(() => rss({ url: "https://example.com/feed", maxItems: 0 }, { to: signalsRaw })).toThrow(/maxItems:/)
  })

  it.scopedLive("in a running worker, a broken feed lands in dlq.<name> with the reason and polling goes on", () =>
    Effect.gen(function* () {
      const fake = yield* startFeedFake
      fake.inject(xmlResponse(fixture("rss", "blog-rss2.xml").slice(0, 400)))
      const node = make(`${fake.url}/feeds/blog`, { name: "print-blog", every: "50 millis" })
      const run = yield* runSource(node, (s) => s.signals.length >= 2 && s.deadLetters.length >= 1)
      expect(run.deadLetters).toHaveLength(1)
      expect(run.deadLetters[0]).toMatchObject({ "dlq.reason": "source", "dlq.operator": "print-blog" })
      expect(run.deadLetters[0]!["dlq.error"]).toContain("not well-formed XML")
      expect(run.signals.map((s) => s.data.content)).toEqual([
        "Retro sunset palettes are back & here’s why",
        "Cottagecore mushrooms: 5 motifs that keep selling"
      ])
    })
  )
})
