/**
 * Live generation progress across processes, on the real redis-server: a `desainz worker
 * --only generate` child process (test/fixtures/generate.topology.ts) renders against the
 * fake ComfyUI and publishes progress through Redis; this process serves the artwork API
 * with its own subscriber and streams `/api/generations/events` to an SSE client, which
 * sees queued -> executing (step value/max) -> post-processing -> done for each candidate,
 * in order. A client connecting mid-run starts from the stored latest states.
 *
 * The layers' contract (both backends): latest state per candidate, bounded; Redis states
 * expire; a malformed message is dropped with the reason logged and counted; publishing to
 * an unreachable Redis neither fails nor waits.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Deferred, Effect, Exit, Fiber, Layer, Logger, LogLevel, ManagedRuntime, Option, Redacted, Scope } from "effect"
import { Redis } from "ioredis"
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest"
import { artworkApi } from "../operators/api/artwork.ts"
import { buildRequest } from "../operators/artwork/prompt.ts"
import { GenerationProgress, type GenerationState, progressKeys } from "../operators/artwork/progress.ts"
import { GenerationRequest } from "../operators/schemas.ts"
import { Store } from "../operators/store/store.ts"
import { BlobStore } from "../runtime/blobs.ts"
import { deriveEventId, makeEnvelopeCodec } from "../runtime/envelope.ts"
import { makeHttpApp, serveHttp } from "../runtime/http.ts"
import { makeKeys } from "../runtime/keys.ts"
import { Metrics } from "../runtime/metrics.ts"
import { Sql } from "../runtime/sql.ts"
import { topology } from "../runtime/topology.ts"
import * as EmbeddedTransport from "../runtime/transport/embedded.ts"
import * as RedisTransport from "../runtime/transport/redis.ts"
import { type FakeComfyUI, startFakeComfyUI } from "./fakes/comfyui.ts"
import { requests } from "./fixtures/generate.topology.ts"
import { uniqueName } from "./support/harness.ts"
import { startTcpProxy } from "./support/tcpProxy.ts"
import { sampleIdea } from "./support/listings.ts"
import { freePort } from "./support/redisServer.ts"
import { migratedStore } from "./support/store.ts"

const BIN = new URL("../bin/desainz.js", import.meta.url).pathname
const TOPOLOGY = new URL("./fixtures/generate.topology.ts", import.meta.url).pathname
const CANDIDATES = 2

const waitFor = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** A Server-Sent Events client over fetch: every event, parsed, as it arrives. */
const openSse = async (url: string) => {
  const abort = new AbortController()
  const response = await fetch(url, { signal: abort.signal, headers: { accept: "text/event-stream" } })
  expect(response.status).toBe(200)
  expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/)
  const events: Array<{ event: string; data: unknown }> = []
  const reading = (async () => {
    const decoder = new TextDecoder()
    let buffer = ""
    try {
      const reader = response.body!.getReader()
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        buffer += decoder.decode(value, { stream: true })
        let end: number
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const lines = block.split("\n")
          const event = lines.find((l) => l.startsWith("event:"))?.slice(6).trim()
          const data = lines.filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n")
          if (event !== undefined) events.push({ event, data: JSON.parse(data) })
        }
      }
    } catch {
      // aborted
    }
  })()
  return {
    events,
    snapshot: () => events.find((e) => e.event === "snapshot")?.data as ReadonlyArray<GenerationState> | undefined,
    progress: () => events.filter((e) => e.event === "progress").map((e) => e.data as GenerationState),
    close: async () => {
      abort.abort()
      await reading
    }
  }
}

/** Consecutive repeats collapsed: the phases a candidate went through, in order. */
const phasesOf = (states: ReadonlyArray<GenerationState>) =>
  states.map((s) => s.phase).filter((phase, i, all) => i === 0 || all[i - 1] !== phase)

const exitOf = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once("exit", (code) => resolve(code))))

describe("generation progress from a generate worker process to the API's SSE feed", () => {
  const dir = mkdtempSync(join(tmpdir(), "desainz-progress-"))
  const name = uniqueName("progress")
  const idea = sampleIdea({ ideaId: "6a1f2c0e-58a8-4d7e-9a0b-00000000c001", signalId: "6a1f2c0e-58a8-4d7e-9a0b-00000000d001" })
  const fakeScope = Effect.runSync(Scope.make())
  let runtime: ManagedRuntime.ManagedRuntime<Store | Sql | GenerationProgress | Metrics, unknown>
  let server: Fiber.RuntimeFiber<never, unknown> | undefined
  let fake: FakeComfyUI
  let base = ""
  const children: Array<ChildProcess> = []

  beforeAll(async () => {
    const url = Redacted.make(inject("redisUrl"))
    const services = Layer.mergeAll(
      migratedStore("desainz-progress-pg-"),
      BlobStore.layerLocal({ root: join(dir, "blobs") }),
      // This process's own subscriber: another connection, another process than the worker's publisher.
      GenerationProgress.layerRedis({ url, topology: name })
    )
    runtime = ManagedRuntime.make(Layer.mergeAll(RedisTransport.layer({ url }), Metrics.layer, services)) as typeof runtime
    const t = topology({ name, nodes: [], services, api: [artworkApi({ requests })] })
    const ready = await runtime.runPromise(Deferred.make<number>())
    server = runtime.runFork(
      Effect.scoped(
        Effect.gen(function* () {
          const app = yield* makeHttpApp({ topology: t, keys: makeKeys(name), token: Option.none(), corsOrigins: [] })
          const http = yield* serveHttp(app, { port: 0, host: "127.0.0.1" })
          yield* Deferred.succeed(ready, (http.address() as AddressInfo).port)
          return yield* Effect.never
        }) as Effect.Effect<never, unknown, any>
      )
    )
    base = `http://127.0.0.1:${await runtime.runPromise(Deferred.await(ready))}`
    fake = await Effect.runPromise(Scope.extend(startFakeComfyUI, fakeScope))
    // The idea the generation belongs to, as the scorer leaves it.
    await runtime.runPromise(
      Effect.gen(function* () {
        const store = yield* Store
        yield* store.upsertSignals([{ id: idea.signalId, content: idea.signal.content, source: idea.signal.source, capturedAt: new Date(idea.signal.capturedAt), metadata: {}, contentHash: idea.ideaId.replace(/-/g, "") }])
        yield* store.upsertIdeas([{ id: idea.ideaId, signalId: idea.signalId, title: idea.title, description: idea.keyPhrase, embedding: null, score: idea.score, factors: idea.factors, weightsVersion: 1 }])
      })
    )
  }, 120_000)

  afterAll(async () => {
    children.forEach((c) => c.exitCode === null && c.kill("SIGKILL"))
    if (server) await runtime.runPromise(Fiber.interrupt(server))
    await runtime?.dispose()
    await Effect.runPromise(Scope.close(fakeScope, Exit.void))
    rmSync(dir, { recursive: true, force: true })
  })

  it("streams queued -> executing (value/max) -> post-processing -> done per candidate, in order; a late client starts from the latest states", async () => {
    // Slow enough sampling that the second client joins mid-run on any machine (it asserts no timing).
    fake.stepMs = 40
    const early = await openSse(`${base}/api/generations/events`)
    await waitFor("the first client has its snapshot", () => early.snapshot() !== undefined, 20_000)

    const redis = new Redis(inject("redisUrl"))
    try {
      const request = buildRequest(idea, { engine: "comfyui", candidates: CANDIDATES })
      const eventId = deriveEventId(name, "progress-request")
      const fields = makeEnvelopeCodec("gen.requests", GenerationRequest).encode({
        eventType: "generation.requested",
        eventId,
        timestamp: new Date().toISOString(),
        source: "test",
        version: 1,
        correlationId: eventId,
        data: request
      })
      await redis.xadd(makeKeys(name).stream("gen.requests"), "*", ...Object.entries(fields).flat())
      const { endpoint } = await runtime.runPromise(Sql)
      if (endpoint._tag !== "Embedded") throw new Error("expected the embedded store")
      const child = spawn(process.execPath, [BIN, "worker", "--topology", TOPOLOGY, "--only", "generate"], {
        env: {
          ...process.env,
          REDIS_URL: inject("redisUrl"),
          GENERATE_TOPOLOGY: name,
          DATABASE_URL: `postgres://postgres@${endpoint.host}:${endpoint.port}/postgres`,
          BLOB_DIR: join(dir, "blobs"),
          COMFYUI_URL: fake.url,
          COMFYUI_WIDTH: "512",
          COMFYUI_HEIGHT: "512",
          DESAINZ_CONSUMER: `generate-${process.pid}`,
          LOG_LEVEL: "warning"
        },
        stdio: ["ignore", "inherit", "inherit"]
      })
      children.push(child)

      const generationId = deriveEventId("generation", eventId)
      const ofCandidate = (states: ReadonlyArray<GenerationState>, candidate: number) =>
        states.filter((s) => s.generationId === generationId && s.candidate === candidate)
      // A second client joins once a sampler step has been seen, as a browser opened mid-run would.
      await waitFor("a sampler step arrives", () => early.progress().some((s) => s.generationId === generationId && s.max !== undefined), 120_000)
      const seen = early.progress().find((s) => s.generationId === generationId && s.max !== undefined)!
      const late = await openSse(`${base}/api/generations/events`)
      await waitFor("the late client has its snapshot", () => late.snapshot() !== undefined, 20_000)
      const stored = ofCandidate(late.snapshot()!, seen.candidate)
      expect(stored).toHaveLength(1)
      expect(["executing", "post-processing", "done"]).toContain(stored[0]!.phase)

      const done = (states: ReadonlyArray<GenerationState>) =>
        Array.from({ length: CANDIDATES }, (_, c) => c).every((c) => ofCandidate(states, c).some((s) => s.phase === "done"))
      await waitFor("every candidate is done", () => done(early.progress()), 180_000)
      for (let c = 0; c < CANDIDATES; c++) {
        const states = ofCandidate(early.progress(), c)
        expect(phasesOf(states), `candidate ${c}`).toEqual(["queued", "executing", "post-processing", "done"])
        const steps = states.filter((s) => s.max !== undefined)
        expect(steps.length, `candidate ${c} sampler steps`).toBeGreaterThan(1)
        expect(steps.every((s) => s.phase === "executing" && s.max === 30 && s.value! >= 1 && s.value! <= 30)).toBe(true)
        // Steps arrive in order, up to the last.
        expect(steps.map((s) => s.value)).toEqual([...steps.map((s) => s.value!)].sort((a, b) => a - b))
        expect(steps.at(-1)!.value).toBe(30)
        expect(states.every((s) => s.ideaId === idea.ideaId && s.candidates === CANDIDATES)).toBe(true)
      }
      // The late client saw the rest of the run too.
      await waitFor("the late client sees every candidate done", () => done([...late.snapshot()!, ...late.progress()]), 60_000)

      // The latest states, stored in Redis by the worker, are what the API reports; they expire.
      const { states } = (await (await fetch(`${base}/api/generations/progress`)).json()) as { states: Array<GenerationState> }
      expect(states.filter((s) => s.generationId === generationId).map((s) => [s.candidate, s.phase]).sort()).toEqual([
        [0, "done"],
        [1, "done"]
      ])
      const keys = progressKeys(name)
      for (const key of [keys.latest, keys.recent]) {
        const ttl = await redis.pttl(key)
        expect(ttl, key).toBeGreaterThan(0)
        expect(ttl, key).toBeLessThanOrEqual(3_600_000)
      }
      await Promise.all([early.close(), late.close()])
      child.kill("SIGTERM")
      expect(await exitOf(child)).toBe(0)
    } finally {
      redis.disconnect()
    }
  }, 300_000)
})

// ---------------------------------------------------------------------------------------
// The layers' contract

const state = (generation: number, candidate: number, phase: GenerationState["phase"] = "executing"): Omit<GenerationState, "at"> => ({
  generationId: `6a1f2c0e-58a8-4d7e-9a0b-0000000e${String(generation).padStart(4, "0")}`,
  ideaId: "6a1f2c0e-58a8-4d7e-9a0b-00000000f001",
  candidate,
  candidates: 9,
  phase
})

/** A runtime of its own (own connections), logging into `logs`. */
const runtimeOf = (layer: Layer.Layer<GenerationProgress>, logs: Array<string> = []) =>
  ManagedRuntime.make(
    Layer.mergeAll(layer, Metrics.layer).pipe(
      Layer.provide(
        Layer.merge(
          Logger.replace(Logger.defaultLogger, Logger.make(({ logLevel, message }) => void logs.push(`${logLevel.label} ${String(message)}`))),
          Logger.minimumLogLevel(LogLevel.Debug)
        )
      )
    )
  )
const droppedCount = (m: Metrics["Type"], reason: string) =>
  m.registry.counter("desainz_generation_progress_dropped_total", "").get({ reason })

describe.each([
  { backend: "in-process", layers: (_name: string, keep: number) => { const l = GenerationProgress.layerInProcess({ keep }); return [l, l] as const } },
  {
    backend: "redis",
    layers: (name: string, keep: number) =>
      [0, 1].map(() => GenerationProgress.layerRedis({ url: Redacted.make(inject("redisUrl")), topology: name, keep })) as unknown as readonly [
        Layer.Layer<GenerationProgress>,
        Layer.Layer<GenerationProgress>
      ]
  }
])("GenerationProgress ($backend)", ({ backend, layers }) => {
  it("keeps the latest state of the most recent candidates, bounded, and tells subscribers in publish order", async () => {
    const [publisherLayer, readerLayer] = layers(uniqueName("bounded"), 3)
    // In-process both ends are one process, so one runtime; on Redis each has its own.
    const publisher = runtimeOf(publisherLayer)
    const reader = backend === "in-process" ? publisher : runtimeOf(readerLayer)
    try {
      const received: Array<GenerationState> = []
      const unsubscribe = await reader.runPromise(Effect.flatMap(GenerationProgress, (p) => p.subscribe((s) => void received.push(s))))
      const sent = [state(1, 0, "queued"), state(1, 1), state(1, 2), state(1, 3), state(1, 0, "done"), state(1, 4, "post-processing")]
      await publisher.runPromise(Effect.flatMap(GenerationProgress, (p) => Effect.forEach(sent, (s) => p.publish(s))))
      await waitFor("every state arrives", () => received.length === sent.length, 20_000)
      expect(received.map((s) => [s.candidate, s.phase])).toEqual(sent.map((s) => [s.candidate, s.phase]))
      const current = await reader.runPromise(Effect.flatMap(GenerationProgress, (p) => p.current))
      // Candidates 1 and 2 were pushed out; candidate 0 is there with its latest state, ordered by its last update.
      expect(current.map((s) => [s.candidate, s.phase])).toEqual([
        [3, "executing"],
        [0, "done"],
        [4, "post-processing"]
      ])
      unsubscribe()
      await publisher.runPromise(Effect.flatMap(GenerationProgress, (p) => p.publish(state(1, 5))))
      await waitFor("the current picture has the new state", async () => (await reader.runPromise(Effect.flatMap(GenerationProgress, (p) => p.current))).some((s) => s.candidate === 5), 20_000)
      expect(received).toHaveLength(sent.length)
    } finally {
      await publisher.dispose()
      if (reader !== publisher) await reader.dispose()
    }
  })
})

describe("GenerationProgress on redis: bad input and outages", () => {
  it("drops a malformed message with the reason logged and counted; the subscriber goes on", async () => {
    const name = uniqueName("malformed")
    const logs: Array<string> = []
    const subscriber = runtimeOf(GenerationProgress.layerRedis({ url: Redacted.make(inject("redisUrl")), topology: name }), logs)
    const publisher = runtimeOf(GenerationProgress.layerRedis({ url: Redacted.make(inject("redisUrl")), topology: name }))
    const raw = new Redis(inject("redisUrl"))
    try {
      const received: Array<GenerationState> = []
      await subscriber.runPromise(Effect.flatMap(GenerationProgress, (p) => p.subscribe((s) => void received.push(s))))
      const channel = progressKeys(name).channel
      expect(await raw.publish(channel, "not json")).toBe(1)
      expect(await raw.publish(channel, JSON.stringify({ ...state(2, 0), phase: "rendering", at: new Date().toISOString() }))).toBe(1)
      await publisher.runPromise(Effect.flatMap(GenerationProgress, (p) => p.publish(state(2, 0, "done"))))
      await waitFor("the valid state arrives", () => received.length > 0, 20_000)
      expect(received.map((s) => s.phase)).toEqual(["done"])
      const warnings = logs.filter((l) => l.startsWith("WARN") && l.includes("malformed message"))
      expect(warnings).toHaveLength(2)
      expect(warnings[0]).toMatch(/JSON/)
      expect(warnings[1]).toMatch(/phase/)
      expect(droppedCount(await subscriber.runPromise(Metrics), "malformed")).toBe(2)
    } finally {
      raw.disconnect()
      await Promise.all([subscriber.dispose(), publisher.dispose()])
    }
  })

  it("a subscription whose connection goes half-open is found by its PING, reconnects, reports the gap and hears again", async () => {
    const target = new URL(inject("redisUrl"))
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) })
    const name = uniqueName("halfopen")
    const logs: Array<string> = []
    const subscriber = runtimeOf(GenerationProgress.layerRedis({ url: Redacted.make(proxy.url), topology: name, livenessMs: 300 }), logs)
    const publisher = runtimeOf(GenerationProgress.layerRedis({ url: Redacted.make(inject("redisUrl")), topology: name }))
    try {
      const received: Array<GenerationState> = []
      let gaps = 0
      await subscriber.runPromise(Effect.flatMap(GenerationProgress, (p) => p.subscribe((s) => void received.push(s), () => void gaps++)))
      const publish = (candidate: number) => publisher.runPromise(Effect.flatMap(GenerationProgress, (p) => p.publish(state(4, candidate))))
      await publish(0)
      await waitFor("the first state arrives", () => received.some((s) => s.candidate === 0), 20_000)
      // The connection now swallows everything and answers nothing; new ones get through again.
      proxy.cut()
      proxy.restore()
      // Keep publishing until one arrives over the new connection.
      let candidate = 1
      await waitFor(
        "a state arrives after the reconnect",
        async () => {
          if (received.some((s) => s.candidate >= 1)) return true
          await publish(candidate++)
          return false
        },
        60_000
      )
      expect(logs.some((l) => l.startsWith("WARN") && l.includes("does not answer"))).toBe(true)
      // The subscriber heard that states may have been missed, to read the latest again.
      expect(gaps).toBeGreaterThanOrEqual(1)
    } finally {
      await Promise.all([subscriber.dispose(), publisher.dispose()])
      await proxy.close()
    }
  }, 90_000)

  it("the API answers 503 with the reason when Redis cannot be reached for the feed", async () => {
    const name = uniqueName("feed-down")
    const services = GenerationProgress.layerRedis({ url: Redacted.make(`redis://127.0.0.1:${await freePort()}`), topology: name, livenessMs: 500 })
    const api = ManagedRuntime.make(Layer.mergeAll(EmbeddedTransport.layer, Metrics.layer, services))
    try {
      const t = topology({ name, nodes: [], services, api: [artworkApi({ requests })] })
      const app = await api.runPromise(Effect.scoped(makeHttpApp({ topology: t, keys: makeKeys(name), token: Option.none(), corsOrigins: [] })))
      for (const path of ["/api/generations/events", "/api/generations/progress"]) {
        const response = await app.request(path)
        expect(response.status, path).toBe(503)
        expect(((await response.json()) as { error: string }).error, path).toMatch(/redis/i)
      }
    } finally {
      await api.dispose()
    }
  })

  it("publishing to an unreachable redis neither fails nor waits; what is lost is logged and counted", async () => {
    const logs: Array<string> = []
    const nowhere = runtimeOf(GenerationProgress.layerRedis({ url: Redacted.make(`redis://127.0.0.1:${await freePort()}`), topology: uniqueName("down") }), logs)
    try {
      // Each publish returns without an answer from Redis (none could come).
      const results = await nowhere.runPromise(Effect.flatMap(GenerationProgress, (p) => Effect.forEach([0, 1, 2], (c) => Effect.either(p.publish(state(3, c))))))
      expect(results.every((r) => r._tag === "Right")).toBe(true)
      const metrics = await nowhere.runPromise(Metrics)
      await waitFor("the lost states are counted", () => droppedCount(metrics, "publish-failed") === 3, 30_000)
      // One warning for the outage, the rest at debug.
      expect(logs.filter((l) => l.startsWith("WARN") && l.includes("not published"))).toHaveLength(1)
      expect(logs.filter((l) => l.startsWith("DEBUG") && l.includes("not published"))).toHaveLength(2)
      // Reading or subscribing is what fails, for the API to answer 503.
      const read = await nowhere.runPromise(Effect.either(Effect.flatMap(GenerationProgress, (p) => p.current)))
      expect(read._tag).toBe("Left")
    } finally {
      await nowhere.dispose()
    }
  })
})
