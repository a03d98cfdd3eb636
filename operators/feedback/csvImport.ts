/**
 * A marketplace's sales or statistics report as CSV (Redbubble, Amazon Merch, or anything
 * that exports one), turned into feedback events: one row per listing and day (or order),
 * one event per metric column with a value. Columns, by header (case and spacing ignored):
 *
 *   date        date | day | order date | sale date            (YYYY-MM-DD or ISO 8601)
 *   listing     listing | listing id | product id | work id | asin | external id  (the marketplace's id)
 *   metrics     views | favorites / favourites | clicks | add to cart / carts | sales / units / quantity / units sold
 *
 * Values are what the report counted in that row (not lifetime totals). Each event is keyed
 * by marketplace, listing, metric and the row's date (plus an `order` column when there is
 * one), so importing the same report twice adds nothing. A bad row refuses the whole file,
 * naming its line and column.
 */
import { readFileSync } from "node:fs"
import { basename } from "node:path"
import { parseArgs } from "node:util"
import { Effect, Option, Redacted } from "effect"
import { RuntimeConfig, ServerUrl } from "../../runtime/config.ts"
import { PermanentError } from "../../runtime/errors.ts"
import { type Command, type Emission, UsageError } from "../../runtime/topology.ts"
import { parseCsv } from "../csv.ts"
import type { FeedbackEvent } from "../schemas.ts"

const norm = (h: string) => h.trim().toLowerCase().replace(/[\s_-]+/g, " ")

const DATE = ["date", "day", "order date", "sale date"]
const LISTING = ["listing", "listing id", "product id", "work id", "asin", "external id"]
const ORDER = ["order", "order id", "order number", "order #", "order no", "order no."]
const METRICS: ReadonlyArray<readonly [FeedbackEvent["kind"], ReadonlyArray<string>]> = [
  ["view", ["views", "view"]],
  ["favorite", ["favorites", "favourites", "favorite", "favourite"]],
  ["click", ["clicks", "click"]],
  ["add_to_cart", ["add to cart", "carts", "add to carts"]],
  ["sale", ["sales", "units", "quantity", "units sold", "sale"]]
]

export const parseFeedbackCsv = (text: string, marketplace: string, file = "report.csv"): ReadonlyArray<Emission<FeedbackEvent>> => {
  if (!/^[a-z][a-z0-9_-]*$/.test(marketplace)) throw new PermanentError({ message: `marketplace must be a lowercase name such as redbubble, got "${marketplace}"` })
  const { header, rows } = parseCsv(text, file)
  const find = (names: ReadonlyArray<string>) => header.find((h) => names.includes(norm(h)))
  const date = find(DATE)
  const listing = find(LISTING)
  const order = find(ORDER)
  const metrics = METRICS.flatMap(([kind, names]) => {
    const column = find(names)
    return column === undefined ? [] : [[kind, column] as const]
  })
  const missing = [date === undefined ? `a date column (${DATE.join(", ")})` : undefined, listing === undefined ? `a listing column (${LISTING.join(", ")})` : undefined, metrics.length === 0 ? `a metric column (views, favorites, clicks, add to cart, sales)` : undefined].filter(Boolean)
  if (missing.length > 0) throw new PermanentError({ message: `${file}: needs ${missing.join(" and ")}; its header is ${header.join(", ")}` })
  // Rows of one listing, metric, date (and order) are one event, their values summed: two
  // products of one work sold the same day are two rows of a report, not a repeated row.
  const events = new Map<string, { readonly emission: Emission<FeedbackEvent>; value: number; readonly lines: Array<number> }>()
  for (const row of rows) {
    const rawDate = (row.fields[date!] ?? "").trim()
    const at = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(rawDate) ? `${rawDate}T00:00:00Z` : rawDate)
    if (Number.isNaN(at)) throw new PermanentError({ message: `${file} line ${row.line}: ${date}: "${rawDate}" is not a date (YYYY-MM-DD or ISO 8601)` })
    const externalId = (row.fields[listing!] ?? "").trim()
    if (externalId === "") throw new PermanentError({ message: `${file} line ${row.line}: ${listing} is empty` })
    const occurredAt = new Date(at).toISOString()
    const orderId = order === undefined ? undefined : (row.fields[order] ?? "").trim() || undefined
    for (const [kind, column] of metrics) {
      const raw = (row.fields[column] ?? "").trim().replace(/,/g, "")
      if (raw === "") continue
      const value = Number(raw)
      if (!Number.isFinite(value)) throw new PermanentError({ message: `${file} line ${row.line}: ${column}: "${row.fields[column]}" is not a number` })
      if (value === 0) continue
      const key = `csv:${marketplace}:${externalId}:${kind}:${occurredAt}${orderId === undefined ? "" : `:${orderId}`}`
      const known = events.get(key)
      if (known !== undefined) {
        known.value += value
        known.lines.push(row.line)
        continue
      }
      const emission = { key, timestamp: occurredAt, data: { externalId, marketplace, kind, value, occurredAt, payload: { import: file, ...(orderId === undefined ? {} : { orderId }) } } }
      events.set(key, { emission, value, lines: [row.line] })
    }
  }
  return [...events.values()].map(({ emission, value, lines }) => ({ ...emission, data: { ...emission.data, value, payload: { ...emission.data.payload, lines } } }))
}

const USAGE = `usage: desainz feedback-import --file REPORT.csv --marketplace NAME

  Sends a sales or statistics report to the running server (DESAINZ_URL, default
  http://127.0.0.1:$PORT or 8080; DESAINZ_TOKEN), which puts its rows on feedback.events.
  Importing the same report twice adds nothing.`

/** `desainz feedback-import`: the CLI side of `POST /api/feedback/import`. */
export const feedbackImportCommand: Command = {
  summary: "import a marketplace sales/statistics CSV report as feedback (through the running server)",
  run: (argv) =>
    Effect.gen(function* () {
      let values
      try {
        values = parseArgs({ args: [...argv], options: { file: { type: "string" }, marketplace: { type: "string" }, help: { type: "boolean", short: "h" } }, strict: true }).values
      } catch (e) {
        return yield* Effect.fail(new UsageError(`${e instanceof Error ? e.message : String(e)}\n\n${USAGE}`))
      }
      if (values.help) return yield* Effect.sync(() => process.stdout.write(`${USAGE}\n`))
      if (values.file === undefined) return yield* Effect.fail(new UsageError(`--file is required\n\n${USAGE}`))
      if (values.marketplace === undefined) return yield* Effect.fail(new UsageError(`--marketplace is required (e.g. redbubble)\n\n${USAGE}`))
      const text = yield* Effect.try({ try: () => readFileSync(values.file!, "utf8"), catch: (e) => new UsageError(`--file: cannot read ${values.file}: ${String(e)}`) })
      // Refuse a bad report here, naming the line, before it travels.
      const rows = yield* Effect.try({ try: () => parseFeedbackCsv(text, values.marketplace!, basename(values.file!)), catch: (e) => new UsageError(e instanceof Error ? e.message : String(e)) })
      const base = yield* ServerUrl
      const { token } = yield* RuntimeConfig
      const url = `${base}/api/feedback/import?marketplace=${encodeURIComponent(values.marketplace)}&file=${encodeURIComponent(basename(values.file))}`
      const response = yield* Effect.tryPromise({
        try: () => fetch(url, { method: "POST", headers: { "content-type": "text/csv", ...(Option.isSome(token) ? { authorization: `Bearer ${Redacted.value(token.value)}` } : {}) }, body: text }),
        catch: () => new UsageError(`no desainz server answers at ${base}: start one (npm start) or set DESAINZ_URL`)
      })
      const body = yield* Effect.promise(() => response.text())
      if (!response.ok) return yield* Effect.fail(new UsageError(`import refused (HTTP ${response.status}): ${body}`))
      yield* Effect.sync(() => process.stdout.write(`${rows.length} feedback events from ${values.file}: ${body}\n`))
    })
}
