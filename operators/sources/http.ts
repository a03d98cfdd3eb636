/**
 * What every HTTP source adapter shares, so each adapter is only its API's shape:
 *
 * - a GET through the runtime's HttpClient (`runtime/httpClient.ts`: User-Agent, timeout
 *   over headers and body, size cap, failure classification) after a token from the
 *   source's rate limit, with conditional requests (the last good response's ETag /
 *   Last-Modified are sent back; a 304 means nothing new);
 * - errors in the source's words: network error, timeout, 408, 429, 5xx -> `RetryableError`;
 *   other 4xx, an unexpected status, a malformed body -> `PermanentError` quoting the API's
 *   own message (the worker dead-letters it as `dlq.<source>` and keeps polling); a
 *   `Retry-After` wait rides on the error (`retryAfterMs`), and no request is sent before
 *   it ends. No retries inside a poll: a poll is retried whole by the worker, and every
 *   request of it must take a rate-limit token;
 * - delta-only emission: a bounded memory of emitted item ids (and their engagement), so
 *   a re-poll emits only new items, or items whose engagement moved enough when asked;
 * - the config fields every adapter's config schema shares (validated with the runtime's
 *   `decodeConfig` at construction).
 *
 * A poll is all or nothing: ETags and "seen" marks of a poll are kept only when the
 * whole poll succeeds, so a poll that fails halfway loses nothing on the next try.
 */
import { createHash } from "node:crypto"
import { type HttpClient, HttpClientRequest } from "@effect/platform"
import { Clock, Duration, Effect, Either, Option, ParseResult, Predicate, Redacted, Schema } from "effect"
import { LRUCache } from "lru-cache"
import { PermanentError, RetryableError, retryAfterMs } from "../../runtime/errors.ts"
import { type HttpError, httpFailure, sendText } from "../../runtime/httpClient.ts"
import type { Emission, PollResult } from "../../runtime/topology.ts"
import type { Signal } from "../schemas.ts"
import { RateLimiter, RateSettings } from "./rateLimit.ts"

export type SourceError = RetryableError | PermanentError

/** What a source's poll needs from its surroundings: the shared rate limit and the HttpClient. */
export type SourceServices = RateLimiter | HttpClient.HttpClient

// ---------------------------------------------------------------------------------------
// Config shared by the adapters

const NodeName = Schema.String.pipe(
  Schema.pattern(/^[a-z][a-z0-9_-]*$/, { message: () => "expected lowercase letters, digits, '-' or '_', starting with a letter" })
)

/** A duration as text, e.g. "5 minutes". */
export type DurationText = Extract<Duration.DurationInput, string>

const isDuration = (s: string): s is DurationText => Option.isSome(Duration.decodeUnknown(s))

export const DurationString = Schema.String.pipe(
  Schema.filter(isDuration, {
    message: (issue) => `expected a duration such as "5 minutes", got ${JSON.stringify(issue.actual)}`
  })
)

export const HttpUrl = Schema.String.pipe(
  Schema.filter((s) => URL.canParse(s) && /^https?:$/.test(new URL(s).protocol), {
    message: (issue) => `expected an http(s) URL, got ${JSON.stringify(issue.actual)}`
  })
)

export const DeltaSettings = Schema.Struct({
  remember: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 1_000_000)), { default: () => 10_000 }).annotations({
    description: "how many emitted item ids the source remembers (least recently seen are forgotten first)"
  }),
  reemitGrowth: Schema.optional(Schema.Number.pipe(Schema.positive(), Schema.finite())).annotations({
    description: "re-emit an item already emitted once its engagement grew by this fraction (0.5 = +50%); absent: never",
    examples: [0.5]
  }),
  reemitMinDelta: Schema.optionalWith(Schema.Number.pipe(Schema.nonNegative(), Schema.finite()), { default: () => 0 }).annotations({
    description: "and by at least this much in absolute terms (keeps 2 -> 3 upvotes from counting as +50%)",
    examples: [100]
  })
}).annotations({ identifier: "DeltaSettings" })
export type DeltaSettings = typeof DeltaSettings.Type

/** Fields every HTTP source's config has; `defaults` are the adapter's own. */
export const sourceFields = (defaults: { readonly kind: string; readonly every: DurationText; readonly rate: RateSettings }) => ({
  name: Schema.optionalWith(NodeName, { default: () => defaults.kind }).annotations({
    description: "node name in the topology; also names the rate-limit bucket and dlq.<name>",
    examples: [defaults.kind]
  }),
  every: Schema.optionalWith(DurationString, { default: () => defaults.every }).annotations({
    description: "pause between polls",
    examples: [defaults.every]
  }),
  timeoutMs: Schema.optionalWith(Schema.Int.pipe(Schema.between(100, 300_000)), { default: () => 15_000 }).annotations({
    description: "per request, headers and body together"
  }),
  rate: Schema.optionalWith(RateSettings, { default: () => defaults.rate }).annotations({
    description: "request rate allowed to this source, shared by all replicas"
  }),
  delta: Schema.optionalWith(DeltaSettings, { default: () => Schema.decodeSync(DeltaSettings)({}) }).annotations({
    description: "delta-only emission: what a re-poll emits again"
  })
})

/** The API root, overridable so tests can point an adapter at a local fake. */
export const baseUrlField = (url: string) =>
  Schema.optionalWith(HttpUrl, { default: () => url }).annotations({
    description: "API root (a local fake in tests, a proxy in production)",
    examples: [url]
  })

const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.map((k, i) => (typeof k === "number" ? `[${k}]` : i === 0 ? String(k) : `.${String(k)}`)).join("")

/** A parse error as `path: message; ...`, the first few issues only. */
export const formatIssues = (error: ParseResult.ParseError): string => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  const shown = issues.slice(0, 3).map((i) => (i.path.length > 0 ? `${formatPath(i.path)}: ${i.message}` : i.message))
  return shown.join("; ") + (issues.length > 3 ? ` (and ${issues.length - 3} more)` : "")
}

/**
 * An optional field of an API response: absent, never `undefined` (JSON has none), so a
 * wrong value is reported as itself rather than also as "expected undefined".
 */
export const optionalField = <S extends Schema.Schema.All>(schema: S) => Schema.optionalWith(schema, { exact: true })

/** A short stable id from parts, for items whose source gives none. */
export const stableId = (...parts: ReadonlyArray<string>): string =>
  createHash("sha1").update(parts.join("\u0000")).digest("hex").slice(0, 16)

const stringAt = (value: unknown, ...path: ReadonlyArray<string>): string | undefined => {
  let current = value
  for (const key of path) {
    if (!Predicate.isRecord(current)) return undefined
    current = current[key]
  }
  return typeof current === "string" && current.trim() !== "" ? current : undefined
}

const stripTags = (text: string) => text.replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim()

/** The useful part of an error body: the message fields of the usual JSON error shapes, else the text. */
const errorDetail = (body: string): string => {
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch {
    return stripTags(body).slice(0, 200)
  }
  const parts = [
    stringAt(parsed, "error", "message"), // Google APIs
    stringAt(parsed, "error", "status"),
    stringAt(parsed, "message"), // Reddit
    stringAt(parsed, "reason"),
    stringAt(parsed, "title"), // problem+json (Wikimedia)
    stringAt(parsed, "detail"),
    stringAt(parsed, "error")
  ]
  return [...new Set(parts.filter((p) => p !== undefined))].map(stripTags).join(" - ").slice(0, 300)
}

/** The wait a 429/503 asked for (defined with the runtime, which honours it in its backoff). */
export { retryAfterMs }

// ---------------------------------------------------------------------------------------
// Requests

export type QueryValue = string | number | Redacted.Redacted<string> | undefined

export interface GetOptions {
  /** Query parameters; `Redacted` values (API keys) are sent but shown as REDACTED in errors. */
  readonly query?: Readonly<Record<string, QueryValue>>
  /** Send the last good response's validators and accept a 304 (default true). */
  readonly conditional?: boolean
  readonly accept?: string
}

export type Fetched<A> = { readonly _tag: "NotModified" } | { readonly _tag: "Fresh"; readonly body: A }

/** What a poll's code uses to fetch; everything it fetches is committed with the poll. */
export interface PollContext {
  readonly json: <A, I>(path: string, schema: Schema.Schema<A, I>, options?: GetOptions) => Effect.Effect<Fetched<A>, SourceError, SourceServices>
  /** A text resource, parsed by `parse` (Left = what is wrong with it). */
  readonly text: <A>(
    path: string,
    parse: (body: string) => Either.Either<A, string>,
    options?: GetOptions
  ) => Effect.Effect<Fetched<A>, SourceError, SourceServices>
  /** True when the item was emitted before and nothing could make it emit again: skip fetching it. */
  readonly settled: (id: string) => boolean
}

/** An item a poll found; whether it is emitted depends on what was emitted before. */
export interface Candidate {
  readonly signal: Signal
  /** The number whose growth re-emits an item (score, views); see `DeltaSettings`. */
  readonly engagement?: number
}

export interface PollPlan {
  readonly candidates: ReadonlyArray<Candidate>
  /** The adapter has more right away (another page). */
  readonly more?: boolean
  /** Applies the adapter's own state change (a cursor) once the poll has succeeded. */
  readonly commit?: () => void
}

export interface HttpSourceOptions {
  /** Node name: the rate-limit bucket and the prefix of error messages. */
  readonly name: string
  readonly baseUrl: string
  readonly timeoutMs: number
  readonly rate: RateSettings
  readonly delta: DeltaSettings
  /** Largest response body accepted (default 8 MiB). */
  readonly maxBytes?: number
}

export interface HttpSource {
  /** Builds a source's `poll` from the code of one poll. */
  readonly poll: <R>(
    run: (http: PollContext) => Effect.Effect<PollPlan, SourceError, R>
  ) => Effect.Effect<PollResult<Signal>, SourceError, R | SourceServices>
}

interface Validators {
  readonly etag?: string
  readonly lastModified?: string
}

/** The request (real query values) and how errors show its URL (secrets redacted). */
const buildRequest = (baseUrl: string, path: string, query: GetOptions["query"]) => {
  const url = new URL(baseUrl.replace(/\/+$/, "") + path)
  const shown = new URL(url)
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value === undefined) continue
    url.searchParams.set(key, Redacted.isRedacted(value) ? Redacted.value(value) : String(value))
    shown.searchParams.set(key, Redacted.isRedacted(value) ? "REDACTED" : String(value))
  }
  return { request: HttpClientRequest.get(url), shown: shown.href }
}

/** A failed status in the source's words: the API's own message instead of its raw body. */
const inSourceWords = (error: HttpError, call: string): HttpError => {
  const detail = httpFailure(error)
  if (detail?.status === undefined || (detail.status >= 200 && detail.status < 300)) return error
  const why = errorDetail(detail.body)
  const wait = detail.retryAfterMs
  const message = `${call} -> HTTP ${detail.status}${why ? `: ${why}` : ""}${wait !== undefined ? ` (retry after ${Math.ceil(wait / 1000)}s)` : ""}`
  return error._tag === "RetryableError" ? new RetryableError({ message, cause: error.cause }) : new PermanentError({ message, cause: error.cause })
}

const parseJsonWith = <A, I>(schema: Schema.Schema<A, I>) => {
  const decode = Schema.decodeUnknownEither(schema, { errors: "all" })
  return (body: string): Either.Either<A, string> => {
    let parsed: unknown
    try {
      parsed = JSON.parse(body)
    } catch (e) {
      return Either.left(`body is not JSON (${e instanceof Error ? e.message : String(e)}): ${JSON.stringify(body.slice(0, 80))}`)
    }
    return Either.mapLeft(decode(parsed), (error) => formatIssues(error))
  }
}

export const makeHttpSource = (options: HttpSourceOptions): HttpSource => {
  const { name, baseUrl, timeoutMs, rate, delta } = options
  const validators = new LRUCache<string, Validators>({ max: 1_000 })
  const seen = new LRUCache<string, number>({ max: delta.remember })
  // Set by a failure carrying Retry-After: nothing is sent to the API before then.
  let notBefore = 0

  const movedEnough = (last: number, now: number) =>
    delta.reemitGrowth !== undefined && now > last && now - last >= Math.max(delta.reemitMinDelta, last * delta.reemitGrowth)

  const request = <A>(
    staged: Map<string, Validators>,
    path: string,
    decode: (body: string) => Either.Either<A, string>,
    get: GetOptions,
    accept: string
  ): Effect.Effect<Fetched<A>, SourceError, SourceServices> =>
    Effect.gen(function* () {
      const { request, shown } = buildRequest(baseUrl, path, get.query)
      const call = `${name}: GET ${shown}`
      const waited = (yield* Clock.currentTimeMillis) - notBefore
      if (waited < 0) {
        return yield* new RetryableError({
          message: `${call} not sent: the server asked to wait (Retry-After) ${Math.ceil(-waited / 1000)}s more`,
          cause: { retryAfterMs: -waited }
        })
      }
      const limiter = yield* RateLimiter
      yield* limiter.acquire(name, rate)
      const conditional = get.conditional ?? true
      const known = conditional ? validators.get(shown) : undefined
      const headers: Record<string, string> = { accept }
      if (known?.etag !== undefined) headers["if-none-match"] = known.etag
      if (known?.lastModified !== undefined) headers["if-modified-since"] = known.lastModified
      const res = yield* sendText(HttpClientRequest.setHeaders(request, headers), {
        what: call,
        timeout: Duration.millis(timeoutMs),
        retries: 0,
        conditional,
        ...(options.maxBytes !== undefined ? { maxBytes: options.maxBytes } : {})
      }).pipe(
        Effect.tapError((error) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => {
            const wait = httpFailure(error)?.retryAfterMs
            if (wait !== undefined) notBefore = now + wait
            return Effect.void
          })
        ),
        Effect.mapError((error) => inSourceWords(error, call))
      )
      if (res.status === 304) return { _tag: "NotModified" } as const
      const decoded = decode(res.text)
      if (Either.isLeft(decoded)) {
        return yield* new PermanentError({ message: `${name}: unexpected response from GET ${shown}: ${decoded.left}`, cause: { status: res.status } })
      }
      const etag = res.headers["etag"]
      const lastModified = res.headers["last-modified"]
      if (conditional && (etag !== undefined || lastModified !== undefined)) {
        staged.set(shown, { ...(etag !== undefined ? { etag } : {}), ...(lastModified !== undefined ? { lastModified } : {}) })
      }
      return { _tag: "Fresh", body: decoded.right } as const
    })

  return {
    poll: (run) =>
      Effect.gen(function* () {
        const staged = new Map<string, Validators>()
        const context: PollContext = {
          json: (path, schema, get = {}) => request(staged, path, parseJsonWith(schema), get, get.accept ?? "application/json"),
          text: (path, parse, get = {}) => request(staged, path, parse, get, get.accept ?? "*/*"),
          settled: (id) => delta.reemitGrowth === undefined && seen.has(id)
        }
        const plan = yield* run(context)
        const emitted = new Map<string, number>()
        const emissions: Array<Emission<Signal>> = []
        for (const { signal, engagement = 0 } of plan.candidates) {
          const id = signal.sourceId
          const last = emitted.get(id) ?? seen.get(id)
          if (last !== undefined && !movedEnough(last, engagement)) continue
          emitted.set(id, engagement)
          // A re-emission gets its own key (hence event id); the first sighting's key is stable across restarts.
          emissions.push({ data: signal, timestamp: signal.capturedAt, key: last === undefined ? id : `${id}@${engagement}` })
        }
        for (const [url, v] of staged) validators.set(url, v)
        for (const [id, engagement] of emitted) seen.set(id, engagement)
        plan.commit?.()
        return plan.more === true ? { emissions, more: true } : { emissions }
      })
  }
}
