/**
 * Fake PagerDuty Events API v2 (developer.pagerduty.com; PagerDuty/developer-docs
 * docs/events-API-v2/02-Trigger-Events.md and 01-Overview.md "Response Codes"):
 * `POST /v2/enqueue` with `routing_key` (32 characters), `event_action` trigger |
 * acknowledge | resolve, `dedup_key` (at most 255), and for a trigger `payload.summary`,
 * `payload.source`, `payload.severity` (critical | error | warning | info).
 * Answers 202 `{ status: "success", message: "Event processed", dedup_key }`, or 400
 * `{ status: "invalid event", message: "Event object is invalid", errors: [...] }`.
 * Keeps the alerts by dedup key (triggered / resolved), as PagerDuty would.
 */
import { randomUUID } from "node:crypto"
import { Effect } from "effect"
import { Hono } from "hono"
import { startFake } from "./server.ts"

export const ROUTING_KEY = "R0123456789abcdef0123456789abcde".slice(0, 32)

export interface ReceivedEvent {
  readonly event_action: string
  readonly dedup_key: string
  readonly payload?: { readonly summary: string; readonly source: string; readonly severity: string; readonly custom_details?: unknown }
}

export const startPagerDutyFake = Effect.gen(function* () {
  const state = { events: [] as Array<ReceivedEvent>, alerts: new Map<string, "triggered" | "resolved">() }
  const app = new Hono()
  app.post("/v2/enqueue", async (c) => {
    const invalid = (...errors: Array<string>) => c.json({ status: "invalid event", message: "Event object is invalid", errors }, 400)
    let body: Record<string, any>
    try {
      body = await c.req.json()
    } catch {
      return invalid("Event object is not valid JSON")
    }
    const errors: Array<string> = []
    if (typeof body["routing_key"] !== "string" || body["routing_key"].length !== 32) errors.push("Length of 'routing_key' is incorrect (should be 32 characters)")
    const action = body["event_action"]
    if (!["trigger", "acknowledge", "resolve"].includes(action)) errors.push("'event_action' is invalid (must be one of the following: 'trigger', 'acknowledge' or 'resolve')")
    const dedupKey: string = typeof body["dedup_key"] === "string" ? body["dedup_key"] : action === "trigger" ? randomUUID() : ""
    if (dedupKey.length > 255) errors.push("'dedup_key' is too long (maximum is 255 characters)")
    if (action !== "trigger" && dedupKey === "") errors.push("'dedup_key' is missing and is required for this event_action")
    if (action === "trigger") {
      const p = body["payload"] ?? {}
      if (typeof p.summary !== "string" || p.summary === "") errors.push("'payload.summary' is missing or blank")
      if (typeof p.source !== "string" || p.source === "") errors.push("'payload.source' is missing or blank")
      if (!["critical", "error", "warning", "info"].includes(p.severity)) errors.push("'payload.severity' is invalid (must be one of the following: 'critical', 'warning', 'error' or 'info')")
    }
    if (errors.length > 0) return invalid(...errors)
    state.events.push({ event_action: action, dedup_key: dedupKey, ...(body["payload"] ? { payload: body["payload"] } : {}) })
    // A resolve of an alert that is not open is dropped, as PagerDuty does.
    if (action === "trigger") state.alerts.set(dedupKey, "triggered")
    if (action === "resolve" && state.alerts.get(dedupKey) === "triggered") state.alerts.set(dedupKey, "resolved")
    return c.json({ status: "success", message: "Event processed", dedup_key: dedupKey }, 202)
  })
  const server = yield* startFake(app)
  return { ...server, state, enqueueUrl: `${server.url}/v2/enqueue` }
})
