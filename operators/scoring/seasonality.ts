/**
 * Seasonality: closeness in event time to an occasion the signal is about.
 *
 * - calendar signals (with `eventDate`): their own occasion;
 * - any other signal: the `date-holidays` dates (configured countries and types, the
 *   signal's year and the years either side) whose name the signal mentions, in its text
 *   or tags ("Thanksgiving Day" is mentioned by "thanksgiving"). With `mentionedOnly` off,
 *   every holiday counts, mentioned or not.
 *
 * 1 within `windowDays` either side of the nearest such date, else
 * exp(-(distance in days beyond the window) / scaleDays), continuous at the window's edge.
 * A signal that mentions no occasion scores 0.
 */
import Holidays from "date-holidays"
import { Schema } from "effect"
import type { Signal } from "../schemas.ts"
import { DAY } from "./state.ts"

const HolidayType = Schema.Literal("public", "bank", "school", "optional", "observance")

export const SeasonalityConfig = Schema.Struct({
  countries: Schema.optionalWith(Schema.Array(Schema.String.pipe(Schema.pattern(/^[A-Z]{2}(-[A-Z0-9]{1,3})?$/))), { default: () => ["US"] }).annotations({
    description: "ISO country codes (optionally with a region) whose holidays count"
  }),
  types: Schema.optionalWith(Schema.Array(HolidayType), { default: () => ["public", "observance"] }).annotations({
    description: "date-holidays types that count"
  }),
  windowDays: Schema.optionalWith(Schema.Number.pipe(Schema.nonNegative()), { default: () => 7 }).annotations({
    description: "days either side of an occasion that score 1"
  }),
  scaleDays: Schema.optionalWith(Schema.Number.pipe(Schema.positive()), { default: () => 30 }).annotations({
    description: "beyond the window, days over which the factor falls by a factor e"
  }),
  mentionedOnly: Schema.optionalWith(Schema.Boolean, { default: () => true }).annotations({
    description: "only holidays the signal mentions count (off: the nearest holiday of any kind)"
  })
})
export type SeasonalityConfig = typeof SeasonalityConfig.Type

const STOP = new Set(["day", "after", "substitute", "the", "of", "and", "st", "jr", "sunday", "eve"])
const WORD = /[\p{L}\p{N}]+/gu

/** Lowercase words, possessives dropped. */
const words = (text: string): ReadonlyArray<string> => text.toLowerCase().replace(/['’]s\b/g, "").match(WORD) ?? []
/** A crude singular, applied alike to holiday names and signal words, so "valentines" mentions "Valentine's Day". */
const singular = (w: string) => (w.length > 3 && w.endsWith("s") ? w.slice(0, -1) : w)

interface Occasion {
  readonly at: number
  /** Words a signal must all contain to mention it. */
  readonly words: ReadonlyArray<string>
}

export interface SeasonalityValue {
  readonly value: number
  /** Days to the nearest counted occasion; absent when there is none. */
  readonly days?: number
}

export const proximity = (days: number, config: SeasonalityConfig): number =>
  days <= config.windowDays ? 1 : Math.exp(-(days - config.windowDays) / config.scaleDays)

/** The factor for a configuration; holidays are computed once per year and kept. */
export const makeSeasonality = (config: SeasonalityConfig) => {
  const calendars = config.countries.map((code) => {
    const [country, region] = code.split("-")
    return region ? new Holidays(country!, region, { languages: ["en"] }) : new Holidays(country!, { languages: ["en"] })
  })
  const years = new Map<number, ReadonlyArray<Occasion>>()
  const occasionsOf = (year: number): ReadonlyArray<Occasion> => {
    let list = years.get(year)
    if (list === undefined) {
      list = calendars.flatMap((hd) =>
        hd
          .getHolidays(year)
          .filter((h) => (config.types as ReadonlyArray<string>).includes(h.type))
          .map((h) => ({ at: Date.parse(`${h.date.slice(0, 10)}T00:00:00Z`), words: words(h.name).filter((w) => !STOP.has(w)).map(singular) }))
          .filter((o) => o.words.length > 0)
      )
      years.set(year, list)
    }
    return list
  }
  // Per signal year: the occasions of it and the years either side, by their first word (a signal
  // that does not mention that word does not mention the occasion).
  const byFirstWord = new Map<number, ReadonlyMap<string, ReadonlyArray<Occasion>>>()
  const occasionsAround = (year: number) => {
    let index = byFirstWord.get(year)
    if (index === undefined) {
      const map = new Map<string, Array<Occasion>>()
      for (const o of [year - 1, year, year + 1].flatMap(occasionsOf)) {
        const list = map.get(o.words[0]!)
        if (list === undefined) map.set(o.words[0]!, [o])
        else list.push(o)
      }
      byFirstWord.set(year, (index = map))
    }
    return index
  }
  return (signal: Signal): SeasonalityValue => {
    const at = Date.parse(signal.capturedAt)
    let nearest: number | undefined
    const consider = (o: Occasion) => {
      const days = Math.abs(o.at - at) / DAY
      if (nearest === undefined || days < nearest) nearest = days
    }
    if (signal.eventDate !== undefined) nearest = Math.abs(Date.parse(signal.eventDate) - at) / DAY
    else {
      const year = new Date(at).getUTCFullYear()
      if (!config.mentionedOnly) for (const o of [year - 1, year, year + 1].flatMap(occasionsOf)) consider(o)
      else {
        const mentioned = new Set(words(`${signal.content} ${signal.tags.join(" ")}`).map(singular))
        const index = occasionsAround(year)
        for (const word of mentioned) {
          for (const o of index.get(word) ?? []) if (o.words.every((w) => mentioned.has(w))) consider(o)
        }
      }
    }
    return nearest === undefined ? { value: 0 } : { value: proximity(nearest, config), days: nearest }
  }
}
