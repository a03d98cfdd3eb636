/**
 * Blob store: raw signals, print files, mock-ups and export bundles.
 *
 * One service, two backends chosen from configuration: MinIO / S3 through the `minio`
 * client, or (the embedded default) a local folder laid out exactly like the bucket, so a
 * key means the same object on both. Both backends accept exactly the same keys: every
 * key is validated here before it reaches a file system or the network.
 */
import { createHash, randomUUID } from "node:crypto"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { buffer as readAll } from "node:stream/consumers"
import { pathToFileURL } from "node:url"
import type { ConfigError } from "effect"
import { Config, Context, Effect, Layer, Option, Predicate, Redacted, Schema } from "effect"
import {
  AccessKeyRequiredError,
  Client,
  InvalidArgumentError,
  InvalidBucketNameError,
  InvalidEndpointError,
  InvalidObjectNameError,
  InvalidPortError,
  InvalidPrefixError,
  S3Error,
  SecretKeyRequiredError
} from "minio"
import { describeError, PermanentError, RetryableError } from "./errors.ts"

/** The key names no object. Permanent: retrying will not make it appear. */
export class BlobNotFound extends Schema.TaggedError<BlobNotFound>()("BlobNotFound", {
  key: Schema.String,
  message: Schema.String
}) {
  readonly retryable = false
}

export type BlobError = RetryableError | PermanentError

export interface PutOptions {
  readonly contentType?: string
}

/** Derived from key and bytes only, so repeating a put returns an identical result. */
export interface PutResult {
  readonly key: string
  readonly uri: string
  readonly size: number
  readonly sha256: string
}

export interface BlobStoreService {
  /** Atomic, idempotent write: the same bytes under the same key again is a no-op; other bytes replace the object. */
  readonly put: (key: string, bytes: Uint8Array, options?: PutOptions) => Effect.Effect<PutResult, BlobError>
  readonly get: (key: string) => Effect.Effect<Uint8Array, BlobNotFound | BlobError>
  readonly exists: (key: string) => Effect.Effect<boolean, BlobError>
  /** Every key starting with `prefix` (plain string prefix, as in S3), in UTF-8 byte order. */
  readonly list: (prefix: string) => Effect.Effect<ReadonlyArray<string>, BlobError>
  readonly uri: (key: string) => Effect.Effect<string, PermanentError>
  /** Deleting an absent key succeeds, as in S3. */
  readonly delete: (key: string) => Effect.Effect<void, BlobError>
}

export interface LocalOptions {
  /** Defaults to `./.data/blobs`, resolved against the working directory at layer start. */
  readonly root?: string
}

export interface S3Options {
  /** e.g. `http://127.0.0.1:9000`; scheme picks TLS, a missing port means 80 / 443. */
  readonly endPoint: string
  readonly accessKey: string
  readonly secretKey: Redacted.Redacted<string>
  readonly bucket: string
  readonly region: string
}

// ---------------------------------------------------------------------------------------
// Key validation, shared by both layers

const MAX_KEY_BYTES = 1024 // S3's limit
const MAX_SEGMENT_BYTES = 255 // NAME_MAX of common file systems, so the local layer can hold every valid key

const keyProblem = (key: string): string | undefined => {
  if (key === "") return "is empty"
  if (key.includes("\0")) return "contains NUL"
  if (/[\u0001-\u001f\u007f]/.test(key)) return "contains a control character"
  if (key.includes("\\")) return "contains a backslash"
  if (/\p{Cs}/u.test(key)) return "is not well-formed Unicode"
  if (key.startsWith("/") || /^[A-Za-z]:/.test(key)) return "is an absolute path"
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) return `is longer than ${MAX_KEY_BYTES} bytes`
  for (const segment of key.split("/")) {
    if (segment === "") return "has an empty segment"
    if (segment === "." || segment === "..") return `has a '${segment}' segment`
    // Dot-names are where the local layer keeps in-flight writes; no key may collide with one.
    if (segment.startsWith(".")) return "has a segment starting with '.'"
    if (Buffer.byteLength(segment) > MAX_SEGMENT_BYTES) return `has a segment longer than ${MAX_SEGMENT_BYTES} bytes`
  }
  return undefined
}

const shown = (key: string): string => JSON.stringify(key.length > 200 ? `${key.slice(0, 200)}…` : key)

/** Fails with a PermanentError naming the key unless it is a safe, portable object key. */
export const validateBlobKey = (key: string): Effect.Effect<string, PermanentError> => {
  const problem = keyProblem(key)
  return problem === undefined
    ? Effect.succeed(key)
    : Effect.fail(new PermanentError({ message: `Invalid blob key ${shown(key)}: ${problem}` }))
}

/** A list prefix is "" or a key, optionally with a trailing "/". */
const validatePrefix = (prefix: string): Effect.Effect<string, PermanentError> => {
  const problem = prefix === "" ? undefined : keyProblem(prefix.endsWith("/") ? prefix.slice(0, -1) : prefix)
  return problem === undefined
    ? Effect.succeed(prefix)
    : Effect.fail(new PermanentError({ message: `Invalid blob prefix ${shown(prefix)}: ${problem}` }))
}

// RFC 9110 token "/" token, optional parameters; rejects CR/LF so nothing can be smuggled into headers.
const CONTENT_TYPE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+(\s*;[\x20-\x7e]*)?$/

const validateContentType = (contentType: string | undefined): Effect.Effect<void, PermanentError> =>
  contentType === undefined || CONTENT_TYPE.test(contentType)
    ? Effect.void
    : Effect.fail(new PermanentError({ message: `Invalid content type ${JSON.stringify(contentType)}` }))

const validatePut = (key: string, options: PutOptions | undefined) =>
  Effect.zipRight(validateBlobKey(key), validateContentType(options?.contentType))

const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex")

// S3 lists in UTF-8 byte order; JS string order (UTF-16) differs above the BMP.
const compareKeys = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b))

const errorCode = (error: unknown): string | undefined =>
  Predicate.hasProperty(error, "code") && typeof error.code === "string" ? error.code : undefined

// ---------------------------------------------------------------------------------------
// Local folder

const MISSING_PATH = new Set(["ENOENT", "ENOTDIR", "EISDIR"])
// Failures that describe the request or the host's setup, not a passing condition.
const PERMANENT_FS = new Set(["EACCES", "EPERM", "EROFS", "ENAMETOOLONG", "ENOTDIR", "EISDIR", "EEXIST", "EINVAL", "ENOTEMPTY"])

const classifyFsError = (error: unknown, action: string): BlobError => {
  const code = errorCode(error)
  const message = `${action}: ${describeError(error)}`
  return code !== undefined && PERMANENT_FS.has(code)
    ? new PermanentError({ message, cause: error })
    : new RetryableError({ message, cause: error })
}

const fsTry = <A>(action: string, run: () => Promise<A>): Effect.Effect<A, BlobError> =>
  Effect.tryPromise({ try: run, catch: (error) => classifyFsError(error, action) })

/** Resolves to undefined when nothing is stored at `file`, so callers tell absence from failure. */
const whenPresent = async <A>(run: () => Promise<A>): Promise<A | undefined> => {
  try {
    return await run()
  } catch (error) {
    if (MISSING_PATH.has(errorCode(error) ?? "")) return undefined
    throw error
  }
}

// Temp file in the target's directory (same file system, so rename is atomic), synced
// before the rename so a crash can never expose a renamed-but-empty file.
const writeAtomically = async (file: string, bytes: Uint8Array): Promise<void> => {
  await fs.mkdir(path.dirname(file), { recursive: true })
  const temp = path.join(path.dirname(file), `.${randomUUID()}.tmp`)
  try {
    const handle = await fs.open(temp, "wx")
    try {
      await handle.writeFile(bytes)
      await handle.sync()
    } finally {
      await handle.close()
    }
    await fs.rename(temp, file)
  } catch (error) {
    await fs.rm(temp, { force: true })
    throw error
  }
}

const walk = async (root: string, dirKey: string): Promise<Array<string>> => {
  const entries = await whenPresent(() => fs.readdir(path.join(root, dirKey), { withFileTypes: true }))
  const keys: Array<string> = []
  for (const entry of entries ?? []) {
    if (entry.name.startsWith(".")) continue // in-flight temp files
    const key = dirKey + entry.name
    if (entry.isDirectory()) keys.push(...(await walk(root, `${key}/`)))
    else if (entry.isFile()) keys.push(key)
  }
  return keys
}

const makeLocal = (options: LocalOptions): Effect.Effect<BlobStoreService, BlobError> =>
  Effect.gen(function* () {
    const root = path.resolve(options.root ?? "./.data/blobs")
    yield* fsTry(`create blob folder ${root}`, () => fs.mkdir(root, { recursive: true }))
    yield* Effect.logInfo(`blob store: local folder ${root}`)

    // Only ever called with a validated key, which cannot leave `root`.
    const fileOf = (key: string): string => path.join(root, ...key.split("/"))
    const uriOf = (key: string): string => pathToFileURL(fileOf(key)).href

    return {
      put: (key, bytes, options) =>
        Effect.gen(function* () {
          yield* validatePut(key, options)
          const file = fileOf(key)
          const result: PutResult = { key, uri: uriOf(key), size: bytes.byteLength, sha256: sha256(bytes) }
          const current = yield* fsTry(`read ${key}`, () => whenPresent(() => fs.readFile(file)))
          if (current?.equals(bytes)) return result
          // A folder keeps no per-file metadata; the key's extension carries the type.
          yield* fsTry(`write ${key}`, () => writeAtomically(file, bytes))
          return result
        }),
      get: (key) =>
        Effect.gen(function* () {
          yield* validateBlobKey(key)
          const bytes = yield* fsTry(`read ${key}`, () => whenPresent(() => fs.readFile(fileOf(key))))
          if (bytes === undefined) return yield* new BlobNotFound({ key, message: `No blob at ${shown(key)}` })
          return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
        }),
      exists: (key) =>
        Effect.gen(function* () {
          yield* validateBlobKey(key)
          const stat = yield* fsTry(`stat ${key}`, () => whenPresent(() => fs.stat(fileOf(key))))
          return stat?.isFile() ?? false
        }),
      list: (prefix) =>
        Effect.gen(function* () {
          yield* validatePrefix(prefix)
          const dirKey = prefix.slice(0, prefix.lastIndexOf("/") + 1)
          const keys = yield* fsTry(`list ${shown(prefix)}`, () => walk(root, dirKey))
          return keys.filter((key) => key.startsWith(prefix)).sort(compareKeys)
        }),
      uri: (key) => Effect.map(validateBlobKey(key), uriOf),
      delete: (key) =>
        Effect.gen(function* () {
          yield* validateBlobKey(key)
          yield* fsTry(`delete ${key}`, () => whenPresent(() => fs.unlink(fileOf(key))))
        })
    }
  })

// ---------------------------------------------------------------------------------------
// MinIO / S3

// Codes an S3 server sends for conditions that pass: throttling, overload, its own faults.
const RETRYABLE_S3_CODES = new Set([
  "SlowDown",
  "InternalError",
  "ServiceUnavailable",
  "RequestTimeout",
  "OperationAborted",
  "Throttling",
  "ThrottlingException",
  "TooManyRequests",
  "XMinioServerNotInitialized"
])

// The client's own argument checks: the request itself is wrong.
const MINIO_INVALID_REQUEST = [
  InvalidArgumentError,
  InvalidBucketNameError,
  InvalidObjectNameError,
  InvalidPrefixError,
  InvalidEndpointError,
  InvalidPortError,
  AccessKeyRequiredError,
  SecretKeyRequiredError
]

/**
 * Sorts a failure of the `minio` client into retryable or permanent.
 *
 * An `S3Error` is a definite answer from the server (AccessDenied, NoSuchBucket,
 * SignatureDoesNotMatch, KeyTooLongError, ...) and is permanent unless its code names a
 * passing condition. The client reports 5xx/429 responses as plain Errors after its retry
 * wrapper, and network failures as socket errors: both are retryable.
 */
export const classifyS3Error = (error: unknown, action: string): BlobError => {
  const code = errorCode(error)
  const message = `${action}: ${describeError(error)}${code !== undefined && error instanceof S3Error ? ` (${code})` : ""}`
  if (code !== undefined && RETRYABLE_S3_CODES.has(code)) return new RetryableError({ message, cause: error })
  if (error instanceof S3Error || MINIO_INVALID_REQUEST.some((type) => error instanceof type)) {
    return new PermanentError({ message, cause: error })
  }
  return new RetryableError({ message, cause: error })
}

const isMissingObject = (error: unknown): boolean => {
  const code = errorCode(error)
  return error instanceof S3Error && (code === "NoSuchKey" || code === "NotFound")
}

const s3Try = <A>(action: string, run: () => Promise<A>): Effect.Effect<A, BlobError> =>
  Effect.tryPromise({ try: run, catch: (error) => classifyS3Error(error, action) })

const parseEndpoint = (endPoint: string): Effect.Effect<{ host: string; port: number; useSSL: boolean }, PermanentError> => {
  if (!URL.canParse(endPoint)) {
    return Effect.fail(new PermanentError({ message: `Invalid S3 endpoint ${JSON.stringify(endPoint)}: not a URL` }))
  }
  const url = new URL(endPoint)
  const invalid = (why: string) => {
    const shownUrl = new URL(url)
    shownUrl.username = shownUrl.password = "" // never echo credentials into logs
    return new PermanentError({ message: `Invalid S3 endpoint ${JSON.stringify(shownUrl.href)}: ${why}` })
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return Effect.fail(invalid("scheme must be http or https"))
  // Credentials belong in S3_ACCESS_KEY / S3_SECRET_KEY, where they are kept out of logs.
  if (url.username !== "" || url.password !== "") return Effect.fail(invalid("must not carry credentials"))
  if (url.pathname !== "/" || url.search !== "" || url.hash !== "") return Effect.fail(invalid("must have no path or query"))
  const useSSL = url.protocol === "https:"
  return Effect.succeed({
    host: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: url.port === "" ? (useSSL ? 443 : 80) : Number(url.port),
    useSSL
  })
}

const makeS3 = (options: S3Options): Effect.Effect<BlobStoreService, BlobError> =>
  Effect.gen(function* () {
    const { bucket, region } = options
    const endpoint = yield* parseEndpoint(options.endPoint)
    const client = yield* Effect.try({
      try: () =>
        new Client({
          endPoint: endpoint.host,
          port: endpoint.port,
          useSSL: endpoint.useSSL,
          accessKey: options.accessKey,
          secretKey: Redacted.value(options.secretKey),
          region,
          // Self-hosted S3 (MinIO, compose) has no per-bucket DNS names.
          pathStyle: true,
          // Retries belong to the worker loop's attempt budget and backoff, not a hidden second layer.
          retryOptions: { disableRetry: true }
        }),
      catch: (error) => classifyS3Error(error, "configure S3 client")
    })

    // Two replicas may race to create the bucket; the loser's error is fine once the bucket exists.
    const ensureBucket = async (): Promise<void> => {
      if (await client.bucketExists(bucket)) return
      try {
        await client.makeBucket(bucket, region)
      } catch (error) {
        const code = errorCode(error)
        const raced = code === "BucketAlreadyOwnedByYou" || code === "BucketAlreadyExists"
        if (!raced || !(await client.bucketExists(bucket))) throw error
      }
    }
    yield* s3Try(`ensure bucket ${bucket}`, ensureBucket)
    yield* Effect.logInfo(`blob store: S3 ${options.endPoint} bucket ${bucket}`)

    const uriOf = (key: string): string => `s3://${bucket}/${key}`
    const stat = (key: string) =>
      s3Try(`stat ${key}`, async () => {
        try {
          return await client.statObject(bucket, key)
        } catch (error) {
          if (isMissingObject(error)) return undefined
          throw error
        }
      })

    return {
      put: (key, bytes, options) =>
        Effect.gen(function* () {
          yield* validatePut(key, options)
          const result: PutResult = { key, uri: uriOf(key), size: bytes.byteLength, sha256: sha256(bytes) }
          // The content hash travels as object metadata, so "already stored" costs one HEAD, not a download.
          const current = yield* stat(key)
          const contentType = options?.contentType
          const unchanged =
            current !== undefined &&
            current.metaData["sha256"] === result.sha256 &&
            (contentType === undefined || current.metaData["content-type"] === contentType)
          if (unchanged) return result
          const metadata = { sha256: result.sha256, ...(contentType === undefined ? {} : { "Content-Type": contentType }) }
          const body = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
          yield* s3Try(`put ${key}`, () => client.putObject(bucket, key, body, body.byteLength, metadata))
          return result
        }),
      get: (key) =>
        Effect.gen(function* () {
          yield* validateBlobKey(key)
          const bytes = yield* Effect.tryPromise({
            try: async () => readAll(await client.getObject(bucket, key)),
            catch: (error) =>
              isMissingObject(error)
                ? new BlobNotFound({ key, message: `No blob at ${shown(key)}` })
                : classifyS3Error(error, `get ${key}`)
          })
          return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
        }),
      exists: (key) =>
        Effect.gen(function* () {
          yield* validateBlobKey(key)
          return (yield* stat(key)) !== undefined
        }),
      list: (prefix) =>
        Effect.gen(function* () {
          yield* validatePrefix(prefix)
          const keys = yield* s3Try(`list ${shown(prefix)}`, async () => {
            const names: Array<string> = []
            for await (const item of client.listObjectsV2(bucket, prefix, true)) {
              if (item.name !== undefined) names.push(item.name)
            }
            return names
          })
          return keys.sort(compareKeys)
        }),
      uri: (key) => Effect.map(validateBlobKey(key), uriOf),
      delete: (key) =>
        Effect.gen(function* () {
          yield* validateBlobKey(key)
          yield* s3Try(`delete ${key}`, () => client.removeObject(bucket, key))
        })
    }
  })

// ---------------------------------------------------------------------------------------
// Service and layers

const S3FromEnv = Config.all({
  accessKey: Config.string("S3_ACCESS_KEY"),
  secretKey: Config.redacted("S3_SECRET_KEY"),
  bucket: Config.string("S3_BUCKET").pipe(Config.withDefault("desainz")),
  region: Config.string("S3_REGION").pipe(Config.withDefault("us-east-1"))
})

export class BlobStore extends Context.Tag("desainz/BlobStore")<BlobStore, BlobStoreService>() {
  static readonly layerLocal = (options: LocalOptions = {}): Layer.Layer<BlobStore, BlobError> =>
    Layer.effect(BlobStore, makeLocal(options))

  /** Creates the bucket at layer start when it is missing. */
  static readonly layerS3 = (options: S3Options): Layer.Layer<BlobStore, BlobError> =>
    Layer.effect(BlobStore, makeS3(options))

  /** `S3_ENDPOINT` set (non-blank) selects S3; otherwise the local folder `BLOB_DIR`. */
  static readonly layerConfig: Layer.Layer<BlobStore, BlobError | ConfigError.ConfigError> = Layer.unwrapEffect(
    Effect.gen(function* () {
      const endPoint = Option.filter(yield* Config.option(Config.string("S3_ENDPOINT")), (value) => value.trim() !== "")
      if (Option.isSome(endPoint)) return BlobStore.layerS3({ endPoint: endPoint.value.trim(), ...(yield* S3FromEnv) })
      return BlobStore.layerLocal({ root: yield* Config.string("BLOB_DIR").pipe(Config.withDefault("./.data/blobs")) })
    })
  )
}
