/**
 * CSV report import: the parser (columns by header, errors naming line and column), and
 * `POST /api/feedback/import` putting the rows on `feedback.events`, stored once even when
 * the same report is imported twice.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ConfigProvider, Effect, Layer, Option, Redacted } from "effect"
import { feedbackApi } from "../../operators/api/feedback.ts"
import { feedbackImportCommand, parseFeedbackCsv } from "../../operators/feedback/csvImport.ts"
import { recordFeedback } from "../../operators/feedback/record.ts"
import { FeedbackEvent } from "../../operators/schemas.ts"
import { Store } from "../../operators/store/store.ts"
import { describeError } from "../../runtime/errors.ts"
import { makeHttpApp } from "../../runtime/http.ts"
import { makeKeys } from "../../runtime/keys.ts"
import { attempt, Sql } from "../../runtime/sql.ts"
import { stream, topology } from "../../runtime/topology.ts"
import { startFake } from "../fakes/server.ts"
import { feeder, uniqueName } from "../support/harness.ts"
import { runtimeLayer, runUntil, seedListings, storeLayer } from "./support.ts"

const REPORT = `Date,Work ID,Views,Favourites,Units Sold
2026-03-01,RB-1001,120,4,1
2026-03-02,RB-1001,"1,050",9,0
2026-03-02,RB-2002,30,,2
`

describe("csv import", () => {
  it("reads a report's columns by header, one event per metric with a value", () => {
    const rows = parseFeedbackCsv(REPORT, "redbubble")
    expect(rows.map((r) => [r.data.externalId, r.data.kind, r.data.value, r.data.occurredAt])).toEqual([
      ["RB-1001", "view", 120, "2026-03-01T00:00:00.000Z"],
      ["RB-1001", "favorite", 4, "2026-03-01T00:00:00.000Z"],
      ["RB-1001", "sale", 1, "2026-03-01T00:00:00.000Z"],
      ["RB-1001", "view", 1050, "2026-03-02T00:00:00.000Z"],
      ["RB-1001", "favorite", 9, "2026-03-02T00:00:00.000Z"],
      ["RB-2002", "view", 30, "2026-03-02T00:00:00.000Z"],
      ["RB-2002", "sale", 2, "2026-03-02T00:00:00.000Z"]
    ])
    // Two products of one work sold the same day: one event, the units summed (not the second row dropped as a repeat).
    const sameDay = parseFeedbackCsv("Order Date,Work ID,Product,Units Sold\n2026-11-02,12345,Classic T-Shirt,1\n2026-11-02,12345,Sticker,3\n", "redbubble")
    expect(sameDay.map((e) => [e.key, e.data.value, e.data.payload])).toEqual([["csv:redbubble:12345:sale:2026-11-02T00:00:00.000Z", 4, { import: "report.csv", lines: [2, 3] }]])
    // Orders told apart by an "Order #" column stay apart.
    const orders = parseFeedbackCsv("Order Date,Work ID,Order #,Units Sold\n2026-11-02,12345,RB-1001,1\n2026-11-02,12345,RB-1002,3\n", "redbubble")
    expect(orders.map((e) => [e.data.value, e.data.payload?.["orderId"]])).toEqual([[1, "RB-1001"], [3, "RB-1002"]])
    expect(() => parseFeedbackCsv("Listing,Views\nA,1\n", "redbubble")).toThrow(/needs a date column/)
    expect(() => parseFeedbackCsv("Date,Listing,Views\n2026-03-01,A,lots\n", "redbubble")).toThrow(/line 2: Views: "lots" is not a number/)
    expect(() => parseFeedbackCsv("Date,Listing,Views\nyesterday,A,1\n", "redbubble")).toThrow(/line 2: Date: "yesterday" is not a date/)
  })

  layer(Layer.merge(storeLayer, runtimeLayer), { timeout: "120 seconds", excludeTestServices: true })((it) => {
    it.scoped("POST /api/feedback/import: onto feedback.events, stored once per row and metric", () =>
      Effect.gen(function* () {
        const store = yield* Store
        yield* seedListings(store, "redbubble", ["RB-1001", "RB-2002"])
        const events = stream("feedback.events", FeedbackEvent, { eventType: "feedback.received" })
        const t = topology({
          name: uniqueName("csv"),
          nodes: [feeder("csv-import", events).node, recordFeedback({ from: events })],
          services: Layer.empty as Layer.Layer<any>,
          api: [feedbackApi({ events })]
        })
        const app = yield* makeHttpApp({ topology: t, keys: makeKeys(t.name), token: Option.some(Redacted.make("tok")), corsOrigins: [] })
        const post = (body: string, token = "tok") =>
          Effect.promise(async () => {
            const res = await app.request("/api/feedback/import?marketplace=redbubble", { method: "POST", headers: { "content-type": "text/csv", authorization: `Bearer ${token}` }, body })
            return { status: res.status, body: (await res.json()) as Record<string, unknown> }
          })
        expect((yield* post(REPORT, "wrong")).status).toBe(401)
        expect(yield* post("Date,Listing,Views\nnope,A,1\n")).toMatchObject({ status: 400, body: { error: expect.stringContaining("line 2") } })
        const first = yield* post(REPORT)
        expect(first).toMatchObject({ status: 202, body: { accepted: 7 } })
        expect((yield* post(REPORT)).body["ids"]).toEqual(first.body["ids"])
        const { client } = yield* Sql
        const count = Effect.map(attempt("count", () => client`select count(*)::int as n, sum(value)::float8 as total from feedback_events where kind = 'view'`), ([r]) => r!)
        const n = Effect.map(attempt("count", () => client`select count(*)::int as n from feedback_events`), ([r]) => Number(r!["n"]))
        expect(yield* runUntil(t, Effect.map(n, (x) => x === 7))).toBe(true)
        expect(yield* count).toMatchObject({ n: 3, total: 1200 })

        // `desainz feedback-import` sends a file to the server at DESAINZ_URL, with DESAINZ_TOKEN.
        const server = yield* startFake(app)
        const dir = yield* Effect.acquireRelease(Effect.sync(() => mkdtempSync(join(tmpdir(), "csv-import-"))), (d) => Effect.sync(() => rmSync(d, { recursive: true })))
        const file = join(dir, "rb.csv")
        writeFileSync(file, `${REPORT}2026-03-03,RB-2002,45,,\n`)
        const importCsv = (token: string) =>
          feedbackImportCommand
            .run(["--file", file, "--marketplace", "redbubble"])
            .pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["DESAINZ_URL", server.url], ["DESAINZ_TOKEN", token]]))))
        expect(describeError(yield* Effect.flip(importCsv("wrong")))).toMatch(/import refused \(HTTP 401\)/)
        yield* importCsv("tok")
        expect(server.requests.at(-1)).toMatchObject({ method: "POST", path: "/api/feedback/import" })
        expect(server.requests.at(-1)!.query.get("file")).toBe("rb.csv")
        expect(yield* runUntil(t, Effect.map(n, (x) => x === 8))).toBe(true)
        expect(yield* count).toMatchObject({ n: 4, total: 1245 })
      })
    )
  })
})
