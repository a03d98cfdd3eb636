/**
 * The built-in lists the brand-safety screen uses beside simple-icons' brand names and
 * obscenity's English profanity dataset. Short on purpose: each is a gap in those two
 * packages, not a copy of them. Sellers extend them with their own list file.
 */

/**
 * Famous marks, franchises and people that simple-icons (a logo set for software and web
 * brands) does not carry, and that get print-on-demand listings taken down most often.
 */
export const BUILT_IN_MARKS = [
  "disney", "marvel", "pokemon", "star wars", "harry potter", "hello kitty", "mickey mouse", "barbie",
  "nfl", "mlb", "nhl", "fifa", "olympics", "super bowl", "lego", "gucci", "chanel", "prada", "louis vuitton", "rolex",
  "harley davidson", "jeep", "ferrari", "batman", "superman", "spider man", "avengers", "peanuts", "snoopy", "sesame street",
  "taylor swift", "beyonce", "elvis presley", "grateful dead", "the beatles"
] as const

/**
 * Words next to a common-word brand that make it the brand rather than the word:
 * "apple logo", "official target merch". See `screenText` for the policy.
 */
export const BRAND_CONTEXT = new Set([
  "logo", "logos", "brand", "branded", "official", "inc", "corp", "company", "store", "trademark", "tm", "merch", "app", "ceo", "fan", "fans"
])

/**
 * simple-icons names that in design text are nearly always something else (a place, a
 * person), found screening real Reddit and Etsy titles: "Hong Kong", "Julia", "Iceland".
 * A seller who needs one lists it.
 */
export const AMBIGUOUS_NAMES = new Set(["kong", "julia", "iceland"])

/** Hate symbols and extremist slogans obscenity's profanity set does not carry. */
export const HATE_TERMS = ["nazi", "neo nazi", "neonazi", "hitler", "heil", "swastika", "kkk", "white power", "1488", "sieg heil"] as const

/**
 * obscenity's dataset mixes profanity and slurs; these of its words are slurs (reason
 * "hate"), the rest profanity or sexual terms (reason "nsfw").
 */
export const OBSCENITY_SLURS = new Set([
  "abo", "abeed", "africoon", "arabush", "boonga", "chingchong", "chink", "dyke", "fag", "kike", "negro", "nigger", "retard", "spastic", "tranny"
])

/**
 * News tragedies a seller must not print on a shirt. Phrases where the word alone has an
 * everyday sense ("shooting star", "dead tired", Day of the Dead) are left out.
 */
export const TRAGEDY_TERMS = [
  "mass shooting", "school shooting", "shooting victims", "massacre", "murder", "murdered", "killed", "terror attack", "terrorist",
  "suicide", "bombing", "genocide"
] as const
