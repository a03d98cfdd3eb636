/**
 * Image comparisons for artwork tests, on real sharp decodes.
 */
import sharp from "sharp"

/**
 * How far `preview` is from `print` scaled down to the preview's size (Lanczos 3): the mean
 * absolute difference over every pixel of alpha and of alpha-weighted colour, in 0..255.
 * A preview of the same design at the same placement differs by resampling only (~1).
 */
export const previewDifference = async (print: Buffer, preview: Buffer): Promise<number> => {
  const small = await sharp(preview).ensureAlpha().raw().toBuffer({ resolveWithObject: true })
  const { width, height } = small.info
  const scaled = await sharp(print).resize(width, height, { kernel: "lanczos3", fit: "fill" }).ensureAlpha().raw().toBuffer()
  let sum = 0
  for (let p = 0; p < width * height; p++) {
    const a = small.data[p * 4 + 3]!
    const b = scaled[p * 4 + 3]!
    sum += Math.abs(a - b)
    for (let c = 0; c < 3; c++) sum += Math.abs((small.data[p * 4 + c]! * a - scaled[p * 4 + c]! * b) / 255)
  }
  return sum / (width * height * 4)
}
