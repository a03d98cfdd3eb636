/**
 * The template writer: the embedded default, and the LLM writer's fallback. Title, bullets,
 * tags and description from the idea's own facts (its phrase, niche, occasion) and the
 * artwork's (colourways shown, print file size), varied by a seeded choice so listings do
 * not all read alike. It claims nothing it does not know: no material, fit, sizing or
 * shipping promises, which depend on the product the seller picks at the marketplace.
 */
import type { Idea, MockupSet } from "../schemas.ts"
import { fitToRules, type ListingText, rulesFor, type Marketplace } from "./rules.ts"

const hash = (s: string) => [...s].reduce((h, c) => (Math.imul(h, 31) + c.charCodeAt(0)) >>> 0, 7)
const pick = <A>(options: ReadonlyArray<A>, seed: string, salt: string): A => options[hash(seed + salt) % options.length]!
const titleCase = (s: string) => s.toLowerCase().replace(/(^|[\s-])\p{L}/gu, (m) => m.toUpperCase())

export const audience = (idea: Idea) => idea.niche ?? idea.signal.category ?? "fans"
export const occasion = (idea: Idea) =>
  typeof idea.signal.metadata["occasion"] === "string" ? (idea.signal.metadata["occasion"] as string) : undefined

/** Tag candidates, most specific first; `fitToRules` filters them to the marketplace's rules. */
const tagCandidates = (idea: Idea, product: string): Array<string> => [
  ...idea.keyPhrase.toLowerCase().split(/\s+/).filter((w) => w.length > 3),
  idea.keyPhrase.toLowerCase(),
  ...idea.signal.tags,
  audience(idea),
  occasion(idea) ?? "",
  `${audience(idea)} gift`,
  `${product.toLowerCase()} design`,
  "graphic tee",
  "gift idea",
  "typography design",
  "text design",
  "statement design"
].map((t) => t.toLowerCase().replace(/[^\p{L}\p{N}\s'-]/gu, "").replace(/\s+/g, " ").trim()).filter((t) => t.length >= 3)

export interface WriteRequest {
  readonly set: MockupSet
  readonly marketplace: Marketplace
  /** The product noun used in copy, e.g. "T-Shirt". */
  readonly product: string
}

export const templateText = ({ set, marketplace, product }: WriteRequest): ListingText => {
  const idea = set.artwork.idea
  const phrase = titleCase(idea.keyPhrase)
  const who = titleCase(audience(idea))
  const when = occasion(idea)
  const seed = idea.ideaId
  const colorways = [...new Set(set.mockups.map((m) => m.colorway.replace(/-/g, " ")))]
  const art = set.artwork
  const text: ListingText = {
    title: [`${phrase} ${product}`, when ? `${when} Gift for ${who}` : `Gift for ${who}`, pick(["Graphic Tee", "Typography Design", "Statement Print"], seed, "t")].join(
      " - "
    ),
    bullets: [
      `${pick(["Bold", "Clean", "Simple"], seed, "b1")} "${phrase}" typography`,
      when ? `Made for ${when}, for ${who.toLowerCase()}` : `Made for ${who.toLowerCase()}`,
      `Shown in ${colorways.join(" and ")}`,
      `Printed from a ${art.width} x ${art.height} px file at ${art.dpi} DPI`,
      `A design about "${idea.keyPhrase}", a topic trending now`
    ],
    description: `${phrase}. ${pick(["A design", "A typographic design", "A text design"], seed, "d")} for ${who.toLowerCase()}${when ? ` ahead of ${when}` : ""}, set in a bold layout and shown here in ${colorways.join(" and ")}.`,
    tags: tagCandidates(idea, product)
  }
  return fitToRules(text, rulesFor(marketplace))
}
