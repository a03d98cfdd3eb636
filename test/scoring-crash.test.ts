/**
 * Issue 15, item 12, as an operator tried it: `desainz worker` processes of the real
 * topology (replay -> dedupe -> enrich -> score) on a redis-server of their own (AOF,
 * `appendfsync always`, which the no-loss claim needs: `everysec` may lose the last second
 * of acknowledged writes), replaying ../shared/data/youtube-trending at full speed. Once
 * undisturbed; once with redis-server SIGKILLed and restarted early, and the worker
 * SIGKILLed while the score batch holding the older of the slice's near-duplicate pair is
 * pending. The restarted worker (a new consumer) reads the entries after it at once and
 * takes the dead consumer's pending batch over only after `claimIdleMs` (30 s): the later
 * near-duplicate is scored first, without the older idea to merge into, which is what left
 * 664 ideas instead of 663. Both runs must end with the same ideas and the same merges and
 * nothing dead-lettered. Bounded: each wait has a deadline.
 */
import { spawn, type ChildProcess } from "node:child_process"
import { existsSync } from "node:fs"
import * as fs from "node:fs/promises"
import { createServer, type AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { Effect } from "effect"
import { Redis } from "ioredis"
import { afterAll, describe, expect, it } from "vitest"
import { makeKeys } from "../runtime/keys.ts"
import { attempt, Sql } from "../runtime/sql.ts"
import { uniqueName } from "./support/harness.ts"

const BIN = new URL("../bin/desainz.js", import.meta.url).pathname
const TOPOLOGY = new URL("../topology.ts", import.meta.url).pathname
const YOUTUBE = new URL("../../shared/data/youtube-trending/USvideos_2017-11-14_to_2017-11-23.csv", import.meta.url).pathname
/** The older of the pair that merges (an award-show performance, then the song's video trending again). */
const OLDER = "BQ_0QLL2gqI"

const children: Array<ChildProcess> = []
afterAll(() => children.forEach((c) => c.exitCode === null && c.signalCode === null && c.kill("SIGKILL")))

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })

const exitOf = (child: ChildProcess) =>
  new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once("exit", () => resolve())))

const waitFor = async (what: string, check: () => Promise<boolean>, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

const startRedis = (dir: string, port: number) => {
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--appendonly", "yes", "--appendfsync", "always", "--save", ""], {
    stdio: "ignore"
  })
  children.push(child)
  return child
}

const startWorker = (dir: string, redisUrl: string, name: string) => {
  const child = spawn(process.execPath, [BIN, "worker", "--topology", TOPOLOGY, "--only", "replay,dedupe,enrich,score"], {
    cwd: dir,
    env: {
      ...process.env,
      REDIS_URL: redisUrl,
      TOPOLOGY_NAME: name,
      REPLAY_FILE: YOUTUBE,
      REPLAY_FORMAT: "youtube-trending",
      REPLAY_SPEED: "0",
      OCCASIONS: "off",
      PGLITE_DIR: path.join(dir, "pg"),
      PGLITE_PORT: "0",
      BLOB_DIR: path.join(dir, "blobs"),
      DESAINZ_CONSUMER: `w-${children.length}`,
      LOG_LEVEL: "warning"
    },
    stdio: ["ignore", "ignore", "inherit"]
  })
  children.push(child)
  return child
}

/** One run; `faults` is called with the live state and may kill and restart things. */
const runOnce = async (faults: boolean) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "desainz-crash-scoring-"))
  try {
    const port = await freePort()
    const url = `redis://127.0.0.1:${port}`
    const name = uniqueName("crash-scoring")
    const keys = makeKeys(name)
    let redisServer = startRedis(dir, port)
    const redis = new Redis(url, { maxRetriesPerRequest: 1, retryStrategy: () => 200 })
    redis.on("error", () => undefined)
    await waitFor("redis-server answers", async () => (await redis.ping()) === "PONG", 20_000)
    let worker = startWorker(dir, url, name)
    const scored = async () => {
      const groups = (await redis.xinfo("GROUPS", keys.stream("signals.enriched"))) as Array<Array<string | number>>
      const score = groups.map((g) => Object.fromEntries(Array.from({ length: g.length / 2 }, (_, i) => [g[2 * i], g[2 * i + 1]]))).find((g) => g["name"] === "score")
      return { length: await redis.xlen(keys.stream("signals.enriched")), pending: Number(score?.["pending"] ?? -1), lag: Number(score?.["lag"] ?? -1) }
    }
    const raw = () => redis.xlen(keys.stream("signals.raw"))
    if (faults) {
      await waitFor("300 signals read", async () => (await raw()) >= 300, 180_000)
      redisServer.kill("SIGKILL")
      await exitOf(redisServer)
      redisServer = startRedis(dir, port)
      await waitFor("redis-server is back", async () => (await redis.ping()) === "PONG", 20_000)
      // The older signal's entry, then the moment its score batch is pending (in flight).
      let entry: string | undefined
      await waitFor(
        "the older near-duplicate is enriched",
        async () => {
          const page = (await redis.xrange(keys.stream("signals.enriched"), "-", "+")) as Array<[string, Array<string>]>
          entry = page.find(([, fields]) => fields.some((f) => f.includes(OLDER)))?.[0]
          return entry !== undefined
        },
        180_000
      )
      await waitFor(
        "its score batch is in flight",
        async () => ((await redis.xpending(keys.stream("signals.enriched"), "score", entry!, entry!, 1)) as Array<unknown>).length > 0,
        180_000
      )
      worker.kill("SIGKILL")
      await exitOf(worker)
      worker = startWorker(dir, url, name)
    }
    await waitFor(
      "every signal is scored",
      async () => {
        const s = await scored()
        return (await raw()) >= 665 && s.length >= 664 && s.pending === 0 && s.lag === 0
      },
      300_000
    )
    const deadLetters = await redis.xlen(keys.dlq("score"))
    worker.kill("SIGTERM")
    await exitOf(worker)
    redis.disconnect()
    redisServer.kill("SIGTERM")
    await exitOf(redisServer)
    // The worker's embedded store, opened here once it has exited.
    const state = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const { client } = yield* Sql
          const ideas = yield* attempt("ideas", () => client`select id::text as id from ideas order by 1`)
          const merges = yield* attempt("merges", () => client`select merged_id::text as merged, idea_id::text as idea from idea_merges order by 1`)
          return { ideas: ideas.map((r) => String(r["id"])), merges: merges.map((r) => `${r["merged"]}->${r["idea"]}`) }
        }).pipe(Effect.provide(Sql.layerEmbedded({ dataDir: path.join(dir, "pg"), port: 0 })))
      )
    )
    return { ...state, deadLetters }
  } finally {
    await fs.rm(dir, { recursive: true, force: true })
  }
}

describe.skipIf(!existsSync(YOUTUBE))("crash during a replay of the YouTube slice (needs ../shared/data/youtube-trending)", () => {
  it(
    "ends with the ideas and merges of the undisturbed run after redis-server and the worker are SIGKILLed and restarted",
    async () => {
      const undisturbed = await runOnce(false)
      const crashed = await runOnce(true)
      expect(undisturbed.deadLetters).toBe(0)
      expect(crashed.deadLetters).toBe(0)
      expect(undisturbed.merges.length).toBeGreaterThanOrEqual(1)
      expect(crashed.ideas.length).toBe(undisturbed.ideas.length)
      expect(crashed.ideas).toEqual(undisturbed.ideas)
      expect(crashed.merges).toEqual(undisturbed.merges)
    },
    900_000
  )
})
