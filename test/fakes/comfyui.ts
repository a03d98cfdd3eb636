/**
 * A fake ComfyUI server speaking the wire format of comfyanonymous/ComfyUI `server.py`
 * and `execution.py` (read from the source):
 *
 * - `POST /prompt {prompt, client_id, prompt_id}` validates the graph as
 *   `execution.validate_prompt` does: an unknown `class_type` answers 400
 *   `{error: {type: "invalid_prompt", message: "Cannot execute because node X does not exist.", details: "Node ID '#id'"}, node_errors: {}}`;
 *   a missing required input or a model file that is not installed answers 400
 *   `{error: {type: "prompt_outputs_failed_validation", ...}, node_errors: {id: {errors, dependent_outputs, class_type}}}`;
 *   accepted, `{prompt_id, number, node_errors: {}}`. A `prompt_id` that is not a
 *   canonical lowercase UUID is refused, as newer servers do.
 * - `GET /queue` `{queue_running, queue_pending}` of `[number, prompt_id, prompt, extra_data, outputs]`;
 *   `GET /history/{id}` `{id: {prompt, outputs: {node: {images: [{filename, subfolder, type}]}}, status: {status_str, completed, messages}}}` or `{}`;
 *   `GET /view?filename&subfolder&type` the image bytes.
 * - `/ws?clientId=` sends `status` on connect; a run's messages go to the client that queued
 *   it: `execution_start`, `execution_cached`, `executing {node}`, `progress {value, max}`,
 *   binary preview frames (`>I` 1, `>I` 1 = JPEG, bytes), `executed`, `executing {node: null}`,
 *   `execution_success`, or `execution_error` with `exception_type` / `exception_message`.
 *
 * Runs execute one at a time. Images are real PNGs: a flat white background with a
 * coloured disc and bar, sized by the latent (times 4 after an upscale model), so
 * background removal has something real to do. Faults are switched on per test.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { Effect } from "effect"
import sharp from "sharp"
import { WebSocketServer, type WebSocket } from "ws"

interface NodeClass {
  readonly required: ReadonlyArray<string>
  readonly output?: boolean
  /** Allowed values of an input (model files), checked as `value_not_in_list`. */
  readonly lists?: Record<string, ReadonlyArray<string>>
}

/** The node classes this fake "has installed", with their required inputs (from nodes.py INPUT_TYPES). */
export const NODE_CLASSES: Record<string, NodeClass> = {
  CheckpointLoaderSimple: { required: ["ckpt_name"], lists: { ckpt_name: ["sd_xl_base_1.0.safetensors"] } },
  CLIPTextEncode: { required: ["text", "clip"] },
  EmptyLatentImage: { required: ["width", "height", "batch_size"] },
  KSampler: { required: ["model", "seed", "steps", "cfg", "sampler_name", "scheduler", "positive", "negative", "latent_image", "denoise"] },
  VAEDecode: { required: ["samples", "vae"] },
  SaveImage: { required: ["images", "filename_prefix"], output: true },
  PrimitiveInt: { required: ["value"] },
  UpscaleModelLoader: { required: ["model_name"], lists: { model_name: ["4x-UltraSharp.pth"] } },
  ImageUpscaleWithModel: { required: ["upscale_model", "image"] },
  // ComfyUI-RMBG (1038lab): image -> (IMAGE, MASK)
  RMBG: { required: ["image", "model"], lists: { model: ["RMBG-2.0", "BiRefNet-general"] } },
  MaskToImage: { required: ["mask"] }
}

export type ComfyFault =
  | { readonly kind: "none" }
  /** The checkpoint is not installed: `value_not_in_list` on every submission. */
  | { readonly kind: "node_errors" }
  /** The next `times` runs fail with a CUDA out-of-memory `execution_error`. */
  | { readonly kind: "oom"; readonly times: number }
  /** The next `times` runs drop every socket halfway; with `refuseReconnect` new sockets are refused until the run ends. */
  | { readonly kind: "drop_socket"; readonly times: number; readonly refuseReconnect?: boolean }
  /** Each run waits this long in the queue before it starts. */
  | { readonly kind: "slow_queue"; readonly ms: number }

interface QueuedPrompt {
  readonly number: number
  readonly promptId: string
  readonly prompt: Record<string, { class_type: string; inputs: Record<string, unknown>; _meta?: { title?: string } }>
  readonly clientId: string
  readonly outputs: ReadonlyArray<string>
}

export interface FakeComfyUI {
  readonly url: string
  fault: ComfyFault
  /** Delay per sampler step (ms). */
  stepMs: number
  /** Submissions accepted per prompt_id: a test asserts no prompt is queued twice. */
  readonly submissions: Map<string, number>
  /** Every POST /prompt body's prompt_id, in order, accepted or not. */
  readonly posted: Array<string>
  readonly history: Map<string, unknown>
  /** Runs started (execution_start sent). */
  readonly started: Array<string>
  /** Sockets opened so far. */
  readonly connections: () => number
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const isLink = (v: unknown): v is [string, number] => Array.isArray(v) && v.length === 2 && typeof v[0] === "string" && typeof v[1] === "number"

type Graph = QueuedPrompt["prompt"]

/** `execution.validate_prompt`, for the classes above: [ok, error, outputs, node_errors]. */
const validate = (prompt: Graph, fault: ComfyFault): [boolean, unknown, Array<string>, Record<string, unknown>] => {
  const outputs: Array<string> = []
  for (const [id, node] of Object.entries(prompt)) {
    if (node === null || typeof node !== "object" || !("class_type" in node)) {
      return [false, { type: "invalid_prompt", message: "Cannot execute because a node is missing the class_type property.", details: `Node ID '#${id}'`, extra_info: {} }, [], {}]
    }
    const cls = NODE_CLASSES[node.class_type]
    if (cls === undefined) {
      return [false, { type: "invalid_prompt", message: `Cannot execute because node ${node.class_type} does not exist.`, details: `Node ID '#${id}'`, extra_info: {} }, [], {}]
    }
    if (cls.output) outputs.push(id)
  }
  if (outputs.length === 0) return [false, { type: "prompt_no_outputs", message: "Prompt has no outputs", details: "", extra_info: {} }, [], {}]
  const nodeErrors: Record<string, { errors: Array<unknown>; dependent_outputs: Array<string>; class_type: string }> = {}
  const lines: Array<string> = []
  const visit = (id: string, output: string, seen: Set<string>) => {
    if (seen.has(id)) return
    seen.add(id)
    const node = prompt[id]!
    const cls = NODE_CLASSES[node.class_type]!
    const errors: Array<unknown> = []
    for (const input of cls.required) {
      const value = node.inputs?.[input]
      if (value === undefined) {
        errors.push({ type: "required_input_missing", message: "Required input is missing", details: input, extra_info: { input_name: input } })
      } else if (isLink(value)) {
        if (prompt[value[0]] === undefined) {
          errors.push({ type: "exception_during_inner_validation", message: "Exception when validating inner node", details: `'${value[0]}'`, extra_info: { input_name: input } })
        } else visit(value[0], output, seen)
      } else {
        const allowed = fault.kind === "node_errors" && input === "ckpt_name" ? [] : cls.lists?.[input]
        if (allowed !== undefined && !allowed.includes(String(value))) {
          errors.push({ type: "value_not_in_list", message: "Value not in list", details: `${input}: '${String(value)}' not in ${JSON.stringify(allowed)}`, extra_info: { input_name: input, received_value: value } })
        }
      }
    }
    if (errors.length > 0) {
      const entry = (nodeErrors[id] ??= { errors, dependent_outputs: [], class_type: node.class_type })
      entry.dependent_outputs.push(output)
      for (const e of errors as Array<{ message: string; details: string }>) lines.push(`${e.message}: ${e.details}`)
    }
  }
  for (const o of outputs) visit(o, o, new Set())
  if (Object.keys(nodeErrors).length > 0) {
    return [false, { type: "prompt_outputs_failed_validation", message: "Prompt outputs failed validation", details: lines.join("\n"), extra_info: {} }, [], nodeErrors]
  }
  return [true, null, outputs, {}]
}

/** A number input, following a link to a PrimitiveInt. */
const numberInput = (prompt: Graph, value: unknown): number => {
  if (isLink(value)) return numberInput(prompt, prompt[value[0]]?.inputs["value"])
  return Number(value)
}

/** The nodes an output depends on, dependencies first. */
const order = (prompt: Graph, outputs: ReadonlyArray<string>): Array<string> => {
  const out: Array<string> = []
  const visit = (id: string) => {
    if (out.includes(id)) return
    for (const v of Object.values(prompt[id]!.inputs)) if (isLink(v)) visit(v[0])
    out.push(id)
  }
  outputs.forEach(visit)
  return out
}

/** The image chain behind a SaveImage: size, whether upscaled, whether it is a matte. */
const imageSpec = (prompt: Graph, id: string): { width: number; height: number; batch: number; seed: number; upscale: number; matte: boolean; removed: boolean } => {
  let matte = false
  let removed = false
  let upscale = 1
  let width = 1024
  let height = 1024
  let batch = 1
  let seed = 0
  const walk = (nodeId: string) => {
    const node = prompt[nodeId]!
    if (node.class_type === "MaskToImage") matte = true
    if (node.class_type === "RMBG") removed = true
    if (node.class_type === "ImageUpscaleWithModel") upscale *= 4
    if (node.class_type === "KSampler") seed = numberInput(prompt, node.inputs["seed"])
    if (node.class_type === "EmptyLatentImage") {
      width = numberInput(prompt, node.inputs["width"])
      height = numberInput(prompt, node.inputs["height"])
      batch = numberInput(prompt, node.inputs["batch_size"])
    }
    for (const v of Object.values(node.inputs)) if (isLink(v)) walk(v[0])
  }
  walk(id)
  return { width, height, batch, seed, upscale, matte, removed }
}

const HUES = ["#d7263d", "#1b998b", "#2e294e", "#f46036", "#3a86ff", "#8338ec"]

/** A design on a flat white ground (or its matte): a disc and a bar, placed by the seed. */
export const renderFakeImage = (spec: { width: number; height: number; seed: number; matte: boolean; index: number }) => {
  const { width: w, height: h } = spec
  const colour = HUES[(spec.seed + spec.index) % HUES.length]!
  const fill = spec.matte ? "#ffffff" : colour
  const cx = w * (0.45 + ((spec.seed % 7) / 70))
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}">
    <rect width="${w}" height="${h}" fill="${spec.matte ? "#000000" : "#ffffff"}"/>
    <circle cx="${cx}" cy="${h * 0.42}" r="${Math.min(w, h) * 0.22}" fill="${fill}"/>
    <rect x="${w * 0.22}" y="${h * 0.7}" width="${w * 0.56}" height="${h * 0.08}" rx="${h * 0.02}" fill="${spec.matte ? "#ffffff" : "#222222"}"/>
  </svg>`
  return sharp(Buffer.from(svg)).png().toBuffer()
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8" })
  res.end(JSON.stringify(body))
}

const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve, reject) => {
    const parts: Array<Buffer> = []
    req.on("data", (c: Buffer) => parts.push(c))
    req.on("end", () => resolve(Buffer.concat(parts).toString("utf8")))
    req.on("error", reject)
  })

/** Starts the fake on 127.0.0.1 for the length of the scope. */
export const startFakeComfyUI = Effect.gen(function* () {
  const files = new Map<string, Buffer>()
  const history = new Map<string, unknown>()
  const submissions = new Map<string, number>()
  const posted: Array<string> = []
  const started: Array<string> = []
  const pending: Array<QueuedPrompt> = []
  let running: QueuedPrompt | undefined
  let number = 0
  let connections = 0
  let refuseSockets = false
  const sockets = new Map<string, WebSocket>()

  const state: FakeComfyUI = {
    url: "",
    fault: { kind: "none" },
    stepMs: 5,
    submissions,
    posted,
    history,
    started,
    connections: () => connections
  }

  const sendTo = (clientId: string, type: string, data: Record<string, unknown>) => {
    const ws = sockets.get(clientId)
    if (ws?.readyState === 1) ws.send(JSON.stringify({ type, data }))
  }
  const queueRemaining = () => pending.length + (running ? 1 : 0)
  const broadcastStatus = () => {
    for (const ws of sockets.values()) if (ws.readyState === 1) ws.send(JSON.stringify({ type: "status", data: { status: { exec_info: { queue_remaining: queueRemaining() } } } }))
  }

  const execute = async (item: QueuedPrompt) => {
    const fault = state.fault
    const messages: Array<[string, unknown]> = []
    const emit = (type: string, data: Record<string, unknown>, record = false) => {
      const payload = { ...data, prompt_id: item.promptId }
      if (record) messages.push([type, { ...payload, timestamp: Date.now() }])
      sendTo(item.clientId, type, payload)
    }
    started.push(item.promptId)
    emit("execution_start", {}, true)
    emit("execution_cached", { nodes: [] }, true)
    const outputs: Record<string, { images: Array<{ filename: string; subfolder: string; type: string }> }> = {}
    const oom = fault.kind === "oom" && fault.times > 0
    const drop = fault.kind === "drop_socket" && fault.times > 0
    if (oom) state.fault = { kind: "oom", times: fault.times - 1 }
    if (drop) state.fault = { ...fault, times: fault.times - 1 }
    for (const id of order(item.prompt, item.outputs)) {
      const node = item.prompt[id]!
      emit("executing", { node: id, display_node: id })
      if (node.class_type === "KSampler") {
        if (oom) {
          const error = {
            node_id: id,
            node_type: "KSampler",
            executed: [],
            exception_message:
              "Allocation on device 0 would exceed allowed memory. (out of memory)\nCurrently allocated     : 22.51 GiB\nThis error means you ran out of memory on your GPU.",
            exception_type: "torch.OutOfMemoryError",
            traceback: ["  File \"execution.py\", line 323, in execute\n"],
            current_inputs: {},
            current_outputs: []
          }
          emit("execution_error", error, true)
          history.set(item.promptId, { prompt: [item.number, item.promptId, item.prompt, { client_id: item.clientId }, item.outputs], outputs: {}, status: { status_str: "error", completed: false, messages }, meta: {} })
          return
        }
        const steps = Math.max(1, Math.min(numberInput(item.prompt, node.inputs["steps"]), 30))
        for (let step = 1; step <= steps; step++) {
          await sleep(state.stepMs)
          emit("progress", { value: step, max: steps, node: id })
          if (step % 5 === 0) {
            const ws = sockets.get(item.clientId)
            if (ws?.readyState === 1) {
              const header = Buffer.alloc(8)
              header.writeUInt32BE(1, 0)
              header.writeUInt32BE(1, 4)
              ws.send(Buffer.concat([header, await sharp({ create: { width: 8, height: 8, channels: 3, background: "#888" } }).jpeg().toBuffer()]))
            }
          }
          if (drop && step === Math.ceil(steps / 2)) {
            refuseSockets = fault.kind === "drop_socket" && fault.refuseReconnect === true
            for (const ws of sockets.values()) ws.terminate()
            sockets.clear()
          }
        }
      }
      if (node.class_type === "SaveImage") {
        const spec = imageSpec(item.prompt, id)
        const images = []
        for (let i = 0; i < spec.batch; i++) {
          const filename = `${String(node.inputs["filename_prefix"])}_${String(item.number).padStart(5, "0")}_${id}_${i}_.png`
          files.set(filename, await renderFakeImage({ width: spec.width * spec.upscale, height: spec.height * spec.upscale, seed: spec.seed, matte: spec.matte, index: i }))
          images.push({ filename, subfolder: "", type: "output" })
        }
        outputs[id] = { images }
        emit("executed", { node: id, display_node: id, output: { images } })
      }
    }
    emit("executing", { node: null })
    emit("execution_success", {}, true)
    history.set(item.promptId, {
      prompt: [item.number, item.promptId, item.prompt, { client_id: item.clientId }, item.outputs],
      outputs,
      status: { status_str: "success", completed: true, messages },
      meta: {}
    })
    refuseSockets = false
  }

  let pumping = false
  /** Starts the next queued prompt; a slow queue keeps it pending (in `queue_pending`) a while first. */
  const pump = () => {
    if (running !== undefined || pumping || pending.length === 0) return
    pumping = true
    setTimeout(() => {
      pumping = false
      const next = pending.shift()
      if (next === undefined) return
      running = next
      broadcastStatus()
      void execute(next).finally(() => {
        running = undefined
        broadcastStatus()
        pump()
      })
    }, state.fault.kind === "slow_queue" ? state.fault.ms : 0)
  }

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://fake")
    const path = url.pathname.replace(/^\/api(?=\/)/, "")
    if (req.method === "POST" && path === "/prompt") {
      let body: Record<string, unknown>
      try {
        body = JSON.parse(await readBody(req))
      } catch {
        return json(res, 400, { error: { type: "invalid_json", message: "invalid json" }, node_errors: {} })
      }
      if (!("prompt" in body)) return json(res, 400, { error: { type: "no_prompt", message: "No prompt provided", details: "No prompt provided", extra_info: {} }, node_errors: {} })
      const promptId = body["prompt_id"] === undefined ? crypto.randomUUID() : String(body["prompt_id"])
      posted.push(promptId)
      if (!UUID.test(promptId)) {
        return json(res, 400, { error: { type: "invalid_prompt", message: "Invalid prompt_id", details: `prompt_id must be a lowercase UUID, got '${promptId}'`, extra_info: {} }, node_errors: {} })
      }
      const prompt = body["prompt"] as Graph
      const [ok, error, outputs, nodeErrors] = validate(prompt, state.fault)
      if (!ok) return json(res, 400, { error, node_errors: nodeErrors })
      submissions.set(promptId, (submissions.get(promptId) ?? 0) + 1)
      const item: QueuedPrompt = { number: number++, promptId, prompt, clientId: String(body["client_id"] ?? ""), outputs }
      pending.push(item)
      json(res, 200, { prompt_id: promptId, number: item.number, node_errors: {} })
      broadcastStatus()
      pump()
      return
    }
    if (req.method === "GET" && path === "/queue") {
      const tuple = (q: QueuedPrompt) => [q.number, q.promptId, q.prompt, { client_id: q.clientId }, q.outputs]
      return json(res, 200, { queue_running: running ? [tuple(running)] : [], queue_pending: pending.map(tuple) })
    }
    if (req.method === "GET" && path.startsWith("/history/")) {
      const id = decodeURIComponent(path.slice("/history/".length))
      const entry = history.get(id)
      return json(res, 200, entry === undefined ? {} : { [id]: entry })
    }
    if (req.method === "GET" && path === "/view") {
      const file = files.get(url.searchParams.get("filename") ?? "")
      if (file === undefined || (url.searchParams.get("type") ?? "output") !== "output") {
        res.writeHead(404)
        return res.end()
      }
      res.writeHead(200, { "content-type": "image/png", "content-disposition": `filename="${url.searchParams.get("filename")}"` })
      return res.end(file)
    }
    res.writeHead(404)
    res.end()
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e) => json(res, 500, { error: String(e) }))
  })
  const wss = new WebSocketServer({ noServer: true })
  server.on("upgrade", (req, socket, head) => {
    const url = new URL(req.url ?? "/", "http://fake")
    if (url.pathname !== "/ws" || refuseSockets) {
      socket.end("HTTP/1.1 503 Service Unavailable\r\n\r\n")
      return
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      connections++
      const sid = url.searchParams.get("clientId") || crypto.randomUUID().replace(/-/g, "")
      sockets.set(sid, ws)
      ws.on("close", () => sockets.get(sid) === ws && sockets.delete(sid))
      ws.send(JSON.stringify({ type: "status", data: { status: { exec_info: { queue_remaining: queueRemaining() } }, sid } }))
    })
  })

  yield* Effect.acquireRelease(
    Effect.async<void>((resume) => {
      server.listen(0, "127.0.0.1", () => resume(Effect.void))
    }),
    () =>
      Effect.async<void>((resume) => {
        for (const ws of wss.clients) ws.terminate()
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )
  const { port } = server.address() as AddressInfo
  ;(state as { url: string }).url = `http://127.0.0.1:${port}`
  return state
})
