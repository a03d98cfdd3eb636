/**
 * Engine faults seen from the runtime, on a real redis-server behind a proxy that makes
 * its connections half-open: round trips fail within the timeout and reconnect, the HTTP
 * server answers during the outage, readiness names what is down, and a worker stops
 * within its shutdown timeout while Redis does not answer.
 */
import { Effect, Either, Layer, Option, Redacted, Schema } from "effect"
import { Redis } from "ioredis"
import postgres from "postgres"
import { afterEach, describe, expect, inject, it } from "vitest"
import { makeHttpApp } from "../runtime/http.ts"
import { makeKeys } from "../runtime/keys.ts"
import { Metrics } from "../runtime/metrics.ts"
import { Sql } from "../runtime/sql.ts"
import { map, sink, stream, topology } from "../runtime/topology.ts"
import { Transport } from "../runtime/transport.ts"
import * as EmbeddedTransport from "../runtime/transport/embedded.ts"
import * as RedisTransport from "../runtime/transport/redis.ts"
import { freePort } from "./support/redisServer.ts"
import { feeder, startWorker, uniqueName, waitUntil } from "./support/harness.ts"
import { startTcpProxy, type TcpProxy } from "./support/tcpProxy.ts"

const Item = Schema.Struct({ n: Schema.Number })

let proxy: TcpProxy | undefined
afterEach(() => proxy?.close())

const behindProxy = async () => {
  const target = new URL(inject("redisUrl"))
  proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) })
  return proxy
}

const run = <A, E>(transport: Layer.Layer<Transport, unknown>, body: Effect.Effect<A, E, any>) =>
  Effect.runPromise(Effect.scoped(body).pipe(Effect.provide(Layer.merge(transport, Metrics.layer))) as Effect.Effect<A, E, never>)

const pipeline = () => {
  const items = stream("items", Item)
  const out = stream("out", Item)
  const feed = feeder("feed", items)
  const seen = new Set<number>()
  const t = topology({
    name: uniqueName("faults"),
    nodes: [
      feed.node,
      map({ name: "work", from: items, to: out, run: Effect.succeed }),
      sink({ name: "collect", from: out, run: (i) => Effect.sync(() => void seen.add(i.n)) })
    ],
    services: Layer.empty
  })
  return { t, feed, seen }
}

const call = (app: { request: (path: string) => Response | Promise<Response> }, path: string) =>
  Effect.promise(async () => {
    const response = await app.request(path)
    return { status: response.status, body: (await response.json().catch(() => undefined)) as any, text: "" }
  })

describe("engine faults", () => {
  it("refuses a Redis older than 7.0 with a message naming its version", () => {
    expect(() => RedisTransport.checkRedisVersion("# Server\r\nredis_version:6.2.14\r\nredis_mode:standalone\r\n")).toThrow(
      /Redis 6\.2\.14 is not supported: desAInz needs Redis 7\.0\.0 or newer/
    )
    expect(RedisTransport.checkRedisVersion("redis_version:7.0.15\r\n")).toBe("7.0.15")
    expect(RedisTransport.checkRedisVersion("redis_version:8.2.1\r\n")).toBe("8.2.1")
  })

  it("counts the backlog itself when Redis overstates a group's lag (a stale entries-read after an AOF restart)", async () => {
    await run(
      RedisTransport.layer({ url: Redacted.make(inject("redisUrl")) }),
      Effect.gen(function* () {
        const t = yield* Transport
        const s = makeKeys(uniqueName()).stream("in")
        yield* t.ensureGroup(s, "g")
        yield* t.append({ stream: s, entries: Array.from({ length: 300 }, (_, n) => ({ n: String(n) })) })
        const { deliveries } = yield* t.exchange({ read: { stream: s, group: "g", consumer: "c", count: 290, blockMs: 0 } })
        yield* t.commit({ appends: [], acks: [{ stream: s, group: "g", ids: deliveries.map((d) => d.id) }] })
        // What Redis 7.0 was seen to restore from its AOF: the position right, the counter behind.
        yield* Effect.promise(async () => {
          const redis = new Redis(inject("redisUrl"))
          await redis.call("XGROUP", "SETID", s, "g", deliveries.at(-1)!.id, "ENTRIESREAD", "100")
          redis.disconnect()
        })
        expect((yield* t.info(s)).groups[0]!.lag).toBe(200)
        expect(yield* t.backlog([{ stream: s, groups: ["g"], checkLagFrom: 50 }])).toBe(10)
        expect((yield* t.exchange({ backlog: [{ stream: s, groups: ["g"], checkLagFrom: 50 }] })).backlog).toBe(10)
      })
    )
  })

  it("fails a round trip on a half-open Redis connection within the timeout, and reconnects", async () => {
    const p = await behindProxy()
    await run(
      RedisTransport.layer({ url: Redacted.make(p.url), commandTimeoutMs: 500 }),
      Effect.gen(function* () {
        const t = yield* Transport
        const s = makeKeys(uniqueName()).stream("in")
        yield* t.ensureGroup(s, "g")
        yield* t.append({ stream: s, entries: [{ n: "1" }] })
        p.cut()
        const read = yield* Effect.either(t.exchange({ read: { stream: s, group: "g", consumer: "c", count: 10, blockMs: 200 } }))
        expect(Either.isLeft(read)).toBe(true)
        expect(Either.isLeft(yield* Effect.either(t.info(s)))).toBe(true)
        expect(Either.isLeft(yield* Effect.either(t.append({ stream: s, entries: [{ n: "2" }] })))).toBe(true)
        p.restore()
        yield* waitUntil(
          "round trips work again",
          Effect.map(Effect.either(t.exchange({ read: { stream: s, group: "g", consumer: "c", count: 10, blockMs: 0 } })), Either.isRight)
        )
        yield* waitUntil("inspection works again", Effect.map(Effect.either(t.info(s)), Either.isRight))
      })
    )
  }, 30_000)

  it("answers /metrics, the API and readiness while Redis does not", async () => {
    const p = await behindProxy()
    const { t } = pipeline()
    await run(
      RedisTransport.layer({ url: Redacted.make(p.url), commandTimeoutMs: 500 }),
      Effect.gen(function* () {
        const app = yield* makeHttpApp({ topology: t, keys: makeKeys(t.name), token: Option.none(), corsOrigins: [], readyTimeoutMs: 1_000 })
        expect((yield* call(app, "/health/ready")).status).toBe(200)
        p.cut()
        const metrics = yield* Effect.promise(async () => app.request("/metrics"))
        expect(metrics.status).toBe(200)
        expect((yield* call(app, "/api/snapshot")).status).toBe(503)
        const ready = yield* call(app, "/health/ready")
        expect(ready.status).toBe(503)
        expect(ready.body.down.join(" ")).toMatch(/^transport \(redis\)/)
        expect((yield* call(app, "/health")).status).toBe(503)
        expect((yield* call(app, "/health/live")).status).toBe(200)
      })
    )
  }, 30_000)

  it("names the store in readiness when it does not answer", async () => {
    const port = await freePort() // nothing listens there
    const client = postgres(`postgres://nobody@127.0.0.1:${port}/none`, { connect_timeout: 1, max: 1 })
    const { t } = pipeline()
    await run(
      EmbeddedTransport.layer,
      Effect.gen(function* () {
        const app = yield* makeHttpApp({ topology: t, keys: makeKeys(t.name), token: Option.none(), corsOrigins: [], readyTimeoutMs: 2_000 })
        expect((yield* call(app, "/health/ready")).status).toBe(200) // no store in this app
        const withStore = yield* makeHttpApp({ topology: t, keys: makeKeys(t.name), token: Option.none(), corsOrigins: [], readyTimeoutMs: 2_000 }).pipe(
          Effect.provideService(Sql, { client, endpoint: { _tag: "Url" } })
        )
        const ready = yield* call(withStore, "/health/ready")
        expect(ready.status).toBe(503)
        expect(ready.body.down).toHaveLength(1)
        expect(ready.body.down[0]).toMatch(/^store: /)
      })
    )
    await client.end({ timeout: 0 })
  }, 30_000)

  it("stops a worker within its shutdown timeout while Redis does not answer", async () => {
    const p = await behindProxy()
    const { t, feed, seen } = pipeline()
    await run(
      RedisTransport.layer({ url: Redacted.make(p.url), commandTimeoutMs: 60_000 }),
      Effect.gen(function* () {
        const w = yield* startWorker(t, { shutdownTimeout: "1 second" })
        feed.push(...Array.from({ length: 50 }, (_, n) => ({ data: { n } })))
        yield* waitUntil("the pipeline flows", Effect.sync(() => seen.size === 50))
        p.cut()
        feed.push(...Array.from({ length: 50 }, (_, n) => ({ data: { n: 50 + n } })))
        yield* Effect.sleep("300 millis")
        yield* w.stop // returns: the loops were interrupted after the timeout
      })
    )
  }, 30_000)
})
