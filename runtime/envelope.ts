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

/** The envelope's fields as the schema decodes them, or as they stand when already well-formed. */
type EnvelopeHead = typeof EnvelopeFields.Type | typeof EnvelopeFields.Encoded

const DIGITS = /^\d{1,15}$/
/** What `JSON.parse` could not read (no JSON value is this symbol). */
const NOT_JSON: unique symbol = Symbol("not JSON")

/**
 * The hot path's shortcut for `EnvelopeFields`: every field a string and a plain integer
 * version give the very result the schema would; anything else is left to the schema,
 * which also words the error.
 */
const wellFormed = (fields: Fields): fields is typeof EnvelopeFields.Encoded =>
  typeof fields["eventType"] === "string" &&
  typeof fields["eventId"] === "string" &&
  typeof fields["timestamp"] === "string" &&
  typeof fields["source"] === "string" &&
  typeof fields["correlationId"] === "string" &&
  typeof fields["data"] === "string" &&
  typeof fields["version"] === "string" &&
  DIGITS.test(fields["version"])

export interface EnvelopeCodec<A> {
  /**
   * `encodedData`: the payload's JSON when the caller already has it exactly (an operator
   * passing an input through unchanged to a stream of the same schema); it is used as is.
   */
  readonly encode: (envelope: Envelope<A>, encodedData?: string) => Fields
  /** `attempt`: the delivery a consumer is on (1, the default, for an entry read any other way). */
  readonly decode: (fields: Fields, attempt?: number) => Either.Either<Delivered<A>, DecodeError>
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
  const parsed = (raw: string): unknown => {
    try {
      return JSON.parse(raw)
    } catch {
      return NOT_JSON
    }
  }
  const fail = (message: string) => Either.left(new DecodeError({ stream, message }))
  // Payloads are immutable (read-only types), so one decoded as is stays its entry's JSON.
  const asIs = new WeakSet<object>()
  // Runs for every entry a consumer reads: one object, built once.
  const decode = (fields: Fields, attempt = 1): Either.Either<Delivered<A>, DecodeError> => {
    let head: EnvelopeHead
    if (wellFormed(fields)) {
      head = fields
    } else {
      const checked = decodeFields(fields)
      if (Either.isLeft(checked)) return fail(`invalid envelope: ${ParseResult.TreeFormatter.formatErrorSync(checked.left)}`)
      head = checked.right
    }
    let data: unknown = NOT_JSON
    if (identity !== undefined) {
      const json = parsed(head.data)
      if (json !== NOT_JSON && passes(json)) {
        if (typeof json === "object" && json !== null) asIs.add(json)
        data = json
      }
    }
    if (data === NOT_JSON) {
      const checked = decodeData(head.data)
      if (Either.isLeft(checked)) return fail(`invalid ${stream} data: ${ParseResult.TreeFormatter.formatErrorSync(checked.left)}`)
      data = checked.right
    }
    return Either.right({
      eventType: head.eventType,
      eventId: head.eventId,
      timestamp: head.timestamp,
      source: head.source,
      version: Number(head.version),
      correlationId: head.correlationId,
      data: data as A,
      attempt
    })
  }
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
    decode,
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
  // RFC 4122 variant: the top two bits of byte 8 become 10, which leaves its first hex digit one of 8, 9, a, b.
  const variant = "89ab"[parseInt(hex[16]!, 16) & 3]
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`
}

export const newEventId = (): string => randomUUID()
