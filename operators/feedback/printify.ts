/**
 * Printify order webhooks: `POST /feedback/printify`, as Printify sends them (Printify API
 * reference, "Webhooks"): JSON `{ id, type, created_at, resource: { id, type: "order",
 * data: { shop_id, ... } } }`, signed with the secret given when the webhook was created:
 * `X-Pfy-Signature: sha256=<hex HMAC-SHA256 of the raw body>` (PRINTIFY_WEBHOOK_SECRET).
 *
 * An `order:created` event names the order only; its line items come from
 * `GET /v1/shops/{shop_id}/orders/{order_id}.json`, read through the Printify client (the publisher's PRINTIFY_TOKEN and
 * PRINTIFY_API_URL). Each line item is a `sale` (value = quantity) of the Printify product
 * it names, at the order's `created_at`, keyed by order, product and variant, so a resent
 * webhook adds nothing; the store attributes the product id to our listing.
 *
 * Answers: 202 `{ accepted, ids }`; 200 `{ ignored }` for other event types (order:updated,
 * shipments), which are not sales; 401 bad or missing signature (or no secret configured);
 * 400 a body that is not a Printify event; 503 with Retry-After when the order cannot be
 * read or the stream cannot take it, so Printify delivers it again.
 */
import { createHmac, timingSafeEqual } from "node:crypto"
import { Cause, Config, Data, Effect, Exit, Option, ParseResult, Redacted, Schema } from "effect"
import { describeError, isRetryable } from "../../runtime/errors.ts"
import * as Http from "../../runtime/httpClient.ts"
import { source, type StreamDef } from "../../runtime/topology.ts"
import { make as makePrintify, PrintifyConfig } from "../marketplaces/printify.ts"
import type { FeedbackEvent } from "../schemas.ts"

export const PRINTIFY_WEBHOOK_SECRET = "PRINTIFY_WEBHOOK_SECRET"
export const SIGNATURE_HEADER = "x-pfy-signature"

const WebhookEvent = Schema.Struct({
  id: Schema.String,
  type: Schema.String,
  created_at: Schema.String,
  resource: Schema.Struct({ id: Schema.String, type: Schema.String, data: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })) })
})

/** The order fields a sale needs (Printify's "Order" object). */
class Rejected extends Data.TaggedError("Rejected")<{ readonly status: 400 | 401; readonly reason: string }> {}

/** Printify writes times as `2019-12-09 10:46:53+00:00`. */
const isoOf = (printifyTime: string): string => new Date(printifyTime.replace(" ", "T")).toISOString()

export const verifySignature = (secret: string, body: Uint8Array, header: string | null): boolean => {
  if (header === null) return false
  const expected = Buffer.from(`sha256=${createHmac("sha256", secret).update(body).digest("hex")}`)
  const given = Buffer.from(header.trim())
  return given.length === expected.length && timingSafeEqual(given, expected)
}

export const printifyFeedback = (io: { readonly to: StreamDef<FeedbackEvent> }) =>
  source({
    name: "printify-feedback",
    kind: "feedback-printify",
    to: io.to,
    every: "1 hour",
    config: { route: "/feedback/printify" },
    poll: Effect.succeed({ emissions: [], done: true }),
    routes: (app, context) => {
      app.post("/feedback/printify", async (c) => {
        const body = new Uint8Array(await c.req.arrayBuffer())
        const handle = Effect.gen(function* () {
          const secret = yield* Effect.orDie(Config.option(Config.redacted(Config.nonEmptyString(PRINTIFY_WEBHOOK_SECRET))))
          if (Option.isNone(secret)) return yield* new Rejected({ status: 401, reason: `Printify webhooks are disabled: set ${PRINTIFY_WEBHOOK_SECRET}` })
          if (!verifySignature(Redacted.value(secret.value), body, c.req.header(SIGNATURE_HEADER) ?? null)) {
            return yield* new Rejected({ status: 401, reason: "X-Pfy-Signature does not match: expected sha256=<hex HMAC-SHA256 of the body>" })
          }
          const event = yield* Effect.try(() => JSON.parse(Buffer.from(body).toString("utf8")) as unknown).pipe(
            Effect.flatMap(Schema.decodeUnknown(WebhookEvent)),
            Effect.mapError((e) => new Rejected({ status: 400, reason: `not a Printify webhook event: ${e instanceof ParseResult.ParseError ? ParseResult.TreeFormatter.formatErrorSync(e) : describeError(e)}` }))
          )
          if (event.type !== "order:created" || event.resource.type !== "order") return { ignored: event.type }
          const printify = yield* Effect.flatMap(Effect.orDie(PrintifyConfig), makePrintify)
          const order = yield* printify.getOrder(event.resource.id)
          const occurredAt = isoOf(order.created_at)
          const ids = yield* context.emit(
            order.line_items.map((item) => ({
              key: `printify:${order.id}:${item.product_id}:${item.variant_id}`,
              timestamp: occurredAt,
              data: {
                externalId: item.product_id,
                marketplace: "printify",
                kind: "sale" as const,
                value: item.quantity,
                occurredAt,
                payload: { orderId: order.id, variantId: item.variant_id, ...(item.metadata?.price === undefined ? {} : { priceCents: item.metadata.price }) }
              }
            }))
          )
          return { accepted: ids.length, ids }
        })
        const exit = await context.run(Effect.provide(handle, Http.layer))
        if (Exit.isSuccess(exit)) return c.json(exit.value, "ignored" in exit.value ? 200 : 202)
        const error = Cause.squash(exit.cause)
        if (error instanceof Rejected) return c.json({ error: error.reason }, error.status)
        if (isRetryable(error)) return c.json({ error: `not stored, try again: ${describeError(error)}` }, 503, { "retry-after": "30" })
        return c.json({ error: describeError(error) }, 400)
      })
    }
  })
