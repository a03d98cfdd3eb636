/**
 * Where alerts go: the PagerDuty Events API v2 and/or a generic JSON webhook.
 *
 * PagerDuty (developer.pagerduty.com, "Events API v2": docs/events-API-v2 in
 * PagerDuty/developer-docs): `POST https://events.pagerduty.com/v2/enqueue` with
 * `{ routing_key, event_action: trigger|acknowledge|resolve, dedup_key, payload: { summary,
 * source, severity, timestamp, component, custom_details } }`; a resolve needs only the
 * routing key, the action and the dedup key. 202 `{ status: "success", message: "Event
 * processed", dedup_key }`; 400 `{ status: "invalid event", message, errors: [...] }` (not
 * retried); 429 and 5xx are retried (runtime/httpClient.ts). One dedup key per alert, so a
 * resolve closes the incident its trigger opened, also after a restart.
 *
 * The webhook gets `{ alert, action, summary, value, threshold, at }` as JSON.
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { Config, type ConfigError, Context, Effect, Layer, Option, Redacted, Schema } from "effect"
import * as Http from "../../runtime/httpClient.ts"
import type { AlertNotice } from "../schemas.ts"

export const PAGERDUTY_ROUTING_KEY = "PAGERDUTY_ROUTING_KEY"
export const PAGERDUTY_URL = "PAGERDUTY_URL"
export const ALERT_WEBHOOK_URL = "ALERT_WEBHOOK_URL"

const Accepted = Schema.Struct({ status: Schema.String, message: Schema.String, dedup_key: Schema.optional(Schema.String) })

export interface AlerterShape {
  /** Sends to every configured destination; returns their names. */
  readonly send: (notice: Omit<AlertNotice, "sentTo">, dedupKey: string) => Effect.Effect<ReadonlyArray<string>, Http.HttpError>
}

export class Alerter extends Context.Tag("desainz/Alerter")<Alerter, AlerterShape>() {}

export interface AlerterOptions {
  readonly pagerduty?: { readonly url: string; readonly routingKey: Redacted.Redacted<string> } | undefined
  readonly webhookUrl?: string | undefined
  /** `payload.source` of PagerDuty events: the system with the problem. */
  readonly source: string
}

export const make = (options: AlerterOptions) =>
  Effect.map(HttpClient.HttpClient, (client): AlerterShape => ({
    send: (notice, dedupKey) =>
      Effect.gen(function* () {
        const sent: Array<string> = []
        const pd = options.pagerduty
        if (pd !== undefined) {
          const routing_key = Redacted.value(pd.routingKey)
          const body =
            notice.action === "trigger"
              ? {
                  routing_key,
                  event_action: "trigger",
                  dedup_key: dedupKey,
                  payload: {
                    summary: notice.summary.slice(0, 1024),
                    source: options.source,
                    severity: "error",
                    timestamp: notice.at,
                    component: "pipeline",
                    group: "desainz",
                    class: notice.name,
                    custom_details: { value: notice.value, threshold: notice.threshold }
                  }
                }
              : { routing_key, event_action: "resolve", dedup_key: dedupKey }
          yield* Http.sendJson(HttpClientRequest.post(pd.url).pipe(HttpClientRequest.bodyUnsafeJson(body)), Accepted, { what: `pagerduty ${notice.action}` })
          sent.push("pagerduty")
        }
        if (options.webhookUrl !== undefined) {
          yield* Http.send(
            HttpClientRequest.post(options.webhookUrl).pipe(
              HttpClientRequest.bodyUnsafeJson({ alert: notice.name, action: notice.action, summary: notice.summary, value: notice.value, threshold: notice.threshold, at: notice.at })
            ),
            { what: `alert webhook ${notice.action}` }
          )
          sent.push("webhook")
        }
        return sent
      }).pipe(Effect.provideService(HttpClient.HttpClient, client))
  }))

export const layer = (options: AlerterOptions): Layer.Layer<Alerter> => Layer.effect(Alerter, make(options)).pipe(Layer.provide(Http.layer))

/** From PAGERDUTY_ROUTING_KEY (+ PAGERDUTY_URL) and ALERT_WEBHOOK_URL; with neither, alerts are only logged and recorded. */
export const layerConfig = (source: string): Layer.Layer<Alerter, ConfigError.ConfigError> =>
  Layer.unwrapEffect(
    Effect.gen(function* () {
      const routingKey = yield* Config.option(Config.redacted(Config.nonEmptyString(PAGERDUTY_ROUTING_KEY)))
      const url = yield* Config.string(PAGERDUTY_URL).pipe(Config.withDefault("https://events.pagerduty.com/v2/enqueue"))
      const webhookUrl = yield* Config.option(Config.nonEmptyString(ALERT_WEBHOOK_URL))
      return layer({
        source,
        pagerduty: Option.match(routingKey, { onNone: () => undefined, onSome: (key) => ({ url, routingKey: key }) }),
        webhookUrl: Option.getOrUndefined(webhookUrl)
      })
    })
  )
