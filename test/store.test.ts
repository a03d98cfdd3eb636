import { createHash, randomUUID } from "node:crypto"
import { execFile } from "node:child_process"
import { existsSync } from "node:fs"
import * as fs from "node:fs/promises"
import { createServer } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import { describe, expect, layer } from "@effect/vitest"
import { ConfigProvider, Context, Effect, Layer } from "effect"
import postgres from "postgres"
import { isRetryable, PermanentError, RetryableError } from "../runtime/errors.ts"
import { attempt, migrate, Sql } from "../runtime/sql.ts"
import { vectorToSql } from "../operators/store/db.ts"
import { type IdeaRow } from "../operators/store/ideas.ts"
import { type ListingRow } from "../operators/store/listings.ts"
import { type SignalRow } from "../operators/store/signals.ts"
import { Store } from "../operators/store/store.ts"
import { DEFAULT_WEIGHTS } from "../operators/store/weights.ts"

const PSQL = "/usr/bin/psql"
const SQL_DIR = path.join(import.meta.dirname, "..", "sql")
const DIM = 384

/** A fresh directory per layer, removed after the database in it has closed. */
const tempDir = (prefix: string) =>
  Effect.acquireRelease(
    Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), prefix))),
    (dir) => Effect.promise(() => fs.rm(dir, { recursive: true, force: true }))
  )

const embedded = (prefix: string) =>
  Layer.unwrapScoped(Effect.map(tempDir(prefix), (dir) => Sql.layerEmbedded({ dataDir: path.join(dir, "pg"), port: 0 })))

/** A copy of the project's migrations that a test may edit. */
const migrationsCopy = Effect.gen(function* () {
  const dir = yield* tempDir("desainz-migrations-")
  yield* Effect.promise(() => fs.cp(SQL_DIR, dir, { recursive: true }))
  return dir
})

/** As the normalizer derives it: the first half of a SHA-256. */
const contentHash = (text: string) => createHash("sha256").update(text).digest("hex").slice(0, 32)

const signal = (content: string, source = "reddit"): SignalRow => ({
  id: randomUUID(),
  content,
  source,
  capturedAt: new Date("2024-03-01T12:00:00Z"),
  metadata: { subreddit: "technology", score: 1234, nested: { quote: 'a "b"' } },
  contentHash: contentHash(content)
})

/** Unit-ish vectors with dyadic entries, exact in float32, so they round-trip bit for bit. */
const embedding = (hot: number, wobble = 0): Array<number> =>
  Array.from({ length: DIM }, (_, i) => (i === hot ? 1 : i === (hot + 1) % DIM ? wobble : 0))

const idea = (signalId: string, hot: number, score = 0.5): IdeaRow => ({
  id: randomUUID(),
  signalId,
  title: `idea ${hot}`,
  description: "a design",
  embedding: embedding(hot),
  score,
  factors: { freshness: 0.75, engagement: 0.25 },
  weightsVersion: 1
})

const listing = (ideaId: string, overrides: Partial<ListingRow> = {}): ListingRow => ({
  id: randomUUID(),
  ideaId,
  marketplace: "etsy",
  externalId: null,
  url: null,
  title: "Funny shirt",
  description: "A shirt",
  tags: ["funny", "shirt, with comma"],
  status: "draft",
  performance: {},
  publishedAt: null,
  ...overrides
})

const withEnv = (env: Record<string, string>) => Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
const withEmbeddingDim = (value: string) => withEnv({ EMBEDDING_DIM: value })

describe("migrations", () => {
  layer(embedded("desainz-migrate-"), { timeout: "120 seconds" })((it) => {
    it.effect(
      "apply once in order, then nothing on a second run",
      () =>
        Effect.gen(function* () {
          const { client } = yield* Sql
          const files = (yield* Effect.promise(() => fs.readdir(SQL_DIR))).filter((f) => f.endsWith(".sql")).sort()
          const first = yield* migrate()
          expect(first.map((m) => `${String(m.version).padStart(4, "0")}_${m.name}.sql`)).toEqual(files)
          expect(first[0]).toMatchObject({ version: 1, name: "init" })
          expect(yield* migrate()).toEqual([])

          const recorded = yield* attempt("read", () => client`select version, name, checksum from schema_migrations order by version`)
          expect(recorded.map((r) => ({ ...r }))).toEqual(first.map(({ version, name, checksum }) => ({ version, name, checksum })))
          const [column] = yield* attempt(
            "read",
            () => client`select format_type(atttypid, atttypmod) as type from pg_attribute
                         where attrelid = 'ideas'::regclass and attname = 'embedding'`
          )
          expect(column?.["type"]).toBe(`vector(${DIM})`)
          // The HNSW index belongs to the pgvector vector-index layer (0008 drops it; the layer creates it at start).
          const hnsw = () => attempt("read", () => client`select indexdef from pg_indexes where indexname = 'ideas_embedding_hnsw_idx'`)
          expect(yield* hnsw()).toHaveLength(0)
          yield* attempt("create", () => client`create index if not exists ideas_embedding_hnsw_idx on ideas using hnsw (embedding vector_cosine_ops)`)
          const [index] = yield* hnsw()
          expect(index?.["indexdef"]).toContain("USING hnsw (embedding vector_cosine_ops)")
        }),
      60_000
    )

    it.scoped(
      "refuse an applied file whose contents or embedding dimension changed, naming the file",
      () =>
        Effect.gen(function* () {
          yield* migrate()
          const dir = yield* migrationsCopy
          yield* Effect.promise(() => fs.appendFile(path.join(dir, "0001_init.sql"), "\n-- an edit after the fact\n"))
          const edited = yield* Effect.flip(migrate({ dir }))
          expect(edited).toBeInstanceOf(PermanentError)
          expect(edited.message).toContain("0001_init.sql")
          expect(edited.message).toContain("changed")

          const otherDim = yield* Effect.flip(migrate({ embeddingDim: 768 }))
          expect(otherDim).toBeInstanceOf(PermanentError)
          expect(otherDim.message).toContain("0001_init.sql")
        }),
      30_000
    )

    it.scoped(
      "apply a later file after the earlier ones; a failing file rolls back entirely and is not recorded",
      () =>
        Effect.gen(function* () {
          const { client } = yield* Sql
          yield* migrate()
          const dir = yield* migrationsCopy
          const latest = Math.max(...(yield* Effect.promise(() => fs.readdir(dir))).map((f) => Number(f.slice(0, 4))))
          const next = String(latest + 1).padStart(4, "0")
          yield* Effect.promise(() =>
            fs.writeFile(path.join(dir, `${next}_broken.sql`), "create table half_done (id int);\nselect * from no_such_table;\n")
          )
          const broken = yield* Effect.flip(migrate({ dir }))
          expect(broken).toBeInstanceOf(PermanentError)
          expect(broken.message).toContain(`${next}_broken.sql`)
          expect(broken.message).toContain("42P01")
          const [leftover] = yield* attempt("read", () => client`select to_regclass('half_done') as t`)
          expect(leftover?.["t"]).toBeNull()

          yield* Effect.promise(() => fs.rm(path.join(dir, `${next}_broken.sql`)))
          yield* Effect.promise(() => fs.writeFile(path.join(dir, `${next}_extra.sql`), "create table extra (id int);\n"))
          expect((yield* migrate({ dir })).map((m) => m.version)).toEqual([latest + 1])
          expect(yield* migrate({ dir })).toEqual([])
          // The project's own folder lacks that file: forward-only means refusing to run behind the database.
          const behind = yield* Effect.flip(migrate())
          expect(behind.message).toContain(next)
        }),
      30_000
    )

    it.effect("reject an embedding dimension outside 1..2000 before touching the database", () =>
      Effect.gen(function* () {
        expect(String(yield* Effect.flip(migrate().pipe(withEmbeddingDim("5000"))))).toContain("1..2000")
        expect(String(yield* Effect.flip(migrate().pipe(withEmbeddingDim("12.5"))))).toContain("EMBEDDING_DIM")
        expect(yield* Effect.flip(migrate({ embeddingDim: 0 }))).toBeInstanceOf(PermanentError)
      })
    )
  })
})

const StoreLayer = Layer.provideMerge(Store.layer, embedded("desainz-store-"))

describe("Store on embedded PGlite", () => {
  layer(StoreLayer, { timeout: "120 seconds" })((it) => {
    it.effect(
      "upserting the same signals twice inserts nothing the second time",
      () =>
        Effect.gen(function* () {
          yield* migrate()
          const store = yield* Store
          const before = (yield* store.counts()).signals
          const batch = Array.from({ length: 50 }, (_, i) => signal(`signal ${i} ${randomUUID()}`))
          expect(yield* store.upsertSignals(batch)).toBe(50)
          expect(yield* store.upsertSignals(batch)).toBe(0)
          // Same content under a new event id (another source saw it): deduplicated by hash.
          const first = batch[0]!
          expect(yield* store.upsertSignals([{ ...signal(first.content, "youtube") }])).toBe(0)
          // Duplicates inside one batch count once.
          const fresh = signal(`fresh ${randomUUID()}`)
          expect(yield* store.upsertSignals([fresh, fresh, { ...fresh, id: randomUUID() }])).toBe(1)
          expect((yield* store.counts()).signals).toBe(before + 51)
          expect(yield* store.upsertSignals([])).toBe(0)
        }),
      30_000
    )

    it.effect("refuse a malformed row before any round trip, naming the field", () =>
      Effect.gen(function* () {
        const store = yield* Store
        const error = yield* Effect.flip(store.upsertSignals([{ ...signal("x"), contentHash: "not-a-hash" }]))
        expect(error).toBeInstanceOf(PermanentError)
        expect(error.message).toContain("contentHash")
      })
    )

    it.effect(
      "round-trip vectors and find nearest neighbours through the HNSW index",
      () =>
        Effect.gen(function* () {
          yield* migrate()
          const store = yield* Store
          const { client } = yield* Sql
          const s = signal(`vectors ${randomUUID()}`)
          yield* store.upsertSignals([s])
          const ideas = [10, 20, 30, 40].map((hot, i) => idea(s.id, hot, 0.9 - i / 10))
          expect(yield* store.upsertIdeas(ideas)).toBe(4)
          expect(yield* store.upsertIdeas(ideas)).toBe(0)

          const listed = yield* store.listIdeas({ status: "queued", limit: 1000 })
          const stored = listed.find((i) => i.id === ideas[2]!.id)
          expect(stored?.embedding).toEqual(embedding(30))
          expect(stored).toMatchObject({ status: "queued", reviewStatus: "pending", weightsVersion: 1, factors: ideas[2]!.factors })

          // 30 with a little of 31 is nearest to idea 30, then the others by distance (all orthogonal: ties).
          const query = vectorToSql(embedding(30, 0.25))
          const nearest = yield* attempt(
            "nearest",
            () => client`select id from ideas where signal_id = ${s.id} order by embedding <=> ${query} limit 2`
          )
          expect(nearest[0]?.["id"]).toBe(ideas[2]!.id)
          expect(nearest).toHaveLength(2)
          // The planner can use the HNSW index for that query (forced, since the table is tiny).
          yield* store.ensureEmbeddingIndex()
          const plan = yield* attempt("explain", () =>
            client.begin(async (tx) => {
              await tx`set local enable_seqscan = off`
              return tx`explain select id from ideas order by embedding <=> ${query} limit 2`
            })
          )
          expect(plan.map((r) => String(r["QUERY PLAN"])).join("\n")).toContain("ideas_embedding_hnsw_idx")

          // A rescore updates in place: nothing new, the new score is visible.
          expect(yield* store.upsertIdeas([{ ...ideas[0]!, score: 0.99, weightsVersion: 2 }])).toBe(0)
          const rescored = (yield* store.listIdeas({ limit: 1000 })).find((i) => i.id === ideas[0]!.id)
          expect(rescored).toMatchObject({ score: 0.99, weightsVersion: 2 })

          // The event time the scorer gives is kept by a later upsert that has none.
          const eventAt = new Date("2026-11-20T10:00:00Z")
          expect(yield* store.upsertIdeas([{ ...ideas[1]!, eventAt }])).toBe(0)
          expect(yield* store.upsertIdeas([{ ...ideas[1]!, score: 0.42 }])).toBe(0)
          const [row] = yield* attempt("read event_at", () => client`select event_at, score from ideas where id = ${ideas[1]!.id}`)
          expect(new Date(row!["event_at"]).toISOString()).toBe(eventAt.toISOString())
          expect(row!["score"]).toBeCloseTo(0.42)
        }),
      30_000
    )

    it.effect(
      "psql reads the embedded database while the app's client is connected",
      () =>
        Effect.gen(function* () {
          yield* migrate()
          const store = yield* Store
          const { endpoint } = yield* Sql
          if (endpoint._tag !== "Embedded") throw new Error("expected the embedded endpoint")
          yield* store.upsertSignals([signal(`psql ${randomUUID()}`)])
          const expected = (yield* store.counts()).signals
          // The app's pooled connection is open now; psql gets its own alongside it (libpq's default sslmode=prefer).
          const { stdout } = yield* Effect.promise(() =>
            promisify(execFile)(
              PSQL,
              ["-h", endpoint.host, "-p", String(endpoint.port), "-U", "postgres", "-d", "postgres", "-Atc", "select count(*) from signals"],
              { env: { PATH: process.env["PATH"] ?? "", PGCONNECT_TIMEOUT: "10" }, timeout: 20_000 }
            )
          )
          expect(stdout.trim()).toBe(String(expected))
          // And the app's client keeps working afterwards.
          expect(yield* store.upsertSignals([signal(`after psql ${randomUUID()}`)])).toBe(1)
        }),
      { timeout: 30_000, skip: !existsSync(PSQL) }
    )

    it.scoped("layerConfig: DATABASE_URL selects PostgreSQL, reached by the same client code", () =>
      Effect.gen(function* () {
        yield* migrate()
        const store = yield* Store
        const { endpoint } = yield* Sql
        if (endpoint._tag !== "Embedded") throw new Error("expected the embedded endpoint")
        // The embedded server is a PostgreSQL as far as a URL is concerned.
        const url = `postgres://postgres@${endpoint.host}:${endpoint.port}/postgres`
        const viaUrl = Context.get(yield* Layer.build(Sql.layerConfig).pipe(withEnv({ DATABASE_URL: url })), Sql)
        expect(viaUrl.endpoint._tag).toBe("Url")
        const [row] = yield* attempt("count", () => viaUrl.client`select count(*)::int as n from signals`)
        expect(row?.["n"]).toBe((yield* store.counts()).signals)

        const refused = yield* Effect.flip(
          Layer.build(Sql.layerConfig).pipe(withEnv({ DATABASE_URL: "postgres://app:hunter2@127.0.0.1:1/db" }))
        )
        expect(refused).toBeInstanceOf(RetryableError)
        expect(refused.message).not.toContain("hunter2")
      })
    )

    it.effect("a constraint violation is a PermanentError; transient SQLSTATEs and lost connections are retryable", () =>
      Effect.gen(function* () {
        yield* migrate()
        const store = yield* Store
        const { client } = yield* Sql
        const orphan = yield* Effect.flip(store.upsertIdeas([idea(randomUUID(), 1)]))
        expect(orphan).toBeInstanceOf(PermanentError)
        expect(orphan.message).toContain("23503")
        expect(orphan.message).toContain("ideas_signal_id_fkey")

        const raise = (sqlstate: string) =>
          Effect.flip(attempt(sqlstate, () => client.unsafe(`do $$ begin raise exception 'boom' using errcode = '${sqlstate}'; end $$`)))
        for (const sqlstate of ["40001", "40P01", "57P01", "08006", "53300"]) {
          expect(yield* raise(sqlstate), sqlstate).toBeInstanceOf(RetryableError)
        }
        for (const sqlstate of ["22P02", "23505", "42P01"]) {
          expect(yield* raise(sqlstate), sqlstate).toBeInstanceOf(PermanentError)
        }
        expect(yield* Effect.flip(attempt("bad uuid", () => client`select ${"nope"}::uuid`))).toBeInstanceOf(PermanentError)

        // Nothing listens on a port we just released: connection refused.
        const closedPort = yield* Effect.promise(
          () =>
            new Promise<number>((resolve) => {
              const server = createServer()
              server.listen(0, "127.0.0.1", () => {
                const address = server.address()
                server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
              })
            })
        )
        const unreachable = postgres({ host: "127.0.0.1", port: closedPort, connect_timeout: 2, max: 1 })
        const refused = yield* Effect.flip(attempt("connect", () => unreachable`select 1`))
        yield* Effect.promise(() => unreachable.end({ timeout: 0 }))
        expect(refused).toBeInstanceOf(RetryableError)
        expect(isRetryable(refused)).toBe(true)
      })
    )

    it.effect("mock-ups and feedback are idempotent by id and natural key", () =>
      Effect.gen(function* () {
        yield* migrate()
        const store = yield* Store
        const s = signal(`mockups ${randomUUID()}`)
        yield* store.upsertSignals([s])
        const i = idea(s.id, 5)
        yield* store.upsertIdeas([i])
        const front = { id: randomUUID(), ideaId: i.id, blobUri: "file:///m/front.png", variant: "front" as const, colorway: "", generationParams: { seed: "s1" } }
        const navy = { ...front, id: randomUUID(), variant: "colorway" as const, colorway: "navy" }
        expect(yield* store.upsertMockups([front, navy])).toBe(2)
        // A regenerated front under a new event id is the same mock-up.
        expect(yield* store.upsertMockups([{ ...front, id: randomUUID() }, navy])).toBe(0)
        // Re-rendered from another pick: the row describes the image now under its key, and keeps its id.
        expect(yield* store.upsertMockups([{ ...front, id: randomUUID(), generationParams: { seed: "s2" } }])).toBe(1)
        const { client } = yield* Sql
        const rows = yield* attempt("read mock-ups", () => client`select id, generation_params from mockups where idea_id = ${i.id} and variant = 'front'`)
        expect(rows).toEqual([{ id: front.id, generation_params: { seed: "s2" } }])

        const l = listing(i.id)
        expect(yield* store.upsertListings([l])).toBe(1)
        const click = { id: randomUUID(), listingId: l.id, kind: "click" as const, value: 1, occurredAt: new Date(), payload: {} }
        expect(yield* store.insertFeedback([click, { ...click, id: randomUUID(), kind: "view" }])).toBe(2)
        expect(yield* store.insertFeedback([click])).toBe(0)
      })
    )

    it.effect("a listing moves forward only: a redelivered draft cannot undo a publish", () =>
      Effect.gen(function* () {
        yield* migrate()
        const store = yield* Store
        const { client } = yield* Sql
        const s = signal(`listing ${randomUUID()}`)
        yield* store.upsertSignals([s])
        const i = idea(s.id, 7)
        yield* store.upsertIdeas([i])
        const draft = listing(i.id, { performance: { views: 3 } })
        expect(yield* store.upsertListings([draft])).toBe(1)
        const publishedAt = new Date("2024-03-02T00:00:00Z")
        const published = { ...draft, status: "published" as const, externalId: "123", url: "https://etsy.example/123", performance: {}, publishedAt }
        expect(yield* store.upsertListings([published])).toBe(0)
        expect(yield* store.upsertListings([draft])).toBe(0)
        const [row] = yield* attempt("read", () => client`select status, external_id, url, tags, performance, published_at from listings where id = ${draft.id}`)
        expect(row).toEqual({
          status: "published",
          external_id: "123",
          url: "https://etsy.example/123",
          tags: ["funny", "shirt, with comma"],
          performance: { views: 3 },
          published_at: publishedAt
        })
      })
    )

    it.effect("approving moves a draft listing to approved, and never a listing past draft", () =>
      Effect.gen(function* () {
        yield* migrate()
        const store = yield* Store
        const { client } = yield* Sql
        const s = signal(`approve ${randomUUID()}`)
        yield* store.upsertSignals([s])
        const [a, b] = [idea(s.id, 8), idea(s.id, 9)]
        yield* store.upsertIdeas([a, b])
        const draft = listing(a.id)
        const live = { ...listing(b.id), status: "published" as const, externalId: "9", url: "https://etsy.example/9", publishedAt: new Date() }
        yield* store.upsertListings([draft, live])
        expect(yield* store.approveListings([draft.id, live.id])).toBe(1)
        expect(yield* store.approveListings([draft.id])).toBe(0)
        const rows = yield* attempt("read", () => client`select id, status from listings where id in (${draft.id}, ${live.id}) order by status`)
        expect(rows.map((r) => [r["id"], r["status"]])).toEqual([
          [draft.id, "approved"],
          [live.id, "published"]
        ])
      })
    )

    it.effect("idea status and review decisions", () =>
      Effect.gen(function* () {
        yield* migrate()
        const store = yield* Store
        const s = signal(`status ${randomUUID()}`)
        yield* store.upsertSignals([s])
        const i = idea(s.id, 9, 0.123)
        yield* store.upsertIdeas([i])
        expect(yield* store.setIdeaStatus(i.id, "mocked")).toBe(true)
        expect(yield* store.setReviewStatus(i.id, "approved")).toBe(true)
        expect(yield* store.setIdeaStatus(randomUUID(), "live")).toBe(false)
        const mocked = yield* store.listIdeas({ status: "mocked", limit: 10 })
        expect(mocked.find((x) => x.id === i.id)).toMatchObject({ status: "mocked", reviewStatus: "approved" })
        // A rescore leaves status alone.
        yield* store.upsertIdeas([{ ...i, score: 0.5 }])
        expect((yield* store.listIdeas({ status: "mocked", limit: 10 })).some((x) => x.id === i.id)).toBe(true)
        expect(yield* Effect.flip(store.setIdeaStatus(i.id, "bogus" as "live"))).toBeInstanceOf(PermanentError)
        expect(yield* Effect.flip(store.listIdeas({ limit: 0 }))).toBeInstanceOf(PermanentError)
      })
    )

    it.effect("weights: seeded default, then the newest promoted version; backtest runs update in place", () =>
      Effect.gen(function* () {
        yield* migrate()
        const store = yield* Store
        const seeded = yield* store.currentWeights()
        expect(seeded).toMatchObject({ version: 1, weights: DEFAULT_WEIGHTS, promoted: true })
        expect((yield* store.currentWeights()).version).toBe(1)
        const learned = { ...DEFAULT_WEIGHTS, novelty: 0.2, engagement: 0.3 }
        const v2 = yield* store.insertWeights({ weights: learned, note: "learned", promoted: true })
        expect(v2).toBe(2)
        yield* store.insertWeights({ weights: DEFAULT_WEIGHTS, note: "candidate", promoted: false })
        expect(yield* store.currentWeights()).toMatchObject({ version: 2, weights: learned, note: "learned" })

        const run = { id: randomUUID(), startedAt: new Date(), finishedAt: null, params: { from: "2024-01-01" }, results: {}, winner: null }
        expect(yield* store.recordBacktestRun(run)).toBe(1)
        expect(yield* store.recordBacktestRun({ ...run, finishedAt: new Date(), results: { auc: 0.7 }, winner: { version: 2 } })).toBe(0)
        const counts = yield* store.counts()
        expect(counts.backtest_runs).toBe(1)
        expect(counts.scoring_weights).toBe(3)
      })
    )
  })
})
