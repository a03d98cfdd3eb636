/**
 * A small RFC 4180 CSV reader: quoted fields with commas, doubled quotes and line breaks,
 * CRLF or LF. Rows come back as records keyed by the header; a row whose field count
 * differs from the header's is reported with its line number instead of being guessed at.
 */
import { PermanentError } from "../runtime/errors.ts"

export interface CsvRow {
  /** 1-based line of the row's first character, for error messages. */
  readonly line: number
  readonly fields: Readonly<Record<string, string>>
}

export const parseCsv = (text: string, source = "csv"): { readonly header: ReadonlyArray<string>; readonly rows: ReadonlyArray<CsvRow> } => {
  const records: Array<{ line: number; values: Array<string> }> = []
  let values: Array<string> = []
  let field = ""
  let quoted = false
  let line = 1
  let recordLine = 1
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!
    if (quoted) {
      if (c === '"') {
        if (body[i + 1] === '"') {
          field += '"'
          i++
        } else quoted = false
      } else {
        if (c === "\n") line++
        field += c
      }
      continue
    }
    if (c === '"' && field.length === 0) quoted = true
    else if (c === ",") {
      values.push(field)
      field = ""
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && body[i + 1] === "\n") i++
      values.push(field)
      records.push({ line: recordLine, values })
      values = []
      field = ""
      line++
      recordLine = line
    } else field += c
  }
  if (quoted) throw new PermanentError({ message: `${source}: unterminated quoted field starting on line ${recordLine}` })
  if (field.length > 0 || values.length > 0) {
    values.push(field)
    records.push({ line: recordLine, values })
  }
  const nonEmpty = records.filter((r) => !(r.values.length === 1 && r.values[0] === ""))
  const [head, ...rest] = nonEmpty
  if (head === undefined) throw new PermanentError({ message: `${source}: empty file, expected a header row` })
  const header = head.values.map((h) => h.trim())
  const rows = rest.map((r): CsvRow => {
    if (r.values.length !== header.length) {
      throw new PermanentError({ message: `${source}: line ${r.line} has ${r.values.length} fields, the header has ${header.length}` })
    }
    return { line: r.line, fields: Object.fromEntries(header.map((h, i) => [h, r.values[i]!])) }
  })
  return { header, rows }
}

/** Quotes a value for a CSV row when it needs it. */
export const csvField = (value: string | number): string => {
  const s = String(value)
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}
