/**
 * Round anniversaries from Wikipedia's "On this day" feed
 * (`GET /feed/v1/wikipedia/<lang>/onthisday/<type>/<MM>/<DD>` on api.wikimedia.org).
 *
 * The source looks `leadDays` ahead, so designs are ready before the day: each poll takes
 * the earliest date of [today, today + leadDays] it has not covered yet (with `more` while
 * dates remain), and emits the entries whose year lies a configured round number of years
 * before that date (10, 25, 50, ... years ago). A signal's event time is the anniversary
 * date itself, which is also its `eventDate` (seasonality keys on it).
 */
import { Clock, Effect, Schema } from "effect"
import { PermanentError } from "../../runtime/errors.ts"
import { decodeConfig, source, type SettingsInput, type SourceNode, type StreamDef } from "../../runtime/topology.ts"
import type { Signal } from "../schemas.ts"
import { baseUrlField, type Candidate, makeHttpSource, optionalField, sourceFields, stableId, type SourceServices } from "./http.ts"

const EntryType = Schema.Literal("selected", "events", "births", "deaths")
type EntryType = typeof EntryType.Type

export const AnniversariesConfig = Schema.Struct({
  ...sourceFields({ kind: "anniversaries", every: "6 hours", rate: { ratePerSec: 5, burst: 10 } }),
  baseUrl: baseUrlField("https://api.wikimedia.org/feed/v1/wikipedia"),
  lang: Schema.optionalWith(Schema.String.pipe(Schema.pattern(/^[a-z]{2,3}(-[a-z]+)?$/, { message: () => 'expected a Wikipedia language code such as "en"' })), {
    default: () => "en"
  }).annotations({ description: "which Wikipedia's list to read" }),
  types: Schema.optionalWith(Schema.NonEmptyArray(EntryType), { default: () => ["selected", "events"] as const }).annotations({
    description: "lists read per date: editors' selection, all events, births, deaths"
  }),
  years: Schema.optionalWith(Schema.NonEmptyArray(Schema.Int.pipe(Schema.between(1, 5_000))), {
    default: () => [10, 20, 25, 30, 40, 50, 60, 70, 75, 80, 90, 100, 125, 150, 200, 250] as const
  }).annotations({ description: "round anniversaries to emit, in years", examples: [[10, 25, 50, 100]] }),
  leadDays: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 366)), { default: () => 30 }).annotations({
    description: "how many days ahead anniversaries are emitted, so designs are ready in time"
  })
}).annotations({ identifier: "AnniversariesConfig" })
export type AnniversariesConfig = typeof AnniversariesConfig.Type

const Page = Schema.Struct({
  title: Schema.String,
  titles: optionalField(Schema.Struct({ normalized: optionalField(Schema.String) })),
  description: optionalField(Schema.String),
  extract: optionalField(Schema.String),
  content_urls: optionalField(Schema.Struct({ desktop: optionalField(Schema.Struct({ page: Schema.String })) }))
})
type Page = typeof Page.Type

const Entry = Schema.Struct({
  text: Schema.String,
  year: optionalField(Schema.Int),
  pages: Schema.optionalWith(Schema.Array(Page), { default: () => [] })
})
type Entry = typeof Entry.Type

export const OnThisDay = Schema.Struct({
  selected: optionalField(Schema.Array(Entry)),
  events: optionalField(Schema.Array(Entry)),
  births: optionalField(Schema.Array(Entry)),
  deaths: optionalField(Schema.Array(Entry))
})

const DAY_MS = 86_400_000

const ordinal = (n: number): string => {
  const tens = n % 100
  const suffix = tens >= 11 && tens <= 13 ? "th" : (["th", "st", "nd", "rd"][n % 10] ?? "th")
  return `${n}${suffix}`
}

const phrase = (type: EntryType, years: number, entry: Entry & { readonly year: number }): string => {
  const text = entry.text.trim()
  switch (type) {
    case "births":
      return `${ordinal(years)} birthday: ${text} (born ${entry.year})`
    case "deaths":
      return `${years} years since the death of ${text} (${entry.year})`
    default:
      return `${ordinal(years)} anniversary: ${text} (${entry.year})`
  }
}

const pageTitle = (p: Page) => p.titles?.normalized ?? p.title.replace(/_/g, " ")

const toCandidate = (
  type: EntryType,
  date: string,
  years: number,
  entry: Entry & { readonly year: number },
  lang: string
): Candidate => {
  const at = `${date}T00:00:00.000Z`
  const url = entry.pages.find((p) => p.content_urls?.desktop !== undefined)?.content_urls?.desktop?.page
  const signal: Signal = {
    source: "anniversaries",
    // Not keyed by list: "selected" repeats entries of "events", which then dedupe.
    sourceId: `${date}:${entry.year}:${stableId(entry.text.trim())}`,
    content: phrase(type, years, entry),
    ...(url !== undefined ? { url } : {}),
    capturedAt: at,
    eventDate: at,
    engagement: {},
    tags: ["anniversary", `${years}-years`, ...entry.pages.slice(0, 5).map((p) => pageTitle(p).toLowerCase())],
    locale: lang,
    category: "anniversaries",
    metadata: {
      list: type,
      year: entry.year,
      years,
      date,
      pages: entry.pages.slice(0, 5).map((p) => ({
        title: pageTitle(p),
        description: p.description ?? null,
        extract: (p.extract ?? "").slice(0, 300),
        url: p.content_urls?.desktop?.page ?? null
      }))
    }
  }
  return { signal }
}

export const anniversaries = (
  config: typeof AnniversariesConfig.Encoded,
  io: { readonly to: StreamDef<Signal> },
  settings?: SettingsInput
): SourceNode<Signal, SourceServices> => {
  const c = decodeConfig(config.name ?? "anniversaries", AnniversariesConfig, config)
  const http = makeHttpSource(c)
  const wanted = new Set(c.years)
  // Dates (YYYY-MM-DD) already covered; dates before today are forgotten.
  const covered = new Set<string>()
  return source({
    name: c.name,
    kind: "anniversaries",
    to: io.to,
    every: c.every,
    settings,
    config: c,
    poll: http.poll((get) =>
      Effect.gen(function* () {
        const today = Math.floor((yield* Clock.currentTimeMillis) / DAY_MS) * DAY_MS
        const window = Array.from({ length: c.leadDays + 1 }, (_, i) => new Date(today + i * DAY_MS).toISOString().slice(0, 10))
        const pending = window.filter((d) => !covered.has(d))
        const date = pending[0]
        if (date === undefined) return { candidates: [] }
        const [year, month, day] = date.split("-") as [string, string, string]
        const candidates: Array<Candidate> = []
        for (const type of c.types) {
          // Not conditional: the URL has no year, and next year's fetch of the same day must not be a 304.
          const page = yield* get.json(`/${c.lang}/onthisday/${type}/${month}/${day}`, OnThisDay, { conditional: false })
          if (page._tag === "NotModified") continue
          const entries = page.body[type]
          if (entries === undefined) {
            return yield* new PermanentError({ message: `${c.name}: the "On this day" response for ${month}/${day} has no "${type}" list` })
          }
          for (const entry of entries) {
            if (entry.year === undefined) continue
            const years = Number(year) - entry.year
            if (wanted.has(years)) candidates.push(toCandidate(type, date, years, { ...entry, year: entry.year }, c.lang))
          }
        }
        return {
          candidates,
          more: pending.length > 1,
          commit: () => {
            covered.add(date)
            for (const d of covered) if (d < window[0]!) covered.delete(d)
          }
        }
      })
    )
  })
}
