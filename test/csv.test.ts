/** operators/csv.ts over csv-parse: rows keyed by the header, and errors that name the line. */
import { describe, expect, it } from "vitest"
import { csvField, parseCsv } from "../operators/csv.ts"

const message = (text: string) => {
  try {
    parseCsv(text, "events.csv")
  } catch (e) {
    return (e as Error).message
  }
  throw new Error("expected a parse error")
}

describe("parseCsv", () => {
  it("keys rows by the trimmed header, with quoted commas, quotes and line breaks, a BOM and CRLF", () => {
    const { header, rows } = parseCsv('\ufeffname , note\r\n"a, b","say ""hi"""\r\n\r\nc,"two\r\nlines"\r\n')
    expect(header).toEqual(["name", "note"])
    expect(rows.map((r) => r.fields)).toEqual([
      { name: "a, b", note: 'say "hi"' },
      { name: "c", note: "two\r\nlines" }
    ])
  })

  it("gives each row the line it starts on", () => {
    const { rows } = parseCsv('a,b\n1,"x\ny"\n\n2,z\n')
    expect(rows.map((r) => r.line)).toEqual([2, 5])
  })

  it("names the line of a row with the wrong field count, an unclosed quote, and an empty file", () => {
    expect(message('a,b\n1,"x\ny"\n2\n')).toBe("events.csv: line 4 has 1 fields, the header has 2")
    expect(message('a,b\n1,2\n"3,4\n')).toMatch(/^events\.csv: .*line 3/)
    expect(message("\n\n")).toBe("events.csv: empty file, expected a header row")
  })

  it("quotes a written field only when it needs it", () => {
    expect([csvField("plain"), csvField(3), csvField('a "b", c')]).toEqual(["plain", "3", '"a ""b"", c"'])
  })
})
