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
import { COLORWAYS, renderMockups, VARIANTS } from "./garment.ts"
import { mockupKey } from "../blobKeys.ts"
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
        const printFile = Buffer.from(yield* blobs.get(artwork.printFileKey))
        const rendered = yield* renderMockups({ printFile, colorways: c.colorways, variants: c.variants })
        const images = yield* Effect.forEach(
          rendered,
          (m) =>
            Effect.gen(function* () {
              const key = yield* mockupKey(artwork.idea.ideaId, m.variant, m.colorway, "jpg")
              const stored = yield* blobs.put(key, m.jpeg, { contentType: "image/jpeg" })
              return { variant: m.variant, colorway: m.colorway, key, uri: stored.uri } satisfies MockupImage
            }),
          { concurrency: 4 }
        )
        yield* store.upsertMockups(
          images.map((m) => ({
            id: deriveEventId("mockup", artwork.idea.ideaId, m.variant, m.colorway),
            ideaId: artwork.idea.ideaId,
            blobUri: m.uri,
            variant: m.variant,
            colorway: m.colorway,
            generationParams: { engine: artwork.engine, seed: artwork.seed, printFile: artwork.printFileKey, sha256: artwork.sha256 }
          }))
        )
        yield* store.setIdeaStatus(artwork.idea.ideaId, "mocked")
        if (!Arr.isNonEmptyReadonlyArray(images)) return yield* new PermanentError({ message: "mockup: no colorway or variant rendered" })
        return { artwork, mockups: images }
      })
  })
}
