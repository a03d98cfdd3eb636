/**
 * Every HTTP endpoint of the real topology (runtime routes, the ideas API, the webhook)
 * fuzzed with fast-check: methods, paths, headers and bodies. Nothing answers 5xx, and a
 * mutating call without the token (or, for the webhook, without a valid signature) answers
 * 401 and changes nothing: no stream, dead-letter stream or store table moves.
 * (`/api/events` is left out: it is an endless SSE feed, tested in http.test.ts.)
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Layer, Option, Redacted } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { makeHttpApp } from "../runtime/http.ts"
import { makeKeys } from "../runtime/keys.ts"
import { Metrics } from "../runtime/metrics.ts"
import { Sql } from "../runtime/sql.ts"
import type { Topology } from "../runtime/topology.ts"
import { Transport } from "../runtime/transport.ts"
import * as EmbeddedTransport from "../runtime/transport/embedded.ts"
import { uniqueName } from "./support/harness.ts"

const TOKEN = "fuzz-token-0123456789"

/** Where a request changes state, and so needs the token (or the webhook's signature). */
const MUTATING = [/^\/api\/dlq\/[^/]+\/(requeue|drop)$/, /^\/api\/ideas\/[^/]+\/(approve|reject)$/, /^\/ingest\/[^/]+$/]

describe("http fuzz", () => {
  it("answers every request without a 5xx, and refuses unauthorized mutations without changing anything", async () => {
    const dir = mkdtempSync(join(tmpdir(), "desainz-fuzz-"))
    Object.assign(process.env, {
      TOPOLOGY_NAME: uniqueName("fuzz"),
      PGLITE_DIR: join(dir, "pg"),
      PGLITE_PORT: "0",
      BLOB_DIR: join(dir, "blobs"),
      OCCASIONS: "off",
      WEBHOOK_SECRET: "fuzz-webhook-secret"
    })
    const t = (await import("../topology.ts")).default as Topology<any>
    const keys = makeKeys(t.name)
    const nodes = t.nodes.map((n) => n.name)
    const streams = t.streams.map((s) => s.name)

    const program = Effect.gen(function* () {
      const transport = yield* Transport
      const sql = yield* Sql
      const app = yield* makeHttpApp({ topology: t, keys, token: Option.some(Redacted.make(TOKEN)), corsOrigins: [] })
      // Something for a requeue or drop to change.
      yield* transport.append({ stream: keys.dlq("dedupe"), entries: [{ data: "{}", "dlq.error": "seeded" }] })
      const fingerprint = Effect.gen(function* () {
        const lengths = yield* Effect.forEach([...streams.map(keys.stream), ...nodes.map(keys.dlq)], (k) => Effect.map(transport.info(k), (i) => i.length))
        const rows = yield* Effect.promise(() => sql.client`select (select count(*) from signals) s, (select count(*) from ideas) i, (select string_agg(status, ',' order by id) from ideas) st, (select count(*) from listings) l`)
        return JSON.stringify([lengths, rows])
      })

      const segment = fc.oneof(fc.constantFrom(...nodes, ...streams, "dlq.dedupe", "webhook", "zapier", "1-1", "..", "%00", ""), fc.string({ maxLength: 12 }))
      const path = fc.oneof(
        fc.constantFrom("/health", "/health/live", "/health/ready", "/metrics", "/api/topology", "/api/snapshot", "/api/ideas", "/"),
        fc.tuple(segment, fc.constantFrom("requeue", "drop", "")).map(([op, action]) => `/api/dlq/${encodeURIComponent(op)}${action ? `/${action}` : ""}`),
        fc.tuple(segment, fc.constantFrom("approve", "reject")).map(([id, action]) => `/api/ideas/${encodeURIComponent(id)}/${action}`),
        fc.tuple(segment, fc.oneof(fc.integer(), fc.string({ maxLength: 6 }))).map(([s, n]) => `/api/streams/${encodeURIComponent(s)}/entries?count=${encodeURIComponent(String(n))}`),
        segment.map((s) => `/api/streams/${encodeURIComponent(s)}`),
        fc.tuple(segment, fc.oneof(fc.integer(), fc.string({ maxLength: 6 }))).map(([op, n]) => `/api/dlq/${encodeURIComponent(op)}?count=${encodeURIComponent(String(n))}`),
        segment.map((s) => `/ingest/${encodeURIComponent(s)}`),
        fc.string({ maxLength: 40 }).map((s) => `/blobs/${encodeURIComponent(s)}`),
        fc.webPath()
      )
      const body = fc.oneof(
        fc.constant(undefined),
        fc.constantFrom('{"all":true}', '{"ids":["1-1"]}', '{"ids":[]}', "{", "null", "[]"),
        fc.json(),
        fc.string({ maxLength: 200 })
      )
      const request = fc.record({
        method: fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"),
        path,
        body,
        authorization: fc.option(fc.oneof(fc.constant(`Bearer ${TOKEN}`), fc.constant("Bearer wrong"), fc.string({ maxLength: 30 })), { nil: undefined }),
        contentType: fc.option(fc.constantFrom("application/json", "text/plain", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded"), {
          nil: undefined
        }),
        signature: fc.option(fc.string({ maxLength: 70 }), { nil: undefined })
      })

      const failures: Array<string> = []
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(request, async (r) => {
            const headers: Record<string, string> = {}
            if (r.authorization !== undefined) headers["authorization"] = r.authorization
            if (r.contentType !== undefined) headers["content-type"] = r.contentType
            if (r.signature !== undefined) headers["x-desainz-signature"] = r.signature
            const withBody = r.method !== "GET" && r.method !== "HEAD" && r.body !== undefined
            // The full URL, as a server builds it from the request line (a bare "//..." would
            // read as a protocol-relative URL).
            const url = `http://127.0.0.1${r.path}`
            const pathname = new URL(url).pathname
            const mutating = r.method === "POST" && MUTATING.some((m) => m.test(pathname))
            const authorized = pathname.startsWith("/ingest/") ? false : r.authorization === `Bearer ${TOKEN}`
            const before = mutating && !authorized ? await Effect.runPromise(fingerprint) : undefined
            const response = await app.request(new Request(url, { method: r.method, headers, ...(withBody ? { body: r.body! } : {}) }))
            await response.arrayBuffer().catch(() => undefined)
            if (response.status >= 500) failures.push(`${r.method} ${r.path} -> ${response.status}`)
            expect(response.status, `${r.method} ${r.path}`).toBeLessThan(500)
            if (mutating && !authorized && !pathname.startsWith("/ingest/")) {
              expect(response.status, `${r.method} ${r.path}`).toBe(401)
            }
            if (mutating && !authorized) {
              // The webhook may also refuse a body or source before checking the signature: 4xx.
              expect(response.status, `${r.method} ${r.path}`).toBeGreaterThanOrEqual(400)
              expect(await Effect.runPromise(fingerprint), `${r.method} ${r.path} changed state`).toBe(before)
            }
          }),
          { numRuns: Number(process.env["FUZZ_RUNS"] ?? 300) }
        )
      )
      expect(failures).toEqual([])
    })
    await Effect.runPromise(
      Effect.scoped(program).pipe(Effect.provide(Layer.mergeAll(EmbeddedTransport.layer, Metrics.layer, t.services as Layer.Layer<Sql>))) as Effect.Effect<void, unknown, never>
    )
  }, 180_000)
})
