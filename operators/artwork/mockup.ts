/**
 * Mock-up: composites the print file on a garment in each configured colorway (front,
 * optionally back), stores the images under `generated-mockups/<idea-id>/variants/`, and
 * records them in the store; the idea moves to status "mocked".
 */
import { Array as Arr, Effect, Schema } from "effect"
import { BlobStore } from "../../runtime/blobs.ts"
import { deriveEventId } from "../../runtime/envelope.ts"
import { PermanentError } from "../../runtime/errors.ts"
import { decodeConfig, map, type SettingsInput, type StreamDef } from "../../runtime/topology.ts"
import { COLORWAYS, type Mockup, renderMockups, VARIANTS } from "./garment.ts"
import { candidateAssetKey, mockupKey } from "../blobKeys.ts"
import type { Artwork, MockupImage, MockupSet } from "../schemas.ts"
import { Store } from "../store/store.ts"

const ColorwayName = Schema.Literal(...(Object.keys(COLORWAYS) as Array<keyof typeof COLORWAYS>))

export const MockupConfig = Schema.Struct({
  colorways: Schema.optionalWith(Schema.NonEmptyArray(ColorwayName), { default: () => ["black", "white"] as const }).annotations({
    description: "garment colours to show"
  }),
  variants: Schema.optionalWith(Schema.NonEmptyArray(Schema.Literal(...VARIANTS)), { default: () => ["front"] as const }).annotations({
    description: "garment sides to show"
  })
})

export const mockup = (
  config: typeof MockupConfig.Encoded,
  io: { readonly from: StreamDef<Artwork>; readonly to: StreamDef<MockupSet> },
  settings?: SettingsInput
) => {
  const c = decodeConfig("mockup", MockupConfig, config)
  return map({
    name: "mockup",
    kind: "mockup",
    ...io,
    settings: { concurrency: 2, batchSize: 8, ...settings },
    config: c,
    run: (artwork) =>
      Effect.gen(function* () {
        const blobs = yield* BlobStore
        const store = yield* Store
        const ideaId = artwork.idea.ideaId
        // From the print's preview when it has one: the same pixels at mock-up scale, without decoding 24 MP.
        const renderFor = (art: { readonly printFileKey: string; readonly previewKey?: string | undefined }) =>
          Effect.flatMap(blobs.get(art.previewKey ?? art.printFileKey), (bytes) =>
            renderMockups({ printFile: Buffer.from(bytes), colorways: c.colorways, variants: c.variants })
          )
        // Every candidate is mocked up under its own keys, for the reviewer to compare; the
        // pick's mock-ups are also the idea's (variants/), which listings and exports use.
        const others = (artwork.candidates ?? []).filter((candidate) => candidate.candidateId !== artwork.candidateId)
        yield* Effect.forEach(others, (candidate) =>
          Effect.flatMap(renderFor(candidate), (rendered) => storeCandidateMockups(ideaId, candidate.candidateId, rendered))
        )
        const rendered = yield* renderFor(artwork)
        if (artwork.candidateId !== undefined) yield* storeCandidateMockups(ideaId, artwork.candidateId, rendered)
        const images = yield* Effect.forEach(
          rendered,
          (m) =>
            Effect.gen(function* () {
              const key = yield* mockupKey(ideaId, m.variant, m.colorway, "jpg")
              const stored = yield* blobs.put(key, m.jpeg, { contentType: "image/jpeg" })
              return { variant: m.variant, colorway: m.colorway, key, uri: stored.uri } satisfies MockupImage
            }),
          { concurrency: 4 }
        )
        yield* store.upsertMockups(
          images.map((m) => ({
            id: deriveEventId("mockup", ideaId, m.variant, m.colorway),
            ideaId,
            blobUri: m.uri,
            variant: m.variant,
            colorway: m.colorway,
            generationParams: { engine: artwork.engine, seed: artwork.seed, printFile: artwork.printFileKey, sha256: artwork.sha256 }
          }))
        )
        yield* store.setIdeaStatus(ideaId, "mocked")
        if (!Arr.isNonEmptyReadonlyArray(images)) return yield* new PermanentError({ message: "mockup: no colorway or variant rendered" })
        return { artwork, mockups: images }
      })
  })
}

/** A candidate's mock-ups under `candidates/<candidate-id>/`, recorded on its row. */
const storeCandidateMockups = (ideaId: string, candidateId: string, rendered: ReadonlyArray<Mockup>) =>
  Effect.gen(function* () {
    const blobs = yield* BlobStore
    const stored = yield* Effect.forEach(rendered, (m) =>
      Effect.gen(function* () {
        const key = yield* candidateAssetKey(ideaId, candidateId, `${m.variant}-${m.colorway}.jpg`)
        const blob = yield* blobs.put(key, m.jpeg, { contentType: "image/jpeg" })
        return { variant: m.variant, colorway: m.colorway, key, uri: blob.uri }
      })
    )
    yield* (yield* Store).setCandidateMockups(candidateId, stored)
  })
