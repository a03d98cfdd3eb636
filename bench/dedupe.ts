/**
 * Dedupe bench: checks per second and Redis memory of the Bloom filter (`operators/ingest/dedupe.ts`,
 * batched check-and-add, one EVALSHA per batch) against the plain-set baseline a developer
 * would write first: per key SISMEMBER in the previous bucket's set + SADD to the current
 * one (the same check-current-and-previous semantics), pipelined one batch per round trip.
 * Both run in this process on the same server and see the same keys: 32-hex content
 * hashes, `--dup-rate` of them repeats of earlier ones.
 *
 *   npm run bench -- dedupe [--keys 200000] [--batch 1000] [--dup-rate 0.2]
 *
 * The filter is sized for `--keys` at a 0.1% false-positive rate. Its point is memory
 * (bits per key instead of a stored string per key), not speed: the script spends one
 * Redis command per bit, so expect it to be slower than the set.
 */
import { createHash, randomBytes } from "node:crypto"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { Effect, Redacted } from "effect"
import { Redis } from "ioredis"
import { type BloomFilterSpec, makeRedis } from "../operators/ingest/dedupe.ts"
import { makeKeys } from "../runtime/keys.ts"
import { emit, intFlag, log, numberFlag, parseFlags, round, UsageError } from "./harness.ts"
import { withRedis } from "./redis.ts"

/** `n` content-hash-like keys; a `dupRate` share of them repeats an earlier one. */
const makeKeysToCheck = (n: number, dupRate: number): ReadonlyArray<string> => {
  const keys: Array<string> = []
  let seed = 0x2545f491
  const random = () => {
    seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0
    return seed / 2 ** 32
  }
  for (let i = 0; i < n; i++) {
    keys.push(keys.length > 0 && random() < dupRate ? keys[Math.floor(random() * keys.length)]! : createHash("sha256").update(`key-${i}`).digest("hex").slice(0, 32))
  }
  return keys
}

const batches = <A>(items: ReadonlyArray<A>, size: number) =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size))

const keysUnder = async (redis: Redis, prefix: string): Promise<ReadonlyArray<string>> => {
  const found: Array<string> = []
  let cursor = "0"
  do {
    const [next, page] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1_000)
    cursor = next
    found.push(...page)
  } while (cursor !== "0")
  return found
}

/** Bytes Redis reports for every key under `prefix` (MEMORY USAGE ... SAMPLES 0: exact). */
const memoryUnder = async (redis: Redis, prefix: string): Promise<number> => {
  let total = 0
  for (const key of await keysUnder(redis, prefix)) total += Number((await redis.call("MEMORY", "USAGE", key, "SAMPLES", "0")) ?? 0)
  return total
}

const bloomRun = (url: string, topology: string, keys: ReadonlyArray<string>, batch: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const bloom = yield* makeRedis({ url: Redacted.make(url), topology })
      const spec: BloomFilterSpec = { owner: "dedupe", capacity: keys.length, falsePositiveRate: 0.001, ttlMs: 3_600_000 }
      // Loads the script (EVALSHA falls back to EVAL once) outside the timing.
      yield* bloom.checkAndAdd({ ...spec, owner: "warmup" }, [{ buckets: ["w"], keys: keys.slice(0, 100) }])
      const started = performance.now()
      let seen = 0
      for (const part of batches(keys, batch)) {
        const [result] = yield* bloom.checkAndAdd(spec, [{ buckets: ["current", "previous"], keys: part }])
        seen += result!.filter(Boolean).length
      }
      return { seconds: (performance.now() - started) / 1000, seen, backend: bloom.backend }
    })
  )

const setRun = async (redis: Redis, current: string, previous: string, keys: ReadonlyArray<string>, batch: number) => {
  const started = performance.now()
  let seen = 0
  for (const part of batches(keys, batch)) {
    const pipe = redis.pipeline()
    for (const key of part) pipe.sismember(previous, key).sadd(current, key)
    const replies = (await pipe.exec()) ?? []
    for (let i = 0; i < part.length; i++) {
      const [e1, inPrevious] = replies[2 * i]!
      const [e2, added] = replies[2 * i + 1]!
      if (e1 || e2) throw e1 ?? e2
      if (inPrevious === 1 || added === 0) seen++
    }
  }
  return { seconds: (performance.now() - started) / 1000, seen }
}

export const run = async (args: ReadonlyArray<string> = []): Promise<void> => {
  const flags = parseFlags(args, { keys: { type: "string" }, batch: { type: "string" }, "dup-rate": { type: "string" } })
  const n = intFlag("keys", flags.keys, 200_000, 1_000)
  const batch = intFlag("batch", flags.batch, 1_000)
  const dupRate = numberFlag("dup-rate", flags["dup-rate"], 0.2)
  if (dupRate >= 1) throw new UsageError(`--dup-rate must be below 1, got ${dupRate}`)

  const keys = makeKeysToCheck(n, dupRate)
  const distinct = new Set(keys).size
  log(`dedupe: ${n} checks (${distinct} distinct keys), ${batch} per round trip`)
  await withRedis(async (url) => {
    const topology = `bench-dedupe-${randomBytes(4).toString("hex")}`
    const state = makeKeys(topology).state
    const redis = new Redis(url)
    try {
      const bloom = await Effect.runPromise(bloomRun(url, topology, keys, batch))
      const bloomMemory = await memoryUnder(redis, state("dedupe", "bloom"))
      log(`dedupe: bloom (${bloom.backend}) ${bloom.seconds.toFixed(2)} s, ${bloom.seen} seen, ${bloomMemory} bytes`)
      const setKey = state("baseline", "set:current")
      const set = await setRun(redis, setKey, state("baseline", "set:previous"), keys, batch)
      const setMemory = await memoryUnder(redis, setKey)
      log(`dedupe: sets ${set.seconds.toFixed(2)} s, ${set.seen} seen, ${setMemory} bytes`)
      // The set is exact; the filter may only add false positives.
      if (bloom.seen < set.seen) throw new Error(`the Bloom filter missed duplicates: ${bloom.seen} seen, the set saw ${set.seen}`)
      const checksPerS = n / bloom.seconds
      const baselinePerS = n / set.seconds
      emit({
        bench: "dedupe",
        case: "bloom-redis",
        backend: bloom.backend,
        keys: n,
        distinct_keys: distinct,
        batch_size: batch,
        false_positives: bloom.seen - set.seen,
        checks_per_s: round(checksPerS, 0),
        baseline_case: "sadd-sismember",
        baseline_checks_per_s: round(baselinePerS, 0),
        ratio: round(checksPerS / baselinePerS, 3),
        memory_bytes: bloomMemory,
        baseline_memory_bytes: setMemory,
        memory_ratio: round(bloomMemory / setMemory, 3)
      })
      // Leaves a REDIS_URL server as it was.
      for (const prefix of [state("dedupe", "bloom"), state("warmup", "bloom"), state("baseline", "set")]) {
        for (const key of await keysUnder(redis, prefix)) await redis.del(key)
      }
    } finally {
      redis.disconnect()
    }
  })
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  run(process.argv.slice(2)).catch((error: unknown) => {
    log(`bench dedupe failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
    process.exitCode = 1
  })
}
