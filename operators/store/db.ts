/**
 * What every aggregate of the store shares: the client, JSON parameters, batched multi-row
 * statements, row validation and pgvector's text form.
 *
 * Writes are batched: one multi-row statement per batch, split only to stay under the wire
 * protocol's parameter limit, and each returns how many rows were new, so callers can tell
 * a redelivery from fresh input. Rows are checked against their Schema before they cost a
 * round trip: a malformed row is a PermanentError naming the field.
 */
import { Effect, Schema } from "effect"
import pgvector from "pgvector"
import type postgres from "postgres"
import { PermanentError } from "../../runtime/errors.ts"
import { attempt, type SqlError } from "../../runtime/sql.ts"

export const JsonObject = Schema.Record({ key: Schema.String, value: Schema.Unknown })
export const Finite = Schema.Number.pipe(Schema.finite())
export const Instant = Schema.ValidDateFromSelf

/**
 * An embedding: finite numbers. One predicate over the whole array instead of a schema per
 * element: a batch of 100 ideas of 384 dimensions is 38,400 element checks otherwise.
 */
export const Vector = Schema.declare(
  (u: unknown): u is ReadonlyArray<number> => Array.isArray(u) && u.every((x) => typeof x === "number" && Number.isFinite(x)),
  { identifier: "Vector", description: "an array of finite numbers" }
)

/** A vector in pgvector's text form (`[1,2,3]`), as `embedding::text` reads it back. */
export const VectorText = Schema.transform(Schema.String, Vector, {
  strict: true,
  decode: (text) => pgvector.fromSql(text) as Array<number>,
  encode: (values) => pgvector.toSql(values) as string
})

/** A vector parameter, sent untyped: the server parses it as the column's vector type. */
export const vectorToSql = (values: ReadonlyArray<number>): string => pgvector.toSql(values) as string

/** Parameters per statement are capped by the protocol's 16-bit count. */
const MAX_PARAMETERS = 65_534

const chunk = <A>(rows: ReadonlyArray<A>, columns: number): ReadonlyArray<ReadonlyArray<A>> => {
  const size = Math.max(1, Math.floor(MAX_PARAMETERS / columns))
  const chunks: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < rows.length; i += size) chunks.push(rows.slice(i, i + size))
  return chunks
}

/** `ON CONFLICT DO UPDATE` may touch a row once per statement, so a batch keeps the last row per key. */
export const lastPerKey = <A>(rows: ReadonlyArray<A>, key: (row: A) => string): ReadonlyArray<A> =>
  Array.from(new Map(rows.map((row) => [key(row), row])).values())

export const validate = <A, I>(schema: Schema.Schema<A, I>, what: string) => {
  const check = Schema.validate(schema)
  return (value: unknown): Effect.Effect<A, PermanentError> =>
    Effect.mapError(check(value), (error) => new PermanentError({ message: `${what}: ${error.message}`, cause: error }))
}

export const decodeRows = <A, I>(schema: Schema.Schema<A, I>, what: string) => {
  const decode = Schema.decodeUnknown(Schema.Array(schema))
  return (rows: unknown): Effect.Effect<ReadonlyArray<A>, PermanentError> =>
    Effect.mapError(decode(rows), (error) => new PermanentError({ message: `${what}: unexpected row shape: ${error.message}`, cause: error }))
}

export interface Db {
  readonly sql: postgres.Sql
  readonly json: (value: unknown) => postgres.Parameter
  /** Runs one idempotent multi-row statement per chunk and adds up what it reports as new. */
  readonly batched: <A>(
    action: string,
    rows: ReadonlyArray<A>,
    columns: number,
    statement: (chunk: ReadonlyArray<A>) => Promise<number>
  ) => Effect.Effect<number, SqlError>
  /** Counts rows of `returning (xmax = 0) as inserted`: xmax is 0 exactly on rows this statement created. */
  readonly insertedCount: (result: ReadonlyArray<postgres.Row>) => number
}

export const makeDb = (sql: postgres.Sql): Db => ({
  sql,
  json: (value) => sql.json(value as postgres.JSONValue),
  batched: (action, rows, columns, statement) =>
    Effect.reduce(chunk(rows, columns), 0, (total, part) => Effect.map(attempt(action, () => statement(part)), (n) => total + n)),
  insertedCount: (result) => result.filter((r) => r["inserted"] === true).length
})
