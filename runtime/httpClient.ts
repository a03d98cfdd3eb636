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
import { FetchHttpClient, HttpClient, type HttpClientError, HttpClientRequest, type HttpClientResponse } from "@effect/platform"
import { Config, Duration, Effect, Layer, Option, ParseResult, Predicate, Schedule, Schema, Stream } from "effect"
import { isRetryable, PermanentError, RetryableError } from "./errors.ts"

/** Sent on every request; `DESAINZ_HTTP_CONTACT` is appended (Reddit's and Wikimedia's API rules ask for one). */
export const USER_AGENT = "desAInz/0.1 (print-on-demand design-idea engine)"

export type HttpError = RetryableError | PermanentError

/** What a failed call knew: the status (absent for a network failure) and the body's start. */
export interface HttpFailure {
  readonly status: number | undefined
  readonly body: string
  readonly retryAfterMs?: number
}

export interface CallOptions {
  /** For the answer's headers, and with `sendText` its body too. Default 30 s. */
  readonly timeout?: Duration.DurationInput
  /** Extra tries for a transient failure. Default 2. */
  readonly retries?: number
  /** Names the call in errors, e.g. "etsy createDraftListing". */
  readonly what?: string
}

export interface TextCallOptions extends CallOptions {
  /** Largest body read; a larger 2xx body is a PermanentError, so a broken server cannot exhaust memory. Default 8 MiB. */
  readonly maxBytes?: number
  /** The request carries validators (If-None-Match / If-Modified-Since): a 304 Not Modified is an answer, not a failure. */
  readonly conditional?: boolean
}

/** A response whose body was read (within the call's timeout and size cap). */
export interface TextResponse {
  readonly status: number
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string>>
  readonly text: string
}

/** A Retry-After longer than this is left to the worker's backoff instead of slept in the call. */
const MAX_INLINE_WAIT_MS = 5_000
const BODY_EXCERPT = 2_000
/** An error body is only quoted, so little of it is read. */
const ERROR_BODY_BYTES = 64 * 1024
const DEFAULT_MAX_BYTES = 8 * 1024 * 1024

/** The failure detail on an error made by this module, if it is one. */
export const httpFailure = (error: unknown): HttpFailure | undefined => {
  const cause = Predicate.hasProperty(error, "cause") ? error.cause : undefined
  return Predicate.hasProperty(cause, "httpFailure") ? (cause.httpFailure as HttpFailure) : undefined
}

const failure = (detail: HttpFailure) => ({ httpFailure: detail, retryAfterMs: detail.retryAfterMs })

/**
 * Retry-After as seconds or an HTTP date, in ms from now. A date is measured from the
 * server's own `Date` header when it sent one, so a skewed clock on either side does not
 * stretch or cut the wait.
 */
export const parseRetryAfter = (value: string | null | undefined, now = Date.now(), serverDate?: string | null): number | undefined => {
  const text = value?.trim()
  if (text === undefined || text === "") return undefined
  if (/^\d+$/.test(text)) return Number(text) * 1000
  const at = Date.parse(text)
  if (Number.isNaN(at)) return undefined
  const serverNow = Date.parse(serverDate ?? "")
  return Math.max(0, at - (Number.isNaN(serverNow) ? now : serverNow))
}

/** The classification of a non-2xx status (exported for adapters that read a status themselves). */
export const statusError = (what: string, status: number, body: string, retryAfter?: string, serverDate?: string): HttpError => {
  const retryAfterMs = parseRetryAfter(retryAfter, Date.now(), serverDate)
  const detail: HttpFailure = { status, body: body.slice(0, BODY_EXCERPT), ...(retryAfterMs === undefined ? {} : { retryAfterMs }) }
  const message = `${what}: HTTP ${status}${body ? `: ${body.slice(0, 300)}` : ""}`
  return status === 408 || status === 425 || status === 429 || status >= 500
    ? new RetryableError({ message, cause: failure(detail) })
    : new PermanentError({ message, cause: failure(detail) })
}

// Query parameters are left out: they may hold an API key (the caller names the call with `what` if it wants them shown).
const describe = (request: HttpClientRequest.HttpClientRequest, what: string | undefined) => what ?? `${request.method} ${request.url}`

/** What fetch says when no response came: its message and the system's (e.g. "connect ECONNREFUSED ... (ECONNREFUSED)"). */
const describeTransport = (error: HttpClientError.HttpClientError): string => {
  const cause = error.cause
  if (!(cause instanceof Error)) return `${error.reason} error`
  const inner = cause.cause
  const code = Predicate.hasProperty(inner, "code") ? ` (${String(inner.code)})` : ""
  const detail = inner instanceof Error && inner.message !== "" ? `: ${inner.message}` : ""
  return `${cause.message}${detail}${code}`
}

/** Reads at most `maxBytes` of a body; the rest is not downloaded. */
const readCapped = (response: HttpClientResponse.HttpClientResponse, maxBytes: number) =>
  response.stream.pipe(
    Stream.runFoldWhile(
      { chunks: [] as Array<Uint8Array>, total: 0, truncated: false },
      (read) => !read.truncated,
      (read, chunk) => {
        const room = maxBytes - read.total
        if (chunk.byteLength > room) {
          read.chunks.push(chunk.subarray(0, room))
          return { chunks: read.chunks, total: maxBytes, truncated: true }
        }
        read.chunks.push(chunk)
        return { chunks: read.chunks, total: read.total + chunk.byteLength, truncated: false }
      }
    ),
    Effect.map((read) => ({ text: new TextDecoder().decode(Buffer.concat(read.chunks)), truncated: read.truncated })),
    // No body at all (a 304, a 204) reads as empty.
    Effect.catchIf(
      (error) => error.reason === "EmptyBody",
      () => Effect.succeed({ text: "", truncated: false })
    )
  )

const noAnswer = (what: string, message: string) => new RetryableError({ message: `${what}: ${message}`, cause: failure({ status: undefined, body: "" }) })

/**
 * One try: the request, then what `onAnswer` does with an accepted response, within the
 * timeout; a status outside 2xx (304 too unless `conditional`) is classified with the start
 * of its body.
 */
const attempt = <A>(
  request: HttpClientRequest.HttpClientRequest,
  what: string,
  options: TextCallOptions,
  onAnswer: (response: HttpClientResponse.HttpClientResponse) => Effect.Effect<A, HttpError>
): Effect.Effect<A, HttpError, HttpClient.HttpClient> => {
  const timeout = Duration.decode(options.timeout ?? "30 seconds")
  return Effect.flatMap(HttpClient.HttpClient, (client) => client.execute(request)).pipe(
    Effect.mapError((error): HttpError => noAnswer(what, describeTransport(error))),
    Effect.flatMap((response) =>
      (response.status >= 200 && response.status < 300) || (options.conditional === true && response.status === 304)
        ? onAnswer(response)
        : Effect.flatMap(
            Effect.orElseSucceed(readCapped(response, ERROR_BODY_BYTES), () => ({ text: "", truncated: false })),
            ({ text }) => Effect.fail(statusError(what, response.status, text, response.headers["retry-after"], response.headers["date"]))
          )
    ),
    Effect.timeoutFail({ duration: timeout, onTimeout: () => noAnswer(what, `no answer within ${Duration.format(timeout)}`) })
  )
}

const withRetries = <A>(once: Effect.Effect<A, HttpError, HttpClient.HttpClient>, options: CallOptions) =>
  Effect.retry(once, {
    schedule: Schedule.exponential("200 millis", 2).pipe(Schedule.jittered),
    times: options.retries ?? 2,
    while: (error) => isRetryable(error) && (httpFailure(error)?.retryAfterMs ?? 0) <= MAX_INLINE_WAIT_MS
  })

/**
 * Sends a request; resolves with a 2xx response, fails with a classified error otherwise.
 * The response body is not read on success: the caller reads it as JSON, text or bytes
 * (outside the timeout, which covers the headers here).
 */
export const send = (
  request: HttpClientRequest.HttpClientRequest,
  options: CallOptions = {}
): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpError, HttpClient.HttpClient> =>
  withRetries(attempt(request, describe(request, options.what), options, Effect.succeed), options)

/**
 * Sends a request and reads its body as text, headers and body within the timeout, at most
 * `maxBytes` of it. With `conditional`, a 304 resolves (with an empty text).
 */
export const sendText = (
  request: HttpClientRequest.HttpClientRequest,
  options: TextCallOptions = {}
): Effect.Effect<TextResponse, HttpError, HttpClient.HttpClient> => {
  const what = describe(request, options.what)
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES
  return withRetries(
    attempt(request, what, options, (response) =>
      readCapped(response, maxBytes).pipe(
        Effect.mapError((error): HttpError => noAnswer(what, `reading the body failed: ${error.message}`)),
        Effect.flatMap(({ text, truncated }) =>
          truncated
            ? Effect.fail(
                new PermanentError({
                  message: `${what}: response larger than ${maxBytes} bytes`,
                  cause: failure({ status: response.status, body: "" })
                })
              )
            : Effect.succeed({ status: response.status, headers: response.headers, text })
        )
      )
    ),
    options
  )
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

const Contact = Config.string("DESAINZ_HTTP_CONTACT").pipe(Config.option)

/**
 * The HttpClient every adapter gets: fetch, with desAInz's User-Agent (and the operator's
 * contact, `DESAINZ_HTTP_CONTACT`, when set) unless the request sets one.
 */
export const layer: Layer.Layer<HttpClient.HttpClient> = Layer.effect(
  HttpClient.HttpClient,
  Effect.gen(function* () {
    const client = yield* HttpClient.HttpClient
    const contact = yield* Effect.orElseSucceed(Contact, () => Option.none<string>())
    const agent = Option.match(contact, { onNone: () => USER_AGENT, onSome: (c) => USER_AGENT.replace(/\)$/, `; ${c})`) })
    return HttpClient.mapRequest(client, (request) => (request.headers["user-agent"] ? request : HttpClientRequest.setHeader(request, "user-agent", agent)))
  })
).pipe(Layer.provide(FetchHttpClient.layer))
