/**
 * Text normalization and PII purging for signals: pure functions, no I/O.
 *
 * `normalizeText` makes equal-looking text equal (entities, Unicode compatibility forms,
 * invisible characters, whitespace); `purgePii` replaces personal data with tokens;
 * `contentHash` keys dedupe and the store on the result, independent of the source, so
 * the same headline from Reddit and from an RSS feed is one signal.
 *
 * The PII patterns are heuristics tuned for headlines and short posts: they must catch
 * the common forms and leave years, prices, times, scores ("10-3"), dates, versions and
 * hashtags alone. Where the two goals conflict they favour leaving the text untouched
 * (a house number that looks like a year, a bare 7-digit number) and say so below.
 */
import { createHash } from "node:crypto"
import { PermanentError } from "../../runtime/errors.ts"
import type { Signal } from "../schemas.ts"

// ---------------------------------------------------------------------------------------
// Text

const NAMED_ENTITIES: Readonly<Record<string, string>> = {
  amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: "\u00a0", shy: "\u00ad",
  hellip: "\u2026", mdash: "\u2014", ndash: "\u2013", lsquo: "\u2018", rsquo: "\u2019",
  sbquo: "\u201a", ldquo: "\u201c", rdquo: "\u201d", bdquo: "\u201e", laquo: "\u00ab",
  raquo: "\u00bb", bull: "\u2022", middot: "\u00b7", copy: "\u00a9", reg: "\u00ae",
  trade: "\u2122", deg: "\u00b0", euro: "\u20ac", pound: "\u00a3", yen: "\u00a5",
  cent: "\u00a2", times: "\u00d7", divide: "\u00f7", eacute: "\u00e9", egrave: "\u00e8",
  agrave: "\u00e0", ccedil: "\u00e7", uuml: "\u00fc", ouml: "\u00f6", auml: "\u00e4",
  szlig: "\u00df", ntilde: "\u00f1", zwj: "\u200d", zwnj: "\u200c"
}

const ENTITY = /&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|([a-zA-Z]{2,8}));/g

const decodeEntitiesOnce = (text: string): string =>
  text.replace(ENTITY, (whole, dec: string | undefined, hex: string | undefined, name: string | undefined) => {
    if (name !== undefined) return NAMED_ENTITIES[name] ?? whole
    const code = dec !== undefined ? Number.parseInt(dec, 10) : Number.parseInt(hex!, 16)
    const valid = code > 0 && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff)
    return valid ? String.fromCodePoint(code) : whole
  })

/** Decodes HTML entities; feeds often escape twice (`&amp;#39;`), so up to three passes. */
const decodeEntities = (text: string): string => {
  let current = text
  for (let pass = 0; pass < 3 && current.includes("&"); pass++) {
    const next = decodeEntitiesOnce(current)
    if (next === current) break
    current = next
  }
  return current
}

// C0/C1 controls other than whitespace, zero-width and bidi formatting characters, soft
// hyphen, invisible math operators. ZWJ (U+200D) is handled apart: it builds emoji.
const INVISIBLE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u00ad\u180e\u200b\u200c\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g
// Only a ZWJ between two pictographs (👨‍👩‍👧) is kept; anywhere else it hides text differences.
const STRAY_ZWJ = /(?<!\p{Extended_Pictographic}\ufe0f?)\u200d|\u200d(?!\p{Extended_Pictographic})/gu

/** NFKC, HTML entities decoded, invisible characters removed, whitespace collapsed, trimmed. */
export const normalizeText = (text: string): string =>
  decodeEntities(text)
    .normalize("NFKC")
    .replace(INVISIBLE, "")
    .replace(STRAY_ZWJ, "")
    .replace(/\s+/gu, " ")
    .trim()

// ---------------------------------------------------------------------------------------
// PII

export const PII_TOKENS = { email: "[email]", phone: "[phone]", address: "[address]", handle: "[handle]" } as const

// URLs are left alone: their digits and slashes are not phone numbers or u/handles.
const URL = /\b(?:https?:\/\/|www\.)[^\s<>"]+/giu

// user@mastodon.social would otherwise become "@[email]".
const FEDIVERSE_HANDLE = /(?<![\p{L}\p{N}_])@[\p{L}\p{N}_.]+@[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)+/gu
const EMAIL = /(?<![\p{L}\p{N}._%+-])[\p{L}\p{N}._%+-]+@[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)*\.\p{L}{2,}/gu
// "jane [at] example [dot] com", "jane(at)example(dot)com"
const OBFUSCATED_EMAIL =
  /(?<![\p{L}\p{N}._%+-])[\p{L}\p{N}._%+-]+\s*[[({]\s*at\s*[\])}]\s*[\p{L}\p{N}-]+(?:\s*(?:[[({]\s*dot\s*[\])}]|\.)\s*[\p{L}\p{N}-]+)*\s*(?:[[({]\s*dot\s*[\])}])\s*\p{L}{2,}/giu

// @name (X, Instagram, TikTok...): a letter or '_' first, so "@5pm" and "@ home" stay; a
// trailing '.' is the sentence's. Not after a word character (e-mails, "C@t").
const AT_HANDLE = /(?<![\p{L}\p{N}_@.\/&])@[A-Za-z_](?:[A-Za-z0-9_]|\.(?=[A-Za-z0-9_])){0,29}(?![A-Za-z0-9_@])/gu
// u/name and /u/name (Reddit users); r/subreddit is a community, not a person, and stays.
const REDDIT_USER = /(?<![\p{L}\p{N}_\/])\/?[uU]\/[A-Za-z0-9_-]{3,20}(?![A-Za-z0-9_\/-])/gu

// Phone candidates; each is checked by `phoneToken` (digit count, not a date) before it goes.
const PHONE_PATTERNS: ReadonlyArray<RegExp> = [
  // International: +44 20 7946 0958, +1 (555) 123-4567, +33 (0)1 23 45 67 89
  /(?<![\p{L}\p{N}_+])\+\d{1,3}(?:[\s.\/-]?\(\d{1,4}\))?(?:[\s.\/-]?\d{1,5}){2,6}(?![\p{L}\p{N}]|[.\/-]\d)/gu,
  // North American: (555) 123-4567, 555-123-4567, 555.123.4567, 1-800-555-0199.
  // Area codes start with 2-9, which keeps "100-200-3000"-like runs out.
  /(?<![\p{L}\p{N}_+.,\/-])(?:1[\s.-]?)?(?:\(\s*[2-9]\d\d\s*\)\s*|[2-9]\d\d[\s.-])\d{3}[\s.-]\d{4}(?![\p{L}\p{N}]|[.,\/-]\d)/gu,
  // National trunk prefix 0 (UK, DE, FR, NL, AU...): 020 7946 0958, 030/12345678,
  // 06 12 34 56 78, 0171 1234567, and 00 international prefixes: 0049 30 1234567.
  /(?<![\p{L}\p{N}_+.,\/-])0\d{1,4}(?:[\s.\/-]?\d{2,8}){1,5}(?![\p{L}\p{N}]|[.,\/-]\d)/gu
]
// A number right after a cue word is a phone number even without grouping ("text 5551234567").
const PHONE_AFTER_CUE =
  /\b((?:call|phone|tel|telephone|mobile|mob|cell|whatsapp|text|txt|sms|fax|ph)\b\.?\s*[:#]?\s*(?:me\s+)?(?:(?:at|on)\s+)?)(\+?\(?\d[\d\s().\/-]{5,}\d)/giu

const DATE_PREFIX = /^(?:\d{1,2}[.\/-]\d{1,2}[.\/-]\d{2,4}|\d{4}[.\/-]\d{1,2}[.\/-]\d{1,2})(?!\d)/

const digitCount = (s: string) => s.replace(/\D/g, "").length

/**
 * `[phone]` for a candidate with `min`..15 digits that does not start like a date. A run
 * longer than any phone number ("+44 20 7946 0958 2024") has the phone at its head: its
 * trailing groups are given back as text.
 */
const phoneToken = (candidate: string, min: number): string => {
  let head = candidate
  while (digitCount(head) > 15) {
    const shorter = head.replace(/[\s.\/-]+\(?\d+\)?$/, "")
    if (shorter === head) return candidate
    head = shorter
  }
  const valid = digitCount(head) >= min && !DATE_PREFIX.test(head.replace(/^\+/, ""))
  return valid ? PII_TOKENS.phone + candidate.slice(head.length) : candidate
}

const SUFFIX_WORDS = [
  "Street", "St", "Avenue", "Ave", "Av", "Road", "Rd", "Boulevard", "Blvd", "Lane", "Ln", "Drive", "Dr",
  "Ct", "Place", "Pl", "Terrace", "Ter", "Way", "Parkway", "Pkwy", "Highway", "Hwy", "Circle",
  "Cir", "Square", "Sq", "Trail", "Trl", "Crescent", "Cres", "Alley", "Plaza"
]
const SUFFIX = SUFFIX_WORDS.flatMap((w) => [w, w.toUpperCase()]).join("|")
const ABBREVIATED_SUFFIX = "st|rd|ave|blvd|ln|dr|ct|pkwy|hwy"
// Words that follow a number in headlines ("10 Best ...", "3 Ways ...", "4 Wheel Drive",
// "2 TB Hard Drive") and would otherwise read as a street name. ("Court", "Close" and
// "Row" are left out of the suffixes for the same reason: "9 Supreme Court justices".)
const NOT_A_STREET_NAME =
  "Best|Top|Better|Worst|Easy|Easiest|Simple|Quick|Fast|Great|Good|True|Only|Right|Wrong|New|More|Most|Other|Free|Cute|Funny|Cool|Big|Small|Little|Ways|Things|Reasons|Tips|Tricks|Days|Weeks|Months|Years|Hours|Minutes|Times|People|Places|Ideas|Facts|Signs|Steps|Rules|Mistakes|Habits|Questions|Photos|Pics|Shirts|Designs|Gifts|Million|Billion|Thousand|Hundred|Percent|Dollars|Miles|Wheel|Hard|Test|Flash|Lane|Way|Point|Star|Of|In|On|At|And|Or|The|A|TB|GB|MB|KB|Mph|Km|Kg|Lb|Lbs|Oz|Ft|Hz"
// "St" is also Saint: "10 Cute St. Patrick's Day Shirts".
const SAINTS = "Patrick|Valentine|Louis|Paul|Petersburg|Andrew|George|David|John|Nicholas|Lucia|Kitts|Vincent|Tropez|Moritz|Helena|Jude|Mary|Francis|Anthony|Joseph|Pete|Albans|Ives"
const NOT_SAINT = `(?!\\.?\\s+(?:[A-Z][a-z]+(?:'s|’s)|${SAINTS})\\b)`
const NOT_SAINT_LOWER = `(?!\\.?\\s+(?:[a-z]+(?:'s|’s)|${SAINTS.toLowerCase()})\\b)`
const HOUSE_NUMBER = "(?<![\\p{L}\\p{N}_.,:\\/$€£+-])(?!(?:19|20)\\d\\d\\b)\\d{1,6}[A-Za-z]?(?:-\\d{1,4})?"
// A trailing '.' is only taken inside the address ("St. Suite 4"), never the sentence's.
const UNIT = "(?:\\.?,?\\s*(?:Apt|Apartment|Suite|Ste|Unit|Fl|Floor|apt|suite|ste|unit|fl|floor|#)\\.?\\s*#?[A-Za-z0-9-]{1,6}\\b)?"
const DIRECTION = "(?:(?:[NSEW]|N[EW]|S[EW]|North|South|East|West)\\.?\\s+)?"

const ADDRESS_PATTERNS: ReadonlyArray<RegExp> = [
  // 1600 Pennsylvania Avenue NW, 221B Baker Street, 350 5th Ave, Suite 3400
  new RegExp(
    `${HOUSE_NUMBER}\\s+${DIRECTION}(?:(?!(?:${NOT_A_STREET_NAME})\\b)(?:[A-Z][\\p{L}'’-]*|\\d{1,3}(?:st|nd|rd|th))\\.?\\s+){1,3}(?:${SUFFIX})\\b${NOT_SAINT}(?:\\.?\\s+(?:[NSEW]|N[EW]|S[EW])\\b)?${UNIT}`,
    "gu"
  ),
  // 42 elm st (lowercase only with an abbreviated suffix: "4 wheel drive" stays)
  new RegExp(
    `${HOUSE_NUMBER}\\s+(?:(?!(?:${NOT_A_STREET_NAME.toLowerCase()})\\b)[a-z][a-z'-]*\\s+){1,2}(?:${ABBREVIATED_SUFFIX})\\b${NOT_SAINT_LOWER}${UNIT}`,
    "gu"
  ),
  // 12 rue de Rivoli, 8 bis avenue des Champs-Élysées
  /(?<![\p{L}\p{N}_.,\/-])\d{1,4}(?:\s?(?:bis|ter))?,?\s+(?:rue|avenue|boulevard|bd|place|chemin|allée|impasse|quai|cours)\s+(?:(?:de|du|des|la|le|les|l'|d')\s*)*[\p{Lu}][\p{L}'-]*(?:\s+[\p{Lu}][\p{L}'-]*){0,3}/gu,
  // Hauptstraße 5, Lindenstr. 12a, Mühlenweg 3
  /(?<![\p{L}\p{N}_])[\p{Lu}][\p{L}-]*(?:straße|strasse|str\.|gasse|weg|allee|platz|damm|ufer)\s+\d{1,4}[a-z]?(?![\p{L}\p{N}])/gu,
  // P.O. Box 1234
  /\bP\.?\s?O\.?\s*Box\s+\d{1,6}\b/giu
]

const purgeSegment = (text: string): string => {
  let out = text
    .replace(FEDIVERSE_HANDLE, PII_TOKENS.handle)
    .replace(EMAIL, PII_TOKENS.email)
    .replace(OBFUSCATED_EMAIL, PII_TOKENS.email)
    .replace(AT_HANDLE, PII_TOKENS.handle)
    .replace(REDDIT_USER, PII_TOKENS.handle)
    .replace(PHONE_AFTER_CUE, (_, cue: string, number: string) => cue + phoneToken(number, 7))
  for (const pattern of PHONE_PATTERNS) out = out.replace(pattern, (m) => phoneToken(m, 8))
  for (const pattern of ADDRESS_PATTERNS) out = out.replace(pattern, PII_TOKENS.address)
  return out
}

/**
 * Replaces e-mail addresses, phone numbers, street addresses and user handles with
 * `[email]`, `[phone]`, `[address]`, `[handle]`. URLs are kept as they are.
 */
export const purgePii = (text: string): string => {
  let out = ""
  let last = 0
  for (const match of text.matchAll(URL)) {
    out += purgeSegment(text.slice(last, match.index)) + match[0]
    last = match.index + match[0].length
  }
  return out + purgeSegment(text.slice(last))
}

// ---------------------------------------------------------------------------------------
// Signals

const cleanContent = (content: string): string => purgePii(normalizeText(content))

const hash32 = (clean: string): string => createHash("sha256").update(clean.toLowerCase()).digest("hex").slice(0, 32)

/**
 * First 32 hex characters of SHA-256 over the normalized, PII-purged, lowercased content.
 * Nothing of the source enters it: the same headline from two sources has one hash.
 */
export const contentHash = (signal: Pick<Signal, "content">): string =>
  hash32(cleanContent(signal.content))

/** Lowercase, trimmed, without leading '#'; a tag that is PII is no topic and is dropped. */
const normalizeTags = (tags: ReadonlyArray<string>): Array<string> => {
  const out = new Set<string>()
  for (const tag of tags) {
    const clean = normalizeText(tag).replace(/^#+/, "").trim().toLowerCase()
    if (clean.length > 0 && purgePii(clean) === clean) out.add(clean)
  }
  return [...out]
}

const cleanValue = (value: unknown): unknown => {
  if (typeof value === "string") return cleanContent(value)
  if (Array.isArray(value)) return value.map(cleanValue)
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, cleanValue(v)]))
  }
  return value
}

/**
 * The signal with normalized, PII-purged content and metadata strings, clean tags and
 * its `contentHash`. Throws a PermanentError when nothing visible is left of the content
 * (a post of only zero-width characters): no retry can give it a text.
 */
export const normalizeSignal = (signal: Signal): Signal => {
  const content = cleanContent(signal.content)
  if (content.length === 0) {
    throw new PermanentError({ message: `content: nothing left after normalization (source ${signal.source}, id ${signal.sourceId})` })
  }
  return {
    ...signal,
    content,
    tags: normalizeTags(signal.tags),
    metadata: cleanValue(signal.metadata) as Signal["metadata"],
    contentHash: hash32(content)
  }
}
