/**
 * Generate: renders every candidate of a request with the `ImageEngine` (the procedural
 * designer, or SDXL on ComfyUI when `COMFYUI_URL` is set), makes each a print file
 * (post-processing: background removal, trim, centre, upscale, 300 DPI) with its quality
 * checks, stores it under `generated-mockups/<idea-id>/candidates/<candidate-id>/print.png`
 * and records generation and candidates in the store. The idea's pick goes on as the
 * artwork: the reviewer's, when they made one (a refinement never resets it), else the best
 * candidate by its checks over every generation of the idea; when it failed a check, the
 * artwork carries the reasons and the review gate holds the idea for a person.
 *
 * Every state (queued, executing node and step, post-processing, done, failed with the
 * reason) is published to `GenerationProgress` for the UI's live view (through Redis when
 * this worker runs in another process than the API); publishing never holds it up.
 *
 * Idempotent: ids derive from the event id (generation, candidates, ComfyUI prompt ids),
 * so a redelivery collects the earlier ComfyUI run instead of queuing another, and
 * rewrites the same rows and bytes. On SIGTERM the worker finishes what is in flight; an
 * entry cut short stays pending, and its redelivery finds the run by its prompt id.
 */
import { Effect, Option, Runtime } from "effect"
import { BlobStore } from "../../runtime/blobs.ts"
import { deriveEventId } from "../../runtime/envelope.ts"
import { describeError, PermanentError } from "../../runtime/errors.ts"
import { map, type SettingsInput, type StreamDef } from "../../runtime/topology.ts"
import { candidateAssetKey } from "../blobKeys.ts"
import type { Artwork, CandidateArtwork, CandidateSpec, GenerationRequest, QualityChecks } from "../schemas.ts"
import { Store } from "../store/store.ts"
import { ImageEngine } from "./imageEngine.ts"
import { checkVectorPrint, postProcess } from "./postprocess.ts"
import { PRINT_DPI, renderPrintPreview } from "./printFile.ts"
import { GenerationProgress } from "./progress.ts"
import { CANVAS } from "./typeset.ts"

/** The default pick: fewest failed checks, then coverage nearest a third of the canvas, then least upscaled. */
export const bestCandidate = <C extends { readonly checks: QualityChecks }>(candidates: ReadonlyArray<C>): C =>
  [...candidates].sort(
    (a, b) =>
      a.checks.failures.length - b.checks.failures.length ||
      Math.abs(a.checks.coverage - 0.33) - Math.abs(b.checks.coverage - 0.33) ||
      a.checks.upscaleFactor - b.checks.upscaleFactor
  )[0]!

export const generationIdOf = (eventId: string) => deriveEventId("generation", eventId)

export const generate = (
  io: { readonly from: StreamDef<GenerationRequest>; readonly to: StreamDef<Artwork> },
  settings?: SettingsInput
) =>
  map({
    name: "generate",
    kind: "generate",
    ...io,
    // Rendering is CPU-bound (GPU-bound on ComfyUI, where the pool bounds prompts in flight).
    settings: { concurrency: 2, batchSize: 8, ...settings },
    config: {},
    run: (request, envelope) =>
      Effect.gen(function* () {
        const engine = yield* ImageEngine
        if (engine.name !== request.engine) {
          return yield* new PermanentError({
            message: `request asks for the ${request.engine} engine but this worker runs ${engine.name} (${engine.name === "procedural" ? "set COMFYUI_URL" : "unset COMFYUI_URL or prompt with engine: \"comfyui\""})`
          })
        }
        const blobs = yield* BlobStore
        const store = yield* Store
        const progress = yield* GenerationProgress
        // The engine reports from its own callbacks; they publish with this fiber's services (logger, metrics).
        const runSync = Runtime.runSync(yield* Effect.runtime<never>())
        const ideaId = request.idea.ideaId
        const generationId = generationIdOf(envelope.eventId)
        const specs: ReadonlyArray<CandidateSpec> = request.candidates ?? [
          { seed: request.seed, prompt: request.prompt, negativePrompt: request.negativePrompt ?? "", format: "typographic" }
        ]
        yield* store.upsertGeneration({
          id: generationId,
          ideaId,
          parentId: request.refinement?.parentGenerationId ?? null,
          instruction: request.refinement?.instruction ?? null,
          engine: request.engine,
          request: request as unknown as Record<string, unknown>
        })
        const publish = (candidate: number, state: Omit<Parameters<typeof progress.publish>[0], "generationId" | "ideaId" | "candidate" | "candidates">) =>
          progress.publish({ generationId, ideaId, candidate, candidates: specs.length, ...state })

        const renderOne = (spec: CandidateSpec, position: number) =>
          Effect.gen(function* () {
            const candidateId = deriveEventId("candidate", generationId, String(position))
            yield* publish(position, { phase: "queued" })
            const rendered = yield* engine.render({
              promptId: deriveEventId("comfyui-prompt", envelope.eventId, String(position)),
              phrase: request.idea.keyPhrase,
              seed: spec.seed,
              prompt: spec.prompt,
              negativePrompt: spec.negativePrompt,
              style: spec.style,
              palette: spec.palette,
              onProgress: (p) =>
                runSync(
                  publish(position, p.phase === "queued" ? { phase: "queued", server: p.server } : { phase: "executing", server: p.server, node: p.node, ...(p.max ? { value: p.value ?? 0, max: p.max } : {}) })
                )
            })
            yield* publish(position, { phase: "post-processing" })
            const print =
              rendered.kind === "print"
                ? { png: rendered.png, preview: yield* renderPrintPreview(rendered.svg), checks: yield* checkVectorPrint(rendered.svg, rendered.png.length) }
                : yield* postProcess({ image: rendered.image, matte: rendered.matte })
            const key = yield* candidateAssetKey(ideaId, candidateId, "print.png")
            const stored = yield* blobs.put(key, print.png, { contentType: "image/png" })
            const previewKey = yield* candidateAssetKey(ideaId, candidateId, "preview.png")
            yield* blobs.put(previewKey, print.preview, { contentType: "image/png" })
            yield* store.upsertCandidate({
              id: candidateId,
              generationId,
              ideaId,
              position,
              seed: spec.seed,
              format: spec.format,
              printFileKey: key,
              sha256: stored.sha256,
              checks: print.checks
            })
            yield* publish(position, { phase: "done", ...(print.checks.failures.length > 0 ? { reason: print.checks.failures.join("; ") } : {}) })
            return { candidateId, seed: spec.seed, format: spec.format, printFileKey: key, previewKey, checks: print.checks } satisfies CandidateArtwork
          }).pipe(Effect.tapError((error) => publish(position, { phase: "failed", reason: describeError(error) })))

        const candidates = yield* Effect.forEach(specs, renderOne, { concurrency: engine.name === "comfyui" ? "unbounded" : 1 })
        // The default pick weighs every candidate of the idea (a refinement may or may not beat
        // its parent); a reviewer's pick stays until they pick another, and goes on as the artwork.
        const all = (yield* store.generationsOf([ideaId])).flatMap((g) => g.candidates)
        yield* store.pickDefault(ideaId, bestCandidate(all).id)
        const current = yield* store.pickedCandidate(ideaId)
        if (Option.isNone(current)) return yield* new PermanentError({ message: `generate: idea ${ideaId} has no pick after its candidates were stored` })
        const pick = current.value
        // The preview sits beside the pick's print file, unless the pick (of an earlier generation) was made before previews.
        const previewKey = yield* candidateAssetKey(ideaId, pick.id, "preview.png")
        const hasPreview = candidates.some((c) => c.candidateId === pick.id) || (yield* blobs.exists(previewKey))
        return {
          idea: request.idea,
          seed: pick.seed,
          engine: request.engine,
          printFileKey: pick.printFileKey,
          printFileUri: yield* blobs.uri(pick.printFileKey),
          ...(hasPreview ? { previewKey } : {}),
          width: CANVAS.width,
          height: CANVAS.height,
          dpi: PRINT_DPI,
          sha256: pick.sha256,
          generationId,
          candidateId: pick.id,
          checks: pick.checks,
          candidates,
          ...(pick.checks.failures.length > 0 ? { reviewReasons: pick.checks.failures.map((f) => `artwork check: ${f}`) } : {})
        } satisfies Artwork
      })
  })
