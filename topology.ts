/**
 * The pipeline, declared. Edit this file to add a source or tune an operator;
 * `npx desainz topology` prints the result. Each stream carries one schema, and each
 * operator is wired `{ from, to }`: connecting a stream of the wrong type does not compile.
 */
import { Layer } from "effect"
import { ideasApi } from "./operators/api/ideas.ts"
import { dedupe } from "./operators/ingest/dedupe.ts"
import { enrich } from "./operators/ingest/enrich.ts"
import { generate } from "./operators/artwork/generate.ts"
import * as ImageEngine from "./operators/artwork/imageEngine.ts"
import { GenerationProgress } from "./operators/artwork/progress.ts"
import { artworkApi } from "./operators/api/artwork.ts"
import { listing } from "./operators/listing/listing.ts"
import { mockup } from "./operators/artwork/mockup.ts"
import { prompt } from "./operators/artwork/prompt.ts"
import { exportBundle } from "./operators/publishers/export.ts"
import { review } from "./operators/listing/review.ts"
import { Artwork, GenerationRequest, Idea, Listing, MockupSet, Signal } from "./operators/schemas.ts"
import { score } from "./operators/scoring/score.ts"
import { DEFAULT_BLOCKED_TERMS, select } from "./operators/scoring/select.ts"
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
import { stream, topology } from "./runtime/topology.ts"

const env = process.env
const list = (value: string | undefined) => (value ?? "").split(",").map((v) => v.trim()).filter(Boolean)
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

// The niches served: occasions are crossed with them, and ideas scored for fit to them.
const NICHES = [
  { name: "teachers", keywords: ["teacher", "teaching", "classroom", "back to school"], subreddits: ["teachers"], hashtags: ["teacherlife"] },
  { name: "nurses", keywords: ["nurse", "nursing", "scrubs", "night shift"], subreddits: ["nursing"], hashtags: ["nurselife"] },
  { name: "dog lovers", keywords: ["dog", "dogs", "puppy", "dog mom"], subreddits: ["dogs", "aww"], hashtags: ["dogsofinstagram"] }
]
// One config for the live operators and `desainz backtest`, so a backtest scores as live does.
const dedupeConfig = { ttl: "7 days", capacity: 1_000_000, falsePositiveRate: 0.001 }
const scoring = { allowedLateness: "2 hours", freshness: { halfLifeHours: 48 }, communityFit: { niches: NICHES } }

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
    select({ minScore: 0.25, blockedTerms: DEFAULT_BLOCKED_TERMS }, { from: ideasScored, to: ideasSelected }),

    // --- ideas -> artwork -> listings
    // SDXL on ComfyUI when COMFYUI_URL is set (gpu/comfyui/README.md), else the procedural designer.
    prompt(
      { engine: env["COMFYUI_URL"] ? "comfyui" : "procedural", candidates: Number(env["ARTWORK_CANDIDATES"] ?? (env["COMFYUI_URL"] ? 3 : 1)) },
      { from: ideasSelected, to: genRequests }
    ),
    generate({ from: genRequests, to: genImages }),
    mockup({ colorways: ["black", "white"], variants: ["front"] }, { from: genImages, to: mockupsReady }),
    listing({ marketplace: "export", priceCents: 2499 }, { from: mockupsReady, to: listingsDraft }),
    review({ autoApproveAbove: Number(env["REVIEW_AUTO_APPROVE"] ?? 0.45) }, { from: listingsDraft, to: listingsApproved }),
    exportBundle({ from: listingsApproved, to: listingsPublished })
  ],
  services: Layer.mergeAll(
    services(NAME),
    RateLimit.layer(NAME),
    ScoringState.layer(NAME),
    Embeddings.layerConfig,
    ImageEngine.layerConfig,
    GenerationProgress.layer
  ),
  api: [ideasApi({ approved: listingsApproved }), artworkApi({ requests: genRequests })],
  commands: {
    backtest: backtestCommand(
      { topology: NAME, input: signalsEnriched, scoring, dedupe: dedupeConfig },
      Layer.merge(services(NAME), Embeddings.layerConfig)
    )
  }
})
