/**
 * Artwork: typesetting, print files and mock-ups, against the real sharp/librsvg and the
 * bundled fonts (no mocks).
 */
import { Effect, Either } from "effect"
import sharp from "sharp"
import { beforeAll, describe, expect, it } from "vitest"
import { PermanentError } from "../runtime/errors.ts"
import { FONT_IDS, loadFont } from "../operators/artwork/fonts.ts"
import { renderMockups, MOCKUP_SIZE } from "../operators/artwork/garment.ts"
import { MAX_PRINT_FILE_BYTES, PRINT_PREVIEW, renderPrintFile, renderPrintPreview, toCmykTiff } from "../operators/artwork/printFile.ts"
import {
  CANVAS,
  layoutDesign,
  MARGIN,
  PALETTE_IDS,
  PALETTES,
  STYLES,
  typesetDesign,
  type DesignSpec
} from "../operators/artwork/typeset.ts"
import { previewDifference } from "./support/images.ts"

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)
const failure = async <A, E>(effect: Effect.Effect<A, E>): Promise<E> => {
  const result = await Effect.runPromise(Effect.either(effect))
  if (Either.isRight(result)) throw new Error("expected the effect to fail")
  return result.left
}
const printFileFor = (spec: typeof DesignSpec.Encoded) => run(Effect.flatMap(typesetDesign(spec), renderPrintFile))

/** The PNG chunks as [type, data] pairs, in file order. */
const pngChunks = (png: Buffer): Array<[string, Buffer]> => {
  const chunks: Array<[string, Buffer]> = []
  for (let at = 8; at < png.length; ) {
    const length = png.readUInt32BE(at)
    chunks.push([png.toString("ascii", at + 4, at + 8), png.subarray(at + 8, at + 8 + length)])
    at += 12 + length
  }
  return chunks
}

/** Whether every pixel in the band [x0, x1) x [y0, y1) of the alpha plane is fully transparent. */
const transparent = (alpha: Buffer, width: number, band: { x0: number; y0: number; x1: number; y1: number }) => {
  for (let y = band.y0; y < band.y1; y++) {
    for (let x = band.x0; x < band.x1; x++) if (alpha[y * width + x] !== 0) return false
  }
  return true
}
const alphaPlane = (png: Buffer) => sharp(png).extractChannel("alpha").raw().toBuffer()

/** The four strips just inside the canvas edge, 2 px narrower than the margin for antialiasing. */
const marginStrips = () => {
  const { width, height } = CANVAS
  const m = MARGIN - 2
  return [
    { x0: 0, y0: 0, x1: width, y1: m },
    { x0: 0, y0: height - m, x1: width, y1: height },
    { x0: 0, y0: 0, x1: m, y1: height },
    { x0: width - m, y0: 0, x1: width, y1: height }
  ]
}

const LONG_PHRASE = "Sorry I can't, I have plans with my dog, my couch and a very large pizza tonight"

describe("print file", () => {
  let png: Buffer
  beforeAll(async () => {
    png = await printFileFor({ phrase: "Stay wild, moon child", seed: "print-1" })
  }, 60_000)

  it("is a 4500x5400 sRGB PNG with alpha at 300 DPI, under 25 MB", async () => {
    const meta = await sharp(png).metadata()
    expect(meta).toMatchObject({ format: "png", width: 4500, height: 5400, space: "srgb", channels: 4, hasAlpha: true, density: 300 })
    expect(png.length).toBeLessThan(MAX_PRINT_FILE_BYTES)
    const chunks = pngChunks(png)
    const phys = chunks.find(([type]) => type === "pHYs")?.[1]
    // 300 DPI = 11811 pixels per metre on both axes, unit byte 1 = metre.
    expect(phys && [phys.readUInt32BE(0), phys.readUInt32BE(4), phys[8]]).toEqual([11811, 11811, 1])
    // The sRGB profile is embedded, and nothing carries a time.
    expect(chunks.map(([type]) => type)).toContain("iCCP")
    expect(chunks.map(([type]) => type)).not.toContain("tIME")
  })

  it("has a transparent background and blank margins", async () => {
    const alpha = await alphaPlane(png)
    for (const strip of marginStrips()) expect(transparent(alpha, CANVAS.width, strip), JSON.stringify(strip)).toBe(true)
    // ...but there is artwork inside.
    expect(alpha.some((a) => a === 255)).toBe(true)
  })

  it("renders the same phrase and seed byte-identically, and a different seed differently", async () => {
    const again = await printFileFor({ phrase: "Stay wild, moon child", seed: "print-1" })
    expect(again.equals(png)).toBe(true)
    const other = await printFileFor({ phrase: "Stay wild, moon child", seed: "print-2" })
    expect(other.equals(png)).toBe(false)
  }, 60_000)

  it("exports a CMYK TIFF at the same size and density", async () => {
    const tiff = await run(toCmykTiff(png))
    const meta = await sharp(tiff).metadata()
    expect(meta).toMatchObject({ format: "tiff", space: "cmyk", width: 4500, height: 5400, density: 300, hasAlpha: true })
  }, 60_000)

  it("rejects an SVG that is not the print canvas, and one that is not SVG", async () => {
    const small = `<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"></svg>`
    expect(await failure(renderPrintFile(small))).toBeInstanceOf(PermanentError)
    expect(await failure(renderPrintFile("<svg"))).toBeInstanceOf(PermanentError)
  })
})

describe("typesetting", () => {
  it.each([
    ["empty", ""],
    ["blank", "   \n "],
    ["over 80 characters", "x".repeat(81)]
  ])("rejects an %s phrase with a PermanentError", async (_, phrase) => {
    const error = await failure(typesetDesign({ phrase, seed: "s" }))
    expect(error).toBeInstanceOf(PermanentError)
    expect(error.message).toMatch(/invalid design spec/)
  })

  it("rejects characters the fonts cannot draw instead of printing boxes", async () => {
    const error = await failure(typesetDesign({ phrase: "I \u2764 NY \u6f22", seed: "s", style: "stacked" }))
    expect(error).toBeInstanceOf(PermanentError)
    expect(error.message).toContain("\u6f22")
  })

  it("rejects an unknown font", async () => {
    expect(await failure(loadFont("comic-sans"))).toBeInstanceOf(PermanentError)
    for (const id of FONT_IDS) expect((await run(loadFont(id))).unitsPerEm).toBeGreaterThan(0)
  })

  it.each(STYLES)("fits an 80-character phrase inside the margins in the %s style", async (style) => {
    const phrase = LONG_PHRASE.padEnd(80, "!")
    const design = await run(layoutDesign({ phrase, seed: "long", style }))
    expect(design.style).toBe(style)
    expect(design.svg).not.toMatch(/NaN|Infinity/)
    const half = design.outlineWidth / 2
    const text = design.marks.filter((m) => m.kind === "text")
    expect(text.length).toBeGreaterThan(1)
    for (const { box } of design.marks) {
      expect(box.x2 - box.x1).toBeGreaterThan(0)
      expect(box.x1 - half).toBeGreaterThanOrEqual(MARGIN - 0.01)
      expect(box.y1 - half).toBeGreaterThanOrEqual(MARGIN - 0.01)
      expect(box.x2 + half).toBeLessThanOrEqual(CANVAS.width - MARGIN + 0.01)
      expect(box.y2 + half).toBeLessThanOrEqual(CANVAS.height - MARGIN + 0.01)
    }
    // Lines of text are stacked, never drawn over one another.
    const rows = [...text].sort((a, b) => a.box.y1 - b.box.y1)
    for (let i = 1; i < rows.length; i++) {
      const [above, below] = [rows[i - 1]!.box, rows[i]!.box]
      const sideBySide = below.x1 >= above.x2 || below.x2 <= above.x1
      // Script lead-ins are tilted, so their boxes may overlap the caps' box corners slightly.
      if (style !== "script") expect(sideBySide || below.y1 >= above.y2).toBe(true)
    }
  })

  it("renders a long phrase with no ink in the margins", async () => {
    const alpha = await alphaPlane(await printFileFor({ phrase: LONG_PHRASE, seed: "long", style: "stacked" }))
    for (const strip of marginStrips()) expect(transparent(alpha, CANVAS.width, strip), JSON.stringify(strip)).toBe(true)
  }, 60_000)

  it("honours style and palette overrides, and picks from the garment's palettes", async () => {
    const design = await run(layoutDesign({ phrase: "Good vibes only", seed: "x", style: "badge", palette: "ink-red" }))
    expect([design.style, design.palette]).toEqual(["badge", "ink-red"])
    expect(design.svg).toContain(PALETTES["ink-red"].main)
    for (const seed of ["a", "b", "c", "d", "e", "f"]) {
      const dark = await run(layoutDesign({ phrase: "Good vibes only", seed, garment: "dark" }))
      expect(PALETTES[dark.palette].garment).toBe("dark")
    }
  })

  it("keeps every palette readable on the garments it is meant for", () => {
    // WCAG 2 relative luminance and contrast ratio.
    const luminance = (hex: string) => {
      const [r, g, b] = [1, 3, 5].map((i) => {
        const c = parseInt(hex.slice(i, i + 2), 16) / 255
        return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4
      }) as [number, number, number]
      return 0.2126 * r + 0.7152 * g + 0.0722 * b
    }
    const contrast = (a: string, b: string) => {
      const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number]
      return (hi + 0.05) / (lo + 0.05)
    }
    // White and ash count as light, black and navy as dark; a mid heather grey is neither,
    // which is what the keyline of the "any" palettes is for.
    const light = ["#FFFFFF", "#C8C9CB"]
    const dark = ["#161616", "#1E2A45"]
    const heather = "#A4A6A9"
    for (const id of PALETTE_IDS) {
      const { garment, main, accent, outline } = PALETTES[id]
      // Inks that must read on their own against the garment; "any" relies on its dark
      // keyline on light garments and on bright inks on dark ones.
      const against = garment === "light" ? light : dark
      for (const shirt of against) {
        expect(contrast(main, shirt), `${id} main on ${shirt}`).toBeGreaterThanOrEqual(4.5)
        expect(contrast(accent, shirt), `${id} accent on ${shirt}`).toBeGreaterThanOrEqual(3)
      }
      if (garment === "any") {
        expect(outline).not.toBeNull()
        for (const shirt of [...light, heather]) {
          expect(contrast(outline!, shirt), `${id} keyline on ${shirt}`).toBeGreaterThanOrEqual(4.5)
        }
      }
    }
  })
})

describe("mock-ups", () => {
  let png: Buffer
  beforeAll(async () => {
    png = await printFileFor({ phrase: "Dog mom", seed: "mock" })
  }, 60_000)

  it("renders one 2000 px image per variant and colorway", async () => {
    const mockups = await run(
      renderMockups({
        printFile: png,
        colorways: ["black", "heather-grey", { name: "teal", hex: "#1B7A7A", heather: false }],
        variants: ["front", "back"]
      })
    )
    expect(mockups.map((m) => `${m.variant}/${m.colorway}`)).toEqual([
      "front/black",
      "front/heather-grey",
      "front/teal",
      "back/black",
      "back/heather-grey",
      "back/teal"
    ])
    for (const { jpeg } of mockups) {
      expect(await sharp(jpeg).metadata()).toMatchObject({ format: "jpeg", width: MOCKUP_SIZE, height: MOCKUP_SIZE })
    }
    // The garment colour shows: a black shirt's body is dark, the print's ink is not.
    const { data } = await sharp(mockups[0]!.jpeg).extract({ left: 980, top: 1500, width: 40, height: 40 }).raw().toBuffer({ resolveWithObject: true })
    expect(Math.max(...data)).toBeLessThan(80)
  }, 120_000)

  it("renders the same mock-up from the print's preview as from the print file", async () => {
    const svg = await run(typesetDesign({ phrase: "Dog mom", seed: "mock" }))
    const preview = await run(renderPrintPreview(svg))
    expect(await sharp(preview).metadata()).toMatchObject({ width: PRINT_PREVIEW.width, height: PRINT_PREVIEW.height, hasAlpha: true })
    // The design at the print's placement, scaled: resampling apart, the print downscaled.
    expect(await previewDifference(png, preview)).toBeLessThan(1.5)
    const request = { colorways: ["white" as const], variants: ["front" as const] }
    const [fromPrint] = await run(renderMockups({ printFile: png, ...request }))
    const [fromPreview] = await run(renderMockups({ printFile: preview, ...request }))
    const a = await sharp(fromPrint!.jpeg).raw().toBuffer()
    const b = await sharp(fromPreview!.jpeg).raw().toBuffer()
    let sum = 0
    for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!)
    expect(sum / a.length).toBeLessThan(1)
  }, 60_000)

  it("rejects unknown colorways, bad hex and a print file of the wrong size", async () => {
    const bad = (request: Parameters<typeof renderMockups>[0]) => failure(renderMockups(request))
    expect(await bad({ printFile: png, colorways: ["plaid" as "black"], variants: ["front"] })).toBeInstanceOf(PermanentError)
    expect(await bad({ printFile: png, colorways: [{ name: "x", hex: "red", heather: false }], variants: ["front"] })).toBeInstanceOf(
      PermanentError
    )
    const small = await sharp({ create: { width: 450, height: 540, channels: 4, background: "#0000" } }).png().toBuffer()
    expect(await bad({ printFile: small, colorways: ["black"], variants: ["front"] })).toBeInstanceOf(PermanentError)
  }, 60_000)
})
