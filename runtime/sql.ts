/**
 * The SQL connection: one `postgres` (postgres.js) client, whatever engine sits behind it.
 *
 * Production points `DATABASE_URL` at PostgreSQL + pgvector. The embedded default runs PGlite
 * (Postgres compiled to WASM) in this process with its pgvector extension, and serves it on
 * 127.0.0.1 through pglite-socket, so the app speaks the same wire protocol through the same
 * client to both, and `psql` can look inside the embedded database while the app runs.
 *
 * Also here: the one `classify` for database failures, and the forward-only migration runner.
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { PGlite } from "@electric-sql/pglite"
import { vector } from "@electric-sql/pglite-pgvector"
import { PGLiteSocketServer } from "@electric-sql/pglite-socket"
import type { ConfigError, Scope } from "effect"
import { Config, Context, Effect, Layer, Option, Predicate, Redacted } from "effect"
import postgres from "postgres"
import { describeError, PermanentError, RetryableError } from "./errors.ts"

export type SqlError = RetryableError | PermanentError

// ---------------------------------------------------------------------------------------
// Failure classification

/** SQLSTATEs worth another attempt: the same statement may well succeed later. */
const retryableStates = new Set([
  "40001", // serialization_failure
  "40P01", // deadlock_detected
  "55P03", // lock_not_available
  "57014", // query_canceled (statement timeout, or postgres.js cancelling)
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03" // cannot_connect_now (server starting up)
])
/** Whole SQLSTATE classes that are transient: connection exceptions, insufficient resources. */
const retryableClasses = new Set(["08", "53"])

/** Client-side codes of postgres.js that reject the query itself: no retry can fix it. */
const clientMisuseCodes = new Set([
  "UNDEFINED_VALUE",
  "MAX_PARAMETERS_EXCEEDED",
  "NOT_TAGGED_CALL",
  "UNSAFE_TRANSACTION",
  "MESSAGE_NOT_SUPPORTED",
  "AUTH_TYPE_NOT_IMPLEMENTED",
  "SASL_SIGNATURE_MISMATCH"
])

/**
 * Maps any failure of a database call to the shared vocabulary. A SQLSTATE outside the
 * transient list is permanent (constraint 23xxx, data 22xxx, syntax/undefined object 42xxx,
 * ...): the server understood the statement and refused it, and would refuse it again.
 * Anything else stays retryable, as everywhere in the runtime: that covers the connection
 * failures (postgres.js CONNECTION_CLOSED / CONNECT_TIMEOUT, socket ECONNREFUSED / ECONNRESET).
 */
export const classify = (error: unknown, action: string): SqlError => {
  if (error instanceof RetryableError || error instanceof PermanentError) return error
  const code = Predicate.hasProperty(error, "code") && typeof error.code === "string" ? error.code : undefined
  if (error instanceof postgres.PostgresError) {
    const constraint = error.constraint_name ? `, constraint ${error.constraint_name}` : ""
    const message = `${action}: ${error.message} (SQLSTATE ${error.code}${constraint})`
    return retryableStates.has(error.code) || retryableClasses.has(error.code.slice(0, 2))
      ? new RetryableError({ message, cause: error })
      : new PermanentError({ message, cause: error })
  }
  const message = `${action}: ${describeError(error)}`
  if (code !== undefined && clientMisuseCodes.has(code)) return new PermanentError({ message, cause: error })
  return new RetryableError({ message, cause: error })
}

/** Runs one client call (a query, a `begin` block) with its failure classified. */
export const attempt = <A>(action: string, run: () => PromiseLike<A>): Effect.Effect<A, SqlError> =>
  Effect.tryPromise({ try: async () => run(), catch: (error) => classify(error, action) })

// ---------------------------------------------------------------------------------------
// Service and layers

export type SqlEndpoint =
  | { readonly _tag: "Url" }
  | { readonly _tag: "Embedded"; readonly host: string; readonly port: number; readonly dataDir: string }

export interface SqlService {
  readonly client: postgres.Sql
  /** Where the client is connected; for the embedded engine, also where `psql` can connect. */
  readonly endpoint: SqlEndpoint
}

export interface EmbeddedOptions {
  /** Defaults to `./.data/pg`, resolved against the working directory. One process per directory. */
  readonly dataDir?: string
  /** Port on 127.0.0.1; defaults to `PGLITE_PORT` (5433). 0 picks a free port. */
  readonly port?: number
}

const EMBEDDED_HOST = "127.0.0.1"

/**
 * PGlite is a single Postgres backend. pglite-socket (0.2.x) still accepts several TCP
 * connections when `maxConnections` > 1 (its default is 1: a second client is turned away
 * with "Too many connections"): it multiplexes them onto that one backend through a global
 * queue of protocol messages, and while the backend is inside an explicit transaction it only
 * runs messages of the connection that opened it. We allow a few connections so `psql` and
 * other tools can read while the app is connected, and give the app's own client exactly one,
 * because a second one would add no parallelism. The trade-offs, inherent to the package:
 * - all connections share ONE session: a `SET`, a temp table or a prepared statement made on
 *   one is visible to the others (a `SET DateStyle` in psql changes the text the app's client
 *   parses), while startup parameters are ignored (the session stays UTF8);
 * - a client idling inside `BEGIN` stalls every other client until it commits or disconnects
 *   (a disconnect rolls it back);
 * - the queue interleaves at message, not Sync, boundaries, so outside a transaction another
 *   client's query could in principle land between the Bind and Execute of an app query and
 *   replace its unnamed portal. We did not observe it (thousands of psql queries against a
 *   busy app client, no error), since one client's pipelined messages normally run without
 *   yielding to the event loop in between; it is a reason to keep outside clients read-only
 *   and occasional.
 * - no TLS: `psql` must use `PGSSLMODE=disable` or fall back to plain TCP (the server declines
 *   SSLRequest, so libpq's default `prefer` works).
 */
const EMBEDDED_MAX_CONNECTIONS = 8

/** postgres.js prints NOTICEs (e.g. "extension already exists, skipping") to stdout; stdout belongs to the CLI and benchmarks. */
const quietNotices = { onnotice: () => {} } as const

const connectUrl = (url: Redacted.Redacted<string>): Effect.Effect<SqlService, SqlError, Scope.Scope> =>
  Effect.gen(function* () {
    const client = yield* Effect.acquireRelease(
      Effect.try({
        try: () => postgres(Redacted.value(url), { ...quietNotices, connection: { application_name: "desainz" } }),
        // No cause: the thrown text can quote the URL, password included.
        catch: () => new PermanentError({ message: "DATABASE_URL is not a valid connection string" })
      }),
      (client) => Effect.promise(() => client.end({ timeout: 5 }))
    )
    // postgres.js connects lazily; probing here turns a wrong URL into a start-up failure.
    yield* attempt("connect to PostgreSQL", () => client`select 1`)
    yield* Effect.logInfo("store: PostgreSQL at DATABASE_URL")
    return { client, endpoint: { _tag: "Url" } } satisfies SqlService
  })

const PgliteFromEnv = {
  dataDir: Config.string("PGLITE_DIR").pipe(Config.withDefault("./.data/pg")),
  port: Config.integer("PGLITE_PORT").pipe(
    Config.withDefault(5433),
    Config.validate({ message: "PGLITE_PORT must be 0 (any free port) or 1..65535", validation: (p) => p >= 0 && p <= 65535 })
  )
}

const startEmbedded = (
  options: EmbeddedOptions
): Effect.Effect<SqlService, SqlError | ConfigError.ConfigError, Scope.Scope> =>
  Effect.gen(function* () {
    const dataDir = path.resolve(options.dataDir ?? "./.data/pg")
    const port = options.port ?? (yield* PgliteFromEnv.port)
    yield* attempt(`create ${dataDir}`, () => fs.mkdir(dataDir, { recursive: true }))
    const db = yield* Effect.acquireRelease(
      attempt(`open PGlite in ${dataDir}`, () => PGlite.create({ dataDir, extensions: { vector } })),
      (db) => Effect.promise(() => db.close())
    )
    const server = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          const server = new PGLiteSocketServer({ db, host: EMBEDDED_HOST, port, maxConnections: EMBEDDED_MAX_CONNECTIONS })
          await server.start()
          return server
        },
        catch: (error) =>
          Predicate.hasProperty(error, "code") && error.code === "EADDRINUSE"
            ? new PermanentError({ message: `port ${port} on ${EMBEDDED_HOST} is in use; set PGLITE_PORT (0 = any free port)`, cause: error })
            : classify(error, "start the PGlite socket server")
      }),
      (server) => Effect.promise(() => server.stop())
    )
    // With port 0 the OS picked one; the server reports it as "host:port".
    const conn = server.getServerConn()
    const boundPort = Number(conn.slice(conn.lastIndexOf(":") + 1))
    const client = yield* Effect.acquireRelease(
      Effect.sync(() =>
        postgres({
          ...quietNotices,
          host: EMBEDDED_HOST,
          port: boundPort,
          // PGlite's built-in role and database; it trusts every local connection.
          user: "postgres",
          database: "postgres",
          ssl: false,
          max: 1
        })
      ),
      (client) => Effect.promise(() => client.end({ timeout: 5 }))
    )
    yield* attempt("connect to PGlite", () => client`select 1`)
    yield* Effect.logInfo(`store: embedded PGlite in ${dataDir}, psql -h ${EMBEDDED_HOST} -p ${boundPort} -U postgres`)
    return { client, endpoint: { _tag: "Embedded", host: EMBEDDED_HOST, port: boundPort, dataDir } } satisfies SqlService
  })

export class Sql extends Context.Tag("desainz/Sql")<Sql, SqlService>() {
  /** A real PostgreSQL (with pgvector installed). The client is closed when the scope ends. */
  static readonly layerUrl = (url: Redacted.Redacted<string>): Layer.Layer<Sql, SqlError> =>
    Layer.scoped(Sql, connectUrl(url))

  /** PGlite + pgvector in this process, served on 127.0.0.1; client, server and database close in that order. */
  static readonly layerEmbedded = (options: EmbeddedOptions = {}): Layer.Layer<Sql, SqlError | ConfigError.ConfigError> =>
    Layer.scoped(Sql, startEmbedded(options))

  /** `DATABASE_URL` set (non-blank) selects PostgreSQL; otherwise PGlite in `PGLITE_DIR`. */
  static readonly layerConfig: Layer.Layer<Sql, SqlError | ConfigError.ConfigError> = Layer.unwrapEffect(
    Effect.gen(function* () {
      const url = Option.filter(yield* Config.option(Config.redacted("DATABASE_URL")), (u) => Redacted.value(u).trim() !== "")
      if (Option.isSome(url)) return Sql.layerUrl(url.value)
      return Sql.layerEmbedded({ dataDir: yield* PgliteFromEnv.dataDir })
    })
  )
}

// ---------------------------------------------------------------------------------------
// Migrations

/** The largest dimension pgvector can index with HNSW. */
const MAX_INDEXED_DIM = 2000

export const EmbeddingDim = Config.integer("EMBEDDING_DIM").pipe(
  Config.withDefault(384),
  Config.validate({
    message: `EMBEDDING_DIM must be an integer in 1..${MAX_INDEXED_DIM} (pgvector's HNSW limit)`,
    validation: (n) => n >= 1 && n <= MAX_INDEXED_DIM
  })
)

export interface MigrateOptions {
  /** Folder of `NNNN_name.sql` files; defaults to the project's `sql/`. */
  readonly dir?: string
  /** Substituted for `{{EMBEDDING_DIM}}`; defaults to `EMBEDDING_DIM` (384). */
  readonly embeddingDim?: number
}

export interface Migration {
  readonly version: number
  readonly name: string
  /** sha256 of the SQL as run, i.e. after substitution. */
  readonly checksum: string
}

const MIGRATION_FILE = /^(\d{4})_([a-z0-9_]+)\.sql$/
const defaultMigrationsDir = fileURLToPath(new URL("../sql/", import.meta.url))

interface MigrationFile extends Migration {
  readonly file: string
  readonly text: string
}

const readMigrations = (dir: string, embeddingDim: number): Effect.Effect<ReadonlyArray<MigrationFile>, PermanentError> =>
  Effect.gen(function* () {
    const names = yield* Effect.tryPromise({
      try: () => fs.readdir(dir),
      catch: (error) => new PermanentError({ message: `cannot read migrations folder ${dir}: ${describeError(error)}`, cause: error })
    })
    const files: Array<MigrationFile> = []
    for (const file of names.filter((n) => n.endsWith(".sql")).sort()) {
      const match = MIGRATION_FILE.exec(file)
      if (match === null) {
        // A misnamed file would otherwise be skipped silently, and its schema change with it.
        return yield* new PermanentError({ message: `migration ${file}: name must look like 0001_name.sql` })
      }
      const version = Number(match[1])
      if (files.some((f) => f.version === version)) {
        return yield* new PermanentError({ message: `migration ${file}: version ${match[1]} is used twice` })
      }
      const source = yield* Effect.tryPromise({
        try: () => fs.readFile(path.join(dir, file), "utf8"),
        catch: (error) => new PermanentError({ message: `migration ${file}: ${describeError(error)}`, cause: error })
      })
      const text = source.replaceAll("{{EMBEDDING_DIM}}", String(embeddingDim))
      const unknown = /\{\{\s*([A-Za-z0-9_]*)\s*\}\}/.exec(text)
      if (unknown !== null) {
        return yield* new PermanentError({ message: `migration ${file}: unknown placeholder {{${unknown[1]}}}` })
      }
      const checksum = createHash("sha256").update(text).digest("hex")
      files.push({ version, name: match[2] ?? "", checksum, file, text })
    }
    return files
  })

const changedMessage = (file: string): string =>
  `migration ${file} was changed after it was applied (checksum differs; EMBEDDING_DIM is part of it). ` +
  "Migrations are forward-only: restore the file and add a new one."

/** Serialises concurrent runners (several replicas starting at once) without holding a session lock. */
const MIGRATION_LOCK = "desainz.schema_migrations"

/**
 * Applies pending `sql/NNNN_name.sql` files in version order, each in its own transaction
 * together with its `schema_migrations` row, and returns the ones it applied. Refuses to run
 * when an applied file changed, or when the database has a version this build lacks.
 */
export const migrate = (
  options: MigrateOptions = {}
): Effect.Effect<ReadonlyArray<Migration>, SqlError | ConfigError.ConfigError, Sql> =>
  Effect.gen(function* () {
    const { client } = yield* Sql
    const embeddingDim = options.embeddingDim ?? (yield* EmbeddingDim)
    if (!Number.isInteger(embeddingDim) || embeddingDim < 1 || embeddingDim > MAX_INDEXED_DIM) {
      return yield* new PermanentError({ message: `embedding dimension ${embeddingDim} is not an integer in 1..${MAX_INDEXED_DIM}` })
    }
    const files = yield* readMigrations(options.dir ?? defaultMigrationsDir, embeddingDim)

    yield* attempt(
      "create schema_migrations",
      () => client`
        create table if not exists schema_migrations (
          version     integer primary key,
          name        text not null,
          checksum    text not null,
          applied_at  timestamptz not null default now()
        )`
    )
    const applied = yield* attempt(
      "read schema_migrations",
      () => client<Array<{ version: number; checksum: string }>>`select version, checksum from schema_migrations`
    )
    for (const row of applied) {
      const file = files.find((f) => f.version === row.version)
      if (file === undefined) {
        return yield* new PermanentError({
          message: `the database has migration ${String(row.version).padStart(4, "0")} applied, which this build does not have`
        })
      }
      if (file.checksum !== row.checksum) return yield* new PermanentError({ message: changedMessage(file.file) })
    }

    const done: Array<Migration> = []
    for (const file of files.filter((f) => !applied.some((row) => row.version === f.version))) {
      const ran = yield* attempt(`apply migration ${file.file}`, () =>
        client.begin(async (tx) => {
          await tx`select pg_advisory_xact_lock(hashtext(${MIGRATION_LOCK}))`
          // Another runner may have applied it while we waited for the lock.
          const [existing] = await tx<Array<{ checksum: string }>>`
            select checksum from schema_migrations where version = ${file.version}`
          if (existing !== undefined) {
            if (existing.checksum !== file.checksum) throw new PermanentError({ message: changedMessage(file.file) })
            return false
          }
          await tx.unsafe(file.text)
          await tx`
            insert into schema_migrations (version, name, checksum)
            values (${file.version}, ${file.name}, ${file.checksum})`
          return true
        })
      )
      if (ran) {
        yield* Effect.logInfo(`migration ${file.file} applied`)
        done.push({ version: file.version, name: file.name, checksum: file.checksum })
      }
    }
    return done
  })
