/**
 * The listing writer: the template writer against every marketplace's rules, and the LLM
 * writer against a fake OpenAI-compatible server (test/fakes/openai.ts): structured output
 * requested and honoured, over-long or invalid answers repaired once or replaced by the
 * template writer, 429/5xx retried, other 4xx permanent.
 */
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { Effect, Exit, Redacted } from "effect"
import { PermanentError, RetryableError } from "../runtime/errors.ts"
import { Metrics } from "../runtime/metrics.ts"
import { fitToRules, KNOWN_MARKETPLACES, MARKETPLACE_RULES, type Marketplace, parseMarketplaces, rulesFor, ruleViolations } from "../operators/listing/rules.ts"
import { templateText } from "../operators/listing/template.ts"
import { makeLlm } from "../operators/listing/writer.ts"
import { API_KEY, MODEL, rateLimited, serverError, startOpenAIFake } from "./fakes/openai.ts"
import { sampleIdea, sampleSet } from "./support/listings.ts"

const set = sampleSet()
const request = (marketplace: Marketplace = "etsy") => ({ set, marketplace, product: "T-Shirt" })

const good = {
  title: "Dog Mom Club T-Shirt - Mother's Day Gift for Dog Lovers",
  description: "Dog Mom Club, set in bold type for dog lovers ahead of Mother's Day.",
  bullets: ["Bold Dog Mom Club lettering", "Made for dog lovers", "Shown in black and heather grey", "For Mother's Day", "Typeset in bold letters"],
  tags: ["dog mom", "dog mom club", "mothers day gift"]
}
const answer = (over: Record<string, unknown> = {}) => JSON.stringify({ ...good, ...over })

// Product claims the template writer must not make: it does not know the product.
const CLAIMS = /cotton|polyester|fabric|pre-?shrunk|soft|lightweight|unisex|fit\b|sizes?\b|shipp|deliver|durable|machine wash/i

describe("template writer", () => {
  it("writes text that keeps every marketplace's rules, with no invented product claims", () => {
    for (const marketplace of KNOWN_MARKETPLACES) {
      const text = templateText(request(marketplace))
      expect(ruleViolations(text, MARKETPLACE_RULES[marketplace]), marketplace).toEqual([])
      expect([text.title, text.description, ...text.bullets].join("\n"), marketplace).not.toMatch(CLAIMS)
      expect(text.bullets).toHaveLength(MARKETPLACE_RULES[marketplace].bullets.count)
    }
    const etsy = templateText(request("etsy"))
    expect(etsy.title).toContain("Dog Mom Club T-Shirt")
    expect(etsy.bullets.join(" ")).toContain("black and heather grey")
    expect(etsy.tags.length).toBeGreaterThan(3)
    const merch = templateText(request("amazon-merch"))
    expect(merch.tags).toEqual([])
    expect(merch.bullets).toHaveLength(2)
    expect([...merch.title].length).toBeLessThanOrEqual(60)
  })

  it("fits long phrases and awkward characters to the rules (Etsy title characters, tag characters, lengths)", () => {
    const idea = sampleIdea({ keyPhrase: "100% Dog Mom & Proud: Coffee + Paws + Naps 🐾 & More: Forever and Always Yours", signal: { ...sampleIdea().signal, tags: ["#dogmom", "a tag that is far too long to be a tag", "paws"] } })
    for (const marketplace of KNOWN_MARKETPLACES) {
      const text = templateText({ set: sampleSet(idea), marketplace, product: "T-Shirt" })
      expect(ruleViolations(text, MARKETPLACE_RULES[marketplace]), marketplace).toEqual([])
    }
    const fitted = fitToRules({ title: "A % B % C & D & E 🐾", description: "x", bullets: [], tags: ["ok tag", "OK TAG", "bad#tag", "x".repeat(21)] }, MARKETPLACE_RULES.etsy)
    expect(fitted.title).toBe("A % B C & D E")
    expect(fitted.tags).toEqual(["ok tag", "badtag"])
  })

  it("whatever the idea says, the template's text keeps every marketplace's rules (the fallback is always usable)", () => {
    const text = fc.string({ unit: fc.constantFrom(..."abcXYZ é%:&+#@!?-'’ 🐾™0123456789".split(""), "  ", "\u0438"), minLength: 1, maxLength: 80 })
    fc.assert(
      fc.property(text.filter((s) => s.trim().length > 0), fc.array(text, { maxLength: 20 }), fc.option(text, { nil: undefined }), (phrase, tags, niche) => {
        const idea = sampleIdea({ keyPhrase: phrase, signal: { ...sampleIdea().signal, tags }, ...(niche === undefined ? {} : { niche }) })
        for (const marketplace of KNOWN_MARKETPLACES) {
          expect(ruleViolations(templateText({ set: sampleSet(idea), marketplace, product: "T-Shirt" }), MARKETPLACE_RULES[marketplace])).toEqual([])
        }
      }),
      { numRuns: 300 }
    )
  })

  it("ruleViolations names each broken rule", () => {
    const text = { title: "x".repeat(141), description: "d", bullets: ["b", "b", "b", "b", "b"], tags: ["dog_mom", "dog mom", "Dog Mom", "y".repeat(21)] }
    expect(ruleViolations(text, MARKETPLACE_RULES.etsy)).toEqual([
      "title is 141 characters; the limit is 140",
      `tag "dog_mom" contains characters the marketplace refuses (letters, numbers, spaces, - and ' only)`,
      `tag "Dog Mom" is repeated`,
      `tag "${"y".repeat(21)}" is 21 characters; the limit is 20`
    ])
    expect(ruleViolations(text, MARKETPLACE_RULES["amazon-merch"])).toContain("5 bullets; exactly 2 are needed")
  })

  it("MARKETPLACES: default export, malformed names refused by name; a marketplace without rules of its own gets Etsy's", () => {
    expect(parseMarketplaces(undefined)).toEqual(["export"])
    expect(parseMarketplaces(" etsy, Printify ,etsy")).toEqual(["etsy", "printify"])
    // A publisher added in one file needs no entry here (the Marketplace layer refuses names no publisher has).
    expect(parseMarketplaces("etsy,teepublic")).toEqual(["etsy", "teepublic"])
    expect(() => parseMarketplaces("etsy,tee public!")).toThrow('MARKETPLACES: "tee public!" is not a marketplace name')
    expect(rulesFor("teepublic")).toBe(MARKETPLACE_RULES.etsy)
    expect(rulesFor("amazon-merch")).toBe(MARKETPLACE_RULES["amazon-merch"])
  })
})

describe("LLM writer (contract, fake /v1/chat/completions)", () => {
  const writerFor = (url: string, over: { apiKey?: string; model?: string; maxTokens?: number } = {}) =>
    makeLlm({ baseURL: url, model: over.model ?? MODEL, apiKey: Redacted.make(over.apiKey ?? API_KEY), maxTokens: over.maxTokens ?? 256, maxRetries: 2 })

  it.scopedLive("asks for strict structured output under the token cap and uses an answer that fits", () =>
    Effect.gen(function* () {
      const fake = yield* startOpenAIFake
      fake.answers.push(answer())
      const written = yield* writerFor(fake.url).write(request("etsy"))
      expect(written).toEqual({ text: good, writer: "llm", note: MODEL })
      const body = fake.bodies[0]!
      expect(body.max_tokens).toBe(256)
      expect(body.response_format?.type).toBe("json_schema")
      expect(body.response_format?.json_schema?.strict).toBe(true)
      expect(body.response_format?.json_schema?.schema).toMatchObject({ required: ["title", "description", "bullets", "tags"], additionalProperties: false })
      expect(body.messages[0]!.content).toContain("title: at most 140 characters")
      expect(body.messages[1]!.content).toContain('"phrase":"Dog Mom Club"')
      expect(fake.requests[0]!.headers.get("authorization")).toBe(`Bearer ${API_KEY}`)
      const m = yield* Metrics
      expect(m.registry.counter("desainz_listing_writer_total", "").get({ writer: "llm", outcome: "first-answer", marketplace: "etsy" })).toBe(1)
    }).pipe(Effect.provide(Metrics.layer))
  )

  it.scopedLive("repairs an over-long answer once, telling the model what was wrong", () =>
    Effect.gen(function* () {
      const fake = yield* startOpenAIFake
      fake.answers.push(answer({ title: "Dog Mom ".repeat(25).trim() }), answer())
      const written = yield* writerFor(fake.url).write(request("etsy"))
      expect(written.writer).toBe("llm")
      expect(written.text).toEqual(good)
      expect(written.note).toContain("repaired once: title is 199 characters; the limit is 140")
      const repair = fake.bodies[1]!.messages
      expect(repair).toHaveLength(4)
      expect(repair[2]).toMatchObject({ role: "assistant" })
      expect(repair[3]!.content).toContain("title is 199 characters; the limit is 140")
    }).pipe(Effect.provide(Metrics.layer))
  )

  it.scopedLive("checks the marketplace's own rules: Amazon Merch takes two bullets and no tags", () =>
    Effect.gen(function* () {
      const fake = yield* startOpenAIFake
      fake.answers.push(answer({ bullets: ["a", "b", "c"] }), answer({ tags: [], bullets: ["a", "b"] }))
      const written = yield* writerFor(fake.url).write(request("amazon-merch"))
      expect(written.writer).toBe("llm")
      expect(written.text.tags).toEqual([])
      expect(fake.bodies[1]!.messages[3]!.content).toContain("3 bullets; exactly 2 are needed")
      expect(fake.bodies[1]!.messages[3]!.content).toContain("3 tags; at most 0 are allowed")
      expect(fake.bodies[0]!.response_format?.json_schema?.schema).toMatchObject({ properties: { tags: { maxItems: 0 }, bullets: { minItems: 2, maxItems: 2 } } })
    }).pipe(Effect.provide(Metrics.layer))
  )

  it.scopedLive("falls back to the template writer when the repaired answer is still unusable, and says why", () =>
    Effect.gen(function* () {
      const fake = yield* startOpenAIFake
      fake.answers.push("Sure! Here is your listing: Dog Mom Club", answer({ title: "", extra: 1 }))
      const written = yield* writerFor(fake.url).write(request("etsy"))
      expect(written.writer).toBe("template")
      expect(written.text).toEqual(templateText(request("etsy")))
      expect(written.note).toContain("answer unusable after one repair: the answer does not match the schema")
      expect(fake.bodies[1]!.messages[3]!.content).toContain("the answer is not valid JSON")
      const m = yield* Metrics
      expect(m.registry.counter("desainz_listing_writer_total", "").get({ writer: "template", outcome: "llm-fallback", marketplace: "etsy" })).toBe(1)
    }).pipe(Effect.provide(Metrics.layer))
  )

  it.scopedLive("an answer cut at the token cap, or a refusal, is a bad answer too", () =>
    Effect.gen(function* () {
      const fake = yield* startOpenAIFake
      fake.answers.push(answer({ description: "Dog mom. ".repeat(80) }), { refusal: "I can't help with that." })
      const written = yield* writerFor(fake.url, { maxTokens: 64 }).write(request("etsy"))
      expect(fake.bodies[0]!.max_tokens).toBe(64)
      expect(fake.bodies[1]!.messages[3]!.content).toContain("cut off at the 64-token cap")
      expect(written.writer).toBe("template")
      expect(written.note).toContain("the model refused: I can't help with that.")
    }).pipe(Effect.provide(Metrics.layer))
  )

  it.scopedLive("retries 429 (honouring retry-after-ms) and 5xx inside the call", () =>
    Effect.gen(function* () {
      const fake = yield* startOpenAIFake
      fake.inject(rateLimited(20), serverError(503))
      fake.answers.push(answer())
      const written = yield* writerFor(fake.url).write(request("etsy"))
      expect(written.writer).toBe("llm")
      expect(fake.statuses).toEqual([429, 503, 200])
    }).pipe(Effect.provide(Metrics.layer))
  )

  it.scopedLive("persistent 429/5xx fail retryable with the server's message, for the worker to retry later", () =>
    Effect.gen(function* () {
      const fake = yield* startOpenAIFake
      fake.inject(serverError(500), serverError(500), rateLimited(30))
      const exit = yield* Effect.exit(writerFor(fake.url).write(request("etsy")))
      expect(fake.statuses).toEqual([500, 500, 429])
      expect(Exit.isFailure(exit)).toBe(true)
      const error = Exit.isFailure(exit) ? exit.cause.pipe((c) => (c._tag === "Fail" ? c.error : undefined)) : undefined
      expect(error).toBeInstanceOf(RetryableError)
      expect(error!.message).toContain(`listing writer (${MODEL}): HTTP 429`)
      expect(error!.message).toContain("Rate limit reached")
    }).pipe(Effect.provide(Metrics.layer))
  )

  it.scopedLive("other 4xx are permanent and not retried: a wrong key, an unknown model", () =>
    Effect.gen(function* () {
      const fake = yield* startOpenAIFake
      const wrongKey = yield* Effect.flip(writerFor(fake.url, { apiKey: "sk-wrong" }).write(request("etsy")))
      expect(wrongKey).toBeInstanceOf(PermanentError)
      expect(wrongKey.message).toContain("HTTP 401: 401 Incorrect API key provided")
      const unknownModel = yield* Effect.flip(writerFor(fake.url, { model: "no-such-model" }).write(request("etsy")))
      expect(unknownModel).toBeInstanceOf(PermanentError)
      expect(unknownModel.message).toContain("The model `no-such-model` does not exist")
      expect(fake.statuses).toEqual([401, 404])
    }).pipe(Effect.provide(Metrics.layer))
  )
})
