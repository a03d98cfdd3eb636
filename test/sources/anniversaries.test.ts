/**
 * Contract tests of the anniversaries adapter against the fake Wikimedia feed API
 * (test/fakes/wikimedia.ts), fed with "On this day" fixtures for 20 July. "Today" comes
 * from the Effect clock, set with TestClock.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema, TestClock } from "effect"
import { Signal } from "../../operators/schemas.ts"
import { anniversaries } from "../../operators/sources/anniversaries.ts"
import { retryAfterMs } from "../../operators/sources/http.ts"
import { PermanentError, RetryableError, TopologyError } from "../../runtime/errors.ts"
import { jsonFixture, jsonResponse } from "../fakes/server.ts"
import { startWikimediaFake } from "../fakes/wikimedia.ts"
import { failure, runSource, signalsRaw, sourceServices } from "./harness.ts"

const fast = { ratePerSec: 1_000, burst: 1_000 }
const make = (fakeUrl: string, extra: Partial<Parameters<typeof anniversaries>[0]> = {}) =>
  anniversaries({ baseUrl: `${fakeUrl}/feed/v1/wikipedia`, rate: fast, leadDays: 0, ...extra }, { to: signalsRaw })

const today = (iso: string) => TestClock.setTime(Date.parse(iso))

const APOLLO = "Apollo 11's crew completed the first crewed landing on the Moon."

describe("anniversaries source", () => {
  it.scoped("emits the round anniversaries of the day, dated on the day", () =>
    Effect.gen(function* () {
      const fake = yield* startWikimediaFake
      yield* today("2019-07-20T08:00:00Z")
      const result = yield* make(fake.url).poll
      expect(result.more).toBeUndefined()
      for (const e of result.emissions) expect(Schema.validateSync(Signal)(e.data)).toEqual(e.data)
      // 1969: 50 years; 1944: 75; 1999: 20; 1989: 30. Viking (1976, 43) and 1810 (209) are not round.
      // Apollo and the 1944 plot are in both "selected" and "events", and come once.
      expect(result.emissions.map((e) => e.data.content)).toEqual([
        `50th anniversary: ${APOLLO} (1969)`,
        "75th anniversary: World War II: Claus von Stauffenberg led a failed attempt to assassinate Adolf Hitler. (1944)",
        "20th anniversary: The Chinese Communist Party began a persecution campaign against Falun Gong. (1999)",
        "30th anniversary: Burma's ruling junta placed opposition leader Aung San Suu Kyi under house arrest. (1989)"
      ])
      const apollo = result.emissions[0]!
      expect(apollo.timestamp).toBe("2019-07-20T00:00:00.000Z")
      expect(apollo.data).toMatchObject({
        source: "anniversaries",
        capturedAt: "2019-07-20T00:00:00.000Z",
        eventDate: "2019-07-20T00:00:00.000Z",
        url: "https://en.wikipedia.org/wiki/Apollo_11",
        engagement: {},
        tags: ["anniversary", "50-years", "apollo 11", "moon landing"],
        locale: "en",
        category: "anniversaries",
        metadata: { list: "selected", year: 1969, years: 50, date: "2019-07-20" }
      })
      expect(apollo.data.sourceId).toMatch(/^2019-07-20:1969:[0-9a-f]{16}$/)
      expect((apollo.data.metadata["pages"] as ReadonlyArray<unknown>)[0]).toMatchObject({
        title: "Apollo 11",
        description: "First crewed Moon landing (1969)",
        url: "https://en.wikipedia.org/wiki/Apollo_11"
      })
      expect(fake.requests.map((r) => r.path)).toEqual([
        "/feed/v1/wikipedia/en/onthisday/selected/07/20",
        "/feed/v1/wikipedia/en/onthisday/events/07/20"
      ])
    }).pipe(Effect.provide(sourceServices))
  )

  it.scoped("phrases births, and keeps only the configured round numbers", () =>
    Effect.gen(function* () {
      const fake = yield* startWikimediaFake
      yield* today("2019-07-20T12:00:00Z")
      const result = yield* make(fake.url, { types: ["births"], years: [100] }).poll
      expect(result.emissions.map((e) => e.data.content)).toEqual([
        "100th birthday: Edmund Hillary, New Zealand mountaineer (d. 2008) (born 1919)"
      ])
    }).pipe(Effect.provide(sourceServices))
  )

  it.scoped("looks leadDays ahead, one date per poll, and takes each new day as it enters the window", () =>
    Effect.gen(function* () {
      const fake = yield* startWikimediaFake
      yield* today("2019-07-18T23:00:00Z")
      const node = make(fake.url, { types: ["selected"], leadDays: 2 })
      const p1 = yield* node.poll
      const p2 = yield* node.poll
      const p3 = yield* node.poll
      expect([p1.more, p2.more, p3.more]).toEqual([true, true, undefined])
      expect(fake.requests.map((r) => r.path.slice(-5))).toEqual(["07/18", "07/19", "07/20"])
      // Emitted two days early, dated on the anniversary.
      expect(p3.emissions.map((e) => e.timestamp)).toEqual(["2019-07-20T00:00:00.000Z", "2019-07-20T00:00:00.000Z"])
      expect((yield* node.poll).emissions).toEqual([])
      expect(fake.requests).toHaveLength(3)
      yield* TestClock.adjust("1 day")
      yield* node.poll
      expect(fake.requests.map((r) => r.path.slice(-5))).toEqual(["07/18", "07/19", "07/20", "07/21"])
    }).pipe(Effect.provide(sourceServices))
  )

  it.scoped("the same day a year later is fetched again (unconditionally) and yields that year's anniversaries", () =>
    Effect.gen(function* () {
      const fake = yield* startWikimediaFake
      const node = make(fake.url, { types: ["events"] })
      yield* today("2019-07-20T08:00:00Z")
      yield* node.poll
      yield* today("2024-07-20T08:00:00Z")
      const later = yield* node.poll
      expect(fake.requests[1]!.headers.get("if-none-match")).toBeNull()
      expect(later.emissions.map((e) => e.data.content)).toEqual([
        "25th anniversary: The Chinese Communist Party began a persecution campaign against Falun Gong. (1999)",
        "80th anniversary: World War II: Claus von Stauffenberg led a failed attempt to assassinate Adolf Hitler. (1944)"
      ])
    }).pipe(Effect.provide(sourceServices))
  )

  it.scoped("an unexpected response or an error status is a PermanentError naming the problem; 429 is retryable", () =>
    Effect.gen(function* () {
      const fake = yield* startWikimediaFake
      yield* today("2019-07-20T08:00:00Z")
      const events = jsonFixture<{ events: Array<Record<string, unknown>> }>("anniversaries", "onthisday-events-07-20.json")
      events.events[2]!["year"] = "1976"
      fake.inject(
        jsonResponse(200, { events: [] }),
        jsonResponse(200, events),
        () =>
          new Response(JSON.stringify(jsonFixture("anniversaries", "error-not-found.json")), {
            status: 404,
            headers: { "content-type": "application/problem+json" }
          }),
        jsonResponse(429, { title: "Too many requests" }, { "retry-after": "20" })
      )
      const wrongList = yield* failure(make(fake.url, { types: ["selected"] }).poll)
      const badYear = yield* failure(make(fake.url, { types: ["events"] }).poll)
      const notFound = yield* failure(make(fake.url, { types: ["events"] }).poll)
      const limited = yield* failure(make(fake.url, { types: ["events"] }).poll)
      expect(wrongList).toBeInstanceOf(PermanentError)
      expect(wrongList.message).toContain('the "On this day" response for 07/20 has no "selected" list')
      expect(badYear).toBeInstanceOf(PermanentError)
      expect(badYear.message).toContain("events[2].year: Expected number")
      expect(notFound).toBeInstanceOf(PermanentError)
      expect(notFound.message).toContain("HTTP 404: Not found. - Route not found")
      expect(limited).toBeInstanceOf(RetryableError)
      expect(retryAfterMs(limited)).toBe(20_000)
    }).pipe(Effect.provide(sourceServices))
  )

  it("rejects a bad config at construction, naming the field", () => {
    expect(() => anniversaries({ lang: "English" }, { to: signalsRaw })).toThrow(TopologyError)
    expect(() => anniversaries({ lang: "English" }, { to: signalsRaw })).toThrow(/anniversaries: invalid config: lang:/)
    expect(() => anniversaries({ years: [0] }, { to: signalsRaw })).toThrow(/years\.0:/)
    expect(() => anniversaries({ types: ["holidays" as "events"] }, { to: signalsRaw })).toThrow(/types\.0:/)
    expect(() => anniversaries({ leadDays: 400 }, { to: signalsRaw })).toThrow(/leadDays:/)
  })

  it.scopedLive("in a running worker, a malformed response lands in dlq.anniversaries with the reason and polling goes on", () =>
    Effect.gen(function* () {
      const fake = yield* startWikimediaFake
      // Today's date (the real clock) gets 20 July's list, and the years make Apollo 11 round.
      const now = new Date()
      const [mm, dd] = [now.getUTCMonth() + 1, now.getUTCDate()].map((n) => String(n).padStart(2, "0"))
      fake.state.days.set(`selected/${mm}/${dd}`, jsonFixture("anniversaries", "onthisday-selected-07-20.json"))
      fake.inject(jsonResponse(200, { selected: [{ text: 42 }] }))
      const node = make(fake.url, { types: ["selected"], years: [now.getUTCFullYear() - 1969], every: "50 millis" })
      const run = yield* runSource(node, (s) => s.signals.length >= 1 && s.deadLetters.length >= 1)
      expect(run.deadLetters).toHaveLength(1)
      expect(run.deadLetters[0]).toMatchObject({ "dlq.reason": "source", "dlq.operator": "anniversaries" })
      expect(run.deadLetters[0]!["dlq.error"]).toContain("selected[0].text: Expected string, actual 42")
      expect(run.signals).toHaveLength(1)
      expect(run.signals[0]!.data.content).toMatch(new RegExp(`^${now.getUTCFullYear() - 1969}(st|nd|rd|th) anniversary: Apollo 11's crew`))
    })
  )
})
