/**
 * Failure vocabulary shared by the runtime and every adapter.
 *
 * Retryability lives on the error, not at the call site: the worker loop asks
 * `isRetryable(error)` and either schedules another attempt (within the operator's
 * attempt budget) or dead-letters the entry at once.
 */
import { Predicate, Schema } from "effect"

/** A transient failure (network, timeout, 429, 5xx): worth another attempt after backoff. */
export class RetryableError extends Schema.TaggedError<RetryableError>()("RetryableError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Unknown)
}) {
  readonly retryable = true
}

/** A failure that no retry can fix (bad input, 4xx, violated invariant): dead-letter at once. */
export class PermanentError extends Schema.TaggedError<PermanentError>()("PermanentError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Unknown)
}) {
  readonly retryable = false
}

/** A named thing (operator, stream, dead letter) does not exist. Permanent; HTTP 404. */
export class NotFoundError extends Schema.TaggedError<NotFoundError>()("NotFoundError", {
  message: Schema.String
}) {
  readonly retryable = false
}

/** An entry whose fields do not decode into the stream's schema. Always permanent. */
export class DecodeError extends Schema.TaggedError<DecodeError>()("DecodeError", {
  message: Schema.String,
  stream: Schema.String
}) {
  readonly retryable = false
}

/** The stream transport (Redis or embedded) failed; the caller's work stays pending. */
export class TransportError extends Schema.TaggedError<TransportError>()("TransportError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Unknown)
}) {
  readonly retryable = true
}

/** The topology declaration is invalid; raised once at start-up with the offending name. */
export class TopologyError extends Schema.TaggedError<TopologyError>()("TopologyError", {
  message: Schema.String
}) {}

/**
 * Anything that does not say otherwise is treated as retryable: an unknown failure
 * (a thrown exception, a defect) spends one attempt and reaches the DLQ only after
 * the attempt budget, so a flaky dependency never dead-letters healthy input.
 */
export const isRetryable = (error: unknown): boolean =>
  Predicate.hasProperty(error, "retryable") && typeof error.retryable === "boolean" ? error.retryable : true

/** A short, loggable description of any failure, for DLQ entries and metrics. */
export const describeError = (error: unknown): string => {
  if (error instanceof Error) return `${error.name === "Error" ? "" : `${error.name}: `}${error.message}`
  if (Predicate.hasProperty(error, "_tag")) {
    const message = Predicate.hasProperty(error, "message") ? String(error.message) : ""
    return `${String(error._tag)}${message ? `: ${message}` : ""}`
  }
  return String(error)
}

/**
 * A wait the failing service asked for (HTTP `Retry-After`), in ms, carried on the error
 * or its cause as `retryAfterMs`. The worker waits at least this long before the next try.
 */
export const retryAfterMs = (error: unknown): number | undefined => {
  const own = Predicate.hasProperty(error, "retryAfterMs") ? error.retryAfterMs : undefined
  const cause = Predicate.hasProperty(error, "cause") ? error.cause : undefined
  const carried = own ?? (Predicate.hasProperty(cause, "retryAfterMs") ? cause.retryAfterMs : undefined)
  return typeof carried === "number" && Number.isFinite(carried) && carried > 0 ? carried : undefined
}
