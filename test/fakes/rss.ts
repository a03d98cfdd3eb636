/**
 * Fake feed host: `GET /feeds/<name>` serves RSS / Atom documents from
 * test/fixtures/rss with Last-Modified (most feed servers) or ETag validators and 304s.
 */
import { Effect } from "effect"
import { Hono } from "hono"
import { conditional, fixture, startFake, type Validators } from "./server.ts"

interface Feed {
  readonly body: string
  readonly contentType: string
}

export const startFeedFake = Effect.gen(function* () {
  const state = {
    feeds: new Map<string, Feed>([
      ["google-trends-us", { body: fixture("rss", "google-trends-US.xml"), contentType: "application/rss+xml; charset=UTF-8" }],
      ["blog", { body: fixture("rss", "blog-rss2.xml"), contentType: "application/rss+xml; charset=UTF-8" }],
      ["atom", { body: fixture("rss", "blog-atom.xml"), contentType: "application/atom+xml; charset=utf-8" }]
    ]),
    validators: "last-modified" as Validators,
    lastModified: new Date(Date.UTC(2024, 10, 17, 5, 0, 0))
  }
  const app = new Hono()
  app.get("/feeds/:name", (c) => {
    const feed = state.feeds.get(c.req.param("name"))
    if (feed === undefined) return c.html("<html><body><h1>404 Not Found</h1></body></html>", 404)
    return conditional(c, feed.body, { contentType: feed.contentType, validators: state.validators, lastModified: state.lastModified })
  })
  const server = yield* startFake(app)
  return { ...server, state }
})
