/**
 * The codec's shortcut must never say "as is" where the schema would say otherwise: for
 * any value it accepts, decoding with the schema succeeds and gives the same JSON.
 * Checked with generated valid values (the shortcut should take nearly all of them) and
 * with generated near-misses and junk (where it must defer to the schema).
 */
import { Arbitrary, Either, FastCheck as fc, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { makeEnvelopeCodec } from "../runtime/envelope.ts"
import { compileIdentityCheck } from "../runtime/identityCheck.ts"
import { Artwork, FeedbackEvent, GenerationRequest, Idea, Listing, MockupSet, Signal } from "../operators/schemas.ts"

const streamSchemas = { Signal, Idea, GenerationRequest, Artwork, MockupSet, Listing, FeedbackEvent } as const

/** Schemas chosen for their edges: optional keys, records, tuples, refinements, literal unions. */
const edgeSchemas = {
  optional: Schema.Struct({ a: Schema.String, b: Schema.optional(Schema.Number), c: Schema.optionalWith(Schema.Boolean, { exact: true }) }),
  record: Schema.Record({ key: Schema.String, value: Schema.Array(Schema.Int) }),
  tuple: Schema.Tuple(Schema.String, Schema.optionalElement(Schema.Number)),
  nonEmpty: Schema.NonEmptyArray(Schema.NonEmptyTrimmedString),
  literals: Schema.Struct({ kind: Schema.Literal("a", "b", 3), n: Schema.Union(Schema.Number, Schema.Null) }),
  refined: Schema.Struct({ low: Schema.Number, high: Schema.Number }).pipe(Schema.filter((r) => r.low <= r.high)),
  nested: Schema.Struct({ inner: Schema.Struct({ tags: Schema.Array(Schema.String).pipe(Schema.maxItems(3)) }) })
} as const

const schemas: Record<string, Schema.Schema<any, any>> = { ...streamSchemas, ...edgeSchemas }

/** What a value is as JSON: the shortcut promises the same JSON as the schema's result. */
const asJson = (value: unknown): unknown => JSON.parse(JSON.stringify(value) ?? "null")

/** A value with one thing changed: a key dropped, a key added, a leaf replaced. */
const perturbed = (value: unknown): fc.Arbitrary<unknown> =>
  fc.tuple(fc.nat(), fc.oneof(fc.constant("drop"), fc.constant("add"), fc.constant("replace")), fc.anything()).map(([n, how, junk]) => {
    const copy = structuredClone(value)
    const holders: Array<Record<string, unknown> | Array<unknown>> = []
    const walk = (v: unknown) => {
      if (typeof v === "object" && v !== null) {
        holders.push(v as Record<string, unknown>)
        for (const child of Object.values(v)) walk(child)
      }
    }
    walk(copy)
    if (holders.length === 0) return junk
    const holder = holders[n % holders.length]! as Record<string, unknown>
    const keys = Object.keys(holder)
    const key = keys.length === 0 ? "extra" : keys[n % keys.length]!
    if (how === "drop") delete holder[key]
    else if (how === "add") holder[`extra${n}`] = junk
    else holder[key] = junk
    return copy
  })

describe("identity check", () => {
  it("compiles every stream schema of the topology", () => {
    for (const [name, schema] of Object.entries(streamSchemas)) expect(compileIdentityCheck(schema as Schema.Schema<unknown>), name).toBeDefined()
  })

  it("declines schemas it cannot judge exactly", () => {
    expect(compileIdentityCheck(Schema.Struct({ at: Schema.Date }))).toBeUndefined()
    expect(compileIdentityCheck(Schema.NumberFromString)).toBeUndefined()
    // The schema would pick the first member that fits and strip the rest of the keys.
    expect(compileIdentityCheck(Schema.Union(Schema.Struct({ a: Schema.String }), Schema.Struct({ a: Schema.String, b: Schema.String })))).toBeUndefined()
  })

  for (const [name, schema] of Object.entries(schemas) as Array<[string, Schema.Schema<unknown, unknown>]>) {
    const check = compileIdentityCheck(schema)!
    const decode = Schema.decodeUnknownEither(schema)
    const valid = Arbitrary.make(schema).map((v) => JSON.parse(JSON.stringify(v)) as unknown)

    it(`${name}: takes valid values as they are`, () => {
      let taken = 0
      fc.assert(
        fc.property(valid, (value) => {
          const decoded = decode(value)
          if (Either.isLeft(decoded)) return // JSON lost something the schema needs (e.g. -0, undefined)
          if (check(value)) taken++
          expect(check(value) ? decoded.right : value).toEqual(value)
        }),
        { numRuns: 300 }
      )
      expect(taken).toBeGreaterThan(250)
    })

    it(`${name}: never accepts what the schema rejects or changes`, () => {
      fc.assert(
        fc.property(fc.oneof(valid.chain(perturbed), fc.anything()), (value) => {
          if (!check(value)) return
          const decoded = decode(value)
          expect(Either.isRight(decoded)).toBe(true)
          expect(asJson(Either.getOrThrow(decoded))).toEqual(asJson(value))
        }),
        { numRuns: 1_000 }
      )
    })
  }

  it("the codec gives the schema's result and the schema's errors either way", () => {
    const codec = makeEnvelopeCodec("s", edgeSchemas.optional)
    const head = { eventType: "s", eventId: "e", timestamp: "2026-01-01T00:00:00Z", source: "t", version: "1", correlationId: "e" }
    const ok = codec.decode({ ...head, data: '{"a":"x","b":1}' })
    expect(Either.getOrThrow(ok).data).toEqual({ a: "x", b: 1 })
    // Excess keys are not taken as they are: the schema strips them.
    expect(Either.getOrThrow(codec.decode({ ...head, data: '{"a":"x","z":1}' })).data).toEqual({ a: "x" })
    const bad = codec.decode({ ...head, data: '{"b":"one"}' })
    expect(Either.isLeft(bad) && bad.left.message).toMatch(/\["a"\][\s\S]*is missing/)
    expect(Either.isLeft(codec.decode({ ...head, data: "{not json" }))).toBe(true)
    expect(codec.encode({ ...head, version: 1, data: { a: "x", b: 2 } }).data).toBe('{"a":"x","b":2}')
    expect(() => codec.encode({ ...head, version: 1, data: { a: 1 } as never })).toThrow(/Expected string/)
    // What was decoded as JSON.parse made it is known as such; given its JSON, encode uses it as is.
    expect(codec.decodedAsIs(Either.getOrThrow(ok).data)).toBe(true)
    expect(codec.decodedAsIs(Either.getOrThrow(codec.decode({ ...head, data: '{"a":"x","z":1}' })).data)).toBe(false)
    expect(codec.decodedAsIs({ a: "x" })).toBe(false)
    expect(codec.encode({ ...head, version: 1, data: { a: "x" } }, '{ "a": "x" }').data).toBe('{ "a": "x" }')
  })
})
