/**
 * The webhook source: signals pushed over HTTP, `POST /ingest/<source>` on the runtime's
 * HTTP server, appended straight to the output stream (a 202 means stored, never held in
 * memory).
 *
 * Request contract:
 *   Content-Type: application/json
 *   X-Desainz-Timestamp: <unix seconds>
 *   X-Desainz-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>" keyed with WEBHOOK_SECRET>
 *   body: one WebhookSignal or an array of 1..maxSignals of them
 *
 * A signature binds the body to its timestamp and a timestamp older or newer than
 * `toleranceSeconds` is refused, so a captured request cannot be replayed later; within
 * the window a resent signal gets the same event id (from its source id).
 *
 * Answers: 202 `{ accepted, ids }` (event ids); 400 bad UTF-8/JSON/schema (naming the
 * field); 401 bad or missing signature, stale timestamp, no WEBHOOK_SECRET configured;
 * 404 unknown source (no route); 413 body over `maxBodyBytes` (by Content-Length, and
 * counted while reading); 415 not JSON; 503 output backlog at the high watermark or the
 * stream unavailable, with Retry-After.
 */
import { createHmac, timingSafeEqual } from "node:crypto"
import { Cause, Config, Data, Effect, Either, Exit, Option, ParseResult, Redacted, Schema } from "effect"
import type { Context as HonoContext } from "hono"
import { describeError, isRetryable } from "../../runtime/errors.ts"
import { decodeConfig, type RouteContext, type SettingsInput, source, type SourceNode, type StreamDef } from "../../runtime/topology.ts"
import { contentHash } from "../ingest/normalize.ts"
import { Engagement, IsoTime, Signal } from "../schemas.ts"

export const SIGNATURE_HEADER = "x-desainz-signature"
export const TIMESTAMP_HEADER = "x-desainz-timestamp"

const NodeName = Schema.String.pipe(Schema.pattern(/^[a-z][a-z0-9_-]*$/))

export const WebhookConfig = Schema.Struct({
  name: Schema.optionalWith(NodeName.annotations({ description: "Node name." }), { default: () => "webhook" }),
  sources: Schema.optionalWith(
    Schema.NonEmptyArray(NodeName).annotations({
      description: "Names accepted as POST /ingest/<source>; a signal's `source` is the name it was posted to.",
      examples: [["zapier", "shopify"]]
    }),
    { default: () => ["webhook"] as const }
  ),
  maxBodyBytes: Schema.optionalWith(
    Schema.Int.pipe(Schema.between(1, 16 * 1024 * 1024)).annotations({ description: "Largest accepted body (413 above)." }),
    { default: () => 262_144 }
  ),
  maxSignals: Schema.optionalWith(
    Schema.Int.pipe(Schema.between(1, 10_000)).annotations({ description: "Most signals in one request body." }),
    { default: () => 100 }
  ),
  toleranceSeconds: Schema.optionalWith(
    Schema.Int.pipe(Schema.between(1, 3_600)).annotations({
      description: "How far X-Desainz-Timestamp may be from the server's clock, either way."
    }),
    { default: () => 300 }
  ),
  retryAfterSeconds: Schema.optionalWith(
    Schema.Int.pipe(Schema.between(1, 3_600)).annotations({ description: "Retry-After of a 503 (backlog or stream unavailable)." }),
    { default: () => 5 }
  )
}).annotations({ identifier: "WebhookConfig", description: "Signals pushed over HTTP with an HMAC signature." })
export type WebhookConfig = typeof WebhookConfig.Type

/**
 * A signal as posted: `Signal` without `source` (the URL says it) and with defaults:
 * `sourceId` the content hash, `capturedAt` the time of receipt, empty `engagement`,
 * `tags` and `metadata`. Unknown fields are refused, so a misspelt one is not lost quietly.
 */
export const WebhookSignal = Schema.Struct({
  sourceId: Schema.optional(Signal.fields.sourceId),
  content: Signal.fields.content,
  url: Signal.fields.url,
  capturedAt: Schema.optionalWith(IsoTime, { default: () => new Date().toISOString() }),
  engagement: Schema.optionalWith(Engagement, { default: () => ({}) }),
  tags: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] }),
  locale: Signal.fields.locale,
  category: Signal.fields.category,
  eventDate: Signal.fields.eventDate,
  metadata: Schema.optionalWith(Signal.fields.metadata, { default: () => ({}) })
}).annotations({ identifier: "WebhookSignal" })
export type WebhookSignal = typeof WebhookSignal.Type

/** The signature header value for a body, as a sender computes it. */
export const sign = (secret: string, timestamp: string, body: string | Uint8Array): string =>
  `sha256=${createHmac("sha256", secret).update(`${timestamp}.`).update(body).digest("hex")}`

class Rejected extends Data.TaggedError("Rejected")<{
  readonly status: 400 | 401 | 413 | 415 | 503
  readonly reason: string
  readonly issues?: ReadonlyArray<{ readonly path: string; readonly message: string }>
}> {}

const reject = (status: Rejected["status"], reason: string) => Effect.fail(new Rejected({ status, reason }))

const WebhookSecret = Config.option(Config.redacted("WEBHOOK_SECRET"))

const JSON_TYPE = /^application\/json\s*(?:;\s*charset\s*=\s*"?utf-8"?\s*)?$/i

/** The body, or none when it outgrows `max`: counted as it arrives, whatever Content-Length said. */
const readCapped = (request: Request, max: number) =>
  Effect.tryPromise({
    try: async (): Promise<Uint8Array | undefined> => {
      const reader = request.body?.getReader()
      if (reader === undefined) return new Uint8Array(0)
      const chunks: Array<Uint8Array> = []
      let size = 0
      for (;;) {
        const { done, value } = await reader.read()
        if (done) return Buffer.concat(chunks)
        size += value.byteLength
        if (size > max) {
          await reader.cancel()
          return undefined
        }
        chunks.push(value)
      }
    },
    catch: (e) => new Rejected({ status: 400, reason: `cannot read the body: ${describeError(e)}` })
  })

const verify = (secret: Redacted.Redacted<string>, timestamp: string, body: Uint8Array, header: string): boolean => {
  const expected = Buffer.from(sign(Redacted.value(secret), timestamp, body))
  const given = Buffer.from(header.trim().toLowerCase())
  return given.length === expected.length && timingSafeEqual(given, expected)
}

const issuePath = (path: ReadonlyArray<PropertyKey>) =>
  path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("").replace(/^\./, "") || "(body)"

const decodeOne = Schema.decodeUnknownEither(WebhookSignal, { onExcessProperty: "error", errors: "all" })

/** The request body's signals, or a 400 naming every offending field. */
const decodeBody = (json: unknown, maxSignals: number) => {
  const items = Array.isArray(json) ? json : [json]
  if (Array.isArray(json) && (json.length === 0 || json.length > maxSignals)) {
    return reject(400, `expected 1 to ${maxSignals} signals in the array, got ${json.length}`)
  }
  const signals: Array<WebhookSignal> = []
  const issues: Array<{ path: string; message: string }> = []
  items.forEach((item, i) => {
    const decoded = decodeOne(item)
    if (Either.isRight(decoded)) signals.push(decoded.right)
    else {
      const found = ParseResult.ArrayFormatter.formatErrorSync(decoded.left)
      for (const issue of found) {
        // An optional field that is present but wrong also fails its "or undefined" branch: noise.
        if (issue.message.startsWith("Expected undefined") && found.some((o) => o !== issue && issuePath(o.path) === issuePath(issue.path))) continue
        issues.push({ path: issuePath(Array.isArray(json) ? [i, ...issue.path] : issue.path), message: issue.message })
      }
    }
  })
  if (issues.length > 0) {
    const first = issues[0]!
    return Effect.fail(
      new Rejected({ status: 400, reason: `invalid signal: ${first.path}: ${first.message}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ""}`, issues })
    )
  }
  return Effect.succeed(signals)
}

const parseJson = (body: Uint8Array) =>
  Effect.try({
    try: () => new TextDecoder("utf-8", { fatal: true }).decode(body),
    catch: () => new Rejected({ status: 400, reason: "body is not valid UTF-8" })
  }).pipe(
    Effect.flatMap((text) =>
      Effect.try({
        try: (): unknown => JSON.parse(text),
        catch: (e) => new Rejected({ status: 400, reason: `body is not valid JSON: ${describeError(e)}` })
      })
    )
  )

/** Everything between the request and the stream; each refusal is a `Rejected` with its status. */
const ingest = (c: WebhookConfig, highWatermark: number, name: string, request: Request, context: RouteContext<Signal>) =>
  Effect.gen(function* () {
    const header = (h: string) => request.headers.get(h)
    if (!JSON_TYPE.test(header("content-type") ?? "")) {
      return yield* reject(415, `content type must be application/json (UTF-8), got ${JSON.stringify(header("content-type") ?? "")}`)
    }
    const secret = yield* Effect.orDie(WebhookSecret)
    if (Option.isNone(secret)) return yield* reject(401, "webhook ingestion is disabled: set WEBHOOK_SECRET to enable it")
    const signature = header(SIGNATURE_HEADER)
    const timestamp = header(TIMESTAMP_HEADER)
    if (signature === null || timestamp === null) {
      return yield* reject(401, `missing ${signature === null ? "X-Desainz-Signature" : "X-Desainz-Timestamp"} header`)
    }
    if (!/^\d{1,12}$/.test(timestamp)) return yield* reject(401, "X-Desainz-Timestamp must be unix seconds")
    const skew = Math.abs(Date.now() / 1000 - Number(timestamp))
    if (skew > c.toleranceSeconds) {
      return yield* reject(401, `X-Desainz-Timestamp is ${Math.round(skew)} s away from the server's clock (tolerance ${c.toleranceSeconds} s)`)
    }
    const length = header("content-length")
    if (length !== null && !/^\d+$/.test(length)) return yield* reject(400, `Content-Length ${JSON.stringify(length)} is not a number`)
    if (length !== null && Number(length) > c.maxBodyBytes) {
      return yield* reject(413, `body over ${c.maxBodyBytes} bytes (Content-Length ${length})`)
    }
    const backlog = yield* context.backlog
    if (backlog >= highWatermark) return yield* reject(503, `stream busy: backlog ${backlog} at the high watermark`)
    const body = yield* readCapped(request, c.maxBodyBytes)
    if (body === undefined) return yield* reject(413, `body over ${c.maxBodyBytes} bytes`)
    if (!verify(secret.value, timestamp, body, signature)) {
      return yield* reject(401, `signature does not match: expected sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`)
    }
    const posted = yield* decodeBody(yield* parseJson(body), c.maxSignals)
    const signals: ReadonlyArray<Signal> = posted.map((s) => ({ ...s, source: name, sourceId: s.sourceId ?? contentHash(s) }))
    const ids = yield* context.emit(signals.map((s) => ({ data: s, timestamp: s.capturedAt, key: `${name}:${s.sourceId}` })))
    return { accepted: ids.length, ids }
  })

type Accepted = { readonly accepted: number; readonly ids: ReadonlyArray<string> }

const respond = (c: HonoContext, exit: Exit.Exit<Accepted, unknown>, retryAfter: number) => {
  if (Exit.isSuccess(exit)) return c.json(exit.value, 202)
  const error = Option.getOrUndefined(Cause.failureOption(exit.cause))
  if (error === undefined) return c.json({ error: describeError(Cause.squash(exit.cause)) }, 500)
  if (error instanceof Rejected) {
    if (error.status === 503) c.header("Retry-After", String(retryAfter))
    return c.json({ error: error.reason, ...(error.issues ? { issues: error.issues } : {}) }, error.status)
  }
  if (!isRetryable(error)) return c.json({ error: describeError(error) }, 400)
  // The stream is unavailable: nothing was stored, the sender should try again.
  c.header("Retry-After", String(retryAfter))
  return c.json({ error: `not stored, try again: ${describeError(error)}` }, 503)
}

/**
 * A source fed by `POST /ingest/<source>` for each of `config.sources`; it has nothing to
 * poll. Validates its config now and throws naming the field.
 */
export const webhook = (
  config: typeof WebhookConfig.Encoded,
  io: { readonly to: StreamDef<Signal> },
  settings?: SettingsInput
): SourceNode<Signal, never> => {
  const c = decodeConfig("webhook", WebhookConfig, config)
  const node = source({
    name: c.name,
    kind: "webhook",
    to: io.to,
    every: "1 hour",
    settings,
    config: c,
    // Input arrives through `routes`; the poller has nothing to do and ends.
    poll: Effect.succeed({ emissions: [], done: true }),
    routes: (app, context) => {
      for (const name of c.sources) {
        app.post(`/ingest/${name}`, async (hc) =>
          respond(hc, await context.run(ingest(c, node.settings.highWatermark, name, hc.req.raw, context)), c.retryAfterSeconds)
        )
      }
    }
  })
  return node
}
