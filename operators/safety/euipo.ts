/**
 * EUIPO Trademark Search API client: is a phrase registered (or applied for) as an EU word
 * mark for clothing? Optional: on when the seller configures API credentials from
 * dev.euipo.europa.eu (an application subscribed to the "Trademark search" plan).
 *
 * Wire format (EUIPO developer portal, trademark-search API):
 * - OAuth2 client credentials: `POST <auth>/oidc/accessToken`, form-encoded
 *   `grant_type=client_credentials&client_id=..&client_secret=..&scope=uid`, answered with
 *   `{access_token, token_type, expires_in, scope}` (8 h tokens). The token is cached and
 *   fetched again shortly before it expires or after a 401.
 * - `GET <api>/trademarks?query=<RSQL>&page=0&size=N` with `Authorization: Bearer <token>`
 *   and `X-IBM-Client-Id: <client id>` (the gateway is IBM API Connect), answered with
 *   `{trademarks: [{applicationNumber, wordMarkSpecification: {verbalElement}, status,
 *   niceClasses, ...}], totalElements, totalPages, page, size}`.
 *
 * Why not USPTO: TSDR looks up one known serial or registration number; it has no word
 * search, so it cannot answer "is this phrase a mark?".
 */
import { HttpClientRequest } from "@effect/platform"
import type { HttpClient } from "@effect/platform/HttpClient"
import { Effect, Redacted, Ref, Schema } from "effect"
import { type HttpError, httpFailure, sendJson } from "../../runtime/httpClient.ts"

export interface EuipoOptions {
  readonly clientId: string
  readonly clientSecret: Redacted.Redacted<string>
  /** Default the production API, `https://api.euipo.europa.eu/trademark-search`. */
  readonly apiUrl?: string
  /** Default `https://auth.euipo.europa.eu/oidc/accessToken`. */
  readonly authUrl?: string
  /** Nice classes a mark must cover to matter: 25 (clothing) by default. */
  readonly niceClasses?: ReadonlyArray<number>
}

/** Statuses of a mark that is, or may become, an enforceable right. */
export const LIVE_STATUSES = ["RECEIVED", "UNDER_EXAMINATION", "APPLICATION_PUBLISHED", "REGISTRATION_PENDING", "REGISTERED", "OPPOSITION_PENDING", "APPEALED"] as const

const Token = Schema.Struct({ access_token: Schema.NonEmptyString, expires_in: Schema.optionalWith(Schema.Number, { default: () => 3600 }) })

export const Trademark = Schema.Struct({
  applicationNumber: Schema.String,
  wordMarkSpecification: Schema.optional(Schema.Struct({ verbalElement: Schema.String })),
  status: Schema.optional(Schema.String),
  niceClasses: Schema.optional(Schema.Array(Schema.Number))
})
export type Trademark = typeof Trademark.Type

const SearchPage = Schema.Struct({ trademarks: Schema.Array(Trademark), totalElements: Schema.optional(Schema.Number) })

/** A value inside RSQL double quotes: quotes, backslashes and wildcards escaped. */
export const rsqlString = (value: string) => `"${value.replace(/["\\*]/g, (c) => `\\${c}`)}"`

/** The RSQL query for live word marks exactly equal to `phrase` in the given classes. */
export const wordMarkQuery = (phrase: string, niceClasses: ReadonlyArray<number>) =>
  [
    `wordMarkSpecification.verbalElement==${rsqlString(phrase)}`,
    ...(niceClasses.length > 0 ? [`niceClasses=in=(${niceClasses.join(",")})`] : []),
    `status=in=(${LIVE_STATUSES.join(",")})`
  ].join(";")

export const makeEuipo = (options: EuipoOptions) =>
  Effect.gen(function* () {
    const apiUrl = (options.apiUrl ?? "https://api.euipo.europa.eu/trademark-search").replace(/\/$/, "")
    const authUrl = options.authUrl ?? "https://auth.euipo.europa.eu/oidc/accessToken"
    const niceClasses = options.niceClasses ?? [25]
    const cached = yield* Ref.make<{ readonly token: string; readonly until: number } | undefined>(undefined)

    const token: Effect.Effect<string, HttpError, HttpClient> = Effect.gen(function* () {
      const now = Date.now()
      const held = yield* Ref.get(cached)
      if (held !== undefined && held.until > now) return held.token
      const answer = yield* sendJson(
        HttpClientRequest.post(authUrl).pipe(
          HttpClientRequest.bodyUrlParams({
            grant_type: "client_credentials",
            client_id: options.clientId,
            client_secret: Redacted.value(options.clientSecret),
            scope: "uid"
          })
        ),
        Token,
        { what: "EUIPO token" }
      )
      // A minute early, so a token never expires between reading it and using it.
      yield* Ref.set(cached, { token: answer.access_token, until: now + Math.max(0, answer.expires_in - 60) * 1000 })
      return answer.access_token
    })

    const search = (phrase: string) =>
      Effect.flatMap(token, (bearer) =>
        sendJson(
          HttpClientRequest.get(`${apiUrl}/trademarks`).pipe(
            HttpClientRequest.setUrlParams({ query: wordMarkQuery(phrase, niceClasses), page: "0", size: "10" }),
            HttpClientRequest.bearerToken(bearer),
            HttpClientRequest.setHeaders({ "x-ibm-client-id": options.clientId, accept: "application/json" })
          ),
          SearchPage,
          { what: "EUIPO trademark search" }
        )
      )

    /** Live EU word marks equal to `phrase` (case-insensitive) in the configured classes. */
    const wordMarks = (phrase: string): Effect.Effect<ReadonlyArray<Trademark>, HttpError, HttpClient> =>
      search(phrase).pipe(
        // A revoked or expired token: fetch a new one once.
        Effect.catchIf(
          (error) => httpFailure(error)?.status === 401,
          () => Effect.zipRight(Ref.set(cached, undefined), search(phrase))
        ),
        Effect.map((page) =>
          page.trademarks.filter((t) => t.wordMarkSpecification?.verbalElement.trim().toLowerCase() === phrase.trim().toLowerCase())
        )
      )
    return { wordMarks }
  })

export type Euipo = Effect.Effect.Success<ReturnType<typeof makeEuipo>>
