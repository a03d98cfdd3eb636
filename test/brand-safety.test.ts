/**
 * Brand & IP safety: a table of real brand names, near misses, evasions and everyday
 * phrases that must pass, against the offline screen (operators/safety/screen.ts) with
 * the shipped lists; the seller's block/allow list file; the metric; and the EUIPO client
 * against a fake speaking its wire format (test/fakes/euipo.ts).
 */
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { beforeAll } from "vitest"
import { PermanentError, RetryableError } from "../runtime/errors.ts"
import * as Http from "../runtime/httpClient.ts"
import { Metrics } from "../runtime/metrics.ts"
import { BrandSafety, layer as brandSafetyLayer } from "../operators/safety/brandSafety.ts"
import { makeEuipo, wordMarkQuery } from "../operators/safety/euipo.ts"
import { builtInMarks, editDistance, englishWords, makeScreen, parseSellerList, type Screen, simpleIconsBrands, words } from "../operators/safety/screen.ts"
import { CLIENT_ID, CLIENT_SECRET, startEuipoFake } from "./fakes/euipo.ts"
import { jsonResponse } from "./fakes/server.ts"

let screen: Screen
beforeAll(async () => {
  const english = await englishWords()
  screen = makeScreen({
    brands: [...(await simpleIconsBrands()), ...builtInMarks()],
    seller: parseSellerList("# my list\nTaco Tuesday\nGrumpyKitten\n!Dove   # I sell soap-themed designs under licence\n"),
    commonWords: english.common,
    dictionary: english.dictionary
  })
}, 60_000)

const hits = (text: string) => screen.screen([{ field: "idea", text }]).map((r) => `${r.kind}:${r.matched}`)

// [text, the hits it must produce]: an empty list means it must pass.
const TABLE: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
  // Distinctive brands, wherever they appear as a word, in any case, with accents or homoglyphs.
  ["Nike running club", ["trademark:Nike"]],
  ["JUST DO IT NIKE", ["trademark:Nike"]],
  ["Nіke (Cyrillic і) sneakerhead", ["trademark:Nike"]],
  ["n1ke vibes", ["trademark:Nike"]],
  ["$tarbucks addict", ["trademark:Starbucks"]],
  ["Adidas originals fan", ["trademark:Adidas"]],
  ["Coca-Cola Christmas truck", ["trademark:Coca-Cola"]],
  ["coca cola float", ["trademark:Coca-Cola"]],
  ["cocacola lover", ["trademark:Coca-Cola"]],
  ["Spotify wrapped 2026", ["trademark:Spotify"]],
  ["Pokémon trainer", ["trademark:pokemon"]],
  ["Star Wars day: may the fourth", ["trademark:star wars"]],
  ["Disney princess squad", ["trademark:disney"]],
  // Near misses of distinctive names (one edit; a transposition is one).
  ["Addidas shoes", ["trademark-near-miss:Adidas"]],
  ["Adiads shoes", ["trademark-near-miss:Adidas"]],
  ["Starbuks addict", ["trademark-near-miss:Starbucks"]],
  ["Spotfy playlist", ["trademark-near-miss:Spotify"]],
  ["Reddit's birthday", ["trademark:Reddit"]],
  ["Hong Kong skyline", []],
  // Common-word brands: only in brand context.
  ["apple picking season", []],
  ["target practice", []],
  ["Shell collector", []],
  ["slack off friday", []],
  ["mind the gap", []],
  ["Apple logo tee", ["trademark:Apple"]],
  ["Target™ merch", ["trademark:Target"]],
  ["official Shell fan", ["trademark:Shell"]],
  // Everyday designs that must pass.
  ["Dog mom club", []],
  ["Teacher appreciation week", []],
  ["Nurse life runs on coffee", []],
  ["shooting star", []],
  ["Day of the Dead", []],
  ["sigma male grindset", []],
  ["Go team", []],
  ["Plant mom energy", []],
  ["Merry Christmas y'all", []],
  // Text screen: profanity, slurs and hate symbols, news tragedies.
  ["shitty day", ["nsfw:shit"]],
  ["nazi punks", ["hate:nazi"]],
  ["school shooting survivors", ["tragedy:school shooting"]],
  // The seller's list: blocked terms hit always; allowed ones never.
  ["Taco Tuesday crew", ["blocked-term:Taco Tuesday"]],
  ["GrumpyKiten", ["blocked-term:GrumpyKitten"]],
  ["Dove logo soap", []]
]

describe("brand-safety screen (offline lists)", () => {
  it.each(TABLE)("%s", (text, expected) => {
    expect(hits(text).sort()).toEqual([...expected].sort())
  })

  it("says what was found where, and on which list", () => {
    expect(screen.screen([{ field: "listing:etsy:title", text: "Addidas Gift" }])).toEqual([
      { kind: "trademark-near-miss", found: "addidas", matched: "Adidas", field: "listing:etsy:title", source: "simple-icons" }
    ])
  })

  it("reads words the way it compares names", () => {
    expect(words("Levi’s® Café-Racer n1ke 2026 rock'n'roll")).toEqual(["levi", "tm", "cafe", "racer", "nike", "2026", "rocknroll"])
    expect(editDistance("adidas", "adiads", 1)).toBe(1)
    expect(editDistance("adidas", "nikes", 2)).toBe(3)
  })
})

describe("BrandSafety service", () => {
  const withList = (text: string) => {
    const dir = mkdtempSync(join(tmpdir(), "desainz-brand-"))
    writeFileSync(join(dir, "list.txt"), text)
    return join(dir, "list.txt")
  }

  it.scoped("reads the seller's list file and counts every hit by reason and stage", () =>
    Effect.gen(function* () {
      const safety = yield* BrandSafety
      const reasons = yield* safety.screen("idea", [{ field: "idea", text: "Grumpy Llama meets Nike" }])
      expect(reasons.map((r) => `${r.kind}:${r.matched}:${r.source}`)).toEqual(["blocked-term:Grumpy Llama:seller list", "trademark:Nike:simple-icons"])
      expect(yield* safety.screen("listing", [{ field: "listing:etsy:title", text: "nike and adidas" }])).toHaveLength(1)
      const m = yield* Metrics
      const hits = m.registry.counter("desainz_brand_safety_hits_total", "")
      expect(hits.get({ reason: "trademark", stage: "idea" })).toBe(1)
      expect(hits.get({ reason: "blocked-term", stage: "idea" })).toBe(1)
      expect(hits.get({ reason: "trademark", stage: "listing" })).toBe(1)
    }).pipe(Effect.provide(Layer.merge(brandSafetyLayer({ listFile: withList("Grumpy Llama\n!adidas\n") }), Metrics.layer)))
  , 60_000)

  it.scoped("a list file that cannot be read is a clear startup error naming the variable", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Layer.build(brandSafetyLayer({ listFile: "/nonexistent/brand-list.txt" })))
      expect(error).toBeInstanceOf(PermanentError)
      expect(error.message).toContain("BRAND_SAFETY_LIST: cannot read /nonexistent/brand-list.txt")
    })
  , 60_000)
})

describe("EUIPO trademark search (contract, fake API)", () => {
  const marks = [
    { applicationNumber: "018234567", verbalElement: "Dog Mom Club", status: "REGISTERED", niceClasses: [25, 35] },
    { applicationNumber: "018999001", verbalElement: "Plant Mom", status: "REGISTERED", niceClasses: [31] },
    { applicationNumber: "017000002", verbalElement: "Coffee First", status: "EXPIRED", niceClasses: [25] }
  ]
  const options = (url: string, secret = CLIENT_SECRET) => ({
    clientId: CLIENT_ID,
    clientSecret: Redacted.make(secret),
    apiUrl: `${url}/trademark-search`,
    authUrl: `${url}/oidc/accessToken`
  })

  it.scopedLive("finds live word marks for clothing, with one token for many searches", () =>
    Effect.gen(function* () {
      const fake = yield* startEuipoFake(marks)
      const euipo = yield* makeEuipo(options(fake.url))
      const found = yield* euipo.wordMarks("dog mom club")
      expect(found.map((m) => m.applicationNumber)).toEqual(["018234567"])
      // Wrong class (31), expired: not a right that stops a T-shirt.
      expect(yield* euipo.wordMarks("Plant Mom")).toEqual([])
      expect(yield* euipo.wordMarks("Coffee First")).toEqual([])
      expect(fake.state.issued).toBe(1)
      expect(fake.state.queries[0]).toBe(wordMarkQuery("dog mom club", [25]))
      expect(fake.state.queries[0]).toContain('wordMarkSpecification.verbalElement=="dog mom club";niceClasses=in=(25);status=in=(')
      const search = fake.requests.find((r) => r.path.endsWith("/trademarks"))!
      expect(search.headers.get("x-ibm-client-id")).toBe(CLIENT_ID)
      expect(search.headers.get("authorization")).toMatch(/^Bearer AT-1-/)
      expect(search.query.get("size")).toBe("10")
    }).pipe(Effect.provide(Http.layer))
  )

  it.scopedLive("escapes RSQL in the phrase", () =>
    Effect.gen(function* () {
      expect(wordMarkQuery('say "hi" *now*', [])).toBe('wordMarkSpecification.verbalElement=="say \\"hi\\" \\*now\\*";status=in=(RECEIVED,UNDER_EXAMINATION,APPLICATION_PUBLISHED,REGISTRATION_PENDING,REGISTERED,OPPOSITION_PENDING,APPEALED)')
      const fake = yield* startEuipoFake([{ applicationNumber: "1", verbalElement: 'say "hi"', status: "REGISTERED", niceClasses: [25] }])
      const euipo = yield* makeEuipo(options(fake.url))
      expect((yield* euipo.wordMarks('say "hi"')).map((m) => m.applicationNumber)).toEqual(["1"])
    }).pipe(Effect.provide(Http.layer))
  )

  it.scopedLive("a revoked token is replaced once after the gateway's 401", () =>
    Effect.gen(function* () {
      const fake = yield* startEuipoFake(marks)
      const euipo = yield* makeEuipo(options(fake.url))
      yield* euipo.wordMarks("Dog Mom Club")
      fake.revokeTokens()
      expect((yield* euipo.wordMarks("Dog Mom Club")).length).toBe(1)
      expect(fake.state.issued).toBe(2)
      expect(fake.statuses).toEqual([200, 200, 401, 200, 200])
    }).pipe(Effect.provide(Http.layer))
  )

  it.scopedLive("wrong credentials are permanent with OAuth2's reason; a 429 is retryable with its wait", () =>
    Effect.gen(function* () {
      const fake = yield* startEuipoFake(marks)
      const denied = yield* Effect.flip((yield* makeEuipo(options(fake.url, "wrong"))).wordMarks("Dog Mom Club"))
      expect(denied).toBeInstanceOf(PermanentError)
      expect(denied.message).toContain("EUIPO token: HTTP 401")
      expect(denied.message).toContain("invalid_client")
      const euipo = yield* makeEuipo(options(fake.url))
      yield* euipo.wordMarks("Plant Mom")
      fake.inject(jsonResponse(429, { httpCode: "429", httpMessage: "Too Many Requests", moreInformation: "Rate Limit exceeded" }, { "retry-after": "30" }))
      const limited = yield* Effect.flip(euipo.wordMarks("Dog Mom Club"))
      expect(limited).toBeInstanceOf(RetryableError)
      expect(Http.httpFailure(limited)?.retryAfterMs).toBe(30_000)
    }).pipe(Effect.provide(Http.layer))
  )

  it.scopedLive("as part of the BrandSafety service: a registered phrase is a review reason, looked up once", () =>
    Effect.gen(function* () {
      const fake = yield* startEuipoFake(marks)
      const safety = yield* Effect.provide(BrandSafety, brandSafetyLayer({ euipo: options(fake.url) }))
      const first = yield* safety.screen("idea", [{ field: "idea", text: "Dog Mom Club" }], "Dog Mom Club")
      expect(first).toEqual([
        { kind: "registered-mark", found: "Dog Mom Club", matched: "Dog Mom Club (EUTM 018234567, REGISTERED)", field: "idea", source: "EUIPO" }
      ])
      yield* safety.screen("idea", [{ field: "idea", text: "dog mom club" }], "dog mom club")
      expect(fake.state.queries).toHaveLength(1)
    }).pipe(Effect.provide(Metrics.layer))
  , 60_000)
})
