/**
 * Prompt: writes the generation request for an idea: an SDXL prompt for the ComfyUI
 * engine and the seed that makes the procedural designer reproducible.
 */
import { Effect, Schema } from "effect"
import { decodeConfig, map, type SettingsInput, type StreamDef } from "../../runtime/topology.ts"
import type { GenerationRequest, Idea } from "../schemas.ts"

export const PromptConfig = Schema.Struct({
  engine: Schema.Literal("procedural", "comfyui").annotations({ description: "which generator renders the artwork", default: "procedural" }),
  style: Schema.String.annotations({
    description: "style words appended to every image prompt",
    default: "bold vector t-shirt design, clean typography, flat colors, isolated on transparent background, print ready"
  })
})

export const prompt = (
  config: Partial<typeof PromptConfig.Type>,
  io: { readonly from: StreamDef<Idea>; readonly to: StreamDef<GenerationRequest> },
  settings?: SettingsInput
) => {
  const c = decodeConfig("prompt", PromptConfig, {
    engine: "procedural",
    style: "bold vector t-shirt design, clean typography, flat colors, isolated on transparent background, print ready",
    ...config
  })
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
