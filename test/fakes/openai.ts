/**
 * Fake OpenAI-compatible chat completions server (`POST /v1/chat/completions`), speaking
 * the wire format of the OpenAI API reference ("Create chat completion", the `ChatCompletion`
 * object) as the `openai` package reads it (node_modules/openai, resources/chat/completions,
 * core/error.ts):
 * - `Authorization: Bearer <key>` required: 401 `invalid_api_key` otherwise.
 * - unknown `model`: 404 `model_not_found`.
 * - `response_format: {type: "json_schema", json_schema: {name, strict, schema}}` checked
 *   the way strict mode does (an object schema with `additionalProperties: false` and every
 *   property required): 400 `invalid_request_error` with `param: "response_format"` otherwise.
 * - `max_tokens` (or `max_completion_tokens`) honoured: an answer longer than the cap (4
 *   characters a token) is cut and ends with `finish_reason: "length"`.
 * - every error body is `{"error": {"message", "type", "param", "code"}}`; `rateLimited()`
 *   and `serverError()` give the real 429 (with `retry-after`, `retry-after-ms` and the
 *   `x-ratelimit-*` headers) and 500/503 answers to inject ahead of the next request.
 * Answers are scripted per test: `answers` is a queue of content strings or functions of
 * the request; a refusal is `{ refusal: "..." }`.
 */
import { Effect } from "effect"
import { Hono } from "hono"
import { jsonResponse, startFake } from "./server.ts"

export const API_KEY = "sk-test-fake-0123456789"
export const MODEL = "gpt-4o-mini-fake"

export interface ChatRequest {
  readonly model: string
  readonly messages: ReadonlyArray<{ readonly role: string; readonly content: string }>
  readonly max_tokens?: number
  readonly max_completion_tokens?: number
  readonly response_format?: { readonly type: string; readonly json_schema?: { readonly name?: string; readonly strict?: boolean; readonly schema?: Record<string, unknown> } }
}

export type Answer = string | { readonly refusal: string } | ((request: ChatRequest) => string)

const error = (status: number, message: string, type: string, code: string | null, param: string | null = null, headers: Record<string, string> = {}) =>
  jsonResponse(status, { error: { message, type, param, code } }, headers)

export const rateLimited = (retryAfterMs = 20) =>
  error(
    429,
    `Rate limit reached for ${MODEL} in organization org-fake on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in ${retryAfterMs}ms. Visit https://platform.openai.com/account/rate-limits to learn more.`,
    "requests",
    "rate_limit_exceeded",
    null,
    {
      "retry-after": String(Math.ceil(retryAfterMs / 1000)),
      "retry-after-ms": String(retryAfterMs),
      "x-ratelimit-limit-requests": "3",
      "x-ratelimit-remaining-requests": "0",
      "x-ratelimit-reset-requests": `${retryAfterMs}ms`
    }
  )

export const serverError = (status: 500 | 503 = 500) =>
  status === 500
    ? error(500, "The server had an error while processing your request. Sorry about that!", "server_error", null)
    : error(503, "The engine is currently overloaded, please try again later.", "server_error", null)

/** What strict structured output refuses, or undefined when the schema is acceptable. */
const strictSchemaProblem = (schema: Record<string, unknown> | undefined): string | undefined => {
  if (schema === undefined || schema["type"] !== "object") return "schema must be a JSON Schema of 'type: \"object\"'"
  if (schema["additionalProperties"] !== false) return "'additionalProperties' is required to be supplied and to be false"
  const properties = Object.keys((schema["properties"] as Record<string, unknown> | undefined) ?? {})
  const required = (schema["required"] as ReadonlyArray<string> | undefined) ?? []
  const missing = properties.filter((p) => !required.includes(p))
  return missing.length > 0 ? `'required' is required to be supplied and to be an array including every key in properties. Missing '${missing[0]}'` : undefined
}

export const startOpenAIFake = Effect.gen(function* () {
  const answers: Array<Answer> = []
  const bodies: Array<ChatRequest> = []
  const app = new Hono()
  app.post("/v1/chat/completions", async (c) => {
    const auth = c.req.header("authorization") ?? ""
    if (auth !== `Bearer ${API_KEY}`) {
      return error(401, `Incorrect API key provided: ${auth.replace(/^Bearer /, "").slice(0, 6)}****. You can find your API key at https://platform.openai.com/account/api-keys.`, "invalid_request_error", "invalid_api_key")()
    }
    const body = (await c.req.json()) as ChatRequest
    bodies.push(body)
    if (body.model !== MODEL) {
      return error(404, `The model \`${body.model}\` does not exist or you do not have access to it.`, "invalid_request_error", "model_not_found")()
    }
    const format = body.response_format
    if (format !== undefined && format.type === "json_schema") {
      const problem = format.json_schema?.strict === true ? strictSchemaProblem(format.json_schema.schema) : undefined
      if (problem !== undefined || !format.json_schema?.name) {
        return error(400, `Invalid schema for response_format '${format.json_schema?.name ?? ""}': ${problem ?? "name is required"}.`, "invalid_request_error", null, "response_format")()
      }
    }
    const next = answers.shift()
    if (next === undefined) return error(500, "fake: no scripted answer left", "server_error", null)()
    const cap = body.max_completion_tokens ?? body.max_tokens ?? Number.POSITIVE_INFINITY
    const refusal = typeof next === "object" ? next.refusal : null
    const full = typeof next === "function" ? next(body) : typeof next === "string" ? next : ""
    const cut = full.length > cap * 4
    const content = refusal !== null ? null : cut ? full.slice(0, cap * 4) : full
    const completionTokens = Math.ceil((content ?? refusal ?? "").length / 4)
    const promptTokens = Math.ceil(body.messages.reduce((n, m) => n + m.content.length, 0) / 4)
    return c.json({
      id: `chatcmpl-fake${bodies.length}`,
      object: "chat.completion",
      created: Math.floor(Date.now() / 1000),
      model: body.model,
      choices: [{ index: 0, message: { role: "assistant", content, refusal, annotations: [] }, logprobs: null, finish_reason: cut ? "length" : "stop" }],
      usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
      service_tier: "default",
      system_fingerprint: "fp_fake"
    })
  })
  const server = yield* startFake(app)
  return { ...server, url: `${server.url}/v1`, answers, bodies }
})
