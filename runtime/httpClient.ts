/**
 * Outbound HTTP, one way for every adapter (sources, image engines, marketplaces,
 * alerting): `@effect/platform`'s HttpClient over fetch, with one User-Agent, a timeout per
 * request, transient failures retried inside the call on a jittered exponential schedule,
 * and every failure put in the runtime's vocabulary:
 *
 * - network error, timeout, 408, 425, 429, 5xx -> `RetryableError` (a `Retry-After` wait is
 *   carried as `retryAfterMs`, which the worker honours);
 * - any other 4xx, or a body that is not what the caller expects -> `PermanentError`.
 *
 * The status and the start of the body ride on the error (`httpFailure`), so an adapter
 * can quote the remote API's own message, or treat a 404 as "not there" rather than a fault.
 *
 * In-call retries are few on purpose: the worker's attempt budget is the outer loop, and a
 * long `Retry-After` is left to it rather than slept here.
 */
import { FetchHttpClient, HttpClient, HttpClientRequest, type HttpClientResponse } from "@effect/platform"
import { Duration, Effect, Layer, ParseResult, Predicate, Schedule, Schema } from "effect"
import { isRetryable, PermanentError, RetryableError } from "./errors.ts"

export const USER_AGENT = "desainz/0.1 (print-on-demand design engine)"

export type HttpError = RetryableError | PermanentError

/** What a failed call knew: the status (absent for a network failure) and the body's start. */
export interface HttpFailure {
  readonly status: number | undefined
  readonly body: string
  readonly retryAfterMs?: number
}

export interface CallOptions {
  /** Headers and body together. Default 30 s. */
  readonly timeout?: Duration.DurationInput
  /** Extra tries for a transient failure. Default 2. */
  readonly retries?: number
  /** Names the call in errors, e.g. "etsy createDraftListing". */
  readonly what?: string
}

/** A Retry-After longer than this is left to the worker's backoff instead of slept in the call. */
const MAX_INLINE_WAIT_MS = 5_000
const BODY_EXCERPT = 2_000

/** The failure detail on an error made by this module, if it is one. */
export const httpFailure = (error: unknown): HttpFailure | undefined => {
  const cause = Predicate.hasProperty(error, "cause") ? error.cause : undefined
  return Predicate.hasProperty(cause, "httpFailure") ? (cause.httpFailure as HttpFailure) : undefined
}

const failure = (detail: HttpFailure) => ({ httpFailure: detail, retryAfterMs: detail.retryAfterMs })

/** Retry-After as seconds or an HTTP date, in ms from now. */
export const parseRetryAfter = (value: string | undefined, now = Date.now()): number | undefined => {
  if (value === undefined || value.trim() === "") return undefined
  const seconds = Number(value)
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000)
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

/** The classification of a non-2xx status (exported for adapters that read a status themselves). */
export const statusError = (what: string, status: number, body: string, retryAfter?: string): HttpError => {
  const retryAfterMs = parseRetryAfter(retryAfter)
  const detail: HttpFailure = { status, body: body.slice(0, BODY_EXCERPT), ...(retryAfterMs === undefined ? {} : { retryAfterMs }) }
  const message = `${what}: HTTP ${status}${body ? `: ${body.slice(0, 300)}` : ""}`
  return status === 408 || status === 425 || status === 429 || status >= 500
    ? new RetryableError({ message, cause: failure(detail) })
    : new PermanentError({ message, cause: failure(detail) })
}

const describe = (request: HttpClientRequest.HttpClientRequest, what: string | undefined) => what ?? `${request.method} ${request.url}`

/**
 * Sends a request; resolves with a 2xx response, fails with a classified error otherwise.
 * The response body is not read on success: the caller reads it as JSON, text or bytes.
 */
export const send = (
  request: HttpClientRequest.HttpClientRequest,
  options: CallOptions = {}
): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpError, HttpClient.HttpClient> => {
  const what = describe(request, options.what)
  const timeout = Duration.decode(options.timeout ?? "30 seconds")
  const once = Effect.flatMap(HttpClient.HttpClient, (client) => client.execute(request)).pipe(
    Effect.mapError(
      (error) =>
        new RetryableError({ message: `${what}: ${error.message}`, cause: failure({ status: undefined, body: "" }) }) as HttpError
    ),
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () => new RetryableError({ message: `${what}: no answer within ${Duration.format(timeout)}`, cause: failure({ status: undefined, body: "" }) })
    }),
    Effect.flatMap((response) =>
      response.status >= 200 && response.status < 300
        ? Effect.succeed(response)
        : Effect.flatMap(
            Effect.orElseSucceed(response.text, () => ""),
            (body) => Effect.fail(statusError(what, response.status, body, response.headers["retry-after"]))
          )
    )
  )
  return Effect.retry(once, {
    schedule: Schedule.exponential("200 millis", 2).pipe(Schedule.jittered),
    times: options.retries ?? 2,
    while: (error) => isRetryable(error) && (httpFailure(error)?.retryAfterMs ?? 0) <= MAX_INLINE_WAIT_MS
  })
}

/** Sends a request and decodes its JSON body with `schema`; a body that does not fit is permanent. */
export const sendJson = <A, I>(
  request: HttpClientRequest.HttpClientRequest,
  schema: Schema.Schema<A, I>,
  options: CallOptions = {}
): Effect.Effect<A, HttpError, HttpClient.HttpClient> => {
  const what = describe(request, options.what)
  const decode = Schema.decodeUnknown(schema)
  return Effect.flatMap(send(request, options), (response) =>
    response.json.pipe(
      Effect.mapError((error) => new PermanentError({ message: `${what}: body is not JSON: ${error.message}` })),
      Effect.flatMap((body) =>
        Effect.mapError(decode(body), (error) => new PermanentError({ message: `${what}: unexpected body: ${ParseResult.TreeFormatter.formatErrorSync(error)}` }))
      )
    )
  )
}

/** The HttpClient every adapter gets: fetch, with desAInz's User-Agent unless the request sets one. */
export const layer: Layer.Layer<HttpClient.HttpClient> = Layer.effect(
  HttpClient.HttpClient,
  Effect.map(HttpClient.HttpClient, (client) =>
    HttpClient.mapRequest(client, (request) => (request.headers["user-agent"] ? request : HttpClientRequest.setHeader(request, "user-agent", USER_AGENT)))
  )
).pipe(Layer.provide(FetchHttpClient.layer))
