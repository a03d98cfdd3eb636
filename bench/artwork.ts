/**
 * Artwork bench: ms per design, on one core (sharp's thread pool set to 1), against the
 * floor measured in the same run: sharp encoding a 4500x5400 RGBA PNG alone (the same
 * PNG settings as every print file), which every design pays at least once.
 *
 * - `procedural`: typeset + print file + its checks + its preview + 2 mock-ups (front, black
 *   and white) from the preview, as the generate and mockup operators do.
 * - `postprocess`: a 1024x1024 SDXL-shaped PNG (a design on a flat white ground, as the
 *   fake ComfyUI draws it) to a print file with its preview and checks.
 *
 * Targets (DESIGN.md): procedural <= 800 ms, post-processing <= 1500 ms. `ratio` is
 * floor / ours (higher is better, 1 = no more than the floor).
 *
 * Flags: --designs N (default 5), --warmup N (default 1).
 */
import { Effect } from "effect"
import sharp from "sharp"
import { renderMockups } from "../operators/artwork/garment.ts"
import { checkVectorPrint, postProcess } from "../operators/artwork/postprocess.ts"
import { renderPrintFile, renderPrintPreview } from "../operators/artwork/printFile.ts"
import { layoutDesign } from "../operators/artwork/typeset.ts"
import { renderFakeImage } from "../test/fakes/comfyui.ts"
import { emit, intFlag, log, monotonicMs, parseFlags } from "./harness.ts"

const PHRASES = ["Coffee First", "World's Okayest Teacher", "Dog Mom Era", "Night Shift Nurse", "Born To Leap", "Back To School"]

const timeEach = async (n: number, warmup: number, one: (i: number) => Promise<unknown>) => {
  for (let i = 0; i < warmup; i++) await one(i)
  const times: Array<number> = []
  for (let i = 0; i < n; i++) {
    const start = monotonicMs()
    await one(i + warmup)
    times.push(monotonicMs() - start)
  }
  times.sort((a, b) => a - b)
  return { mean: times.reduce((a, b) => a + b, 0) / n, median: times[n >> 1]! }
}

export const run = async (args: ReadonlyArray<string>) => {
  const values = parseFlags(args, { designs: { type: "string" }, warmup: { type: "string" } })
  const n = intFlag("designs", values.designs, 5)
  const warmup = intFlag("warmup", values.warmup, 1, 0)
  sharp.concurrency(1)

  // The floor: a typical print (transparent canvas with a design) encoded alone.
  const floorPng = await Effect.runPromise(Effect.flatMap(layoutDesign({ phrase: "Coffee First", seed: "floor" }), (d) => renderPrintFile(d.svg)))
  const floorRaw = await sharp(floorPng)
    .raw()
    .toBuffer({ resolveWithObject: true })
  log("artwork: floor")
  const floor = await timeEach(n, warmup, () =>
    sharp(floorRaw.data, { raw: { width: floorRaw.info.width, height: floorRaw.info.height, channels: 4 } })
      .withIccProfile("srgb")
      .withDensity(300)
      .png({ compressionLevel: 6, adaptiveFiltering: false, palette: false })
      .toBuffer()
  )

  log("artwork: procedural")
  const procedural = await timeEach(n, warmup, (i) =>
    Effect.runPromise(
      Effect.gen(function* () {
        const design = yield* layoutDesign({ phrase: PHRASES[i % PHRASES.length]!, seed: `bench-${i}` })
        const png = yield* renderPrintFile(design.svg)
        yield* checkVectorPrint(design.svg, png.length)
        const preview = yield* renderPrintPreview(design.svg)
        yield* renderMockups({ printFile: preview, colorways: ["black", "white"], variants: ["front"] })
      })
    )
  )
  emit({
    bench: "artwork",
    case: "procedural-design",
    ms_per_design: Math.round(procedural.mean),
    median_ms: Math.round(procedural.median),
    target_ms: 800,
    designs: n,
    baseline_case: "sharp-encode-4500x5400-rgba-png",
    baseline_ms: Math.round(floor.mean),
    ratio: Number((floor.mean / procedural.mean).toFixed(3))
  })

  log("artwork: post-processing")
  const images = await Promise.all([0, 1, 2].map((i) => renderFakeImage({ width: 1024, height: 1024, seed: i, matte: false, index: i })))
  const post = await timeEach(n, warmup, (i) => Effect.runPromise(postProcess({ image: images[i % images.length]! })))
  emit({
    bench: "artwork",
    case: "postprocess-1024-sdxl",
    ms_per_design: Math.round(post.mean),
    median_ms: Math.round(post.median),
    target_ms: 1500,
    designs: n,
    baseline_case: "sharp-encode-4500x5400-rgba-png",
    baseline_ms: Math.round(floor.mean),
    ratio: Number((floor.mean / post.mean).toFixed(3))
  })
}
