/**
 * The HTTP server (hono): health, Prometheus metrics, the topology and a live snapshot
 * for the UI (JSON and SSE), and the dead-letter API. Read-only routes are open (the
 * server binds to 127.0.0.1 unless HOST says otherwise); mutating routes need
 * `Authorization: Bearer $DESAINZ_TOKEN` and are refused outright when no token is set.
 */
import { timingSafeEqual } from "node:crypto"
import { serve } from "@hono/node-server"
import { Cause, Effect, Either, Exit, Option, ParseResult, Redacted, Runtime, Schema } from "effect"
import { Hono, type Context as HonoContext, type MiddlewareHandler } from "hono"
import { cors } from "hono/cors"
import { streamSSE } from "hono/streaming"
import { deadLetterCount, drop, listDeadLetters, requeue, type Selection } from "./dlq.ts"
import { deriveEventId, ENVELOPE_VERSION, makeEnvelopeCodec, newEventId } from "./envelope.ts"
import { describeError, isRetryable, NotFoundError, PermanentError } from "./errors.ts"
import type { Keys } from "./keys.ts"
import { Metrics } from "./metrics.ts"
import { Sql } from "./sql.ts"
import { type ApiContext, type Emission, readersOf, type RouteContext, type SourceNode, type StreamDef, toJson, type Topology } from "./topology.ts"
import { Transport } from "./transport.ts"

export const NodeStats = Schema.Struct({
  name: Schema.String,
  type: Schema.Literal("source", "operator"),
  processed: Schema.Number,
  failed: Schema.Number,
  retried: Schema.Number,
  deadLettered: Schema.Number,
  emitted: Schema.Number,
  claimed: Schema.Number,
  backpressured: Schema.Boolean,
  /** Entries per second since the previous snapshot. */
  ratePerSec: Schema.Number,
  errorsPerSec: Schema.Number,
  p50Ms: Schema.NullOr(Schema.Number),
  p99Ms: Schema.NullOr(Schema.Number),
  dlq: Schema.Number
})
export type NodeStats = typeof NodeStats.Type

export const StreamStats = Schema.Struct({
  name: Schema.String,
  length: Schema.Number,
  lastId: Schema.NullOr(Schema.String),
  groups: Schema.Array(
    Schema.Struct({
      name: Schema.String,
      lag: Schema.NullOr(Schema.Number),
      pending: Schema.Number,
      consumers: Schema.Array(Schema.Struct({ name: Schema.String, pending: Schema.Number, idleMs: Schema.Number }))
    })
  )
})
export type StreamStats = typeof StreamStats.Type

/** One message of the live feed; the UI and the API share this schema. */
export const Snapshot = Schema.Struct({
  time: Schema.String,
  topology: Schema.String,
  transport: Schema.Literal("redis", "embedded"),
  nodes: Schema.Array(NodeStats),
  streams: Schema.Array(StreamStats)
})
export type Snapshot = typeof Snapshot.Type

/**
 * Builds snapshots; rates are measured against the previous snapshot it built. Callers
 * within `reuseMs` of the last one share it, so many SSE clients cost one set of reads.
 */
export const makeSnapshotter = (t: Topology<any>, keys: Keys, reuseMs = 250) =>
  Effect.gen(function* () {
    const transport = yield* Transport
    const m = yield* Metrics
    let previous: { at: number; counts: Map<string, { done: number; failed: number }> } | undefined
    let last: Snapshot | undefined
    const build = Effect.gen(function* () {
      const now = Date.now()
      const counts = new Map<string, { done: number; failed: number }>()
      const streams = yield* Effect.forEach(t.streams, (s) =>
        Effect.map(transport.info(keys.stream(s.name)), (info): StreamStats => ({
          name: s.name,
          length: info.length,
          lastId: info.lastId,
          groups: info.groups.map((g) => ({ name: g.name, lag: g.lag, pending: g.pending, consumers: g.consumers }))
        }))
      )
      const nodes = yield* Effect.forEach(t.nodes, (n) =>
        Effect.map(deadLetterCount(keys, n.name), (dlq): NodeStats => {
          const op = { operator: n.name }
          const done = n._tag === "Source" ? m.emitted.get({ node: n.name }) : m.processed.get(op)
          const failed = m.failed.get(op)
          counts.set(n.name, { done, failed })
          const before = previous?.counts.get(n.name)
          const seconds = previous ? Math.max(0.001, (now - previous.at) / 1000) : 1
          const p50 = m.processingSeconds.quantile(op, 0.5)
          const p99 = m.processingSeconds.quantile(op, 0.99)
          return {
            name: n.name,
            type: n._tag === "Source" ? "source" : "operator",
            processed: m.processed.get(op),
            failed,
            retried: m.retried.get(op),
            deadLettered: m.deadLettered.get(op),
            emitted: m.emitted.get({ node: n.name }),
            claimed: m.claimed.get(op),
            backpressured: m.backpressured.get(op) === 1,
            ratePerSec: before ? (done - before.done) / seconds : 0,
            errorsPerSec: before ? (failed - before.failed) / seconds : 0,
            p50Ms: p50 === null ? null : p50 * 1000,
            p99Ms: p99 === null ? null : p99 * 1000,
            dlq
          }
        })
      )
      previous = { at: now, counts }
      last = { time: new Date(now).toISOString(), topology: t.name, transport: transport.kind, nodes, streams }
      return last
    })
    return Effect.suspend(() => (last !== undefined && previous !== undefined && Date.now() - previous.at < reuseMs ? Effect.succeed(last) : build))
  })

const SelectionBody = Schema.Union(
  Schema.Struct({ all: Schema.Literal(true) }),
  Schema.Struct({ ids: Schema.NonEmptyArray(Schema.String.pipe(Schema.pattern(/^\d+-\d+$/))) })
)

export interface HttpOptions {
  readonly topology: Topology<any>
  readonly keys: Keys
  readonly token: Option.Option<Redacted.Redacted<string>>
  readonly corsOrigins: ReadonlyArray<string>
  /** Interval of the SSE snapshot feed. */
  readonly feedEveryMs?: number
  /** How long a readiness probe waits for each engine; default 3 s. */
  readonly readyTimeoutMs?: number
  /** Extra routes (the UI's static files, webhooks), mounted after the API. */
  readonly mount?: (app: Hono) => void
}

const bearer = (token: Option.Option<Redacted.Redacted<string>>): MiddlewareHandler => async (c, next) => {
  if (Option.isNone(token)) {
    return c.json({ error: "mutating endpoints are disabled: set DESAINZ_TOKEN to enable them" }, 401)
  }
  const given = Buffer.from(/^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "")?.[1] ?? "")
  const expected = Buffer.from(Redacted.value(token.value))
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return c.json({ error: "missing or wrong bearer token" }, 401)
  }
  return next()
}

export const makeHttpApp = (options: HttpOptions) =>
  Effect.gen(function* () {
    const runtime = yield* Effect.runtime<Transport | Metrics>()
    const run = Runtime.runPromise(runtime)
    // The application's services too (the store, for readiness and the application's routes).
    const services = yield* Effect.runtime<never>()
    const runWithServices = <A, E>(effect: Effect.Effect<A, E, any>) => Runtime.runPromiseExit(services)(effect as Effect.Effect<A, E, never>)
    const metrics = yield* Metrics
    const transport = yield* Transport
    const snapshot = yield* makeSnapshotter(options.topology, options.keys)
    const { topology: t, keys } = options
    const started = Date.now()
    const app = new Hono()

    if (options.corsOrigins.length > 0) app.use("/api/*", cors({ origin: [...options.corsOrigins] }))

    /** Runs an effect for a route; known failures become 4xx with the reason, others 500. */
    const respond = async <A>(c: HonoContext, effect: Effect.Effect<A, unknown, Transport | Metrics>, status = 200) => {
      const result = await run(Effect.either(effect))
      if (Either.isRight(result)) return c.json(result.right as object, status as 200)
      const error = result.left
      const code = error instanceof NotFoundError ? 404 : isRetryable(error) ? 503 : 400
      return c.json({ error: describeError(error) }, code)
    }

    const about = () => ({ topology: t.name, transport: transport.kind, uptimeSeconds: Math.round((Date.now() - started) / 1000) })
    // Liveness: the process runs and serves (restarting it would not fix an engine outage).
    app.get("/health/live", (c) => c.json({ status: "ok", ...about() }))
    // Readiness: the engines it needs answer, each within the timeout; else 503 naming what is down.
    const ready = async (c: HonoContext) => {
      const probe = (name: string, effect: Effect.Effect<unknown, unknown>) =>
        effect.pipe(
          Effect.timeoutFail({ duration: options.readyTimeoutMs ?? 3_000, onTimeout: () => new Error(`no answer within ${options.readyTimeoutMs ?? 3_000} ms`) }),
          Effect.match({ onSuccess: () => undefined, onFailure: (e) => `${name}: ${describeError(e)}` })
        )
      const store = Effect.flatMap(Effect.serviceOption(Sql), (sql) =>
        Option.isNone(sql) ? Effect.void : Effect.tryPromise(() => sql.value.client`select 1`)
      )
      const exit = await runWithServices(
        Effect.all([probe(`transport (${transport.kind})`, transport.ping), probe("store", store)], { concurrency: "unbounded" })
      )
      const down = Exit.isSuccess(exit) ? exit.value.filter((d): d is string => d !== undefined) : [describeError(Cause.squash(exit.cause))]
      return down.length === 0 ? c.json({ status: "ok", ...about() }) : c.json({ status: "unavailable", down }, 503)
    }
    app.get("/health/ready", ready)
    // The old path: readiness, which is what its callers meant (is this instance usable?).
    app.get("/health", ready)

    app.get("/metrics", async (c) => {
      const gauges = metrics.registry
      const length = gauges.gauge("desainz_stream_length", "Entries in a stream")
      const lag = gauges.gauge("desainz_group_lag", "Entries not yet delivered to a consumer group")
      const pending = gauges.gauge("desainz_group_pending", "Entries delivered to a consumer group but not acknowledged")
      const dlq = gauges.gauge("desainz_dlq_length", "Entries in an operator's dead-letter stream")
      await run(
        Effect.forEach(t.streams, (s) =>
          Effect.map(transport.info(keys.stream(s.name)), (info) => {
            length.set({ stream: s.name }, info.length)
            for (const g of info.groups) {
              lag.set({ stream: s.name, group: g.name }, g.lag ?? info.length)
              pending.set({ stream: s.name, group: g.name }, g.pending)
            }
          })
        ).pipe(
          Effect.zipRight(Effect.forEach(t.nodes, (n) => Effect.map(deadLetterCount(keys, n.name), (count) => dlq.set({ operator: n.name }, count)))),
          Effect.ignore
        )
      )
      return c.text(gauges.render(), 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" })
    })

    app.get("/api/topology", (c) => c.json(toJson(t)))
    app.get("/api/snapshot", (c) => respond(c, snapshot))
    app.get("/api/events", (c) =>
      streamSSE(c, async (stream) => {
        let open = true
        stream.onAbort(() => {
          open = false
        })
        let id = 0
        while (open) {
          const result = await run(Effect.either(snapshot))
          if (Either.isRight(result)) await stream.writeSSE({ event: "snapshot", id: String(id++), data: JSON.stringify(result.right) })
          await stream.sleep(options.feedEveryMs ?? 1_000)
        }
      })
    )

    const knownStream = (name: string) => t.streams.some((s) => s.name === name) || name.startsWith("dlq.")
    app.get("/api/streams/:stream/entries", (c) => {
      const name = c.req.param("stream")
      if (!knownStream(name)) return c.json({ error: `unknown stream "${name}"` }, 404)
      const count = Math.min(500, Math.max(1, Number(c.req.query("count") ?? 50) || 50))
      const key = name.startsWith("dlq.") ? keys.dlq(name.slice(4)) : keys.stream(name)
      return respond(c, Effect.map(transport.range(key, { reverse: true, count }), (entries) => ({ stream: name, entries })))
    })
    app.get("/api/streams/:stream", (c) => {
      const name = c.req.param("stream")
      if (!knownStream(name)) return c.json({ error: `unknown stream "${name}"` }, 404)
      return respond(c, transport.info(name.startsWith("dlq.") ? keys.dlq(name.slice(4)) : keys.stream(name)))
    })

    app.get("/api/dlq/:operator", (c) =>
      respond(
        c,
        Effect.map(listDeadLetters(t, keys, c.req.param("operator"), { count: Math.max(1, Number(c.req.query("count") ?? 100) || 100) }), (entries) => ({ entries }))
      )
    )

    const auth = bearer(options.token)
    const selectionOf = async (c: HonoContext): Promise<Either.Either<Selection, string>> => {
      const text = await c.req.text()
      if (text.length > 1_000_000) return Either.left("body too large")
      let json: unknown
      try {
        json = JSON.parse(text)
      } catch {
        return Either.left('body must be JSON: {"all": true} or {"ids": ["<id>", ...]}')
      }
      return Either.mapLeft(Schema.decodeUnknownEither(SelectionBody)(json), (e) => ParseResult.TreeFormatter.formatErrorSync(e))
    }
    for (const [action, run] of [
      ["requeue", requeue],
      ["drop", drop]
    ] as const) {
      app.post(`/api/dlq/:operator/${action}`, auth, async (c) => {
        const selection = await selectionOf(c)
        if (Either.isLeft(selection)) return c.json({ error: selection.left }, 400)
        return respond(c, Effect.map(run(t, keys, c.req.param("operator"), selection.right), (count) => ({ [action === "requeue" ? "requeued" : "dropped"]: count })))
      })
    }


    /** Appends as `runSource` does: event ids from emission keys, event time from emissions. */
    const emitTo = <O>(emitter: string, target: StreamDef<O>) => {
      const codec = makeEnvelopeCodec(target.name, target.schema)
      const stream = keys.stream(target.name)
      return (emissions: ReadonlyArray<Emission<O>>) =>
        Effect.try({
          try: () =>
            emissions.map((e) => {
              const eventId = e.key !== undefined ? deriveEventId(emitter, e.key) : newEventId()
              return codec.encode({
                eventType: target.eventType,
                eventId,
                timestamp: e.timestamp ?? new Date().toISOString(),
                source: emitter,
                version: ENVELOPE_VERSION,
                correlationId: eventId,
                data: e.data
              })
            }),
          catch: (e) => new PermanentError({ message: `${emitter}: not a valid ${target.name} entry: ${describeError(e)}` })
        }).pipe(
          Effect.flatMap((entries) =>
            entries.length === 0 ? Effect.succeed([]) : Effect.as(transport.append({ stream, entries }), entries.map((f) => f["eventId"]!))
          ),
          Effect.tap((ids) => Effect.sync(() => metrics.emitted.inc({ node: emitter }, ids.length)))
        )
    }

    const routeContext = <O>(node: SourceNode<O, any>): RouteContext<O> => {
      const groups = readersOf(t, node.to.name).map(keys.group)
      const stream = keys.stream(node.to.name)
      return {
        emit: emitTo(node.name, node.to),
        backlog: groups.length === 0 ? Effect.succeed(0) : transport.backlog([{ stream, groups }]),
        run: (effect) => Runtime.runPromiseExit(runtime)(effect)
      }
    }
    for (const node of t.nodes) if (node._tag === "Source" && node.routes !== undefined) node.routes(app, routeContext(node))
    const apiContext: ApiContext = {
      run: runWithServices,
      emit: (emitter, target, emissions) => emitTo(emitter, target)(emissions),
      requireToken: auth
    }
    for (const routes of t.api ?? []) routes(app, apiContext)

    options.mount?.(app)
    app.notFound((c) => c.json({ error: `no route ${c.req.method} ${c.req.path}` }, 404))
    app.onError((error, c) => c.json({ error: describeError(error) }, 500))
    return app
  })

/** Serves the app until the scope closes. */
export const serveHttp = (app: Hono, options: { readonly port: number; readonly host: string }) =>
  Effect.acquireRelease(
    Effect.async<ReturnType<typeof serve>, Error>((resume) => {
      const server = serve({ fetch: app.fetch, port: options.port, hostname: options.host }, () => resume(Effect.succeed(server)))
      server.once("error", (e) => resume(Effect.fail(e)))
    }),
    (server) =>
      Effect.async<void>((resume) => {
        // SSE clients hold connections open; close them so shutdown is not held up.
        ;(server as { closeAllConnections?: () => void }).closeAllConnections?.()
        server.close(() => resume(Effect.void))
      })
  )
