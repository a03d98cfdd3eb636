/**
 * Typesetting: a key phrase + seed becomes a print-ready SVG (4500 x 5400, transparent).
 *
 * Every mark (glyphs, rings, stars, rules) is an opentype.js Path, so one code path gives
 * both the SVG data and exact bounding boxes. A layout is composed in free "design units",
 * then scaled as a whole into the printable area: nothing can be clipped by construction.
 * The only source of variety is a PRNG seeded from the seed string, so the same spec
 * always yields the same SVG text.
 */
import { Effect, Schema } from "effect"
import opentype from "opentype.js"
import { PermanentError } from "../../runtime/errors.ts"
import { loadFonts, unsupportedChars, type FontId } from "./fonts.ts"

/** Print canvas in pixels: 15 x 18 in at 300 DPI. */
export const CANVAS = { width: 4500, height: 5400 } as const
/** Blank border kept around the artwork (0.5 in), so no ink touches the canvas edge. */
export const MARGIN = 150

export const STYLES = ["stacked", "script", "badge"] as const
export type Style = (typeof STYLES)[number]

export const GARMENT_TONES = ["any", "light", "dark"] as const
export type GarmentTone = (typeof GARMENT_TONES)[number]

export interface Palette {
  /** The garment tone the inks are chosen for; "any" palettes rely on `outline` for light garments. */
  readonly garment: GarmentTone
  readonly main: string
  readonly accent: string
  /** Drawn under every mark as a stroke: a dark keyline that keeps bright inks readable on white. */
  readonly outline: string | null
}

export const PALETTE_IDS = [
  "ink-red",
  "navy-rust",
  "forest-gold",
  "cream-gold",
  "white-coral",
  "mint-pink",
  "sunset",
  "pool",
  "retro"
] as const
export type PaletteId = (typeof PALETTE_IDS)[number]

export const PALETTES: Record<PaletteId, Palette> = {
  "ink-red": { garment: "light", main: "#1C1C1C", accent: "#C62828", outline: null },
  "navy-rust": { garment: "light", main: "#1D2B4F", accent: "#A8441A", outline: null },
  "forest-gold": { garment: "light", main: "#1F4B3A", accent: "#8A5A0F", outline: null },
  "cream-gold": { garment: "dark", main: "#F6EEDB", accent: "#F2B33D", outline: null },
  "white-coral": { garment: "dark", main: "#FFFFFF", accent: "#FF6F5B", outline: null },
  "mint-pink": { garment: "dark", main: "#C9F2E0", accent: "#FF8FB1", outline: null },
  sunset: { garment: "any", main: "#FFB627", accent: "#FF6B3D", outline: "#161616" },
  pool: { garment: "any", main: "#5CD3F0", accent: "#FFD23F", outline: "#14213D" },
  retro: { garment: "any", main: "#F4D35E", accent: "#F07167", outline: "#1B1B1E" }
}

export const DesignSpec = Schema.Struct({
  phrase: Schema.Trim.pipe(Schema.nonEmptyString(), Schema.maxLength(80)).annotations({
    description: "The key phrase printed on the garment; surrounding whitespace is ignored, 1-80 characters."
  }),
  seed: Schema.String.annotations({
    description: "Picks style, palette and small variations; the same phrase + seed renders byte-identically."
  }),
  style: Schema.optional(
    Schema.Literal(...STYLES).annotations({
      description: "Layout: stacked bold caps, script + caps combo, or a circle badge. Seeded when absent."
    })
  ),
  palette: Schema.optional(
    Schema.Literal(...PALETTE_IDS).annotations({
      description: "Ink colours by palette id. Seeded among the palettes suited to `garment` when absent."
    })
  ),
  garment: Schema.optional(
    Schema.Literal(...GARMENT_TONES).annotations({
      description: "Garment tones the print must read on: light, dark, or any (default: bright inks with a dark keyline)."
    })
  )
}).annotations({ identifier: "DesignSpec", description: "What to typeset: a phrase, a seed and optional style." })
export type DesignSpec = typeof DesignSpec.Type

export interface Box {
  readonly x1: number
  readonly y1: number
  readonly x2: number
  readonly y2: number
}

type Tone = "main" | "accent"
type Kind = "text" | "shape"
interface Mark {
  readonly path: opentype.Path
  readonly tone: Tone
  readonly kind: Kind
}

/** A typeset design: the SVG plus what was chosen and where every mark landed (canvas pixels). */
export interface LaidOutDesign {
  readonly svg: string
  readonly style: Style
  readonly palette: PaletteId
  /** Stroke width of the keyline drawn under each mark (0 without one); half of it lies outside a box. */
  readonly outlineWidth: number
  readonly marks: ReadonlyArray<{ readonly kind: Kind; readonly tone: Tone; readonly box: Box }>
}

// ---------------------------------------------------------------- seeded randomness

/** FNV-1a: a stable 32-bit hash of the seed string. */
export const hash32 = (text: string): number => {
  let h = 0x811c9dc5
  for (const byte of new TextEncoder().encode(text)) h = Math.imul(h ^ byte, 0x01000193)
  return h >>> 0
}

/** mulberry32: tiny, fast, and identical on every JS engine (32-bit integer arithmetic only). */
export const mulberry32 = (seed: number): (() => number) => {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export const pick = <A>(rng: () => number, items: ReadonlyArray<A>): A => items[Math.floor(rng() * items.length)] as A

// ---------------------------------------------------------------- path geometry

type Affine = readonly [a: number, b: number, c: number, d: number, e: number, f: number]

const translate = (x: number, y: number): Affine => [1, 0, 0, 1, x, y]
const rotateAbout = (radians: number, x: number, y: number): Affine => {
  const cos = Math.cos(radians)
  const sin = Math.sin(radians)
  return [cos, sin, -sin, cos, x - cos * x + sin * y, y - sin * x - cos * y]
}

/** A copy of `path` with every point (control points included) passed through `f`. */
const mapPath = (path: opentype.Path, f: (x: number, y: number) => readonly [number, number]): opentype.Path => {
  const out = new opentype.Path()
  for (const cmd of path.commands) {
    switch (cmd.type) {
      case "M":
        out.moveTo(...f(cmd.x, cmd.y))
        break
      case "L":
        out.lineTo(...f(cmd.x, cmd.y))
        break
      case "C":
        out.curveTo(...f(cmd.x1, cmd.y1), ...f(cmd.x2, cmd.y2), ...f(cmd.x, cmd.y))
        break
      case "Q":
        out.quadTo(...f(cmd.x1, cmd.y1), ...f(cmd.x, cmd.y))
        break
      case "Z":
        out.close()
    }
  }
  return out
}

const transformPath = (path: opentype.Path, [a, b, c, d, e, f]: Affine): opentype.Path =>
  mapPath(path, (x, y) => [a * x + c * y + e, b * x + d * y + f])

/**
 * Round points to 1/100 px before `toPathData(2)`: opentype.js 2.0 rounds by string-building
 * `fraction + "e+2"`, which yields NaN when the fraction prints in exponent form (e.g. 2e-13).
 */
const snapPath = (path: opentype.Path): opentype.Path =>
  mapPath(path, (x, y) => [Math.round(x * 100) / 100, Math.round(y * 100) / 100])

const boxOf = (path: opentype.Path): Box => {
  const { x1, y1, x2, y2 } = path.getBoundingBox()
  return { x1, y1, x2, y2 }
}

const unionBox = (boxes: ReadonlyArray<Box>): Box =>
  boxes.reduce((u, b) => ({
    x1: Math.min(u.x1, b.x1),
    y1: Math.min(u.y1, b.y1),
    x2: Math.max(u.x2, b.x2),
    y2: Math.max(u.y2, b.y2)
  }))

/** A group of marks composed in design units; `box` is their ink extent. */
interface Group {
  readonly marks: ReadonlyArray<Mark>
  readonly box: Box
}

const group = (marks: ReadonlyArray<Mark>): Group => ({ marks, box: unionBox(marks.map((m) => boxOf(m.path))) })

const moveGroup = (g: Group, m: Affine): Group => group(g.marks.map((mark) => ({ ...mark, path: transformPath(mark.path, m) })))

const retone = (g: Group, tone: Tone): Group => ({ ...g, marks: g.marks.map((m) => ({ ...m, tone })) })

/** Circle of radius r as four cubic arcs; `reverse` winds it the other way to cut a hole (nonzero rule). */
const circleInto = (path: opentype.Path, cx: number, cy: number, r: number, reverse: boolean): void => {
  const k = 0.5522847498 * r
  const s = reverse ? -1 : 1
  path.moveTo(cx + r, cy)
  path.curveTo(cx + r, cy + s * k, cx + k, cy + s * r, cx, cy + s * r)
  path.curveTo(cx - k, cy + s * r, cx - r, cy + s * k, cx - r, cy)
  path.curveTo(cx - r, cy - s * k, cx - k, cy - s * r, cx, cy - s * r)
  path.curveTo(cx + k, cy - s * r, cx + r, cy - s * k, cx + r, cy)
  path.close()
}

const ring = (cx: number, cy: number, outer: number, inner: number): opentype.Path => {
  const path = new opentype.Path()
  circleInto(path, cx, cy, outer, false)
  circleInto(path, cx, cy, inner, true)
  return path
}

const star = (cx: number, cy: number, r: number): opentype.Path => {
  const path = new opentype.Path()
  for (let i = 0; i < 10; i++) {
    const radius = i % 2 === 0 ? r : r * 0.42
    const angle = -Math.PI / 2 + (i * Math.PI) / 5
    const x = cx + radius * Math.cos(angle)
    const y = cy + radius * Math.sin(angle)
    if (i === 0) path.moveTo(x, y)
    else path.lineTo(x, y)
  }
  path.close()
  return path
}

/** A bar with round ends, for rules beside short lines. */
const bar = (x1: number, x2: number, cy: number, thickness: number): opentype.Path => {
  const r = thickness / 2
  const k = 0.5522847498 * r
  const path = new opentype.Path()
  path.moveTo(x1 + r, cy - r)
  path.lineTo(x2 - r, cy - r)
  path.curveTo(x2 - r + k, cy - r, x2, cy - k, x2, cy)
  path.curveTo(x2, cy + k, x2 - r + k, cy + r, x2 - r, cy + r)
  path.lineTo(x1 + r, cy + r)
  path.curveTo(x1 + r - k, cy + r, x1, cy + k, x1, cy)
  path.curveTo(x1, cy - k, x1 + r - k, cy - r, x1 + r, cy - r)
  path.close()
  return path
}

/** A brush-like underline, thick in the middle and tapering to points, curving slightly upward. */
const swash = (x1: number, x2: number, y: number, thickness: number): opentype.Path => {
  const w = x2 - x1
  const path = new opentype.Path()
  path.moveTo(x1, y)
  path.curveTo(x1 + w * 0.3, y + thickness * 0.9, x1 + w * 0.7, y + thickness * 0.6, x2, y - thickness * 1.6)
  path.curveTo(x1 + w * 0.68, y - thickness * 0.5, x1 + w * 0.32, y - thickness * 0.2, x1, y)
  path.close()
  return path
}

// ---------------------------------------------------------------- text blocks

/** Design units for font sizes; only ratios matter, the final fit sets the real scale. */
const UNIT = 1000

/** A line of text outlined at UNIT size with its baseline at y = 0, plus its ink box. */
const outlineText = (font: opentype.Font, text: string): { path: opentype.Path; box: Box } => {
  const path = font.getPath(text, 0, 0, UNIT)
  return { path, box: boxOf(path) }
}

/**
 * Break words into `count` lines whose widths are as even as possible (least squares
 * against the mean width, by dynamic programming), keeping word order. Line widths are
 * summed from word and space advances: shaping every candidate line would cost O(n^2)
 * layouts, and kerning across a space is negligible for balancing.
 */
const balanceLines = (font: opentype.Font, words: ReadonlyArray<string>, count: number): Array<string> => {
  const n = words.length
  const space = font.getAdvanceWidth(" ", UNIT)
  const ends = [0]
  for (const word of words) ends.push(ends[ends.length - 1]! + font.getAdvanceWidth(word, UNIT))
  const width = (i: number, j: number) => ends[j]! - ends[i]! + space * (j - i - 1)
  const target = width(0, n) / count
  // best[k][j]: cost of setting the first j words on k lines; from[k][j]: where the last line starts.
  const best = Array.from({ length: count + 1 }, () => new Array<number>(n + 1).fill(Infinity))
  const from = Array.from({ length: count + 1 }, () => new Array<number>(n + 1).fill(0))
  best[0]![0] = 0
  for (let k = 1; k <= count; k++) {
    for (let j = k; j <= n; j++) {
      for (let i = k - 1; i < j; i++) {
        const cost = best[k - 1]![i]! + (width(i, j) - target) ** 2
        if (cost < best[k]![j]!) {
          best[k]![j] = cost
          from[k]![j] = i
        }
      }
    }
  }
  const lines: Array<string> = []
  for (let k = count, j = n; k > 0; k--) {
    const i = from[k]![j]!
    lines.unshift(words.slice(i, j).join(" "))
    j = i
  }
  return lines
}

interface StackOptions {
  /** Wanted block height / width; the line count is chosen to come closest. */
  readonly aspect: number
  readonly maxLines: number
  /** Put the biggest line in the accent colour. */
  readonly accentBiggest: boolean
  /** Draw rules beside lines that stay narrower than the block. */
  readonly rules: boolean
}

/**
 * Stacked lockup: each line is scaled to the full block width (UNIT), except that a line
 * may not grow past 1.5x the smallest line's scale, so a lone short word ("AND", "I")
 * does not dwarf the rest; such a line is centred, between rules when asked for.
 */
const stackedBlock = (font: opentype.Font, words: ReadonlyArray<string>, options: StackOptions): Group => {
  const candidates = Array.from({ length: Math.min(words.length, options.maxLines) }, (_, i) => {
    const lines = balanceLines(font, words, i + 1).map((text) => outlineText(font, text))
    const fullScales = lines.map(({ box }) => UNIT / Math.max(box.x2 - box.x1, 1))
    const cap = Math.min(...fullScales) * 1.5
    // Capping only pays when it frees room for real rules; a line that would end up nearly
    // full width anyway looks better justified.
    const scales = fullScales.map((s) => (s > cap && (1 - cap / s) / 2 >= 0.2 ? cap : s))
    const heights = lines.map(({ box }, j) => (box.y2 - box.y1) * scales[j]!)
    const gap = 0.14 * [...heights].sort((a, b) => a - b)[Math.floor(heights.length / 2)]!
    const height = heights.reduce((a, b) => a + b, 0) + gap * (lines.length - 1)
    const narrow = scales.filter((s, j) => s < fullScales[j]!).length
    const score = Math.abs(Math.log(height / UNIT / options.aspect)) + 0.3 * narrow
    return { lines, scales, heights, gap, score }
  })
  const chosen = candidates.reduce((a, b) => (b.score < a.score ? b : a))
  const biggest = chosen.heights.indexOf(Math.max(...chosen.heights))
  const marks: Array<Mark> = []
  let y = 0
  chosen.lines.forEach(({ path, box }, j) => {
    const s = chosen.scales[j]!
    const lineWidth = (box.x2 - box.x1) * s
    const left = (UNIT - lineWidth) / 2
    const tone: Tone = options.accentBiggest && chosen.lines.length > 1 && j === biggest ? "accent" : "main"
    marks.push({ kind: "text", tone, path: transformPath(path, [s, 0, 0, s, left - box.x1 * s, y - box.y1 * s]) })
    const h = chosen.heights[j]!
    const pad = 0.05 * UNIT
    if (options.rules && left > 0.1 * UNIT) {
      const thickness = Math.min(0.09 * h, 0.02 * UNIT)
      marks.push({ kind: "shape", tone: "accent", path: bar(0, left - pad, y + h / 2, thickness) })
      marks.push({ kind: "shape", tone: "accent", path: bar(UNIT - left + pad, UNIT, y + h / 2, thickness) })
    }
    y += h + chosen.gap
  })
  return group(marks)
}

/** Script lines share one size (scaled so the widest is `targetWidth`), centred, on a fixed baseline step. */
const scriptBlock = (font: opentype.Font, text: string, targetWidth: number, maxInkHeight: number): Group => {
  const words = text.split(" ")
  const lineCount = words.length > 1 && text.length > 16 ? 2 : 1
  const lines = balanceLines(font, words, lineCount).map((t) => outlineText(font, t))
  const step = 0.95 * UNIT
  const raw = group(lines.map(({ path, box }, j) => ({ kind: "text", tone: "accent", path: transformPath(path, translate(-(box.x1 + box.x2) / 2, j * step)) })))
  const s = Math.min(targetWidth / (raw.box.x2 - raw.box.x1), maxInkHeight / (raw.box.y2 - raw.box.y1))
  return moveGroup(raw, [s, 0, 0, s, 0, 0])
}

/** Lower-case a shouted phrase for script fonts, keeping each word's first letter. */
const scriptCase = (text: string): string =>
  text === text.toUpperCase() ? text.toLowerCase().replace(/(^|\s)(\S)/g, (_, space: string, c: string) => space + c.toUpperCase()) : text

// ---------------------------------------------------------------- layouts

type Fonts = Record<FontId, opentype.Font>

const FONTS_OF: Record<Style, ReadonlyArray<FontId>> = {
  stacked: ["anton", "archivo-black"],
  script: ["pacifico", "archivo-black"],
  badge: ["anton"]
}

const stackedLayout = (fonts: Fonts, words: ReadonlyArray<string>, rng: () => number): Group =>
  stackedBlock(
    pick(rng, [fonts.anton, fonts["archivo-black"]]),
    words.map((w) => w.toUpperCase()),
    { aspect: 0.85, maxLines: 8, accentBiggest: true, rules: true }
  )

const scriptLayout = (fonts: Fonts, words: ReadonlyArray<string>, rng: () => number): Group => {
  const tilt = (-3 - 4 * rng()) * (Math.PI / 180)
  if (words.length === 1) {
    const word = scriptBlock(fonts.pacifico, scriptCase(words[0]!), UNIT, UNIT)
    const tilted = moveGroup(word, rotateAbout(tilt, 0, 0))
    const { x1, x2, y2 } = tilted.box
    const w = x2 - x1
    const line = swash(x1 + 0.12 * w, x2 - 0.05 * w, y2 + 0.07 * w, 0.035 * w)
    return group([...retone(tilted, "main").marks, { kind: "shape", tone: "accent", path: line }])
  }
  // The script lead-in runs to the first clause break ("Coffee first, | THEN ADULTING") when
  // that comes early; otherwise it is the first third of the words. The rest is the caps punchline.
  const clause = words.findIndex((w) => /[,;:!?.\u2026]$/.test(w)) + 1
  const split = clause > 0 && clause < words.length && clause <= Math.ceil(words.length / 2) ? clause : Math.max(1, Math.floor(words.length / 3))
  const caps = stackedBlock(
    fonts["archivo-black"],
    words.slice(split).map((w) => w.toUpperCase()),
    { aspect: 0.45, maxLines: 6, accentBiggest: false, rules: false }
  )
  const lead = scriptBlock(fonts.pacifico, scriptCase(words.slice(0, split).join(" ")), 0.9 * UNIT, 0.5 * UNIT)
  const tilted = moveGroup(lead, rotateAbout(tilt, 0, 0))
  const gap = 0.04 * UNIT
  const placed = moveGroup(tilted, translate(UNIT / 2 - (tilted.box.x1 + tilted.box.x2) / 2, caps.box.y1 - gap - tilted.box.y2))
  return group([...placed.marks, ...caps.marks])
}

const badgeLayout = (fonts: Fonts, words: ReadonlyArray<string>, rng: () => number): Group => {
  const R = UNIT
  const innerRing = 0.885 * R
  const text = stackedBlock(
    fonts.anton,
    words.map((w) => w.toUpperCase()),
    { aspect: 0.75, maxLines: 6, accentBiggest: true, rules: false }
  )
  const { x1, y1, x2, y2 } = text.box
  // Scale the text block so its corners sit on a circle well inside the inner ring.
  const s = (0.77 * R) / Math.hypot((x2 - x1) / 2, (y2 - y1) / 2)
  const centred = moveGroup(text, [s, 0, 0, s, -s * (x1 + x2) / 2, -s * (y1 + y2) / 2])
  const marks: Array<Mark> = [
    { kind: "shape", tone: "main", path: ring(0, 0, R, 0.94 * R) },
    { kind: "shape", tone: "main", path: ring(0, 0, innerRing + 0.012 * R, innerRing - 0.012 * R) },
    ...centred.marks
  ]
  // Stars follow the inner ring in the segments above and below the text, where they fit.
  const half = centred.box.y2
  const r = Math.min(0.075 * R, 0.3 * (innerRing - half))
  if (r > 0.03 * R) {
    const arc = innerRing - 1.8 * r
    const spread = pick(rng, [1, 2])
    for (let k = -spread; k <= spread; k++) {
      const angle = (k * 2.9 * r) / arc
      const size = k === 0 ? r : 0.72 * r
      const x = arc * Math.sin(angle)
      const y = arc * Math.cos(angle)
      if (y - size < half + 0.04 * R) continue
      marks.push({ kind: "shape", tone: "accent", path: star(x, -y, size) })
      marks.push({ kind: "shape", tone: "accent", path: star(x, y, size) })
    }
  }
  return group(marks)
}

/**
 * Styles a phrase reads well in, for the seeded pick: the badge's circle leaves little room
 * for long words or phrases, and one long script word shrinks to a thin ribbon.
 */
const suits = (style: Style, words: ReadonlyArray<string>): boolean => {
  switch (style) {
    case "stacked":
      return true
    case "script":
      return words.length > 1 || words[0]!.length <= 14
    case "badge":
      return words.every((w) => w.length <= 12) && words.join(" ").length <= 40
  }
}

const LAYOUTS: Record<Style, (fonts: Fonts, words: ReadonlyArray<string>, rng: () => number) => Group> = {
  stacked: stackedLayout,
  script: scriptLayout,
  badge: badgeLayout
}

// ---------------------------------------------------------------- SVG

/** Keyline width in design units: proportional to the smallest line of text so counters stay open. */
const outlineFor = (g: Group): number =>
  0.06 * Math.min(...g.marks.filter((m) => m.kind === "text").map((m) => boxOf(m.path)).map((b) => b.y2 - b.y1))

const toSvg = (marks: ReadonlyArray<Mark>, palette: Palette, outlineWidth: number): string => {
  const elements = marks.map((m) => ({ tone: m.tone, element: `<path d="${snapPath(m.path).toPathData(2)}"/>` }))
  const paths = (tone: Tone) => elements.filter((e) => e.tone === tone).map((e) => e.element).join("")
  const all = elements.map((e) => e.element).join("")
  // Keylines go first and under everything, so one mark's outline never covers another's ink.
  const keyline =
    palette.outline === null
      ? ""
      : `<g fill="${palette.outline}" stroke="${palette.outline}" stroke-width="${outlineWidth.toFixed(2)}" stroke-linejoin="round">${all}</g>`
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${CANVAS.width}" height="${CANVAS.height}" viewBox="0 0 ${CANVAS.width} ${CANVAS.height}">` +
    keyline +
    `<g fill="${palette.main}">${paths("main")}</g>` +
    `<g fill="${palette.accent}">${paths("accent")}</g>` +
    `</svg>`
  )
}

/** Typographic quotes read better in print than typewriter ones. */
const curlQuotes = (text: string): string =>
  text
    .replace(/(^|[\s(])"/g, "$1\u201C")
    .replace(/"/g, "\u201D")
    .replace(/(^|[\s(])'/g, "$1\u2018")
    .replace(/'/g, "\u2019")

const invalid = (message: string, cause?: unknown) =>
  new PermanentError(cause === undefined ? { message } : { message, cause })

/** Lay out a design: decodes the spec, picks style and palette, and returns the SVG with its mark boxes. */
export const layoutDesign = (input: typeof DesignSpec.Encoded): Effect.Effect<LaidOutDesign, PermanentError> =>
  Effect.gen(function* () {
    const spec = yield* Schema.decodeUnknown(DesignSpec)(input).pipe(
      Effect.mapError((error) => invalid(`invalid design spec: ${error.message}`, error))
    )
    const rng = mulberry32(hash32(spec.seed))
    // Draw every seeded choice even when overridden, so an override never shifts the others.
    const words = curlQuotes(spec.phrase.normalize("NFC")).split(/\s+/)
    const style = pick(rng, STYLES.filter((candidate) => suits(candidate, words)))
    const garment = spec.garment ?? "any"
    const seededPalette = pick(rng, PALETTE_IDS.filter((id) => PALETTES[id].garment === garment))
    const chosenStyle = spec.style ?? style
    const paletteId = spec.palette ?? seededPalette
    const fonts = yield* loadFonts
    const text = words.join(" ")
    for (const id of FONTS_OF[chosenStyle]) {
      const missing = unsupportedChars(fonts[id], id === "pacifico" ? text : text.toUpperCase())
      if (missing.length > 0) {
        return yield* Effect.fail(invalid(`phrase has characters the ${id} font cannot draw: ${missing.join(" ")}`))
      }
    }
    const design = LAYOUTS[chosenStyle](fonts, words, rng)
    const palette: Palette = PALETTES[paletteId]
    const outline = palette.outline === null ? 0 : outlineFor(design)
    // Fit the ink box, keyline included, into the printable area: centred across, hung from the top
    // like a chest print.
    const half = outline / 2
    const { x1, y1, x2, y2 } = design.box
    const s = Math.min(
      (CANVAS.width - 2 * MARGIN) / (x2 - x1 + outline),
      (CANVAS.height - 2 * MARGIN) / (y2 - y1 + outline)
    )
    const fitted = moveGroup(design, [s, 0, 0, s, CANVAS.width / 2 - (s * (x1 + x2)) / 2, MARGIN + s * (half - y1)])
    return {
      svg: toSvg(fitted.marks, palette, outline * s),
      style: chosenStyle,
      palette: paletteId,
      outlineWidth: outline * s,
      marks: fitted.marks.map((m) => ({ kind: m.kind, tone: m.tone, box: boxOf(m.path) }))
    }
  })

/** The print-ready SVG (4500 x 5400, transparent background) for a design spec. */
export const typesetDesign = (input: typeof DesignSpec.Encoded): Effect.Effect<string, PermanentError> =>
  Effect.map(layoutDesign(input), (design) => design.svg)
