/**
 * The listing writer: one service, one layer per backend, chosen from configuration.
 *
 * - `LLM_URL` set: any OpenAI-compatible chat model (OpenAI, Ollama, vLLM) through the
 *   `openai` client, with `LLM_MODEL` and the redacted `LLM_API_KEY`. It asks for
 *   structured output (`response_format: json_schema`, strict) under a token cap
 *   (`LLM_MAX_TOKENS`, default 256) and validates the answer with the `ListingText` schema
 *   and the marketplace's rules. An answer that breaks either is repaired once: a second
 *   call shows the model its answer and what was wrong. A second bad answer falls back to
 *   the template writer, and the result says which writer wrote it and why.
 * - unset: the template writer (operators/listing/template.ts).
 *
 * A failed call is not a bad answer: 429, 5xx and lost connections are retryable (the
 * worker retries with backoff, honouring Retry-After), other 4xx are permanent (a wrong
 * key or model dead-letters the draft with the server's message instead of hiding the
 * misconfiguration behind template text).
 */
import { Config, Context, Effect, Layer, Option, ParseResult, Redacted, Schema } from "effect"
import OpenAI from "openai"
import type { PermanentError, RetryableError } from "../../runtime/errors.ts"
import { Metrics } from "../../runtime/metrics.ts"
import { classifyOpenAIError } from "../openaiErrors.ts"
import type { WriterName } from "../schemas.ts"
import { ListingText, rulesFor, type MarketplaceRules, ruleViolations } from "./rules.ts"
import { audience, occasion, templateText, type WriteRequest } from "./template.ts"
import { positiveInteger } from "../../runtime/config.ts"

export interface WrittenText {
  readonly text: ListingText
  readonly writer: WriterName
  /** The model that wrote it, or why the template writer stood in for it. */
  readonly note?: string
}

export interface ListingWriterShape {
  readonly write: (request: WriteRequest) => Effect.Effect<WrittenText, RetryableError | PermanentError, Metrics>
}

export class ListingWriter extends Context.Tag("desainz/ListingWriter")<ListingWriter, ListingWriterShape>() {}

const count = (writer: WriterName, outcome: string, marketplace: string) =>
  Effect.map(Metrics, (m) =>
    m.registry
      .counter("desainz_listing_writer_total", "Listing texts written, by writer and outcome (first answer, repaired, template fallback)")
      .inc({ writer, outcome, marketplace })
  )

export const makeTemplate = (): ListingWriterShape => ({
  write: (request) => Effect.as(count("template", "written", request.marketplace), { text: templateText(request), writer: "template" as const })
})

// ---------------------------------------------------------------------------------------
// OpenAI-compatible chat model

export interface LlmWriterOptions {
  /** API root including `/v1`, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:11434/v1`. */
  readonly baseURL: string
  readonly model: string
  readonly apiKey: Redacted.Redacted<string>
  /** Completion token cap per call. */
  readonly maxTokens?: number
  /** In-call retries of 429/5xx by the client (Retry-After honoured) before the worker's own. */
  readonly maxRetries?: number
  readonly timeoutMs?: number
}

/**
 * The structured-output schema for one marketplace. Strict mode takes no string lengths,
 * so those go in the descriptions (and the prompt) and are checked on the answer.
 */
export const responseSchema = (rules: MarketplaceRules) => ({
  type: "object",
  properties: {
    title: { type: "string", description: `at most ${rules.title.max} characters` },
    description: { type: "string", description: `plain text, at most ${rules.description.max} characters` },
    bullets: {
      type: "array",
      items: { type: "string", description: `at most ${rules.bullets.maxLength} characters` },
      minItems: rules.bullets.count,
      maxItems: rules.bullets.count
    },
    tags: { type: "array", items: { type: "string", description: `at most ${rules.tags.maxLength} characters` }, maxItems: rules.tags.max }
  },
  required: ["title", "description", "bullets", "tags"],
  additionalProperties: false
})

const rulesInWords = (rules: MarketplaceRules) =>
  [
    `title: at most ${rules.title.max} characters${rules.title.once ? `, each of ${rules.title.once.join(" ")} at most once` : ""}${rules.title.forbidden ? ", letters, numbers, punctuation and spaces only" : ""}`,
    `bullets: exactly ${rules.bullets.count}, each at most ${rules.bullets.maxLength} characters`,
    rules.tags.max === 0
      ? "tags: none (an empty list)"
      : `tags: at most ${rules.tags.max}, each at most ${rules.tags.maxLength} characters, letters, numbers, spaces, - and ' only, no repeats`,
    `description: at most ${rules.description.max} characters`
  ].join("\n")

const SYSTEM = `You write marketplace listings for print-on-demand designs. Use only the facts you are given.
Never claim materials, fabric, fit, sizes, print method, durability, shipping or delivery times: the seller chooses the product at the marketplace.
Do not name brands, trademarks, celebrities or franchises. Answer with JSON only.`

export const promptFor = (request: WriteRequest) => {
  const idea = request.set.artwork.idea
  const rules = rulesFor(request.marketplace)
  const facts = {
    marketplace: request.marketplace,
    product: request.product,
    phrase: idea.keyPhrase,
    audience: audience(idea),
    occasion: occasion(idea) ?? null,
    colorways: [...new Set(request.set.mockups.map((m) => m.colorway))],
    trendingTopic: idea.title,
    draft: templateText(request)
  }
  return [
    { role: "system" as const, content: `${SYSTEM}\n\nRules for ${request.marketplace}:\n${rulesInWords(rules)}` },
    { role: "user" as const, content: `Write the listing. Facts:\n${JSON.stringify(facts)}` }
  ]
}

type Message = OpenAI.Chat.Completions.ChatCompletionMessageParam

/** What is wrong with an answer (empty: usable), and the text when it decoded. */
export const checkAnswer = (
  completion: OpenAI.Chat.Completions.ChatCompletion,
  rules: MarketplaceRules,
  maxTokens: number
): { readonly problems: ReadonlyArray<string>; readonly content: string; readonly text?: ListingText } => {
  const choice = completion.choices?.[0]
  const content = choice?.message?.content ?? ""
  if (choice === undefined) return { problems: ["the answer had no choices"], content }
  if (choice.message.refusal) return { problems: [`the model refused: ${choice.message.refusal}`], content }
  if (choice.finish_reason === "length") {
    return { problems: [`the answer was cut off at the ${maxTokens}-token cap; write shorter text`], content }
  }
  let json: unknown
  try {
    json = JSON.parse(content)
  } catch {
    return { problems: ["the answer is not valid JSON"], content }
  }
  const decoded = Schema.decodeUnknownEither(ListingText, { onExcessProperty: "error" })(json)
  if (decoded._tag === "Left") return { problems: [`the answer does not match the schema: ${ParseResult.TreeFormatter.formatErrorSync(decoded.left)}`], content }
  const problems = ruleViolations(decoded.right, rules)
  return problems.length === 0 ? { problems, content, text: decoded.right } : { problems, content }
}

export const makeLlm = (options: LlmWriterOptions): ListingWriterShape => {
  const client = new OpenAI({
    baseURL: options.baseURL,
    apiKey: Redacted.value(options.apiKey),
    maxRetries: options.maxRetries ?? 2,
    timeout: options.timeoutMs ?? 60_000
  })
  const { model } = options
  const maxTokens = options.maxTokens ?? 256
  const what = `listing writer (${model})`

  const ask = (messages: ReadonlyArray<Message>, rules: MarketplaceRules) =>
    Effect.tryPromise({
      try: (signal) =>
        client.chat.completions.create(
          {
            model,
            messages: [...messages],
            // max_tokens, not max_completion_tokens: Ollama and vLLM read this one.
            max_tokens: maxTokens,
            response_format: { type: "json_schema", json_schema: { name: "listing", strict: true, schema: responseSchema(rules) } }
          },
          { signal }
        ),
      catch: (error) => classifyOpenAIError(error, what)
    }).pipe(Effect.map((completion) => checkAnswer(completion, rules, maxTokens)))

  return {
    write: (request) =>
      Effect.gen(function* () {
        const rules = rulesFor(request.marketplace)
        const messages = promptFor(request)
        const first = yield* ask(messages, rules)
        if (first.text !== undefined) {
          yield* count("llm", "first-answer", request.marketplace)
          return { text: first.text, writer: "llm" as const, note: model }
        }
        const repair: Array<Message> = [
          ...messages,
          { role: "assistant", content: first.content },
          { role: "user", content: `Your answer breaks these rules:\n- ${first.problems.join("\n- ")}\nAnswer again with the whole listing, fixed.` }
        ]
        const second = yield* ask(repair, rules)
        if (second.text !== undefined) {
          yield* count("llm", "repaired", request.marketplace)
          return { text: second.text, writer: "llm" as const, note: `${model}, repaired once: ${first.problems.join("; ")}` }
        }
        yield* count("template", "llm-fallback", request.marketplace)
        yield* Effect.logWarning(`${what}: answer unusable after one repair (${second.problems.join("; ")}); template writer used`)
        return { text: templateText(request), writer: "template" as const, note: `${model} answer unusable after one repair: ${second.problems.join("; ")}` }
      })
  }
}

// ---------------------------------------------------------------------------------------
// Layers

export const layerTemplate: Layer.Layer<ListingWriter> = Layer.sync(ListingWriter, makeTemplate)

export const layerLlm = (options: LlmWriterOptions): Layer.Layer<ListingWriter> => Layer.sync(ListingWriter, () => makeLlm(options))

export const layerConfig = Layer.unwrapEffect(
  Effect.gen(function* () {
    const url = Option.filter(yield* Config.option(Config.string("LLM_URL")), (u) => u.trim() !== "")
    if (Option.isNone(url)) return layerTemplate
    const model = yield* Config.string("LLM_MODEL").pipe(Config.withDefault("gpt-4o-mini"))
    // Local servers (Ollama, vLLM) take any key; the client insists on one.
    const apiKey = yield* Config.redacted("LLM_API_KEY").pipe(Config.withDefault(Redacted.make("none")))
    const maxTokens = yield* positiveInteger("LLM_MAX_TOKENS", 256)
    yield* Effect.logInfo(`listing writer: ${model} at LLM_URL, ${maxTokens} tokens per answer`)
    return layerLlm({ baseURL: url.value.trim(), model, apiKey, maxTokens })
  })
)
