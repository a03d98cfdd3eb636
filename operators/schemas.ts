/**
 * The domain schemas: what flows on each stream of the graph. Every stream entry is
 * decoded with one of these, so a malformed entry reaches `dlq.<operator>` with the
 * reason instead of reaching operator code.
 */
import { Schema } from "effect"

/**
 * An ISO 8601 timestamp with its zone (Z or an offset) that parses to a real instant. Without
 * a zone, JavaScript reads it in the host's time zone: event times, and so scores and
 * replays, would differ from host to host.
 */
export const IsoTime = Schema.String.pipe(
  Schema.filter((s) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i.test(s) && !Number.isNaN(Date.parse(s)), {
    message: () => "expected an ISO 8601 timestamp with its zone, such as 2026-11-22T10:00:00Z or 2026-11-22T11:00:00+01:00"
  })
).annotations({
  identifier: "IsoTime",
  // Generated values (property tests) are real instants; random strings would never pass the filter.
  arbitrary: () => (fc) => fc.date({ min: new Date("2000-01-01"), max: new Date("2100-01-01"), noInvalidDate: true }).map((d) => d.toISOString())
})

/** 32 hex characters: the first half of a SHA-256 over normalized content. */
export const ContentHash = Schema.String.pipe(Schema.pattern(/^[0-9a-f]{32}$/)).annotations({ identifier: "ContentHash" })

const Count = Schema.Number.pipe(Schema.nonNegative(), Schema.finite())

/** Raw engagement as the source reports it; absent means the source does not have it. */
export const Engagement = Schema.Struct({
  likes: Schema.optional(Count),
  comments: Schema.optional(Count),
  views: Schema.optional(Count),
  shares: Schema.optional(Count),
  /** Net votes (Reddit, Hacker News). */
  score: Schema.optional(Schema.Number.pipe(Schema.finite())),
  /** Reddit's upvote ratio, 0..1. */
  upvoteRatio: Schema.optional(Schema.Number.pipe(Schema.between(0, 1)))
})
export type Engagement = typeof Engagement.Type

/** A trending signal, as every source adapter emits it onto `signals.raw`. */
export const Signal = Schema.Struct({
  /** Adapter kind: reddit, youtube, hackernews, rss, occasions, anniversaries, webhook, replay. */
  source: Schema.NonEmptyTrimmedString,
  /** The item's id at its source (post id, video id, date + occasion). */
  sourceId: Schema.NonEmptyTrimmedString,
  /** The text the idea is made from: a title, a headline, an occasion name. */
  content: Schema.NonEmptyString.pipe(Schema.maxLength(5_000)),
  url: Schema.optional(Schema.String),
  /** Event time: when the signal happened (posted, trended, the occasion's date). */
  capturedAt: IsoTime,
  engagement: Engagement,
  /** Topics, tags, hashtags, subreddit: lowercase, deduplicated by the enricher. */
  tags: Schema.Array(Schema.String),
  locale: Schema.optional(Schema.String),
  /** Community the signal belongs to (subreddit, YouTube category, niche). */
  category: Schema.optional(Schema.String),
  /** For calendar signals: the occasion's date, which drives seasonality. */
  eventDate: Schema.optional(IsoTime),
  metadata: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  /** Set by normalization: the hash dedupe and the store key on. */
  contentHash: Schema.optional(ContentHash)
})
export type Signal = typeof Signal.Type

export const Factors = Schema.Struct({
  freshness: Schema.Number,
  engagement: Schema.Number,
  novelty: Schema.Number,
  communityFit: Schema.Number,
  seasonality: Schema.Number
})
export type Factors = typeof Factors.Type
export type FactorName = keyof Factors
export const FACTOR_NAMES: ReadonlyArray<FactorName> = ["freshness", "engagement", "novelty", "communityFit", "seasonality"]

export const Weights = Schema.Struct({
  freshness: Schema.Number,
  engagement: Schema.Number,
  novelty: Schema.Number,
  communityFit: Schema.Number,
  seasonality: Schema.Number
})
export type Weights = typeof Weights.Type

/** A scored design idea, on `ideas.scored` and `ideas.selected`. */
export const Idea = Schema.Struct({
  ideaId: Schema.UUID,
  signalId: Schema.UUID,
  signal: Signal,
  /** The short phrase a design is typeset from. */
  keyPhrase: Schema.NonEmptyString.pipe(Schema.maxLength(80)),
  title: Schema.NonEmptyString,
  niche: Schema.optional(Schema.String),
  score: Schema.Number,
  factors: Factors,
  weightsVersion: Schema.Int
})
export type Idea = typeof Idea.Type

/** One candidate design of a generation: its seed and the prompt-grammar choices made for it. */
export const CandidateSpec = Schema.Struct({
  seed: Schema.String,
  prompt: Schema.String,
  negativePrompt: Schema.String,
  /** Format template of the prompt grammar (typographic, badge, retro-sunset, ...). */
  format: Schema.String,
  /** The procedural designer's layout and palette where the format implies them. */
  style: Schema.optional(Schema.String),
  palette: Schema.optional(Schema.String)
})
export type CandidateSpec = typeof CandidateSpec.Type

/** A request to the image generator, on `gen.requests`. */
export const GenerationRequest = Schema.Struct({
  idea: Idea,
  /** Seeds rendering: the same idea + seed renders byte-identically. */
  seed: Schema.String,
  prompt: Schema.String,
  negativePrompt: Schema.optional(Schema.String),
  engine: Schema.Literal("procedural", "comfyui"),
  /** The designs to render (N seeds); absent means one, from `seed` and `prompt`. */
  candidates: Schema.optional(Schema.NonEmptyArray(CandidateSpec)),
  /** A refinement: the reviewer's instruction and the generation it refines. */
  refinement: Schema.optional(Schema.Struct({ instruction: Schema.NonEmptyString, parentGenerationId: Schema.UUID }))
})
export type GenerationRequest = typeof GenerationRequest.Type

/** What the quality checks of a print file found (operators/artwork/postprocess.ts). */
export const QualityChecks = Schema.Struct({
  /** Share of the canvas covered by ink (alpha above 1/32). */
  coverage: Schema.Number,
  /** Source pixels to print pixels (1 for vector artwork). */
  upscaleFactor: Schema.Number,
  /** 300 / upscale factor: the resolution the source really has at print size. */
  effectiveDpi: Schema.Number,
  /** Fully transparent pixels between the ink and each canvas edge. */
  margins: Schema.Struct({ top: Schema.Number, right: Schema.Number, bottom: Schema.Number, left: Schema.Number }),
  /** The ink reached the source image's edge: the design is probably cropped. */
  touchesEdge: Schema.Boolean,
  bytes: Schema.Number,
  /** Why the artwork needs a person's look; empty when every check passed. */
  failures: Schema.Array(Schema.String)
})
export type QualityChecks = typeof QualityChecks.Type

/** A rendered, post-processed candidate of a generation. */
export const CandidateArtwork = Schema.Struct({
  candidateId: Schema.UUID,
  seed: Schema.String,
  format: Schema.String,
  printFileKey: Schema.String,
  /** The print at mock-up scale (absent in artwork made before previews). */
  previewKey: Schema.optional(Schema.String),
  checks: QualityChecks
})
export type CandidateArtwork = typeof CandidateArtwork.Type

/** A print-ready design, on `gen.images`. */
export const Artwork = Schema.Struct({
  idea: Idea,
  seed: Schema.String,
  engine: Schema.Literal("procedural", "comfyui"),
  printFileKey: Schema.String,
  printFileUri: Schema.String,
  /** The print at mock-up scale, which mock-ups start from (absent in artwork made before previews). */
  previewKey: Schema.optional(Schema.String),
  width: Schema.Int,
  height: Schema.Int,
  dpi: Schema.Int,
  sha256: Schema.String,
  /** The generation this artwork event reports. */
  generationId: Schema.optional(Schema.UUID),
  /** The idea's pick, whose print file this is: the reviewer's (possibly of an earlier generation), else the best by the checks. */
  candidateId: Schema.optional(Schema.UUID),
  checks: Schema.optional(QualityChecks),
  /** Every candidate of the generation (the pick among them unless a reviewer picked an earlier one), for mock-ups and review. */
  candidates: Schema.optional(Schema.Array(CandidateArtwork)),
  /** Set when a check failed: the idea goes to a person in review with these reasons. */
  reviewReasons: Schema.optional(Schema.Array(Schema.String))
})
export type Artwork = typeof Artwork.Type

export const MockupVariant = Schema.Literal("front", "back")

export const MockupImage = Schema.Struct({
  variant: MockupVariant,
  colorway: Schema.String,
  key: Schema.String,
  uri: Schema.String
})
export type MockupImage = typeof MockupImage.Type

/** An artwork with its mock-ups, on `mockups.ready`. */
export const MockupSet = Schema.Struct({
  artwork: Artwork,
  mockups: Schema.NonEmptyArray(MockupImage)
})
export type MockupSet = typeof MockupSet.Type

/** Which listing writer wrote a listing's text (operators/listing/writer.ts). */
export const WriterName = Schema.Literal("template", "llm")
export type WriterName = typeof WriterName.Type

/** A marketplace listing, on `listings.draft`, `listings.approved` and `listings.published`. */
export const Listing = Schema.Struct({
  listingId: Schema.UUID,
  ideaId: Schema.UUID,
  marketplace: Schema.NonEmptyString,
  title: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(140)),
  /** Up to five; as many as the marketplace takes (Amazon Merch: two). */
  bullets: Schema.Array(Schema.String).pipe(Schema.maxItems(5)),
  description: Schema.String,
  tags: Schema.Array(Schema.String.pipe(Schema.maxLength(20))).pipe(Schema.maxItems(13)),
  priceCents: Schema.Int,
  mockups: MockupSet,
  /** Which writer wrote the text; absent on drafts from before it was recorded. */
  writer: Schema.optional(WriterName),
  /** Set by publishers. */
  externalId: Schema.optional(Schema.String),
  url: Schema.optional(Schema.String),
  publishedAt: Schema.optional(IsoTime)
})
export type Listing = typeof Listing.Type

/**
 * Why an idea waits for a person at the review gate instead of being selected or published
 * on its own (operators/safety/brandSafety.ts): what was found where, and on which list.
 */
export const ReviewReason = Schema.Struct({
  kind: Schema.Literal("trademark", "trademark-near-miss", "blocked-term", "registered-mark", "nsfw", "hate", "tragedy", "artwork-check"),
  /** The words in the text that matched, as written there. */
  found: Schema.String,
  /** The listed name or term they matched. */
  matched: Schema.String,
  /** Where: `idea` or `listing:<marketplace>:<field>`. */
  field: Schema.String,
  /** Which list: `simple-icons`, `built-in`, `seller list`, `obscenity`, `EUIPO`. */
  source: Schema.String
})
export type ReviewReason = typeof ReviewReason.Type

/** Marketplace performance or an A/B result, on `feedback.events`. */
export const FeedbackEvent = Schema.Struct({
  /** Our listing; absent when the source only knows the marketplace's id (`externalId`). */
  listingId: Schema.optional(Schema.UUID),
  /** The marketplace's id of the listing (Etsy listing id, Printify product id): the store resolves it with `marketplace`. */
  externalId: Schema.optional(Schema.NonEmptyString),
  ideaId: Schema.optional(Schema.UUID),
  kind: Schema.Literal("view", "click", "favorite", "add_to_cart", "sale", "ctr", "ab_result"),
  value: Schema.Number,
  /** Event time: when the marketplace counted it (a sale's order time, a counter's reading). */
  occurredAt: IsoTime,
  /** Where it was counted: etsy, printify, redbubble, ... */
  marketplace: Schema.optional(Schema.NonEmptyString),
  /**
   * "cumulative": `value` is a lifetime counter as the marketplace reports it (Etsy `views`,
   * `num_favorers`); the store records its difference to the last value it stored.
   */
  counter: Schema.optional(Schema.Literal("cumulative")),
  payload: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown }))
})
export type FeedbackEvent = typeof FeedbackEvent.Type

/** What the learner decided for one closed event-time day, on `weights.decisions`. */
export const WeightsDecision = Schema.Struct({
  /** The closed day (UTC, YYYY-MM-DD) whose feedback the run learned from. */
  day: Schema.String,
  items: Schema.Int,
  /** The weight version promoted, or null with the reason why not. */
  promotedVersion: Schema.NullOr(Schema.Int),
  reason: Schema.String
})
export type WeightsDecision = typeof WeightsDecision.Type

/** An alert raised or resolved (SLA breach), on `alerts`. */
export const AlertNotice = Schema.Struct({
  name: Schema.String,
  action: Schema.Literal("trigger", "resolve"),
  summary: Schema.String,
  value: Schema.NullOr(Schema.Number),
  threshold: Schema.Number,
  at: IsoTime,
  /** Where it went: pagerduty, webhook (empty: only logged and recorded). */
  sentTo: Schema.Array(Schema.String)
})
export type AlertNotice = typeof AlertNotice.Type
