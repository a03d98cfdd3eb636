/**
 * What every fake API shares: a hono app served on 127.0.0.1 at a free port for the
 * length of a scope, a log of the requests it got, canned responses to inject ahead of
 * the API's own (a 429, a malformed body), and conditional GETs (ETag / Last-Modified,
 * 304) the way real servers answer them.
 */
import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"
import { type AddressInfo, createServer } from "node:net"
import { serve } from "@hono/node-server"
import { Effect } from "effect"
import type { Context, Hono } from "hono"

export interface RecordedRequest {
  readonly method: string
  readonly path: string
  readonly query: URLSearchParams
  readonly headers: Headers
}

export interface FakeServer {
  readonly url: string
  readonly requests: Array<RecordedRequest>
  /** The next requests get these responses, in order, instead of the API's own. */
  readonly inject: (...responses: ReadonlyArray<() => Response>) => void
  /** The responses the fake sent, by status, in order. */
  readonly statuses: Array<number>
}

export const startFake = (app: Hono) =>
  Effect.gen(function* () {
    const requests: Array<RecordedRequest> = []
    const statuses: Array<number> = []
    const injected: Array<() => Response> = []
    const handle = async (req: Request): Promise<Response> => {
      const url = new URL(req.url)
      requests.push({ method: req.method, path: url.pathname, query: url.searchParams, headers: req.headers })
      const canned = injected.shift()
      const res = canned !== undefined ? canned() : await app.fetch(req)
      statuses.push(res.status)
      return res
    }
    const server = yield* Effect.acquireRelease(
      Effect.async<ReturnType<typeof serve>>((resume) => {
        const s = serve({ fetch: handle, port: 0, hostname: "127.0.0.1" }, () => resume(Effect.succeed(s)))
      }),
      (s) =>
        Effect.async<void>((resume) => {
          // fetch keeps connections alive; close them or close() waits for their timeout.
          if ("closeAllConnections" in s) s.closeAllConnections()
          s.close(() => resume(Effect.void))
        })
    )
    const { port } = server.address() as AddressInfo
    return {
      url: `http://127.0.0.1:${port}`,
      requests,
      statuses,
      inject: (...responses) => injected.push(...responses)
    } satisfies FakeServer
  })

export const fixture = (adapter: string, file: string): string =>
  readFileSync(new URL(`../fixtures/${adapter}/${file}`, import.meta.url), "utf8")

export const jsonFixture = <A = unknown>(adapter: string, file: string): A => JSON.parse(fixture(adapter, file)) as A

/** Which validators a fake's responses carry. */
export type Validators = "etag" | "last-modified" | "none"

/**
 * Answers a GET of `body` as an origin server would: validators on the 200, and a 304
 * (no body) when the request's If-None-Match / If-Modified-Since still match.
 */
export const conditional = (
  c: Context,
  body: string,
  options: { readonly contentType: string; readonly validators: Validators; readonly lastModified?: Date }
): Response => {
  const etag = `"${createHash("sha1").update(body).digest("hex").slice(0, 20)}"`
  const lastModified = (options.lastModified ?? new Date(Date.UTC(2024, 10, 16, 12))).toUTCString()
  const headers: Record<string, string> = { "content-type": options.contentType }
  if (options.validators === "etag") {
    headers["etag"] = etag
    if (c.req.header("if-none-match") === etag) return c.body(null, 304, { etag })
  }
  if (options.validators === "last-modified") {
    headers["last-modified"] = lastModified
    const since = Date.parse(c.req.header("if-modified-since") ?? "")
    if (!Number.isNaN(since) && since >= Date.parse(lastModified)) return c.body(null, 304, { "last-modified": lastModified })
  }
  return c.body(body, 200, headers)
}

/** A canned JSON response (an injected error or a malformed body). */
export const jsonResponse = (status: number, body: unknown, headers: Record<string, string> = {}) => () =>
  new Response(typeof body === "string" ? body : JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers }
  })

/** A port nothing listens on right now (for a local server, or a refused connection). */
export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer()
    s.once("error", reject)
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as AddressInfo
      s.close(() => resolve(port))
    })
  })
