/**
 * Artwork routes: the generations of an idea with their candidates and checks, the
 * reviewer's pick (kept until they pick another; refinements never reset it),
 * refinement ("more retro": the idea re-prompted with the instruction folded into the
 * grammar, new candidates linked to their parent: the generation of the reviewer's pick,
 * else the latest), and the live progress of generations as Server-Sent Events.
 */
import { Cause, Effect, Exit, Option, ParseResult, Schema, Struct } from "effect"
import type { Context as HonoContext } from "hono"
import { streamSSE } from "hono/streaming"
import type { ApiRoutes, StreamDef } from "../../runtime/topology.ts"
import { generationIdOf } from "../artwork/generate.ts"
import { GenerationProgress, type GenerationState } from "../artwork/progress.ts"
import { buildRequest } from "../artwork/prompt.ts"
import { hash32 } from "../artwork/typeset.ts"
import { deriveEventId } from "../../runtime/envelope.ts"
import { describeError } from "../../runtime/errors.ts"
import { GenerationRequest, Listing } from "../schemas.ts"
import { Store } from "../store/store.ts"
import { decodeWith, httpError, parseIdeaId, responder } from "./respond.ts"
import type { GenerationsResponse, PickResponse, RefineResponse } from "./contract.ts"

const PickBody = Schema.Struct({ candidateId: Schema.UUID.annotations({ message: () => "candidateId must be a uuid" }) })
const RefineBody = Schema.Struct({
  instruction: Schema.Trim.pipe(Schema.minLength(2), Schema.maxLength(200)).annotations({ message: () => "instruction must be 2-200 characters" })
})

const blobUrl = (key: string) => `/blobs/${key.split("/").map(encodeURIComponent).join("/")}`

/** The draft with the reviewer's pick as its artwork and mock-ups, when they picked another candidate. */
export const withPickedCandidate = (draft: Listing) =>
  Effect.gen(function* () {
    const picked = yield* (yield* Store).pickedCandidate(draft.ideaId)
    const art = draft.mockups.artwork
    if (Option.isNone(picked) || picked.value.id === art.candidateId) return draft
    const candidate = picked.value
    const mockups = candidate.mockups.flatMap((m) =>
      m.variant === "front" || m.variant === "back" ? [{ variant: m.variant as "front" | "back", colorway: m.colorway, key: m.key, uri: m.uri }] : []
    )
    const [first, ...rest] = mockups
    if (first === undefined) return draft
    return {
      ...draft,
      mockups: {
        // The old pick's preview is not this candidate's: dropped (mock-ups are already rendered).
        artwork: { ...Struct.omit(art, "previewKey"), seed: candidate.seed, candidateId: candidate.id, printFileKey: candidate.printFileKey, sha256: candidate.sha256, checks: candidate.checks },
        mockups: [first, ...rest]
      }
    } satisfies Listing
  })

export const artworkApi =
  (io: { readonly requests: StreamDef<GenerationRequest> }): ApiRoutes =>
  (app, ctx) => {
    const respond = responder(ctx)
    const body = (c: HonoContext) =>
      Effect.tryPromise({ try: () => c.req.json() as Promise<unknown>, catch: () => httpError(400, "body must be JSON") })

    app.get("/api/ideas/:id/generations", (c) =>
      respond(
        c,
        Effect.gen(function* () {
          const ideaId = yield* parseIdeaId(c.req.param("id"))
          const store = yield* Store
          const picked = yield* store.pickedCandidate(ideaId)
          const pickedId = Option.match(picked, { onNone: () => null, onSome: (p) => p.id })
          const generations = yield* store.generationsOf([ideaId])
          return {
            ideaId,
            pickedCandidateId: pickedId,
            pickedBy: Option.match(picked, { onNone: () => null, onSome: (p) => p.pickedBy }),
            generations: generations.map((g) => ({
              generationId: g.id,
              parentId: g.parentId,
              instruction: g.instruction,
              engine: g.engine,
              createdAt: g.createdAt.toISOString(),
              candidates: g.candidates.map((cand) => ({
                candidateId: cand.id,
                position: cand.position,
                seed: cand.seed,
                format: cand.format,
                printFileUrl: blobUrl(cand.printFileKey),
                mockups: cand.mockups.map((m) => ({ variant: m.variant, colorway: m.colorway, url: blobUrl(m.key) })),
                checks: cand.checks,
                passed: cand.passed,
                picked: cand.id === pickedId
              }))
            }))
          } satisfies GenerationsResponse
        })
      )
    )

    app.post("/api/ideas/:id/pick", ctx.requireToken, (c) =>
      respond(
        c,
        Effect.gen(function* () {
          const ideaId = yield* parseIdeaId(c.req.param("id"))
          const { candidateId } = yield* decodeWith(PickBody, yield* body(c))
          if (!(yield* (yield* Store).pickCandidate(ideaId, candidateId))) return yield* Effect.fail(httpError(404, `no candidate ${candidateId} of idea ${ideaId}`))
          return { ideaId, pickedCandidateId: candidateId } satisfies PickResponse
        })
      )
    )

    app.post("/api/ideas/:id/refine", ctx.requireToken, (c) =>
      respond(
        c,
        Effect.gen(function* () {
          const ideaId = yield* parseIdeaId(c.req.param("id"))
          const { instruction } = yield* decodeWith(RefineBody, yield* body(c))
          const store = yield* Store
          const generations = yield* store.generationsOf([ideaId])
          // What the reviewer chose is what they refine; without a choice of theirs, the latest generation.
          const picked = yield* store.pickedCandidate(ideaId)
          const chosen = Option.flatMap(
            Option.filter(picked, (p) => p.pickedBy === "reviewer"),
            (p) => Option.fromNullable(generations.find((g) => g.id === p.generationId))
          )
          const parent = Option.getOrElse(chosen, () => generations.at(-1))
          if (parent === undefined) return yield* Effect.fail(httpError(404, `idea ${ideaId} has no artwork to refine yet`))
          const earlier = yield* Effect.mapError(Schema.decodeUnknown(GenerationRequest)(parent.request), (e) =>
            httpError(500, `stored request of generation ${parent.id} is unreadable: ${ParseResult.TreeFormatter.formatErrorSync(e)}`)
          )
          const request = buildRequest(earlier.idea, {
            engine: earlier.engine,
            candidates: earlier.candidates?.length ?? 1,
            baseSeed: `${ideaId}:refine:${hash32(`${parent.id}\u0000${instruction}`).toString(16)}`,
            refinement: { instruction, parentGenerationId: parent.id }
          })
          // Keyed by parent + instruction: the same refinement asked twice queues one generation.
          const key = `refine:${parent.id}:${instruction}`
          const [eventId] = yield* ctx.emit("prompt", io.requests, [{ data: request, key }])
          const id = eventId ?? deriveEventId("prompt", key)
          return { ideaId, generationId: generationIdOf(id), parentGenerationId: parent.id, instruction } satisfies RefineResponse
        })
      )
    )

    app.get("/api/generations/progress", (c) => respond(c, Effect.flatMap(GenerationProgress, (p) => Effect.map(p.current, (states) => ({ states })))))

    /** States waiting for a slow SSE client beyond this drop the oldest: a candidate's later states supersede them. */
    const MAX_QUEUED = 1_000
    app.get("/api/generations/events", async (c) => {
      // A state to send, or "gap": states were missed, send the latest of each again.
      const queue: Array<GenerationState | "gap"> = []
      let wake: (() => void) | undefined
      const push = (item: GenerationState | "gap") => {
        if (queue.length >= MAX_QUEUED) queue.shift()
        queue.push(item)
        wake?.()
      }
      // Subscribed before the snapshot is read, so no state falls between the two.
      const exit = await ctx.run(
        Effect.gen(function* () {
          const progress = yield* GenerationProgress
          const unsubscribe = yield* progress.subscribe(push, () => push("gap"))
          const snapshot = yield* Effect.onError(progress.current, () => Effect.sync(unsubscribe))
          return { progress, unsubscribe, snapshot }
        })
      )
      if (Exit.isFailure(exit)) {
        const error = Cause.squash(exit.cause)
        return c.json({ error: `generation progress is not available: ${describeError(error)}` }, 503)
      }
      const { progress, unsubscribe, snapshot } = exit.value
      return streamSSE(c, async (stream) => {
        let open = true
        stream.onAbort(() => {
          open = false
          wake?.()
        })
        try {
          await stream.writeSSE({ event: "snapshot", data: JSON.stringify(snapshot) })
          while (open) {
            const next = queue.shift()
            if (next === "gap") {
              const latest = await ctx.run(progress.current)
              // Unreadable now: the next gap or the client's reconnect brings the picture back.
              if (Exit.isSuccess(latest)) await stream.writeSSE({ event: "snapshot", data: JSON.stringify(latest.value) })
              continue
            }
            if (next !== undefined) {
              await stream.writeSSE({ event: "progress", data: JSON.stringify(next) })
              continue
            }
            await new Promise<void>((resolve) => {
              wake = resolve
              // A comment now and then keeps proxies from closing an idle stream.
              setTimeout(resolve, 15_000)
            })
            wake = undefined
            if (open && queue.length === 0) await stream.write(": keep-alive\n\n")
          }
        } finally {
          // However the stream ends (the client went away, a write failed), it stops listening.
          unsubscribe()
        }
      })
    })
  }
