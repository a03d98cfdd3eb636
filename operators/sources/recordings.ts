/**
 * Recorded signals for replay and backtests: JSONL, a plain CSV, or the YouTube trending
 * CSV layout. Every record carries its event time; the YouTube layout also yields an
 * outcome (how the video did later), which backtests join against scores.
 */
import { existsSync, readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { Either, ParseResult, Schema } from "effect"
import { PermanentError } from "../../runtime/errors.ts"
import { parseCsv } from "../csv.ts"
import { Signal } from "../schemas.ts"

export const RecordingFormat = Schema.Literal("jsonl", "csv", "youtube-trending").annotations({
  description: "jsonl: one Signal (or {data: Signal} envelope) per line; csv: columns of Signal; youtube-trending: the Kaggle trending layout"
})
export type RecordingFormat = typeof RecordingFormat.Type

/** What became of a signal later, for backtests. */
export const Outcome = Schema.Struct({
  daysTrending: Schema.Number,
  lastViews: Schema.Number,
  lastLikes: Schema.Number,
  lastComments: Schema.Number
})
export type Outcome = typeof Outcome.Type

export interface RecordedSignal {
  /** Stable key: the same record replays under the same event id. */
  readonly key: string
  readonly signal: Signal
  readonly outcome?: Outcome
}

const decodeSignal = Schema.decodeUnknownEither(Signal)
const fail = (file: string, line: number, message: string) => new PermanentError({ message: `${file}:${line}: ${message}` })
const issues = (e: ParseResult.ParseError) => ParseResult.TreeFormatter.formatErrorSync(e)

const fromJsonl = (file: string, text: string): Array<RecordedSignal> =>
  text.split(/\r?\n/).flatMap((raw, i) => {
    if (raw.trim() === "") return []
    let json: unknown
    try {
      json = JSON.parse(raw)
    } catch (e) {
      throw fail(file, i + 1, `not JSON (${e instanceof Error ? e.message : String(e)})`)
    }
    const payload = typeof json === "object" && json !== null && "data" in json ? (json as { data: unknown }).data : json
    const decoded = decodeSignal(payload)
    if (Either.isLeft(decoded)) throw fail(file, i + 1, issues(decoded.left))
    const s = decoded.right
    return [{ key: `${s.source}:${s.sourceId}`, signal: s }]
  })

const number = (file: string, line: number, column: string, value: string | undefined): number | undefined => {
  if (value === undefined || value.trim() === "") return undefined
  const n = Number(value)
  if (!Number.isFinite(n) || n < 0) throw fail(file, line, `column "${column}" must be a non-negative number, got "${value}"`)
  return n
}

const fromCsv = (file: string, text: string): Array<RecordedSignal> =>
  parseCsv(text, file).rows.map(({ line, fields: f }) => {
    const candidate = {
      source: f["source"],
      sourceId: f["sourceId"] ?? f["source_id"],
      content: f["content"],
      ...(f["url"] ? { url: f["url"] } : {}),
      capturedAt: f["capturedAt"] ?? f["captured_at"],
      engagement: Object.fromEntries(
        (["likes", "comments", "views", "shares", "score"] as const).flatMap((k) => {
          const n = number(file, line, k, f[k])
          return n === undefined ? [] : [[k, n]]
        })
      ),
      tags: (f["tags"] ?? "").split("|").map((t) => t.trim()).filter(Boolean),
      ...(f["category"] ? { category: f["category"] } : {}),
      ...(f["locale"] ? { locale: f["locale"] } : {}),
      metadata: {}
    }
    const decoded = decodeSignal(candidate)
    if (Either.isLeft(decoded)) throw fail(file, line, issues(decoded.left))
    return { key: `${decoded.right.source}:${decoded.right.sourceId}`, signal: decoded.right }
  })

/** `17.14.11` (YY.DD.MM) -> 2017-11-14T00:00:00Z. */
const trendingDate = (file: string, line: number, value: string): string => {
  const m = /^(\d{2})\.(\d{2})\.(\d{2})$/.exec(value)
  if (!m) throw fail(file, line, `trending_date must look like YY.DD.MM, got "${value}"`)
  return `20${m[1]}-${m[3]}-${m[2]}T00:00:00.000Z`
}

/** YouTube tags are `"one"|"two"`, or `[none]`. */
const youtubeTags = (raw: string): Array<string> =>
  raw === "[none]" ? [] : raw.split("|").map((t) => t.replace(/^"|"$/g, "").trim()).filter(Boolean)

const categoryNames = (csvPath: string): Map<string, string> => {
  const file = join(dirname(csvPath), "US_category_id.json")
  if (!existsSync(file)) return new Map()
  const json = JSON.parse(readFileSync(file, "utf8")) as { items?: Array<{ id: string; snippet?: { title?: string } }> }
  return new Map((json.items ?? []).map((i) => [i.id, i.snippet?.title ?? i.id]))
}

/**
 * Each video becomes one signal at its first appearance on the trending list, carrying
 * only what was known that day; its outcome is the days it stayed on the list and its
 * counters at its last appearance.
 */
const fromYoutubeTrending = (file: string, text: string): Array<RecordedSignal> => {
  const { header, rows } = parseCsv(text, file)
  for (const column of ["video_id", "trending_date", "title", "publish_time", "views", "likes", "comment_count", "tags"]) {
    if (!header.includes(column)) throw new PermanentError({ message: `${file}: missing column "${column}" of the YouTube trending layout` })
  }
  const categories = categoryNames(file)
  const byVideo = new Map<string, { first: RecordedSignal; days: Set<string>; last: { at: string; views: number; likes: number; comments: number } }>()
  for (const { line, fields: f } of rows) {
    const id = f["video_id"]!
    const at = trendingDate(file, line, f["trending_date"]!)
    const views = number(file, line, "views", f["views"]) ?? 0
    const likes = number(file, line, "likes", f["likes"]) ?? 0
    const comments = number(file, line, "comment_count", f["comment_count"]) ?? 0
    const seen = byVideo.get(id)
    if (seen !== undefined) {
      seen.days.add(at)
      if (at >= seen.last.at) seen.last = { at, views, likes, comments }
      continue
    }
    const category = categories.get(f["category_id"] ?? "") ?? f["category_id"]
    const decoded = decodeSignal({
      source: "youtube",
      sourceId: id,
      content: f["title"],
      url: `https://www.youtube.com/watch?v=${id}`,
      capturedAt: at,
      engagement: { views, likes, comments },
      tags: youtubeTags(f["tags"] ?? ""),
      locale: "en-US",
      ...(category ? { category } : {}),
      metadata: { channel: f["channel_title"] ?? "", publishedAt: f["publish_time"] ?? "", categoryId: f["category_id"] ?? "" }
    })
    if (Either.isLeft(decoded)) throw fail(file, line, issues(decoded.left))
    byVideo.set(id, { first: { key: `youtube:${id}`, signal: decoded.right }, days: new Set([at]), last: { at, views, likes, comments } })
  }
  return [...byVideo.values()].map(({ first, days, last }) => ({
    ...first,
    outcome: { daysTrending: days.size, lastViews: last.views, lastLikes: last.likes, lastComments: last.comments }
  }))
}

/** Reads a recording, sorted by event time (ties keep file order). Errors name the file, line and field. */
export const readRecording = (path: string, format: RecordingFormat): ReadonlyArray<RecordedSignal> => {
  if (!existsSync(path)) throw new PermanentError({ message: `recording ${path} does not exist` })
  const text = readFileSync(path, "utf8")
  const records = format === "jsonl" ? fromJsonl(path, text) : format === "csv" ? fromCsv(path, text) : fromYoutubeTrending(path, text)
  return records
    .map((r, i) => ({ r, i, t: Date.parse(r.signal.capturedAt) }))
    .sort((a, b) => a.t - b.t || a.i - b.i)
    .map(({ r }) => r)
}
