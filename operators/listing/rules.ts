/**
 * What each marketplace accepts in a listing's text, as data: the listing writers fit their
 * text to it and the LLM writer's answer is checked against it. One entry per marketplace
 * of `MARKETPLACES`; the publishers read the same variable (`parseMarketplaces`).
 *
 * Sources (read December 2026):
 * - Etsy: Open API v3 createDraftListing (`title`: letters, numbers, punctuation, math
 *   symbols, spaces, ™©®, regex /[^\p{L}\p{Nd}\p{P}\p{Sm}\p{Zs}™©®]/u, `%`, `:`, `&`, `+` at
 *   most once each; `tags`: letters, numbers, spaces, `-`, `'`, ™©®, regex
 *   /[^\p{L}\p{Nd}\p{Zs}\-'™©®]/u), and Etsy's seller handbook: title at most 140
 *   characters, at most 13 tags of at most 20 characters.
 * - Amazon Merch on Demand: the "Add details" form of merch.amazon.com: title 60, brand 50,
 *   two "key product features" bullets of 256 characters each, description 2,000.
 *   There are no tags (search terms are not a Merch field).
 * - Redbubble: no public API and no published field limits (help.redbubble.com documents
 *   none; its tag-spam rules forbid repeated and numbered tags, "What is Tag Spamming").
 *   The upload form takes up to 15 tags; we write at most 13 (the Listing schema's cap),
 *   Etsy's title cap and Amazon's description cap, so one text fits every sheet.
 * - Printify: createProduct (developers.printify.com, "Create a new product") takes
 *   `title`, `description` (HTML allowed) and `tags`, with no documented limits; the title
 *   and tags are "also published to the sales channel" (usually an Etsy shop), so Etsy's
 *   rules apply.
 * - export: the embedded default's bundle is meant for bulk sheets: Etsy's rules, five bullets.
 * Etsy, Printify and Redbubble have no bullet field: the five bullets (our layout, 256
 * characters each, as Amazon's) are there for a publisher to put in the description.
 */
import { Schema } from "effect"

/** A marketplace's name as `MARKETPLACES` and the publishers spell it (`etsy`, `amazon-merch`, ...). */
export const Marketplace = Schema.String.pipe(
  Schema.pattern(/^[a-z][a-z0-9-]*$/, { message: () => "a marketplace name is lowercase letters, digits and '-'" })
)
export type Marketplace = typeof Marketplace.Type

export interface MarketplaceRules {
  readonly title: {
    readonly max: number
    /** Characters the marketplace refuses in a title. */
    readonly forbidden?: RegExp
    /** Characters allowed at most once per title. */
    readonly once?: ReadonlyArray<string>
  }
  /** `max: 0`: the marketplace has no tags. */
  readonly tags: { readonly max: number; readonly maxLength: number; readonly forbidden?: RegExp }
  /** Exactly `count` bullets, so a bulk sheet's bullet columns always line up. */
  readonly bullets: { readonly count: number; readonly maxLength: number }
  readonly description: { readonly max: number }
}

const ETSY_TITLE_FORBIDDEN = /[^\p{L}\p{Nd}\p{P}\p{Sm}\p{Zs}™©®]/u
const ETSY_TAG_FORBIDDEN = /[^\p{L}\p{Nd}\p{Zs}\-'™©®]/u
/** Etsy documents no description limit; this bounds what a writer may produce. */
const LONG_DESCRIPTION = 5_000

const etsy: MarketplaceRules = {
  title: { max: 140, forbidden: ETSY_TITLE_FORBIDDEN, once: ["%", ":", "&", "+"] },
  tags: { max: 13, maxLength: 20, forbidden: ETSY_TAG_FORBIDDEN },
  bullets: { count: 5, maxLength: 256 },
  description: { max: LONG_DESCRIPTION }
}

/** The marketplaces whose rules are written down here. */
export const KNOWN_MARKETPLACES = ["etsy", "printify", "redbubble", "amazon-merch", "export"] as const

export const MARKETPLACE_RULES: Record<(typeof KNOWN_MARKETPLACES)[number], MarketplaceRules> = {
  etsy,
  printify: etsy,
  export: etsy,
  redbubble: { ...etsy, description: { max: 2_000 } },
  "amazon-merch": {
    title: { max: 60 },
    tags: { max: 0, maxLength: 0 },
    bullets: { count: 2, maxLength: 256 },
    description: { max: 2_000 }
  }
}

/**
 * A marketplace's rules; one without its own (a publisher added without an entry here) gets
 * Etsy's, the strictest title and tag rules of those above, so its text fits the common sheets.
 */
export const rulesFor = (marketplace: Marketplace): MarketplaceRules =>
  (MARKETPLACE_RULES as Record<string, MarketplaceRules | undefined>)[marketplace] ?? etsy

/** The text a writer produces for one marketplace. */
export const ListingText = Schema.Struct({
  title: Schema.NonEmptyTrimmedString,
  description: Schema.NonEmptyTrimmedString,
  bullets: Schema.Array(Schema.NonEmptyTrimmedString),
  tags: Schema.Array(Schema.NonEmptyTrimmedString)
})
export type ListingText = typeof ListingText.Type

const chars = (s: string) => [...s].length

/** Every rule the text breaks, each as a sentence a person (or a model) can act on; empty when it fits. */
export const ruleViolations = (text: ListingText, rules: MarketplaceRules): Array<string> => {
  const out: Array<string> = []
  const { title, tags, bullets, description } = rules
  if (chars(text.title) > title.max) out.push(`title is ${chars(text.title)} characters; the limit is ${title.max}`)
  const badTitle = title.forbidden === undefined ? null : text.title.match(new RegExp(title.forbidden, "gu"))
  if (badTitle) out.push(`title contains characters the marketplace refuses: ${[...new Set(badTitle)].join(" ")}`)
  for (const c of title.once ?? []) {
    if (text.title.split(c).length > 2) out.push(`title uses "${c}" more than once`)
  }
  if (text.tags.length > tags.max) out.push(`${text.tags.length} tags; at most ${tags.max} are allowed`)
  const seen = new Set<string>()
  for (const tag of text.tags) {
    if (chars(tag) > tags.maxLength) out.push(`tag "${tag}" is ${chars(tag)} characters; the limit is ${tags.maxLength}`)
    if (tags.forbidden?.test(tag)) out.push(`tag "${tag}" contains characters the marketplace refuses (letters, numbers, spaces, - and ' only)`)
    const key = tag.toLowerCase()
    if (seen.has(key)) out.push(`tag "${tag}" is repeated`)
    seen.add(key)
  }
  if (text.bullets.length !== bullets.count) out.push(`${text.bullets.length} bullets; exactly ${bullets.count} are needed`)
  text.bullets.forEach((b, i) => {
    if (chars(b) > bullets.maxLength) out.push(`bullet ${i + 1} is ${chars(b)} characters; the limit is ${bullets.maxLength}`)
  })
  if (chars(text.description) > description.max) out.push(`description is ${chars(text.description)} characters; the limit is ${description.max}`)
  return out
}

/** Cuts `s` to at most `max` characters at a word boundary (never mid-word unless one word is longer). */
export const cutAtWord = (s: string, max: number): string => {
  const cp = [...s]
  if (cp.length <= max) return s
  const cut = cp.slice(0, max + 1).join("")
  const space = cut.lastIndexOf(" ")
  return (space > max / 2 ? cut.slice(0, space) : cp.slice(0, max).join("")).replace(/[\s,.:;&+%-]+$/u, "")
}

/**
 * The text made to fit: forbidden characters removed, repeated once-only characters
 * dropped after the first, fields cut at word boundaries, tags filtered and capped. The
 * template writer's output always passes `ruleViolations` after this.
 */
export const fitToRules = (text: ListingText, rules: MarketplaceRules): ListingText => {
  const { title, tags, bullets, description } = rules
  let t = title.forbidden === undefined ? text.title : text.title.replace(new RegExp(title.forbidden, "gu"), "")
  for (const c of title.once ?? []) {
    const first = t.indexOf(c)
    if (first >= 0) t = t.slice(0, first + 1) + t.slice(first + 1).split(c).join("")
  }
  const seen = new Set<string>()
  const fittedTags: Array<string> = []
  for (const raw of text.tags) {
    const tag = (tags.forbidden === undefined ? raw : raw.replace(new RegExp(tags.forbidden, "gu"), "")).replace(/\s+/g, " ").trim()
    if (tag.length === 0 || chars(tag) > tags.maxLength || seen.has(tag.toLowerCase())) continue
    seen.add(tag.toLowerCase())
    fittedTags.push(tag)
    if (fittedTags.length >= tags.max) break
  }
  return {
    title: cutAtWord(t.replace(/\s+/g, " ").trim(), title.max),
    description: cutAtWord(text.description, description.max),
    bullets: text.bullets.slice(0, bullets.count).map((b) => cutAtWord(b, bullets.maxLength)),
    tags: tags.max === 0 ? [] : fittedTags
  }
}

/**
 * `MARKETPLACES` (comma-separated) to the marketplaces to draft for; unset or empty means
 * `export`, so `npm start` needs no account. An unknown name is an error naming it.
 */
export const parseMarketplaces = (value: string | undefined): readonly [Marketplace, ...Array<Marketplace>] => {
  const names = [...new Set((value ?? "").split(",").map((v) => v.trim().toLowerCase()).filter(Boolean))]
  const bad = names.filter((n) => !Schema.is(Marketplace)(n))
  if (bad.length > 0) throw new Error(`MARKETPLACES: ${bad.map((n) => JSON.stringify(n)).join(", ")} is not a marketplace name (lowercase letters, digits and '-')`)
  return names.length === 0 ? ["export"] : (names as [Marketplace, ...Array<Marketplace>])
}
