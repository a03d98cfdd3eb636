/**
 * The pipeline, declared. Edit this file to add a source or tune an operator;
 * `npx desainz topology` prints the result. Each stream carries one schema, and each
 * operator is wired `{ from, to }`: connecting a stream of the wrong type does not compile.
 */
import { Layer } from "effect"
import { ideasApi } from "./operators/api/ideas.ts"
import { listingsApi } from "./operators/api/listings.ts"
import { dedupe } from "./operators/ingest/dedupe.ts"
import { enrich } from "./operators/ingest/enrich.ts"
import { generate } from "./operators/artwork/generate.ts"
import * as ImageEngine from "./operators/artwork/imageEngine.ts"
import { GenerationProgress } from "./operators/artwork/progress.ts"
import { artworkApi } from "./operators/api/artwork.ts"
import { listing } from "./operators/listing/listing.ts"
import { parseMarketplaces } from "./operators/listing/rules.ts"
import * as ListingWriter from "./operators/listing/writer.ts"
import { mockup } from "./operators/artwork/mockup.ts"
import { mockedUp } from "./operators/artwork/mockedUp.ts"
import { prompt } from "./operators/artwork/prompt.ts"
import { amazonMerch } from "./operators/publishers/amazonMerch.ts"
import { etsy } from "./operators/publishers/etsy.ts"
import { exportBundle } from "./operators/publishers/export.ts"
import { Marketplace } from "./operators/publishers/marketplace.ts"
import { printify } from "./operators/publishers/printify.ts"
import { publish } from "./operators/publishers/publish.ts"
import { redbubble } from "./operators/publishers/redbubble.ts"
import { Credentials } from "./operators/marketplaces/credentials.ts"
import { etsyCommand } from "./operators/marketplaces/etsyConnect.ts"
import * as Http from "./runtime/httpClient.ts"
import { review } from "./operators/listing/review.ts"
import * as BrandSafety from "./operators/safety/brandSafety.ts"
import { AlertNotice, Artwork, FeedbackEvent, GenerationRequest, Idea, Listing, MockupSet, Signal, WeightsDecision } from "./operators/schemas.ts"
import { feedbackApi } from "./operators/api/feedback.ts"
import * as Alerting from "./operators/feedback/alerting.ts"
import { feedbackImportCommand } from "./operators/feedback/csvImport.ts"
import { etsyFeedback } from "./operators/feedback/etsy.ts"
import { experiments, promotion } from "./operators/feedback/experiments.ts"
import { learner } from "./operators/feedback/learner.ts"
import { printifyFeedback } from "./operators/feedback/printify.ts"
import { recordFeedback } from "./operators/feedback/record.ts"
import { slaAlert } from "./operators/feedback/slaAlert.ts"
import { Etsy } from "./operators/marketplaces/etsy.ts"
import { score } from "./operators/scoring/score.ts"
import { select } from "./operators/scoring/select.ts"
import { services } from "./operators/services.ts"
import { anniversaries } from "./operators/sources/anniversaries.ts"
import { hackernews } from "./operators/sources/hackernews.ts"
import { occasions } from "./operators/sources/occasions.ts"
import * as RateLimit from "./operators/sources/rateLimit.ts"
import { reddit } from "./operators/sources/reddit.ts"
import { rss } from "./operators/sources/rss.ts"
import { youtube } from "./operators/sources/youtube.ts"
import { replay } from "./operators/sources/replay.ts"
import { webhook } from "./operators/sources/webhook.ts"
import type { RecordingFormat } from "./operators/sources/recordings.ts"
import { backtestCommand } from "./operators/backtest/command.ts"
import * as Embeddings from "./operators/scoring/embedder.ts"
import * as ScoringState from "./operators/scoring/state.ts"
import * as VectorIndex from "./operators/scoring/vectorIndex.ts"
import { stream, topology } from "./runtime/topology.ts"

const env = process.env
const list = (value: string | undefined) => (value ?? "").split(",").map((v) => v.trim()).filter(Boolean)
const num = (value: string | undefined) => (value === undefined || value.trim() === "" ? undefined : Number(value))
/** Key prefix of every stream; two pipelines on one Redis need two names. */
const NAME = env["TOPOLOGY_NAME"] ?? "desainz"

// Streams: retention (maxLen) is how much history stays for inspection and replay.
const signalsRaw = stream("signals.raw", Signal, { eventType: "signal.ingested", maxLen: 100_000 })
const signalsUnique = stream("signals.unique", Signal, { eventType: "signal.unique", maxLen: 100_000 })
const signalsEnriched = stream("signals.enriched", Signal, { eventType: "signal.enriched", maxLen: 100_000 })
const ideasScored = stream("ideas.scored", Idea, { eventType: "idea.scored", maxLen: 100_000 })
const ideasSelected = stream("ideas.selected", Idea, { eventType: "idea.selected", maxLen: 50_000 })
const genRequests = stream("gen.requests", GenerationRequest, { eventType: "generation.requested", maxLen: 50_000 })
const genImages = stream("gen.images", Artwork, { eventType: "artwork.generated", maxLen: 50_000 })
const mockupsReady = stream("mockups.ready", MockupSet, { eventType: "mockup.generated", maxLen: 50_000 })
const listingsDraft = stream("listings.draft", Listing, { eventType: "listing.drafted", maxLen: 50_000 })
const listingsApproved = stream("listings.approved", Listing, { eventType: "listing.approved", maxLen: 50_000 })
const listingsPublished = stream("listings.published", Listing, { eventType: "listing.published", maxLen: 50_000 })
const feedbackEvents = stream("feedback.events", FeedbackEvent, { eventType: "feedback.received", maxLen: 200_000 })
const weightsDecisions = stream("weights.decisions", WeightsDecision, { eventType: "weights.decided", maxLen: 1_000 })
const alerts = stream("alerts", AlertNotice, { eventType: "alert.raised", maxLen: 1_000 })

// The niches served: occasions are crossed with them, and ideas scored for fit to them.
const NICHES = [
  { name: "teachers", keywords: ["teacher", "teaching", "classroom", "back to school"], subreddits: ["teachers"], hashtags: ["teacherlife"] },
  { name: "nurses", keywords: ["nurse", "nursing", "scrubs", "night shift"], subreddits: ["nursing"], hashtags: ["nurselife"] },
  { name: "dog lovers", keywords: ["dog", "dogs", "puppy", "dog mom"], subreddits: ["dogs", "aww"], hashtags: ["dogsofinstagram"] }
]
// One config for the live operators and `desainz backtest`, so a backtest scores as live does.
const dedupeConfig = { ttl: "7 days", capacity: 1_000_000, falsePositiveRate: 0.001 }
const scoring = { allowedLateness: "2 hours", freshness: { halfLifeHours: 48 }, communityFit: { niches: NICHES } }

const SERVICES = services(NAME)
// Where listings go: `MARKETPLACES` picks among these publishers (one line each); default export.
const MARKETPLACES = parseMarketplaces(env["MARKETPLACES"])
// Etsy feedback and A/B image re-ranking run when an Etsy shop is configured (the same ETSY_* as publishing).
const ETSY = env["ETSY_KEYSTRING"] !== undefined && env["ETSY_SHOP_ID"] !== undefined
const ETSY_CLIENT = ETSY
  ? Etsy.layerConfig.pipe(Layer.provide(Layer.mergeAll(Http.layer, Credentials.layerConfig.pipe(Layer.provide(SERVICES)))))
  : // Only the Etsy nodes use the client, and they are absent without ETSY_*.
    Etsy.layerUnconfigured
const PUBLISHERS = [
  exportBundle(),
  // Your shop's ids (see the README); ETSY_TAXONOMY_ID, ETSY_SHIPPING_PROFILE_ID, ETSY_READINESS_STATE_ID,
  // ETSY_PRICE and ETSY_STATE override what is written here.
  etsy({ state: "draft", quantity: 999, whoMade: "i_did", whenMade: "made_to_order" }),
  printify({
    blueprintId: num(env["PRINTIFY_BLUEPRINT_ID"]) ?? 12, // Unisex Jersey Short Sleeve Tee (Bella+Canvas 3001)
    printProviderId: num(env["PRINTIFY_PRINT_PROVIDER_ID"]) ?? 29, // Monster Digital
    variantIds: list(env["PRINTIFY_VARIANT_IDS"]).map(Number),
    priceCents: num(env["PRINTIFY_PRICE_CENTS"]),
    confirmPublishing: env["PRINTIFY_CONFIRM_PUBLISHING"] === "on",
    storefrontUrl: env["PRINTIFY_STOREFRONT_URL"]
  }),
  redbubble(),
  amazonMerch({ brand: env["MERCH_BRAND"] ?? "Original Design" })
]

export default topology({
  name: NAME,
  nodes: [
    // --- sources: one line each
    ...(env["OCCASIONS"] === "off"
      ? []
      : [occasions({ countries: ["US"], niches: NICHES.map((n) => n.name) as [string, ...Array<string>], defaultLeadDays: 45 }, { to: signalsRaw })]),
    webhook({ sources: ["webhook", "zapier"] }, { to: signalsRaw }),
    // Network sources: on when configured, so `npm start` needs no network.
    ...(env["REDDIT_SUBREDDITS"]
      ? [reddit({ subreddits: list(env["REDDIT_SUBREDDITS"]) as [string, ...Array<string>], listings: ["hot", "rising"] }, { to: signalsRaw })]
      : []),
    ...(env["YOUTUBE_API_KEY"] ? [youtube({ regions: ["US"] }, { to: signalsRaw })] : []),
    ...(env["HACKERNEWS"] === "on" ? [hackernews({ list: "top", limit: 30 }, { to: signalsRaw })] : []),
    ...list(env["RSS_FEEDS"]).map((url, i) => rss({ name: `rss-${i + 1}`, url, category: "search-trends", locale: "en-US" }, { to: signalsRaw })),
    ...(env["ANNIVERSARIES"] === "on" ? [anniversaries({ lang: "en", types: ["selected", "events", "births"], leadDays: 30 }, { to: signalsRaw })] : []),
    ...(env["REPLAY_FILE"]
      ? [replay({ path: env["REPLAY_FILE"], format: (env["REPLAY_FORMAT"] ?? "jsonl") as RecordingFormat, speed: Number(env["REPLAY_SPEED"] ?? 3600) }, { to: signalsRaw })]
      : []),

    // --- signals -> ideas
    dedupe(dedupeConfig, { from: signalsRaw, to: signalsUnique }),
    enrich({}, { from: signalsUnique, to: signalsEnriched }),
    score({ scoring }, { from: signalsEnriched, to: ideasScored }),
    select({ minScore: 0.25 }, { from: ideasScored, to: ideasSelected }),

    // --- ideas -> artwork -> listings
    // SDXL on ComfyUI when COMFYUI_URL is set (gpu/comfyui/README.md), else the procedural designer.
    prompt(
      { engine: env["COMFYUI_URL"] ? "comfyui" : "procedural", candidates: Number(env["ARTWORK_CANDIDATES"] ?? (env["COMFYUI_URL"] ? 3 : 1)) },
      { from: ideasSelected, to: genRequests }
    ),
    generate({ from: genRequests, to: genImages }),
    mockup({ colorways: ["black", "white"], variants: ["front"] }, { from: genImages, to: mockupsReady }),
    // Tells the live feed a generation's mock-ups are stored: the UI shows them without a reload.
    mockedUp({ from: mockupsReady }),
    // One draft per marketplace of MARKETPLACES (default export); the publishers read the same variable.
    listing({ marketplaces: MARKETPLACES, priceCents: 2499 }, { from: mockupsReady, to: listingsDraft }),
    review({ autoApproveAbove: Number(env["REVIEW_AUTO_APPROVE"] ?? 0.45) }, { from: listingsDraft, to: listingsApproved }),
    publish({ marketplaces: MARKETPLACES }, { from: listingsApproved, to: listingsPublished }),

    // --- feedback: marketplaces -> feedback.events -> store; experiments, budget, learner, SLA
    ...(ETSY ? [etsyFeedback({ every: "1 hour" }, { to: feedbackEvents }), experiments({ every: "10 minutes" }, { to: feedbackEvents })] : []),
    printifyFeedback({ to: feedbackEvents }),
    recordFeedback({ from: feedbackEvents }),
    promotion({ budgetCents: num(env["PROMOTION_BUDGET_CENTS"]) ?? 5_000 }, { to: feedbackEvents }),
    learner({ every: "15 minutes" }, { to: weightsDecisions }),
    slaAlert(
      { thresholdHours: num(env["SLA_THRESHOLD_HOURS"]) ?? 2, cooldownMinutes: num(env["SLA_ALERT_COOLDOWN_MINUTES"]) ?? 30, windowMinutes: 60 },
      { to: alerts }
    )
  ],
  services: Layer.mergeAll(
    VectorIndex.layerConfig(NAME).pipe(
      Layer.provideMerge(
        Layer.mergeAll(
          SERVICES,
          RateLimit.layer(NAME),
          ScoringState.layer(NAME),
          Embeddings.layerConfig,
          ListingWriter.layerConfig,
          BrandSafety.layerConfig,
          ImageEngine.layerConfig,
          GenerationProgress.layerConfig(NAME)
        )
      )
    ),
    ETSY_CLIENT,
    Alerting.layerConfig(NAME),
    Marketplace.layer(PUBLISHERS, MARKETPLACES).pipe(
      Layer.provide(Layer.mergeAll(Http.layer, Credentials.layerConfig.pipe(Layer.provide(SERVICES)), SERVICES))
    )
  ),
  api: [ideasApi({ approved: listingsApproved }), listingsApi(), feedbackApi({ events: feedbackEvents }), artworkApi({ requests: genRequests })],
  commands: {
    "feedback-import": feedbackImportCommand,
    backtest: backtestCommand(
      { topology: NAME, input: signalsEnriched, scoring, dedupe: dedupeConfig },
      Layer.merge(services(NAME), Embeddings.layerConfig)
    ),
    etsy: etsyCommand(Layer.merge(Http.layer, Credentials.layerConfig.pipe(Layer.provide(services(NAME)))))
  }
})
