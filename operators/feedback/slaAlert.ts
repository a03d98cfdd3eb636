/**
 * SLA alert on the speed KPI: the mean of signal-to-publish seconds (a listing's publish
 * time minus its signal's event time) over listings published in the last `windowMinutes`
 * is compared with `thresholdHours` (SLA_THRESHOLD_HOURS). Above it, a trigger goes to the
 * configured destinations (operators/feedback/alerting.ts), unless one was sent less than
 * `cooldownMinutes` ago (SLA_ALERT_COOLDOWN_MINUTES), so a flapping figure pages at most
 * once per cooldown; back under (or no publishes in the window), a resolve closes it.
 *
 * The state (open or not, when it last fired) is in the store (`alert_state`), so a
 * restart neither pages again for an open alert nor forgets to resolve it. The figure is
 * read from the store, not from this process's histogram, so every replica sees the same.
 */
import { Clock, Effect, Schema } from "effect"
import { DurationString } from "../sources/http.ts"
import { decodeConfig, type SettingsInput, source, type StreamDef } from "../../runtime/topology.ts"
import type { AlertNotice } from "../schemas.ts"
import { Store } from "../store/store.ts"
import { Alerter } from "./alerting.ts"

export const SlaAlertConfig = Schema.Struct({
  every: Schema.optionalWith(DurationString, { default: () => "1 minute" }).annotations({ description: "how often the figure is checked" }),
  thresholdHours: Schema.optionalWith(Schema.Number.pipe(Schema.positive()), { default: () => 2 }).annotations({
    description: "SLA on the mean signal-to-publish time (SLA_THRESHOLD_HOURS)"
  }),
  windowMinutes: Schema.optionalWith(Schema.Number.pipe(Schema.positive()), { default: () => 60 }).annotations({
    description: "listings published this far back make the mean"
  }),
  cooldownMinutes: Schema.optionalWith(Schema.Number.pipe(Schema.nonNegative()), { default: () => 30 }).annotations({
    description: "at most one trigger per this many minutes (SLA_ALERT_COOLDOWN_MINUTES)"
  }),
  dedupKey: Schema.optionalWith(Schema.String, { default: () => "desainz-sla-signal-to-publish" }).annotations({
    description: "PagerDuty dedup key: its trigger and resolve meet on it"
  })
}).annotations({ identifier: "SlaAlertConfig" })
export type SlaAlertConfig = typeof SlaAlertConfig.Type

const NAME = "sla-signal-to-publish"

/** One check at `now` (ms): sends what the state calls for and records it; returns the notice sent, if any. */
export const checkSla = (config: SlaAlertConfig, now: number) =>
  Effect.gen(function* () {
    const store = yield* Store
    const alerter = yield* Alerter
    const { mean, count } = yield* store.signalToPublish(new Date(now - config.windowMinutes * 60_000), new Date(now))
    const state = (yield* store.alertState(NAME)) ?? { name: NAME, open: false, lastSentAt: null, lastValue: null }
    const threshold = config.thresholdHours * 3600
    const breached = mean !== null && mean > threshold
    const at = new Date(now).toISOString()
    const hours = (s: number) => (s / 3600).toFixed(2)
    if (breached && !state.open) {
      if (state.lastSentAt !== null && now - state.lastSentAt.getTime() < config.cooldownMinutes * 60_000) {
        yield* Effect.logWarning(`${NAME}: mean ${hours(mean)} h is over ${config.thresholdHours} h, not paged: a trigger went out less than ${config.cooldownMinutes} min ago`)
        yield* store.saveAlertState({ ...state, lastValue: mean })
        return undefined
      }
      const notice = {
        name: NAME,
        action: "trigger" as const,
        summary: `desAInz: mean signal-to-publish ${hours(mean)} h over the last ${config.windowMinutes} min (${count} listings) is above the SLA of ${config.thresholdHours} h`,
        value: mean,
        threshold,
        at
      }
      const sentTo = yield* alerter.send(notice, config.dedupKey)
      yield* store.saveAlertState({ name: NAME, open: true, lastSentAt: new Date(now), lastValue: mean })
      yield* Effect.logWarning(notice.summary)
      return { ...notice, sentTo } satisfies AlertNotice
    }
    if (!breached && state.open) {
      const notice = {
        name: NAME,
        action: "resolve" as const,
        summary: mean === null ? `desAInz: no listings published in the last ${config.windowMinutes} min` : `desAInz: mean signal-to-publish ${hours(mean)} h is back under ${config.thresholdHours} h`,
        value: mean,
        threshold,
        at
      }
      const sentTo = yield* alerter.send(notice, config.dedupKey)
      yield* store.saveAlertState({ ...state, open: false, lastValue: mean })
      yield* Effect.logInfo(notice.summary)
      return { ...notice, sentTo } satisfies AlertNotice
    }
    return undefined
  })

/** The scheduled check; each trigger and resolve is also written to `alerts`. */
export const slaAlert = (config: typeof SlaAlertConfig.Encoded, io: { readonly to: StreamDef<AlertNotice> }, settings?: SettingsInput) => {
  const c = decodeConfig("sla-alert", SlaAlertConfig, config)
  return source({
    name: "sla-alert",
    kind: "feedback-sla-alert",
    to: io.to,
    every: c.every,
    settings,
    config: c,
    poll: Effect.gen(function* () {
      const notice = yield* checkSla(c, yield* Clock.currentTimeMillis)
      return { emissions: notice === undefined ? [] : [{ key: `${notice.name}:${notice.action}:${notice.at}`, timestamp: notice.at, data: notice }] }
    })
  })
}
