import { randomBytes } from "node:crypto"
import * as fs from "node:fs/promises"
import { createRequire } from "node:module"
import { createServer } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { setTimeout as sleep } from "node:timers/promises"
import { describe, expect, it, layer } from "@effect/vitest"
import { ConfigProvider, Context, Effect, Layer, Redacted } from "effect"
import fc from "fast-check"
import { Client, InvalidObjectNameError, S3Error } from "minio"
import {
  ideaAssetsPrefix,
  mockupKey,
  printFileKey,
  publishedAssetKey,
  publishedAssetsPrefix,
  rawSignalDayPrefix,
  rawSignalKey,
  sanitizeKeyPart
} from "../operators/blobKeys.ts"
import { BlobStore, classifyS3Error, validateBlobKey } from "../runtime/blobs.ts"
import { isRetryable } from "../runtime/errors.ts"

// s3rver ships no type declarations; this is the part of its API the tests use.
interface S3rverOptions {
  readonly address: string
  readonly port: number
  readonly silent: boolean
  readonly directory: string
}
interface S3rverInstance {
  run(): Promise<{ port: number }>
  close(): Promise<void>
}
const S3rver = createRequire(import.meta.url)("s3rver") as new (options: S3rverOptions) => S3rverInstance

/** The directory a backend keeps everything in: the contract checks that hostile keys leave it untouched. */
class Backend extends Context.Tag("test/Backend")<Backend, { readonly dir: string }>() {}

const tempDir = Effect.acquireRelease(
  Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "desainz-blobs-"))),
  (dir) => Effect.promise(() => fs.rm(dir, { recursive: true, force: true }))
)

const startS3rver = Effect.gen(function* () {
  const dir = yield* tempDir
  const server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory: dir })
  const { port } = yield* Effect.acquireRelease(
    Effect.promise(() => server.run()),
    () => Effect.promise(() => server.close())
  )
  return { dir, port }
})

// s3rver's one built-in account.
const s3Options = (port: number, bucket: string, secret = "S3RVER") => ({
  endPoint: `http://127.0.0.1:${port}`,
  accessKey: "S3RVER",
  secretKey: Redacted.make(secret),
  bucket,
  region: "us-east-1"
})

const rawClient = (port: number) =>
  new Client({
    endPoint: "127.0.0.1",
    port,
    useSSL: false,
    accessKey: "S3RVER",
    secretKey: "S3RVER",
    pathStyle: true,
    region: "us-east-1"
  })

/** Every file under `dir` with what changes when it is rewritten. */
const snapshot = (dir: string) =>
  Effect.promise(async () => {
    const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true })
    const files: Record<string, string> = {}
    for (const entry of entries) {
      if (!entry.isFile()) continue
      const file = path.join(entry.parentPath, entry.name)
      const stat = await fs.stat(file)
      files[path.relative(dir, file)] = `${stat.ino}:${stat.size}:${stat.mtimeMs}`
    }
    return files
  })

const HOSTILE_KEYS = [
  "",
  "/etc/passwd",
  "C:/Windows/win.ini",
  "../escape.txt",
  "ok/../../escape.txt",
  "..",
  "./here.txt",
  "a/./b.txt",
  ".hidden",
  "a//b.txt",
  "trailing/",
  "back\\slash.txt",
  "nul\u0000byte.txt",
  "line\nbreak.txt",
  "lone\ud800surrogate.txt",
  `long/${"x".repeat(300)}.txt`,
  Array.from({ length: 120 }, () => "seg-0123").join("/")
]

const namesKey = (message: string, key: string) => expect(message).toContain(JSON.stringify(key.slice(0, 20)).slice(0, -1))

/** The behaviour every BlobStore backend must share. */
const blobStoreContract = (name: string, testLayer: Layer.Layer<BlobStore | Backend, unknown>) =>
  layer(testLayer, { timeout: "30 seconds" })(name, (it) => {
    it.effect("round-trips binary data", () =>
      Effect.gen(function* () {
        const store = yield* BlobStore
        const bytes = new Uint8Array([...Array.from({ length: 256 }, (_, i) => i), ...randomBytes(300_000)])
        const result = yield* store.put("roundtrip/data.bin", bytes, { contentType: "application/octet-stream" })
        expect(result.key).toBe("roundtrip/data.bin")
        expect(result.size).toBe(bytes.byteLength)
        expect(result.sha256).toMatch(/^[0-9a-f]{64}$/)
        expect(result.uri).toBe(yield* store.uri("roundtrip/data.bin"))
        const back = yield* store.get("roundtrip/data.bin")
        expect(Buffer.from(back).equals(bytes)).toBe(true)
        const empty = yield* store.put("roundtrip/empty.bin", new Uint8Array())
        expect(empty.size).toBe(0)
        expect((yield* store.get("roundtrip/empty.bin")).byteLength).toBe(0)
      }))

    it.effect("put is idempotent: the same bytes again change nothing; other bytes replace", () =>
      Effect.gen(function* () {
        const store = yield* BlobStore
        const { dir } = yield* Backend
        const bytes = new TextEncoder().encode(JSON.stringify({ id: "s1", text: "hello" }))
        const first = yield* store.put("idem/s1.json", bytes, { contentType: "application/json" })
        const before = yield* snapshot(dir)
        yield* Effect.promise(() => sleep(30)) // let the file system clock tick, so a rewrite would show
        const second = yield* store.put("idem/s1.json", bytes, { contentType: "application/json" })
        expect(second).toEqual(first)
        expect(yield* snapshot(dir)).toEqual(before)

        const changed = new TextEncoder().encode("{}")
        const third = yield* store.put("idem/s1.json", changed)
        expect(third.sha256).not.toBe(first.sha256)
        expect(Buffer.from(yield* store.get("idem/s1.json")).toString()).toBe("{}")
      }))

    it.effect("lists keys by prefix, sorted", () =>
      Effect.gen(function* () {
        const store = yield* BlobStore
        const keys = ["ls/b/1", "ls/a/y/2", "ls/a/x/2", "ls/a/x/1", "ls/ab/1", "ls/a/\u00e9", "ls/a/\u{1f600}", "ls/a/\uff21"]
        for (const key of keys) yield* store.put(key, new TextEncoder().encode(key))
        expect(yield* store.list("ls/a/")).toEqual(["ls/a/x/1", "ls/a/x/2", "ls/a/y/2", "ls/a/\u00e9", "ls/a/\uff21", "ls/a/\u{1f600}"])
        expect(yield* store.list("ls/a/x")).toEqual(["ls/a/x/1", "ls/a/x/2"])
        expect(yield* store.list("ls/a")).toContain("ls/ab/1")
        expect(yield* store.list("ls/nothing/")).toEqual([])
        expect(yield* store.list("ls/")).toHaveLength(keys.length)
      }))

    it.effect("exists and delete", () =>
      Effect.gen(function* () {
        const store = yield* BlobStore
        expect(yield* store.exists("del/x.txt")).toBe(false)
        yield* store.put("del/x.txt", new Uint8Array([1]))
        expect(yield* store.exists("del/x.txt")).toBe(true)
        expect(yield* store.exists("del")).toBe(false) // a prefix is not an object
        yield* store.delete("del/x.txt")
        expect(yield* store.exists("del/x.txt")).toBe(false)
        expect(yield* store.list("del/")).toEqual([])
        yield* store.delete("del/x.txt") // deleting an absent key succeeds
      }))

    it.effect("a missing key fails with a permanent BlobNotFound", () =>
      Effect.gen(function* () {
        const store = yield* BlobStore
        const error = yield* Effect.flip(store.get("missing/nothing.json"))
        expect(error._tag).toBe("BlobNotFound")
        expect(error.message).toContain("missing/nothing.json")
        expect(isRetryable(error)).toBe(false)
      }))

    it.effect("hostile keys fail with a PermanentError naming the key, and nothing is written", () =>
      Effect.gen(function* () {
        const store = yield* BlobStore
        const { dir } = yield* Backend
        const before = yield* snapshot(dir)
        for (const key of HOSTILE_KEYS) {
          const failures = [
            yield* Effect.flip(store.put(key, new Uint8Array([1, 2, 3]))),
            yield* Effect.flip(store.get(key)),
            yield* Effect.flip(store.exists(key)),
            yield* Effect.flip(store.delete(key)),
            yield* Effect.flip(store.uri(key))
          ]
          for (const error of failures) {
            expect(error._tag, JSON.stringify(key)).toBe("PermanentError")
            namesKey(error.message, key)
          }
        }
        for (const prefix of ["/", "../", "a//", "a/../", "x\\"]) {
          expect((yield* Effect.flip(store.list(prefix)))._tag).toBe("PermanentError")
        }
        const badType = yield* Effect.flip(store.put("ok.txt", new Uint8Array([1]), { contentType: "text/plain\r\nX-Evil: 1" }))
        expect(badType._tag).toBe("PermanentError")
        expect(yield* snapshot(dir)).toEqual(before)
      }))
  })

const LocalTest = Layer.unwrapScoped(
  Effect.map(tempDir, (dir) =>
    Layer.merge(BlobStore.layerLocal({ root: path.join(dir, "blobs") }), Layer.succeed(Backend, { dir }))
  )
)

const S3Test = Layer.unwrapScoped(
  Effect.map(startS3rver, ({ dir, port }) =>
    Layer.merge(BlobStore.layerS3(s3Options(port, "contract")), Layer.succeed(Backend, { dir }))
  )
)

blobStoreContract("BlobStore.layerLocal", LocalTest)
blobStoreContract("BlobStore.layerS3 (s3rver)", S3Test)

const freePort = Effect.promise(
  () =>
    new Promise<number>((resolve) => {
      const server = createServer().listen(0, "127.0.0.1", () => {
        const address = server.address()
        server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
      })
    })
)

describe("BlobStore.layerS3", () => {
  it.scoped("creates the bucket when missing, and starts against an existing one", () =>
    Effect.gen(function* () {
      const { port } = yield* startS3rver
      const client = rawClient(port)
      expect(yield* Effect.promise(() => client.bucketExists("fresh"))).toBe(false)
      yield* Layer.build(BlobStore.layerS3(s3Options(port, "fresh")))
      expect(yield* Effect.promise(() => client.bucketExists("fresh"))).toBe(true)
      const store = Context.get(yield* Layer.build(BlobStore.layerS3(s3Options(port, "fresh"))), BlobStore)
      yield* store.put("a.txt", new Uint8Array([1]))
      expect(yield* store.uri("a.txt")).toBe("s3://fresh/a.txt")
    }))

  it.scoped("stores the content type, and re-putting the same bytes with a new type updates it", () =>
    Effect.gen(function* () {
      const { port } = yield* startS3rver
      const store = Context.get(yield* Layer.build(BlobStore.layerS3(s3Options(port, "typed"))), BlobStore)
      const client = rawClient(port)
      yield* store.put("p/print.png", new Uint8Array([137, 80, 78, 71]), { contentType: "image/png" })
      const first = yield* Effect.promise(() => client.statObject("typed", "p/print.png"))
      expect(first.metaData["content-type"]).toBe("image/png")
      yield* store.put("p/print.png", new Uint8Array([137, 80, 78, 71]), { contentType: "application/octet-stream" })
      const second = yield* Effect.promise(() => client.statObject("typed", "p/print.png"))
      expect(second.metaData["content-type"]).toBe("application/octet-stream")
    }))

  // s3rver checks the access key but not SigV4 signatures, so the key is what is wrong here.
  it.scoped("unknown credentials fail permanently at layer start, without the secret in the message", () =>
    Effect.gen(function* () {
      const { port } = yield* startS3rver
      const options = { ...s3Options(port, "denied", "hunter2-wrong"), accessKey: "NOBODY" }
      const error = yield* Effect.flip(Layer.build(BlobStore.layerS3(options)))
      expect(error._tag).toBe("PermanentError")
      expect(error.message).not.toContain("hunter2-wrong")
    }))

  it.scoped("an unreachable endpoint is retryable", () =>
    Effect.gen(function* () {
      const port = yield* freePort
      const error = yield* Effect.flip(Layer.build(BlobStore.layerS3(s3Options(port, "gone"))))
      expect(error._tag).toBe("RetryableError")
    }))

  it.scoped("a bucket deleted under a running store fails puts permanently (NoSuchBucket)", () =>
    Effect.gen(function* () {
      const { port } = yield* startS3rver
      const store = Context.get(yield* Layer.build(BlobStore.layerS3(s3Options(port, "doomed"))), BlobStore)
      yield* Effect.promise(() => rawClient(port).removeBucket("doomed"))
      const error = yield* Effect.flip(store.put("x.txt", new Uint8Array([1])))
      expect(error._tag).toBe("PermanentError")
      expect(error.message).toContain("NoSuchBucket")
    }))

  it.scoped("rejects an endpoint with credentials or a path", () =>
    Effect.gen(function* () {
      for (const endPoint of ["http://user:pw@127.0.0.1:9000", "http://127.0.0.1:9000/bucket", "ftp://127.0.0.1", "nonsense"]) {
        const error = yield* Effect.flip(Layer.build(BlobStore.layerS3({ ...s3Options(9000, "b"), endPoint })))
        expect(error._tag).toBe("PermanentError")
        expect(error.message).not.toContain("pw@")
      }
    }))
})

describe("BlobStore.layerLocal", () => {
  it.scoped("writes through a temp file and leaves none behind; a leftover one is never listed", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const store = Context.get(yield* Layer.build(BlobStore.layerLocal({ root: dir })), BlobStore)
      const result = yield* store.put("a/b/c.json", new TextEncoder().encode("{}"))
      expect(result.uri).toBe(`file://${path.join(dir, "a", "b", "c.json")}`)
      expect(yield* Effect.promise(() => fs.readdir(path.join(dir, "a", "b")))).toEqual(["c.json"])
      yield* Effect.promise(() => fs.writeFile(path.join(dir, "a", "b", ".crashed.tmp"), "partial"))
      expect(yield* store.list("")).toEqual(["a/b/c.json"])
    }))

  it.scoped("a key that needs an existing object to be a folder fails permanently", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const store = Context.get(yield* Layer.build(BlobStore.layerLocal({ root: dir })), BlobStore)
      yield* store.put("a/b", new Uint8Array([1]))
      const error = yield* Effect.flip(store.put("a/b/c", new Uint8Array([1])))
      expect(error._tag).toBe("PermanentError")
    }))
})

describe("BlobStore.layerConfig", () => {
  const withEnv = (env: Record<string, string>) => Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

  it.scoped("without S3_ENDPOINT uses the local folder BLOB_DIR", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const uri = yield* Effect.flatMap(BlobStore, (store) => store.uri("k.txt")).pipe(
        Effect.provide(BlobStore.layerConfig),
        withEnv({ BLOB_DIR: dir, S3_ENDPOINT: " " })
      )
      expect(uri).toBe(`file://${path.join(dir, "k.txt")}`)
    }))

  it.scoped("with S3_ENDPOINT uses S3 with the default bucket", () =>
    Effect.gen(function* () {
      const { port } = yield* startS3rver
      const uri = yield* Effect.flatMap(BlobStore, (store) => store.uri("k.txt")).pipe(
        Effect.provide(BlobStore.layerConfig),
        withEnv({ S3_ENDPOINT: `http://127.0.0.1:${port}`, S3_ACCESS_KEY: "S3RVER", S3_SECRET_KEY: "S3RVER" })
      )
      expect(uri).toBe("s3://desainz/k.txt")
    }))

  it.effect("with S3_ENDPOINT but no credentials fails with a ConfigError", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        Effect.provide(BlobStore, BlobStore.layerConfig).pipe(withEnv({ S3_ENDPOINT: "http://127.0.0.1:9" }))
      )
      expect(error._tag).not.toBe("PermanentError")
      expect(String(error)).toContain("S3_ACCESS_KEY")
    }))
})

describe("classifyS3Error", () => {
  const s3Error = (code: string) => Object.assign(new S3Error(code), { code })
  const socketError = (code: string) => Object.assign(new Error(`connect ${code}`), { code })

  it("sorts server answers and client failures", () => {
    for (const code of ["SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout"]) {
      expect(classifyS3Error(s3Error(code), "put k")._tag, code).toBe("RetryableError")
    }
    for (const code of ["AccessDenied", "NoSuchBucket", "SignatureDoesNotMatch", "InvalidAccessKeyId", "KeyTooLongError"]) {
      expect(classifyS3Error(s3Error(code), "put k")._tag, code).toBe("PermanentError")
    }
    for (const code of ["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EAI_AGAIN"]) {
      expect(classifyS3Error(socketError(code), "put k")._tag, code).toBe("RetryableError")
    }
    // How the client reports a 5xx it gave up on.
    expect(classifyS3Error(new Error("Request failed after 0 retries: Error: Retryable HTTP status: 503"), "put k")._tag).toBe(
      "RetryableError"
    )
    expect(classifyS3Error(new InvalidObjectNameError("Invalid object name: "), "put k")._tag).toBe("PermanentError")
    expect(classifyS3Error(s3Error("AccessDenied"), "put raw/x.json").message).toContain("put raw/x.json")
  })
})

describe("blobKeys", () => {
  const run = <A>(effect: Effect.Effect<A, unknown>) => Effect.runSync(effect)
  const failure = (effect: Effect.Effect<unknown, { readonly _tag: string; readonly message: string }>) =>
    Effect.runSync(Effect.flip(effect))

  it("partitions raw signals by the UTC day of capture", () => {
    // 23:30 in New York on Jan 31 is already Feb 1 in UTC.
    const at = new Date("2024-01-31T23:30:00-05:00")
    expect(run(rawSignalKey(at, "t3_abc123"))).toBe("raw-signals/year=2024/month=02/day=01/t3_abc123.json")
    expect(run(rawSignalDayPrefix(at))).toBe("raw-signals/year=2024/month=02/day=01/")
    expect(run(rawSignalKey(new Date("2025-12-09T00:00:00Z"), "9"))).toBe("raw-signals/year=2025/month=12/day=09/9.json")
    expect(failure(rawSignalKey(new Date("not a date"), "x"))._tag).toBe("PermanentError")
    expect(failure(rawSignalKey(new Date(Date.UTC(20000, 0, 1)), "x"))._tag).toBe("PermanentError")
  })

  it("lays out mock-ups, print files and published assets", () => {
    const idea = "0b9c1c1e-2f55-4c6e-9d7e-1d2a3b4c5d6e"
    expect(run(mockupKey(idea, "front", "black", "PNG"))).toBe(`generated-mockups/${idea}/variants/front-black.png`)
    expect(run(printFileKey(idea, "png"))).toBe(`generated-mockups/${idea}/print.png`)
    expect(run(ideaAssetsPrefix(idea))).toBe(`generated-mockups/${idea}/`)
    expect(run(publishedAssetKey("etsy", "L-42", "listing.json"))).toBe("published-assets/etsy/L-42/listing.json")
    expect(run(publishedAssetsPrefix("etsy"))).toBe("published-assets/etsy/")
  })

  it("sanitizes unsafe parts into one segment, keeping distinct inputs distinct", () => {
    const url = run(rawSignalKey(new Date("2024-05-01T12:00:00Z"), "https://example.com/a/../b?x=1"))
    expect(url).toMatch(/^raw-signals\/year=2024\/month=05\/day=01\/https-example\.com-a-\.\.-b-x-1-[0-9a-f]{12}\.json$/)
    expect(run(sanitizeKeyPart(".."))).toMatch(/^[0-9a-f]{12}$/)
    expect(run(sanitizeKeyPart("a/b"))).not.toBe(run(sanitizeKeyPart("a-b")))
    expect(run(mockupKey("i", "back", "Heather Grey", "jpg"))).toMatch(/^generated-mockups\/i\/variants\/back-Heather-Grey-[0-9a-f]{12}\.jpg$/)
    expect(run(publishedAssetKey("../etsy", "..", "a/b.csv"))).toMatch(
      /^published-assets\/etsy-[0-9a-f]{12}\/[0-9a-f]{12}\/a-b-[0-9a-f]{12}\.csv$/
    )
  })

  it("rejects what cannot be made safe", () => {
    expect(failure(sanitizeKeyPart("", "signal id")).message).toContain("signal id")
    expect(failure(mockupKey("i", "Front-Left", "black", "png"))._tag).toBe("PermanentError")
    expect(failure(printFileKey("i", "png/../x"))._tag).toBe("PermanentError")
    expect(failure(printFileKey("i", ""))._tag).toBe("PermanentError")
  })

  it("every built key is a valid blob key, and distinct ids never share a key", () => {
    const day = new Date("2024-03-03T03:03:03Z")
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ unit: "binary", minLength: 1, maxLength: 300 }), { minLength: 2, maxLength: 20 }), (ids) => {
        const keys = ids.map((id) => run(rawSignalKey(day, id)))
        for (const key of keys) run(validateBlobKey(key))
        for (const id of ids) run(validateBlobKey(run(mockupKey(id, "front", id, "png"))))
        expect(new Set(keys).size).toBe(ids.length)
      })
    )
  })
})
