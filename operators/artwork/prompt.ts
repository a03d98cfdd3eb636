/**
 * Prompt: writes the generation request for an idea, with `candidates` designs (N seeds),
 * each phrased by the prompt grammar (the blueprint's Prompt Builder): the key phrase, the
 * niche, a format template (typographic, badge, retro sunset, line art, ...), a nostalgia
 * hook for anniversaries, and style modifiers. Every choice is drawn from a generator
 * seeded by idea + seed, so the same idea and seed always get the same prompt; the
 * procedural designer takes the layout and palette the format implies.
 *
 * A refinement ("more retro") is folded into the grammar: formats and modifiers that
 * match its words are preferred, and the instruction itself is added with extra weight.
 */
import { Effect, Schema } from "effect"
import { decodeConfig, map, type SettingsInput, type StreamDef } from "../../runtime/topology.ts"
import type { CandidateSpec, GenerationRequest, Idea } from "../schemas.ts"
import { hash32, mulberry32, pick } from "./typeset.ts"

interface Format {
  /** The subject phrase of the image prompt. */
  readonly template: (phrase: string, niche: string) => string
  /** Words a refinement may use to ask for this format. */
  readonly words: ReadonlyArray<string>
  /** The procedural designer's layout / palette for this format. */
  readonly style?: "stacked" | "script" | "badge"
  readonly palette?: string
}

export const FORMATS: Record<string, Format> = {
  typographic: { template: (p, n) => `bold typographic t-shirt design reading "${p}"${n}, big stacked letters`, words: ["type", "typographic", "text", "bold", "letters"], style: "stacked" },
  badge: { template: (p, n) => `circular badge emblem with the words "${p}"${n}, banner ribbon, stars`, words: ["badge", "emblem", "logo", "patch", "circle"], style: "badge" },
  "retro-sunset": { template: (p, n) => `retro 70s sunset stripes behind the words "${p}"${n}`, words: ["retro", "vintage", "70s", "80s", "sunset"], style: "script", palette: "sunset" },
  "line-art": { template: (p, n) => `minimal continuous line art illustration with the caption "${p}"${n}`, words: ["line", "minimal", "simple", "clean", "outline"] },
  "vintage-distressed": { template: (p, n) => `vintage distressed college print "${p}"${n}, worn texture`, words: ["distressed", "worn", "grunge", "college", "vintage"], style: "stacked", palette: "retro" },
  "cartoon-mascot": { template: (p, n) => `cute cartoon mascot character with the speech text "${p}"${n}`, words: ["cute", "cartoon", "mascot", "character", "funny"], style: "script" }
}
export const FORMAT_NAMES = Object.keys(FORMATS)

export const STYLE_MODIFIERS = [
  "thick clean outlines",
  "limited three-colour palette",
  "screen-print ready",
  "halftone shading",
  "flat vector shapes",
  "high contrast",
  "playful hand-lettering",
  "geometric accents",
  "retro color palette",
  "minimal detail"
] as const

/** Era hooks for anniversaries ("est. 1986"), keyed by decade. */
const nostalgiaHook = (idea: Idea): string | undefined => {
  const source = idea.signal.source
  const years = /\b(1[89]\d\d|20[0-2]\d)\b/.exec(idea.signal.content)?.[1]
  if (source !== "anniversaries" && !/anniversary|years? ago|since \d{4}/i.test(idea.signal.content)) return undefined
  if (years === undefined) return "nostalgic throwback, classic era styling"
  const decade = `${years.slice(2, 3)}0s`
  return `nostalgic ${decade} throwback, "est. ${years}" lockup, period-accurate typography`
}

const BASE_STYLE = "t-shirt print design, isolated on a plain flat white background, centered, no shirt, no mockup, print ready"
export const NEGATIVE =
  "photo, realistic, photograph of a shirt, mockup, model, gradient background, textured background, frame, border, blurry, watermark, signature, misspelled text, extra letters, cropped"

export interface GrammarInput {
  readonly idea: Idea
  readonly seed: string
  readonly instruction?: string | undefined
  readonly style?: string
}

const words = (text: string) => text.toLowerCase().match(/[a-z0-9]+/g) ?? []

/** One candidate's prompt, deterministic for idea + seed (+ instruction). */
export const buildPrompt = (input: GrammarInput): CandidateSpec => {
  const rng = mulberry32(hash32(`${input.idea.ideaId}\u0000${input.seed}`))
  const asked = new Set(words(input.instruction ?? ""))
  const matching = FORMAT_NAMES.filter((name) => FORMATS[name]!.words.some((w) => asked.has(w)))
  // Draw every choice even when the instruction decides it, so one choice never shifts another.
  const drawnFormat = pick(rng, FORMAT_NAMES)
  const format = matching.length > 0 ? pick(rng, matching) : drawnFormat
  const modifiers = [...STYLE_MODIFIERS]
  const chosen: Array<string> = []
  for (let i = 0; i < 2; i++) chosen.push(modifiers.splice(Math.floor(rng() * modifiers.length), 1)[0]!)
  const preferred = STYLE_MODIFIERS.filter((m) => words(m).some((w) => asked.has(w)) && !chosen.includes(m))
  if (preferred.length > 0) chosen[1] = preferred[0]!
  const spec = FORMATS[format]!
  const niche = input.idea.niche ? ` for ${input.idea.niche}` : ""
  const hook = nostalgiaHook(input.idea)
  const parts = [
    spec.template(input.idea.keyPhrase.replace(/"/g, "'"), niche),
    ...(hook ? [hook] : []),
    ...chosen,
    ...(input.instruction ? [`(${input.instruction.replace(/[()]/g, " ").trim()}:1.3)`] : []),
    input.style ?? BASE_STYLE
  ]
  return {
    seed: input.seed,
    prompt: parts.join(", "),
    negativePrompt: NEGATIVE,
    format,
    ...(spec.style ? { style: spec.style } : {}),
    ...(spec.palette ? { palette: spec.palette } : {})
  }
}

/** The request for `count` candidates of an idea (seeds `<base>`, `<base>:1`, ...). */
export const buildRequest = (
  idea: Idea,
  options: { readonly engine: "procedural" | "comfyui"; readonly candidates: number; readonly baseSeed?: string; readonly refinement?: GenerationRequest["refinement"]; readonly style?: string }
): GenerationRequest => {
  const base = options.baseSeed ?? idea.ideaId
  const seeds = Array.from({ length: Math.max(1, options.candidates) }, (_, i) => (i === 0 ? base : `${base}:${i}`))
  const [first, ...rest] = seeds.map((seed) =>
    buildPrompt({ idea, seed, instruction: options.refinement?.instruction, ...(options.style ? { style: options.style } : {}) })
  )
  return {
    idea,
    seed: first!.seed,
    engine: options.engine,
    prompt: first!.prompt,
    negativePrompt: first!.negativePrompt,
    candidates: [first!, ...rest],
    ...(options.refinement ? { refinement: options.refinement } : {})
  }
}

export const PromptConfig = Schema.Struct({
  engine: Schema.optionalWith(Schema.Literal("procedural", "comfyui"), { default: () => "procedural" as const }).annotations({
    description: "which generator renders the artwork (the ImageEngine in the services must match)"
  }),
  candidates: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 8)), { default: () => 1 }).annotations({
    description: "designs (seeds) per idea; the best by its quality checks is the default pick"
  }),
  style: Schema.optional(Schema.String).annotations({ description: "replaces the closing style words of every image prompt" })
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
    run: (idea) => Effect.succeed(buildRequest(idea, { engine: c.engine, candidates: c.candidates, ...(c.style ? { style: c.style } : {}) }))
  })
}
