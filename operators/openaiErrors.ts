/**
 * How a failed call through the `openai` client is classified, for every OpenAI-compatible
 * endpoint the pipeline uses (embeddings, the listing writer): no connection, a timeout,
 * 408, 409, 429 and 5xx are retryable (429/503 carrying the `Retry-After` wait, which the
 * worker honours); any other 4xx is permanent (a wrong model, key or input: retrying
 * cannot fix it). `what` names the call in the message, e.g. "embeddings (model)".
 */
import OpenAI from "openai"
import { describeError, PermanentError, RetryableError } from "../runtime/errors.ts"
import { parseRetryAfter } from "../runtime/httpClient.ts"

export const classifyOpenAIError = (error: unknown, what: string): RetryableError | PermanentError => {
  if (error instanceof RetryableError || error instanceof PermanentError) return error
  if (error instanceof OpenAI.APIConnectionError) {
    return new RetryableError({ message: `${what}: no response: ${error.message}`, cause: error })
  }
  if (error instanceof OpenAI.APIError && typeof error.status === "number") {
    const status = error.status
    const wait = (status === 429 || status === 503) && error.headers ? parseRetryAfter(error.headers.get("retry-after"), Date.now(), error.headers.get("date")) : undefined
    const message = `${what}: HTTP ${status}: ${error.message}${wait !== undefined ? ` (retry after ${Math.ceil(wait / 1000)}s)` : ""}`
    const cause = { status, ...(wait !== undefined ? { retryAfterMs: wait } : {}) }
    return status === 408 || status === 409 || status === 429 || status >= 500
      ? new RetryableError({ message, cause })
      : new PermanentError({ message, cause })
  }
  return new RetryableError({ message: `${what}: ${describeError(error)}`, cause: error })
}
