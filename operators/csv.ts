/**
 * CSV as the recordings, custom events and exports use it: RFC 4180 (quoted fields with
 * commas, doubled quotes and line breaks; CRLF or LF; a BOM) read by `csv-parse`. Rows
 * come back as records keyed by the header; a row whose field count differs from the
 * header's is reported with its line number instead of being guessed at.
 */
import { CsvError, parse } from "csv-parse/sync"
import { PermanentError } from "../runtime/errors.ts"

export interface CsvRow {
  /** 1-based line of the row's first character, for error messages. */
  readonly line: number
  readonly fields: Readonly<Record<string, string>>
}

interface Parsed {
  readonly record: Array<string>
  readonly info: { readonly lines: number }
}

// csv-parse reports the line a record ends on; line breaks inside its quoted fields lie before that.
const firstLine = ({ record, info }: Parsed) => info.lines - record.reduce((n, field) => n + (field.match(/[\r\n]/g)?.length ?? 0), 0)

export const parseCsv = (text: string, source = "csv"): { readonly header: ReadonlyArray<string>; readonly rows: ReadonlyArray<CsvRow> } => {
  let records: Array<Parsed>
  try {
    // Field counts are checked below, against the header, with our message. The package's
    // types do not model `info: true` (records come as { record, info }).
    records = parse(text, { bom: true, info: true, skip_empty_lines: true, relax_column_count: true, relax_quotes: true }) as unknown as Array<Parsed>
  } catch (error) {
    if (error instanceof CsvError) throw new PermanentError({ message: `${source}: ${error.message}` })
    throw error
  }
  const [head, ...rest] = records
  if (head === undefined) throw new PermanentError({ message: `${source}: empty file, expected a header row` })
  const header = head.record.map((h) => h.trim())
  const rows = rest.map((r): CsvRow => {
    const line = firstLine(r)
    if (r.record.length !== header.length) {
      throw new PermanentError({ message: `${source}: line ${line} has ${r.record.length} fields, the header has ${header.length}` })
    }
    return { line, fields: Object.fromEntries(header.map((h, i) => [h, r.record[i]!])) }
  })
  return { header, rows }
}

/** Quotes a value for a CSV row when it needs it. */
export const csvField = (value: string | number): string => {
  const s = String(value)
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}
