/**
 * Process entry points: `start` (every node + the HTTP server) and `worker` (a subset of
 * nodes, for scaling one role out). Both stop gracefully on SIGTERM/SIGINT: no new
 * reads, in-flight batches finished and acknowledged, exit 0. A second signal exits at once.
 */
import { pathToFileURL } from "node:url"
import { resolve } from "node:path"
import { Deferred, Duration, Effect, Exit, Layer, Logger, LogLevel, Option, type Scope } from "effect"
import type { Hono } from "hono"
import { RuntimeConfig, transportLayer } from "./config.ts"
import { TopologyError } from "./errors.ts"
import { makeHttpApp, serveHttp } from "./http.ts"
import { makeKeys } from "./keys.ts"
import { Metrics } from "./metrics.ts"
import { mountStatic } from "./static.ts"
import type { Topology } from "./topology.ts"
import type { Transport } from "./transport.ts"
import { runWorker } from "./worker.ts"

/** Loads a topology module (default export), e.g. `./topology.ts`. */
export const loadTopology = (path: string) =>
  Effect.tryPromise({
    try: async () => {
      const module = (await import(pathToFileURL(resolve(path)).href)) as { default?: Topology<any> }
      const t = module.default
      if (t === undefined || !Array.isArray(t.nodes)) {
        throw new TopologyError({ message: `${path} must \`export default topology({...})\`` })
      }
      return t
    },
    catch: (cause) =>
      cause instanceof TopologyError ? cause : new TopologyError({ message: `cannot load ${path}: ${cause instanceof Error ? cause.message : String(cause)}` })
  })

export interface RunOptions {
  readonly topology: Topology<any>
  readonly only?: ReadonlyArray<string> | undefined
  /** Serve the HTTP API (always for `start`; for `worker` when a port is given). */
  readonly http: boolean
  readonly port?: number | undefined
  /** Routes added by the application (the UI's static files, webhooks). */
  readonly mount?: (app: Hono) => void
}

/** A logger on stderr, so stdout stays clean for command output (JSON, tables). */
export const loggerLayer = Layer.merge(
  Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.logfmtLogger)),
  Logger.minimumLogLevel(
    LogLevel.allLevels.find((l) => l.label === (process.env["LOG_LEVEL"] ?? "info").toUpperCase().replace("WARNING", "WARN")) ??
      LogLevel.Info
  )
)

/** Runs until SIGTERM/SIGINT; resolves after a graceful stop. */
export const run = (options: RunOptions) =>
  Effect.gen(function* () {
    const config = yield* RuntimeConfig
    const t = options.topology
    const keys = makeKeys(t.name)
    const stop = yield* Deferred.make<void>()
    let signals = 0
    const onSignal = (signal: NodeJS.Signals) => {
      signals++
      if (signals > 1) process.exit(130)
      process.stderr.write(`desainz: ${signal}, finishing in-flight work (send again to exit at once)\n`)
      Deferred.unsafeDone(stop, Exit.void)
      // The worker interrupts in-flight work after the timeout; this covers what it cannot
      // (closing connections to an engine that does not answer).
      setTimeout(() => {
        process.stderr.write(`desainz: not stopped ${config.shutdownSeconds + 5} s after ${signal}; exiting\n`)
        process.exit(1)
      }, (config.shutdownSeconds + 5) * 1_000).unref()
    }
    process.on("SIGTERM", onSignal)
    process.on("SIGINT", onSignal)
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        process.off("SIGTERM", onSignal)
        process.off("SIGINT", onSignal)
      })
    )

    const program = Effect.gen(function* () {
      if (options.http) {
        const app = yield* makeHttpApp({
          topology: t,
          keys,
          token: config.token,
          corsOrigins: config.corsOrigins,
          // `start` (all nodes) also serves the UI; application routes go first.
          mount: (app) => {
            options.mount?.(app)
            if (options.only === undefined || options.only.length === 0) mountStatic()(app)
          }
        })
        const port = options.port ?? config.port
        yield* serveHttp(app, { port, host: config.host })
        yield* Effect.logInfo(`http://${config.host}:${port}  (/health, /metrics, /api)`)
      }
      yield* Effect.logInfo(`topology ${t.name} on the ${Option.isSome(config.redisUrl) ? "redis" : "embedded"} transport`)
      yield* runWorker({
        topology: t,
        only: options.only,
        stop,
        dlqRetention: { maxLen: config.dlqMaxLen, maxAgeMs: config.dlqMaxAgeHours * 3_600_000 },
        shutdownTimeout: Duration.seconds(config.shutdownSeconds)
      })
      // Finite sources may end before a stop is asked for; keep serving until then.
      yield* Deferred.await(stop)
    })
    const services = Layer.mergeAll(transportLayer(config.redisUrl), Metrics.layer, t.services as Layer.Layer<never, unknown>)
    yield* (program as Effect.Effect<void, unknown, Transport | Metrics | Scope.Scope>).pipe(Effect.provide(services))
  }).pipe(Effect.scoped)
