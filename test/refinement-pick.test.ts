/**
 * A reviewer's pick survives refinement, through the API on the real store (PGlite) with the
 * real generate operator (procedural engine) on the embedded transport:
 * - a pick made with `POST /api/ideas/:id/pick` stays the idea's pick, and goes on as the
 *   artwork, when a refinement (`POST /api/ideas/:id/refine`) adds candidates; the new ones
 *   are listed under their parent generation with the instruction; a later refinement
 *   refines the generation of the reviewer's pick; picking a refined candidate moves the pick;
 *   the idea's card (`GET /api/ideas`) shows the pick's print file from the moment it is made;
 * - without a pick of the reviewer's, the default pick is the best by the checks over every
 *   candidate of the idea, the earlier generations' included.
 */
import { mkdtempSync, rmSync } from "node:fs"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Deferred, Effect, Exit, Fiber, Layer, ManagedRuntime, Option, Redacted } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { artworkApi } from "../operators/api/artwork.ts"
import { ideasApi } from "../operators/api/ideas.ts"
import type { GenerationsResponse, IdeasResponse, PickResponse, RefineResponse } from "../operators/api/contract.ts"
import { bestCandidate } from "../operators/artwork/generate.ts"
import { generate } from "../operators/artwork/generate.ts"
import * as ImageEngine from "../operators/artwork/imageEngine.ts"
import { GenerationProgress } from "../operators/artwork/progress.ts"
import { buildRequest } from "../operators/artwork/prompt.ts"
import { Artwork, GenerationRequest, type Idea, Listing } from "../operators/schemas.ts"
import { Store } from "../operators/store/store.ts"
import { BlobStore } from "../runtime/blobs.ts"
import { makeHttpApp, serveHttp } from "../runtime/http.ts"
import { makeKeys } from "../runtime/keys.ts"
import { Metrics } from "../runtime/metrics.ts"
import { sink, stream, topology } from "../runtime/topology.ts"
import * as EmbeddedTransport from "../runtime/transport/embedded.ts"
import { runWorker } from "../runtime/worker.ts"
import { feeder, uniqueName } from "./support/harness.ts"
import { sampleIdea } from "./support/listings.ts"
import { migratedStore } from "./support/store.ts"

const TOKEN = "refine-pick-token"
const dir = mkdtempSync(join(tmpdir(), "desainz-refine-pick-"))
const requests = stream("gen.requests", GenerationRequest, { maxLen: 1_000 })
const images = stream("gen.images", Artwork, { maxLen: 1_000 })
const requestsFeed = feeder("requests-feed", requests)
/** Every artwork generate emitted, in order. */
const emitted: Array<Artwork> = []

const services = Layer.mergeAll(
  migratedStore("desainz-refine-pick-pg-"),
  BlobStore.layerLocal({ root: join(dir, "blobs") }),
  ImageEngine.layerProcedural,
  GenerationProgress.layerInProcess()
)
const t = topology({
  name: uniqueName("refine-pick"),
  nodes: [
    requestsFeed.node,
    generate({ from: requests, to: images }),
    sink({ name: "artworks", from: images, run: (a) => Effect.sync(() => void emitted.push(a)) })
  ],
  services,
  api: [artworkApi({ requests }), ideasApi({ approved: stream("listings.approved", Listing, { maxLen: 1_000 }) })]
})

const runtime = ManagedRuntime.make(Layer.mergeAll(EmbeddedTransport.layer, Metrics.layer, services))
let base = ""
let stop: Deferred.Deferred<void>
let server: Fiber.RuntimeFiber<void, unknown>

const idea = (n: number, phrase: string): Idea =>
  sampleIdea({ ideaId: `6a1f2c0e-58a8-4d7e-9a0b-0000000a${String(n).padStart(4, "0")}`, signalId: `6a1f2c0e-58a8-4d7e-9a0b-0000000b${String(n).padStart(4, "0")}`, keyPhrase: phrase, title: phrase })

beforeAll(async () => {
  stop = await runtime.runPromise(Deferred.make<void>())
  const ready = await runtime.runPromise(Deferred.make<number>())
  server = runtime.runFork(
    Effect.scoped(
      Effect.gen(function* () {
        const app = yield* makeHttpApp({ topology: t, keys: makeKeys(t.name), token: Option.some(Redacted.make(TOKEN)), corsOrigins: [] })
        const http = yield* serveHttp(app, { port: 0, host: "127.0.0.1" })
        yield* Deferred.succeed(ready, (http.address() as AddressInfo).port)
        yield* runWorker({ topology: t, stop, consumerPrefix: uniqueName("c"), maintenanceEvery: "200 millis" })
      })
    ) as Effect.Effect<void, unknown, never>
  )
  base = `http://127.0.0.1:${await runtime.runPromise(Deferred.await(ready))}`
}, 120_000)

afterAll(async () => {
  if (stop) await runtime.runPromise(Deferred.done(stop, Exit.void))
  if (server) await runtime.runPromise(Fiber.join(server)).catch(() => undefined)
  await runtime.dispose()
  rmSync(dir, { recursive: true, force: true })
})

const generationsOf = async (ideaId: string) => (await (await fetch(`${base}/api/ideas/${ideaId}/generations`)).json()) as GenerationsResponse
const cardOf = async (ideaId: string) => ((await (await fetch(`${base}/api/ideas?limit=100`)).json()) as IdeasResponse).ideas.find((c) => c.ideaId === ideaId)!
const post = async <A>(path: string, body: unknown) => {
  const response = await fetch(`${base}${path}`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }, body: JSON.stringify(body) })
  expect(response.status, `${path}: ${response.status}`).toBe(200)
  return (await response.json()) as A
}
const waitFor = async (what: string, check: () => Promise<boolean> | boolean, timeoutMs = 120_000) => {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}
/** Generation `generationId` is stored with its candidates, and generate has emitted its artwork (its pick is made). */
const finished = async (ideaId: string, generationId: string, candidates: number) =>
  (await generationsOf(ideaId)).generations.some((g) => g.generationId === generationId && g.candidates.length === candidates) &&
  emitted.some((a) => a.generationId === generationId)

/** The idea's row, as the scorer leaves it, and its first generation of `candidates`. */
const firstGeneration = async (i: Idea, candidates: number) => {
  await runtime.runPromise(
    Effect.gen(function* () {
      const store = yield* Store
      yield* store.upsertSignals([{ id: i.signalId, content: i.signal.content, source: i.signal.source, capturedAt: new Date(i.signal.capturedAt), metadata: {}, contentHash: i.ideaId.replace(/-/g, "") }])
      yield* store.upsertIdeas([{ id: i.ideaId, signalId: i.signalId, title: i.title, description: i.keyPhrase, embedding: null, score: i.score, factors: i.factors, weightsVersion: 1 }])
    })
  )
  requestsFeed.push({ data: buildRequest(i, { engine: "procedural", candidates }), key: `first:${i.ideaId}` })
  await waitFor("the first generation is stored", async () => {
    const g = await generationsOf(i.ideaId)
    return g.generations.length === 1 && g.generations[0]!.candidates.length === candidates && emitted.some((a) => a.idea.ideaId === i.ideaId)
  })
  return (await generationsOf(i.ideaId)).generations[0]!
}

describe("refinement and the reviewer's pick", () => {
  it("keeps the reviewer's pick through refinements, lists the new candidates under their parent, and moves only when they pick again", async () => {
    const i = idea(1, "Plant Mom Energy")
    const first = await firstGeneration(i, 2)
    const before = await generationsOf(i.ideaId)
    expect(before.pickedBy).toBe("checks")
    const other = first.candidates.find((c) => c.candidateId !== before.pickedCandidateId)!
    expect(await post<PickResponse>(`/api/ideas/${i.ideaId}/pick`, { candidateId: other.candidateId })).toEqual({ ideaId: i.ideaId, pickedCandidateId: other.candidateId })
    // The idea's card shows the reviewer's pick at once.
    expect((await cardOf(i.ideaId)).printFileUrl).toBe(other.printFileUrl)

    const refined = await post<RefineResponse>(`/api/ideas/${i.ideaId}/refine`, { instruction: "more retro" })
    expect(refined.parentGenerationId).toBe(first.generationId)
    await waitFor("the refinement is generated", () => finished(i.ideaId, refined.generationId, 2))
    const after = await generationsOf(i.ideaId)
    expect(after.pickedCandidateId).toBe(other.candidateId)
    expect(after.pickedBy).toBe("reviewer")
    expect(after.generations.map((g) => [g.generationId, g.parentId, g.instruction])).toEqual([
      [first.generationId, null, null],
      [refined.generationId, first.generationId, "more retro"]
    ])
    expect(after.generations.flatMap((g) => g.candidates.filter((c) => c.picked).map((c) => c.candidateId))).toEqual([other.candidateId])
    expect((await cardOf(i.ideaId)).printFileUrl).toBe(other.printFileUrl)
    // What goes on to mock-ups and listings is the reviewer's pick, with the refinement's candidates beside it.
    const artwork = emitted.find((a) => a.generationId === refined.generationId)!
    expect(artwork.candidateId).toBe(other.candidateId)
    expect(artwork.printFileKey).toBe(other.printFileUrl.slice("/blobs/".length))
    // ...mocked up from its own preview, which sits beside its print file.
    expect(artwork.previewKey).toBe(artwork.printFileKey.replace(/print\.png$/, "preview.png"))
    expect(artwork.candidates?.map((c) => c.candidateId)).toEqual(after.generations[1]!.candidates.map((c) => c.candidateId))

    // Another refinement refines what the reviewer chose (the first generation), not the latest.
    const again = await post<RefineResponse>(`/api/ideas/${i.ideaId}/refine`, { instruction: "bolder lines" })
    expect(again.parentGenerationId).toBe(first.generationId)
    await waitFor("the second refinement is generated", () => finished(i.ideaId, again.generationId, 2))
    expect((await generationsOf(i.ideaId)).pickedCandidateId).toBe(other.candidateId)

    // Picking a refined candidate moves the pick, and it stays there.
    const newer = after.generations[1]!.candidates[1]!
    await post<PickResponse>(`/api/ideas/${i.ideaId}/pick`, { candidateId: newer.candidateId })
    const moved = await generationsOf(i.ideaId)
    expect([moved.pickedCandidateId, moved.pickedBy]).toEqual([newer.candidateId, "reviewer"])
    const third = await post<RefineResponse>(`/api/ideas/${i.ideaId}/refine`, { instruction: "pastel colours" })
    expect(third.parentGenerationId).toBe(refined.generationId)
    await waitFor("the third refinement is generated", () => finished(i.ideaId, third.generationId, 2))
    expect((await generationsOf(i.ideaId)).pickedCandidateId).toBe(newer.candidateId)
  }, 300_000)

  it("without a reviewer's pick, the default pick is the best by the checks over every generation", async () => {
    const i = idea(2, "Dog Mom Club")
    const first = await firstGeneration(i, 2)
    const refined = await post<RefineResponse>(`/api/ideas/${i.ideaId}/refine`, { instruction: "more retro" })
    await waitFor("the refinement is generated", () => finished(i.ideaId, refined.generationId, 2))
    const after = await generationsOf(i.ideaId)
    const all = after.generations.flatMap((g) => g.candidates)
    expect(all).toHaveLength(4)
    const best = bestCandidate(all)
    expect([after.pickedCandidateId, after.pickedBy]).toEqual([best.candidateId, "checks"])
    // The refinement's own best is not the idea's best: the pick looked past the newest generation.
    expect(first.candidates.map((c) => c.candidateId)).toContain(best.candidateId)
    expect(emitted.find((a) => a.generationId === refined.generationId)!.candidateId).toBe(best.candidateId)
  }, 300_000)

  it("refuses a pick of another idea's candidate, and a refinement without a body, with the reason", async () => {
    const other = (await generationsOf(idea(1, "").ideaId)).generations[0]!.candidates[0]!
    const response = await fetch(`${base}/api/ideas/${idea(2, "").ideaId}/pick`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ candidateId: other.candidateId })
    })
    expect(response.status).toBe(404)
    expect(((await response.json()) as { error: string }).error).toMatch(/no candidate/)
    const refine = await fetch(`${base}/api/ideas/${idea(2, "").ideaId}/refine`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }, body: "{}" })
    expect(refine.status).toBe(400)
  })
})
