/**
 * The message map between the server and the UI. Everything the runtime already defines
 * is imported from it (type-only: erased from the bundle), so a change to `Snapshot`,
 * `TopologyJson` or `DeadLetter` on the server is a type error here, not a blank panel.
 *
 * The ideas routes live in operators/api/ideas.ts, which types its responses with the
 * contract below (in the domain's own types: `Factors`, `IdeaStatus`, `ReviewStatus`).
 */
import type { DeadLetter } from "../../runtime/dlq.ts"
import type { NodeStats, Snapshot, StreamStats } from "../../runtime/http.ts"
import type { TopologyJson } from "../../runtime/topology.ts"
import type { Entry, StreamInfo } from "../../runtime/transport.ts"
import type { Factors, ReviewReason } from "../schemas.ts"
import type { IdeaStatus, ReviewStatus } from "../store/ideas.ts"
import type { ListingStatus } from "../store/listings.ts"

export type { DeadLetter, Entry, Factors, IdeaStatus, ReviewReason, NodeStats, ReviewStatus, Snapshot, StreamInfo, StreamStats, TopologyJson }

export type TopologyNode = TopologyJson["nodes"][number]
export type TopologyStream = TopologyJson["streams"][number]
export type GroupStats = StreamStats["groups"][number]

export type FactorName = keyof Factors
/** Display order of the score factors; `satisfies` keeps it in step with `Factors`. */
export const FACTORS = ["freshness", "engagement", "novelty", "communityFit", "seasonality"] as const satisfies ReadonlyArray<FactorName>
export const IDEA_STATUSES = ["queued", "mocked", "live", "archived"] as const satisfies ReadonlyArray<IdeaStatus>
export const REVIEW_STATUSES = ["pending", "approved", "rejected"] as const satisfies ReadonlyArray<ReviewStatus>

// ---------------------------------------------------------------------------------------
// Responses of the runtime's routes (runtime/http.ts)

/** `GET /api/streams/:stream/entries?count=N`, newest first. */
export interface EntriesResponse {
  readonly stream: string
  readonly entries: ReadonlyArray<Entry>
}

/** `GET /api/dlq/:operator`, newest first. */
export interface DeadLettersResponse {
  readonly entries: ReadonlyArray<DeadLetter>
}

/** `POST /api/dlq/:operator/requeue|drop`. */
export type DlqAction = "requeue" | "drop"
export type DlqSelection = { readonly all: true } | { readonly ids: ReadonlyArray<string> }
export type DlqActionResponse = { readonly requeued: number } | { readonly dropped: number }

/** Every error response of the API. */
export interface ApiErrorBody {
  readonly error: string
}

// ---------------------------------------------------------------------------------------
// The ideas routes (operators/api/ideas.ts)

export interface IdeaSignal {
  readonly source: string
  readonly content: string
  readonly url?: string
  readonly capturedAt: string
}

export interface IdeaMockup {
  readonly variant: string
  readonly colorway: string
  readonly url: string
}

export interface IdeaSummary {
  readonly ideaId: string
  readonly title: string
  readonly keyPhrase: string
  readonly score: number
  readonly factors: Factors
  readonly status: IdeaStatus
  readonly reviewStatus: ReviewStatus
  readonly signal: IdeaSignal
  readonly createdAt: string
  readonly printFileUrl?: string
  readonly mockups: ReadonlyArray<IdeaMockup>
  /** Why the idea waits for a person (brand & IP safety); absent or empty when nothing was found. */
  readonly reviewReasons?: ReadonlyArray<ReviewReason>
}

/** `GET /api/ideas?status=&review=&limit=N`, best score first. */
export interface IdeasResponse {
  readonly ideas: ReadonlyArray<IdeaSummary>
}

export interface IdeasQuery {
  readonly status?: IdeaStatus
  readonly review?: ReviewStatus
  readonly limit?: number
}

/** `POST /api/ideas/:id/approve` and `/reject` (bearer token). */
export type ReviewAction = "approve" | "reject"
export interface ReviewResponse {
  readonly ideaId: string
  readonly reviewStatus: ReviewStatus
}

// ---------------------------------------------------------------------------------------
// The feedback routes (operators/api/feedback.ts)

export interface FeedbackListing {
  readonly listingId: string
  readonly ideaId: string
  readonly title: string
  readonly marketplace: string
  readonly externalId: string | null
  readonly publishedAt: string | null
  readonly totals: Readonly<Record<string, number>>
  /** Per day (UTC, YYYY-MM-DD), per kind: what was counted that day. */
  readonly series: ReadonlyArray<{ readonly day: string; readonly kind: string; readonly value: number }>
}

/** `GET /api/feedback/listings?limit=N`. */
export interface FeedbackListingsResponse {
  readonly listings: ReadonlyArray<FeedbackListing>
}

export interface ExperimentArm {
  readonly key: string
  readonly label: string
  readonly trials: number
  readonly successes: number
  readonly alpha: number
  readonly beta: number
  readonly pBest: number
  /** The posterior density on (0, upTo): [rate, density] pairs. */
  readonly curve: ReadonlyArray<readonly [number, number]>
}

export interface ExperimentSummary {
  readonly id: string
  readonly listingId: string
  readonly name: string
  readonly metric: "ctr" | "conversion"
  readonly status: "running" | "stopped"
  readonly threshold: number
  readonly horizonDays: number
  readonly startedAt: string
  readonly endedAt: string | null
  readonly winner: string | null
  readonly stopReason: string | null
  readonly showing: string | null
  readonly arms: ReadonlyArray<ExperimentArm>
}

/** `GET /api/feedback/experiments`. */
export interface ExperimentsResponse {
  readonly experiments: ReadonlyArray<ExperimentSummary>
}

/** `GET /api/feedback/allocations?days=N`: the promotion budget per day and listing. */
export interface AllocationsResponse {
  readonly allocations: ReadonlyArray<{
    readonly day: string
    readonly listingId: string
    readonly title: string
    readonly amountCents: number
    readonly pBest: number
    readonly alpha: number
    readonly beta: number
  }>
}

/** `GET /api/feedback/weights`: weight versions, and the learner's decision per day with its figures. */
export interface WeightsResponse {
  readonly versions: ReadonlyArray<{ readonly version: number; readonly weights: Factors; readonly note: string; readonly promoted: boolean; readonly createdAt: string }>
  readonly runs: ReadonlyArray<{
    readonly day: string
    readonly items: number
    readonly promotedVersion: number | null
    readonly reason: string
    readonly outcome: string
    readonly figures: Readonly<Record<string, unknown>>
  }>
}

/** `POST /api/feedback/import?marketplace=M` (bearer token), body text/csv. */
export interface ImportResponse {
  readonly accepted: number
  readonly ids: ReadonlyArray<string>
}

// ---------------------------------------------------------------------------------------
// Where an idea is listed (operators/api/listings.ts)

export type { ListingStatus }

/** One marketplace's listing of an idea. `url` opens it (the marketplace's page, or a bundle file the app serves). */
export interface IdeaListing {
  readonly marketplace: string
  readonly status: ListingStatus
  readonly externalId: string | null
  readonly url: string | null
  readonly remoteState: string | null
  /** The marketplace's own message when the listing failed. */
  readonly reason: string | null
  readonly updatedAt: string
}

/** `GET /api/ideas/:id/listings`. */
export interface IdeaListingsResponse {
  readonly listings: ReadonlyArray<IdeaListing>
}

// Artwork: generations, candidates, refinement, live progress (operators/api/artwork.ts)

export type { GenerationState } from "../artwork/progress.ts"
export type { QualityChecks } from "../schemas.ts"

export interface CandidateView {
  readonly candidateId: string
  readonly position: number
  readonly seed: string
  readonly format: string
  readonly printFileUrl: string
  readonly mockups: ReadonlyArray<IdeaMockup>
  readonly checks: import("../schemas.ts").QualityChecks
  readonly passed: boolean
  readonly picked: boolean
}

export interface GenerationView {
  readonly generationId: string
  readonly parentId: string | null
  readonly instruction: string | null
  readonly engine: string
  readonly createdAt: string
  readonly candidates: ReadonlyArray<CandidateView>
}

/** `GET /api/ideas/:id/generations`, oldest first (refinements after their parent). */
export interface GenerationsResponse {
  readonly ideaId: string
  readonly pickedCandidateId: string | null
  /** "reviewer": kept until they pick another; "checks": the best by the checks over every generation, which a later one may replace. */
  readonly pickedBy: "checks" | "reviewer" | null
  readonly generations: ReadonlyArray<GenerationView>
}

/** `POST /api/ideas/:id/pick {candidateId}` (bearer token). */
export interface PickResponse {
  readonly ideaId: string
  readonly pickedCandidateId: string
}

/** `POST /api/ideas/:id/refine {instruction}` (bearer token): the generation it queued. */
export interface RefineResponse {
  readonly ideaId: string
  readonly generationId: string
  readonly parentGenerationId: string
  readonly instruction: string
}
