/**
 * Fake Reddit: the public JSON listings `GET /r/<sub>/<hot|top|new|rising>.json`, with
 * `limit` (default 25, capped at 100 like Reddit) and Reddit's JSON 404 for a subreddit
 * it does not have. Listings come from test/fixtures/reddit and can be swapped mid-test.
 */
import { Effect } from "effect"
import { Hono } from "hono"
import { conditional, jsonFixture, startFake, type Validators } from "./server.ts"

interface ListingBody {
  readonly kind: string
  readonly data: { readonly children: ReadonlyArray<unknown> } & Record<string, unknown>
}

export const startRedditFake = Effect.gen(function* () {
  const state = {
    /** `<sub>/<listing>` -> the listing's JSON. */
    listings: new Map<string, ListingBody>([
      ["movies/hot", jsonFixture<ListingBody>("reddit", "movies-hot.json")],
      ["technology/hot", jsonFixture<ListingBody>("reddit", "technology-hot.json")]
    ]),
    validators: "etag" as Validators
  }
  const app = new Hono()
  app.get("/r/:sub/:file", (c) => {
    const listing = /^(hot|top|new|rising)\.json$/.exec(c.req.param("file"))?.[1]
    const body = listing === undefined ? undefined : state.listings.get(`${c.req.param("sub")}/${listing}`)
    if (body === undefined) return c.json(jsonFixture("reddit", "error-not-found.json"), 404)
    const limit = Math.min(100, Math.max(1, Number(c.req.query("limit") ?? 25) || 25))
    const children = body.data.children.slice(0, limit)
    const page = { ...body, data: { ...body.data, dist: children.length, children } }
    return conditional(c, JSON.stringify(page), { contentType: "application/json; charset=UTF-8", validators: state.validators })
  })
  const server = yield* startFake(app)
  return { ...server, state }
})
