/**
 * Contract tests of the Hacker News adapter against the fake Firebase API
 * (test/fakes/hackernews.ts), fed with a story list and item fixtures.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { Signal } from "../../operators/schemas.ts"
import { hackernews } from "../../operators/sources/hackernews.ts"
import { retryAfterMs } from "../../operators/sources/http.ts"
import { PermanentError, RetryableError, TopologyError } from "../../runtime/errors.ts"
import { startHackerNewsFake } from "../fakes/hackernews.ts"
import { jsonResponse } from "../fakes/server.ts"
import { failure, runSource, signalsRaw, sourceServices } from "./harness.ts"

const fast = { ratePerSec: 1_000, burst: 1_000 }
const make = (baseUrl: string, extra: Partial<Parameters<typeof hackernews>[0]> = {}) =>
  hackernews({ baseUrl, rate: fast, ...extra }, { to: signalsRaw })

// The fixture's list: stories, a job, a dead story, a deleted item, and an id the API answers null for.
const STORIES = ["42150101", "42149877", "42148530", "42146620", "42145109"]
const NOT_EMITTED = ["42147990", "42147512", "42147004", "42144000"]

const itemPaths = (requests: ReadonlyArray<{ readonly path: string }>) =>
  requests.flatMap((r) => /^\/v0\/item\/(\d+)\.json$/.exec(r.path)?.[1] ?? [])

describe("hackernews source", () => {
  it.scopedLive("reads the story ids, then each story, and normalizes stories into Signals", () =>
    Effect.gen(function* () {
      const fake = yield* startHackerNewsFake
      const result = yield* make(fake.url).poll
      expect(result.emissions.map((e) => e.key)).toEqual(STORIES)
      for (const e of result.emissions) expect(Schema.validateSync(Signal)(e.data)).toEqual(e.data)
      expect(result.emissions[0]!.data).toEqual({
        source: "hackernews",
        sourceId: "42150101",
        content: "A 40-year-old typeface gets a variable-font revival",
        url: "https://fontsinuse.example.org/revivals/variable-grotesque",
        capturedAt: "2024-11-16T09:10:11.000Z",
        engagement: { score: 684, comments: 312 },
        tags: [],
        locale: "en",
        category: "hackernews",
        metadata: {
          by: "mkessler",
          type: "story",
          rank: 1,
          discussionUrl: "https://news.ycombinator.com/item?id=42150101",
          domain: "fontsinuse.example.org"
        }
      })
      const ask = result.emissions.find((e) => e.key === "42148530")!.data
      expect(ask.url).toBe("https://news.ycombinator.com/item?id=42148530")
      expect(ask.tags).toEqual(["ask-hn"])
      expect(result.emissions.find((e) => e.key === "42149877")!.data.tags).toEqual(["show-hn"])
      expect(fake.requests[0]!.path).toBe("/v0/topstories.json")
      expect(itemPaths(fake.requests).sort()).toEqual([...STORIES, ...NOT_EMITTED].sort())
    }).pipe(Effect.provide(sourceServices))
  )

  it.scopedLive("reads only the first `limit` ids, at most `concurrency` at a time", () =>
    Effect.gen(function* () {
      const fake = yield* startHackerNewsFake
      fake.state.delayMs = 40
      const result = yield* make(fake.url, { limit: 6, concurrency: 2 }).poll
      expect(itemPaths(fake.requests)).toHaveLength(6)
      expect(fake.state.maxInFlight).toBe(2)
      expect(result.emissions.map((e) => e.key)).toEqual(["42150101", "42149877", "42148530"])
    }).pipe(Effect.provide(sourceServices))
  )

  it.scopedLive("a re-poll does not fetch stories already emitted and emits only new ones", () =>
    Effect.gen(function* () {
      const fake = yield* startHackerNewsFake
      const node = make(fake.url)
      yield* node.poll
      const before = fake.requests.length
      expect((yield* node.poll).emissions).toEqual([])
      expect(itemPaths(fake.requests.slice(before)).sort()).toEqual([...NOT_EMITTED].sort())
      fake.state.items.set(42151000, {
        by: "letterform", descendants: 4, id: 42151000, score: 31, time: 1731760000, title: "Risograph colour profiles, measured", type: "story", url: "https://riso.example.org/profiles"
      })
      fake.state.lists.set("top", [42151000, ...(fake.state.lists.get("top") ?? [])])
      expect((yield* node.poll).emissions.map((e) => e.key)).toEqual(["42151000"])
    }).pipe(Effect.provide(sourceServices))
  )

  it.scopedLive("re-emits a story whose score moved, when configured", () =>
    Effect.gen(function* () {
      const fake = yield* startHackerNewsFake
      const node = make(fake.url, { delta: { reemitGrowth: 1, reemitMinDelta: 50 } })
      yield* node.poll
      const item = fake.state.items.get(42145109)!
      fake.state.items.set(42145109, { ...item, score: 300 })
      const again = yield* node.poll
      expect(again.emissions.map((e) => e.key)).toEqual(["42145109@323"])
      expect(again.emissions[0]!.data.engagement).toEqual({ score: 300, comments: 23 })
    }).pipe(Effect.provide(sourceServices))
  )

  it.scopedLive("429 with Retry-After is a RetryableError carrying the wait", () =>
    Effect.gen(function* () {
      const fake = yield* startHackerNewsFake
      fake.inject(jsonResponse(429, { error: "Too many requests" }, { "retry-after": "3" }))
      const error = yield* failure(make(fake.url).poll)
      expect(error).toBeInstanceOf(RetryableError)
      expect(retryAfterMs(error)).toBe(3_000)
    }).pipe(Effect.provide(sourceServices))
  )

  it.scopedLive("an unexpected list or item is a PermanentError naming the problem", () =>
    Effect.gen(function* () {
      const fake = yield* startHackerNewsFake
      // Firebase answers null for a path it has no data at: here, an unset list.
      const noList = yield* failure(make(fake.url, { list: "best" }).poll)
      expect(noList).toBeInstanceOf(PermanentError)
      expect(noList.message).toContain("/v0/beststories.json")
      expect(noList.message).toContain("actual null")
      fake.state.items.set(42150101, { id: 42150101, type: "story", time: "yesterday", title: 5 })
      const badItem = yield* failure(make(fake.url).poll)
      expect(badItem).toBeInstanceOf(PermanentError)
      expect(badItem.message).toContain("/v0/item/42150101.json")
      expect(badItem.message).toContain("time: Expected number")
      expect(badItem.message).toContain("title: Expected string")
    }).pipe(Effect.provide(sourceServices))
  )

  it("rejects a bad config at construction, naming the field", () => {
    expect(() => hackernews({ list: "ask" as "top" }, { to: signalsRaw })).toThrow(TopologyError)
    expect(() => hackernews({ concurrency: 0 }, { to: signalsRaw })).toThrow(/hackernews: invalid config: concurrency:/)
  })

  it.scopedLive("in a running worker, a refused read lands in dlq.hackernews with the reason and polling goes on", () =>
    Effect.gen(function* () {
      const fake = yield* startHackerNewsFake
      fake.inject(jsonResponse(401, { error: "Permission denied" }))
      const node = make(fake.url, { every: "50 millis" })
      const run = yield* runSource(node, (s) => s.signals.length >= STORIES.length && s.deadLetters.length >= 1)
      expect(run.deadLetters).toHaveLength(1)
      expect(run.deadLetters[0]).toMatchObject({ "dlq.reason": "source", "dlq.operator": "hackernews" })
      expect(run.deadLetters[0]!["dlq.error"]).toContain("HTTP 401: Permission denied")
      expect(run.signals.map((s) => s.data.sourceId)).toEqual(STORIES)
    })
  )
})
