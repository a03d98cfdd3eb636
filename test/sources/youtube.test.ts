/**
 * Contract tests of the YouTube adapter against the fake Data API v3
 * (test/fakes/youtube.ts), fed with chart fixtures and the API's real error bodies.
 */
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Schema } from "effect"
import { Signal } from "../../operators/schemas.ts"
import { retryAfterMs } from "../../operators/sources/http.ts"
import { youtube, YOUTUBE_API_KEY } from "../../operators/sources/youtube.ts"
import { PermanentError, RetryableError, TopologyError } from "../../runtime/errors.ts"
import { jsonFixture, jsonResponse } from "../fakes/server.ts"
import { startYouTubeFake, VALID_KEY } from "../fakes/youtube.ts"
import { failure, runSource, signalsRaw, sourceServices } from "./harness.ts"

const fast = { ratePerSec: 1_000, burst: 1_000 }
const make = (baseUrl: string, extra: Partial<Parameters<typeof youtube>[0]> = {}) =>
  youtube({ baseUrl, rate: fast, ...extra }, { to: signalsRaw })

const env = (vars: Record<string, string>) => Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(vars))))
const withKey = env({ [YOUTUBE_API_KEY]: VALID_KEY })

const chartIds = (region: string) => jsonFixture<{ items: ReadonlyArray<{ id: string }> }>("youtube", `mostPopular-${region}.json`).items.map((v) => v.id)

describe("youtube source", () => {
  it.scopedLive("reads the most-popular chart and normalizes each video into a Signal", () =>
    Effect.gen(function* () {
      const fake = yield* startYouTubeFake
      const result = yield* make(fake.url).poll
      expect(result.more).toBeUndefined()
      expect(result.emissions.map((e) => e.key)).toEqual(chartIds("US"))
      for (const e of result.emissions) expect(Schema.validateSync(Signal)(e.data)).toEqual(e.data)
      expect(result.emissions[0]!.data).toEqual({
        source: "youtube",
        sourceId: "kV3p9QzR7wE",
        content: "I Built a Tiny Cabin Out of Recycled Pallets (Full Build)",
        url: "https://www.youtube.com/watch?v=kV3p9QzR7wE",
        capturedAt: "2024-11-15T17:00:06.000Z",
        engagement: { views: 2841977, likes: 118204, comments: 6312 },
        tags: ["tiny house", "pallet projects", "DIY", "cabin build", "woodworking"],
        locale: "en",
        category: "Howto & Style",
        metadata: {
          region: "US",
          categoryId: "26",
          channelId: "UCq8nS0Yk2u1rB0cXyQ1tJ7w",
          channelTitle: "Backyard Builds",
          thumbnail: "https://i.ytimg.com/vi/kV3p9QzR7wE/maxresdefault.jpg",
          description: "Six weekends, 140 pallets and one very patient neighbour.\n\nTools used are linked below."
        }
      })
      const byId = new Map(result.emissions.map((e) => [e.key, e.data]))
      // Hidden likes, no tags, only an audio language, no language at all, comments off:
      expect(byId.get("pQ7sW2eYh1U")).toMatchObject({ engagement: { views: 884120, comments: 2188 }, tags: [], locale: "en-US", category: "Gaming" })
      expect(byId.get("Xa8Vn3Qp0sM")!.locale).toBeUndefined()
      expect(byId.get("Hc2Lr9tKx5A")!.engagement).toEqual({ views: 412007, likes: 30112 })
      expect(Object.fromEntries(fake.requests[0]!.query)).toEqual({
        part: "snippet,statistics",
        chart: "mostPopular",
        regionCode: "US",
        maxResults: "50",
        key: VALID_KEY
      })
    }).pipe(withKey, Effect.provide(sourceServices))
  )

  it.scopedLive("follows nextPageToken one page per poll up to maxPages, then the next region", () =>
    Effect.gen(function* () {
      const fake = yield* startYouTubeFake
      const node = make(fake.url, { regions: ["US", "GB"], maxResults: 2, maxPages: 2 })
      const us = chartIds("US")
      const p1 = yield* node.poll
      const p2 = yield* node.poll
      const p3 = yield* node.poll
      expect([p1.more, p2.more, p3.more]).toEqual([true, true, undefined])
      expect(p1.emissions.map((e) => e.key)).toEqual(us.slice(0, 2))
      expect(p2.emissions.map((e) => e.key)).toEqual(us.slice(2, 4))
      expect(p3.emissions.map((e) => e.key)).toEqual(chartIds("GB"))
      expect(fake.requests.map((r) => [r.query.get("regionCode"), r.query.has("pageToken")])).toEqual([
        ["US", false],
        ["US", true],
        ["GB", false]
      ])
      expect(p3.emissions[0]!.data.metadata["region"]).toBe("GB")
      // The next cycle starts over; unchanged pages come back as 304s.
      const p4 = yield* node.poll
      expect(p4.emissions).toEqual([])
      expect(fake.statuses.at(-1)).toBe(304)
    }).pipe(withKey, Effect.provide(sourceServices))
  )

  it.scopedLive("asks for one category when configured", () =>
    Effect.gen(function* () {
      const fake = yield* startYouTubeFake
      const result = yield* make(fake.url, { categoryId: "26" }).poll
      expect(fake.requests[0]!.query.get("videoCategoryId")).toBe("26")
      expect(result.emissions.map((e) => [e.key, e.data.category])).toEqual([
        ["kV3p9QzR7wE", "Howto & Style"],
        ["Hc2Lr9tKx5A", "Howto & Style"]
      ])
    }).pipe(withKey, Effect.provide(sourceServices))
  )

  it.scopedLive("without YOUTUBE_API_KEY a poll fails at once with a message naming it, and sends nothing", () =>
    Effect.gen(function* () {
      const fake = yield* startYouTubeFake
      const error = yield* failure(make(fake.url).poll)
      expect(error).toBeInstanceOf(PermanentError)
      expect(error.message).toContain("YOUTUBE_API_KEY is not set")
      expect(fake.requests).toHaveLength(0)
    }).pipe(env({}), Effect.provide(sourceServices))
  )

  it.scopedLive("a bad key is a PermanentError with the API's message, and the key never shows", () =>
    Effect.gen(function* () {
      const fake = yield* startYouTubeFake
      const error = yield* failure(make(fake.url).poll.pipe(env({ [YOUTUBE_API_KEY]: "AIzaWRONG-key-value" })))
      expect(error).toBeInstanceOf(PermanentError)
      expect(error.message).toContain("HTTP 400: API key not valid. Please pass a valid API key. - INVALID_ARGUMENT")
      expect(error.message).toContain("key=REDACTED")
      expect(error.message).not.toContain("AIzaWRONG")
      expect(fake.requests[0]!.query.get("key")).toBe("AIzaWRONG-key-value")
    }).pipe(Effect.provide(sourceServices))
  )

  it.scopedLive("an exhausted quota is a PermanentError saying so; 429 with Retry-After is retryable with the wait", () =>
    Effect.gen(function* () {
      const fake = yield* startYouTubeFake
      fake.inject(
        jsonResponse(403, jsonFixture("youtube", "error-quota-exceeded.json")),
        jsonResponse(429, { error: { code: 429, message: "Resource has been exhausted (e.g. check quota).", status: "RESOURCE_EXHAUSTED" } }, { "retry-after": "45" })
      )
      const node = make(fake.url)
      const quota = yield* failure(node.poll)
      expect(quota).toBeInstanceOf(PermanentError)
      expect(quota.message).toContain("HTTP 403: The request cannot be completed because you have exceeded your quota .")
      const limited = yield* failure(node.poll)
      expect(limited).toBeInstanceOf(RetryableError)
      expect(retryAfterMs(limited)).toBe(45_000)
    }).pipe(withKey, Effect.provide(sourceServices))
  )

  it.scopedLive("a re-poll emits only new videos; with ETags it is a 304", () =>
    Effect.gen(function* () {
      const fake = yield* startYouTubeFake
      fake.state.validators = "none"
      const node = make(fake.url)
      yield* node.poll
      expect((yield* node.poll).emissions).toEqual([])
      fake.state.validators = "etag"
      yield* node.poll
      expect((yield* node.poll).emissions).toEqual([])
      expect(fake.statuses).toEqual([200, 200, 200, 304])
      expect(fake.requests[3]!.headers.get("if-none-match")).toMatch(/^".+"$/)
    }).pipe(withKey, Effect.provide(sourceServices))
  )

  it.scopedLive("an unexpected response is a PermanentError naming the field", () =>
    Effect.gen(function* () {
      const fake = yield* startYouTubeFake
      const page = jsonFixture<{ items: Array<{ statistics: Record<string, string> }> }>("youtube", "mostPopular-US.json")
      page.items[1]!.statistics["viewCount"] = "lots"
      fake.inject(jsonResponse(200, page), jsonResponse(200, { items: [] }))
      const node = make(fake.url)
      const badCount = yield* failure(node.poll)
      const noKind = yield* failure(node.poll)
      expect(badCount).toBeInstanceOf(PermanentError)
      expect(badCount.message).toContain("items[1].statistics.viewCount")
      expect(badCount.message).toContain('"lots"')
      expect(noKind.message).toContain("kind: is missing")
    }).pipe(withKey, Effect.provide(sourceServices))
  )

  it("rejects a bad config at construction, naming the field", () => {
    expect(() => youtube({ regions: ["usa"] }, { to: signalsRaw })).toThrow(TopologyError)
    expect(() => youtube({ regions: ["usa"] }, { to: signalsRaw })).toThrow(/youtube: invalid config: regions\.0:/)
    expect(() => youtube({ maxResults: 51 }, { to: signalsRaw })).toThrow(/maxResults:/)
  })

  it.scopedLive("in a running worker, a missing key lands in dlq.youtube with the reason on every poll, and the worker goes on", () =>
    Effect.gen(function* () {
      const fake = yield* startYouTubeFake
      const run = yield* runSource(make(fake.url, { every: "50 millis" }), (s) => s.deadLetters.length >= 2)
      expect(run.deadLetters.length).toBeGreaterThanOrEqual(2)
      expect(run.deadLetters[0]).toMatchObject({ "dlq.reason": "source", "dlq.operator": "youtube", "dlq.attempts": "1" })
      expect(run.deadLetters[0]!["dlq.error"]).toContain("YOUTUBE_API_KEY is not set")
      expect(run.signals).toEqual([])
    }).pipe(env({}))
  )

  it.scopedLive("in a running worker with a key, the chart reaches the stream once", () =>
    Effect.gen(function* () {
      const fake = yield* startYouTubeFake
      const run = yield* runSource(make(fake.url, { every: "50 millis" }), (s) => s.signals.length >= 5 && fake.requests.length >= 2)
      expect(run.signals.map((s) => s.data.sourceId)).toEqual(chartIds("US"))
      expect(run.deadLetters).toEqual([])
    }).pipe(withKey)
  )
})
