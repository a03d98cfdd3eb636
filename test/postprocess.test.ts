/**
 * Post-processing of a generated raster into a print file (operators/artwork/postprocess.ts),
 * on real PNGs drawn like the fake ComfyUI draws them: a design on a flat white ground.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import sharp from "sharp"
import { checkVectorPrint, postProcess } from "../operators/artwork/postprocess.ts"
import { typesetDesign } from "../operators/artwork/typeset.ts"
import { renderFakeImage } from "./fakes/comfyui.ts"
import { previewDifference } from "./support/images.ts"

const alphaAt = async (png: Buffer, x: number, y: number) => {
  const { data, info } = await sharp(png).extract({ left: x, top: y, width: 1, height: 1 }).raw().toBuffer({ resolveWithObject: true })
  return info.channels === 4 ? data[3]! : 255
}

describe("post-processing", () => {
  it.effect("removes the flat background, trims, centres and scales onto the 4500x5400 canvas at 300 DPI", () =>
    Effect.gen(function* () {
      const image = yield* Effect.promise(() => renderFakeImage({ width: 1024, height: 1024, seed: 3, matte: false, index: 0 }))
      const { png, preview, checks } = yield* postProcess({ image })
      const meta = yield* Effect.promise(() => sharp(png).metadata())
      // The preview (what mock-ups start from) is the print at mock-up scale.
      expect(yield* Effect.promise(() => sharp(preview).metadata())).toMatchObject({ width: 700, height: 840, hasAlpha: true })
      expect(yield* Effect.promise(() => previewDifference(png, preview))).toBeLessThan(1.5)
      expect([meta.width, meta.height, meta.density, meta.hasAlpha, meta.space]).toEqual([4500, 5400, 300, true, "srgb"])
      expect(png.length).toBeLessThan(25 * 1024 * 1024)
      // Where the fake drew white is transparent; the disc's centre is opaque.
      expect(yield* Effect.promise(() => alphaAt(png, 10, 10))).toBe(0)
      expect(yield* Effect.promise(() => alphaAt(png, 2250, 5390))).toBe(0)
      expect(yield* Effect.promise(() => alphaAt(png, 2250, 2000))).toBe(255)
      expect(checks.failures).toEqual([])
      expect(checks.coverage).toBeGreaterThan(0.1)
      expect(checks.coverage).toBeLessThan(0.8)
      expect(checks.upscaleFactor).toBeGreaterThan(4)
      expect(checks.effectiveDpi).toBe(Math.round(300 / checks.upscaleFactor))
      expect(Math.min(checks.margins.left, checks.margins.top)).toBeGreaterThanOrEqual(150)
    })
  )

  it.effect("leaves no light fringe: edge pixels are unmixed from the background", () =>
    Effect.gen(function* () {
      // A black disc anti-aliased onto white: its edge pixels are grey.
      const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="300" height="300"><rect width="300" height="300" fill="#fff"/><circle cx="150" cy="150" r="90" fill="#000"/></svg>`
      const image = yield* Effect.promise(() => sharp(Buffer.from(svg)).png().toBuffer())
      const { png } = yield* postProcess({ image })
      const { data, info } = yield* Effect.promise(() => sharp(png).raw().toBuffer({ resolveWithObject: true }))
      let light = 0
      for (let p = 0; p < info.width * info.height; p++) if (data[p * 4 + 3]! > 16 && data[p * 4]! > 128) light++
      expect(light).toBe(0)
    })
  )

  it.effect("uses the workflow's matte instead of the flood fill when there is one", () =>
    Effect.gen(function* () {
      const image = yield* Effect.promise(() => renderFakeImage({ width: 1024, height: 1024, seed: 1, matte: false, index: 0 }))
      const matte = yield* Effect.promise(() => renderFakeImage({ width: 1024, height: 1024, seed: 1, matte: true, index: 0 }))
      const { png, checks, tiff } = yield* postProcess({ image, matte, cmyk: true })
      expect(yield* Effect.promise(() => alphaAt(png, 10, 10))).toBe(0)
      expect(checks.failures).toEqual([])
      expect((yield* Effect.promise(() => sharp(tiff!).metadata())).space).toBe("cmyk")
    })
  )

  it.effect("a photo-like image with no flat border fails its checks with reasons, and is not dropped", () =>
    Effect.gen(function* () {
      const noise = Buffer.alloc(256 * 256 * 3)
      for (let i = 0; i < noise.length; i++) noise[i] = (i * 7919) % 251
      const image = yield* Effect.promise(() => sharp(noise, { raw: { width: 256, height: 256, channels: 3 } }).png().toBuffer())
      const { png, checks } = yield* postProcess({ image })
      expect((yield* Effect.promise(() => sharp(png).metadata())).width).toBe(4500)
      expect(checks.failures.join("; ")).toMatch(/no flat background was found/)
      expect(checks.failures.join("; ")).toMatch(/over the 25 MB limit/)
    })
  )

  it.effect("makes a preview of exactly the preview size whatever the design's shape", () =>
    Effect.gen(function* () {
      // Tall, wide, tiny and odd-sized designs: their placement rounds differently at preview scale.
      for (const [w, h, dw, dh] of [[300, 1200, 101, 997], [1500, 200, 1333, 77], [64, 64, 3, 5], [777, 555, 701, 401]] as const) {
        const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}"><rect width="${w}" height="${h}" fill="#fff"/><rect x="${(w - dw) / 2}" y="${(h - dh) / 2}" width="${dw}" height="${dh}" fill="#123"/></svg>`
        const image = yield* Effect.promise(() => sharp(Buffer.from(svg)).png().toBuffer())
        const { png, preview } = yield* postProcess({ image })
        expect(yield* Effect.promise(() => sharp(preview).metadata())).toMatchObject({ width: 700, height: 840 })
        expect(yield* Effect.promise(() => previewDifference(png, preview))).toBeLessThan(3)
      }
    })
  )

  it.effect("measures a procedural print from its SVG", () =>
    Effect.gen(function* () {
      const svg = yield* typesetDesign({ phrase: "Coffee First", seed: "s1" })
      const checks = yield* checkVectorPrint(svg, 1_000_000)
      expect(checks.upscaleFactor).toBe(1)
      expect(checks.coverage).toBeGreaterThan(0.01)
      expect(checks.margins.top).toBeGreaterThanOrEqual(100)
    })
  )
})
