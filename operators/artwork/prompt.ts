/**
 * Prompt: writes the generation request for an idea: an SDXL prompt for the ComfyUI
 * engine and the seed that makes the procedural designer reproducible.
 */
import { Effect, Schema } from "effect"
import { decodeConfig, map, type SettingsInput, type StreamDef } from "../../runtime/topology.ts"
import type { GenerationRequest, Idea } from "../schemas.ts"

export const PromptConfig = Schema.Struct({
  engine: Schema.optionalWith(Schema.Literal("procedural", "comfyui"), { default: () => "procedural" }).annotations({
    description: "which generator renders the artwork"
  }),
  style: Schema.optionalWith(Schema.String, {
    default: () => "bold vector t-shirt design, clean typography, flat colors, isolated on transparent background, print ready"
  }).annotations({ description: "style words appended to every image prompt" })
})

export const prompt = (
  config: typeof PromptConfig.Encoded,
  io: { readonly from: StreamDef<Idea>; readonly to: StreamDef<GenerationRequest> },
  settings?: SettingsInput
) => {
  const c = decodeConfig("prompt", PromptConfig, config)
  return map({
    name: "prompt",
    kind: "prompt",
    ...io,
    settings,
    config: c,
    run: (idea) =>
      Effect.succeed({
        idea,
        seed: idea.ideaId,
        engine: c.engine,
        prompt: `"${idea.keyPhrase}"${idea.niche ? ` for ${idea.niche}` : ""}, ${c.style}`,
        negativePrompt: "photo, realistic, blurry, watermark, signature, misspelled text, extra letters, frame, mockup"
      })
  })
}
