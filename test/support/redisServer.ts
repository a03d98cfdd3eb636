/**
 * Starts a real redis-server on a free loopback port for tests and benchmarks, in a
 * temp dir, and stops it afterwards. `REDIS_URL` in the environment is used instead
 * when set (CI with a service, a developer's own Redis).
 */
import { spawn, type ChildProcess } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Redis } from "ioredis"

export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))))
    })
  })

export interface RedisServer {
  readonly url: string
  readonly port: number
  readonly process: ChildProcess
  /** Stops the server (SIGTERM, or SIGKILL when `hard`). */
  readonly stop: (hard?: boolean) => Promise<void>
  /** Starts it again on the same port and data dir (AOF replays when enabled). */
  readonly restart: () => Promise<RedisServer>
}

export const startRedis = async (
  options: { appendOnly?: boolean; fsync?: "always" | "everysec"; port?: number; dir?: string } = {}
): Promise<RedisServer> => {
  const port = options.port ?? (await freePort())
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "desainz-redis-"))
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", options.appendOnly ? "yes" : "no"]
  if (options.fsync !== undefined) args.push("--appendfsync", options.fsync)
  const child = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] })
  const spawnError = new Promise<never>((_, reject) =>
    child.once("error", (e) => reject(new Error(`cannot start redis-server (apt-get install redis-server): ${e.message}`)))
  )
  const url = `redis://127.0.0.1:${port}`
  const ready = (async () => {
    for (let i = 0; i < 100; i++) {
      const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
      probe.on("error", () => undefined) // refused until the server listens; the loop retries
      try {
        await probe.connect()
        await probe.ping()
        probe.disconnect()
        return
      } catch {
        probe.disconnect()
        await new Promise((r) => setTimeout(r, 50))
      }
    }
    throw new Error(`redis-server on port ${port} did not come up`)
  })()
  await Promise.race([ready, spawnError])
  const stop = (hard = false) =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve()
      child.once("exit", () => resolve())
      child.kill(hard ? "SIGKILL" : "SIGTERM")
    })
  return {
    url,
    port,
    process: child,
    stop: async (hard) => {
      await stop(hard)
      if (options.dir === undefined && !hard) rmSync(dir, { recursive: true, force: true })
    },
    restart: async () => {
      await stop(false)
      return startRedis({ ...options, port, dir })
    }
  }
}
