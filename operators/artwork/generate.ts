/**
 * Generate: renders the print file for a request with the procedural typographic
 * designer (text outlined from bundled fonts, sharp to a 4500x5400 PNG at 300 DPI with
 * alpha) and stores it under `generated-mockups/<idea-id>/print.png`. The same idea and
 * seed render byte-identically, so a redelivery rewrites the same bytes.
 */
import { Effect } from "effect"
import { BlobStore } from "../../runtime/blobs.ts"
import { PermanentError } from "../../runtime/errors.ts"
import { map, type SettingsInput, type StreamDef } from "../../runtime/topology.ts"
import { CANVAS, typesetDesign } from "./typeset.ts"
import { PRINT_DPI, renderPrintFile } from "./printFile.ts"
import { printFileKey } from "../blobKeys.ts"
import type { Artwork, GenerationRequest } from "../schemas.ts"

export const generate = (
  io: { readonly from: StreamDef<GenerationRequest>; readonly to: StreamDef<Artwork> },
  settings?: SettingsInput
) =>
  map({
    name: "generate",
    kind: "generate",
    ...io,
    // Rendering is CPU-bound: a few at a time keeps the event loop answering.
    settings: { concurrency: 2, batchSize: 8, ...settings },
    config: {},
    run: (request) =>
      Effect.gen(function* () {
        if (request.engine !== "procedural") {
          return yield* new PermanentError({ message: `engine "${request.engine}" is not wired in this topology; use "procedural"` })
        }
        const blobs = yield* BlobStore
        const svg = yield* typesetDesign({ phrase: request.idea.keyPhrase, seed: request.seed })
        const png = yield* renderPrintFile(svg)
        const key = yield* printFileKey(request.idea.ideaId, "png")
        const stored = yield* blobs.put(key, png, { contentType: "image/png" })
        return {
          idea: request.idea,
          seed: request.seed,
          engine: request.engine,
          printFileKey: key,
          printFileUri: stored.uri,
          width: CANVAS.width,
          height: CANVAS.height,
          dpi: PRINT_DPI,
          sha256: stored.sha256
        } satisfies Artwork
      })
  })
