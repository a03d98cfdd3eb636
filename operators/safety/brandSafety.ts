/**
 * Brand & IP safety: one service the select operator (the idea) and the review gate (the
 * generated listing text) ask before anything is printed. It holds the offline screen
 * (screen.ts: brand names, the seller's list, NSFW/hate/tragedy terms) and, when the
 * seller configures EUIPO credentials, an online check of the phrase against EU word marks
 * for clothing (euipo.ts). Every hit is counted in
 * `desainz_brand_safety_hits_total{reason,stage}`; the caller sends the idea to review with
 * the reasons, never drops it.
 *
 * Configuration: `BRAND_SAFETY_LIST` (a file: one name or term per line, `!term` allows,
 * `#` comments), `EUIPO_CLIENT_ID` + `EUIPO_CLIENT_SECRET` (on when both are set),
 * `EUIPO_API_URL` / `EUIPO_AUTH_URL` (sandbox or a test server).
 */
import { readFile } from "node:fs/promises"
import type { HttpClient } from "@effect/platform/HttpClient"
import { Config, Context, Effect, Layer, Option, Redacted } from "effect"
import { LRUCache } from "lru-cache"
import { PermanentError } from "../../runtime/errors.ts"
import type { HttpError } from "../../runtime/httpClient.ts"
import * as Http from "../../runtime/httpClient.ts"
import { Metrics } from "../../runtime/metrics.ts"
import type { ReviewReason } from "../schemas.ts"
import { type Euipo, type EuipoOptions, makeEuipo } from "./euipo.ts"
import { builtInMarks, englishWords, makeScreen, parseSellerList, type ScreenField, simpleIconsBrands } from "./screen.ts"

export type ScreenStage = "idea" | "listing"

export interface BrandSafetyShape {
  /**
   * Reasons to hold `fields` for a person (empty: nothing found), each counted. `phrase`, when
   * given, is also looked up online (EUIPO) if configured.
   */
  readonly screen: (
    stage: ScreenStage,
    fields: ReadonlyArray<ScreenField>,
    phrase?: string
  ) => Effect.Effect<ReadonlyArray<ReviewReason>, HttpError, Metrics>
}

export class BrandSafety extends Context.Tag("desainz/BrandSafety")<BrandSafety, BrandSafetyShape>() {}

export interface BrandSafetyOptions {
  /** The seller's block/allow list file. */
  readonly listFile?: string
  readonly euipo?: EuipoOptions
}

const readSellerList = (path: string | undefined) =>
  path === undefined
    ? Effect.succeed({ block: [], allow: [] })
    : Effect.tryPromise({
        try: () => readFile(path, "utf8"),
        catch: (error) => new PermanentError({ message: `BRAND_SAFETY_LIST: cannot read ${path}: ${error instanceof Error ? error.message : String(error)}` })
      }).pipe(Effect.map(parseSellerList))

export const make = (options: BrandSafetyOptions): Effect.Effect<BrandSafetyShape, PermanentError, HttpClient> =>
  Effect.gen(function* () {
    const seller = yield* readSellerList(options.listFile)
    const [brands, english] = yield* Effect.promise(() => Promise.all([simpleIconsBrands(), englishWords()]))
    const offline = makeScreen({ brands: [...brands, ...builtInMarks()], seller, commonWords: english.common, dictionary: english.dictionary })
    const euipo: Euipo | undefined = options.euipo === undefined ? undefined : yield* makeEuipo(options.euipo)
    const http = yield* Effect.context<HttpClient>()
    // One lookup per phrase per process: ideas repeat phrases, and the API is rate-limited.
    const online = new LRUCache<string, ReadonlyArray<ReviewReason>>({ max: 5_000 })

    const registeredMarks = (phrase: string, field: string): Effect.Effect<ReadonlyArray<ReviewReason>, HttpError> => {
      const key = phrase.trim().toLowerCase()
      const known = online.get(key)
      if (euipo === undefined || key === "") return Effect.succeed([])
      if (known !== undefined) return Effect.succeed(known.map((r) => ({ ...r, field })))
      return euipo.wordMarks(phrase).pipe(
        Effect.map((marks) =>
          marks.map(
            (m): ReviewReason => ({
              kind: "registered-mark",
              found: phrase,
              matched: `${m.wordMarkSpecification?.verbalElement ?? phrase} (EUTM ${m.applicationNumber}${m.status ? `, ${m.status}` : ""})`,
              field,
              source: "EUIPO"
            })
          )
        ),
        Effect.tap((reasons) => Effect.sync(() => online.set(key, reasons))),
        Effect.provide(http)
      )
    }

    return {
      screen: (stage, fields, phrase) =>
        Effect.gen(function* () {
          const reasons = [...offline.screen(fields), ...(phrase === undefined ? [] : yield* registeredMarks(phrase, fields[0]?.field ?? stage))]
          if (reasons.length > 0) {
            const hits = (yield* Metrics).registry.counter(
              "desainz_brand_safety_hits_total",
              "Brand-safety hits that sent an idea to human review, by reason and stage (idea, listing)"
            )
            for (const r of reasons) hits.inc({ reason: r.kind, stage })
          }
          return reasons
        })
    }
  })

export const layer = (options: BrandSafetyOptions): Layer.Layer<BrandSafety, PermanentError> =>
  Layer.effect(BrandSafety, make(options)).pipe(Layer.provide(Http.layer))

const optionalString = (name: string) => Config.option(Config.string(name)).pipe(Config.map(Option.filter((v) => v.trim() !== "")))

export const layerConfig = Layer.unwrapEffect(
  Effect.gen(function* () {
    const listFile = yield* optionalString("BRAND_SAFETY_LIST")
    const clientId = yield* optionalString("EUIPO_CLIENT_ID")
    const clientSecret = yield* Config.option(Config.redacted("EUIPO_CLIENT_SECRET"))
    const apiUrl = yield* optionalString("EUIPO_API_URL")
    const authUrl = yield* optionalString("EUIPO_AUTH_URL")
    const euipo =
      Option.isSome(clientId) && Option.isSome(clientSecret) && Redacted.value(clientSecret.value).trim() !== ""
        ? {
            clientId: clientId.value.trim(),
            clientSecret: clientSecret.value,
            ...(Option.isSome(apiUrl) ? { apiUrl: apiUrl.value.trim() } : {}),
            ...(Option.isSome(authUrl) ? { authUrl: authUrl.value.trim() } : {})
          }
        : undefined
    if (euipo !== undefined) yield* Effect.logInfo("brand safety: EUIPO trademark search on")
    return layer({ ...(Option.isSome(listFile) ? { listFile: listFile.value.trim() } : {}), ...(euipo ? { euipo } : {}) })
  })
)
