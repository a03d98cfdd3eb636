/**
 * The shared HTTP client of the source adapters (over runtime/httpClient.ts), against a
 * local server: conditional requests, failure classification, Retry-After, timeouts,
 * secrets kept out of messages, the body cap, delta-only emission, and polls that are
 * all or nothing.
 */
import { setTimeout as sleep } from "node:timers/promises"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted, Schema } from "effect"
import { type Context, Hono } from "hono"
import type { Signal } from "../../operators/schemas.ts"
import { type Candidate, type HttpSourceOptions, makeHttpSource, retryAfterMs, sourceFields } from "../../operators/sources/http.ts"
import { RateLimiter } from "../../operators/sources/rateLimit.ts"
import { isRetryable, PermanentError, RetryableError, TopologyError } from "../../runtime/errors.ts"
import * as Http from "../../runtime/httpClient.ts"
import { decodeConfig } from "../../runtime/topology.ts"
import { conditional, freePort, startFake } from "../fakes/server.ts"
import { failure, sourceServices } from "./harness.ts"

const signal = (id: string): Signal => ({
  source: "probe",
  sourceId: id,
  content: `item ${id}`,
  capturedAt: "2024-11-16T12:00:00.000Z",
  engagement: {},
  tags: [],
  metadata: {}
})

const Items = Schema.Array(Schema.Struct({ id: Schema.String, score: Schema.Number }))

/** A server whose answer per path the test sets; everything else is a JSON 404. */
const startProbeServer = Effect.gen(function* () {
  const routes = new Map<string, (c: Context) => Response | Promise<Response>>()
  const app = new Hono()
  app.get("*", (c) => routes.get(c.req.path)?.(c) ?? c.json({ message: "Not Found", error: 404 }, 404))
  const server = yield* startFake(app)
  return { ...server, routes }
})

const client = (baseUrl: string, options: Partial<HttpSourceOptions> = {}) =>
  makeHttpSource({
    name: "probe",
    baseUrl,
    timeoutMs: 2_000,
    rate: { ratePerSec: 1_000, burst: 1_000 },
    delta: { remember: 100, reemitMinDelta: 0 },
    ...options
  })

/** One poll that GETs `paths` and offers each item as a candidate. */
const pollPaths = (http: ReturnType<typeof client>, paths: ReadonlyArray<string>) =>
  http.poll((get) =>
    Effect.gen(function* () {
      const candidates: Array<Candidate> = []
      for (const path of paths) {
        const res = yield* get.json(path, Items)
        if (res._tag === "Fresh") candidates.push(...res.body.map((i) => ({ signal: signal(i.id), engagement: i.score })))
      }
      return { candidates }
    })
  )

describe("http client", () => {
  it.scopedLive("sends a desAInz User-Agent and the last ETag; a 304 means nothing new", () =>
    Effect.gen(function* () {
      const server = yield* startProbeServer
      const body = JSON.stringify([{ id: "a", score: 1 }, { id: "b", score: 2 }])
      server.routes.set("/items", (c) => conditional(c, body, { contentType: "application/json", validators: "etag" }))
      const http = client(server.url)
      const first = yield* pollPaths(http, ["/items"])
      expect(first.emissions.map((e) => e.key)).toEqual(["a", "b"])
      expect(server.requests[0]!.headers.get("user-agent")).toMatch(/^desAInz\//)
      expect(server.requests[0]!.headers.get("accept")).toBe("application/json")
      expect(server.requests[0]!.headers.get("if-none-match")).toBeNull()
      const second = yield* pollPaths(http, ["/items"])
      expect(second.emissions).toEqual([])
      expect(server.requests[1]!.headers.get("if-none-match")).toMatch(/^".+"$/)
      expect(server.statuses).toEqual([200, 304])
    }).pipe(Effect.provide(sourceServices))
  )

  it.scopedLive("a poll that fails halfway keeps no ETag and no seen mark, so the next poll gets everything again", () =>
    Effect.gen(function* () {
      const server = yield* startProbeServer
      const body = JSON.stringify([{ id: "a", score: 1 }])
      server.routes.set("/a", (c) => conditional(c, body, { contentType: "application/json", validators: "etag" }))
      server.routes.set("/b", (c) => c.json({ message: "upstream exploded" }, 500))
      const http = client(server.url)
      const error = yield* failure(pollPaths(http, ["/a", "/b"]))
      expect(error).toBeInstanceOf(RetryableError)
      server.routes.set("/b", (c) => c.json([{ id: "b", score: 1 }]))
      const retry = yield* pollPaths(http, ["/a", "/b"])
      expect(server.requests[2]!.headers.get("if-none-match")).toBeNull()
      expect(retry.emissions.map((e) => e.key)).toEqual(["a", "b"])
    }).pipe(Effect.provide(sourceServices))
  )

  it.scopedLive("classifies statuses: 5xx and 408 retryable, other 4xx permanent with the API's message", () =>
    Effect.gen(function* () {
      const server = yield* startProbeServer
      server.routes.set("/500", (c) => c.text("oops", 500))
      server.routes.set("/408", (c) => c.text("slow", 408))
      server.routes.set("/403", (c) => c.json({ reason: "private", message: "Forbidden", error: 403 }, 403))
      server.routes.set("/400", (c) => c.html("<html><body><h1>Bad request</h1><p>missing q</p></body></html>", 400))
      const http = client(server.url)
      const e500 = yield* failure(pollPaths(http, ["/500"]))
      const e408 = yield* failure(pollPaths(http, ["/408"]))
      const e403 = yield* failure(pollPaths(http, ["/403"]))
      const e400 = yield* failure(pollPaths(http, ["/400"]))
      const e404 = yield* failure(pollPaths(http, ["/nowhere"]))
      expect([e500, e408].map(isRetryable)).toEqual([true, true])
      expect([e403, e400, e404].map(isRetryable)).toEqual([false, false, false])
      expect(e403.message).toBe(`probe: GET ${server.url}/403 -> HTTP 403: Forbidden - private`)
      expect(e400.message).toContain("HTTP 400: Bad request missing q")
      expect(e404.message).toContain("HTTP 404: Not Found")
    }).pipe(Effect.provide(sourceServices))
  )

  it.scopedLive("429 with Retry-After seconds: a RetryableError carrying the wait, and nothing is sent before it ends", () =>
    Effect.gen(function* () {
      const server = yield* startProbeServer
      server.routes.set("/items", (c) => c.json({ message: "Too Many Requests", error: 429 }, 429, { "retry-after": "30" }))
      const http = client(server.url)
      const error = yield* failure(pollPaths(http, ["/items"]))
      expect(error).toBeInstanceOf(RetryableError)
      expect(retryAfterMs(error)).toBe(30_000)
      expect(error.message).toContain("HTTP 429")
      expect(error.message).toContain("retry after 30s")
      const again = yield* failure(pollPaths(http, ["/items"]))
      expect(again).toBeInstanceOf(RetryableError)
      expect(retryAfterMs(again)).toBeGreaterThan(25_000)
      expect(retryAfterMs(again)).toBeLessThanOrEqual(30_000)
      expect(again.message).toContain("not sent")
      expect(server.requests).toHaveLength(1)
    }).pipe(Effect.provide(sourceServices))
  )

  it.scopedLive("503 with an HTTP-date Retry-After: the wait is measured from the server's Date", () =>
    Effect.gen(function* () {
      const server = yield* startProbeServer
      server.routes.set("/items", (c) =>
        c.text("maintenance", 503, { date: "Sat, 16 Nov 2024 12:00:00 GMT", "retry-after": "Sat, 16 Nov 2024 12:02:00 GMT" })
      )
      const error = yield* failure(pollPaths(client(server.url), ["/items"]))
      expect(error).toBeInstanceOf(RetryableError)
      expect(retryAfterMs(error)).toBe(120_000)
    }).pipe(Effect.provide(sourceServices))
  )

  it("parses Retry-After as seconds or a date (from the server's Date when given), and ignores garbage", () => {
    expect(Http.parseRetryAfter("7", 0)).toBe(7_000)
    expect(Http.parseRetryAfter("Thu, 01 Jan 1970 00:01:00 GMT", 0)).toBe(60_000)
    expect(Http.parseRetryAfter("Thu, 01 Jan 1970 00:00:00 GMT", 5_000)).toBe(0)
    expect(Http.parseRetryAfter("Thu, 01 Jan 1970 00:01:00 GMT", 5_000_000, "Thu, 01 Jan 1970 00:00:30 GMT")).toBe(30_000)
    expect(Http.parseRetryAfter("soon", 0)).toBeUndefined()
    expect(Http.parseRetryAfter(undefined, 0)).toBeUndefined()
  })

  it.scopedLive("a slow server times out as a RetryableError; a refused connection is retryable too", () =>
    Effect.gen(function* () {
      const server = yield* startProbeServer
      server.routes.set("/slow", async (c) => {
        await sleep(1_000)
        return c.json([])
      })
      const timedOut = yield* failure(pollPaths(client(server.url, { timeoutMs: 150 }), ["/slow"]))
      expect(timedOut).toBeInstanceOf(RetryableError)
      expect(timedOut.message).toBe(`probe: GET ${server.url}/slow: no answer within 150ms`)
      const port = yield* Effect.promise(freePort)
      const refused = yield* failure(pollPaths(client(`http://127.0.0.1:${port}`), ["/items"]))
      expect(refused).toBeInstanceOf(RetryableError)
      expect(refused.message).toContain("ECONNREFUSED")
    }).pipe(Effect.provide(sourceServices))
  )

  it.scopedLive("a malformed or oversized body is a PermanentError naming the problem", () =>
    Effect.gen(function* () {
      const server = yield* startProbeServer
      server.routes.set("/html", (c) => c.html("<!doctype html><title>Blocked</title>"))
      server.routes.set("/shape", (c) => c.json([{ id: "a", score: "many" }, { score: 1 }]))
      server.routes.set("/big", (c) => c.json([{ id: "x".repeat(5_000), score: 1 }]))
      const http = client(server.url, { maxBytes: 1_000 })
      const html = yield* failure(pollPaths(http, ["/html"]))
      const shape = yield* failure(pollPaths(http, ["/shape"]))
      const big = yield* failure(pollPaths(http, ["/big"]))
      expect(html).toBeInstanceOf(PermanentError)
      expect(html.message).toContain(`unexpected response from GET ${server.url}/html: body is not JSON`)
      expect(shape).toBeInstanceOf(PermanentError)
      expect(shape.message).toContain("[0].score: Expected number")
      expect(shape.message).toContain("[1].id: is missing")
      expect(big).toBeInstanceOf(PermanentError)
      expect(big.message).toContain("larger than 1000 bytes")
    }).pipe(Effect.provide(sourceServices))
  )

  it.scopedLive("sends Redacted query values but never shows them in an error", () =>
    Effect.gen(function* () {
      const server = yield* startProbeServer
      server.routes.set("/search", (c) => c.json({ error: { code: 400, message: "API key not valid.", status: "INVALID_ARGUMENT" } }, 400))
      const http = client(server.url)
      const error = yield* failure(
        http.poll((get) =>
          Effect.as(get.json("/search", Items, { query: { q: "cats", key: Redacted.make("s3cr3t-key") } }), { candidates: [] })
        )
      )
      expect(server.requests[0]!.query.get("key")).toBe("s3cr3t-key")
      expect(error.message).not.toContain("s3cr3t-key")
      expect(error.message).toContain("key=REDACTED")
      expect(error.message).toContain("API key not valid. - INVALID_ARGUMENT")
    }).pipe(Effect.provide(sourceServices))
  )

  it.scopedLive("takes a rate-limit token from the source's bucket before every request", () =>
    Effect.gen(function* () {
      const server = yield* startProbeServer
      server.routes.set("/items", (c) => c.json([]))
      const taken: Array<string> = []
      const counting = Layer.succeed(RateLimiter, { acquire: (source) => Effect.sync(() => void taken.push(source)) })
      yield* pollPaths(client(server.url), ["/items", "/items", "/items"]).pipe(Effect.provide(Layer.merge(counting, Http.layer)))
      expect(taken).toEqual(["probe", "probe", "probe"])
      expect(server.requests).toHaveLength(3)
    })
  )
})

describe("delta-only emission", () => {
  const offer = (http: ReturnType<typeof client>, items: ReadonlyArray<readonly [string, number]>) =>
    http.poll(() => Effect.succeed({ candidates: items.map(([id, engagement]) => ({ signal: signal(id), engagement })) }))

  it.effect("emits each item once, in-poll duplicates included", () =>
    Effect.gen(function* () {
      const http = client("http://127.0.0.1:9")
      const first = yield* offer(http, [["a", 1], ["b", 5], ["a", 1]])
      expect(first.emissions.map((e) => e.key)).toEqual(["a", "b"])
      expect(first.emissions[0]!.timestamp).toBe("2024-11-16T12:00:00.000Z")
      const second = yield* offer(http, [["a", 100], ["b", 5], ["c", 0]])
      expect(second.emissions.map((e) => e.key)).toEqual(["c"])
    }).pipe(Effect.provide(sourceServices))
  )

  it.effect("re-emits an item whose engagement grew enough, under a new key", () =>
    Effect.gen(function* () {
      const http = client("http://127.0.0.1:9", { delta: { remember: 100, reemitGrowth: 0.5, reemitMinDelta: 10 } })
      yield* offer(http, [["a", 100], ["b", 4]])
      // a: +40% is not enough; b: +100% but only +4 in absolute terms.
      expect((yield* offer(http, [["a", 140], ["b", 8]])).emissions).toEqual([])
      const grown = yield* offer(http, [["a", 151], ["b", 20]])
      expect(grown.emissions.map((e) => e.key)).toEqual(["a@151", "b@20"])
      // Growth is measured from the last emission.
      expect((yield* offer(http, [["a", 200]])).emissions).toEqual([])
    }).pipe(Effect.provide(sourceServices))
  )

  it.effect("forgets the least recently seen ids beyond its capacity", () =>
    Effect.gen(function* () {
      const http = client("http://127.0.0.1:9", { delta: { remember: 2, reemitMinDelta: 0 } })
      yield* offer(http, [["a", 0], ["b", 0]])
      yield* offer(http, [["a", 0]]) // a is now more recent than b
      expect((yield* offer(http, [["c", 0]])).emissions.map((e) => e.key)).toEqual(["c"]) // evicts b
      expect((yield* offer(http, [["a", 0], ["b", 0]])).emissions.map((e) => e.key)).toEqual(["b"])
    }).pipe(Effect.provide(sourceServices))
  )
})

describe("adapter config (sourceFields, validated by the runtime's decodeConfig)", () => {
  const Config = Schema.Struct({
    ...sourceFields({ kind: "probe", every: "1 minute", rate: { ratePerSec: 1, burst: 1 } }),
    things: Schema.NonEmptyArray(Schema.String)
  })

  it("fills defaults", () => {
    const c = decodeConfig("probe", Config, { things: ["x"] })
    expect(c).toMatchObject({ name: "probe", every: "1 minute", timeoutMs: 15_000, rate: { ratePerSec: 1, burst: 1 } })
  })

  it("names the offending field, and unknown fields", () => {
    const attempt = (input: unknown) => {
      try {
        decodeConfig("probe", Config, input as typeof Config.Encoded)
      } catch (e) {
        expect(e).toBeInstanceOf(TopologyError)
        return (e as TopologyError).message
      }
      throw new Error("expected a config error")
    }
    expect(attempt({ things: [] })).toContain("probe: invalid config: things.0: is missing")
    expect(attempt({ things: ["x"], every: "soon" })).toContain('every: expected a duration such as "5 minutes", got "soon"')
    expect(attempt({ things: ["x"], rate: { ratePerSec: 0, burst: 1 } })).toContain("rate.ratePerSec:")
    expect(attempt({ things: ["x"], thing: 1 })).toContain("thing: is unexpected")
    expect(attempt({ things: ["x"], name: "Bad Name" })).toContain("name: expected lowercase letters")
  })
})
