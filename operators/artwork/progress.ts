/**
 * Live generation progress: the generate operator publishes each candidate's state
 * (queued, executing node + step, post-processing, done / failed with the reason) and the
 * mocked-up node says when its mock-ups are stored; the API streams the states to the UI
 * over SSE (`/api/generations/events`). The latest state per candidate is kept (bounded,
 * expiring), so a client that connects mid-run starts from the current picture.
 *
 * One layer per backend, as the transport: with `REDIS_URL` the states cross processes
 * and hosts through Redis (a Lua script stores the latest state in a hash under the
 * topology's key prefix and PUBLISHes it; each subscribing process holds one pub/sub
 * connection, PINGed so a half-open one is found and reopened), so a generate worker
 * beside ComfyUI on a GPU host reaches the UI served elsewhere. Without it (`npm start`, one process) they stay in the process.
 *
 * Progress is advisory: publishing never waits on Redis nor fails a generation. A state
 * that cannot be published is logged (warn once per outage, then debug) and counted in
 * `desainz_generation_progress_dropped_total`; a malformed message on the channel is
 * dropped the same way, with the reason, and never stops the subscriber.
 */
import { readFileSync } from "node:fs"
import { Config, Context, Effect, Either, Layer, Option, ParseResult, Redacted, Runtime, Schema } from "effect"
import { Redis } from "ioredis"
import { describeError, RetryableError } from "../../runtime/errors.ts"
import { makeKeys } from "../../runtime/keys.ts"
import { execMulti } from "../../runtime/redisMulti.ts"
import { Metrics } from "../../runtime/metrics.ts"

export const GenerationPhase = Schema.Literal("queued", "executing", "post-processing", "done", "mocked-up", "failed")
export type GenerationPhase = typeof GenerationPhase.Type

export const GenerationState = Schema.Struct({
  generationId: Schema.UUID,
  ideaId: Schema.UUID,
  candidate: Schema.Int,
  candidates: Schema.Int,
  phase: GenerationPhase,
  /** The node executing (ComfyUI) or the step of the procedural designer. */
  node: Schema.optional(Schema.String),
  value: Schema.optional(Schema.Number),
  max: Schema.optional(Schema.Number),
  server: Schema.optional(Schema.String),
  reason: Schema.optional(Schema.String),
  at: Schema.String
})
export type GenerationState = typeof GenerationState.Type

export interface GenerationProgressService {
  /** Returns at once; never fails. A state it cannot publish is logged and counted. */
  readonly publish: (state: Omit<GenerationState, "at">) => Effect.Effect<void>
  /**
   * Calls `listener` with every state published from now on (by any process on the same
   * backend) once this succeeds, and `onGap` when states may have been missed (the
   * subscription was reopened: read `current` again); returns the unsubscribe.
   */
  readonly subscribe: (listener: (state: GenerationState) => void, onGap?: () => void) => Effect.Effect<() => void, RetryableError>
  /** The latest state of each recent candidate, oldest first. */
  readonly current: Effect.Effect<ReadonlyArray<GenerationState>, RetryableError>
}

export interface ProgressOptions {
  /** How many candidates' latest states are kept; default 500. */
  readonly keep?: number | undefined
  /** How long a state is kept after it was published (Redis); default one hour. */
  readonly ttlMs?: number | undefined
}

const DEFAULTS = { keep: 500, ttlMs: 3_600_000 }
const fieldOf = (s: Pick<GenerationState, "generationId" | "candidate">) => `${s.generationId}:${s.candidate}`

const dropped = (metrics: Option.Option<Metrics["Type"]>, reason: "publish-failed" | "backlog" | "malformed") =>
  Option.map(metrics, (m) =>
    m.registry
      .counter("desainz_generation_progress_dropped_total", "Generation progress states not published or not delivered (the generation went on), by reason")
      .inc({ reason })
  )

const tell = <A extends ReadonlyArray<unknown>>(listeners: ReadonlySet<(...args: A) => void>, ...args: A) => {
  for (const listener of listeners) {
    try {
      listener(...args)
    } catch {
      // A failing subscriber (a closed SSE stream) must not stop the others nor the generation.
    }
  }
}

// ---------------------------------------------------------------------------------------
// In-process: `desainz start` without REDIS_URL

export const makeInProcess = (options: ProgressOptions = {}): GenerationProgressService => {
  const keep = options.keep ?? DEFAULTS.keep
  const listeners = new Set<(state: GenerationState) => void>()
  const latest = new Map<string, GenerationState>()
  return {
    publish: (input) =>
      Effect.sync(() => {
        const state: GenerationState = { ...input, at: new Date().toISOString() }
        const key = fieldOf(state)
        latest.delete(key)
        latest.set(key, state)
        if (latest.size > keep) latest.delete(latest.keys().next().value!)
        tell(listeners, state)
      }),
    subscribe: (listener) =>
      Effect.sync(() => {
        listeners.add(listener)
        return () => void listeners.delete(listener)
      }),
    current: Effect.sync(() => [...latest.values()])
  }
}

// ---------------------------------------------------------------------------------------
// Redis: publisher and subscribers in any process

export interface RedisProgressOptions extends ProgressOptions {
  readonly url: Redacted.Redacted<string>
  /** The topology's name: the keys and the channel live under its prefix. */
  readonly topology: string
  /**
   * How long Redis may take to answer, and how often an idle subscriber PINGs to find a
   * half-open connection (a dropped NAT entry sends no FIN); default 10 s.
   */
  readonly livenessMs?: number | undefined
}

const PUBLISH_LUA = readFileSync(new URL("./lua/progress-publish.lua", import.meta.url), "utf8")
/** States sent and not yet answered; beyond this (Redis gone or slow) new ones are dropped, not queued. */
const MAX_IN_FLIGHT = 1_000

interface ProgressRedis extends Redis {
  desainzProgressPublish(latest: string, recent: string, field: string, json: string, ttlMs: number, keep: number, channel: string): Promise<number>
}

const decodeState = Schema.decodeUnknownEither(Schema.parseJson(GenerationState))

/** The Redis names of the progress feed of a topology. */
export const progressKeys = (topology: string) => {
  const keys = makeKeys(topology)
  return {
    latest: keys.state("generation-progress", "latest"),
    recent: keys.state("generation-progress", "recent"),
    channel: keys.state("generation-progress", "events")
  }
}

export const makeRedis = (options: RedisProgressOptions) =>
  Effect.gen(function* () {
    const keep = options.keep ?? DEFAULTS.keep
    const ttlMs = options.ttlMs ?? DEFAULTS.ttlMs
    const names = progressKeys(options.topology)
    // Logs from callbacks (a reply, a message) go through the logger this layer was built with.
    const runtime = yield* Effect.runtime<never>()
    const log = (effect: Effect.Effect<void>) => Runtime.runFork(runtime)(effect)
    const livenessMs = options.livenessMs ?? 10_000
    const connect = () => {
      // One try per command, and an answer within livenessMs (a half-open connection never
      // answers): a late state is worth little, and the in-flight bound caps what waits.
      const r = new Redis(Redacted.value(options.url), { maxRetriesPerRequest: 1, commandTimeout: livenessMs, enableAutoPipelining: false })
      r.on("error", () => undefined) // surfaced by the failing command, or the subscription
      return r
    }
    // QUIT waits for an answer; a connection that never came up is just dropped.
    const close = (r: Redis) => Effect.promise(async () => (r.status === "ready" ? void (await r.quit().catch(() => r.disconnect())) : r.disconnect()))
    const publisher = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const r = connect() as ProgressRedis
        r.defineCommand("desainzProgressPublish", { numberOfKeys: 2, lua: PUBLISH_LUA })
        return r
      }),
      (r) => close(r)
    )

    let inFlight = 0
    let failing = false
    const publish: GenerationProgressService["publish"] = (input) =>
      Effect.gen(function* () {
        const metrics = yield* Effect.serviceOption(Metrics)
        if (inFlight >= MAX_IN_FLIGHT) {
          dropped(metrics, "backlog")
          return yield* Effect.logDebug(`generation progress: ${MAX_IN_FLIGHT} states unanswered by redis; dropping ${input.phase} of ${fieldOf(input)}`)
        }
        const state: GenerationState = { ...input, at: new Date().toISOString() }
        inFlight++
        // Sent now, in call order on one connection (so each candidate's states keep their
        // order); the answer is handled when it comes, the caller does not wait for it.
        publisher.desainzProgressPublish(names.latest, names.recent, fieldOf(state), JSON.stringify(state), ttlMs, keep, names.channel).then(
          () => {
            inFlight--
            if (failing) {
              failing = false
              log(Effect.logInfo("generation progress: publishing to redis again"))
            }
          },
          (error: unknown) => {
            inFlight--
            dropped(metrics, "publish-failed")
            const message = `generation progress: ${state.phase} of ${fieldOf(state)} not published (the generation goes on): ${describeError(error)}`
            log(failing ? Effect.logDebug(message) : Effect.logWarning(message))
            failing = true
          }
        )
      })

    // Subscribers: one pub/sub connection for the process, opened by the first subscriber.
    const listeners = new Set<(state: GenerationState) => void>()
    const gapListeners = new Set<() => void>()
    let subscriberMetrics: Option.Option<Metrics["Type"]> = Option.none()
    let subscriber: Redis | undefined
    let subscribing: Promise<void> | undefined
    const onMessage = (channel: string, message: string) => {
      if (channel !== names.channel) return
      const decoded = decodeState(message)
      if (Either.isLeft(decoded)) {
        dropped(subscriberMetrics, "malformed")
        const reason = ParseResult.TreeFormatter.formatErrorSync(decoded.left)
        log(Effect.logWarning(`generation progress: dropped a malformed message on ${names.channel}: ${reason}`))
        return
      }
      tell(listeners, decoded.right)
    }
    let liveness: ReturnType<typeof setInterval> | undefined
    const startSubscriber = async () => {
      const r = connect()
      subscriber = r
      r.on("message", onMessage)
      try {
        // ioredis subscribes again by itself after a reconnect.
        await r.subscribe(names.channel)
      } catch (error) {
        subscriber = undefined
        r.disconnect()
        throw error
      }
      // Every later "ready" is a reconnect (ioredis subscribes again): what was published
      // in between is lost, so the subscribers hear of the gap and read the latest states.
      r.on("ready", () => tell(gapListeners))
      // A subscriber only listens, so it would never notice a half-open connection: a PING
      // unanswered within livenessMs drops it, and ioredis reconnects and subscribes again.
      liveness = setInterval(() => {
        if (r.status !== "ready") return
        r.ping().catch((error: unknown) => {
          log(Effect.logWarning(`generation progress: the subscription on redis does not answer (${describeError(error)}); reconnecting`))
          r.disconnect(true)
        })
      }, livenessMs)
      liveness.unref()
    }
    yield* Effect.addFinalizer(() =>
      Effect.promise(async () => {
        clearInterval(liveness)
        const r = subscriber
        subscriber = undefined
        if (r !== undefined) await Effect.runPromise(close(r))
      })
    )

    const subscribe: GenerationProgressService["subscribe"] = (listener, onGap) =>
      Effect.gen(function* () {
        subscriberMetrics = yield* Effect.serviceOption(Metrics)
        yield* Effect.tryPromise({
          try: () => {
            subscribing ??= startSubscriber().catch((error: unknown) => {
              subscribing = undefined
              throw error
            })
            return subscribing
          },
          catch: (cause) => new RetryableError({ message: `generation progress: cannot subscribe on redis: ${describeError(cause)}`, cause })
        })
        listeners.add(listener)
        if (onGap !== undefined) gapListeners.add(onGap)
        return () => {
          listeners.delete(listener)
          if (onGap !== undefined) gapListeners.delete(onGap)
        }
      })

    const current: GenerationProgressService["current"] = Effect.gen(function* () {
      const [order, byField] = yield* Effect.tryPromise({
        try: () => execMulti(publisher.multi().zrange(names.recent, 0, -1).hgetall(names.latest)) as Promise<readonly [Array<string>, Record<string, string>]>,
        catch: (cause) => new RetryableError({ message: `generation progress: cannot read the latest states from redis: ${describeError(cause)}`, cause })
      })
      const states: Array<GenerationState> = []
      for (const field of order) {
        const raw = byField[field]
        if (raw === undefined) continue
        const decoded = decodeState(raw)
        if (Either.isRight(decoded)) states.push(decoded.right)
        else yield* Effect.logWarning(`generation progress: skipped a malformed stored state ${field}: ${ParseResult.TreeFormatter.formatErrorSync(decoded.left)}`)
      }
      return states
    })

    return { publish, subscribe, current } satisfies GenerationProgressService
  })

export class GenerationProgress extends Context.Tag("desainz/GenerationProgress")<GenerationProgress, GenerationProgressService>() {
  /** In this process only (the embedded single-process mode). */
  static readonly layerInProcess = (options: ProgressOptions = {}): Layer.Layer<GenerationProgress> =>
    Layer.sync(GenerationProgress, () => makeInProcess(options))

  /** Across processes through Redis. */
  static readonly layerRedis = (options: RedisProgressOptions): Layer.Layer<GenerationProgress> => Layer.scoped(GenerationProgress, makeRedis(options))

  /** Redis when `REDIS_URL` is set, else in-process; `topology` is the topology's name. */
  static readonly layerConfig = (topology: string) =>
    Layer.unwrapEffect(
      Effect.map(Config.option(Config.redacted("REDIS_URL")), (url) =>
        Option.match(url, {
          onNone: () => GenerationProgress.layerInProcess(),
          onSome: (u) => GenerationProgress.layerRedis({ url: u, topology })
        })
      )
    )
}
