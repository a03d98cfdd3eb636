/**
 * Contract tests of the ComfyUI client (operators/artwork/comfyui.ts) against the fake
 * ComfyUI (test/fakes/comfyui.ts): each fault is retried, dead-lettered with ComfyUI's
 * reason, or recovered from /history, and no prompt is ever queued twice for one event.
 */
import { readFileSync } from "node:fs"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import sharp from "sharp"
import { applyValues, makePool, type RunProgress, type RunTimeouts, type Workflow } from "../operators/artwork/comfyui.ts"
import { deriveEventId } from "../runtime/envelope.ts"
import { PermanentError, RetryableError } from "../runtime/errors.ts"
import { layer as httpLayer } from "../runtime/httpClient.ts"
import { startFakeComfyUI } from "./fakes/comfyui.ts"
import { freePort } from "./fakes/server.ts"

const workflowFile = (name: string) => JSON.parse(readFileSync(new URL(`../gpu/comfyui/${name}`, import.meta.url), "utf8")) as Workflow
const values = { prompt: "retro sunset badge, 'Coffee First'", negative: "photo", seed: 42, width: 256, height: 256, batch: 1 }
const fast = { queue: "20 seconds", execution: "20 seconds", poll: "50 millis" } as const
const pool = (urls: ReadonlyArray<string>, timeouts: RunTimeouts = fast) => makePool({ urls, perServer: 1, timeouts })
const graph = (name = "sdxl-tshirt.api.json", overrides: Partial<typeof values> = {}) => applyValues(workflowFile(name), { ...values, ...overrides })

describe("ComfyUI client against the fake server", () => {
  it.scopedLive("queues by node title, follows progress over the socket, and downloads the PNG", () =>
    Effect.gen(function* () {
      const fake = yield* startFakeComfyUI
      const progress: Array<RunProgress> = []
      const id = deriveEventId("test", "happy")
      const result = yield* pool([fake.url]).run(yield* graph(), id, (p) => progress.push(p))
      expect(result.queuedNow).toBe(true)
      expect(result.images).toHaveLength(1)
      const meta = yield* Effect.promise(() => sharp(result.images[0]!).metadata())
      expect([meta.format, meta.width, meta.height]).toEqual(["png", 256, 256])
      expect(progress[0]?.phase).toBe("queued")
      const steps = progress.filter((p) => p.phase === "executing" && p.max !== undefined)
      expect(steps.at(-1)).toMatchObject({ value: 30, max: 30 })
      expect(result.previews).toBeGreaterThan(0)
      expect(fake.submissions.get(id)).toBe(1)
    }).pipe(Effect.provide(httpLayer))
  )

  it.scopedLive("a redelivered event collects its earlier run from /history instead of queuing again", () =>
    Effect.gen(function* () {
      const fake = yield* startFakeComfyUI
      const id = deriveEventId("test", "redelivered")
      const client = pool([fake.url])
      const workflow = yield* graph()
      const first = yield* client.run(workflow, id, () => {})
      const again = yield* pool([fake.url]).run(workflow, id, () => {})
      expect(again.queuedNow).toBe(false)
      expect(again.images[0]!.equals(first.images[0]!)).toBe(true)
      expect(fake.submissions.get(id)).toBe(1)
    }).pipe(Effect.provide(httpLayer))
  )

  it.scopedLive("a redelivery while the first run is still going follows it instead of queuing again", () =>
    Effect.gen(function* () {
      const fake = yield* startFakeComfyUI
      fake.stepMs = 30
      const id = deriveEventId("test", "in-flight")
      const workflow = yield* graph()
      const [a, b] = yield* Effect.all(
        [pool([fake.url]).run(workflow, id, () => {}), Effect.delay(pool([fake.url]).run(workflow, id, () => {}), "200 millis")],
        { concurrency: 2 }
      )
      expect([a.queuedNow, b.queuedNow]).toEqual([true, false])
      expect(b.images).toHaveLength(1)
      expect(fake.submissions.get(id)).toBe(1)
    }).pipe(Effect.provide(httpLayer))
  )

  it.scopedLive("node_errors (a model that is not installed) is permanent and quotes ComfyUI's message", () =>
    Effect.gen(function* () {
      const fake = yield* startFakeComfyUI
      fake.fault = { kind: "node_errors" }
      const error = yield* Effect.flip(pool([fake.url]).run(yield* graph(), deriveEventId("test", "node-errors"), () => {}))
      expect(error).toBeInstanceOf(PermanentError)
      expect(error.message).toContain("Prompt outputs failed validation")
      expect(error.message).toContain("node 4 (CheckpointLoaderSimple): Value not in list (ckpt_name: 'sd_xl_base_1.0.safetensors' not in [])")
      expect(fake.submissions.size).toBe(0)
    }).pipe(Effect.provide(httpLayer))
  )

  it.scopedLive("an unknown class_type or a missing input is refused as ComfyUI refuses it", () =>
    Effect.gen(function* () {
      const fake = yield* startFakeComfyUI
      const base = yield* graph()
      const unknown = { ...base, "99": { class_type: "NoSuchNode", inputs: {} } }
      const e1 = yield* Effect.flip(pool([fake.url]).run(unknown, deriveEventId("test", "unknown"), () => {}))
      expect(e1).toBeInstanceOf(PermanentError)
      expect(e1.message).toContain("Cannot execute because node NoSuchNode does not exist.: Node ID '#99'")
      const { text: _text, ...inputs } = base["6"]!.inputs
      const missing = { ...base, "6": { ...base["6"]!, inputs } }
      const e2 = yield* Effect.flip(pool([fake.url]).run(missing, deriveEventId("test", "missing"), () => {}))
      expect(e2.message).toContain("node 6 (CLIPTextEncode): Required input is missing (text)")
      // A workflow without the titles desAInz sets is refused before it is sent.
      const e3 = yield* Effect.flip(applyValues({ "1": { class_type: "SaveImage", inputs: {} } }, values))
      expect(e3.message).toContain('no node titled "desainz.prompt"')
    }).pipe(Effect.provide(httpLayer))
  )

  it.scopedLive("an out-of-memory execution_error is retryable, and the retry queues the failed prompt once more", () =>
    Effect.gen(function* () {
      const fake = yield* startFakeComfyUI
      fake.fault = { kind: "oom", times: 1 }
      const id = deriveEventId("test", "oom")
      const workflow = yield* graph()
      const error = yield* Effect.flip(pool([fake.url]).run(workflow, id, () => {}))
      expect(error).toBeInstanceOf(RetryableError)
      expect(error.message).toContain("torch.OutOfMemoryError")
      const retried = yield* pool([fake.url]).run(workflow, id, () => {})
      expect(retried.images).toHaveLength(1)
      expect(fake.submissions.get(id)).toBe(2)
      // Once done, a further redelivery queues nothing.
      yield* pool([fake.url]).run(workflow, id, () => {})
      expect(fake.submissions.get(id)).toBe(2)
    }).pipe(Effect.provide(httpLayer))
  )

  it.scopedLive("a socket dropped mid-run (and refused on reconnect) is recovered by polling /history", () =>
    Effect.gen(function* () {
      const fake = yield* startFakeComfyUI
      fake.stepMs = 20
      fake.fault = { kind: "drop_socket", times: 1, refuseReconnect: true }
      const id = deriveEventId("test", "drop")
      const result = yield* pool([fake.url]).run(yield* graph(), id, () => {})
      expect(result.images).toHaveLength(1)
      expect(fake.submissions.get(id)).toBe(1)
    }).pipe(Effect.provide(httpLayer))
  )

  it.scopedLive("a slow queue times out as retryable; the retry follows the same queued prompt", () =>
    Effect.gen(function* () {
      const fake = yield* startFakeComfyUI
      fake.fault = { kind: "slow_queue", ms: 1_500 }
      const id = deriveEventId("test", "slow")
      const workflow = yield* graph()
      const error = yield* Effect.flip(pool([fake.url], { queue: "300 millis", execution: "20 seconds", poll: "50 millis" }).run(workflow, id, () => {}))
      expect(error).toBeInstanceOf(RetryableError)
      expect(error.message).toContain("still queued")
      const result = yield* pool([fake.url]).run(workflow, id, () => {})
      expect(result.queuedNow).toBe(false)
      expect(fake.submissions.get(id)).toBe(1)
    }).pipe(Effect.provide(httpLayer))
  )

  it.scopedLive("a refused connection is retryable", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(freePort)
      const error = yield* Effect.flip(pool([`http://127.0.0.1:${port}`]).run(yield* graph(), deriveEventId("test", "refused"), () => {}))
      expect(error).toBeInstanceOf(RetryableError)
    }).pipe(Effect.provide(httpLayer))
  )

  it.scopedLive("a pool sends concurrent prompts to different servers, one in flight each", () =>
    Effect.gen(function* () {
      const a = yield* startFakeComfyUI
      const b = yield* startFakeComfyUI
      a.stepMs = b.stepMs = 20
      const client = pool([a.url, b.url])
      const workflow = yield* graph()
      const results = yield* Effect.all(
        [0, 1, 2].map((i) => client.run(workflow, deriveEventId("test", "pool", String(i)), () => {})),
        { concurrency: 3 }
      )
      expect(new Set(results.map((r) => r.server))).toEqual(new Set([a.url, b.url]))
      expect(a.submissions.size + b.submissions.size).toBe(3)
      expect(Object.values(client.inFlight())).toEqual([0, 0])
    }).pipe(Effect.provide(httpLayer))
  )

  it.scopedLive("the background-removal workflow returns the matte beside the image", () =>
    Effect.gen(function* () {
      const fake = yield* startFakeComfyUI
      const result = yield* pool([fake.url]).run(yield* graph("sdxl-tshirt-rmbg.api.json"), deriveEventId("test", "rmbg"), () => {})
      expect(result.images).toHaveLength(1)
      expect(result.mattes).toHaveLength(1)
      const either = yield* Effect.either(Effect.promise(() => sharp(result.mattes[0]!).stats()))
      expect(Either.isRight(either)).toBe(true)
    }).pipe(Effect.provide(httpLayer))
  )
})
