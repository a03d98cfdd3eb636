import { describe, expect, it } from "vitest"
import { ConfigProvider, Effect, Either, Layer, Option } from "effect"
import fc from "fast-check"
import type { Hono } from "hono"
import { Signal } from "../operators/schemas.ts"
import { sign, webhook } from "../operators/sources/webhook.ts"
import { makeEnvelopeCodec } from "../runtime/envelope.ts"
import { TopologyError } from "../runtime/errors.ts"
import { makeHttpApp } from "../runtime/http.ts"
import { makeKeys } from "../runtime/keys.ts"
import { Metrics } from "../runtime/metrics.ts"
import { sink, stream, topology } from "../runtime/topology.ts"
import { Transport } from "../runtime/transport.ts"
import * as EmbeddedTransport from "../runtime/transport/embedded.ts"

const SECRET = "test-secret-\u00e9-do-not-use"
const signalsRaw = stream("signals.raw", Signal)

interface Setup {
  readonly app: Hono
  /** Every entry of signals.raw, decoded. */
  readonly entries: () => Promise<ReadonlyArray<Either.Either<Signal, string>>>
}

const setup = (options: { secret?: string | null; highWatermark?: number; maxBodyBytes?: number; maxSignals?: number } = {}) => {
  const t = topology({
    name: "webhook-test",
    nodes: [
      webhook(
        { sources: ["zapier", "shopify"], ...(options.maxBodyBytes ? { maxBodyBytes: options.maxBodyBytes } : {}), ...(options.maxSignals ? { maxSignals: options.maxSignals } : {}) },
        { to: signalsRaw },
        { highWatermark: options.highWatermark ?? 10_000, lowWatermark: 1 }
      ),
      sink({ name: "store", from: signalsRaw, run: () => Effect.void })
    ],
    services: Layer.empty
  })
  const keys = makeKeys(t.name)
  const secret = options.secret === undefined ? SECRET : options.secret
  const config = ConfigProvider.fromMap(new Map(secret === null ? [] : [["WEBHOOK_SECRET", secret]]))
  const codec = makeEnvelopeCodec(signalsRaw.name, signalsRaw.schema)
  return Effect.runPromise(
    Effect.gen(function* () {
      const app = yield* makeHttpApp({ topology: t, keys, token: Option.none(), corsOrigins: [] })
      const transport = yield* Transport
      const entries = () =>
        Effect.runPromise(
          Effect.map(transport.range(keys.stream(signalsRaw.name), { count: 100_000 }), (list) =>
            list.map((e) => Either.map(Either.mapLeft(codec.decode(e.fields), (err) => err.message), (env) => env.data))
          )
        )
      return { app, entries } satisfies Setup
    }).pipe(Effect.provide(Layer.mergeAll(EmbeddedTransport.layer, Metrics.layer, Layer.setConfigProvider(config))))
  )
}

const now = () => String(Math.floor(Date.now() / 1000))

const post = async (
  app: Hono,
  body: string | Uint8Array,
  options: { path?: string; contentType?: string | null; timestamp?: string | null; signature?: string | null; secret?: string; headers?: Record<string, string> } = {}
) => {
  const timestamp = options.timestamp === undefined ? now() : options.timestamp
  const signature = options.signature === undefined ? sign(options.secret ?? SECRET, timestamp ?? "", body) : options.signature
  const headers: Record<string, string> = { ...options.headers }
  if (options.contentType !== null) headers["content-type"] = options.contentType ?? "application/json"
  if (timestamp !== null) headers["x-desainz-timestamp"] = timestamp
  if (signature !== null) headers["x-desainz-signature"] = signature
  return app.request(options.path ?? "/ingest/zapier", { method: "POST", headers, body: typeof body === "string" ? body : new Uint8Array(body) })
}

const json = async (response: Response) => (await response.json()) as Record<string, unknown>

const good = { content: "Cats in hats are trending", sourceId: "zap-1", engagement: { likes: 10 }, tags: ["cats"] }

describe("webhook: accepted", () => {
  it("stores a single signal with defaults filled in and answers 202 with its event id", async () => {
    const { app, entries } = await setup()
    const before = Date.now()
    const response = await post(app, JSON.stringify({ content: "Just the content" }))
    expect(response.status).toBe(202)
    const body = await json(response)
    expect(body["accepted"]).toBe(1)
    expect(body["ids"]).toHaveLength(1)
    const [entry] = await entries()
    const signal = Either.getOrThrow(entry!)
    expect(signal.source).toBe("zapier")
    expect(signal.content).toBe("Just the content")
    expect(signal.sourceId).toMatch(/^[0-9a-f]{32}$/) // the content hash
    expect(Date.parse(signal.capturedAt)).toBeGreaterThanOrEqual(before - 1_000)
    expect(signal.engagement).toEqual({})
    expect(signal.tags).toEqual([])
    expect(signal.metadata).toEqual({})
  })

  it("stores an array of signals in order, all decodable as Signal, under the posted source", async () => {
    const { app, entries } = await setup()
    const batch = [
      good,
      { content: "Dogs in boots", capturedAt: "2026-11-20T08:00:00Z", url: "https://example.com/d", locale: "en-US", category: "pets", metadata: { author: "x", n: [1, 2] } },
      { content: "Halloween is coming", eventDate: "2026-10-31T00:00:00Z", engagement: { views: 1e6, upvoteRatio: 0.9 } }
    ]
    const response = await post(app, JSON.stringify(batch), { path: "/ingest/shopify", contentType: "application/json; charset=UTF-8" })
    expect(response.status).toBe(202)
    const body = await json(response)
    expect(body["accepted"]).toBe(3)
    const stored = (await entries()).map((e) => Either.getOrThrow(e))
    expect(stored.map((s) => s.content)).toEqual(batch.map((b) => b.content))
    expect(stored.every((s) => s.source === "shopify")).toBe(true)
    expect(stored[1]!.capturedAt).toBe("2026-11-20T08:00:00Z")
    expect(stored[1]!.metadata).toEqual({ author: "x", n: [1, 2] })
    expect(stored[0]!.sourceId).toBe("zap-1")
  })

  it("gives a resent signal the same event id", async () => {
    const { app } = await setup()
    const first = await json(await post(app, JSON.stringify(good)))
    const again = await json(await post(app, JSON.stringify(good)))
    expect(again["ids"]).toEqual(first["ids"])
  })
})

describe("webhook: refused, and nothing stored", () => {
  const cases: ReadonlyArray<{
    readonly what: string
    readonly status: number
    readonly error: RegExp
    readonly request: (app: Hono) => Promise<Response>
    readonly setup?: Parameters<typeof setup>[0]
  }> = [
    { what: "no signature", status: 401, error: /missing X-Desainz-Signature/, request: (app) => post(app, JSON.stringify(good), { signature: null }) },
    { what: "no timestamp", status: 401, error: /missing X-Desainz-Timestamp/, request: (app) => post(app, JSON.stringify(good), { timestamp: null }) },
    { what: "a signature with another secret", status: 401, error: /signature does not match/, request: (app) => post(app, JSON.stringify(good), { secret: "wrong" }) },
    {
      what: "a signature over another body",
      status: 401,
      error: /signature does not match/,
      request: (app) => post(app, JSON.stringify(good), { signature: sign(SECRET, now(), JSON.stringify({ ...good, content: "x" })) })
    },
    {
      what: "a signature over another timestamp",
      status: 401,
      error: /signature does not match/,
      request: (app) => post(app, JSON.stringify(good), { signature: sign(SECRET, String(Number(now()) - 1), JSON.stringify(good)) })
    },
    { what: "a malformed signature", status: 401, error: /signature does not match/, request: (app) => post(app, JSON.stringify(good), { signature: "sha256=zz" }) },
    {
      what: "a stale timestamp (a replay)",
      status: 401,
      error: /tolerance 300 s/,
      request: (app) => post(app, JSON.stringify(good), { timestamp: String(Number(now()) - 301) })
    },
    { what: "a timestamp from the future", status: 401, error: /tolerance/, request: (app) => post(app, JSON.stringify(good), { timestamp: String(Number(now()) + 3_600) }) },
    { what: "a timestamp in milliseconds", status: 401, error: /tolerance|unix seconds/, request: (app) => post(app, JSON.stringify(good), { timestamp: String(Date.now()) }) },
    { what: "a timestamp that is not a number", status: 401, error: /unix seconds/, request: (app) => post(app, JSON.stringify(good), { timestamp: "yesterday" }) },
    { what: "no WEBHOOK_SECRET configured", status: 401, error: /set WEBHOOK_SECRET/, request: (app) => post(app, JSON.stringify(good)), setup: { secret: null } },
    { what: "bad JSON", status: 400, error: /not valid JSON/, request: (app) => post(app, '{"content": "x",') },
    { what: "an empty body", status: 400, error: /not valid JSON/, request: (app) => post(app, "") },
    { what: "bad UTF-8", status: 400, error: /UTF-8/, request: (app) => post(app, new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])) },
    { what: "a missing field", status: 400, error: /content: is missing/, request: (app) => post(app, JSON.stringify({ sourceId: "1" })) },
    { what: "a wrong type", status: 400, error: /engagement\.likes: Expected/, request: (app) => post(app, JSON.stringify({ content: "x", engagement: { likes: "many" } })) },
    { what: "a bad timestamp field", status: 400, error: /capturedAt: expected an ISO 8601/, request: (app) => post(app, JSON.stringify({ content: "x", capturedAt: "last tuesday" })) },
    { what: "a timestamp without its zone", status: 400, error: /capturedAt: expected an ISO 8601 timestamp with its zone/, request: (app) => post(app, JSON.stringify({ content: "x", capturedAt: "2026-11-22T10:00:00" })) },
    { what: "an unknown field", status: 400, error: /titel: is unexpected/, request: (app) => post(app, JSON.stringify({ content: "x", titel: "y" })) },
    { what: "a source field (the URL says it)", status: 400, error: /source: is unexpected/, request: (app) => post(app, JSON.stringify({ content: "x", source: "reddit" })) },
    { what: "one bad signal in an array", status: 400, error: /\[1\]\.content/, request: (app) => post(app, JSON.stringify([good, { content: "" }, good])) },
    { what: "an empty array", status: 400, error: /1 to 100 signals/, request: (app) => post(app, "[]") },
    { what: "too many signals", status: 400, error: /1 to 3 signals/, request: (app) => post(app, JSON.stringify([good, good, good, good])), setup: { maxSignals: 3 } },
    { what: "JSON that is not an object", status: 400, error: /invalid signal: \(body\)/, request: (app) => post(app, '"just a string"') },
    { what: "content over 5,000 characters", status: 400, error: /content/, request: (app) => post(app, JSON.stringify({ content: "x".repeat(5_001) })) },
    {
      what: "an oversized body by Content-Length",
      status: 413,
      error: /over 1024 bytes/,
      request: (app) => post(app, JSON.stringify({ content: "x".repeat(2_000) }), { headers: { "content-length": "2020" } }),
      setup: { maxBodyBytes: 1_024 }
    },
    {
      what: "an oversized body without Content-Length (counted while reading)",
      status: 413,
      error: /over 1024 bytes/,
      request: (app) => post(app, JSON.stringify({ content: "x".repeat(2_000) })),
      setup: { maxBodyBytes: 1_024 }
    },
    {
      what: "a lying Content-Length",
      status: 413,
      error: /over 1024 bytes/,
      request: (app) => post(app, JSON.stringify({ content: "x".repeat(2_000) }), { headers: { "content-length": "10" } }),
      setup: { maxBodyBytes: 1_024 }
    },
    { what: "no content type", status: 415, error: /application\/json/, request: (app) => post(app, JSON.stringify(good), { contentType: null }) },
    { what: "a form content type", status: 415, error: /application\/json/, request: (app) => post(app, "content=x", { contentType: "application/x-www-form-urlencoded" }) },
    { what: "JSON in another charset", status: 415, error: /UTF-8/, request: (app) => post(app, JSON.stringify(good), { contentType: "application/json; charset=utf-16" }) },
    { what: "an unknown source", status: 404, error: /no route POST \/ingest\/reddit/, request: (app) => post(app, JSON.stringify(good), { path: "/ingest/reddit" }) },
    { what: "GET on the ingest route", status: 404, error: /no route/, request: async (app) => app.request("/ingest/zapier") }
  ]

  it.each(cases)("$what -> $status", async ({ status, error, request, setup: options }) => {
    const { app, entries } = await setup(options)
    const response = await request(app)
    expect(response.status).toBe(status)
    expect(String((await json(response))["error"])).toMatch(error)
    expect(await entries()).toHaveLength(0)
  })

  it("names every offending field of a bad body", async () => {
    const { app } = await setup()
    const body = await json(await post(app, JSON.stringify([{ content: 1 }, { content: "ok", tags: "cats" }])))
    expect(body["issues"]).toEqual([
      { path: "[0].content", message: expect.stringContaining("Expected string") },
      { path: "[1].tags", message: expect.stringContaining("Expected ReadonlyArray") }
    ])
  })

  it("answers 503 with Retry-After while the stream's backlog is at the high watermark", async () => {
    const { app, entries } = await setup({ highWatermark: 3 })
    expect((await post(app, JSON.stringify([good, { content: "b" }, { content: "c" }]))).status).toBe(202)
    const response = await post(app, JSON.stringify({ content: "d" }))
    expect(response.status).toBe(503)
    expect(response.headers.get("retry-after")).toBe("5")
    expect(String((await json(response))["error"])).toMatch(/backlog 3/)
    expect(await entries()).toHaveLength(3)
  })
})

describe("webhook config", () => {
  it.each([
    [{ sources: [] }, /sources/],
    [{ sources: ["Bad Name"] }, /sources\.0/],
    [{ maxBodyBytes: 0 }, /maxBodyBytes/],
    [{ maxSignals: 1.5 }, /maxSignals/],
    [{ toleranceSeconds: -1 }, /toleranceSeconds/],
    [{ secret: "in the config" }, /secret: is unexpected/]
  ])("rejects %j naming the field", (config, field) => {
    expect(() => webhook(config as never, { to: signalsRaw })).toThrow(TopologyError)
    expect(() => webhook(config as never, { to: signalsRaw })).toThrow(field)
  })

  it("is a source that polls nothing, with its config shown", async () => {
    const node = webhook({}, { to: signalsRaw })
    expect(node.kind).toBe("webhook")
    expect(node.config).toEqual({ name: "webhook", sources: ["webhook"], maxBodyBytes: 262_144, maxSignals: 100, toleranceSeconds: 300, retryAfterSeconds: 5 })
    expect(await Effect.runPromise(node.poll)).toEqual({ emissions: [], done: true })
  })
})

describe("webhook: hostile input (property)", () => {
  const jsonValue = fc.jsonValue({ maxDepth: 4 })
  const signalLike = fc.record(
    {
      content: fc.oneof(fc.string({ maxLength: 40 }), fc.integer(), fc.constant("")),
      sourceId: fc.oneof(fc.string({ maxLength: 10 }), fc.constant(" ")),
      capturedAt: fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), fc.string({ maxLength: 12 })),
      engagement: fc.oneof(fc.record({ likes: fc.oneof(fc.integer(), fc.double()), score: fc.double() }, { requiredKeys: [] }), jsonValue),
      tags: fc.oneof(fc.array(fc.string({ maxLength: 8 }), { maxLength: 4 }), jsonValue),
      metadata: jsonValue,
      url: fc.oneof(fc.webUrl(), fc.integer())
    },
    { requiredKeys: [] }
  )
  const valid = fc.record(
    {
      content: fc.string({ minLength: 1, maxLength: 60 }),
      sourceId: fc.string({ minLength: 1, maxLength: 12 }).filter((s) => s.trim() === s && s.length > 0),
      capturedAt: fc.date({ min: new Date("2000-01-01"), max: new Date("2100-01-01"), noInvalidDate: true }).map((d) => d.toISOString()),
      tags: fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 }),
      metadata: fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 })
    },
    { requiredKeys: ["content"] }
  )
  const bodies = fc.oneof(
    valid.map((v) => JSON.stringify(v)),
    fc.array(fc.oneof(valid, signalLike), { minLength: 1, maxLength: 4 }).map((v) => JSON.stringify(v)),
    jsonValue.map((v) => JSON.stringify(v)),
    signalLike.map((v) => JSON.stringify(v)),
    fc.array(signalLike, { maxLength: 5 }).map((v) => JSON.stringify(v)),
    fc.string({ unit: "binary", maxLength: 200 }),
    fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString("latin1"))
  )
  const signatures = fc.oneof(
    fc.constant("valid"),
    fc.constant("valid"),
    fc.string({ maxLength: 80 }),
    fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: 64, maxLength: 64 }).map((h) => `sha256=${h}`),
    fc.constant(null)
  )
  const timestamps = fc.oneof(fc.constant("now"), fc.constant("now"), fc.string({ maxLength: 14 }), fc.integer().map(String), fc.constant(null))
  const contentTypes = fc.oneof(fc.constant("application/json"), fc.constant("application/json"), fc.string({ maxLength: 30 }), fc.constant(null))

  it("never answers 5xx and stores only valid signals", async () => {
    const { app, entries } = await setup({ maxBodyBytes: 4_096 })
    let accepted = 0
    await fc.assert(
      fc.asyncProperty(bodies, signatures, timestamps, contentTypes, async (body, signature, timestamp, contentType) => {
        const ts = timestamp === "now" ? now() : timestamp
        const response = await post(app, body, {
          timestamp: ts,
          signature: signature === "valid" ? sign(SECRET, ts ?? "", body) : signature,
          contentType
        })
        expect(response.status).toBeLessThan(500)
        expect([202, 400, 401, 413, 415]).toContain(response.status)
        if (response.status === 202) accepted += Number((await json(response))["accepted"])
        else expect(typeof (await json(response))["error"]).toBe("string")
      }),
      { numRuns: 3_000 }
    )
    const stored = await entries()
    expect(stored.filter(Either.isLeft)).toEqual([])
    expect(stored).toHaveLength(accepted)
    expect(accepted).toBeGreaterThan(0) // the generators do reach the stream now and then
  }, 120_000)

  it("accepts every valid signal it is sent, signed", async () => {
    const { app, entries } = await setup()
    let sent = 0
    await fc.assert(
      fc.asyncProperty(fc.array(valid, { minLength: 1, maxLength: 5 }), async (signals) => {
        const response = await post(app, JSON.stringify(signals))
        expect(response.status).toBe(202)
        sent += signals.length
      }),
      { numRuns: 300 }
    )
    const stored = await entries()
    expect(stored).toHaveLength(sent)
    expect(stored.every(Either.isRight)).toBe(true)
  }, 60_000)
})
