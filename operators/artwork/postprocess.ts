/**
 * Post-processing: a generated raster (an SDXL output) made into a print file, and the
 * quality checks stored with every artwork of either engine.
 *
 * 1. Background removal. The workflows prompt for a flat background, so the background is
 *    what is connected to the image border in (nearly) the border's colour: a flood fill
 *    from every border pixel within `tolerance` (RGB distance) of the border's median
 *    colour. Pixels next to the removed region get a soft alpha from their distance to
 *    the background colour (anti-aliased edges were blended with it), with the
 *    background's share unmixed from their colour, so no white fringe is left on a dark
 *    shirt. When the workflow has a background-removal node, its matte is used instead.
 *    Limits: a background that is a gradient, a texture or a photo is not flat and is kept
 *    (the coverage check then sends the idea to review); enclosed background (the inside of
 *    an "O") is not connected to the border and is kept; design parts in the background's
 *    colour that touch the border are removed.
 * 2. Trim to the ink, scale (Lanczos 3; a workflow upscale model has already enlarged the
 *    image, so the factor is smaller) into the printable area, centre on the 4500 x 5400
 *    canvas, sRGB with alpha, 300 DPI, PNG under 25 MB; a CMYK TIFF on request.
 * 3. Checks: coverage (ink share of the canvas), upscale factor and effective DPI,
 *    transparent margins, whether the ink touched the source's edge (cropped), file size.
 *    A failed check (the size limit included) does not stop the pipeline: the artwork carries its reasons and the
 *    idea waits for a person in review.
 */
import { Effect } from "effect"
import sharp from "sharp"
import { PermanentError } from "../../runtime/errors.ts"
import { MAX_PRINT_FILE_BYTES, PRINT_DPI, PRINT_PREVIEW, sharpTask, toCmykTiff } from "./printFile.ts"
import { CANVAS, MARGIN } from "./typeset.ts"
import type { QualityChecks } from "../schemas.ts"

export interface CheckLimits {
  readonly minCoverage: number
  readonly maxCoverage: number
  readonly maxUpscale: number
  readonly minMargin: number
}
export const DEFAULT_LIMITS: CheckLimits = { minCoverage: 0.03, maxCoverage: 0.9, maxUpscale: 8, minMargin: MARGIN / 2 }

export interface PostProcessOptions {
  /** The raster from the engine (PNG, any size). */
  readonly image: Buffer
  /** A background-removal matte (white = keep), when the workflow made one. */
  readonly matte?: Buffer | undefined
  /** RGB distance within which a border-connected pixel counts as background. */
  readonly tolerance?: number
  readonly limits?: CheckLimits
  readonly cmyk?: boolean
}

export interface PrintFile {
  readonly png: Buffer
  /** The print at mock-up scale (PRINT_PREVIEW), made from the same pixels. */
  readonly preview: Buffer
  readonly tiff?: Buffer
  readonly checks: QualityChecks
}

const ALPHA_INK = 8

/** Median of each channel over the border pixels: the background colour of a flat-background image. */
const borderColour = (rgba: Uint8Array, w: number, h: number): [number, number, number] => {
  const channels: [Array<number>, Array<number>, Array<number>] = [[], [], []]
  const add = (i: number) => {
    for (let c = 0; c < 3; c++) channels[c]!.push(rgba[i * 4 + c]!)
  }
  for (let x = 0; x < w; x++) add(x), add((h - 1) * w + x)
  for (let y = 1; y < h - 1; y++) add(y * w), add(y * w + w - 1)
  return channels.map((values) => values.sort((a, b) => a - b)[values.length >> 1]!) as [number, number, number]
}

/** Sets alpha in place: border-connected background to 0, a soft edge around it. */
export const removeFlatBackground = (rgba: Uint8Array, w: number, h: number, tolerance: number): void => {
  const [br, bg, bb] = borderColour(rgba, w, h)
  const dist2 = (p: number) => {
    const o = p * 4
    const dr = rgba[o]! - br
    const dg = rgba[o + 1]! - bg
    const db = rgba[o + 2]! - bb
    return dr * dr + dg * dg + db * db
  }
  const dist = (p: number) => Math.sqrt(dist2(p))
  const tolerance2 = tolerance * tolerance
  const removed = new Uint8Array(w * h)
  const stack = new Int32Array(w * h)
  let top = 0
  const seed = (p: number) => {
    if (removed[p] === 0 && dist2(p) <= tolerance2) {
      removed[p] = 1
      stack[top++] = p
    }
  }
  for (let x = 0; x < w; x++) seed(x), seed((h - 1) * w + x)
  for (let y = 1; y < h - 1; y++) seed(y * w), seed(y * w + w - 1)
  while (top > 0) {
    const p = stack[--top]!
    const x = p % w
    if (x > 0) seed(p - 1)
    if (x < w - 1) seed(p + 1)
    if (p >= w) seed(p - w)
    if (p < w * (h - 1)) seed(p + w)
  }
  // Soft edge: a kept pixel beside the background is a blend of the background and the ink
  // next to it (anti-aliasing). Its alpha is its distance from the background relative to
  // that ink's (the farthest kept pixel within 2 px), and the background's share is taken
  // out of its colour, so no light fringe shows on a dark shirt.
  const edges: Array<number> = []
  for (let p = 0; p < w * h; p++) {
    if (removed[p] === 1) {
      rgba[p * 4 + 3] = 0
      continue
    }
    const x = p % w
    if ((x > 0 && removed[p - 1] === 1) || (x < w - 1 && removed[p + 1] === 1) || (p >= w && removed[p - w] === 1) || (p < w * (h - 1) && removed[p + w] === 1)) edges.push(p)
  }
  const alphas = edges.map((p) => {
    const x = p % w
    const y = (p - x) / w
    let ink = dist(p)
    for (let dy = -2; dy <= 2; dy++) {
      for (let dx = -2; dx <= 2; dx++) {
        const nx = x + dx
        const ny = y + dy
        if (nx < 0 || ny < 0 || nx >= w || ny >= h) continue
        const q = ny * w + nx
        if (removed[q] === 0) ink = Math.max(ink, dist(q))
      }
    }
    return ink <= 0 ? 1 : Math.min(1, Math.max(0.02, dist(p) / ink))
  })
  edges.forEach((p, i) => {
    const a = alphas[i]!
    if (a >= 1) return
    const o = p * 4
    rgba[o] = Math.round(Math.min(255, Math.max(0, (rgba[o]! - (1 - a) * br) / a)))
    rgba[o + 1] = Math.round(Math.min(255, Math.max(0, (rgba[o + 1]! - (1 - a) * bg) / a)))
    rgba[o + 2] = Math.round(Math.min(255, Math.max(0, (rgba[o + 2]! - (1 - a) * bb) / a)))
    rgba[o + 3] = Math.round(rgba[o + 3]! * a)
  })
}

export interface InkBox {
  readonly x1: number
  readonly y1: number
  /** Exclusive. */
  readonly x2: number
  readonly y2: number
  /** Pixels with ink. */
  readonly ink: number
}

/** The bounding box of the pixels with ink, and how many there are; undefined when there is none. */
export const inkBox = (alpha: (i: number) => number, w: number, h: number): InkBox | undefined => {
  let x1 = w
  let y1 = h
  let x2 = -1
  let y2 = -1
  let ink = 0
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (alpha(y * w + x) > ALPHA_INK) {
        ink++
        if (x < x1) x1 = x
        if (x > x2) x2 = x
        if (y < y1) y1 = y
        if (y > y2) y2 = y
      }
    }
  }
  return ink === 0 ? undefined : { x1, y1, x2: x2 + 1, y2: y2 + 1, ink }
}

/** The checks of a print file, from where its ink sits on the canvas. */
export const judge = (
  measured: { readonly coverage: number; readonly upscaleFactor: number; readonly margins: QualityChecks["margins"]; readonly touchesEdge: boolean; readonly bytes: number },
  limits: CheckLimits = DEFAULT_LIMITS
): QualityChecks => {
  const failures: Array<string> = []
  const pct = (n: number) => `${(n * 100).toFixed(1)}%`
  if (measured.coverage < limits.minCoverage) failures.push(`coverage ${pct(measured.coverage)} is under ${pct(limits.minCoverage)}: almost nothing left to print`)
  if (measured.coverage > limits.maxCoverage) failures.push(`coverage ${pct(measured.coverage)} is over ${pct(limits.maxCoverage)}: the background was probably not removed`)
  if (measured.upscaleFactor > limits.maxUpscale) {
    failures.push(`upscaled ${measured.upscaleFactor.toFixed(1)}x (${Math.round(PRINT_DPI / measured.upscaleFactor)} effective DPI), over ${limits.maxUpscale}x: will print soft`)
  }
  const smallest = Math.min(measured.margins.top, measured.margins.right, measured.margins.bottom, measured.margins.left)
  if (smallest < limits.minMargin) failures.push(`transparent margin ${smallest} px is under ${limits.minMargin} px`)
  if (measured.touchesEdge) failures.push("the design touches the edge of the generated image: it is probably cropped")
  if (measured.bytes >= MAX_PRINT_FILE_BYTES) failures.push(`print file is ${measured.bytes} bytes, over the 25 MB limit`)
  return { ...measured, effectiveDpi: Math.round(PRINT_DPI / measured.upscaleFactor), failures }
}

/** A raster from an image engine to a print file with its checks. */
export const postProcess = (options: PostProcessOptions): Effect.Effect<PrintFile, PermanentError> =>
  Effect.gen(function* () {
    const { data, info } = yield* sharpTask("cannot decode the generated image", () =>
      sharp(options.image).toColourspace("srgb").ensureAlpha().raw().toBuffer({ resolveWithObject: true })
    )
    const { width: w, height: h } = info
    const rgba = new Uint8Array(data.buffer, data.byteOffset, data.length)
    if (options.matte !== undefined) {
      const matte = yield* sharpTask("cannot decode the matte", () => sharp(options.matte!).resize(w, h, { fit: "fill" }).greyscale().extractChannel(0).raw().toBuffer())
      for (let p = 0; p < w * h; p++) rgba[p * 4 + 3] = Math.round((rgba[p * 4 + 3]! * matte[p]!) / 255)
    } else {
      removeFlatBackground(rgba, w, h, options.tolerance ?? 40)
    }
    const box = inkBox((p) => rgba[p * 4 + 3]!, w, h) ?? { x1: 0, y1: 0, x2: w, y2: h, ink: 0 }
    const bw = box.x2 - box.x1
    const bh = box.y2 - box.y1
    const scale = Math.min((CANVAS.width - 2 * MARGIN) / bw, (CANVAS.height - 2 * MARGIN) / bh)
    const tw = Math.min(CANVAS.width - 2 * MARGIN, Math.round(bw * scale))
    const th = Math.min(CANVAS.height - 2 * MARGIN, Math.round(bh * scale))
    const left = Math.floor((CANVAS.width - tw) / 2)
    const top = Math.floor((CANVAS.height - th) / 2)
    const png = yield* sharpTask("cannot render the print file", () =>
      sharp(data, { raw: { width: w, height: h, channels: 4 } })
        .extract({ left: box.x1, top: box.y1, width: bw, height: bh })
        .resize(tw, th, { kernel: "lanczos3", fit: "fill" })
        .extend({ top, bottom: CANVAS.height - th - top, left, right: CANVAS.width - tw - left, background: { r: 0, g: 0, b: 0, alpha: 0 } })
        .withIccProfile("srgb")
        .withDensity(PRINT_DPI)
        .png({ compressionLevel: 6, adaptiveFiltering: false, palette: false })
        .toBuffer()
    )
    // The same placement at preview scale, from the source pixels (not a decode of the print).
    const f = PRINT_PREVIEW.width / CANVAS.width
    const [pw, ph, pl, pt] = [Math.max(1, Math.round(tw * f)), Math.max(1, Math.round(th * f)), Math.round(left * f), Math.round(top * f)]
    const preview = yield* sharpTask("cannot render the print preview", () =>
      sharp(data, { raw: { width: w, height: h, channels: 4 } })
        .extract({ left: box.x1, top: box.y1, width: bw, height: bh })
        .resize(pw, ph, { kernel: "lanczos3", fit: "fill" })
        .extend({
          top: pt,
          bottom: Math.max(0, PRINT_PREVIEW.height - ph - pt),
          left: pl,
          right: Math.max(0, PRINT_PREVIEW.width - pw - pl),
          background: { r: 0, g: 0, b: 0, alpha: 0 }
        })
        .png({ compressionLevel: 6, adaptiveFiltering: false, palette: false })
        .toBuffer()
    )
    const checks = judge(
      {
        coverage: (box.ink * scale * scale) / (CANVAS.width * CANVAS.height),
        upscaleFactor: scale,
        margins: { top, right: CANVAS.width - tw - left, bottom: CANVAS.height - th - top, left },
        touchesEdge: box.ink > 0 && (box.x1 === 0 || box.y1 === 0 || box.x2 === w || box.y2 === h),
        bytes: png.length
      },
      options.limits
    )
    // Nearly nothing removed: the image had no flat background to take away.
    const kept = box.ink / (w * h)
    const all = kept > 0.97 ? { ...checks, failures: [...checks.failures, `${(kept * 100).toFixed(0)}% of the image kept: no flat background was found to remove`] } : checks
    return options.cmyk ? { png, preview, tiff: yield* toCmykTiff(png), checks: all } : { png, preview, checks: all }
  })

/**
 * The checks of a vector print file (the procedural engine), measured on the design's SVG
 * rendered at a tenth of the canvas: cheaper than decoding the 24-megapixel PNG.
 */
export const checkVectorPrint = (svg: string, bytes: number, limits: CheckLimits = DEFAULT_LIMITS): Effect.Effect<QualityChecks, PermanentError> =>
  Effect.gen(function* () {
    const f = 10
    const { data, info } = yield* sharpTask("cannot measure the print file", () =>
      sharp(Buffer.from(svg), { density: 72 / f }).ensureAlpha().extractChannel(3).raw().toBuffer({ resolveWithObject: true })
    )
    const box = inkBox((p) => data[p]!, info.width, info.height)
    const sx = CANVAS.width / info.width
    const sy = CANVAS.height / info.height
    const margins = box === undefined
      ? { top: CANVAS.height, right: CANVAS.width, bottom: CANVAS.height, left: CANVAS.width }
      : { top: Math.round(box.y1 * sy), right: Math.round((info.width - box.x2) * sx), bottom: Math.round((info.height - box.y2) * sy), left: Math.round(box.x1 * sx) }
    return judge({ coverage: (box?.ink ?? 0) / (info.width * info.height), upscaleFactor: 1, margins, touchesEdge: false, bytes }, limits)
  })
