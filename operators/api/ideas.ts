/**
 * The application's HTTP routes: the idea review list, approve / reject (the human side
 * of the review gate), and read-only access to generated assets for the UI. Responses
 * are typed with the UI's contract (`operators/api/contract.ts`), so the two cannot drift.
 */
import { Cause, Effect, Exit, ParseResult, Schema } from "effect"
import { BlobNotFound, BlobStore, validateBlobKey } from "../../runtime/blobs.ts"
import { describeError, isRetryable } from "../../runtime/errors.ts"
import type { ApiRoutes, StreamDef } from "../../runtime/topology.ts"
import { mockupKey } from "../blobKeys.ts"
import { withPickedCandidate } from "./artwork.ts"
import { httpError, parseIdeaId, responder } from "./respond.ts"
import type { IdeaSummary, IdeasResponse } from "./contract.ts"
import { type Factors, Listing } from "../schemas.ts"
import { IdeaStatus, ReviewStatus } from "../store/ideas.ts"
import { Store } from "../store/store.ts"

const IdeasQuery = Schema.Struct({
  status: Schema.optional(IdeaStatus),
  review: Schema.optional(ReviewStatus),
  limit: Schema.optionalWith(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 1000)), { default: () => 100 })
})


const CONTENT_TYPES: Record<string, string> = { png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg", json: "application/json", csv: "text/csv", tif: "image/tiff" }
/** Blob prefixes the UI may read: generated assets and export bundles. */
const READABLE = ["generated-mockups/", "published-assets/"]

const blobUrl = (key: string) => `/blobs/${key.split("/").map(encodeURIComponent).join("/")}`

export const ideasApi =
  (io: { readonly approved: StreamDef<Listing> }): ApiRoutes =>
  (app, ctx) => {
    const respond = responder(ctx)

    app.get("/api/ideas", (c) =>
      respond(
        c,
        Effect.gen(function* () {
          const query = yield* Effect.mapError(Schema.decodeUnknown(IdeasQuery)(c.req.query()), (e) =>
            httpError(400, ParseResult.TreeFormatter.formatErrorSync(e))
          )
          const cards = yield* (yield* Store).ideaCards(query)
          const ideas = yield* Effect.forEach(cards, (card) =>
            Effect.gen(function* () {
              const mockups = yield* Effect.forEach(card.mockups, (m) =>
                Effect.map(m.key === null ? mockupKey(card.ideaId, m.variant, m.colorway, "jpg") : Effect.succeed(m.key), (key) => ({
                  variant: m.variant,
                  colorway: m.colorway,
                  url: blobUrl(key)
                }))
              )
              const { url, ...signal } = card.signal
              return {
                ideaId: card.ideaId,
                title: card.title,
                keyPhrase: card.title,
                score: card.score,
                factors: card.factors as unknown as Factors,
                status: card.status,
                reviewStatus: card.reviewStatus,
                weightsVersion: card.weightsVersion,
                createdAt: card.createdAt,
                signal: url === null ? signal : { ...signal, url },
                ...(card.printFileKey === null ? {} : { printFileUrl: blobUrl(card.printFileKey) }),
                mockups,
                reviewReasons: card.reviewReasons
              } satisfies IdeaSummary & { readonly weightsVersion: number }
            })
          )
          return { ideas } satisfies IdeasResponse
        })
      )
    )

    app.post("/api/ideas/:id/approve", ctx.requireToken, (c) =>
      respond(
        c,
        Effect.gen(function* () {
          const ideaId = yield* parseIdeaId(c.req.param("id"))
          const store = yield* Store
          const parked = yield* store.parkedDrafts(ideaId)
          if (parked.length === 0) {
            const known = yield* store.setReviewStatus(ideaId, "approved")
            if (!known) return yield* Effect.fail(httpError(404, `no idea ${ideaId}`))
            return { ideaId, reviewStatus: "approved", published: false, note: "no listing draft was waiting; it will publish when drafted" }
          }
          const stored = yield* Effect.mapError(Schema.decodeUnknown(Schema.Array(Listing))(parked), (e) =>
            httpError(500, `stored draft of ${ideaId} is unreadable: ${ParseResult.TreeFormatter.formatErrorSync(e)}`)
          )
          // The reviewer may have picked another candidate than the default.
          const drafts = yield* Effect.forEach(stored, withPickedCandidate)
          yield* store.setReviewStatus(ideaId, "approved")
          yield* store.approveListings(drafts.map((d) => d.listingId))
          // One draft per marketplace, keyed by idea and marketplace: approving twice emits the same event ids, which publish absorbs.
          yield* ctx.emit("review", io.approved, drafts.map((draft) => ({ data: draft, key: `approved:${ideaId}:${draft.marketplace}` })))
          return { ideaId, reviewStatus: "approved", published: true }
        })
      )
    )

    app.post("/api/ideas/:id/reject", ctx.requireToken, (c) =>
      respond(
        c,
        Effect.gen(function* () {
          const ideaId = yield* parseIdeaId(c.req.param("id"))
          const store = yield* Store
          if (!(yield* store.setReviewStatus(ideaId, "rejected"))) return yield* Effect.fail(httpError(404, `no idea ${ideaId}`))
          yield* store.setIdeaStatus(ideaId, "archived")
          return { ideaId, reviewStatus: "rejected" }
        })
      )
    )

    app.get("/blobs/*", async (c) => {
      const key = decodeURIComponent(c.req.path.slice("/blobs/".length))
      if (!READABLE.some((p) => key.startsWith(p))) return c.json({ error: `only ${READABLE.join(", ")} are served` }, 404)
      const exit = await ctx.run(Effect.flatMap(validateBlobKey(key), (k) => Effect.flatMap(BlobStore, (b) => b.get(k))))
      if (Exit.isSuccess(exit)) {
        const type = CONTENT_TYPES[key.split(".").pop()!.toLowerCase()] ?? "application/octet-stream"
        return c.body(Buffer.from(exit.value), 200, { "content-type": type, "cache-control": "private, max-age=300" })
      }
      const error = Cause.squash(exit.cause)
      return c.json({ error: describeError(error) }, error instanceof BlobNotFound ? 404 : isRetryable(error) ? 503 : 400)
    })
  }
