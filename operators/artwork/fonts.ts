/**
 * The OFL fonts bundled with the project (npm @fontsource packages), parsed once per process.
 *
 * Artwork never touches system fonts: every glyph is outlined from these files, so a
 * design renders the same on any host. Only the Latin subsets are loaded; `unsupportedChars`
 * lets callers reject phrases a font cannot draw instead of printing .notdef boxes.
 */
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { Effect } from "effect"
import opentype from "opentype.js"
import { PermanentError } from "../../runtime/errors.ts"

export const FONT_IDS = ["anton", "archivo-black", "pacifico"] as const
export type FontId = (typeof FONT_IDS)[number]

const FONT_FILES: Record<FontId, string> = {
  anton: "@fontsource/anton/files/anton-latin-400-normal.woff",
  "archivo-black": "@fontsource/archivo-black/files/archivo-black-latin-400-normal.woff",
  pacifico: "@fontsource/pacifico/files/pacifico-latin-400-normal.woff"
}

export const isFontId = (id: string): id is FontId => (FONT_IDS as ReadonlyArray<string>).includes(id)

const require = createRequire(import.meta.url)
const cache = new Map<FontId, opentype.Font>()

/** The parsed font for `id`; fails with PermanentError for an unknown id or an unreadable file. */
export const loadFont = (id: string): Effect.Effect<opentype.Font, PermanentError> =>
  Effect.suspend(() => {
    if (!isFontId(id)) {
      return Effect.fail(new PermanentError({ message: `unknown font "${id}" (known: ${FONT_IDS.join(", ")})` }))
    }
    const cached = cache.get(id)
    if (cached !== undefined) return Effect.succeed(cached)
    return Effect.try({
      try: () => {
        const bytes = readFileSync(require.resolve(FONT_FILES[id]))
        // opentype.js wants an ArrayBuffer of exactly the file, not Node's pooled backing store.
        const font = opentype.parse(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength))
        cache.set(id, font)
        return font
      },
      catch: (cause) => new PermanentError({ message: `cannot load bundled font "${id}"`, cause })
    })
  })

/** Every bundled font, keyed by id. */
export const loadFonts: Effect.Effect<Record<FontId, opentype.Font>, PermanentError> = Effect.all({
  anton: loadFont("anton"),
  "archivo-black": loadFont("archivo-black"),
  pacifico: loadFont("pacifico")
})

/** The distinct non-space characters of `text` that `font` has no glyph for. */
export const unsupportedChars = (font: opentype.Font, text: string): ReadonlyArray<string> =>
  [...new Set(text)].filter((c) => !/\s/.test(c) && font.charToGlyphIndex(c) === 0)
