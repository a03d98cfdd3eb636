/**
 * The event envelope: one stream entry. Field names are the design's, one Redis field
 * each (so `redis-cli XRANGE` stays readable), the typed payload JSON-encoded in `data`.
 */
import * as crypto from "node:crypto"
import { createHash, randomUUID } from "node:crypto"
import { Either, ParseResult, Schema } from "effect"
import { DecodeError } from "./errors.ts"
import { compileIdentityCheck } from "./identityCheck.ts"

export interface Envelope<A> {
  readonly eventType: string
  readonly eventId: string
  /** Event time (ISO 8601): when it happened in the world, not when we processed it. */
  readonly timestamp: string
  /** The node that emitted it. */
  readonly source: string
  readonly version: number
  readonly correlationId: string
  readonly data: A
}

/** An envelope as an operator receives it: with the attempt it is on (1 = first delivery). */
export interface Delivered<A> extends Envelope<A> {
  /** Greater than 1 on a redelivery (a retry, or a takeover after a crash): its earlier effects may have happened. */
  readonly attempt: number
}

/** A stream entry as the transport sees it: flat string fields. */
export type Fields = Readonly<Record<string, string>>

export const ENVELOPE_VERSION = 1

/** The envelope's own fields, before the payload is decoded with the stream's schema. */
const EnvelopeFields = Schema.Struct({
  eventType: Schema.String,
  eventId: Schema.String,
  timestamp: Schema.String,
  source: Schema.String,
  version: Schema.NumberFromString,
  correlationId: Schema.String,
  data: Schema.String
})

type EnvelopeHead = typeof EnvelopeFields.Type

const DIGITS = /^\d{1,15}$/

/**
 * The hot path's shortcut for `EnvelopeFields`: every field a string and a plain integer
 * version give the very result the schema would; anything else is left to the schema,
 * which also words the error.
 */
const wellFormed = (fields: Fields): Either.Either<EnvelopeHead, never> | undefined => {
  const { eventType, eventId, timestamp, source, version, correlationId, data } = fields
  if (
    typeof eventType !== "string" ||
    typeof eventId !== "string" ||
    typeof timestamp !== "string" ||
    typeof source !== "string" ||
    typeof version !== "string" ||
    typeof correlationId !== "string" ||
    typeof data !== "string" ||
    !DIGITS.test(version)
  ) {
    return undefined
  }
  return Either.right({ eventType, eventId, timestamp, source, version: Number(version), correlationId, data })
}

export interface EnvelopeCodec<A> {
  /**
   * `encodedData`: the payload's JSON when the caller already has it exactly (an operator
   * passing an input through unchanged to a stream of the same schema); it is used as is.
   */
  readonly encode: (envelope: Envelope<A>, encodedData?: string) => Fields
  readonly decode: (fields: Fields) => Either.Either<Envelope<A>, DecodeError>
  /** True for a payload object this codec decoded as JSON.parse made it: its entry's `data` is its exact JSON. */
  readonly decodedAsIs: (data: unknown) => boolean
}

/**
 * Builds the codec of one stream once, so the hot path only runs compiled code: a payload
 * that passes the schema's identity check (runtime/identityCheck.ts) is used as parsed or
 * serialized as given; anything else goes through the schema, which also words the error.
 */
export const makeEnvelopeCodec = <A, I>(stream: string, schema: Schema.Schema<A, I>): EnvelopeCodec<A> => {
  const decodeFields = Schema.decodeUnknownEither(EnvelopeFields)
  const decodeData = Schema.decodeUnknownEither(Schema.parseJson(schema))
  const encodeData = Schema.encodeSync(Schema.parseJson(schema))
  const identity = compileIdentityCheck(schema)
  const passes = (value: unknown): boolean => {
    try {
      return identity!(value)
    } catch {
      return false // the schema runs next and reports what threw
    }
  }
  const parsed = (raw: string): { readonly value: unknown } | undefined => {
    try {
      return { value: JSON.parse(raw) }
    } catch {
      return undefined
    }
  }
  const fail = (message: string) => Either.left(new DecodeError({ stream, message }))
  // Payloads are immutable (read-only types), so one decoded as is stays its entry's JSON.
  const asIs = new WeakSet<object>()
  return {
    encode: (envelope, encodedData) => {
      let data = encodedData
      if (data === undefined && identity !== undefined && passes(envelope.data)) {
        try {
          data = JSON.stringify(envelope.data)
        } catch {
          // a value JSON cannot write (a cycle, a bigint): the schema's encoder says so
        }
      }
      return {
        eventType: envelope.eventType,
        eventId: envelope.eventId,
        timestamp: envelope.timestamp,
        source: envelope.source,
        version: String(envelope.version),
        correlationId: envelope.correlationId,
        data: data ?? encodeData(envelope.data)
      }
    },
    decode: (fields) => {
      const head = wellFormed(fields) ?? decodeFields(fields)
      if (Either.isLeft(head)) return fail(`invalid envelope: ${ParseResult.TreeFormatter.formatErrorSync(head.left)}`)
      if (identity !== undefined) {
        const json = parsed(head.right.data)
        if (json !== undefined && passes(json.value)) {
          if (typeof json.value === "object" && json.value !== null) asIs.add(json.value)
          return Either.right({ ...head.right, data: json.value as A })
        }
      }
      const data = decodeData(head.right.data)
      if (Either.isLeft(data)) return fail(`invalid ${stream} data: ${ParseResult.TreeFormatter.formatErrorSync(data.left)}`)
      return Either.right({ ...head.right, data: data.right })
    },
    decodedAsIs: (data) => typeof data === "object" && data !== null && asIs.has(data)
  }
}

/** One-shot `crypto.hash` (Node >= 20.12) where there is one: the same digest without a Hash object per id. */
const sha1Hex: (data: string) => string =
  typeof crypto.hash === "function" ? (data) => crypto.hash("sha1", data, "hex") : (data) => createHash("sha1").update(data).digest("hex")

/**
 * A stable uuid (v5 layout) derived from its parts. Outputs of an operator get ids derived
 * from the input's id, so a redelivered input produces the same output ids and sinks that
 * are idempotent by event id absorb the duplicate.
 */
export const deriveEventId = (...parts: ReadonlyArray<string>): string => {
  const hex = sha1Hex(parts.join("\u0000"))
  const variant = ((parseInt(hex.slice(16, 18), 16) & 0x3f) | 0x80).toString(16)
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(18, 20)}-${hex.slice(20, 32)}`
}

export const newEventId = (): string => randomUUID()
