/**
 * `GET /api/ideas/:id/listings`: where an idea is listed, one entry per marketplace, with the
 * remote id, the URL, the marketplace's state and the reason of a failure, for the UI's links.
 */
import { Effect } from "effect"
import type { ApiRoutes } from "../../runtime/topology.ts"
import { Store } from "../store/store.ts"
import type { IdeaListingsResponse } from "./contract.ts"
import { parseIdeaId, responder } from "./respond.ts"

/** Only web links leave the app: a stored `file:` or `s3:` URI is not one a browser can open. */
const linkable = (url: string | null) => (url !== null && (/^https?:\/\//.test(url) || url.startsWith("/blobs/")) ? url : null)

export const listingsApi = (): ApiRoutes => (app, ctx) => {
  const respond = responder(ctx)
  app.get("/api/ideas/:id/listings", (c) =>
    respond(
      c,
      Effect.gen(function* () {
        const ideaId = yield* parseIdeaId(c.req.param("id"))
        const rows = yield* (yield* Store).listingsOfIdea(ideaId)
        return {
          listings: rows.map((r) => ({ ...r, url: linkable(r.url), updatedAt: r.updatedAt.toISOString() }))
        } satisfies IdeaListingsResponse
      })
    )
  )
}
