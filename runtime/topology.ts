/**
 * The topology DSL: named streams with a schema, sources that emit into a stream, and
 * operators that read one stream and write zero or more. Operators are built already
 * connected (`{ from, to }`), so a stream whose type does not match an operator's input
 * or output is a compile error at the line in `topology.ts` that wires it.
 */
import { Cause, Duration, Effect, Either, Exit, Fiber, Layer, ParseResult, Schema } from "effect"
import type { Hono, MiddlewareHandler } from "hono"
import type { Delivered } from "./envelope.ts"
import type { Metrics } from "./metrics.ts"
import type { Transport } from "./transport.ts"
import { type PermanentError, TopologyError, type TransportError } from "./errors.ts"

// ---------------------------------------------------------------------------------------
// Streams

export interface StreamDef<A, I = any> {
  readonly _tag: "Stream"
  readonly name: string
  readonly schema: Schema.Schema<A, I>
  /** `eventType` of every envelope written to this stream, e.g. `signal.ingested`. */
  readonly eventType: string
  /** Retention: trim to about this many entries, but never past what a group has not consumed. */
  readonly maxLen: number | undefined
}

export type StreamType<S> = S extends StreamDef<infer A, any> ? A : never

const STREAM_NAME = /^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$/

export const stream = <A, I>(
  name: string,
  schema: Schema.Schema<A, I>,
  options: { readonly eventType?: string; readonly maxLen?: number } = {}
): StreamDef<A, I> => ({
  _tag: "Stream",
  name,
  schema,
  eventType: options.eventType ?? name,
  maxLen: options.maxLen
})

/**
 * Validates an operator's config at construction, so a mistake in topology.ts stops the
 * start with a message naming the node and the field: `occasions: niches: is missing`.
 */
export const decodeConfig = <A, I>(node: string, schema: Schema.Schema<A, I>, input: unknown): A => {
  const decoded = Schema.decodeUnknownEither(schema, { errors: "all", onExcessProperty: "error" })(input)
  if (Either.isRight(decoded)) return decoded.right
  const issues = ParseResult.ArrayFormatter.formatErrorSync(decoded.left)
  throw new TopologyError({
    message: `${node}: invalid config: ${issues.map((i) => `${i.path.join(".") || "(config)"}: ${i.message}`).join("; ")}`
  })
}

// ---------------------------------------------------------------------------------------
// Settings

export const BackoffSettings = Schema.Struct({
  initialMs: Schema.Number.annotations({ description: "delay before the 2nd attempt" }),
  maxMs: Schema.Number.annotations({ description: "cap on the delay between attempts" }),
  factor: Schema.Number.annotations({ description: "growth of the delay per attempt" })
})

/** Per-operator settings; every field has a default in `defaultSettings`. */
export const OperatorSettings = Schema.Struct({
  replicas: Schema.Int.annotations({ description: "consumers of this operator per worker process" }),
  batchSize: Schema.Int.annotations({ description: "entries read per XREADGROUP" }),
  concurrency: Schema.Int.annotations({ description: "entries of one batch processed at once" }),
  maxAttempts: Schema.Int.annotations({ description: "deliveries before an entry is dead-lettered" }),
  backoff: BackoffSettings,
  claimIdleMs: Schema.Number.annotations({
    description: "pending entries idle this long are taken over from a dead consumer (XAUTOCLAIM)"
  }),
  blockMs: Schema.Number.annotations({ description: "how long one read waits for new entries" }),
  highWatermark: Schema.Int.annotations({ description: "stop reading while the output backlog is above this" }),
  lowWatermark: Schema.Int.annotations({ description: "resume reading once the output backlog is below this" })
})
export type OperatorSettings = typeof OperatorSettings.Type

export const defaultSettings: OperatorSettings = {
  replicas: 1,
  batchSize: 100,
  concurrency: 8,
  maxAttempts: 5,
  backoff: { initialMs: 200, maxMs: 10_000, factor: 2 },
  claimIdleMs: 30_000,
  blockMs: 1_000,
  highWatermark: 10_000,
  lowWatermark: 5_000
}

export type SettingsInput = Partial<Omit<OperatorSettings, "backoff">> & {
  readonly backoff?: Partial<OperatorSettings["backoff"]>
}

const resolveSettings = (input: SettingsInput | undefined): OperatorSettings => ({
  ...defaultSettings,
  ...input,
  backoff: { ...defaultSettings.backoff, ...input?.backoff }
})

/** Delay before attempt `attempt + 1`, given that `attempt` attempts have failed. */
export const backoffDelayMs = (settings: OperatorSettings, attempt: number): number =>
  Math.min(settings.backoff.maxMs, settings.backoff.initialMs * Math.pow(settings.backoff.factor, Math.max(0, attempt - 1)))

// ---------------------------------------------------------------------------------------
// Operators

/** What an operator hands back for one input entry. */
export type ItemResult<O> =
  | { readonly _tag: "Emit"; readonly outputs: ReadonlyArray<Output<O>> }
  | { readonly _tag: "Fail"; readonly error: unknown }

/** One output record; `to` picks among the operator's output streams (default: the first). */
export interface Output<O> {
  readonly data: O
  readonly to?: string
  /** Overrides the event time inherited from the input (e.g. a window's end). */
  readonly timestamp?: string
  /** A stable key for the derived event id when one input yields several outputs. */
  readonly key?: string
}

export type BatchHandler<I, O, R> = (
  batch: ReadonlyArray<Delivered<I>>
) => Effect.Effect<ReadonlyArray<ItemResult<O>>, never, R>

export interface OperatorNode<I, O, R> {
  readonly _tag: "Operator"
  readonly name: string
  readonly kind: string
  readonly from: StreamDef<I>
  readonly to: ReadonlyArray<StreamDef<O>>
  readonly settings: OperatorSettings
  /** The operator's validated config, shown by `desainz topology` and the UI. */
  readonly config: unknown
  readonly handle: BatchHandler<I, O, R>
}

interface OperatorOptions<I, O> {
  readonly name: string
  readonly from: StreamDef<I>
  readonly settings?: SettingsInput | undefined
  readonly config?: unknown
  readonly kind?: string
  readonly to: StreamDef<O> | ReadonlyArray<StreamDef<O>>
}

const toList = <O>(to: StreamDef<O> | ReadonlyArray<StreamDef<O>>): ReadonlyArray<StreamDef<O>> =>
  Array.isArray(to) ? to : [to as StreamDef<O>]

/**
 * `f` over an effect's value, keeping an already-completed effect completed: `Effect.succeed`
 * and `Effect.fail` are `Exit`s, and a pure operator's result then never needs a fiber step.
 */
const mapResult = <A, B, E, R>(effect: Effect.Effect<A, E, R>, f: (a: A) => B): Effect.Effect<B, E, R> =>
  Exit.isExit(effect) ? Exit.map(effect as Exit.Exit<A, E>, f) : Effect.map(effect, f)

const emitted = <O>(outputs: ReadonlyArray<Output<O>>): ItemResult<O> => ({ _tag: "Emit", outputs })
const failed = (cause: Cause.Cause<unknown>): ItemResult<never> => ({ _tag: "Fail", error: Cause.squash(cause) })

const perItem = <I, O, E, R>(
  concurrency: number,
  run: (envelope: Delivered<I>) => Effect.Effect<ReadonlyArray<Output<O>>, E, R>
): BatchHandler<I, O, R> => {
  // A defect (a throw inside the operator, also before it returns its effect) counts as a
  // failed attempt, not a crash.
  const one = (envelope: Delivered<I>): ItemResult<O> | Effect.Effect<ItemResult<O>, never, R> => {
    let effect: Effect.Effect<ReadonlyArray<Output<O>>, E, R>
    try {
      effect = run(envelope)
    } catch (error) {
      return { _tag: "Fail", error }
    }
    if (Exit.isExit(effect)) {
      const exit = effect as Exit.Exit<ReadonlyArray<Output<O>>, E>
      return Exit.isSuccess(exit) ? emitted(exit.value) : failed(exit.cause)
    }
    return Effect.matchCause(effect, { onSuccess: emitted, onFailure: failed })
  }
  return (batch) =>
    Effect.suspend(() => {
      // Entries whose effect completed at once (pure operators) are done here; the rest run below.
      const results = new Array<ItemResult<O>>(batch.length)
      const waiting: Array<number> = []
      const effects: Array<Effect.Effect<ItemResult<O>, never, R>> = []
      for (let i = 0; i < batch.length; i++) {
        const result = one(batch[i]!)
        if (Effect.isEffect(result)) {
          waiting.push(i)
          effects.push(result)
        } else results[i] = result
      }
      if (waiting.length === 0) return Exit.succeed(results)
      let next = 0
      // `concurrency` lanes (fibers) that each take the next entry when done: the same bound
      // on entries in flight as `Effect.forEach({ concurrency })`, which forks a fiber per
      // entry and costs a quick operator several times its own work (`npm run bench -- runtime`).
      const lane = Effect.whileLoop({
        while: () => next < waiting.length,
        body: () => {
          const n = next++
          return Effect.map(effects[n]!, (result) => {
            results[waiting[n]!] = result
          })
        },
        step: () => undefined
      })
      const lanes = Math.min(Math.max(1, concurrency), waiting.length)
      if (lanes === 1) return Effect.as(lane, results)
      return Effect.gen(function* () {
        const forked: Array<Fiber.RuntimeFiber<void>> = []
        for (let n = 1; n < lanes; n++) forked.push(yield* Effect.fork(lane))
        yield* lane
        for (const fiber of forked) yield* Fiber.join(fiber)
        return results
      })
    })
}

/** The node every operator constructor returns, around its batch handler. */
const operatorNode = <I, O, R>(
  options: OperatorOptions<I, O>,
  kind: string,
  handler: (settings: OperatorSettings) => BatchHandler<I, O, R>
): OperatorNode<I, O, R> => {
  const settings = resolveSettings(options.settings)
  return {
    _tag: "Operator",
    name: options.name,
    kind: options.kind ?? kind,
    from: options.from,
    to: toList(options.to),
    settings,
    config: options.config,
    handle: handler(settings)
  }
}

/** One input, any number of outputs (filter, split, enrich). */
export const flatMap = <I, O, E, R>(
  options: OperatorOptions<I, O> & {
    readonly run: (data: I, envelope: Delivered<I>) => Effect.Effect<ReadonlyArray<O | Output<O>>, E, R>
  }
): OperatorNode<I, O, R> =>
  operatorNode(options, "flatMap", (settings) =>
    perItem(settings.concurrency, (envelope) => mapResult(options.run(envelope.data, envelope), (outputs) => outputs.map((o) => asOutput(o))))
  )

/** One input, one output. */
export const map = <I, O, E, R>(
  options: OperatorOptions<I, O> & { readonly run: (data: I, envelope: Delivered<I>) => Effect.Effect<O, E, R> }
): OperatorNode<I, O, R> =>
  flatMap({ ...options, kind: options.kind ?? "map", run: (data, envelope) => mapResult(options.run(data, envelope), (o) => [o]) })

const EntryFailureTag = Symbol.for("desainz/EntryFailure")

/** One entry's failure inside a `batch` result: that entry alone is retried or dead-lettered. */
export interface EntryFailure {
  readonly [EntryFailureTag]: true
  readonly error: unknown
}

export const entryFailure = (error: unknown): EntryFailure => ({ [EntryFailureTag]: true, error })

const isEntryFailure = (value: unknown): value is EntryFailure =>
  typeof value === "object" && value !== null && EntryFailureTag in value

/**
 * The whole batch at once (multi-row upserts, batched API calls). `run` returns, per
 * entry, its outputs or an `entryFailure(error)`. A failure of the effect itself fails
 * every entry of the batch; each is then retried or dead-lettered alone.
 */
export const batch = <I, O, E, R>(
  options: OperatorOptions<I, O> & {
    readonly run: (
      batch: ReadonlyArray<Delivered<I>>
    ) => Effect.Effect<ReadonlyArray<ReadonlyArray<O | Output<O>> | EntryFailure>, E, R>
  }
): OperatorNode<I, O, R> =>
  operatorNode(options, "batch", () => (entries) =>
    options.run(entries).pipe(
      Effect.map((perEntry) =>
        entries.map((_, i): ItemResult<O> => {
          const result = perEntry[i] ?? []
          return isEntryFailure(result)
            ? { _tag: "Fail", error: result.error }
            : { _tag: "Emit", outputs: result.map((o) => asOutput(o)) }
        })
      ),
      Effect.catchAllCause((cause) => Effect.succeed(entries.map((): ItemResult<O> => ({ _tag: "Fail", error: Cause.squash(cause) }))))
    )
  )

/** Terminal operator: consumes its input, writes no stream (a store, a publisher, a metric). */
export const sink = <I, E, R>(
  options: Omit<OperatorOptions<I, never>, "to"> & {
    readonly run: (data: I, envelope: Delivered<I>) => Effect.Effect<void, E, R>
  }
): OperatorNode<I, any, R> =>
  flatMap<I, any, E, R>({
    ...options,
    kind: options.kind ?? "sink",
    to: [],
    run: (data, envelope) => mapResult(options.run(data, envelope), () => [])
  })

/** Marks an operator's result as an explicit `Output` (so plain data of type O stays unambiguous). */
export const output = <O>(data: O, options: Omit<Output<O>, "data"> = {}): Output<O> =>
  ({ [OutputTag]: true, data, ...options }) as Output<O>

const OutputTag = Symbol.for("desainz/Output")
const asOutput = <O>(value: O | Output<O>): Output<O> =>
  typeof value === "object" && value !== null && OutputTag in value ? (value as Output<O>) : { data: value as O }

// ---------------------------------------------------------------------------------------
// Sources

/** One record a source emits. */
export interface Emission<O> {
  readonly data: O
  /** Event time (ISO 8601); defaults to now. */
  readonly timestamp?: string
  /** Natural key of the record (post id, date + occasion): repeated polls yield the same event id. */
  readonly key?: string
}

export interface PollResult<O> {
  readonly emissions: ReadonlyArray<Emission<O>>
  /** True when the source has more right away (a replay file, a paginated API): poll again without waiting. */
  readonly more?: boolean
  /** True when the source is finished for good (end of a replay file). */
  readonly done?: boolean
}

export interface SourceNode<O, R> {
  readonly _tag: "Source"
  readonly name: string
  readonly kind: string
  readonly to: StreamDef<O>
  /** Pause between polls. */
  readonly every: Duration.Duration
  readonly settings: OperatorSettings
  readonly config: unknown
  /** One poll. Long-lived state (cursors, ETags) lives in the effect that built this node. */
  readonly poll: Effect.Effect<PollResult<O>, unknown, R>
  /** Routes of a source fed over HTTP (a webhook), mounted by the runtime's HTTP server. */
  readonly routes?: ((app: Hono, context: RouteContext<O>) => void) | undefined
}

/** What the HTTP server hands a source's `routes`. */
export interface RouteContext<O> {
  /**
   * Appends records to the source's stream as envelopes, all or none, as a poll's would
   * be; succeeds once they are stored, with their event ids.
   */
  readonly emit: (emissions: ReadonlyArray<Emission<O>>) => Effect.Effect<ReadonlyArray<string>, TransportError | PermanentError>
  /** The backlog of the source's stream (its slowest reader), to refuse input above the high watermark. */
  readonly backlog: Effect.Effect<number, TransportError>
  /** Runs an effect on the server's runtime (its config provider and logger). */
  readonly run: <A, E>(effect: Effect.Effect<A, E>) => Promise<Exit.Exit<A, E>>
}

export const source = <O, E, R>(options: {
  readonly name: string
  readonly kind?: string
  readonly to: StreamDef<O>
  readonly every: Duration.DurationInput
  readonly settings?: SettingsInput | undefined
  readonly config?: unknown
  readonly poll: Effect.Effect<PollResult<O>, E, R>
  readonly routes?: ((app: Hono, context: RouteContext<O>) => void) | undefined
}): SourceNode<O, R> => ({
  _tag: "Source",
  name: options.name,
  kind: options.kind ?? "source",
  to: options.to,
  every: Duration.decode(options.every),
  settings: resolveSettings(options.settings),
  config: options.config,
  poll: options.poll,
  routes: options.routes
})

// ---------------------------------------------------------------------------------------
// Topology

export type Node<R> = OperatorNode<any, any, R> | SourceNode<any, R>

export interface Topology<R = any> {
  readonly name: string
  readonly nodes: ReadonlyArray<Node<R>>
  readonly streams: ReadonlyArray<StreamDef<any>>
  /** Provides every service the nodes need (checked against `R` by `topology()`); built once per process. */
  readonly services: Layer.Layer<any, unknown, never>
  /** The services the nodes require; type-level only. */
  readonly _R?: () => R
  /** Application routes on the HTTP server (review decisions, asset downloads). */
  readonly api?: ReadonlyArray<ApiRoutes> | undefined
  /** Application commands of the CLI, by name. */
  readonly commands?: Readonly<Record<string, Command>> | undefined
}

/** What the HTTP server hands the topology's `api` routes. */
export interface ApiContext {
  /** Runs an effect with the topology's services (store, blobs) and the runtime's. */
  readonly run: <A, E>(effect: Effect.Effect<A, E, any>) => Promise<Exit.Exit<A, E>>
  /** Appends records to a stream as `emitter` would; succeeds once they are stored, with their event ids. */
  readonly emit: <O>(
    emitter: string,
    stream: StreamDef<O>,
    emissions: ReadonlyArray<Emission<O>>
  ) => Effect.Effect<ReadonlyArray<string>, TransportError | PermanentError>
  /** Middleware for mutating routes: `Authorization: Bearer $DESAINZ_TOKEN`, else 401. */
  readonly requireToken: MiddlewareHandler
}

export type ApiRoutes = (app: Hono, context: ApiContext) => void

/**
 * A command the topology module adds to the CLI: `desainz <name> [args...]` (built-in
 * commands keep their names). It gets every argument after its name except `--topology`,
 * and brings its own services.
 */
export interface Command {
  /** One line for `desainz help`. */
  readonly summary: string
  readonly run: (args: ReadonlyArray<string>) => Effect.Effect<void, unknown>
}

/** A wrong command line: the CLI prints the message and exits with status 2. */
export class UsageError extends Error {
  override readonly name = "UsageError"
}

type NodeRequirements<N> = N extends OperatorNode<any, any, infer R> ? R : N extends SourceNode<any, infer R> ? R : never

/** Services the runtime itself provides to every node. */
type RuntimeProvided = Metrics | Transport

/**
 * Declares and validates a topology. Errors name the offending node or stream:
 * duplicate names, a stream nobody writes, an operator whose input no one writes,
 * and cycles that have no way out to a sink.
 */
export const topology = <const Nodes extends ReadonlyArray<Node<any>>>(definition: {
  readonly name: string
  readonly nodes: Nodes
  readonly services: Layer.Layer<Exclude<NodeRequirements<Nodes[number]>, RuntimeProvided>, unknown, never>
  readonly api?: ReadonlyArray<ApiRoutes>
  readonly commands?: Readonly<Record<string, Command>>
}): Topology<NodeRequirements<Nodes[number]>> => {
  const streams = new Map<string, StreamDef<any>>()
  const note = (s: StreamDef<any>) => {
    const known = streams.get(s.name)
    if (known !== undefined && known !== s) {
      throw new TopologyError({ message: `stream "${s.name}" is declared twice with different definitions` })
    }
    streams.set(s.name, s)
  }
  for (const node of definition.nodes) {
    if (node._tag === "Source") note(node.to)
    else {
      note(node.from)
      node.to.forEach(note)
    }
  }
  const result: Topology<any> = {
    name: definition.name,
    nodes: definition.nodes,
    streams: [...streams.values()],
    services: definition.services,
    api: definition.api,
    commands: definition.commands
  }
  validate(result)
  return result
}

export const validate = (t: Topology<any>): void => {
  const fail = (message: string): never => {
    throw new TopologyError({ message: `topology "${t.name}": ${message}` })
  }
  if (!/^[a-z][a-z0-9-]*$/.test(t.name)) fail(`name must be lowercase letters, digits and '-'`)
  for (const name of Object.keys(t.commands ?? {})) {
    if (!/^[a-z][a-z0-9-]*$/.test(name)) fail(`command name "${name}" must be lowercase letters, digits and '-'`)
  }
  const names = new Set<string>()
  for (const node of t.nodes) {
    if (!/^[a-z][a-z0-9_-]*$/.test(node.name)) fail(`node name "${node.name}" must be lowercase letters, digits, '-' or '_'`)
    if (names.has(node.name)) fail(`duplicate node name "${node.name}"`)
    names.add(node.name)
    const s = node.settings
    if (s.replicas < 1 || s.batchSize < 1 || s.concurrency < 1 || s.maxAttempts < 1) {
      fail(`node "${node.name}": replicas, batchSize, concurrency and maxAttempts must be at least 1`)
    }
    if (s.lowWatermark >= s.highWatermark) fail(`node "${node.name}": lowWatermark must be below highWatermark`)
    if (s.backoff.maxMs >= s.claimIdleMs) {
      fail(`node "${node.name}": backoff.maxMs must be below claimIdleMs, or other consumers steal entries waiting for a retry`)
    }
  }
  for (const s of t.streams) {
    if (!STREAM_NAME.test(s.name)) fail(`stream name "${s.name}" must look like "signals.raw"`)
    if (s.name.startsWith("dlq.")) fail(`stream name "${s.name}": "dlq." is reserved for dead-letter streams`)
  }
  const writers = new Map<string, Array<string>>()
  const readers = new Map<string, Array<string>>()
  for (const node of t.nodes) {
    const outs = node._tag === "Source" ? [node.to] : node.to
    for (const o of outs) writers.set(o.name, [...(writers.get(o.name) ?? []), node.name])
    if (node._tag === "Operator") readers.set(node.from.name, [...(readers.get(node.from.name) ?? []), node.name])
  }
  for (const node of t.nodes) {
    if (node._tag === "Operator" && !writers.has(node.from.name)) {
      fail(`operator "${node.name}" reads stream "${node.from.name}", which no source or operator writes (dangling stream)`)
    }
  }
  // A cycle is fine (feedback loops) only if something on it leads out to a node that ends a path.
  const next = (n: Node<any>): ReadonlyArray<Node<any>> =>
    (n._tag === "Source" ? [n.to] : n.to).flatMap((s) =>
      (readers.get(s.name) ?? []).map((r) => t.nodes.find((x) => x.name === r)!)
    )
  const reachesExit = new Map<string, boolean>()
  const exits = (n: Node<any>, seen: Set<string>): boolean => {
    const known = reachesExit.get(n.name)
    if (known !== undefined) return known
    if (seen.has(n.name)) return false
    seen.add(n.name)
    const successors = next(n)
    const outs = n._tag === "Source" ? [n.to] : n.to
    const leaves = outs.length === 0 || outs.some((s) => !readers.has(s.name))
    const result = leaves || successors.some((m) => exits(m, seen))
    seen.delete(n.name)
    if (result || seen.size === 0) reachesExit.set(n.name, result)
    return result
  }
  for (const node of t.nodes) {
    if (!exits(node, new Set())) fail(`node "${node.name}" is on a cycle with no way out to a sink`)
  }
}

/** The consumer groups reading a stream (one per operator reading it). */
export const readersOf = (t: Topology<any>, streamName: string): ReadonlyArray<string> =>
  t.nodes.flatMap((n) => (n._tag === "Operator" && n.from.name === streamName ? [n.name] : []))

// ---------------------------------------------------------------------------------------
// The topology as data, for the UI, `desainz topology` and Nomad rendering.

export const TopologyJson = Schema.Struct({
  name: Schema.String,
  nodes: Schema.Array(
    Schema.Struct({
      name: Schema.String,
      type: Schema.Literal("source", "operator"),
      kind: Schema.String,
      input: Schema.NullOr(Schema.String),
      outputs: Schema.Array(Schema.String),
      every: Schema.NullOr(Schema.String),
      settings: OperatorSettings,
      config: Schema.Unknown
    })
  ),
  streams: Schema.Array(
    Schema.Struct({
      name: Schema.String,
      eventType: Schema.String,
      maxLen: Schema.NullOr(Schema.Number),
      writers: Schema.Array(Schema.String),
      readers: Schema.Array(Schema.String)
    })
  ),
  edges: Schema.Array(Schema.Struct({ from: Schema.String, to: Schema.String, stream: Schema.String }))
})
export type TopologyJson = typeof TopologyJson.Type

export const toJson = (t: Topology<any>): TopologyJson => {
  const writersOf = (s: string) =>
    t.nodes.filter((n) => (n._tag === "Source" ? [n.to] : n.to).some((o) => o.name === s)).map((n) => n.name)
  return {
    name: t.name,
    nodes: t.nodes.map((n) => ({
      name: n.name,
      type: n._tag === "Source" ? ("source" as const) : ("operator" as const),
      kind: n.kind,
      input: n._tag === "Operator" ? n.from.name : null,
      outputs: (n._tag === "Source" ? [n.to] : n.to).map((s) => s.name),
      every: n._tag === "Source" ? Duration.format(n.every) : null,
      settings: n.settings,
      config: n.config ?? null
    })),
    streams: t.streams.map((s) => ({
      name: s.name,
      eventType: s.eventType,
      maxLen: s.maxLen ?? null,
      writers: writersOf(s.name),
      readers: [...readersOf(t, s.name)]
    })),
    edges: t.nodes.flatMap((n) =>
      (n._tag === "Source" ? [n.to] : n.to).flatMap((s) =>
        readersOf(t, s.name).map((reader) => ({ from: n.name, to: reader, stream: s.name }))
      )
    )
  }
}

/** A readable text view: one line per node, `source -> stream -> operator`. */
export const toText = (t: Topology<any>): string => {
  const lines = [`topology ${t.name}`]
  for (const n of t.nodes) {
    const outs = (n._tag === "Source" ? [n.to] : n.to).map((s) => s.name).join(", ") || "(sink)"
    const s = n.settings
    const tuning = `replicas=${s.replicas} batch=${s.batchSize} concurrency=${s.concurrency} attempts=${s.maxAttempts} watermarks=${s.lowWatermark}/${s.highWatermark}`
    lines.push(
      n._tag === "Source"
        ? `  source   ${n.name.padEnd(18)} every ${Duration.format(n.every).padEnd(10)} -> ${outs}`
        : `  operator ${n.name.padEnd(18)} ${n.from.name} -> ${outs}   [${n.kind}] ${tuning}`
    )
  }
  return lines.join("\n")
}
