/**
 * `GET /api/ideas/:id/listings`: where an idea is listed, one entry per marketplace, with the
 * remote id, the URL, the marketplace's state and the reason of a failure, for the UI's links.
 */
import { Cause, Effect, Exit, ParseResult, Schema } from "effect"
import { describeError, isRetryable } from "../../runtime/errors.ts"
import type { ApiRoutes } from "../../runtime/topology.ts"
import { Store } from "../store/store.ts"
import type { IdeaListingsResponse } from "./contract.ts"

const IdeaId = Schema.UUID.annotations({ message: () => "idea id must be a uuid" })

/** Only web links leave the app: a stored `file:` or `s3:` URI is not one a browser can open. */
const linkable = (url: string | null) => (url !== null && (/^https?:\/\//.test(url) || url.startsWith("/blobs/")) ? url : null)

export const listingsApi = (): ApiRoutes => (app, ctx) => {
  app.get("/api/ideas/:id/listings", async (c) => {
    const exit = await ctx.run(
      Effect.gen(function* () {
        const ideaId = yield* Effect.mapError(Schema.decodeUnknown(IdeaId)(c.req.param("id")), (e) =>
          Object.assign(new Error(ParseResult.TreeFormatter.formatErrorSync(e)), { status: 400, retryable: false })
        )
        const rows = yield* (yield* Store).listingsOfIdea(ideaId)
        return {
          listings: rows.map((r) => ({ ...r, url: linkable(r.url), updatedAt: r.updatedAt.toISOString() }))
        } satisfies IdeaListingsResponse
      })
    )
    if (Exit.isSuccess(exit)) return c.json(exit.value)
    const error = Cause.squash(exit.cause)
    return c.json({ error: describeError(error) }, ((error as { status?: number }).status ?? (isRetryable(error) ? 503 : 400)) as 400)
  })
}
