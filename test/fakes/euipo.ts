/**
 * Fake EUIPO Trademark Search API (dev.euipo.europa.eu, "Trademark search" product; the
 * sandbox and production speak the same format):
 * - `POST /oidc/accessToken`, form-encoded `grant_type=client_credentials`, `client_id`,
 *   `client_secret`, `scope`: `{access_token, token_type: "Bearer", expires_in, scope}`;
 *   wrong credentials get the OAuth2 error body (RFC 6749 §5.2) `{"error":"invalid_client",
 *   "error_description"}` with 401, a wrong grant type `unsupported_grant_type` with 400.
 * - `GET /trademark-search/trademarks?query=<RSQL>&page&size` with `Authorization: Bearer`
 *   and `X-IBM-Client-Id`: `{trademarks: [...], totalElements, totalPages, page, size}`. A
 *   missing or unknown token gets the API Connect gateway's 401
 *   `{"httpCode":"401","httpMessage":"Unauthorized","moreInformation":...}`; a query the
 *   fake cannot read gets a problem+json 400 `{type, title, status, detail}`.
 * The fake understands the RSQL this client sends: `wordMarkSpecification.verbalElement==
 * "<phrase>"`, `niceClasses=in=(..)` and `status=in=(..)`, joined by `;`.
 */
import { Effect } from "effect"
import { Hono } from "hono"
import { startFake } from "./server.ts"

export const CLIENT_ID = "3f1c0e5a9b7d4e2f8a6c1b0d9e8f7a6b"
export const CLIENT_SECRET = "fake-euipo-secret-0123456789"

export interface FakeMark {
  readonly applicationNumber: string
  readonly verbalElement: string
  readonly status: string
  readonly niceClasses: ReadonlyArray<number>
}

export const startEuipoFake = (marks: ReadonlyArray<FakeMark>) =>
  Effect.gen(function* () {
    const tokens = new Set<string>()
    const state = { issued: 0, queries: [] as Array<string> }
    const app = new Hono()
    app.post("/oidc/accessToken", async (c) => {
      const form = await c.req.parseBody()
      if (form["grant_type"] !== "client_credentials") {
        return c.json({ error: "unsupported_grant_type", error_description: "The authorization grant type is not supported by the authorization server." }, 400)
      }
      if (form["client_id"] !== CLIENT_ID || form["client_secret"] !== CLIENT_SECRET) {
        return c.json({ error: "invalid_client", error_description: "Client authentication failed." }, 401)
      }
      state.issued += 1
      const token = `AT-${state.issued}-${Math.random().toString(36).slice(2)}`
      tokens.add(token)
      return c.json({ access_token: token, token_type: "Bearer", expires_in: 28800, scope: String(form["scope"] ?? "uid") })
    })
    app.get("/trademark-search/trademarks", (c) => {
      const bearer = (c.req.header("authorization") ?? "").replace(/^Bearer /, "")
      if (!tokens.has(bearer) || c.req.header("x-ibm-client-id") !== CLIENT_ID) {
        return c.json({ httpCode: "401", httpMessage: "Unauthorized", moreInformation: "Cannot pass the security checks that are required by the target API or operation, Enable debug headers for more details." }, 401)
      }
      const query = c.req.query("query") ?? ""
      state.queries.push(query)
      const phrase = /wordMarkSpecification\.verbalElement=="((?:[^"\\]|\\.)*)"/.exec(query)?.[1]?.replace(/\\(.)/g, "$1")
      if (phrase === undefined) {
        return c.json({ type: "about:blank", title: "Bad Request", status: 400, detail: `Invalid RSQL query: ${query}` }, 400)
      }
      const classes = /niceClasses=in=\(([\d,]+)\)/.exec(query)?.[1]?.split(",").map(Number)
      const statuses = /status=in=\(([A-Z_,]+)\)/.exec(query)?.[1]?.split(",")
      const size = Number(c.req.query("size") ?? 10)
      const found = marks.filter(
        (m) =>
          m.verbalElement.toLowerCase() === phrase.toLowerCase() &&
          (classes === undefined || m.niceClasses.some((n) => classes.includes(n))) &&
          (statuses === undefined || statuses.includes(m.status))
      )
      return c.json({
        trademarks: found.slice(0, size).map((m) => ({
          applicationNumber: m.applicationNumber,
          markFeature: "WORD",
          markKind: "INDIVIDUAL",
          wordMarkSpecification: { verbalElement: m.verbalElement },
          status: m.status,
          niceClasses: m.niceClasses,
          applicationDate: "2021-03-04"
        })),
        totalElements: found.length,
        totalPages: Math.ceil(found.length / size),
        page: 0,
        size
      })
    })
    const server = yield* startFake(app)
    return { ...server, state, revokeTokens: () => tokens.clear() }
  })
