/**
 * The blob layout, in one place (DESIGN.md "Data"):
 *
 *   raw-signals/year=YYYY/month=MM/day=DD/<signal-id>.json       (UTC day of capture)
 *   generated-mockups/<idea-id>/print.<ext>
 *   generated-mockups/<idea-id>/variants/<variant>-<colorway>.<ext>
 *   generated-mockups/<idea-id>/candidates/<candidate-id>/print.<ext>            (each candidate design)
 *   generated-mockups/<idea-id>/candidates/<candidate-id>/<variant>-<colorway>.<ext>
 *   published-assets/<marketplace>/<part>/.../<part>
 *
 * Identifiers come from outside (an RSS guid may be a whole URL), so every part is made
 * safe here. Sanitizing must never merge two ids into one key, or one idea's artwork would
 * overwrite another's: a part that needed changing gets a hash of its original appended.
 */
import { createHash } from "node:crypto"
import { Effect } from "effect"
import { PermanentError } from "../runtime/errors.ts"

const SAFE_PART = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,119}$/
const MAX_SLUG = 80

/**
 * A part as one key segment: kept as is when already safe, otherwise slugged to
 * `[A-Za-z0-9._-]` (no leading dot) with a 12-hex-digit hash of the original before its
 * extension, so `My Design.png` stays a `.png`.
 */
export const sanitizeKeyPart = (part: string, what = "key part"): Effect.Effect<string, PermanentError> => {
  if (part === "") return Effect.fail(new PermanentError({ message: `Empty ${what}` }))
  if (SAFE_PART.test(part)) return Effect.succeed(part)
  // UTF-16 is lossless even for lone surrogates, which UTF-8 would fold into one replacement character.
  const hash = createHash("sha256").update(part, "utf16le").digest("hex").slice(0, 12)
  const slug = part
    .normalize("NFKD")
    .replace(/[^A-Za-z0-9._-]+/g, "-")
    .slice(0, MAX_SLUG)
    .replace(/^[.-]+|[.-]+$/g, "")
  const [, stem = slug, ext = ""] = /^(.+?)(\.[A-Za-z0-9]{1,10})$/.exec(slug) ?? []
  return Effect.succeed(slug === "" ? hash : `${stem}-${hash}${ext}`)
}

// A closed, lowercase alphabet keeps `<variant>-<colorway>` splittable at its first '-'.
const VARIANT = /^[a-z0-9]{1,32}$/
const EXTENSION = /^[a-z0-9]{1,10}$/

const checked = (value: string, pattern: RegExp, what: string): Effect.Effect<string, PermanentError> =>
  pattern.test(value)
    ? Effect.succeed(value)
    : Effect.fail(new PermanentError({ message: `Invalid ${what} ${JSON.stringify(value)}: must match ${pattern.source}` }))

const extension = (ext: string) => checked(ext.toLowerCase(), EXTENSION, "file extension")

const utcDay = (date: Date): Effect.Effect<{ year: string; month: string; day: string }, PermanentError> => {
  const iso = Number.isNaN(date.getTime()) ? "" : date.toISOString()
  const match = /^(\d{4})-(\d{2})-(\d{2})T/.exec(iso)
  return match?.[1] !== undefined && match[2] !== undefined && match[3] !== undefined
    ? Effect.succeed({ year: match[1], month: match[2], day: match[3] })
    : Effect.fail(new PermanentError({ message: `Invalid capture date ${String(date)}: needs a year between 0000 and 9999` }))
}

/** `raw-signals/year=YYYY/month=MM/day=DD/`: every raw signal captured on that UTC day. */
export const rawSignalDayPrefix = (day: Date): Effect.Effect<string, PermanentError> =>
  Effect.map(utcDay(day), ({ year, month, day }) => `raw-signals/year=${year}/month=${month}/day=${day}/`)

/** `raw-signals/year=YYYY/month=MM/day=DD/<id>.json`, partitioned by the UTC day of capture. */
export const rawSignalKey = (capturedAt: Date, id: string): Effect.Effect<string, PermanentError> =>
  Effect.zipWith(rawSignalDayPrefix(capturedAt), sanitizeKeyPart(id, "signal id"), (prefix, safeId) => `${prefix}${safeId}.json`)

/** `generated-mockups/<idea-id>/`: the print file and every mock-up of one idea. */
export const ideaAssetsPrefix = (ideaId: string): Effect.Effect<string, PermanentError> =>
  Effect.map(sanitizeKeyPart(ideaId, "idea id"), (id) => `generated-mockups/${id}/`)

/** `generated-mockups/<idea-id>/variants/<variant>-<colorway>.<ext>`; variant is lowercase alphanumeric (front, back). */
export const mockupKey = (
  ideaId: string,
  variant: string,
  colorway: string,
  ext: string
): Effect.Effect<string, PermanentError> =>
  Effect.gen(function* () {
    const prefix = yield* ideaAssetsPrefix(ideaId)
    const safeVariant = yield* checked(variant, VARIANT, "mock-up variant")
    const safeColorway = yield* sanitizeKeyPart(colorway, "colorway")
    return `${prefix}variants/${safeVariant}-${safeColorway}.${yield* extension(ext)}`
  })

/** `generated-mockups/<idea-id>/print.<ext>`: the print-ready artwork. */
export const printFileKey = (ideaId: string, ext: string): Effect.Effect<string, PermanentError> =>
  Effect.zipWith(ideaAssetsPrefix(ideaId), extension(ext), (prefix, safeExt) => `${prefix}print.${safeExt}`)

/** `generated-mockups/<idea-id>/candidates/<candidate-id>/<file>`: one candidate design's print file or mock-up. */
export const candidateAssetKey = (ideaId: string, candidateId: string, file: string): Effect.Effect<string, PermanentError> =>
  Effect.gen(function* () {
    const prefix = yield* ideaAssetsPrefix(ideaId)
    return `${prefix}candidates/${yield* sanitizeKeyPart(candidateId, "candidate id")}/${yield* sanitizeKeyPart(file, "file name")}`
  })

/** `published-assets/<marketplace>/`: everything exported for one marketplace. */
export const publishedAssetsPrefix = (marketplace: string): Effect.Effect<string, PermanentError> =>
  Effect.map(sanitizeKeyPart(marketplace, "marketplace"), (name) => `published-assets/${name}/`)

/** `published-assets/<marketplace>/<part>/.../<part>`, each part one sanitized segment (e.g. listing id, file name). */
export const publishedAssetKey = (
  marketplace: string,
  ...parts: readonly [string, ...Array<string>]
): Effect.Effect<string, PermanentError> =>
  Effect.zipWith(
    publishedAssetsPrefix(marketplace),
    Effect.forEach(parts, (part) => sanitizeKeyPart(part, "published asset path part")),
    (prefix, safeParts) => `${prefix}${safeParts.join("/")}`
  )
