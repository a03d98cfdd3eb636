/**
 * Dedupe: drops signals whose content was probably seen within `ttl` of event time, using
 * Bloom filters (a few MB for millions of keys, where a set of the hashes takes ~100 B a
 * key). A false positive drops a signal that was new, at the configured rate; a duplicate
 * never gets through while its filter lives.
 *
 * Time is bucketed by the signal's event time (`capturedAt`), not the wall clock, so a
 * replay of a recorded stream drops what the live run dropped. Each bucket is ttl/2 wide
 * and has its own filter; a key is looked up in its bucket and the one before and added
 * to its bucket, so it is remembered for ttl/2 to ttl of event time, then may come back.
 * Filters live ttl of wall time after their last write (PEXPIRE), which covers a live
 * bucket's whole use.
 *
 * A crash between the filter update and the worker's commit makes the redelivered entry
 * look like a duplicate of itself: like any dedupe on an external store, this trades the
 * at-least-once guarantee for those entries (the operator sees no delivery count to tell
 * a redelivery from a re-poll of the same item).
 */
import { readFileSync } from "node:fs"
import { Clock, Config, Context, Duration, Effect, Layer, Option, Redacted, Schema } from "effect"
import { Redis } from "ioredis"
import { RetryableError, TopologyError } from "../../runtime/errors.ts"
import { type Keys, makeKeys } from "../../runtime/keys.ts"
import { execMulti } from "../../runtime/redisMulti.ts"
import { batch, decodeConfig, type OperatorNode, type SettingsInput, type StreamDef } from "../../runtime/topology.ts"
import { contentHash } from "./normalize.ts"
import type { Signal } from "../schemas.ts"

// ---------------------------------------------------------------------------------------
// Sizing and hashing

export interface BloomSizing {
  /** m: bits per filter. */
  readonly bits: number
  /** k: bits set per key. */
  readonly hashes: number
}

/** Redis strings stop at 512 MB. */
const MAX_BITS = 2 ** 32

/** m = -n ln p / (ln 2)^2, k = (m / n) ln 2: the optimal filter for n keys at false-positive rate p. */
export const bloomSizing = (capacity: number, falsePositiveRate: number): BloomSizing => {
  const bits = Math.ceil((-capacity * Math.log(falsePositiveRate)) / Math.LN2 ** 2)
  return { bits, hashes: Math.max(1, Math.round((bits / capacity) * Math.LN2)) }
}

const encoder = new TextEncoder()
let scratch = new Uint8Array(256)

/**
 * MurmurHash3 x86 32-bit over `length` bytes of `data`, under the two seeds of double
 * hashing at once (one pass over the bytes); `out` gets the two unsigned hashes.
 */
export const murmur3Pair = (data: Uint8Array, length: number, out: Uint32Array): void => {
  let h = 0
  let g = 0x9747b28c
  const blocks = length & ~3
  for (let i = 0; i < blocks; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24)
    k = Math.imul(k, 0xcc9e2d51)
    k = (k << 15) | (k >>> 17)
    k = Math.imul(k, 0x1b873593)
    h ^= k
    h = (h << 13) | (h >>> 19)
    h = (Math.imul(h, 5) + 0xe6546b64) | 0
    g ^= k
    g = (g << 13) | (g >>> 19)
    g = (Math.imul(g, 5) + 0xe6546b64) | 0
  }
  const tail = length & 3
  if (tail > 0) {
    let k = data[blocks]!
    if (tail >= 2) k ^= data[blocks + 1]! << 8
    if (tail === 3) k ^= data[blocks + 2]! << 16
    k = Math.imul(k, 0xcc9e2d51)
    k = (k << 15) | (k >>> 17)
    k = Math.imul(k, 0x1b873593)
    h ^= k
    g ^= k
  }
  out[0] = fmix(h ^ length)
  out[1] = fmix(g ^ length)
}

const fmix = (h: number): number => {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

const pair = new Uint32Array(2)

/**
 * The two hashes of double hashing, reduced mod m (h2 never 0, or all k bits would be
 * one): bit i of `key` is (h1 + i * h2) mod m. Both backends and the Lua script use this.
 */
export const bloomHashes = (key: string, bits: number): readonly [number, number] => {
  if (scratch.length < key.length * 3) scratch = new Uint8Array(key.length * 3)
  const { written } = encoder.encodeInto(key, scratch)
  murmur3Pair(scratch, written, pair)
  const h2 = pair[1]! % bits
  return [pair[0]! % bits, h2 === 0 ? 1 : h2]
}

/** The k bit positions of `key`. */
export const bitPositions = (key: string, sizing: BloomSizing): ReadonlyArray<number> => {
  const [h1, h2] = bloomHashes(key, sizing.bits)
  return Array.from({ length: sizing.hashes }, (_, i) => (h1 + i * h2) % sizing.bits)
}

// ---------------------------------------------------------------------------------------
// The service

/** One family of filters: its owner (the operator) names them; sizing applies to each. */
export interface BloomFilterSpec {
  readonly owner: string
  /** Expected distinct keys per filter. */
  readonly capacity: number
  readonly falsePositiveRate: number
  /** PEXPIRE of a filter after each write to it. */
  readonly ttlMs: number
}

export interface BloomLookup {
  /** Filters (bucket names) to look in, current first; keys are added to the first. */
  readonly buckets: readonly [string, ...Array<string>]
  readonly keys: ReadonlyArray<string>
  /** False for a pure look-up that adds nothing; default true. */
  readonly add?: boolean
}

export interface BloomFilterShape {
  readonly backend: "redis-bitmap" | "redisbloom" | "memory"
  /**
   * For every key of every lookup, in order: was it probably seen in one of its buckets
   * (including earlier in this call)? Then adds it to the first bucket. Atomic per call.
   */
  readonly checkAndAdd: (
    spec: BloomFilterSpec,
    lookups: ReadonlyArray<BloomLookup>
  ) => Effect.Effect<ReadonlyArray<ReadonlyArray<boolean>>, RetryableError>
}

export class BloomFilter extends Context.Tag("desainz/BloomFilter")<BloomFilter, BloomFilterShape>() {}

const bitmapKey = (keys: Keys, spec: BloomFilterSpec, bucket: string) => {
  const { bits, hashes } = bloomSizing(spec.capacity, spec.falsePositiveRate)
  // Sizing in the name: a changed capacity starts new filters instead of misreading old ones.
  return keys.state(spec.owner, `bloom:${bits}x${hashes}:${bucket}`)
}

// ---------------------------------------------------------------------------------------
// In-process layer

interface MemoryFilter {
  readonly bits: Uint8Array
  expiresAt: number
}

/** A bit array per filter with the same hashing and bit layout as the Redis bitmap. */
export const makeMemory = (keys: Keys): BloomFilterShape => {
  const filters = new Map<string, MemoryFilter>()
  const isSet = (f: MemoryFilter, p: number) => (f.bits[p >>> 3]! & (0x80 >>> (p & 7))) !== 0
  return {
    backend: "memory",
    checkAndAdd: (spec, lookups) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        for (const [name, f] of filters) if (f.expiresAt <= now) filters.delete(name)
        const { bits: m, hashes: k } = bloomSizing(spec.capacity, spec.falsePositiveRate)
        return lookups.map((lookup) => {
          const add = lookup.add !== false
          const names = lookup.buckets.map((b) => bitmapKey(keys, spec, b))
          let target: MemoryFilter | undefined
          if (add) {
            target = filters.get(names[0]!)
            if (target === undefined) {
              target = { bits: new Uint8Array(Math.ceil(m / 8)), expiresAt: 0 }
              filters.set(names[0]!, target)
            }
            target.expiresAt = now + spec.ttlMs
          }
          const older = names.slice(add ? 1 : 0).flatMap((n) => filters.get(n) ?? [])
          return lookup.keys.map((key) => {
            const [h1, h2] = bloomHashes(key, m)
            let seen = true
            if (target !== undefined) {
              for (let i = 0; i < k; i++) {
                const p = (h1 + i * h2) % m
                const mask = 0x80 >>> (p & 7)
                if ((target.bits[p >>> 3]! & mask) === 0) {
                  seen = false
                  target.bits[p >>> 3]! |= mask
                }
              }
              if (seen) return true
            }
            for (const f of older) {
              let all = true
              for (let i = 0; i < k && all; i++) all = isSet(f, (h1 + i * h2) % m)
              if (all) return true
            }
            return false
          })
        })
      })
  }
}

// ---------------------------------------------------------------------------------------
// Redis layer

const BLOOM_LUA = readFileSync(new URL("./lua/bloom.lua", import.meta.url), "utf8")

interface BloomRedis extends Redis {
  desainzBloom(numKeys: number, ...args: ReadonlyArray<string | number>): Promise<ReadonlyArray<number>>
}

const attempt = <A>(what: string, run: () => Promise<A>): Effect.Effect<A, RetryableError> =>
  Effect.tryPromise({
    try: run,
    catch: (cause) => new RetryableError({ message: `bloom ${what}: ${cause instanceof Error ? cause.message : String(cause)}`, cause })
  })

/**
 * RedisBloom when loaded: `MODULE LIST`, or where that is refused (managed Redis), how a
 * BF.INFO probe fails. Fails when Redis cannot be reached at all.
 */
const detectRedisBloom = (redis: Redis): Effect.Effect<boolean, RetryableError> =>
  attempt("module probe", async () => {
    try {
      const modules = (await redis.call("MODULE", "LIST")) as ReadonlyArray<ReadonlyArray<unknown>>
      return modules.some((fields) => fields.some((v, i) => i % 2 === 1 && fields[i - 1] === "name" && /^(bf|bloom|rebloom)$/i.test(String(v))))
    } catch {
      try {
        await redis.call("BF.INFO", "desainz:probe:bloom")
        return true
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e)
        if (/unknown command/i.test(message)) return false
        if (/not found|WRONGTYPE/i.test(message)) return true
        throw e
      }
    }
  })

/** Bitmaps driven by `lua/bloom.lua`: all lookups of a call in one EVALSHA. */
const bitmapCheckAndAdd =
  (redis: BloomRedis, keys: Keys): BloomFilterShape["checkAndAdd"] =>
  (spec, lookups) => {
    const { bits: m, hashes: k } = bloomSizing(spec.capacity, spec.falsePositiveRate)
    const keyIndex = new Map<string, number>()
    const indexOf = (bucket: string) => {
      const name = bitmapKey(keys, spec, bucket)
      let i = keyIndex.get(name)
      if (i === undefined) {
        i = keyIndex.size + 1
        keyIndex.set(name, i)
      }
      return i
    }
    const args: Array<string | number> = [m, k, Math.max(1, Math.round(spec.ttlMs)), lookups.length]
    for (const lookup of lookups) {
      args.push(lookup.add === false ? 0 : 1, lookup.buckets.length, ...lookup.buckets.map(indexOf), lookup.keys.length)
      for (const key of lookup.keys) args.push(...bloomHashes(key, m))
    }
    return attempt("EVALSHA", () => redis.desainzBloom(keyIndex.size, ...keyIndex.keys(), ...args)).pipe(
      Effect.map((flat) => {
        let i = 0
        return lookups.map((lookup) => lookup.keys.map(() => flat[i++] === 1))
      })
    )
  }

/** RedisBloom's own filters: BF.INSERT (created with this sizing, then scaling) and BF.MEXISTS, in one MULTI. */
const moduleCheckAndAdd =
  (redis: Redis, keys: Keys): BloomFilterShape["checkAndAdd"] =>
  (spec, lookups) =>
    attempt("MULTI", async () => {
      const nameOf = (bucket: string) => keys.state(spec.owner, `bf:${spec.capacity}@${spec.falsePositiveRate}:${bucket}`)
      const multi = redis.multi()
      const plan = lookups.map((lookup) => {
        const add = lookup.add !== false && lookup.keys.length > 0
        const older = lookup.keys.length === 0 ? [] : lookup.buckets.slice(add ? 1 : 0)
        for (const b of older) multi.call("BF.MEXISTS", nameOf(b), ...lookup.keys)
        if (add) {
          const current = nameOf(lookup.buckets[0])
          multi.call("BF.INSERT", current, "CAPACITY", spec.capacity, "ERROR", spec.falsePositiveRate, "ITEMS", ...lookup.keys)
          multi.pexpire(current, Math.max(1, Math.round(spec.ttlMs)))
        }
        return { add, older: older.length }
      })
      const replies = await execMulti(multi)
      let r = 0
      const next = () => replies[r++] as ReadonlyArray<number>
      return plan.map(({ add, older }, j) => {
        const found = Array.from({ length: older }, next)
        const inserted = add ? next() : undefined
        if (add) next() // PEXPIRE
        return lookups[j]!.keys.map((_, i) => (inserted !== undefined && inserted[i] === 0) || found.some((f) => f[i] === 1))
      })
    })

export interface RedisBloomOptions {
  readonly url: Redacted.Redacted<string>
  readonly topology: string
}

/** One connection; RedisBloom's commands when the module is loaded, else bitmaps and the Lua script. */
export const makeRedis = (options: RedisBloomOptions) =>
  Effect.gen(function* () {
    const redis = yield* Effect.acquireRelease(
      Effect.sync(() => {
        // A few retries, then the error reaches the operator, whose entries are retried.
        const r = new Redis(Redacted.value(options.url), { maxRetriesPerRequest: 3, enableAutoPipelining: false }) as BloomRedis
        r.on("error", () => undefined) // surfaced by the failing command instead
        r.defineCommand("desainzBloom", { lua: BLOOM_LUA })
        return r
      }),
      (r) => Effect.promise(() => r.quit().catch(() => r.disconnect()))
    )
    const keys = makeKeys(options.topology)
    const module = yield* detectRedisBloom(redis)
    return module
      ? ({ backend: "redisbloom", checkAndAdd: moduleCheckAndAdd(redis, keys) } satisfies BloomFilterShape)
      : ({ backend: "redis-bitmap", checkAndAdd: bitmapCheckAndAdd(redis, keys) } satisfies BloomFilterShape)
  })

export const layerMemory = (topology: string): Layer.Layer<BloomFilter> =>
  Layer.sync(BloomFilter, () => makeMemory(makeKeys(topology)))

export const layerRedis = (options: RedisBloomOptions): Layer.Layer<BloomFilter, RetryableError> =>
  Layer.scoped(BloomFilter, makeRedis(options))

/** Redis when `REDIS_URL` is set, else in-process; `topology` is the name the filters' keys are under. */
export const layer = (topology: string) =>
  Layer.unwrapEffect(
    Effect.map(Config.option(Config.redacted("REDIS_URL")), (url) =>
      Option.match(url, { onNone: () => layerMemory(topology), onSome: (u) => layerRedis({ url: u, topology }) })
    )
  )

// ---------------------------------------------------------------------------------------
// The operator

const isDuration = (u: string | number) => Option.exists(Duration.decodeUnknown(u), (d) => Duration.toMillis(d) >= 2)

export const DedupeConfig = Schema.Struct({
  name: Schema.optionalWith(
    Schema.String.pipe(Schema.pattern(/^[a-z][a-z0-9_-]*$/)).annotations({ description: "Node name; also names the filters' keys." }),
    { default: () => "dedupe" }
  ),
  capacity: Schema.optionalWith(
    Schema.Int.pipe(Schema.between(1, 1_000_000_000)).annotations({
      description: "Expected distinct signals per time bucket (ttl/2 of event time); past it the false-positive rate rises.",
      examples: [100_000, 1_000_000]
    }),
    { default: () => 1_000_000 }
  ),
  falsePositiveRate: Schema.optionalWith(
    Schema.Number.pipe(Schema.greaterThan(0), Schema.lessThan(0.5)).annotations({
      description: "Share of new signals wrongly dropped as duplicates at capacity.",
      examples: [0.001, 0.01]
    }),
    { default: () => 0.001 }
  ),
  ttl: Schema.optionalWith(
    Schema.Union(Schema.String, Schema.Number)
      .pipe(Schema.filter(isDuration, { message: () => `expected a duration such as "7 days" or "12 hours" (or milliseconds)` }))
      .annotations({
        description: "How long (event time) a signal is remembered: between ttl/2 and ttl, then the same content passes again.",
        examples: ["7 days", "36 hours"]
      }),
    { default: () => "7 days" }
  )
}).annotations({ identifier: "DedupeConfig", description: "Drop signals whose content was seen recently (Bloom filters)." })
export type DedupeConfig = typeof DedupeConfig.Type

/**
 * Passes each signal whose content hash (set here when absent) was not seen within the
 * ttl, drops the others. One batch is one filter round trip.
 */
export const dedupe = (
  config: typeof DedupeConfig.Encoded,
  io: { readonly from: StreamDef<Signal>; readonly to: StreamDef<Signal> },
  settings?: SettingsInput
): OperatorNode<Signal, Signal, BloomFilter> => {
  const c = decodeConfig("dedupe", DedupeConfig, config)
  const ttlMs = Duration.toMillis(Option.getOrThrow(Duration.decodeUnknown(c.ttl)))
  if (bloomSizing(c.capacity, c.falsePositiveRate).bits > MAX_BITS) {
    throw new TopologyError({ message: `dedupe: invalid config: capacity: ${c.capacity} at falsePositiveRate ${c.falsePositiveRate} needs a filter over 512 MB` })
  }
  const spec: BloomFilterSpec = { owner: c.name, capacity: c.capacity, falsePositiveRate: c.falsePositiveRate, ttlMs }
  const width = Math.ceil(ttlMs / 2)
  const bucketName = (index: number) => `${width}:${index}`

  return batch({
    name: c.name,
    kind: "dedupe",
    from: io.from,
    to: io.to,
    settings,
    config: c,
    run: (envelopes) =>
      Effect.gen(function* () {
        const bloom = yield* BloomFilter
        const signals = envelopes.map((e) => ({ ...e.data, contentHash: e.data.contentHash ?? contentHash(e.data) }))
        // One lookup per event-time bucket in the batch, all in one call.
        const byBucket = new Map<number, Array<number>>()
        signals.forEach((s, i) => {
          const index = Math.floor(Date.parse(s.capturedAt) / width)
          const members = byBucket.get(index)
          if (members === undefined) byBucket.set(index, [i])
          else members.push(i)
        })
        const groups = [...byBucket]
        const seen = yield* bloom.checkAndAdd(
          spec,
          groups.map(([index, members]) => ({
            buckets: [bucketName(index), bucketName(index - 1)] as const,
            keys: members.map((i) => signals[i]!.contentHash)
          }))
        )
        const out: Array<ReadonlyArray<Signal>> = signals.map(() => [])
        // A redelivery may find its own earlier add in the filter (the worker died before its
        // commit): pass it on. A rare duplicate downstream is absorbed; a lost signal is not.
        groups.forEach(([, members], g) =>
          members.forEach((i, n) => (out[i] = seen[g]![n] && envelopes[i]!.attempt === 1 ? [] : [signals[i]!]))
        )
        return out
      })
  })
}
