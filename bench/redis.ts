/**
 * Redis for benches: `REDIS_URL` when set (then nothing is started or stopped, and the
 * bench must only touch its own keys), else a private `redis-server` on a free loopback
 * port, without persistence (`--save ''`, `--appendonly no`), in a temp dir that is
 * removed afterwards. The server is a tracked child: it dies with the bench, also on
 * failure or Ctrl-C.
 *
 *   await withRedis(async (url) => { ... })
 */
import { mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Redis } from "ioredis"
import { type Child, log, onExit, sleep, spawnChild } from "./harness.ts"

export interface BenchRedis {
  readonly url: string
  /** True when the server is the caller's (`REDIS_URL`), not started here. */
  readonly external: boolean
  readonly stop: () => Promise<void>
}

export interface StartOptions {
  /** Extra `redis-server` arguments, e.g. `["--io-threads", "2"]`. */
  readonly args?: ReadonlyArray<string>
  /** Show the server's own log on stderr. */
  readonly verbose?: boolean
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no free port"))))
    })
  })

const answers = async (url: string): Promise<boolean> => {
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
  probe.on("error", () => undefined)
  try {
    await probe.connect()
    return (await probe.ping()) === "PONG"
  } catch {
    return false
  } finally {
    probe.disconnect()
  }
}

const launch = async (options: StartOptions): Promise<BenchRedis | undefined> => {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), "desainz-bench-redis-"))
  const removeDir = () => rmSync(dir, { recursive: true, force: true })
  const unhook = onExit(removeDir)
  const args = [
    "--port", String(port),
    "--bind", "127.0.0.1",
    "--dir", dir,
    "--save", "",
    "--appendonly", "no",
    "--loglevel", "warning",
    ...(options.args ?? [])
  ]
  const child: Child = spawnChild("redis", "redis-server", args, { quiet: !options.verbose })
  const url = `redis://127.0.0.1:${port}`
  for (let i = 0; i < 200; i++) {
    if (!child.running()) break
    if (await answers(url)) {
      log(`bench: redis-server pid ${child.process.pid} on ${url}`)
      return {
        url,
        external: false,
        stop: async () => {
          await child.stop(5_000)
          removeDir()
          unhook()
        }
      }
    }
    await sleep(25)
  }
  // Lost the port to someone else between probing and binding, or the server died.
  await child.stop(1_000)
  removeDir()
  unhook()
  return undefined
}

/** Starts a private redis-server, or adopts `REDIS_URL`. */
export const startRedis = async (options: StartOptions = {}): Promise<BenchRedis> => {
  const external = process.env["REDIS_URL"]
  if (external !== undefined && external !== "") {
    log(`bench: using REDIS_URL`)
    return { url: external, external: true, stop: async () => undefined }
  }
  for (let attempt = 0; attempt < 3; attempt++) {
    const server = await launch(options)
    if (server !== undefined) return server
  }
  throw new Error("cannot start redis-server (is it installed? apt-get install redis-server)")
}

/** Runs `f` with a Redis url, and stops a server started for it afterwards, also on failure. */
export const withRedis = async <A>(f: (url: string) => Promise<A>, options: StartOptions = {}): Promise<A> => {
  const server = await startRedis(options)
  try {
    return await f(server.url)
  } finally {
    await server.stop()
  }
}
