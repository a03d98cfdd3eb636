/** The HTTP API on the embedded transport, through hono's `app.request()`. */
import { Effect, Layer, Option, Redacted, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { makeHttpApp, Snapshot } from "../runtime/http.ts"
import { Metrics } from "../runtime/metrics.ts"
import { map, sink, stream, topology } from "../runtime/topology.ts"
import * as EmbeddedTransport from "../runtime/transport/embedded.ts"
import { feeder, startWorker, uniqueName, waitUntil } from "./support/harness.ts"
import { listDeadLetters } from "../runtime/dlq.ts"

const Item = Schema.Struct({ n: Schema.Number })

const withApp = (token: string | undefined, body: (ctx: any) => Effect.Effect<void, unknown, any>) => {
  const items = stream("items", Item)
  const checked = stream("checked", Item)
  const feed = feeder("feed", items)
  const t = topology({
    name: uniqueName("http"),
    nodes: [
      feed.node,
      map({
        name: "check",
        from: items,
        to: checked,
        settings: { maxAttempts: 1 },
        run: (i) => (i.n === 13 ? Effect.fail(new Error("unlucky")) : Effect.succeed(i))
      }),
      sink({ name: "done", from: checked, run: () => Effect.void })
    ],
    services: Layer.empty
  })
  return Effect.runPromise(
    Effect.gen(function* () {
      const w = yield* startWorker(t)
      const app = yield* makeHttpApp({
        topology: t,
        keys: w.keys,
        token: token === undefined ? Option.none() : Option.some(Redacted.make(token)),
        corsOrigins: [],
        feedEveryMs: 50
      })
      feed.push(...Array.from({ length: 20 }, (_, n) => ({ data: { n } })))
      yield* waitUntil("the dead letter", Effect.map(listDeadLetters(t, w.keys, "check"), (l) => l.length === 1))
      yield* body({ app, t, w })
      yield* w.stop
    }).pipe(Effect.scoped, Effect.provide(Layer.merge(EmbeddedTransport.layer, Metrics.layer))) as Effect.Effect<void, unknown, never>
  )
}

const call = (app: any, path: string, init: RequestInit = {}) => Effect.promise(() => Promise.resolve(app.request(path, init)) as Promise<Response>)

describe("http api", () => {
  it("serves health, metrics, topology and a snapshot", () =>
    withApp(undefined, ({ app }) =>
      Effect.gen(function* () {
        const health = yield* call(app, "/health")
        expect(health.status).toBe(200)
        expect(yield* Effect.promise(() => health.json())).toMatchObject({ status: "ok", transport: "embedded" })
        const metrics = yield* Effect.promise(async () => (await app.request("/metrics")).text())
        expect(metrics).toContain('desainz_operator_processed_total{operator="check"} 19')
        expect(metrics).toContain('desainz_operator_dead_lettered_total{operator="check"} 1')
        expect(metrics).toContain('desainz_stream_length{stream="items"} 20')
        expect(metrics).toMatch(/desainz_group_pending\{group="check",stream="items"\} 0/)
        expect(metrics).toContain('desainz_dlq_length{operator="check"} 1')
        expect(metrics).toContain('desainz_operator_processing_seconds_bucket{operator="check",le="+Inf"}')
        const topo = yield* Effect.promise(async () => (await app.request("/api/topology")).json())
        expect(topo.nodes.map((n: any) => n.name)).toEqual(["feed", "check", "done"])
        const snap = Schema.decodeUnknownSync(Snapshot)(yield* Effect.promise(async () => (await app.request("/api/snapshot")).json()))
        expect(snap.nodes.find((n) => n.name === "check")).toMatchObject({ processed: 19, deadLettered: 1, dlq: 1 })
        expect(snap.streams.find((s) => s.name === "items")!.groups[0]).toMatchObject({ name: "check", pending: 0, lag: 0 })
      })
    ))

  it("streams snapshots over SSE", () =>
    withApp(undefined, ({ app }) =>
      Effect.promise(async () => {
        const controller = new AbortController()
        const response: Response = await app.request("/api/events", { signal: controller.signal })
        expect(response.headers.get("content-type")).toContain("text/event-stream")
        const reader = response.body!.getReader()
        let text = ""
        while ((text.match(/event: snapshot/g) ?? []).length < 2) text += new TextDecoder().decode((await reader.read()).value)
        controller.abort()
        await reader.cancel().catch(() => undefined)
        const data = text.split("\n").find((l) => l.startsWith("data: "))!.slice(6)
        expect(Schema.decodeUnknownSync(Snapshot)(JSON.parse(data)).nodes).toHaveLength(3)
      })
    ))

  it("refuses mutating calls without the token and changes nothing", () =>
    withApp("s3cret-token", ({ app, t, w }) =>
      Effect.gen(function* () {
        const body = JSON.stringify({ all: true })
        const headers = { "content-type": "application/json" }
        for (const auth of [undefined, "Bearer wrong", "Bearer s3cret-token-but-longer", "s3cret-token"]) {
          for (const action of ["requeue", "drop"]) {
            const r = yield* call(app, `/api/dlq/check/${action}`, { method: "POST", body, headers: auth ? { ...headers, authorization: auth } : headers })
            expect(r.status).toBe(401)
          }
        }
        expect(yield* listDeadLetters(t, w.keys, "check")).toHaveLength(1)
        const good = { ...headers, authorization: "Bearer s3cret-token" }
        const bad = yield* call(app, "/api/dlq/check/requeue", { method: "POST", body: JSON.stringify({ ids: ["x"] }), headers: good })
        expect(bad.status).toBe(400)
        expect((yield* Effect.promise(() => bad.json())).error).toMatch(/ids/)
        expect((yield* call(app, "/api/dlq/check/requeue", { method: "POST", body: "{", headers: good })).status).toBe(400)
        expect((yield* call(app, "/api/dlq/nope/requeue", { method: "POST", body, headers: good })).status).toBe(404)
        expect((yield* call(app, "/api/dlq/check/drop", { method: "POST", body: JSON.stringify({ ids: ["1-1"] }), headers: good })).status).toBe(404)
        const list = yield* Effect.promise(async () => (await app.request("/api/dlq/check")).json())
        expect(list.entries[0].error).toContain("unlucky")
        const ok = yield* call(app, "/api/dlq/check/requeue", { method: "POST", body, headers: good })
        expect(ok.status).toBe(200)
        expect(yield* Effect.promise(() => ok.json())).toEqual({ requeued: 1 })
        // maxAttempts is 1: it fails once more and is back in the DLQ, as a new entry.
        yield* waitUntil("dead-lettered again", Effect.map(listDeadLetters(t, w.keys, "check"), (l) => l.length === 1 && l[0]!.id !== list.entries[0].id))
      })
    ))

  it("disables mutating calls when no token is configured", () =>
    withApp(undefined, ({ app }) =>
      Effect.gen(function* () {
        const r = yield* call(app, "/api/dlq/check/drop", { method: "POST", body: JSON.stringify({ all: true }), headers: { authorization: "Bearer anything" } })
        expect(r.status).toBe(401)
        expect((yield* Effect.promise(() => r.json())).error).toContain("DESAINZ_TOKEN")
        expect((yield* call(app, "/api/streams/items/entries?count=5")).status).toBe(200)
        expect((yield* call(app, "/api/streams/nope/entries")).status).toBe(404)
        expect((yield* call(app, "/nowhere")).status).toBe(404)
      })
    ))
})

