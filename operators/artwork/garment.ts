/**
 * Listing mock-ups: the print file composited on a flat-lay t-shirt, front or back, in
 * each requested colorway.
 *
 * The shirt is drawn as SVG (silhouette, side shading, collar, seams) over a backdrop with
 * its shadow; the print goes on top, then soft folds and a fine grain over the print so the
 * ink looks printed into the fabric rather than pasted on. Everything that does not depend
 * on the colour is built once per variant and reused.
 *
 * Output is JPEG, not PNG: the fabric grain is noise, which PNG cannot compress (a mock-up
 * is several MB as PNG, a few hundred KB as JPEG), a listing photo needs no alpha, and
 * marketplaces recompress uploads to JPEG anyway. 4:4:4 chroma keeps coloured type crisp;
 * plain libjpeg-turbo, as mozjpeg takes ~7x longer on the grain for ~30% fewer bytes.
 */
import { Effect } from "effect"
import { LRUCache } from "lru-cache"
import sharp, { type Sharp } from "sharp"
import { PermanentError } from "../../runtime/errors.ts"
import { PRINT_PREVIEW, sharpTask } from "./printFile.ts"
import { CANVAS } from "./typeset.ts"

/** Mock-up edge in pixels (square, the common marketplace listing image). */
export const MOCKUP_SIZE = 2000

export const VARIANTS = ["front", "back"] as const
export type Variant = (typeof VARIANTS)[number]

export interface Colorway {
  readonly name: string
  /** Garment colour as #RRGGBB. */
  readonly hex: string
  /** Heathered (mixed-fibre) fabric: a visible light/dark fleck. */
  readonly heather: boolean
}

export const COLORWAYS = {
  black: { name: "black", hex: "#161616", heather: false },
  white: { name: "white", hex: "#F7F7F5", heather: false },
  "heather-grey": { name: "heather-grey", hex: "#A4A6A9", heather: true },
  navy: { name: "navy", hex: "#1E2A45", heather: false },
  red: { name: "red", hex: "#B3202A", heather: false },
  "forest-green": { name: "forest-green", hex: "#24452F", heather: false },
  sand: { name: "sand", hex: "#D9CAA9", heather: false }
} as const satisfies Record<string, Colorway>
export type ColorwayName = keyof typeof COLORWAYS

export interface MockupRequest {
  /** The print PNG (4500 x 5400), as made by `renderPrintFile`, or its preview (PRINT_PREVIEW size). */
  readonly printFile: Buffer
  /** Built-in colorway names, or custom colours. */
  readonly colorways: ReadonlyArray<ColorwayName | Colorway>
  readonly variants: ReadonlyArray<Variant>
}

export interface Mockup {
  readonly variant: Variant
  readonly colorway: string
  /** MOCKUP_SIZE x MOCKUP_SIZE JPEG. */
  readonly jpeg: Buffer
}

// ---------------------------------------------------------------- the shirt

const mirror = (x: number) => MOCKUP_SIZE - x

/**
 * Flat-lay tee outline, symmetric about x = 1000: left neck point, shoulder, sleeve, cuff,
 * underarm, side seam, hem, and back up the right side. The neckline closes it.
 */
const SHIRT_PATH =
  "M850 300C760 322 680 336 598 348C470 380 330 500 252 668L398 868C440 830 480 800 508 772" +
  "C520 1100 488 1480 500 1832C800 1856 1200 1856 1500 1832C1512 1480 1480 1100 1492 772" +
  "C1520 800 1560 830 1602 868L1748 668C1670 500 1530 380 1402 348C1320 336 1240 322 1150 300"

/** Neckline depth below the shoulder-neck points: a scooped crew in front, a shallow curve at the back. */
const NECK_DEPTH: Record<Variant, number> = { front: 150, back: 45 }

/** Where the 15 x 18 in print canvas lands: true to scale on a 21 in wide body, hung below the collar. */
const PRINT_WIDTH = PRINT_PREVIEW.width
const PRINT_HEIGHT = PRINT_PREVIEW.height
const PRINT_TOP: Record<Variant, number> = { front: 470, back: 400 }

const neckCurve = (depth: number, fromRight: boolean) => {
  const y = 300 + (depth * 4) / 3
  return fromRight ? `C1120 ${y} 880 ${y} 850 300` : `C880 ${y} 1120 ${y} 1150 300`
}

const shirtOutline = (variant: Variant) => `${SHIRT_PATH}${neckCurve(NECK_DEPTH[variant], true)}Z`

const svgDoc = (body: string) =>
  `<svg xmlns="http://www.w3.org/2000/svg" width="${MOCKUP_SIZE}" height="${MOCKUP_SIZE}" viewBox="0 0 ${MOCKUP_SIZE} ${MOCKUP_SIZE}">${body}</svg>`

/** The shirt in one colour, transparent around it: body, side shading, collar, seams, stitching. */
const garmentSvg = (variant: Variant, colorway: Colorway): string => {
  const outline = shirtOutline(variant)
  const depth = NECK_DEPTH[variant]
  const stitch = `fill="none" stroke="#000" stroke-opacity="0.22" stroke-width="3" stroke-dasharray="10 7"`
  const seam = `fill="none" stroke="#000" stroke-opacity="0.2" stroke-width="4"`
  const sleeve = (flip: boolean) => {
    const x = (v: number) => (flip ? mirror(v) : v)
    return `<path d="M${x(598)} 348C${x(590)} 520 ${x(560)} 690 ${x(508)} 772" ${seam}/><path d="M${x(264)} 646L${x(404)} 842" ${stitch}/>`
  }
  const neckline = `M1150 300 ${neckCurve(depth, true)}`
  const backRim = "M850 300C920 314 1080 314 1150 300"
  // With the front neck scooped, the inside of the back collar shows through it.
  const inside = `${backRim}${neckCurve(depth, true)}Z`
  const backCollar =
    variant === "front"
      ? `<path d="${inside}" fill="${colorway.hex}"/><path d="${inside}" fill="#000" fill-opacity="0.4"/>` +
        `<path d="${backRim}" fill="none" stroke="${colorway.hex}" stroke-width="26" stroke-linecap="round"/>` +
        `<path d="${backRim}" fill="none" stroke="#000" stroke-opacity="0.14" stroke-width="26" stroke-linecap="round"/>`
      : ""
  return svgDoc(`<defs>
  <linearGradient id="sides" x1="250" y1="0" x2="1750" y2="0" gradientUnits="userSpaceOnUse">
    <stop offset="0" stop-color="#000" stop-opacity="0.22"/><stop offset="0.2" stop-color="#000" stop-opacity="0.06"/>
    <stop offset="0.5" stop-color="#000" stop-opacity="0"/><stop offset="0.8" stop-color="#000" stop-opacity="0.06"/>
    <stop offset="1" stop-color="#000" stop-opacity="0.22"/>
  </linearGradient>
  <radialGradient id="chest" cx="1000" cy="820" r="720" gradientUnits="userSpaceOnUse"><stop offset="0" stop-color="#FFF" stop-opacity="0.10"/><stop offset="1" stop-color="#FFF" stop-opacity="0"/></radialGradient>
  <clipPath id="body"><path d="${outline}"/></clipPath>
</defs>
${backCollar}
<path d="${outline}" fill="${colorway.hex}"/><path d="${outline}" fill="url(#sides)"/><path d="${outline}" fill="url(#chest)"/>
<g clip-path="url(#body)">
  <path d="${neckline}" fill="none" stroke="#000" stroke-opacity="0.13" stroke-width="40" transform="translate(0 18)"/>
  <path d="${neckline}" fill="none" stroke="#000" stroke-opacity="0.18" stroke-width="3" stroke-dasharray="10 7" transform="translate(0 34)"/>
  <path d="${neckline}" fill="none" stroke="#FFF" stroke-opacity="0.08" stroke-width="4" transform="translate(0 2)"/>
</g>
${sleeve(false)}${sleeve(true)}
<path d="M500 1790C800 1814 1200 1814 1500 1790" ${stitch}/>`)
}

/** Soft folds, drawn sharp and blurred by sharp afterwards (librsvg's blur is ~10x slower). */
const foldsSvg = (): string => {
  const fold = (d: string, shade: "#000" | "#FFF", opacity: number, width: number) =>
    `<path d="${d}" fill="none" stroke="${shade}" stroke-opacity="${opacity}" stroke-width="${width}" stroke-linecap="round"/>`
  return svgDoc(
    fold("M540 880C680 960 800 1000 940 1000", "#000", 0.1, 70) +
      fold(`M${mirror(540)} 880C${mirror(680)} 960 ${mirror(800)} 1000 ${mirror(940)} 1000`, "#000", 0.1, 70) +
      fold("M620 1000C740 1060 860 1090 980 1080", "#FFF", 0.05, 50) +
      fold("M700 1400C780 1520 830 1660 850 1820", "#000", 0.08, 90) +
      fold(`M${mirror(740)} 1360C${mirror(800)} 1500 ${mirror(830)} 1660 ${mirror(840)} 1820`, "#000", 0.07, 80) +
      fold("M880 1380C920 1520 930 1660 940 1820", "#FFF", 0.04, 90)
  )
}

/**
 * Fabric grain: per-pixel light and dark specks from an integer hash of the pixel index,
 * so it is the same on every run without any random state. `strength` is the peak alpha.
 */
const grain = (strength: number): Buffer => {
  const pixels = MOCKUP_SIZE * MOCKUP_SIZE
  const out = Buffer.alloc(pixels * 4)
  for (let i = 0; i < pixels; i++) {
    let h = Math.imul(i, 0x9e3779b1)
    h = Math.imul(h ^ (h >>> 16), 0x7feb352d)
    h = Math.imul(h ^ (h >>> 15), 0x846ca68b)
    const v = ((h ^ (h >>> 16)) >>> 0) / 4294967296
    const shade = v > 0.5 ? 255 : 0
    const o = i * 4
    out[o] = shade
    out[o + 1] = shade
    out[o + 2] = shade
    out[o + 3] = Math.round(Math.abs(v - 0.5) * 2 * strength * 255)
  }
  return out
}

/**
 * Decoded RGBA pixels, so cached layers are not re-decoded for every mock-up. Sharp's raw
 * output is straight (un-premultiplied) alpha even when `info.premultiplied` says true, so
 * the flag is deliberately not passed on.
 */
interface RawLayer {
  readonly data: Buffer
  readonly raw: { readonly width: number; readonly height: number; readonly channels: 4 }
}

const rawLayer = async (image: Sharp): Promise<RawLayer> => {
  const { data, info } = await image.ensureAlpha().raw().toBuffer({ resolveWithObject: true })
  return { data, raw: { width: info.width, height: info.height, channels: 4 } }
}

const FULL = { width: MOCKUP_SIZE, height: MOCKUP_SIZE, channels: 4 } as const

/**
 * Layers are built once per process and reused (they cost more than a mock-up): the
 * colour-independent ones per variant, and the shirt on its backdrop per variant and
 * colour, the latter bounded (16 MB each; a worker renders a few configured colourways).
 * A failed build is dropped so a later call can retry it.
 */
// Six per-variant layers (backdrop, overlay, flecks; front and back) and four shirts: about 160 MB at most.
const layerCache = new LRUCache<string, Promise<RawLayer>>({ max: 6 + 4 })
const cachedLayer = (key: string, build: () => Promise<RawLayer>): Promise<RawLayer> => {
  const cached = layerCache.get(key)
  if (cached !== undefined) return cached
  const built = build()
  layerCache.set(key, built)
  built.catch(() => layerCache.delete(key))
  return built
}

/** The backdrop with the shirt's soft shadow on it. */
const buildBackdrop = async (variant: Variant): Promise<RawLayer> => {
  const shadow = await rawLayer(
    sharp(Buffer.from(svgDoc(`<path d="${shirtOutline(variant)}" fill="#000" fill-opacity="0.3" transform="translate(0 18)"/>`))).blur(16)
  )
  const backdrop =
    `<defs><radialGradient id="b" cx="50%" cy="42%" r="75%"><stop offset="0" stop-color="#F3F1EE"/><stop offset="1" stop-color="#D8D4CE"/></radialGradient></defs>` +
    `<rect width="${MOCKUP_SIZE}" height="${MOCKUP_SIZE}" fill="url(#b)"/>`
  return rawLayer(sharp(Buffer.from(svgDoc(backdrop))).composite([{ input: shadow.data, raw: shadow.raw }]))
}

const clipToShirt = (variant: Variant, layer: RawLayer): Promise<RawLayer> =>
  rawLayer(
    sharp(layer.data, { raw: layer.raw }).composite([
      { input: Buffer.from(svgDoc(`<path d="${shirtOutline(variant)}"/>`)), blend: "dest-in" }
    ])
  )

/** What lies over the print: blurred folds and a fine grain, clipped to the shirt. */
const buildOverlay = async (variant: Variant): Promise<RawLayer> => {
  const folds = await rawLayer(
    sharp(Buffer.from(foldsSvg()))
      .blur(30)
      .composite([{ input: grain(0.07), raw: FULL }])
  )
  return clipToShirt(variant, folds)
}

/**
 * Heather flecks, under the print: they are the yarn's colour, which the ink covers. Softened
 * a little so they read as mixed fibres rather than pixel noise.
 */
const buildFlecks = async (variant: Variant): Promise<RawLayer> =>
  clipToShirt(variant, await rawLayer(sharp(grain(0.22), { raw: FULL }).blur(0.6)))

// ---------------------------------------------------------------- rendering

const HEX = /^#[0-9A-Fa-f]{6}$/

const resolveColorway = (colorway: ColorwayName | Colorway): Effect.Effect<Colorway, PermanentError> => {
  if (typeof colorway === "string") {
    return Object.hasOwn(COLORWAYS, colorway)
      ? Effect.succeed(COLORWAYS[colorway])
      : Effect.fail(new PermanentError({ message: `unknown colorway "${String(colorway)}"` }))
  }
  return HEX.test(colorway.hex)
    ? Effect.succeed(colorway)
    : Effect.fail(new PermanentError({ message: `colorway "${colorway.name}" has invalid hex "${colorway.hex}"` }))
}

/** Everything under the print: backdrop and shadow, the shirt in its colour, heather flecks. */
const buildBase = async (variant: Variant, colorway: Colorway): Promise<RawLayer> => {
  const [backdrop, flecks] = await Promise.all([
    cachedLayer(`backdrop:${variant}`, () => buildBackdrop(variant)),
    colorway.heather ? cachedLayer(`flecks:${variant}`, () => buildFlecks(variant)) : undefined
  ])
  return rawLayer(
    sharp(backdrop.data, { raw: backdrop.raw }).composite([
      { input: Buffer.from(garmentSvg(variant, colorway)) },
      ...(flecks === undefined ? [] : [{ input: flecks.data, raw: flecks.raw }])
    ])
  )
}

const renderOne = (variant: Variant, colorway: Colorway, print: RawLayer): Effect.Effect<Mockup, PermanentError> =>
  sharpTask(`cannot render ${variant} mock-up in ${colorway.name}`, async () => {
    const [base, overlay] = await Promise.all([
      cachedLayer(`base:${variant}:${colorway.hex}:${colorway.heather}`, () => buildBase(variant, colorway)),
      cachedLayer(`overlay:${variant}`, () => buildOverlay(variant))
    ])
    const jpeg = await sharp(base.data, { raw: base.raw })
      .composite([
        { input: print.data, raw: print.raw, left: (MOCKUP_SIZE - PRINT_WIDTH) / 2, top: PRINT_TOP[variant] },
        { input: overlay.data, raw: overlay.raw }
      ])
      .flatten()
      .jpeg({ quality: 88, chromaSubsampling: "4:4:4" })
      .toBuffer()
    return { variant, colorway: colorway.name, jpeg }
  })

/** One mock-up per variant x colorway (variant-major order), all sharing one downscaled print. */
export const renderMockups = (request: MockupRequest): Effect.Effect<Array<Mockup>, PermanentError> =>
  Effect.gen(function* () {
    const colorways = yield* Effect.forEach(request.colorways, resolveColorway)
    const { width, height } = yield* sharpTask("cannot read print file", () => sharp(request.printFile).metadata())
    const isPreview = width === PRINT_PREVIEW.width && height === PRINT_PREVIEW.height
    if (!isPreview && (width !== CANVAS.width || height !== CANVAS.height)) {
      return yield* Effect.fail(
        new PermanentError({
          message: `print file is ${width}x${height}, expected ${CANVAS.width}x${CANVAS.height} (or its ${PRINT_PREVIEW.width}x${PRINT_PREVIEW.height} preview)`
        })
      )
    }
    const print = yield* sharpTask("cannot scale print file", () =>
      rawLayer(isPreview ? sharp(request.printFile) : sharp(request.printFile).resize(PRINT_WIDTH, PRINT_HEIGHT, { kernel: "lanczos3" }))
    )
    const jobs = request.variants.flatMap((variant) => colorways.map((colorway) => ({ variant, colorway })))
    // Sharp already uses every core per image; more than two at once only adds memory.
    return yield* Effect.forEach(jobs, ({ variant, colorway }) => renderOne(variant, colorway, print), { concurrency: 2 })
  })
