/**
 * Occasions: upcoming holidays and events (from `date-holidays` for the configured
 * countries, regions and languages, plus a user CSV of custom events) crossed with the
 * configured niches — "Teachers x Back to School" — emitted a lead time ahead of the
 * date so designs are live when buyers shop. Needs no network.
 *
 * Event time of a signal is the moment its occasion enters the lead window (date − lead),
 * not the poll time, so every poll and every replay yields the same event for it.
 */
import { readFileSync } from "node:fs"
import Holidays from "date-holidays"
import { Effect, Either, ParseResult, Schema } from "effect"
import { PermanentError } from "../../runtime/errors.ts"
import { decodeConfig, source, type SettingsInput, type StreamDef } from "../../runtime/topology.ts"
import { parseCsv } from "../csv.ts"
import type { Signal } from "../schemas.ts"

const EventType = Schema.Literal("public", "bank", "school", "optional", "observance", "custom")
type EventType = typeof EventType.Type

export const OccasionsConfig = Schema.Struct({
  countries: Schema.optionalWith(Schema.NonEmptyArray(Schema.String.pipe(Schema.pattern(/^[A-Z]{2}(-[A-Z0-9]{1,3})?$/))), {
    default: () => ["US"] as const
  }).annotations({ description: "ISO country codes, optionally with a region (US, US-CA, DE-BY)" }),
  languages: Schema.optionalWith(Schema.Array(Schema.String), { default: () => ["en"] }).annotations({
    description: "holiday name languages, e.g. en, de"
  }),
  niches: Schema.NonEmptyArray(Schema.NonEmptyTrimmedString).annotations({
    description: "audiences to cross occasions with",
    examples: [["teachers", "nurses", "dog lovers"]]
  }),
  types: Schema.optionalWith(Schema.Array(EventType), { default: () => ["public", "observance", "custom"] as const }).annotations({
    description: "holiday types to use"
  }),
  leadDays: Schema.optionalWith(Schema.partial(Schema.Record({ key: EventType, value: Schema.Int.pipe(Schema.between(0, 366)) })), {
    default: () => ({})
  }).annotations({ description: "days ahead of the date to emit, per event type (missing types use `defaultLeadDays`)" }),
  defaultLeadDays: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 366)), { default: () => 45 }).annotations({
    description: "days ahead of the date to emit for types without their own `leadDays`"
  }),
  customEventsCsv: Schema.optional(Schema.String).annotations({
    description: "CSV with columns date (YYYY-MM-DD), name, and optional type, niches (|-separated), lead_days"
  })
})
export type OccasionsConfig = typeof OccasionsConfig.Type

const CustomEvent = Schema.Struct({
  date: Schema.String.pipe(Schema.pattern(/^\d{4}-\d{2}-\d{2}$/, { message: () => "date must be YYYY-MM-DD" })),
  name: Schema.NonEmptyTrimmedString,
  type: Schema.optionalWith(EventType, { default: () => "custom" as const }),
  niches: Schema.optional(Schema.String),
  lead_days: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(0, 366)))
})

interface Occasion {
  readonly date: string // YYYY-MM-DD
  readonly name: string
  readonly type: EventType
  readonly country: string
  readonly niches?: ReadonlyArray<string>
  readonly leadDays?: number
}

/** Reads the custom events CSV; an invalid row fails the start with its line and field. */
const readCustomEvents = (path: string): ReadonlyArray<Occasion> =>
  parseCsv(readFileSync(path, "utf8"), path).rows.map(({ line, fields }) => {
    const decoded = Schema.decodeUnknownEither(CustomEvent)(
      Object.fromEntries(Object.entries(fields).filter(([, v]) => v.trim() !== ""))
    )
    if (Either.isLeft(decoded)) {
      throw new PermanentError({ message: `${path}:${line}: ${ParseResult.TreeFormatter.formatErrorSync(decoded.left)}` })
    }
    const e = decoded.right
    return {
      date: e.date,
      name: e.name,
      type: e.type,
      country: "custom",
      ...(e.niches ? { niches: e.niches.split("|").map((n) => n.trim()).filter(Boolean) } : {}),
      ...(e.lead_days !== undefined ? { leadDays: e.lead_days } : {})
    }
  })

const titleCase = (s: string) => s.replace(/\b\p{L}/gu, (c) => c.toUpperCase())
const DAY = 86_400_000

export const occasions = (
  config: typeof OccasionsConfig.Encoded,
  io: { readonly to: StreamDef<Signal> },
  settings?: SettingsInput
) => {
  const c = decodeConfig("occasions", OccasionsConfig, config)
  const calendars = c.countries.map((code) => {
    const [country, region] = code.split("-")
    const hd = region ? new Holidays(country!, region, { languages: [...c.languages] }) : new Holidays(country!, { languages: [...c.languages] })
    if (!hd.getCountries()[country!]) throw new PermanentError({ message: `occasions: unknown country "${country}" in countries` })
    return { code, hd }
  })
  const custom = c.customEventsCsv ? readCustomEvents(c.customEventsCsv) : []
  const leadOf = (o: Occasion) => o.leadDays ?? c.leadDays[o.type] ?? c.defaultLeadDays

  const occasionsIn = (years: ReadonlyArray<number>): ReadonlyArray<Occasion> => [
    ...calendars.flatMap(({ code, hd }) =>
      years.flatMap((year) =>
        hd.getHolidays(year).map((h): Occasion => ({ date: h.date.slice(0, 10), name: h.name, type: h.type as EventType, country: code }))
      )
    ),
    ...custom
  ]

  return source({
    name: "occasions",
    kind: "occasions",
    to: io.to,
    every: "6 hours",
    settings,
    config: c,
    poll: Effect.sync(() => {
      const now = Date.now()
      const year = new Date(now).getUTCFullYear()
      const seen = new Set<string>()
      const emissions = occasionsIn([year, year + 1]).flatMap((o) => {
        if (!c.types.includes(o.type)) return []
        const day = Date.parse(`${o.date}T00:00:00Z`)
        const enters = day - leadOf(o) * DAY
        // Inside the lead window and not yet past: emit once per occasion and niche.
        if (now < enters || now > day + DAY) return []
        return (o.niches ?? c.niches).flatMap((niche) => {
          const key = `${o.date}:${o.name}:${niche}`.toLowerCase()
          if (seen.has(key)) return []
          seen.add(key)
          const signal: Signal = {
            source: "occasions",
            sourceId: key,
            content: `${titleCase(niche)} x ${o.name}`,
            capturedAt: new Date(enters).toISOString(),
            eventDate: new Date(day).toISOString(),
            engagement: {},
            tags: [niche.toLowerCase(), o.name.toLowerCase(), o.type],
            category: niche.toLowerCase(),
            metadata: { occasion: o.name, occasionType: o.type, country: o.country, niche, leadDays: leadOf(o) }
          }
          return [{ data: signal, timestamp: signal.capturedAt, key }]
        })
      })
      return { emissions }
    })
  })
}
