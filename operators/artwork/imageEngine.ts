/**
 * The image engine: renders one candidate design. Two layers:
 *
 * - `procedural` (the embedded default): the typographic designer, text outlined from the
 *   bundled fonts and rasterised to the print canvas; already a print file.
 * - `comfyui` (`COMFYUI_URL` set): an SDXL workflow on a pool of ComfyUI servers
 *   (operators/artwork/comfyui.ts); a raster that post-processing makes a print file.
 *
 * `layerConfig` picks the layer from the environment: `COMFYUI_URL` (comma-separated =
 * a pool), `COMFYUI_WORKFLOW` (an API-format workflow file with `desainz.*` node titles,
 * default gpu/comfyui/sdxl-tshirt.api.json), `COMFYUI_PER_SERVER` (prompts in flight per
 * server, default 1), `COMFYUI_QUEUE_TIMEOUT` / `COMFYUI_EXECUTION_TIMEOUT` (default
 * 10 minutes / 5 minutes), `COMFYUI_WIDTH` / `COMFYUI_HEIGHT` (default 896 x 1152, the
 * canvas's 5:6 at SDXL's pixel budget).
 */
import { readFileSync } from "node:fs"
import { HttpClient } from "@effect/platform"
import { Config, Context, Duration, Effect, Layer, Option } from "effect"
import { PermanentError, type RetryableError } from "../../runtime/errors.ts"
import * as Http from "../../runtime/httpClient.ts"
import { applyValues, makePool, type RunProgress, type RunTimeouts, type Workflow } from "./comfyui.ts"
import { renderPrintFile } from "./printFile.ts"
import { hash32, layoutDesign, PALETTE_IDS, type PaletteId, type Style, STYLES } from "./typeset.ts"
import { positiveInteger } from "../../runtime/config.ts"

export interface RenderRequest {
  /** The ComfyUI prompt id: a UUID derived from the event id and candidate, so a redelivery finds its run. */
  readonly promptId: string
  readonly phrase: string
  readonly seed: string
  readonly prompt: string
  readonly negativePrompt: string
  readonly style?: string | undefined
  readonly palette?: string | undefined
  readonly onProgress: (progress: RunProgress) => void
}

export type Rendered =
  /** A finished print file (vector artwork) and its SVG, which the checks measure. */
  | { readonly kind: "print"; readonly png: Buffer; readonly svg: string }
  /** A raster to post-process, with the background-removal matte when the workflow made one. */
  | { readonly kind: "raster"; readonly image: Buffer; readonly matte: Buffer | undefined; readonly server: string; readonly queuedNow: boolean }

export interface ImageEngineService {
  readonly name: "procedural" | "comfyui"
  readonly render: (request: RenderRequest) => Effect.Effect<Rendered, RetryableError | PermanentError>
}

export class ImageEngine extends Context.Tag("desainz/ImageEngine")<ImageEngine, ImageEngineService>() {}

const isStyle = (s: string | undefined): s is Style => (STYLES as ReadonlyArray<string>).includes(s ?? "")
const isPalette = (s: string | undefined): s is PaletteId => (PALETTE_IDS as ReadonlyArray<string>).includes(s ?? "")

export const makeProcedural = (): ImageEngineService => ({
  name: "procedural",
  render: (request) =>
    Effect.gen(function* () {
      const design = yield* layoutDesign({
        phrase: request.phrase,
        seed: request.seed,
        ...(isStyle(request.style) ? { style: request.style } : {}),
        ...(isPalette(request.palette) ? { palette: request.palette } : {})
      })
      const png = yield* renderPrintFile(design.svg)
      return { kind: "print" as const, png, svg: design.svg }
    })
})

export const layerProcedural: Layer.Layer<ImageEngine> = Layer.sync(ImageEngine, makeProcedural)

export interface ComfyOptions {
  readonly urls: ReadonlyArray<string>
  readonly workflow: Workflow
  readonly perServer: number
  readonly timeouts: RunTimeouts
  readonly width: number
  readonly height: number
}

export const makeComfy = (options: ComfyOptions): Effect.Effect<ImageEngineService, never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (client) => {
    const pool = makePool({ urls: options.urls, perServer: options.perServer, timeouts: options.timeouts })
    return {
      name: "comfyui",
      render: (request) =>
        Effect.gen(function* () {
          const workflow = yield* applyValues(options.workflow, {
            prompt: request.prompt,
            negative: request.negativePrompt,
            // ComfyUI seeds are integers; the string seed keeps one design per idea + seed.
            seed: hash32(request.seed),
            width: options.width,
            height: options.height,
            batch: 1
          })
          const result = yield* pool.run(workflow, request.promptId, request.onProgress)
          return { kind: "raster" as const, image: result.images[0]!, matte: result.mattes[0], server: result.server, queuedNow: result.queuedNow }
        }).pipe(Effect.provideService(HttpClient.HttpClient, client))
    } satisfies ImageEngineService
  })

export const layerComfy = (options: ComfyOptions): Layer.Layer<ImageEngine> => Layer.effect(ImageEngine, makeComfy(options)).pipe(Layer.provide(Http.layer))

export const DEFAULT_WORKFLOW = new URL("../../gpu/comfyui/sdxl-tshirt.api.json", import.meta.url).pathname

/** A workflow file in ComfyUI's API format; a file that is not one stops the start naming it. */
export const readWorkflow = (path: string): Effect.Effect<Workflow, PermanentError> =>
  Effect.try({
    try: () => {
      const parsed = JSON.parse(readFileSync(path, "utf8")) as unknown
      if (parsed === null || typeof parsed !== "object" || Object.values(parsed).some((n) => typeof n !== "object" || n === null || !("class_type" in n))) {
        throw new Error("not a ComfyUI API-format workflow (an object of nodes with class_type); export it with \"Save (API Format)\"")
      }
      return parsed as Workflow
    },
    catch: (e) => new PermanentError({ message: `COMFYUI_WORKFLOW ${path}: ${e instanceof Error ? e.message : String(e)}` })
  })

/** `COMFYUI_URL` set: the ComfyUI pool; else the procedural designer. */
export const layerConfig: Layer.Layer<ImageEngine, unknown> = Layer.unwrapEffect(
  Effect.gen(function* () {
    const raw = yield* Config.option(Config.string("COMFYUI_URL"))
    const urls = Option.getOrElse(raw, () => "").split(",").map((u) => u.trim()).filter(Boolean)
    if (urls.length === 0) return layerProcedural
    for (const url of urls) {
      if (!/^https?:\/\/[^/]+/.test(url)) return yield* Effect.fail(new PermanentError({ message: `COMFYUI_URL: "${url}" is not an http(s) URL` }))
    }
    const workflow = yield* readWorkflow(yield* Config.string("COMFYUI_WORKFLOW").pipe(Config.withDefault(DEFAULT_WORKFLOW)))
    yield* applyValues(workflow, { prompt: "", negative: "", seed: 0 })
    return layerComfy({
      urls,
      workflow,
      perServer: yield* positiveInteger("COMFYUI_PER_SERVER", 1),
      timeouts: {
        queue: Duration.decode(yield* Config.duration("COMFYUI_QUEUE_TIMEOUT").pipe(Config.withDefault(Duration.minutes(10)))),
        execution: Duration.decode(yield* Config.duration("COMFYUI_EXECUTION_TIMEOUT").pipe(Config.withDefault(Duration.minutes(5)))),
        poll: Duration.seconds(2)
      },
      width: yield* positiveInteger("COMFYUI_WIDTH", 896),
      height: yield* positiveInteger("COMFYUI_HEIGHT", 1152)
    })
  })
)
