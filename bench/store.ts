/**
 * Store bench: signals written through `Store.upsertSignals` into embedded PGlite (over its
 * socket, as the app does), batched multi-row idempotent upserts against one row per
 * statement, in one run on one fresh database.
 *
 * Lines (stdout): `batched-upsert-<batch>` (all rows new) and `batched-upsert-<batch>-duplicates`
 * (the same rows redelivered: nothing inserted), both against `single-row-insert`.
 * Contents are real Reddit posts from ../shared/data when present, generated text otherwise.
 *
 * Flags: --rows (20000), --batch (500), --baseline-rows (2000).
 */
import { createHash, randomUUID } from "node:crypto"
import { existsSync, readFileSync } from "node:fs"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { parse } from "csv-parse/sync"
import { Duration, Effect, Layer, Logger } from "effect"
import { type SignalRow } from "../operators/store/signals.ts"
import { Store, type StoreService } from "../operators/store/store.ts"
import { migrate, Sql } from "../runtime/sql.ts"
import { emit, intFlag, log, parseFlags, round } from "./harness.ts"

const REDDIT_CSV = fileURLToPath(new URL("../../shared/data/reddit-top-posts/reddit_posts.csv", import.meta.url))

interface Post {
  readonly id: string
  readonly text: string
  readonly subreddit: string
  readonly score: number
  readonly comments: number
  readonly upvoteRatio: number
  readonly createdAt: Date
}

const redditPosts = (): ReadonlyArray<Post> => {
  const [header, ...rows] = parse(readFileSync(REDDIT_CSV, "utf8"), { bom: true, relax_column_count: true, relax_quotes: true }) as Array<Array<string>>
  const col = (name: string) => header?.indexOf(name) ?? -1
  const [id, title, selftext, score, comments, subreddit, ratio, created] = [
    "id",
    "title",
    "selftext",
    "score",
    "num_comments",
    "subreddit",
    "upvote_ratio",
    "created_utc"
  ].map(col) as [number, number, number, number, number, number, number, number]
  return rows
    .filter((r) => r.length === header?.length)
    .map((r) => ({
      id: r[id] ?? "",
      text: [r[title], r[selftext]].filter((s) => s !== undefined && s !== "").join("\n\n"),
      subreddit: r[subreddit] ?? "",
      score: Number(r[score]),
      comments: Number(r[comments]),
      upvoteRatio: Number(r[ratio]),
      createdAt: new Date(Number(r[created]) * 1000)
    }))
}

const WORDS = "retro cat coffee vintage sunset mountain pixel dad joke teacher nurse gamer pizza taco camping vibes".split(" ")

const generatedPosts = (): ReadonlyArray<Post> =>
  Array.from({ length: 5_000 }, (_, i) => ({
    id: `gen${i}`,
    text: Array.from({ length: 8 + (i % 12) }, (_, w) => WORDS[(i * 7 + w * 3) % WORDS.length]).join(" "),
    subreddit: ["news", "sports", "technology", "movies"][i % 4] ?? "news",
    score: 1_000 + ((i * 37) % 50_000),
    comments: (i * 13) % 3_000,
    upvoteRatio: 0.9,
    createdAt: new Date(Date.UTC(2024, 0, 1) + i * 60_000)
  }))

/**
 * `count` distinct signals; posts repeat with a numbered suffix, so every content hash is new.
 * Posts sharing a text (reposts) are kept once: the store would rightly skip the second.
 */
const signalRows = (all: ReadonlyArray<Post>, count: number, offset: number): Array<SignalRow> => {
  const posts = Array.from(new Map(all.map((p) => [p.text, p])).values())
  return Array.from({ length: count }, (_, k) => {
    const n = offset + k
    const post = posts[n % posts.length]!
    const pass = Math.floor(n / posts.length)
    const content = pass === 0 ? post.text : `${post.text} (${pass})`
    return {
      id: randomUUID(),
      content,
      source: "reddit",
      capturedAt: post.createdAt,
      metadata: { postId: post.id, subreddit: post.subreddit, score: post.score, comments: post.comments, upvoteRatio: post.upvoteRatio },
      contentHash: createHash("sha256").update(content).digest("hex").slice(0, 32)
    }
  })
}

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.timed(effect), ([elapsed, value]) => ({ seconds: Duration.toMillis(elapsed) / 1_000, value }))

/** Rows per second of `rows`, written `batch` at a time, failing unless exactly `expected` are new. */
const write = (store: StoreService, rows: ReadonlyArray<SignalRow>, batch: number, expected: number) =>
  Effect.gen(function* () {
    const { seconds, value: inserted } = yield* timed(
      Effect.reduce(
        Array.from({ length: Math.ceil(rows.length / batch) }, (_, i) => rows.slice(i * batch, (i + 1) * batch)),
        0,
        (total, part) => Effect.map(store.upsertSignals(part), (n) => total + n)
      )
    )
    if (inserted !== expected) return yield* Effect.die(new Error(`expected ${expected} new rows, the store reported ${inserted}`))
    log(`store:   ${rows.length} rows in ${seconds.toFixed(2)} s`)
    return rows.length / seconds
  })

export const run = async (args: ReadonlyArray<string> = []): Promise<void> => {
  const flags = parseFlags(args, { rows: { type: "string" }, batch: { type: "string" }, "baseline-rows": { type: "string" } })
  const rows = intFlag("rows", flags.rows, 20_000)
  const batch = intFlag("batch", flags.batch, 500)
  const baselineRows = intFlag("baseline-rows", flags["baseline-rows"], 2_000)

  let posts: ReadonlyArray<Post>
  if (existsSync(REDDIT_CSV)) {
    posts = redditPosts()
    log(`store: ${posts.length} Reddit posts from ${REDDIT_CSV}`)
  } else {
    posts = generatedPosts()
    log(`store: ${REDDIT_CSV} not found; using generated text`)
  }
  const warmup = signalRows(posts, batch, 0)
  const single = signalRows(posts, baselineRows, batch)
  const batched = signalRows(posts, rows, batch + baselineRows)

  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "desainz-bench-store-"))
  const layer = Layer.provideMerge(Store.layer, Sql.layerEmbedded({ dataDir: dir, port: 0 }))
  const program = Effect.gen(function* () {
    yield* migrate()
    const store = yield* Store
    yield* write(store, warmup, batch, warmup.length)
    log(`store: single-row inserts: ${single.length} rows`)
    const baseline = yield* write(store, single, 1, single.length)
    log(`store: batched upserts: ${batched.length} rows, ${batch} a statement`)
    const fresh = yield* write(store, batched, batch, batched.length)
    log(`store: the same ${batched.length} rows again (all duplicates)`)
    const duplicates = yield* write(store, batched, batch, 0)
    return { baseline, fresh, duplicates }
  })
  try {
    const result = await Effect.runPromise(
      program.pipe(
        Effect.provide(layer),
        // stdout carries only result lines.
        Effect.provide(Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.logfmtLogger)))
      )
    )
    const line = (name: string, perS: number) => ({
      bench: "store",
      case: name,
      rows,
      batch_size: batch,
      rows_per_s: round(perS, 0),
      baseline_case: "single-row-insert",
      baseline_rows: baselineRows,
      baseline_rows_per_s: round(result.baseline, 0),
      ratio: round(perS / result.baseline)
    })
    emit(line(`batched-upsert-${batch}`, result.fresh))
    emit(line(`batched-upsert-${batch}-duplicates`, result.duplicates))
  } finally {
    await fs.rm(dir, { recursive: true, force: true })
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  run(process.argv.slice(2)).catch((error: unknown) => {
    log(`bench store failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
    process.exitCode = 1
  })
}
