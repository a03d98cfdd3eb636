/**
 * A thin ComfyUI client over its documented HTTP + WebSocket API (comfyanonymous/ComfyUI
 * `server.py` and `execution.py`): `POST /prompt`, `GET /queue`, `GET /history/{id}`,
 * `GET /view`, and `/ws?clientId=` for `execution_*`, `executing`, `progress` messages and
 * binary preview frames (a 4-byte big-endian event type, 1 = preview image, then a 4-byte
 * image format and the JPEG/PNG bytes).
 *
 * Why not a client package: `@saintno/comfyui-sdk` (ComfyApi / ComfyPool / CallWrapper)
 * and `@stable-canvas/comfyui-client` both queue without letting the caller choose the
 * `prompt_id`, so a redelivered event could not find its earlier run and would queue a
 * second one; both set inputs by node id (we set them by node title so users can bring
 * their own workflow), and report failures as thrown errors and events rather than the
 * retryable/permanent split the worker needs. The protocol we use is five routes and one
 * socket, so a client of our own over runtime/httpClient.ts is smaller than adapting one.
 *
 * The socket's clientId is the prompt id: ComfyUI sends a run's messages to the client
 * that queued it, so whichever process follows a run (also after a redelivery) hears it.
 *
 * Idempotency: the caller passes a `prompt_id` derived from the event id (a canonical
 * lowercase UUID; newer ComfyUI refuses anything else). Before queuing, every server of
 * the pool is asked for that id in `/history` and in the queue, so a redelivery follows
 * (or collects) the earlier run instead of queuing it again.
 *
 * Failures: a 400 with `node_errors` (a bad workflow, a missing model) is permanent and
 * quotes ComfyUI's message; a refused connection, a 5xx, an out-of-memory
 * `execution_error`, an interrupted run and a run that outlives its timeouts are
 * retryable. A dropped socket is reconnected, and `/history` is polled meanwhile, so a run
 * that finished while the socket was down is still collected.
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { Duration, Effect, Schema } from "effect"
import WebSocket from "ws"
import { PermanentError, RetryableError } from "../../runtime/errors.ts"
import { httpFailure, send, sendJson } from "../../runtime/httpClient.ts"

// ---------------------------------------------------------------------------------------
// Workflows (API format) and inputs set by node title

export interface WorkflowNode {
  readonly class_type: string
  readonly inputs: Record<string, unknown>
  readonly _meta?: { readonly title?: string }
}
export type Workflow = Readonly<Record<string, WorkflowNode>>

/** Node titles a workflow uses for the values desAInz sets; `prompt` and `seed` are required. */
export const TITLES = {
  prompt: "desainz.prompt",
  negative: "desainz.negative",
  seed: "desainz.seed",
  width: "desainz.width",
  height: "desainz.height",
  batch: "desainz.batch",
  /** Optional: the image output to collect (else every SaveImage output). */
  output: "desainz.output",
  /** Optional: a background-removal matte (white = keep), saved as an image. */
  matte: "desainz.matte"
} as const

type Settable = "prompt" | "negative" | "seed" | "width" | "height" | "batch"
/** Which input of a titled node takes the value, in order of preference (primitive nodes use `value`). */
const INPUT_NAMES: Record<Settable, ReadonlyArray<string>> = {
  prompt: ["text", "text_g", "prompt", "value"],
  negative: ["text", "text_g", "prompt", "value"],
  seed: ["seed", "noise_seed", "value"],
  width: ["width", "value"],
  height: ["height", "value"],
  batch: ["batch_size", "amount", "value"]
}

export interface WorkflowValues {
  readonly prompt: string
  readonly negative: string
  readonly seed: number
  readonly width?: number
  readonly height?: number
  readonly batch?: number
}

const titleOf = (node: WorkflowNode) => node._meta?.title

/** Ids of the nodes with this title. */
export const nodesTitled = (workflow: Workflow, title: string): ReadonlyArray<string> =>
  Object.keys(workflow).filter((id) => titleOf(workflow[id]!) === title)

/** A copy of `workflow` with the values set on the nodes titled `desainz.*`; a missing required title is permanent. */
export const applyValues = (workflow: Workflow, values: WorkflowValues): Effect.Effect<Workflow, PermanentError> =>
  Effect.suspend(() => {
    const out: Record<string, WorkflowNode> = structuredClone(workflow) as Record<string, WorkflowNode>
    for (const role of Object.keys(INPUT_NAMES) as Array<Settable>) {
      const value = values[role]
      const ids = nodesTitled(out, TITLES[role])
      if (ids.length === 0) {
        if (role === "prompt" || role === "seed") {
          return Effect.fail(new PermanentError({ message: `workflow has no node titled "${TITLES[role]}": set that title on the node that takes the ${role}` }))
        }
        continue
      }
      if (value === undefined) continue
      for (const id of ids) {
        const node = out[id]!
        const input = INPUT_NAMES[role].find((name) => name in node.inputs)
        if (input === undefined) {
          return Effect.fail(
            new PermanentError({ message: `workflow node ${id} "${TITLES[role]}" (${node.class_type}) has none of the inputs ${INPUT_NAMES[role].join(", ")}` })
          )
        }
        node.inputs[input] = value
      }
    }
    return Effect.succeed(out)
  })

// ---------------------------------------------------------------------------------------
// Wire shapes

const ImageRef = Schema.Struct({ filename: Schema.String, subfolder: Schema.optionalWith(Schema.String, { default: () => "" }), type: Schema.optionalWith(Schema.String, { default: () => "output" }) })
export type ImageRef = typeof ImageRef.Type

const HistoryEntry = Schema.Struct({
  outputs: Schema.Record({ key: Schema.String, value: Schema.Struct({ images: Schema.optional(Schema.Array(ImageRef)) }) }),
  status: Schema.optional(
    Schema.NullOr(
      Schema.Struct({
        status_str: Schema.String,
        completed: Schema.Boolean,
        messages: Schema.optionalWith(Schema.Array(Schema.Tuple(Schema.String, Schema.Unknown)), { default: () => [] })
      })
    )
  )
})
export type HistoryEntry = typeof HistoryEntry.Type
const History = Schema.Record({ key: Schema.String, value: HistoryEntry })

/** `GET /queue`: queue tuples `[number, prompt_id, prompt, extra_data, outputs]`. */
const QueueItem = Schema.Tuple([Schema.Number, Schema.String], Schema.Unknown)
const Queue = Schema.Struct({ queue_running: Schema.Array(QueueItem), queue_pending: Schema.Array(QueueItem) })

const PromptAccepted = Schema.Struct({ prompt_id: Schema.String, number: Schema.optional(Schema.Number) })

/** The body of a refused `POST /prompt`. */
const PromptRefused = Schema.Struct({
  error: Schema.Union(Schema.String, Schema.Struct({ type: Schema.optional(Schema.String), message: Schema.String, details: Schema.optional(Schema.String) })),
  node_errors: Schema.optional(
    Schema.Union(
      Schema.Record({
        key: Schema.String,
        value: Schema.Struct({
          class_type: Schema.optional(Schema.String),
          errors: Schema.Array(Schema.Struct({ message: Schema.String, details: Schema.optional(Schema.String) }))
        })
      }),
      Schema.Array(Schema.Unknown)
    )
  )
})

/** ComfyUI's own words for a refused workflow: the error, then each node's errors. */
export const describeRefusal = (body: string): string | undefined => {
  let json: unknown
  try {
    json = JSON.parse(body)
  } catch {
    return undefined
  }
  const decoded = Schema.decodeUnknownOption(PromptRefused)(json)
  if (decoded._tag === "None") return undefined
  const { error, node_errors } = decoded.value
  const head = typeof error === "string" ? error : `${error.message}${error.details ? `: ${error.details}` : ""}`
  const nodes =
    node_errors === undefined || Array.isArray(node_errors)
      ? []
      : Object.entries(node_errors as Record<string, { class_type?: string; errors: ReadonlyArray<{ message: string; details?: string }> }>).map(
          ([id, n]) => `node ${id}${n.class_type ? ` (${n.class_type})` : ""}: ${n.errors.map((e) => `${e.message}${e.details ? ` (${e.details})` : ""}`).join("; ")}`
        )
  return [head, ...nodes].join("; ")
}

// ---------------------------------------------------------------------------------------
// Progress

export type RunProgress =
  | { readonly phase: "queued"; readonly server: string; readonly position?: number }
  | { readonly phase: "executing"; readonly server: string; readonly node: string; readonly nodeType?: string; readonly value?: number; readonly max?: number }

export interface RunTimeouts {
  /** How long a prompt may wait in ComfyUI's queue before the attempt gives up (it stays queued for the retry). */
  readonly queue: Duration.DurationInput
  /** How long a run may execute once started. */
  readonly execution: Duration.DurationInput
  /** Interval of `/history` polls (the fallback when the socket drops). */
  readonly poll: Duration.DurationInput
}

export interface RunResult {
  readonly server: string
  readonly promptId: string
  /** Whether this call queued the prompt, or found an earlier run of it. */
  readonly queuedNow: boolean
  readonly images: ReadonlyArray<Buffer>
  readonly mattes: ReadonlyArray<Buffer>
  /** Binary preview frames seen while following the run. */
  readonly previews: number
}

const OOM = /out ?of ?memory|OutOfMemory|CUDA error: out of memory|Allocation on device/i

/** An `execution_error` as an error of ours: out of memory is retryable (another try, or another server, may have room). */
export const executionError = (server: string, data: Record<string, unknown>): RetryableError | PermanentError => {
  const type = String(data["exception_type"] ?? "")
  const text = String(data["exception_message"] ?? "").split("\n")[0] ?? ""
  const message = `ComfyUI ${server}: node ${String(data["node_id"] ?? "?")} (${String(data["node_type"] ?? "?")}) failed: ${type}${text ? `: ${text}` : ""}`
  return OOM.test(type) || OOM.test(String(data["exception_message"] ?? "")) ? new RetryableError({ message }) : new PermanentError({ message })
}

// ---------------------------------------------------------------------------------------
// One server

export interface ComfyServer {
  readonly url: string
  /** Finds `promptId` on this server: done or failed (with its history entry), queued or running, or unknown. */
  readonly lookup: (promptId: string) => Effect.Effect<
    | { readonly state: "done" | "failed"; readonly entry: HistoryEntry }
    | { readonly state: "queued" | "running" }
    | { readonly state: "unknown" },
    RetryableError | PermanentError,
    HttpClient.HttpClient
  >
  readonly submit: (workflow: Workflow, promptId: string, clientId: string) => Effect.Effect<void, RetryableError | PermanentError, HttpClient.HttpClient>
  /** Follows a queued or running prompt to its end and downloads its images. */
  readonly follow: (
    promptId: string,
    clientId: string,
    timeouts: RunTimeouts,
    onProgress: (p: RunProgress) => void
  ) => Effect.Effect<{ readonly entry: HistoryEntry; readonly previews: number }, RetryableError | PermanentError, HttpClient.HttpClient>
  readonly collect: (entry: HistoryEntry, workflow: Workflow | undefined) => Effect.Effect<{ images: Array<Buffer>; mattes: Array<Buffer> }, RetryableError | PermanentError, HttpClient.HttpClient>
}

export const makeServer = (baseUrl: string): ComfyServer => {
  const url = baseUrl.replace(/\/+$/, "")
  const what = (path: string) => `ComfyUI ${url} ${path}`

  const history = (promptId: string) =>
    sendJson(HttpClientRequest.get(`${url}/history/${encodeURIComponent(promptId)}`), History, { what: what("GET /history"), timeout: "10 seconds" })

  const lookup: ComfyServer["lookup"] = (promptId) =>
    Effect.gen(function* () {
      const found = (yield* history(promptId))[promptId]
      if (found !== undefined && found.status?.status_str !== "error") return { state: "done" as const, entry: found }
      // The queue before a failed entry: a failed run queued again keeps its old entry until it ends.
      const queue = yield* sendJson(HttpClientRequest.get(`${url}/queue`), Queue, { what: what("GET /queue"), timeout: "10 seconds" })
      if (queue.queue_running.some((item) => item[1] === promptId)) return { state: "running" as const }
      if (queue.queue_pending.some((item) => item[1] === promptId)) return { state: "queued" as const }
      // A run can finish between the two reads: look once more.
      const late = (yield* history(promptId))[promptId] ?? found
      if (late === undefined) return { state: "unknown" as const }
      return late.status?.status_str === "error" ? { state: "failed" as const, entry: late } : { state: "done" as const, entry: late }
    })

  const submit: ComfyServer["submit"] = (workflow, promptId, clientId) =>
    Effect.gen(function* () {
      const request = yield* HttpClientRequest.bodyJson(HttpClientRequest.post(`${url}/prompt`), { prompt: workflow, client_id: clientId, prompt_id: promptId }).pipe(
        Effect.mapError((e) => new PermanentError({ message: `cannot encode the workflow: ${String(e)}` }))
      )
      const accepted = yield* sendJson(request, PromptAccepted, { what: what("POST /prompt"), timeout: "30 seconds" }).pipe(
        Effect.mapError((error) => {
          const failure = httpFailure(error)
          if (failure?.status === 400) {
            const reason = describeRefusal(failure.body) ?? failure.body.slice(0, 300)
            return new PermanentError({ message: `ComfyUI ${url} refused the workflow: ${reason}`, cause: error.cause })
          }
          return error
        })
      )
      if (accepted.prompt_id !== promptId) {
        return yield* new PermanentError({ message: `ComfyUI ${url} ignored the prompt_id it was given (answered ${accepted.prompt_id}); it is too old to deduplicate, update it` })
      }
    })

  const view = (image: ImageRef) =>
    Effect.flatMap(
      send(HttpClientRequest.get(`${url}/view`, { urlParams: { filename: image.filename, subfolder: image.subfolder, type: image.type } }), { what: what("GET /view"), timeout: "60 seconds" }),
      (response) =>
        Effect.mapError(response.arrayBuffer, (e) => new RetryableError({ message: `${what("GET /view")}: ${e.message}` })).pipe(Effect.map((b) => Buffer.from(b)))
    )

  const collect: ComfyServer["collect"] = (entry, workflow) =>
    Effect.gen(function* () {
      const failure = entry.status?.messages.find(([type]) => type === "execution_error" || type === "execution_interrupted")
      if (entry.status?.status_str === "error" || failure !== undefined) {
        if (failure?.[0] === "execution_interrupted") return yield* new RetryableError({ message: `ComfyUI ${url}: the run was interrupted` })
        return yield* executionError(url, (failure?.[1] ?? {}) as Record<string, unknown>)
      }
      const matteIds = new Set(workflow ? nodesTitled(workflow, TITLES.matte) : [])
      const chosen = workflow ? nodesTitled(workflow, TITLES.output) : []
      const outputIds = Object.keys(entry.outputs).filter((id) => !matteIds.has(id) && (chosen.length === 0 || chosen.includes(id)))
      const refs = (ids: Iterable<string>) => [...ids].flatMap((id) => (entry.outputs[id]?.images ?? []).filter((i) => i.type === "output"))
      const images = yield* Effect.forEach(refs(outputIds), view)
      const mattes = yield* Effect.forEach(refs(matteIds), view)
      if (images.length === 0) return yield* new PermanentError({ message: `ComfyUI ${url}: the run saved no image (does the workflow end in a SaveImage node?)` })
      return { images, mattes }
    })

  const follow: ComfyServer["follow"] = (promptId, clientId, timeouts, onProgress) =>
    Effect.flatMap(HttpClient.HttpClient, (client) =>
      Effect.async<{ entry: HistoryEntry; previews: number }, RetryableError | PermanentError>((resume) => {
        const queueMs = Duration.toMillis(timeouts.queue)
        const execMs = Duration.toMillis(timeouts.execution)
        const pollMs = Duration.toMillis(timeouts.poll)
        let socket: WebSocket | undefined
        let finished = false
        let started = false
        let previews = 0
        let pollTimer: NodeJS.Timeout | undefined
        let reconnectTimer: NodeJS.Timeout | undefined
        let deadline = setTimeout(() => finish(new RetryableError({ message: `ComfyUI ${url}: prompt ${promptId} still queued after ${Duration.format(timeouts.queue)}; it stays queued for the next attempt` })), queueMs)
        const started_ = () => {
          if (started) return
          started = true
          clearTimeout(deadline)
          deadline = setTimeout(() => finish(new RetryableError({ message: `ComfyUI ${url}: prompt ${promptId} still running after ${Duration.format(timeouts.execution)}` })), execMs)
        }
        const finish = (result: HistoryEntry | RetryableError | PermanentError) => {
          if (finished) return
          finished = true
          clearTimeout(deadline)
          clearTimeout(pollTimer)
          clearTimeout(reconnectTimer)
          socket?.removeAllListeners()
          socket?.on("error", () => {})
          socket?.terminate()
          resume(result instanceof RetryableError || result instanceof PermanentError ? Effect.fail(result) : Effect.succeed({ entry: result, previews }))
        }
        // The history is the truth: read it on start, on every drop, and on success.
        const check = () =>
          Effect.runPromise(
            Effect.either(Effect.provideService(lookup(promptId), HttpClient.HttpClient, client))
          ).then((found) => {
            if (finished) return
            if (found._tag === "Left") return // server unreachable for now: keep polling until a timeout
            const state = found.right
            if (state.state === "done" || state.state === "failed") finish(state.entry)
            else if (state.state === "running") started_()
            else if (state.state === "unknown") finish(new RetryableError({ message: `ComfyUI ${url}: prompt ${promptId} is neither queued nor in the history (server restarted?)` }))
          })
        // Polled all along, not only while the socket is down: a second follower of the same
        // prompt (a redelivery) takes the socket session over, and this one then hears nothing.
        const poll = () => {
          pollTimer = setTimeout(() => {
            if (finished) return
            void check().finally(() => !finished && poll())
          }, pollMs)
        }
        const connect = () => {
          const ws = new WebSocket(`${url.replace(/^http/, "ws")}/ws?clientId=${encodeURIComponent(clientId)}`)
          socket = ws
          ws.on("open", () => void check())
          ws.on("message", (raw, isBinary) => {
            if (isBinary) {
              // Preview frames: counted, not decoded (the UI shows step progress instead).
              const buffer = raw as Buffer
              if (buffer.length >= 8 && buffer.readUInt32BE(0) === 1) previews++
              return
            }
            let message: { type?: string; data?: Record<string, unknown> }
            try {
              message = JSON.parse(String(raw))
            } catch {
              return
            }
            const data = message.data ?? {}
            if (data["prompt_id"] !== undefined && data["prompt_id"] !== promptId) return
            switch (message.type) {
              case "execution_start":
                started_()
                break
              case "executing":
                if (data["node"] === null || data["node"] === undefined) {
                  if (data["prompt_id"] === promptId) void check()
                } else {
                  started_()
                  onProgress({ phase: "executing", server: url, node: String(data["display_node"] ?? data["node"]) })
                }
                break
              case "progress":
                started_()
                onProgress({ phase: "executing", server: url, node: String(data["node"] ?? ""), value: Number(data["value"]), max: Number(data["max"]) })
                break
              case "execution_success":
                void check()
                break
              case "execution_error":
                finish(executionError(url, data))
                break
              case "execution_interrupted":
                finish(new RetryableError({ message: `ComfyUI ${url}: prompt ${promptId} was interrupted at node ${String(data["node_id"] ?? "?")}` }))
                break
            }
          })
          ws.on("error", () => {})
          ws.on("close", () => {
            if (finished) return
            // Dropped: the history poll goes on; try the socket again.
            reconnectTimer = setTimeout(() => !finished && connect(), pollMs * 2)
          })
        }
        onProgress({ phase: "queued", server: url })
        connect()
        poll()
        return Effect.sync(() => finish(new RetryableError({ message: "interrupted" })))
      })
    )

  return { url, lookup, submit, follow, collect }
}

// ---------------------------------------------------------------------------------------
// A pool of servers

export interface ComfyPool {
  readonly servers: ReadonlyArray<ComfyServer>
  /**
   * Runs `workflow` as `promptId`: collects an earlier run of the same id wherever it is,
   * else queues it on the least busy server (at most `perServer` prompts in flight each).
   */
  readonly run: (
    workflow: Workflow,
    promptId: string,
    onProgress: (p: RunProgress) => void
  ) => Effect.Effect<RunResult, RetryableError | PermanentError, HttpClient.HttpClient>
  /** Prompts this process has in flight, per server URL. */
  readonly inFlight: () => Record<string, number>
}

export interface PoolOptions {
  readonly urls: ReadonlyArray<string>
  readonly perServer: number
  readonly timeouts: RunTimeouts
}

export const makePool = (options: PoolOptions): ComfyPool => {
  const servers = options.urls.map(makeServer)
  const busy = new Map<ComfyServer, number>(servers.map((s) => [s, 0]))
  const waiters: Array<() => void> = []
  let turn = 0

  const release = (server: ComfyServer) => {
    busy.set(server, busy.get(server)! - 1)
    waiters.shift()?.()
  }
  /** The least busy server with room (ties rotate), waiting for one when all are full. */
  const acquire = (preferred?: ComfyServer): Effect.Effect<ComfyServer> =>
    Effect.suspend(() => {
      const candidates = preferred ? [preferred] : servers
      let best: ComfyServer | undefined
      for (let i = 0; i < candidates.length; i++) {
        const s = candidates[(turn + i) % candidates.length]!
        if (busy.get(s)! < options.perServer && (best === undefined || busy.get(s)! < busy.get(best)!)) best = s
      }
      if (best !== undefined) {
        turn++
        busy.set(best, busy.get(best)! + 1)
        return Effect.succeed(best)
      }
      return Effect.flatMap(
        Effect.async<void>((resume) => {
          const wake = () => resume(Effect.void)
          waiters.push(wake)
          return Effect.sync(() => {
            const at = waiters.indexOf(wake)
            if (at >= 0) waiters.splice(at, 1)
          })
        }),
        () => acquire(preferred)
      )
    })

  const run: ComfyPool["run"] = (workflow, promptId, onProgress) =>
    Effect.gen(function* () {
      // An earlier delivery of this event may have queued it on any server.
      let home: ComfyServer | undefined
      let queuedNow = false
      for (const server of servers) {
        const found = yield* Effect.either(server.lookup(promptId))
        if (found._tag === "Left" || found.right.state === "unknown") continue
        const state = found.right
        if (state.state === "done") {
          const out = yield* server.collect(state.entry, workflow)
          return { server: server.url, promptId, queuedNow: false, ...out, previews: 0 } satisfies RunResult
        }
        if (state.state === "failed") {
          // A permanent failure stands; a retryable one (out of memory, interrupted) is queued again below.
          const failed = yield* Effect.either(server.collect(state.entry, workflow))
          if (failed._tag === "Left" && !failed.left.retryable) return yield* failed.left
          continue
        }
        home = server
        break
      }
      const server = yield* acquire(home)
      return yield* Effect.ensuring(
        Effect.gen(function* () {
          if (home === undefined) {
            yield* server.submit(workflow, promptId, promptId)
            queuedNow = true
          }
          const { entry, previews } = yield* server.follow(promptId, promptId, options.timeouts, onProgress)
          const out = yield* server.collect(entry, workflow)
          return { server: server.url, promptId, queuedNow, ...out, previews } satisfies RunResult
        }),
        Effect.sync(() => release(server))
      )
    })

  return { servers, run, inFlight: () => Object.fromEntries(servers.map((s) => [s.url, busy.get(s)!])) }
}
