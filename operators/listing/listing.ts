/**
 * Listing: drafts the marketplace listing for a mocked-up design with a template writer
 * (title, five bullets, thirteen tags, description), varied by a seeded choice so
 * listings do not all read alike, and stores the draft.
 */
import { Effect, Schema } from "effect"
import { decodeConfig, map, type SettingsInput, type StreamDef } from "../../runtime/topology.ts"
import { listingIdOf } from "../ids.ts"
import type { Idea, Listing, MockupSet } from "../schemas.ts"
import { Store } from "../store/store.ts"

export const ListingConfig = Schema.Struct({
  marketplace: Schema.optionalWith(Schema.NonEmptyString, { default: () => "export" }).annotations({ description: "where the listing goes" }),
  priceCents: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 2499 }).annotations({ description: "list price" }),
  product: Schema.optionalWith(Schema.NonEmptyString, { default: () => "T-Shirt" }).annotations({ description: "the product noun used in copy" })
})

const hash = (s: string) => [...s].reduce((h, c) => (Math.imul(h, 31) + c.charCodeAt(0)) >>> 0, 7)
const pick = <A>(options: ReadonlyArray<A>, seed: string, salt: string): A => options[hash(seed + salt) % options.length]!
const titleCase = (s: string) => s.toLowerCase().replace(/(^|[\s-])\p{L}/gu, (m) => m.toUpperCase())

const audience = (idea: Idea) => idea.niche ?? idea.signal.category ?? "fans"
const occasion = (idea: Idea) => (typeof idea.signal.metadata["occasion"] === "string" ? (idea.signal.metadata["occasion"] as string) : undefined)

/** Up to 13 tags of at most 20 characters, most specific first, no duplicates. */
export const tagsFor = (idea: Idea, product: string): Array<string> => {
  const candidates = [
    ...idea.keyPhrase.toLowerCase().split(/\s+/).filter((w) => w.length > 3),
    idea.keyPhrase.toLowerCase(),
    ...idea.signal.tags,
    audience(idea),
    occasion(idea) ?? "",
    `${audience(idea)} gift`,
    `funny ${product.toLowerCase()}`,
    "graphic tee",
    "gift idea",
    "trending design",
    "unisex shirt",
    "typography shirt",
    "birthday gift",
    "novelty shirt"
  ]
  const out: Array<string> = []
  for (const raw of candidates) {
    const tag = raw.toLowerCase().replace(/[^\p{L}\p{N}\s'-]/gu, "").replace(/\s+/g, " ").trim()
    if (tag.length < 3 || tag.length > 20 || out.includes(tag)) continue
    out.push(tag)
    if (out.length === 13) break
  }
  return out
}

export const writeListing = (set: MockupSet, c: typeof ListingConfig.Type): Listing => {
  const idea = set.artwork.idea
  const phrase = titleCase(idea.keyPhrase)
  const who = titleCase(audience(idea))
  const when = occasion(idea)
  const seed = idea.ideaId
  const title = [`${phrase} ${c.product}`, when ? `${when} Gift for ${who}` : `Gift for ${who}`, pick(["Funny Graphic Tee", "Trendy Typography Shirt", "Unisex Statement Tee"], seed, "t")]
    .join(" - ")
    .slice(0, 140)
  const ideaId = idea.ideaId
  return {
    listingId: listingIdOf(ideaId, c.marketplace),
    ideaId,
    marketplace: c.marketplace,
    title,
    bullets: [
      `${pick(["Bold", "Clean", "Eye-catching"], seed, "b1")} "${phrase}" typography, printed sharp at 300 DPI`,
      when ? `Made for ${when}: a gift ${who.toLowerCase()} will actually wear` : `Made for ${who.toLowerCase()} who like to say it loud`,
      "Soft, lightweight unisex fit; pre-shrunk cotton blend",
      `Available in ${set.mockups.map((m) => m.colorway.replace(/-/g, " ")).join(" and ")}`,
      "Printed on demand and shipped from the nearest print partner"
    ],
    description: `${phrase}. ${pick(["A conversation starter", "An instant favourite", "A shirt with something to say"], seed, "d")} for ${who.toLowerCase()}${when ? ` ahead of ${when}` : ""}. Designed from what people are talking about right now, typeset in a clean, bold layout that reads from across the room.`,
    tags: tagsFor(idea, c.product),
    priceCents: c.priceCents,
    mockups: set
  }
}

export const listing = (
  config: typeof ListingConfig.Encoded,
  io: { readonly from: StreamDef<MockupSet>; readonly to: StreamDef<Listing> },
  settings?: SettingsInput
) => {
  const c = decodeConfig("listing", ListingConfig, config)
  return map({
    name: "listing",
    kind: "listing",
    ...io,
    settings,
    config: c,
    run: (set) =>
      Effect.gen(function* () {
        const draft = writeListing(set, c)
        yield* (yield* Store).upsertListings([
          {
            id: draft.listingId,
            ideaId: draft.ideaId,
            marketplace: draft.marketplace,
            externalId: null,
            url: null,
            title: draft.title,
            description: draft.description,
            tags: draft.tags,
            status: "draft",
            performance: {},
            publishedAt: null
          }
        ])
        return draft
      })
  })
}
