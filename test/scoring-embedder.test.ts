/**
 * The embedder: the built-in hashing embedder's properties, and the OpenAI-compatible layer
 * against a local fake server speaking the real `/v1/embeddings` wire format (request
 * body, bearer key, batching, caching, 429 + Retry-After, 5xx, 4xx, a wrong dimension).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import { ConfigProvider, Effect, Either, Redacted } from "effect"
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { bloomHashes } from "../operators/ingest/dedupe.ts"
import { cosine, Embedder, hashEmbedding, HASHING_MODEL, layerConfig, makeHashing, makeOpenAI } from "../operators/scoring/embedder.ts"
import { isRetryable, PermanentError, RetryableError, retryAfterMs } from "../runtime/errors.ts"

const DIM = 384

describe("hashing embedder", () => {
  it("is deterministic, unit length and float32", () => {
    const a = hashEmbedding("Plant Mom Energy | why every window is a jungle now", DIM)
    const b = hashEmbedding("Plant Mom Energy | why every window is a jungle now", DIM)
    expect(a).toEqual(b)
    expect(a).toHaveLength(DIM)
    expect(Math.sqrt(a.reduce((s, x) => s + x * x, 0))).toBeCloseTo(1, 6)
    expect(a.every((x) => Math.fround(x) === x)).toBe(true)
  })

  it("puts near-duplicates close and unrelated texts far apart", () => {
    const base = hashEmbedding("Plant Mom Energy | why every window is a jungle now", DIM)
    const near = hashEmbedding("Plant Mom Energy: Why every window is a jungle now!", DIM)
    const related = hashEmbedding("Plant mom life: repotting every houseplant", DIM)
    const other = hashEmbedding("Coffee first, code later", DIM)
    expect(cosine(base, near)).toBeGreaterThan(0.9)
    expect(cosine(base, related)).toBeGreaterThan(cosine(base, other))
    expect(Math.abs(cosine(base, other))).toBeLessThan(0.25)
  })

  it("takes cosines over the non-zero terms bit for bit as the dense definition does", () => {
    const dense = (a: ReadonlyArray<number>, b: ReadonlyArray<number>) => {
      let dot = 0
      let na = 0
      let nb = 0
      for (let i = 0; i < a.length; i++) {
        const y = b[i] ?? 0
        dot += a[i]! * y
        na += a[i]! * a[i]!
        nb += y * y
      }
      return na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : 0
    }
    let seed = 5
    const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32
    // Sparse and dense, signed, with exact zeros, of equal and of different lengths (a centroid may be shorter).
    const vector = (length: number, fill: number) => Array.from({ length }, () => (next() < fill ? (next() - 0.5) * (next() < 0.1 ? 1e6 : 1) : 0))
    const vectors = [...Array.from({ length: 40 }, (_, i) => vector(i % 5 === 0 ? 200 : 384, [0, 0.05, 0.25, 1][i % 4]!)), ...["Plant Mom Energy", "plant mom energy!"].map((t) => hashEmbedding(t, DIM))]
    let nonZero = 0
    for (const a of vectors) {
      for (const b of vectors) {
        expect(Object.is(cosine(a, b), dense(a, b))).toBe(true)
        if (cosine(a, b) !== 0) nonZero++
      }
    }
    expect(nonZero).toBeGreaterThan(vectors.length * vectors.length * 0.5)
  })

  it("maps empty text to the zero vector, similar to nothing", () => {
    const zero = hashEmbedding("  ...  ", DIM)
    expect(zero.every((x) => x === 0)).toBe(true)
    expect(cosine(zero, hashEmbedding("anything", DIM))).toBe(0)
  })

  it("equals hashing every feature string on its own (the byte path changes no stored vector)", () => {
    // The definition: w:word, b:previous word, c:3-5 char grams of " words ", each hashed from its UTF-8.
    const reference = (text: string) => {
      const vector = new Float64Array(DIM)
      const add = (feature: string, weight: number) => {
        const [slot, sign] = bloomHashes(feature, 2 ** 32)
        vector[slot % DIM]! += sign & 1 ? weight : -weight
      }
      const words = text.normalize("NFKC").toLowerCase().match(/[\p{L}\p{N}]+(?:['’][\p{L}]+)?/gu) ?? []
      words.forEach((word, i) => {
        add(`w:${word}`, 1)
        if (i > 0) add(`b:${words[i - 1]} ${word}`, 0.7)
      })
      const padded = ` ${words.join(" ")} `
      for (let n = 3; n <= 5; n++) for (let i = 0; i + n <= padded.length; i++) add(`c:${padded.slice(i, i + n)}`, 0.25)
      const norm = Math.sqrt(vector.reduce((s, x) => s + x * x, 0))
      return Array.from(vector, (x) => Math.fround(norm > 0 ? x / norm : 0))
    }
    const alphabet = ["a", "z", "Q", "7", " ", "-", "'", "’", "é", "ß", "İ", "ﬁ", "\u0301", "Ω", "ا", "中", "😀", "𝔘"]
    let seed = 11
    const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32
    const texts = ["Plant Mom Energy | why every window is a jungle now", "Crème brûlée für alle", "東京 marathon 2026 🏃", ""]
    for (let t = 0; t < 500; t++) texts.push(Array.from({ length: Math.floor(next() * 30) }, () => alphabet[Math.floor(next() * alphabet.length)]).join(""))
    for (const text of texts) expect(hashEmbedding(text, DIM), text).toEqual(reference(text))
  })

  it("serves a batch in order, repeated texts included", async () => {
    const embedder = makeHashing(DIM)
    const out = await Effect.runPromise(embedder.embed(["b", "a", "b"]))
    expect(out[0]).toEqual(out[2])
    expect(out[1]).toEqual(hashEmbedding("a", DIM))
    expect(embedder.model).toBe(HASHING_MODEL)
  })
})

// ---------------------------------------------------------------------------------------
// The fake OpenAI-compatible server

interface Recorded {
  readonly headers: IncomingMessage["headers"]
  readonly body: { model: string; input: Array<string>; dimensions?: number; encoding_format?: string }
}
type Reply = (req: Recorded, res: ServerResponse) => void

let server: Server
let baseURL = ""
const requests: Array<Recorded> = []
const replies: Array<Reply> = []

/** A vector that encodes which text it is for, so order mistakes show. */
const vectorFor = (text: string, dim = DIM) => Array.from({ length: dim }, (_, i) => (i === text.length % dim ? 3 : 0.5))

const ok: Reply = (req, res) => {
  res.writeHead(200, { "content-type": "application/json" })
  res.end(
    JSON.stringify({
      object: "list",
      // Reversed on purpose: clients must place items by `index`, not by position.
      data: req.body.input.map((text, index) => ({ object: "embedding", index, embedding: vectorFor(text, req.body.dimensions) })).reverse(),
      model: req.body.model,
      usage: { prompt_tokens: req.body.input.length, total_tokens: req.body.input.length }
    })
  )
}

const failing =
  (status: number, headers: Record<string, string> = {}, message = "failure"): Reply =>
  (_, res) => {
    res.writeHead(status, { "content-type": "application/json", ...headers })
    res.end(JSON.stringify({ error: { message, type: "invalid_request_error", param: null, code: null } }))
  }

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = ""
    req.on("data", (chunk) => (raw += chunk))
    req.on("end", () => {
      if (req.method !== "POST" || req.url !== "/v1/embeddings") {
        res.writeHead(404).end()
        return
      }
      const recorded = { headers: req.headers, body: JSON.parse(raw) }
      requests.push(recorded)
      ;(replies.shift() ?? ok)(recorded, res)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address()
  baseURL = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}/v1`
})
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))
beforeEach(() => {
  requests.length = 0
  replies.length = 0
})

const client = (options: { batchSize?: number; dimensions?: number; url?: string } = {}) =>
  makeOpenAI({
    baseURL: options.url ?? baseURL,
    model: "text-embedding-3-small",
    apiKey: Redacted.make("sk-test-key"),
    dimensions: options.dimensions ?? DIM,
    batchSize: options.batchSize ?? 128,
    timeoutMs: 5_000
  })

const failure = async (effect: Effect.Effect<unknown, unknown>) => {
  const result = await Effect.runPromise(Effect.either(effect))
  if (Either.isRight(result)) throw new Error("expected a failure")
  return result.left
}

describe("OpenAI-compatible embedder (contract, fake /v1/embeddings)", () => {
  it("sends the wire format and places vectors by index, normalized", async () => {
    const out = await Effect.runPromise(client().embed(["hello", "a longer text"]))
    expect(requests).toHaveLength(1)
    expect(requests[0]!.body).toEqual({ model: "text-embedding-3-small", input: ["hello", "a longer text"], dimensions: DIM, encoding_format: "float" })
    expect(requests[0]!.headers["authorization"]).toBe("Bearer sk-test-key")
    expect(requests[0]!.headers["content-type"]).toMatch(/application\/json/)
    const expected = (text: string) => {
      const v = vectorFor(text)
      const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0))
      return v.map((x) => Math.fround(x / norm))
    }
    expect(out).toEqual([expected("hello"), expected("a longer text")])
  })

  it("batches requests and caches by content", async () => {
    const embedder = client({ batchSize: 2 })
    await Effect.runPromise(embedder.embed(["a", "b", "c", "d", "e", "a"]))
    expect(requests.map((r) => r.body.input)).toEqual([["a", "b"], ["c", "d"], ["e"]])
    const again = await Effect.runPromise(embedder.embed(["e", "c", "f"]))
    expect(requests.map((r) => r.body.input).slice(3)).toEqual([["f"]])
    expect(again).toHaveLength(3)
  })

  it("429 with Retry-After is retryable and carries the wait", async () => {
    replies.push(failing(429, { "retry-after": "7" }, "Rate limit reached"))
    const error = await failure(client().embed(["x"]))
    expect(error).toBeInstanceOf(RetryableError)
    expect(isRetryable(error)).toBe(true)
    expect(retryAfterMs(error)).toBe(7_000)
    expect(String((error as RetryableError).message)).toMatch(/HTTP 429.*Rate limit reached.*retry after 7s/)
  })

  it("5xx is retryable, and a later call succeeds", async () => {
    replies.push(failing(500, {}, "boom"), failing(503))
    const embedder = client()
    expect(isRetryable(await failure(embedder.embed(["x"])))).toBe(true)
    expect(isRetryable(await failure(embedder.embed(["x"])))).toBe(true)
    expect(await Effect.runPromise(embedder.embed(["x"]))).toHaveLength(1)
  })

  it("4xx is permanent: a wrong model or key cannot be fixed by retrying", async () => {
    replies.push(failing(400, {}, "The model `nope` does not exist"), failing(401, {}, "Incorrect API key"))
    const first = await failure(client().embed(["x"]))
    expect(first).toBeInstanceOf(PermanentError)
    expect(isRetryable(first)).toBe(false)
    expect(String((first as PermanentError).message)).toMatch(/HTTP 400.*does not exist/)
    expect(isRetryable(await failure(client().embed(["y"])))).toBe(false)
  })

  it("a vector of the wrong dimension is permanent and names EMBEDDING_DIM", async () => {
    replies.push((req, res) => ok({ ...req, body: { ...req.body, dimensions: 8 } }, res))
    const error = await failure(client().embed(["x"]))
    expect(error).toBeInstanceOf(PermanentError)
    expect(String((error as PermanentError).message)).toMatch(/EMBEDDING_DIM/)
  })

  it("no server is retryable", async () => {
    const error = await failure(client({ url: "http://127.0.0.1:9/v1" }).embed(["x"]))
    expect(error).toBeInstanceOf(RetryableError)
  })

  it("EMBEDDINGS_URL selects the endpoint; unset, the built-in embedder", async () => {
    const model = (env: Record<string, string>) =>
      Effect.runPromise(
        Effect.map(Embedder, (e) => [e.model, e.dimensions] as const).pipe(
          Effect.provide(layerConfig),
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
        )
      )
    expect(await model({})).toEqual([HASHING_MODEL, 384])
    expect(await model({ EMBEDDINGS_URL: baseURL, EMBEDDINGS_MODEL: "nomic-embed-text", EMBEDDING_DIM: "768" })).toEqual(["nomic-embed-text", 768])
  })
})
