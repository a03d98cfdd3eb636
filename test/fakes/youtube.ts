/**
 * Fake YouTube Data API v3: `GET /youtube/v3/videos?chart=mostPopular` with the real
 * parameters (part, regionCode, videoCategoryId, maxResults default 5 and at most 50,
 * pageToken, key) and the real error bodies: 403 without a key, 400 for a bad key or
 * page token. Charts per region come from test/fixtures/youtube; pages are cut from them.
 */
import { Effect } from "effect"
import { Hono } from "hono"
import { conditional, jsonFixture, startFake, type Validators } from "./server.ts"

interface Video {
  readonly kind: string
  readonly etag: string
  readonly id: string
  readonly snippet: { readonly categoryId?: string } & Record<string, unknown>
  readonly statistics: Record<string, string>
}
interface Chart {
  readonly etag: string
  readonly items: ReadonlyArray<Video>
}

export const VALID_KEY = "AIzaSyFAKE-test-key-0123456789abcdefgh"

const googleError = (c: { json: (body: unknown, status: 400 | 403) => Response }, file: string) => {
  const body = jsonFixture<{ error: { code: 400 | 403 } }>("youtube", file)
  return c.json(body, body.error.code)
}

// Opaque to clients, like the real tokens; the fake encodes the offset.
const tokenFor = (offset: number) => Buffer.from(`o:${offset}`).toString("base64url")
const offsetOf = (token: string): number | undefined => {
  const m = /^o:(\d+)$/.exec(Buffer.from(token, "base64url").toString())
  return m === null ? undefined : Number(m[1])
}

export const startYouTubeFake = Effect.gen(function* () {
  const state = {
    charts: new Map<string, Chart>([
      ["US", jsonFixture<Chart>("youtube", "mostPopular-US.json")],
      ["GB", jsonFixture<Chart>("youtube", "mostPopular-GB.json")]
    ]),
    validators: "etag" as Validators
  }
  const app = new Hono()
  app.get("/youtube/v3/videos", (c) => {
    const q = c.req.query()
    if (q["key"] === undefined) return googleError(c, "error-unregistered.json")
    if (q["key"] !== VALID_KEY) return googleError(c, "error-key-invalid.json")
    const parts = (q["part"] ?? "").split(",")
    const maxResults = Number(q["maxResults"] ?? 5)
    if (q["part"] === undefined || q["chart"] !== "mostPopular" || !Number.isInteger(maxResults) || maxResults < 1 || maxResults > 50) {
      return c.json(
        { error: { code: 400, message: "Invalid request parameters.", errors: [{ message: "Invalid request parameters.", domain: "youtube.parameter", reason: "invalidParameter" }], status: "INVALID_ARGUMENT" } },
        400
      )
    }
    const offset = q["pageToken"] === undefined ? 0 : offsetOf(q["pageToken"])
    if (offset === undefined) return googleError(c, "error-invalid-page-token.json")
    const chart = state.charts.get(q["regionCode"] ?? "US") ?? { etag: "empty", items: [] }
    const all = chart.items.filter((v) => q["videoCategoryId"] === undefined || v.snippet.categoryId === q["videoCategoryId"])
    const items = all.slice(offset, offset + maxResults).map((v) => ({
      kind: v.kind,
      etag: v.etag,
      id: v.id,
      ...(parts.includes("snippet") ? { snippet: v.snippet } : {}),
      ...(parts.includes("statistics") ? { statistics: v.statistics } : {})
    }))
    const page = {
      kind: "youtube#videoListResponse",
      etag: `${chart.etag}-${offset}`,
      items,
      ...(offset + maxResults < all.length ? { nextPageToken: tokenFor(offset + maxResults) } : {}),
      ...(offset > 0 ? { prevPageToken: tokenFor(Math.max(0, offset - maxResults)) } : {}),
      pageInfo: { totalResults: all.length, resultsPerPage: maxResults }
    }
    return conditional(c, JSON.stringify(page), { contentType: "application/json; charset=UTF-8", validators: state.validators })
  })
  const server = yield* startFake(app)
  return { ...server, state }
})
