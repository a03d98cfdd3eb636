/**
 * Print files: the typeset SVG rasterised to the marketplace canvas (4500 x 5400 px PNG,
 * 300 DPI, sRGB with alpha, under 25 MB), and a CMYK TIFF for printers that ask for one.
 *
 * Output must be byte-identical for the same SVG: fixed zlib settings, no adaptive
 * filtering, and only metadata that carries no time (pHYs, a small EXIF with resolution,
 * and the built-in sRGB profile). zlib level 6, not 9: level 9 costs ~3 s more per file on
 * a 24 MP canvas for a third off a file that is far below the limit anyway.
 */
import { Effect } from "effect"
import sharp from "sharp"
import { PermanentError } from "../../runtime/errors.ts"
import { CANVAS } from "./typeset.ts"

export const PRINT_DPI = 300
/** Marketplace upload limit (Amazon Merch, Redbubble). */
export const MAX_PRINT_FILE_BYTES = 25 * 1024 * 1024

/**
 * The print at mock-up scale (the size it covers on a mock-up's shirt), stored beside the
 * print file: mock-ups start from it instead of decoding 24 megapixels each time.
 */
export const PRINT_PREVIEW = { width: 700, height: Math.round((700 * CANVAS.height) / CANVAS.width) } as const

/** A sharp pipeline as an Effect. */
export const sharpTask = <A>(what: string, run: () => Promise<A>): Effect.Effect<A, PermanentError> =>
  Effect.tryPromise({
    try: run,
    // Sharp rejects only on input it cannot decode or render: retrying the same bytes cannot help.
    catch: (cause) => new PermanentError({ message: `${what}: ${cause instanceof Error ? cause.message : String(cause)}`, cause })
  })

/** Render a print SVG to the print PNG; fails when the size is not the canvas or the file is too big. */
export const renderPrintFile = (svg: string): Effect.Effect<Buffer, PermanentError> =>
  Effect.gen(function* () {
    const { data, info } = yield* sharpTask("cannot render print file", () =>
      sharp(Buffer.from(svg), { density: 72 })
        .ensureAlpha()
        .withIccProfile("srgb")
        .withDensity(PRINT_DPI)
        .png({ compressionLevel: 6, adaptiveFiltering: false, palette: false })
        .toBuffer({ resolveWithObject: true })
    )
    if (info.width !== CANVAS.width || info.height !== CANVAS.height) {
      return yield* Effect.fail(
        new PermanentError({ message: `print file is ${info.width}x${info.height}, expected ${CANVAS.width}x${CANVAS.height}` })
      )
    }
    if (data.length >= MAX_PRINT_FILE_BYTES) {
      return yield* Effect.fail(new PermanentError({ message: `print file is ${data.length} bytes, over the 25 MB limit` }))
    }
    return data
  })

/** A print SVG rendered straight at preview size (vector: as sharp as the print, scaled). */
export const renderPrintPreview = (svg: string): Effect.Effect<Buffer, PermanentError> =>
  sharpTask("cannot render print preview", () =>
    sharp(Buffer.from(svg), { density: (72 * PRINT_PREVIEW.width) / CANVAS.width })
      .ensureAlpha()
      .resize(PRINT_PREVIEW.width, PRINT_PREVIEW.height, { fit: "fill" })
      .png({ compressionLevel: 6, adaptiveFiltering: false, palette: false })
      .toBuffer()
  )

/**
 * The print PNG converted to CMYK through the built-in ICC profile (alpha kept as an extra
 * sample), as an LZW TIFF at 300 DPI. An ICC transform, not `toColourspace("cmyk")`: it embeds
 * the profile the printer needs and runs about 5x faster here.
 */
export const toCmykTiff = (png: Buffer): Effect.Effect<Buffer, PermanentError> =>
  sharpTask("cannot convert print file to CMYK", () =>
    sharp(png).withIccProfile("cmyk").withDensity(PRINT_DPI).tiff({ compression: "lzw", predictor: "horizontal" }).toBuffer()
  )
