/**
 * The SLA alert against a fake PagerDuty Events API v2 (test/fakes/pagerduty.ts) and a
 * generic webhook: trigger when the mean signal-to-publish time is over the SLA, nothing
 * more within the cooldown (also after a restart: the state is in the store), resolve
 * when it is back under; PagerDuty's 400 is permanent, its 429 retryable.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import { Effect, Redacted, Schema } from "effect"
import { Hono } from "hono"
import * as Alerting from "../../operators/feedback/alerting.ts"
import { checkSla, SlaAlertConfig } from "../../operators/feedback/slaAlert.ts"
import { Store } from "../../operators/store/store.ts"
import { httpFailure } from "../../runtime/httpClient.ts"
import { ROUTING_KEY, startPagerDutyFake } from "../fakes/pagerduty.ts"
import { jsonResponse, startFake } from "../fakes/server.ts"
import { failure } from "../sources/harness.ts"
import { seedListings, storeLayer } from "./support.ts"

const HOUR = 3_600_000
const T0 = Date.parse("2026-03-01T12:00:00Z")
const config = Schema.decodeSync(SlaAlertConfig)({ thresholdHours: 2, windowMinutes: 60, cooldownMinutes: 30 })

describe("sla alert", () => {
  it("refuses a check interval that is not a duration, naming the field", () => {
    expect(() => Schema.decodeUnknownSync(SlaAlertConfig)({ every: "every so often" })).toThrow(/every[\s\S]*expected a duration/)
  })

  layer(storeLayer, { timeout: "120 seconds", excludeTestServices: true })((it) => {
    it.scoped("triggers once over the SLA, respects the cooldown across a restart, resolves back under", () =>
      Effect.gen(function* () {
        const store = yield* Store
        const pd = yield* startPagerDutyFake
        const hooks: Array<unknown> = []
        const hookApp = new Hono().post("/hook", async (c) => {
          hooks.push(await c.req.json())
          return c.body(null, 204)
        })
        const hook = yield* startFake(hookApp)
        const alerter = () => Alerting.layer({ source: "desainz-test", pagerduty: { url: pd.enqueueUrl, routingKey: Redacted.make(ROUTING_KEY) }, webhookUrl: `${hook.url}/hook` })
        const check = (at: number) => checkSla(config, at).pipe(Effect.provide(alerter()))

        // Two listings published in the hour before T0, 5 h and 3 h after their signals: mean 4 h.
        yield* seedListings(store, "etsy", ["slow-1", "slow-2"], {
          eventAt: (i) => new Date(T0 - (i === 0 ? 5.5 : 3.5) * HOUR),
          publishedAt: () => new Date(T0 - 0.5 * HOUR)
        })
        const first = yield* check(T0)
        expect(first).toMatchObject({ action: "trigger", sentTo: ["pagerduty", "webhook"], value: 4 * 3600 })
        expect(pd.state.events).toHaveLength(1)
        expect(pd.state.events[0]).toMatchObject({ event_action: "trigger", dedup_key: config.dedupKey, payload: { severity: "error", source: "desainz-test" } })
        expect(pd.state.events[0]!.payload!.summary).toContain("4.00 h")
        expect(hooks[0]).toMatchObject({ alert: "sla-signal-to-publish", action: "trigger", threshold: 7200 })

        // Still breached a minute later, and again from a fresh alerter (a restart): no second page.
        expect(yield* check(T0 + 60_000)).toBeUndefined()
        expect(yield* check(T0 + 120_000)).toBeUndefined()
        expect(pd.state.events).toHaveLength(1)

        // A fast publish makes the window's mean 0.5 h: resolved, on the same dedup key.
        yield* seedListings(store, "etsy", ["fast-1"], { eventAt: () => new Date(T0 + 0.5 * HOUR), publishedAt: () => new Date(T0 + HOUR) })
        const resolved = yield* check(T0 + 1.2 * HOUR)
        expect(resolved).toMatchObject({ action: "resolve" })
        expect(pd.state.events.map((e) => e.event_action)).toEqual(["trigger", "resolve"])
        expect(pd.state.alerts.get(config.dedupKey)).toBe("resolved")

        // Breached again (the first page was over 30 min ago: it pages), resolved, then breached
        // again within 30 minutes of that page: the cooldown holds the flap back.
        yield* seedListings(store, "etsy", ["slow-3"], { eventAt: () => new Date(T0 - 4 * HOUR), publishedAt: () => new Date(T0 + 1.25 * HOUR) })
        expect(yield* check(T0 + 1.3 * HOUR)).toMatchObject({ action: "trigger" })
        yield* seedListings(store, "etsy", ["fast-2", "fast-3", "fast-4"], { eventAt: () => new Date(T0 + 1.3 * HOUR), publishedAt: () => new Date(T0 + 1.35 * HOUR) })
        expect(yield* check(T0 + 1.4 * HOUR)).toMatchObject({ action: "resolve" })
        yield* seedListings(store, "etsy", ["slow-4", "slow-5", "slow-6", "slow-7"], { eventAt: () => new Date(T0 - 10 * HOUR), publishedAt: () => new Date(T0 + 1.45 * HOUR) })
        expect(yield* check(T0 + 1.5 * HOUR)).toBeUndefined()
        expect(pd.state.events.map((e) => e.event_action)).toEqual(["trigger", "resolve", "trigger", "resolve"])
        // Past the cooldown, the standing breach pages.
        expect(yield* check(T0 + 1.3 * HOUR + 31 * 60_000)).toMatchObject({ action: "trigger" })
        expect(pd.state.events).toHaveLength(5)
      })
    )

    it.scoped("PagerDuty's 400 is permanent with its errors, a 429 retryable", () =>
      Effect.gen(function* () {
        const pd = yield* startPagerDutyFake
        const send = (key: string) =>
          Effect.flatMap(Alerting.Alerter, (a) =>
            a.send({ name: "x", action: "trigger", summary: "s", value: 1, threshold: 0, at: new Date(T0).toISOString() }, "k")
          ).pipe(Effect.provide(Alerting.layer({ source: "t", pagerduty: { url: pd.enqueueUrl, routingKey: Redacted.make(key) } })))
        const bad = yield* failure(send("short"))
        expect(bad._tag).toBe("PermanentError")
        expect(httpFailure(bad)?.body).toContain("Length of 'routing_key' is incorrect")
        pd.inject(jsonResponse(429, { status: "throttle event", message: "Requests for this service are arriving too quickly." }, { "retry-after": "60" }))
        const limited = yield* failure(send(ROUTING_KEY))
        expect(limited._tag).toBe("RetryableError")
        expect(yield* send(ROUTING_KEY)).toEqual(["pagerduty"])
      })
    )
  })
})
