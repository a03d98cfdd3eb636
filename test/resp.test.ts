/**
 * The consumers' own RESP connection (runtime/transport/resp.ts) against a real
 * redis-server: pipelined replies in order, error replies as values, the URL's user,
 * password and database, a broken connection failing what waits and reopening; and the
 * backlog the Redis transport measures on it.
 */
import { randomUUID } from "node:crypto"
import { ConfigProvider, Effect, Either, Redacted } from "effect"
import { Redis } from "ioredis"
import { afterAll, describe, expect, inject, it } from "vitest"
import { RuntimeConfig } from "../runtime/config.ts"
import { make as makeRedisTransport } from "../runtime/transport/redis.ts"
import { parseRedisUrl, RespBatch, RespConnection } from "../runtime/transport/resp.ts"
import { startRedis } from "./support/redisServer.ts"

const url = inject("redisUrl")
const admin = new Redis(url)
afterAll(() => admin.quit())

describe("RespConnection", () => {
  it("sends a batch in one write and returns one reply per command, in order, error replies as values", async () => {
    const conn = new RespConnection(url)
    const key = `resp:${randomUUID()}`
    try {
      const replies = await conn.send(
        new RespBatch()
          .command("SET", key, "héllo wörld")
          .command("GET", key)
          .command("INCR", key)
          .xadd(`${key}:s`, { a: "1", b: "ünïcode" })
          .command("XLEN", `${key}:s`)
          .command("HGET", key, "x")
      )
      expect(replies.slice(0, 2)).toEqual(["OK", "héllo wörld"])
      expect(replies[2]).toBeInstanceOf(Error)
      expect((replies[2] as Error).message).toMatch(/not an integer/)
      expect(replies[3]).toMatch(/^\d+-\d+$/)
      expect(replies[4]).toBe(1)
      expect((replies[5] as Error).message).toMatch(/^WRONGTYPE/)
      expect(await admin.xrange(`${key}:s`, "-", "+")).toEqual([[replies[3], ["a", "1", "b", "ünïcode"]]])
    } finally {
      await conn.close()
      await admin.del(key, `${key}:s`)
    }
  })

  it("authenticates as the URL's user and selects its database", async () => {
    const user = `u${randomUUID().slice(0, 8)}`
    await admin.call("ACL", "SETUSER", user, "on", ">s3cret/pass", "~*", "&*", "+@all")
    const base = new URL(url)
    const as = (password: string) => `redis://${user}:${encodeURIComponent(password)}@${base.host}/5`
    const conn = new RespConnection(as("s3cret/pass"))
    const key = `resp:${randomUUID()}`
    try {
      expect(await conn.send(new RespBatch().command("SET", key, "in db 5").command("ACL", "WHOAMI"))).toEqual(["OK", user])
      const db5 = new Redis(`${url}/5`)
      expect(await db5.get(key)).toBe("in db 5")
      await db5.del(key)
      await db5.quit()
      expect(await admin.get(key)).toBeNull()
      await expect(new RespConnection(as("wrong")).send(new RespBatch().command("PING"))).rejects.toThrow(/WRONGPASS/)
    } finally {
      await conn.close()
      await admin.call("ACL", "DELUSER", user)
    }
  })

  it("reads the URL as ioredis does, and refuses one it cannot use at startup, naming REDIS_URL", async () => {
    expect(parseRedisUrl("rediss://[::1]:7000")).toMatchObject({ host: "::1", port: 7000, tls: true })
    expect(parseRedisUrl("redis://example.org")).toMatchObject({ host: "example.org", port: 6379, tls: false })
    expect(parseRedisUrl("redis://h:1/3").handshake.text).toBe(new RespBatch().command("SELECT", "3").text)
    expect(parseRedisUrl("redis://h:1?password=p%40ss&db=2").handshake.text).toBe(new RespBatch().command("AUTH", "p@ss").command("SELECT", "2").text)
    for (const bad of ["localhost:6379", "http://localhost:6379", "redis//nowhere"]) {
      expect(() => parseRedisUrl(bad)).toThrow(/^REDIS_URL: expected redis:\/\/\[user:password@\]host/)
      const loaded = await Effect.runPromise(
        Effect.either(RuntimeConfig).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["REDIS_URL", bad]]))))
      )
      expect(Either.isLeft(loaded) && String(loaded.left)).toMatch(/REDIS_URL: expected redis:\/\//)
    }
  })

  it("fails what waits when the connection breaks, and reopens it on the next round trip", async () => {
    let server = await startRedis()
    const conn = new RespConnection(server.url)
    try {
      await conn.send(new RespBatch().command("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"))
      const waiting = conn.send(new RespBatch().command("XREADGROUP", "GROUP", "g", "c", "BLOCK", 10_000, "STREAMS", "s", ">"))
      const failed = expect(waiting).rejects.toThrow(/connection to 127\.0\.0\.1:\d+ (failed|closed)/)
      await new Promise((r) => setTimeout(r, 100))
      await server.stop(true)
      await failed
      await expect(conn.send(new RespBatch().command("PING"))).rejects.toThrow(/connection to/)
      server = await server.restart()
      expect(await conn.send(new RespBatch().command("PING"))).toEqual(["PONG"])
    } finally {
      await conn.close()
      await server.stop()
    }
  })

  it("keeps replies in step after a reply timeout, when the next send opens a new socket at once", async () => {
    // Its own redis-server: the pause stalls every client.
    const server = await startRedis()
    const admin = new RespConnection(server.url)
    const conn = new RespConnection(server.url, { timeoutMs: 500 })
    const stream = `resp-${randomUUID()}`
    try {
      expect(await conn.send(new RespBatch().command("PING"))).toEqual(["PONG"])
      // Redis stalls for 2 s. A times out at 0.5 s; B goes out at once, on a new socket, before
      // the abandoned one's close; the commit goes out at 1.7 s, while Redis still stalls.
      await admin.send(new RespBatch().command("CLIENT", "PAUSE", "2000", "ALL"))
      const commitAt = new Promise((r) => setTimeout(r, 1_700))
      let next: Promise<unknown> | undefined
      await conn.send(new RespBatch().command("ECHO", "A")).catch(() => {
        next = conn.send(new RespBatch().command("ECHO", "B")).catch(() => undefined)
      })
      await next
      await commitAt
      const commit = await conn.send(new RespBatch().command("MULTI").xadd(stream, { k: "v" }).command("EXEC"), 3_000)
      expect(commit.slice(0, 2)).toEqual(["OK", "QUEUED"])
      expect(Array.isArray(commit[2])).toBe(true)
      expect(await conn.send(new RespBatch().command("ECHO", "C"))).toEqual(["C"])
      expect(await admin.send(new RespBatch().command("XLEN", stream))).toEqual([1])
    } finally {
      await conn.close()
      await admin.close()
      await server.stop()
    }
  })
})

describe("Redis transport round trip", () => {
  it("measures the backlog of the slowest wanted group: lag + pending, the whole stream for a group not created yet", async () => {
    const tag = `{resp-${randomUUID()}}`
    const [input, out, other] = [`${tag}:in`, `${tag}:out`, `${tag}:other`]
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const transport = yield* makeRedisTransport({ url: Redacted.make(url) })
          // No stream yet: nothing waits in it.
          expect(yield* transport.backlog([{ stream: out, groups: ["fast", "slow"] }])).toBe(0)
          yield* transport.ensureGroup(input, "worker")
          yield* transport.ensureGroup(out, "fast")
          yield* transport.append({ stream: input, entries: [{ n: "1" }] })
          yield* transport.append({ stream: out, entries: [{ n: "a" }, { n: "b" }, { n: "c" }] })
          // "fast" reads two (pending) and acknowledges one: lag 1 + pending 1.
          const read = (yield* transport.exchange({ read: { stream: out, group: "fast", consumer: "f", count: 2, blockMs: 0 } })).deliveries
          yield* transport.commit({ appends: [], acks: [{ stream: out, group: "fast", ids: [read[0]!.id] }] })
          expect(yield* transport.backlog([{ stream: out, groups: ["fast"] }])).toBe(2)
          // "slow" does not exist yet: it will read all three.
          expect(yield* transport.backlog([{ stream: out, groups: ["fast", "slow"] }])).toBe(3)
          // The round trip measures after its commit, the largest over its streams.
          const round = yield* transport.exchange({
            commit: { appends: [{ stream: other, entries: [{ n: "x" }] }], acks: [] },
            backlog: [
              { stream: out, groups: ["fast"] },
              { stream: other, groups: ["reader"] }
            ],
            read: { stream: input, group: "worker", consumer: "w", count: 10, blockMs: 0 }
          })
          expect(round.backlog).toBe(2)
          expect(round.deliveries.map((d) => d.fields)).toEqual([{ n: "1" }])
          // A block of a fractional time (a backoff of 1.5x ends on one) is a read, not an error.
          const blocked = yield* transport.exchange({ read: { stream: input, group: "worker", consumer: "w", count: 10, blockMs: 10.5 } })
          expect(blocked.readError).toBeUndefined()
          yield* transport.append({ stream: other, entries: [{ n: "y" }, { n: "z" }] })
          expect(
            (yield* transport.exchange({ backlog: [{ stream: out, groups: ["fast"] }, { stream: other, groups: ["reader"] }] })).backlog
          ).toBe(3)
        })
      )
    )
    await admin.del(input, out, other)
  })

  it("reports an applied commit as applied when the backlog count after it fails, and keeps what the read delivered", async () => {
    // Its own redis-server: scripts are denied to every client for a moment.
    const server = await startRedis()
    const redis = new Redis(server.url)
    try {
      await redis.xgroup("CREATE", "in", "g", "0", "MKSTREAM")
      await redis.xgroup("CREATE", "out", "down", "0", "MKSTREAM")
      for (let i = 0; i < 10; i++) await redis.xadd("out", "*", "n", String(i))
      await redis.xadd("in", "*", "k", "first")
      const [[, [[inputId]]]] = (await redis.xreadgroup("GROUP", "g", "c", "COUNT", 1, "STREAMS", "in", ">")) as [[string, [[string]]]]
      await redis.xadd("in", "*", "k", "second")
      const result = await Effect.runPromise(
        Effect.scoped(
          Effect.gen(function* () {
            const transport = yield* makeRedisTransport({ url: Redacted.make(server.url) })
            // A lag of 10 from 5 on is counted by a script, in a second call after the round trip.
            yield* Effect.promise(() => redis.call("ACL", "SETUSER", "default", "-eval", "-evalsha"))
            return yield* transport.exchange({
              commit: { appends: [{ stream: "out", entries: [{ out: "1" }] }], acks: [{ stream: "in", group: "g", ids: [inputId!] }] },
              backlog: [{ stream: "out", groups: ["down"], countUpTo: 100, checkLagFrom: 5 }],
              read: { stream: "in", group: "g", consumer: "c", count: 10, blockMs: 0 }
            })
          })
        )
      )
      expect(result.commitError).toBeUndefined()
      expect(result.readError?.message).toMatch(/backlog/)
      expect(result.deliveries.map((d) => d.fields)).toEqual([{ k: "second" }])
      expect(await redis.xlen("out")).toBe(11)
    } finally {
      redis.disconnect()
      await server.stop()
    }
  })
})
