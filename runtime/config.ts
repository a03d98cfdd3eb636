/**
 * Runtime configuration, from the environment. Every variable is listed in `.env.example`
 * and the README; secrets are `Redacted` and never logged.
 */
import { Config, Effect, Layer, Option, Redacted } from "effect"
import * as EmbeddedTransport from "./transport/embedded.ts"
import * as RedisTransport from "./transport/redis.ts"
import { isRedisUrl, REDIS_URL_FORMAT } from "./transport/resp.ts"
import type { TransportError } from "./errors.ts"
import type { Transport } from "./transport.ts"

/** A whole number > 0 from the environment, `fallback` when unset. */
export const positiveInteger = (name: string, fallback: number): Config.Config<number> =>
  Config.integer(name).pipe(Config.withDefault(fallback), Config.validate({ message: `${name} must be a positive integer`, validation: (n) => n > 0 }))

export const RuntimeConfig = Config.all({
  redisUrl: Config.option(
    Config.redacted("REDIS_URL").pipe(
      Config.validate({ message: `REDIS_URL: expected ${REDIS_URL_FORMAT}`, validation: (url) => isRedisUrl(Redacted.value(url)) })
    )
  ),
  port: Config.port("PORT").pipe(Config.withDefault(8080)),
  host: Config.string("HOST").pipe(Config.withDefault("127.0.0.1")),
  token: Config.option(Config.redacted("DESAINZ_TOKEN")),
  /** Comma-separated origins allowed to call the API from a browser; none by default. */
  corsOrigins: Config.string("CORS_ORIGINS").pipe(
    Config.withDefault(""),
    Config.map((s) => s.split(",").map((o) => o.trim()).filter((o) => o.length > 0))
  ),
  /** Dead letters kept per node: the newest DLQ_MAX_LEN, none older than DLQ_MAX_AGE_HOURS. */
  dlqMaxLen: Config.integer("DLQ_MAX_LEN").pipe(
    Config.withDefault(10_000),
    Config.validate({ message: "DLQ_MAX_LEN: expected a whole number of entries >= 1", validation: (n) => n >= 1 })
  ),
  dlqMaxAgeHours: Config.number("DLQ_MAX_AGE_HOURS").pipe(
    Config.withDefault(168),
    Config.validate({ message: "DLQ_MAX_AGE_HOURS: expected a number of hours > 0", validation: (n) => n > 0 })
  ),
  /** How long a stop may take to finish in-flight work before it is left pending and the process exits. */
  shutdownSeconds: Config.number("DESAINZ_SHUTDOWN_SECONDS").pipe(
    Config.withDefault(30),
    Config.validate({ message: "DESAINZ_SHUTDOWN_SECONDS: expected a number of seconds > 0", validation: (n) => n > 0 })
  )
})
export type RuntimeConfig = Config.Config.Success<typeof RuntimeConfig>

/** The running server that the command line's HTTP commands call: `DESAINZ_URL`, else this machine's `PORT`. */
export const ServerUrl: Config.Config<string> = Config.string("DESAINZ_URL").pipe(
  Config.orElse(() => Config.map(Config.port("PORT").pipe(Config.withDefault(8080)), (port) => `http://127.0.0.1:${port}`))
)

/** Redis when `REDIS_URL` is set, else the in-process transport. */
export const transportLayer = (redisUrl: Option.Option<Redacted.Redacted<string>>): Layer.Layer<Transport, TransportError> =>
  Option.match(redisUrl, {
    onNone: () => EmbeddedTransport.layer,
    onSome: (url) => RedisTransport.layer({ url })
  })

export const TransportFromConfig: Layer.Layer<Transport, import("effect").ConfigError.ConfigError | TransportError> = Layer.unwrapEffect(
  Effect.map(RuntimeConfig, (c) => transportLayer(c.redisUrl))
)
