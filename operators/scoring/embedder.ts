/**
 * Text embeddings: one service, one layer per backend, chosen from configuration.
 *
 * - `EMBEDDINGS_URL` set: any OpenAI-compatible `/v1/embeddings` endpoint (OpenAI, Ollama,
 *   vLLM, LiteLLM) through the `openai` client, with `EMBEDDINGS_MODEL`, the redacted
 *   `EMBEDDINGS_API_KEY`, and `dimensions` = `EMBEDDING_DIM` (the `ideas.embedding` column).
 * - unset: a built-in deterministic embedder that needs no network: signed feature hashing
 *   of word unigrams and bigrams and character 3-5-grams into EMBEDDING_DIM dimensions,
 *   L2-normalized. It knows no synonyms, but near-duplicate titles land close together,
 *   which is what novelty, merging and niche affinity lean on, and a replay anywhere
 *   embeds byte-identically.
 *
 * Both return float32 values (`Math.fround`), exactly what pgvector stores, so a vector
 * read back from the store equals the one that was written and scores computed from either
 * agree to the last bit. Calls are batched and cached by text in a bounded LRU.
 */
import { Config, Context, Effect, Layer, Option, Redacted } from "effect"
import { LRUCache } from "lru-cache"
import OpenAI from "openai"
import { PermanentError, type RetryableError } from "../../runtime/errors.ts"
import { USER_AGENT } from "../../runtime/httpClient.ts"
import { EmbeddingDim } from "../../runtime/sql.ts"
import { bloomHashes, murmur3Pair } from "../ingest/dedupe.ts"
import { classifyOpenAIError } from "../openaiErrors.ts"
import { positiveInteger } from "../../runtime/config.ts"

export type EmbedError = RetryableError | PermanentError

export interface EmbedderShape {
  /** Names the vectors' space: vectors of two models are never compared. */
  readonly model: string
  readonly dimensions: number
  /** One unit vector per text, in order. */
  readonly embed: (texts: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<ReadonlyArray<number>>, EmbedError>
}

export class Embedder extends Context.Tag("desainz/Embedder")<Embedder, EmbedderShape>() {}

/** Unit length in float32 (a zero vector stays zero: it is similar to nothing). */
const normalized = (values: ArrayLike<number>): ReadonlyArray<number> => {
  let norm = 0
  for (let i = 0; i < values.length; i++) norm += values[i]! * values[i]!
  norm = Math.sqrt(norm)
  // Sized up front: filling a preallocated array is several times faster than growing one.
  const unit = new Array<number>(values.length)
  for (let i = 0; i < values.length; i++) unit[i] = Math.fround(norm > 0 ? values[i]! / norm : 0)
  return unit
}

/**
 * Batching and caching around a backend call: repeated texts are embedded once, cached
 * ones not at all, the rest in chunks of `batchSize`.
 */
const cached = (
  model: string,
  dimensions: number,
  options: { readonly batchSize: number; readonly cacheSize: number },
  call: (texts: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<ReadonlyArray<number>>, EmbedError>
): EmbedderShape => {
  // Keyed by the text itself: one cache per model and dimension, and a text is far smaller than its vector.
  const cache = new LRUCache<string, ReadonlyArray<number>>({ max: options.cacheSize })
  return {
    model,
    dimensions,
    embed: (texts) =>
      Effect.gen(function* () {
        const found = new Map<string, ReadonlyArray<number>>()
        const missing = new Set<string>()
        for (const text of texts) {
          const hit = cache.get(text)
          if (hit !== undefined) found.set(text, hit)
          else missing.add(text)
        }
        const todo = [...missing]
        for (let start = 0; start < todo.length; start += options.batchSize) {
          const chunk = todo.slice(start, start + options.batchSize)
          const vectors = yield* call(chunk)
          chunk.forEach((text, i) => {
            found.set(text, vectors[i]!)
            cache.set(text, vectors[i]!)
          })
        }
        return texts.map((text) => found.get(text)!)
      })
  }
}

// ---------------------------------------------------------------------------------------
// Built-in: feature hashing

/** Char n-grams outnumber words ~10:1; these weights keep words the main voice. */
const WORD_WEIGHT = 1
const BIGRAM_WEIGHT = 0.7
const CHAR_WEIGHT = 0.25
const WORD = /[\p{L}\p{N}]+(?:['’][\p{L}]+)?/gu

let bytes = new Uint8Array(1_024)
let sums = new Float64Array(0)
let feature = new Uint8Array(256)
const hashes = new Uint32Array(2)
const PREFIX = { w: 0x77, b: 0x62, c: 0x63, colon: 0x3a } as const

/**
 * The hashing embedder on one text: pure, synchronous, the same on every machine.
 *
 * Every feature is a two-byte prefix (`w:`, `b:`, `c:`) and a run of the padded text, so
 * the text is UTF-8 encoded once and each feature hashed from its bytes (the same bytes,
 * so the same vector, as encoding each feature string).
 */
export const hashEmbedding = (text: string, dimensions: number): ReadonlyArray<number> => {
  // Scratch: `normalized` copies it out.
  if (sums.length !== dimensions) sums = new Float64Array(dimensions)
  else sums.fill(0)
  const vector = sums
  const words = text.normalize("NFKC").toLowerCase().match(WORD) ?? []
  const padded = ` ${words.join(" ")} `
  // offsets[i]: the byte where code unit i starts. Text with surrogate pairs takes the string
  // path below: a gram may split a pair, which UTF-8 encodes as U+FFFD, not as its half.
  if (bytes.length < padded.length * 3) bytes = new Uint8Array(padded.length * 3)
  const offsets = new Int32Array(padded.length + 1)
  let surrogates = false
  for (let i = 0, o = 0; i < padded.length; i++) {
    const c = padded.charCodeAt(i)
    offsets[i] = o
    if (c < 0x80) bytes[o++] = c
    else if (c < 0x800) {
      bytes[o++] = 0xc0 | (c >> 6)
      bytes[o++] = 0x80 | (c & 0x3f)
    } else if (c < 0xd800 || c > 0xdfff) {
      bytes[o++] = 0xe0 | (c >> 12)
      bytes[o++] = 0x80 | ((c >> 6) & 0x3f)
      bytes[o++] = 0x80 | (c & 0x3f)
    } else surrogates = true
    offsets[i + 1] = o
  }
  const add = (prefix: number, from: number, to: number, weight: number) => {
    const length = 2 + offsets[to]! - offsets[from]!
    if (feature.length < length) feature = new Uint8Array(length * 2)
    feature[0] = prefix
    feature[1] = PREFIX.colon
    for (let o = offsets[from]!, j = 2; j < length; o++, j++) feature[j] = bytes[o]!
    // Two independent 32-bit murmur3 hashes (the Bloom filter's): one picks the slot, one the sign.
    murmur3Pair(feature, length, hashes)
    // A second hash of 0 counts as 1, as in bloomHashes.
    vector[hashes[0]! % dimensions]! += hashes[1]! & 1 || hashes[1] === 0 ? weight : -weight
  }
  const addString = (key: string, weight: number) => {
    const [slot, sign] = bloomHashes(key, 2 ** 32)
    vector[slot % dimensions]! += sign & 1 ? weight : -weight
  }
  // Where the current word starts in `padded` (code units); words are one space apart.
  let start = 1
  words.forEach((word, i) => {
    if (surrogates) addString(`w:${word}`, WORD_WEIGHT)
    else add(PREFIX.w, start, start + word.length, WORD_WEIGHT)
    if (i > 0) {
      const previous = words[i - 1]!
      if (surrogates) addString(`b:${previous} ${word}`, BIGRAM_WEIGHT)
      else add(PREFIX.b, start - 1 - previous.length, start + word.length, BIGRAM_WEIGHT)
    }
    start += word.length + 1
  })
  for (let n = 3; n <= 5; n++) {
    for (let i = 0; i + n <= padded.length; i++) {
      if (surrogates) addString(`c:${padded.slice(i, i + n)}`, CHAR_WEIGHT)
      else add(PREFIX.c, i, i + n, CHAR_WEIGHT)
    }
  }
  return normalized(vector)
}

export const HASHING_MODEL = "desainz-hashing-v1"

/** Defaults of the options below, written once. */
const DEFAULTS = { batchSize: 128, cacheSize: 10_000, timeoutMs: 30_000 } as const

export const makeHashing = (dimensions: number, cacheSize: number = DEFAULTS.cacheSize): EmbedderShape =>
  cached(HASHING_MODEL, dimensions, { batchSize: 1_000, cacheSize }, (texts) =>
    Effect.sync(() => texts.map((t) => hashEmbedding(t, dimensions)))
  )

// ---------------------------------------------------------------------------------------
// OpenAI-compatible endpoint

export interface OpenAIEmbedderOptions {
  /** API root including `/v1`, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:11434/v1`. */
  readonly baseURL: string
  readonly model: string
  readonly apiKey: Redacted.Redacted<string>
  readonly dimensions: number
  /** Texts per request. */
  readonly batchSize?: number
  readonly cacheSize?: number
  readonly timeoutMs?: number
}

/** A failed embeddings call, classified retryable/permanent (see `classifyOpenAIError`). */
export const classifyEmbeddingError = (error: unknown, model: string): EmbedError => classifyOpenAIError(error, `embeddings (${model})`)

export const makeOpenAI = (options: OpenAIEmbedderOptions): EmbedderShape => {
  const client = new OpenAI({
    baseURL: options.baseURL,
    apiKey: Redacted.value(options.apiKey),
    // Retries belong to the worker (backoff within the attempt budget, Retry-After honoured).
    maxRetries: 0,
    // The package keeps its own HTTP stack (README, Dependencies); only the User-Agent is ours.
    defaultHeaders: { "user-agent": USER_AGENT },
    timeout: options.timeoutMs ?? DEFAULTS.timeoutMs
  })
  const { model, dimensions } = options
  return cached(model, dimensions, { batchSize: options.batchSize ?? DEFAULTS.batchSize, cacheSize: options.cacheSize ?? DEFAULTS.cacheSize }, (texts) =>
    Effect.tryPromise({
      // float, not the client's default base64: every compatible server speaks float.
      try: (signal) => client.embeddings.create({ model, input: [...texts], dimensions, encoding_format: "float" }, { signal }),
      catch: (error) => classifyEmbeddingError(error, model)
    }).pipe(
      Effect.flatMap((response) => {
        const data = Array.isArray(response?.data) ? response.data : []
        const byIndex = new Map(data.map((d) => [d.index, d.embedding]))
        const vectors: Array<ReadonlyArray<number>> = []
        for (let i = 0; i < texts.length; i++) {
          const v = byIndex.get(i)
          if (!Array.isArray(v) || v.length !== dimensions || !v.every((x) => typeof x === "number" && Number.isFinite(x))) {
            return Effect.fail(
              new PermanentError({
                message: `embeddings (${model}): item ${i} of the response is not a vector of ${dimensions} numbers` +
                  ` (got ${Array.isArray(v) ? `${v.length} values` : typeof v}); set EMBEDDING_DIM to the model's dimension`
              })
            )
          }
          vectors.push(normalized(v))
        }
        return Effect.succeed(vectors)
      })
    )
  )
}

// ---------------------------------------------------------------------------------------
// Layers

export const layerHashing = (dimensions: number): Layer.Layer<Embedder> => Layer.sync(Embedder, () => makeHashing(dimensions))

export const layerOpenAI = (options: OpenAIEmbedderOptions): Layer.Layer<Embedder> => Layer.sync(Embedder, () => makeOpenAI(options))

/** The OpenAI-compatible endpoint when `EMBEDDINGS_URL` is set (non-blank), else the built-in embedder. */
export const layerConfig = Layer.unwrapEffect(
  Effect.gen(function* () {
    const dimensions = yield* EmbeddingDim
    const url = Option.filter(yield* Config.option(Config.string("EMBEDDINGS_URL")), (u) => u.trim() !== "")
    if (Option.isNone(url)) return layerHashing(dimensions)
    const model = yield* Config.string("EMBEDDINGS_MODEL").pipe(Config.withDefault("text-embedding-3-small"))
    // Local servers (Ollama, vLLM) take any key; the client insists on one.
    const apiKey = yield* Config.redacted("EMBEDDINGS_API_KEY").pipe(Config.withDefault(Redacted.make("none")))
    const batchSize = yield* positiveInteger("EMBEDDINGS_BATCH", DEFAULTS.batchSize)
    yield* Effect.logInfo(`embeddings: ${model} at EMBEDDINGS_URL, ${dimensions} dimensions`)
    return layerOpenAI({ baseURL: url.value.trim(), model, apiKey, dimensions, batchSize })
  })
)

/** A vector's non-zero dimensions (ascending) with their components, and its squared norm summed in ascending order. */
export interface SparseForm {
  readonly dims: Int32Array
  readonly values: Float64Array
  readonly normSq: number
}

// Vectors are compared many times (a recent idea with every signal after it, a centroid with its
// category's signals): each is made sparse once, while it lives.
const sparseForms = new WeakMap<ReadonlyArray<number>, SparseForm>()

export const sparseOf = (v: ReadonlyArray<number>): SparseForm => {
  let form = sparseForms.get(v)
  if (form === undefined) {
    let n = 0
    let normSq = 0
    for (let i = 0; i < v.length; i++) {
      const x = v[i]!
      if (x !== 0) n++
      normSq += x * x
    }
    const dims = new Int32Array(n)
    const values = new Float64Array(n)
    for (let i = 0, j = 0; i < v.length; i++) {
      if (v[i] === 0) continue
      dims[j] = i
      values[j++] = v[i]!
    }
    form = { dims, values, normSq }
    sparseForms.set(v, form)
  }
  return form
}

/**
 * Cosine similarity of two vectors (0 when either is zero), over the non-zero dimensions of
 * the sparser one. Bit for bit the dense loop's result: products with a zero are ±0, which
 * leave a sum unchanged, and every sum runs in ascending dimension order.
 */
export const cosine = (a: ReadonlyArray<number>, b: ReadonlyArray<number>): number => {
  // The dense definition stops at a's length; a longer b would count less of its norm.
  if (b.length > a.length) return cosineDense(a, b)
  const pa = sparseOf(a)
  const pb = sparseOf(b)
  const dims = pa.dims.length <= pb.dims.length ? pa.dims : pb.dims
  let dot = 0
  for (let j = 0; j < dims.length; j++) {
    const d = dims[j]!
    dot += a[d]! * (b[d] ?? 0)
  }
  return pa.normSq > 0 && pb.normSq > 0 ? dot / Math.sqrt(pa.normSq * pb.normSq) : 0
}

const cosineDense = (a: ReadonlyArray<number>, b: ReadonlyArray<number>): number => {
  let dot = 0
  let na = 0
  let nb = 0
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!
    const y = b[i] ?? 0
    dot += x * y
    na += x * x
    nb += y * y
  }
  return na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : 0
}
