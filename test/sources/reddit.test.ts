/**
 * Contract tests of the Reddit adapter against the fake Reddit (test/fakes/reddit.ts),
 * fed with listing fixtures of the real shape.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { Signal } from "../../operators/schemas.ts"
import { retryAfterMs } from "../../operators/sources/http.ts"
import { reddit } from "../../operators/sources/reddit.ts"
import { PermanentError, RetryableError, TopologyError } from "../../runtime/errors.ts"
import { startRedditFake } from "../fakes/reddit.ts"
import { jsonFixture, jsonResponse } from "../fakes/server.ts"
import { failure, runSource, signalsRaw, sourceServices } from "./harness.ts"

interface FixturePost {
  readonly id: string
  readonly permalink: string
  readonly over_18: boolean
  readonly stickied: boolean
}
const posts = (file: string) =>
  jsonFixture<{ data: { children: ReadonlyArray<{ data: FixturePost }> } }>("reddit", file).data.children.map((c) => c.data)

const fast = { ratePerSec: 1_000, burst: 1_000 }
const make = (baseUrl: string, extra: Partial<Parameters<typeof reddit>[0]> = {}) =>
  reddit({ subreddits: ["movies", "technology"], baseUrl, rate: fast, ...extra }, { to: signalsRaw })

const keep = (p: FixturePost) => !p.over_18 && !p.stickied
const expectedIds = [...posts("movies-hot.json").filter(keep), ...posts("technology-hot.json").filter(keep)].map((p) => p.id)

describe("reddit source", () => {
  it.scopedLive("reads each subreddit's listing and normalizes every post into a Signal", () =>
    Effect.gen(function* () {
      const fake = yield* startRedditFake
      const result = yield* make(fake.url).poll
      expect(result.emissions.map((e) => e.key)).toEqual(expectedIds)
      for (const e of result.emissions) {
        expect(Schema.validateSync(Signal)(e.data)).toEqual(e.data)
        expect(e.timestamp).toBe(e.data.capturedAt)
      }
      const studio = result.emissions.find((e) => e.key === "1gq8k3d")!.data
      expect(studio).toEqual({
        source: "reddit",
        sourceId: "1gq8k3d",
        content: "Studio confirms practical effects for every creature in the upcoming monster remake",
        url: `https://www.reddit.com${posts("movies-hot.json").find((p) => p.id === "1gq8k3d")!.permalink}`,
        capturedAt: "2024-11-16T15:05:12.000Z",
        engagement: { score: 18234, comments: 1422, upvoteRatio: 0.94 },
        tags: ["movies", "news"],
        category: "movies",
        metadata: {
          subreddit: "movies",
          listing: "hot",
          flair: "News",
          author: "reeltalk_ben",
          domain: "variety.com",
          linkUrl: "https://variety.com/2024/film/news/monster-remake-practical-effects-1236201044/",
          isSelf: false
        }
      })
      expect(fake.requests.map((r) => `${r.path}?${r.query}`)).toEqual([
        "/r/movies/hot.json?limit=50&raw_json=1",
        "/r/technology/hot.json?limit=50&raw_json=1"
      ])
      expect(fake.requests[0]!.headers.get("user-agent")).toContain("desAInz")
    }).pipe(Effect.provide(sourceServices))
  )

  it.scopedLive("drops NSFW (over_18) and pinned moderator posts", () =>
    Effect.gen(function* () {
      const fake = yield* startRedditFake
      const movies = posts("movies-hot.json")
      const nsfw = movies.filter((p) => p.over_18).map((p) => p.id)
      const pinned = movies.filter((p) => p.stickied).map((p) => p.id)
      expect(nsfw).toEqual(["1gq9w1k"])
      expect(pinned).toEqual(["1gq2x0a"])
      const emitted = (yield* make(fake.url, { subreddits: ["movies"] }).poll).emissions.map((e) => e.key)
      expect(emitted).toHaveLength(movies.length - 2)
      for (const id of [...nsfw, ...pinned]) expect(emitted).not.toContain(id)
    }).pipe(Effect.provide(sourceServices))
  )

  it.scopedLive("asks the top listing for its time window and a limit", () =>
    Effect.gen(function* () {
      const fake = yield* startRedditFake
      fake.state.listings.set("movies/top", jsonFixture("reddit", "movies-hot.json"))
      const result = yield* make(fake.url, { subreddits: ["movies"], listings: ["top"], time: "week", limit: 3 }).poll
      expect(`${fake.requests[0]!.query}`).toBe("limit=3&t=week&raw_json=1")
      // The first three posts, less the pinned one.
      expect(result.emissions.map((e) => e.key)).toEqual(["1gq8k3d", "1gq6zrp"])
    }).pipe(Effect.provide(sourceServices))
  )

  it.scopedLive("a re-poll emits only new posts, and (when configured) posts whose engagement moved", () =>
    Effect.gen(function* () {
      const fake = yield* startRedditFake
      fake.state.validators = "none"
      const plain = make(fake.url, { name: "reddit-plain" })
      const moving = make(fake.url, { name: "reddit-moving", delta: { reemitGrowth: 0.5, reemitMinDelta: 100 } })
      expect((yield* plain.poll).emissions).toHaveLength(expectedIds.length)
      expect((yield* moving.poll).emissions).toHaveLength(expectedIds.length)
      expect((yield* plain.poll).emissions).toEqual([])
      fake.state.listings.set("movies/hot", jsonFixture("reddit", "movies-hot-2.json"))
      expect((yield* plain.poll).emissions.map((e) => e.key)).toEqual(["1gqc5te"])
      // 1gq8k3d went from 18234+1422 to 31502+2604 (+73%); the others moved a few percent.
      const moved = (yield* moving.poll).emissions
      expect(moved.map((e) => e.key)).toEqual(["1gq8k3d@34106", "1gqc5te"])
      expect(moved[0]!.data.engagement).toEqual({ score: 31502, comments: 2604, upvoteRatio: 0.94 })
    }).pipe(Effect.provide(sourceServices))
  )

  it.scopedLive("sends If-None-Match on a re-poll; a 304 yields nothing", () =>
    Effect.gen(function* () {
      const fake = yield* startRedditFake
      const node = make(fake.url)
      yield* node.poll
      const again = yield* node.poll
      expect(again.emissions).toEqual([])
      expect(fake.statuses).toEqual([200, 200, 304, 304])
      expect(fake.requests[2]!.headers.get("if-none-match")).toMatch(/^".+"$/)
      // A changed listing gets a new ETag and its new post through.
      fake.state.listings.set("movies/hot", jsonFixture("reddit", "movies-hot-2.json"))
      expect((yield* node.poll).emissions.map((e) => e.key)).toEqual(["1gqc5te"])
      expect(fake.statuses.slice(4)).toEqual([200, 304])
    }).pipe(Effect.provide(sourceServices))
  )

  it.scopedLive("429 with Retry-After is a RetryableError carrying the wait", () =>
    Effect.gen(function* () {
      const fake = yield* startRedditFake
      fake.inject(jsonResponse(429, { message: "Too Many Requests", error: 429 }, { "retry-after": "12" }))
      const error = yield* failure(make(fake.url).poll)
      expect(error).toBeInstanceOf(RetryableError)
      expect(retryAfterMs(error)).toBe(12_000)
      expect(error.message).toContain("HTTP 429: Too Many Requests")
    }).pipe(Effect.provide(sourceServices))
  )

  it.scopedLive("a malformed or unexpected listing is a PermanentError naming the problem", () =>
    Effect.gen(function* () {
      const fake = yield* startRedditFake
      const node = make(fake.url, { subreddits: ["movies"] })
      fake.inject(
        jsonResponse(200, { kind: "Listing", data: { after: null, children: [{ kind: "t3", data: { id: "x1", subreddit: "movies" } }] } }),
        jsonResponse(200, "<!doctype html><html><body>whoa there, pardner!</body></html>"),
        // What Reddit serves when an unknown subreddit redirects to its search: subreddits, not posts.
        jsonResponse(200, { kind: "Listing", data: { after: null, children: [{ kind: "t5", data: { display_name: "moviez" } }] } })
      )
      const missing = yield* failure(node.poll)
      const html = yield* failure(node.poll)
      const wrongKind = yield* failure(node.poll)
      for (const e of [missing, html, wrongKind]) expect(e).toBeInstanceOf(PermanentError)
      expect(missing.message).toContain("data.children[0].data.title: is missing")
      expect(html.message).toContain("body is not JSON")
      expect(wrongKind.message).toContain('data.children[0].kind: Expected "t3", actual "t5"')
    }).pipe(Effect.provide(sourceServices))
  )

  it.scopedLive("an unknown subreddit is a PermanentError with Reddit's message", () =>
    Effect.gen(function* () {
      const fake = yield* startRedditFake
      const error = yield* failure(make(fake.url, { subreddits: ["nosuchsubreddit"] }).poll)
      expect(error).toBeInstanceOf(PermanentError)
      expect(error.message).toBe(`reddit: GET ${fake.url}/r/nosuchsubreddit/hot.json?limit=50&raw_json=1 -> HTTP 404: Not Found`)
    }).pipe(Effect.provide(sourceServices))
  )

  it("rejects a bad config at construction, naming the field", () => {
    const attempt = (config: Parameters<typeof reddit>[0]) => () => reddit(config, { to: signalsRaw })
    expect(attempt({ subreddits: ["r/movies"] })).toThrow(TopologyError)
    expect(attempt({ subreddits: ["r/movies"] })).toThrow(/reddit: invalid config: subreddits\.0: expected a subreddit name/)
    expect(attempt({ subreddits: ["movies"], limit: 500 })).toThrow(/limit:/)
    expect(attempt({ subreddits: ["movies"], listings: ["best" as "hot"] })).toThrow(/listings\.0:/)
  })

  it.scopedLive("in a running worker, a malformed response lands in dlq.reddit with the reason and polling goes on", () =>
    Effect.gen(function* () {
      const fake = yield* startRedditFake
      fake.inject(jsonResponse(200, { kind: "Listing", data: { after: null, children: [{ kind: "t3", data: { id: "x1" } }] } }))
      const node = reddit({ subreddits: ["movies", "technology"], baseUrl: fake.url, rate: fast, every: "50 millis" }, { to: signalsRaw })
      // Until a poll after the good one has been answered too (with 304s).
      const run = yield* runSource(node, (s) => s.signals.length >= expectedIds.length && s.deadLetters.length >= 1 && fake.requests.length >= 5)
      expect(run.deadLetters).toHaveLength(1)
      expect(run.deadLetters[0]).toMatchObject({ "dlq.reason": "source", "dlq.operator": "reddit", "dlq.stream": "signals.raw" })
      expect(run.deadLetters[0]!["dlq.error"]).toContain("PermanentError")
      expect(run.deadLetters[0]!["dlq.error"]).toContain("data.children[0].data.title: is missing")
      // Later polls (304s) add nothing: each post is in the stream once, at its event time.
      expect(run.signals.map((s) => s.data.sourceId)).toEqual(expectedIds)
      expect(run.signals.every((s) => s.timestamp === s.data.capturedAt)).toBe(true)
      expect(fake.statuses.slice(3, 5)).toEqual([304, 304])
    })
  )
})
