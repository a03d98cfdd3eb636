/**
 * Brand-safety bench: texts screened per second by the offline screen
 * (operators/safety/screen.ts: ~3,500 brand names with near-miss matching, the seller list,
 * obscenity's profanity matcher, hate and tragedy terms), against the screen it replaced in
 * `select`: one case-insensitive regex of 20 whole words. Same texts, same process, one
 * after the other. Also the share of texts each flags, and the screen's start-up time.
 *
 *   npm run bench -- brand-safety [--rounds 5]
 *
 * Texts: real best-selling Etsy listing titles and Reddit post titles from ../shared/data
 * when present (the bench says so and stops when they are not).
 */
import { existsSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { parse } from "csv-parse/sync"
import { builtInMarks, englishWords, makeScreen, simpleIconsBrands } from "../operators/safety/screen.ts"
import { emit, intFlag, log, parseFlags, round } from "./harness.ts"

const ETSY_CSV = fileURLToPath(new URL("../../shared/data/etsy-search-sales/etsy.csv", import.meta.url))
const REDDIT_CSV = fileURLToPath(new URL("../../shared/data/reddit-top-posts/reddit_posts.csv", import.meta.url))

/** The 20 terms `select` used to drop ideas by, as its regex did. */
const OLD_TERMS = ["disney", "marvel", "pokemon", "nike", "adidas", "nfl", "nba", "harry potter", "star wars", "taylor swift", "shooting", "massacre", "killed", "dies", "dead", "murder", "terror", "rape", "suicide", "nazi"]
const OLD_REGEX = new RegExp(`\\b(${OLD_TERMS.join("|")})\\b`, "i")

const column = (file: string, name: string): Array<string> =>
  (parse(readFileSync(file), { columns: true, relax_quotes: true, skip_records_with_error: true }) as Array<Record<string, string>>).map((r) => r[name] ?? "").filter((t) => t.trim() !== "")

const perSecond = (texts: ReadonlyArray<string>, rounds: number, check: (text: string) => boolean) => {
  let flagged = 0
  const start = performance.now()
  for (let r = 0; r < rounds; r++) for (const t of texts) if (check(t)) flagged++
  const seconds = (performance.now() - start) / 1000
  return { perSecond: (texts.length * rounds) / seconds, share: flagged / (texts.length * rounds) }
}

export const run = async (args: ReadonlyArray<string> = []): Promise<void> => {
  const values = parseFlags(args, { rounds: { type: "string" } })
  const rounds = intFlag("rounds", values.rounds, 5)
  if (!existsSync(ETSY_CSV) || !existsSync(REDDIT_CSV)) {
    log(`brand-safety: ${ETSY_CSV} or ${REDDIT_CSV} is missing (shared data); nothing measured`)
    return
  }
  const corpora = { "etsy-titles": column(ETSY_CSV, "Name_of_product"), "reddit-titles": column(REDDIT_CSV, "title") }
  const built = performance.now()
  const english = await englishWords()
  const screen = makeScreen({ brands: [...(await simpleIconsBrands()), ...builtInMarks()], seller: { block: [], allow: [] }, commonWords: english.common, dictionary: english.dictionary })
  const startupMs = performance.now() - built
  for (const [name, texts] of Object.entries(corpora)) {
    log(`brand-safety: ${texts.length} ${name} x ${rounds} rounds`)
    // A warm-up round for both, so neither pays the JIT alone.
    perSecond(texts, 1, (t) => screen.screen([{ field: "idea", text: t }]).length > 0)
    perSecond(texts, 1, (t) => OLD_REGEX.test(t))
    const ours = perSecond(texts, rounds, (t) => screen.screen([{ field: "idea", text: t }]).length > 0)
    const baseline = perSecond(texts, rounds, (t) => OLD_REGEX.test(t))
    emit({
      bench: "brand-safety",
      case: `screen-${name}`,
      texts: texts.length,
      texts_per_s: round(ours.perSecond, 0),
      flagged_share: round(ours.share, 4),
      startup_ms: round(startupMs, 0),
      baseline_case: "20-term-regex",
      baseline_texts_per_s: round(baseline.perSecond, 0),
      baseline_flagged_share: round(baseline.share, 4),
      ratio: round(ours.perSecond / baseline.perSecond, 4)
    })
  }
}
