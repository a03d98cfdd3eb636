/**
 * The Printify order webhook (operators/feedback/printify.ts) through the runtime's HTTP
 * app: the signature checked on the raw body, the order read from the fake Printify API
 * (test/fakes/printify.ts), each line item a sale on `feedback.events`, attributed by the
 * store to our listing of that product; an unknown product dead-lettered with the reason.
 */
import { createHmac } from "node:crypto"
import { describe, expect, layer } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Option } from "effect"
import { printifyFeedback } from "../../operators/feedback/printify.ts"
import { recordFeedback } from "../../operators/feedback/record.ts"
import { FeedbackEvent } from "../../operators/schemas.ts"
import { Store } from "../../operators/store/store.ts"
import { makeHttpApp } from "../../runtime/http.ts"
import { makeKeys } from "../../runtime/keys.ts"
import { attempt, Sql } from "../../runtime/sql.ts"
import { stream, topology } from "../../runtime/topology.ts"
import { Transport } from "../../runtime/transport.ts"
import { SHOP_ID, startPrintifyFake, TOKEN } from "../fakes/printify.ts"
import { uniqueName } from "../support/harness.ts"
import { runtimeLayer, runUntil, seedListings, storeLayer } from "./support.ts"

const SECRET = "printify-webhook-secret"
const feedbackEvents = stream("feedback.events", FeedbackEvent, { eventType: "feedback.received" })
const sign = (body: string, secret = SECRET) => `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`
const event = (type: string, orderId: string) =>
  JSON.stringify({ id: `evt-${type}-${orderId}`, type, created_at: "2026-02-03 10:00:00+00:00", resource: { id: orderId, type: "order", data: { shop_id: SHOP_ID, status: "pending" } } })

describe("printify order webhook", () => {
  layer(Layer.merge(storeLayer, runtimeLayer), { timeout: "120 seconds", excludeTestServices: true })((it) => {
    it.scoped("verifies X-Pfy-Signature, reads the order, stores each line item as a sale once", () =>
      Effect.gen(function* () {
        const store = yield* Store
        const fake = yield* startPrintifyFake()
        const seeded = yield* seedListings(store, "printify", ["5d39b159e7c48c000728c89f"])
        fake.state.orders.set("5a96f649b2439217d070f507", {
          id: "5a96f649b2439217d070f507",
          status: "pending",
          created_at: "2026-02-03 09:58:12+00:00",
          line_items: [
            { product_id: "5d39b159e7c48c000728c89f", variant_id: 18_100, quantity: 2, status: "pending", metadata: { title: "Teacher Life Tee", price: 2499, variant_label: "S / Black", sku: "A1", country: "US" } },
            { product_id: "0000000000000000000000ff", variant_id: 18_101, quantity: 1, status: "pending", metadata: { title: "Not ours", price: 1999, variant_label: "M", sku: "B2", country: "US" } }
          ]
        })
        const t = topology({ name: uniqueName("pfy"), nodes: [printifyFeedback({ to: feedbackEvents }), recordFeedback({ from: feedbackEvents })], services: Layer.empty as Layer.Layer<any> })
        const config = ConfigProvider.fromMap(
          new Map([["PRINTIFY_WEBHOOK_SECRET", SECRET], ["PRINTIFY_TOKEN", TOKEN], ["PRINTIFY_SHOP_ID", String(SHOP_ID)], ["PRINTIFY_API_URL", fake.apiUrl]])
        )
        const app = yield* makeHttpApp({ topology: t, keys: makeKeys(t.name), token: Option.none(), corsOrigins: [] }).pipe(Effect.provide(Layer.setConfigProvider(config)))
        const post = (body: string, signature: string | undefined) =>
          Effect.promise(async () => {
            const res = await app.request("/feedback/printify", {
              method: "POST",
              headers: { "content-type": "application/json", ...(signature === undefined ? {} : { "x-pfy-signature": signature }) },
              body
            })
            return { status: res.status, body: (await res.json()) as Record<string, unknown> }
          })

        const created = event("order:created", "5a96f649b2439217d070f507")
        expect(yield* post(created, undefined)).toMatchObject({ status: 401 })
        expect(yield* post(created, sign(created, "wrong"))).toMatchObject({ status: 401, body: { error: expect.stringContaining("X-Pfy-Signature") } })
        expect(yield* post("{not json", sign("{not json"))).toMatchObject({ status: 400 })
        const updated = event("order:updated", "5a96f649b2439217d070f507")
        expect(yield* post(updated, sign(updated))).toEqual({ status: 200, body: { ignored: "order:updated" } })
        const first = yield* post(created, sign(created))
        expect(first).toMatchObject({ status: 202, body: { accepted: 2 } })
        // Printify retries a delivery it is unsure of: the same ids, nothing new.
        const again = yield* post(created, sign(created))
        expect(again.body["ids"]).toEqual(first.body["ids"])
        expect(yield* post(event("order:created", "missing"), sign(event("order:created", "missing")))).toMatchObject({ status: 400 })

        const { client } = yield* Sql
        const transport = yield* Transport
        const stored = attempt("read", () => client`select listing_id, idea_id, kind, value, occurred_at, payload from feedback_events`)
        const dead = transport.range(makeKeys(t.name).dlq("feedback-store"), { count: 10 })
        expect(yield* runUntil(t, Effect.map(Effect.zip(stored, dead), ([rows, d]) => rows.length === 1 && d.length === 2))).toBe(true)
        const [row] = yield* stored
        const ours = seeded.get("5d39b159e7c48c000728c89f")!
        expect(row).toMatchObject({ listing_id: ours.listingId, idea_id: ours.ideaId, kind: "sale", value: 2, payload: { orderId: "5a96f649b2439217d070f507", variantId: 18_100, priceCents: 2499 } })
        expect(new Date(row!["occurred_at"] as Date).toISOString()).toBe("2026-02-03T09:58:12.000Z")
        // The unknown product, once per delivery (the same event id both times): dead-lettered with the reason.
        const letters = yield* dead
        expect(new Set(letters.map((l) => l.fields["eventId"])).size).toBe(1)
        expect(letters[0]?.fields["dlq.error"]).toContain("printify 0000000000000000000000ff: no such listing")
      })
    )
  })
})
