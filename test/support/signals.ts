/**
 * A synthetic, seeded recording for scoring tests and benchmarks: signals from two
 * sources over several days, in event-time order, with heavy-tailed engagement, categories
 * that repeat their vocabulary (so centroids and topic peaks mean something), near-duplicate
 * re-posts (which merge) and calendar signals (which peak on their date).
 */
import { writeFileSync } from "node:fs"
import { prng } from "../../operators/backtest/search.ts"
import type { Signal } from "../../operators/schemas.ts"

const CATEGORIES: Record<string, ReadonlyArray<string>> = {
  "plant lovers": ["plant", "mom", "monstera", "jungle", "repotting", "leaves", "greenhouse", "succulent"],
  developers: ["code", "coffee", "bug", "deploy", "friday", "keyboard", "merge", "debugging"],
  runners: ["marathon", "miles", "pace", "trail", "sunrise", "shoes", "okayest", "finish"],
  teachers: ["classroom", "grading", "coffee", "recess", "lesson", "chalk", "summer", "students"]
}
const FILLER = ["every", "why", "the", "life", "club", "energy", "vibes", "mode", "season", "official", "again", "today"]

export interface SyntheticOptions {
  readonly count: number
  readonly days: number
  readonly seed?: number
  readonly start?: string
}

export const syntheticSignals = (options: SyntheticOptions): ReadonlyArray<Signal> => {
  const random = prng(options.seed ?? 7)
  const pick = <A>(xs: ReadonlyArray<A>): A => xs[Math.floor(random() * xs.length)]!
  const start = Date.parse(options.start ?? "2026-03-01T00:00:00Z")
  const span = options.days * 86_400_000
  const out: Array<Signal> = []
  const reposted = new Set<string>()
  for (let i = 0; i < options.count; i++) {
    const at = start + Math.floor((i / options.count) * span + random() * 60_000)
    const category = pick(Object.keys(CATEGORIES))
    const words = CATEGORIES[category]!
    const source = random() < 0.6 ? "reddit" : "youtube"
    // One in twelve re-posts a title from two to three days before with a small change: a near-duplicate.
    const back = Math.round((options.count / options.days) * (2 + random()))
    const previous = out.length > back ? out[out.length - back]! : undefined
    const repost = previous !== undefined && !reposted.has(previous.sourceId) && random() < 1 / 12
    if (repost) reposted.add(previous.sourceId)
    const content =
      repost
        ? `${previous!.content}!`
        : `${pick(words)} ${pick(FILLER)} ${pick(words)} ${pick(FILLER)} ${pick(words)} #${i}`
    // Log-normal engagement: most posts modest, a few viral.
    const volume = Math.exp(4 + 2 * Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random()))
    const calendar = random() < 0.03
    out.push({
      source: calendar ? "occasions" : source,
      sourceId: `s-${i}`,
      content: calendar ? `${category} x Thanksgiving ${i}` : content,
      capturedAt: new Date(at).toISOString(),
      ...(calendar ? { eventDate: new Date(at + 20 * 86_400_000).toISOString().slice(0, 10) + "T00:00:00.000Z" } : {}),
      engagement: calendar
        ? {}
        : source === "reddit"
          ? { score: Math.round(volume), comments: Math.round(volume / 10) }
          : { views: Math.round(volume * 100), likes: Math.round(volume * 4), comments: Math.round(volume / 3) },
      tags: [category.split(" ")[0]!, pick(words)],
      category,
      metadata: { publishedAt: new Date(at - Math.floor(random() * 6 * 3_600_000)).toISOString() }
    })
  }
  return out
}

/** Writes signals as a JSONL recording (the replay source's format). */
export const writeRecording = (path: string, signals: ReadonlyArray<Signal>): void =>
  writeFileSync(path, signals.map((s) => JSON.stringify(s)).join("\n") + "\n")
