import { randomUUID } from "node:crypto"
import { readFileSync } from "node:fs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Effect, Layer, Redacted, TestClock, TestContext } from "effect"
import { Redis } from "ioredis"
import {
  BloomFilter,
  type BloomFilterShape,
  type BloomFilterSpec,
  bitPositions,
  bloomSizing,
  dedupe,
  layerMemory,
  layerRedis
} from "../operators/ingest/dedupe.ts"
import { contentHash } from "../operators/ingest/normalize.ts"
import { Signal } from "../operators/schemas.ts"
import type { Delivered } from "../runtime/envelope.ts"
import { TopologyError } from "../runtime/errors.ts"
import { makeKeys } from "../runtime/keys.ts"
import { Metrics } from "../runtime/metrics.ts"
import { sink, stream, topology } from "../runtime/topology.ts"
import { feeder, runTest, startWorker, transportCases, uniqueName, waitUntil } from "./support/harness.ts"
import { type RedisServer, startRedis } from "./support/redisServer.ts"

let server: RedisServer
beforeAll(async () => {
  server = await startRedis()
}, 30_000)
afterAll(async () => {
  await server?.stop()
})

interface BackendCase {
  readonly name: "memory" | "redis"
  readonly layer: (topology: string) => Layer.Layer<BloomFilter, unknown>
}
const backends: ReadonlyArray<BackendCase> = [
  { name: "memory", layer: (topology) => layerMemory(topology) },
  { name: "redis", layer: (topology) => layerRedis({ url: Redacted.make(server.url), topology }) }
]

const withBloom = <A, E>(backend: BackendCase, topologyName: string, body: (bloom: BloomFilterShape) => Effect.Effect<A, E, BloomFilter>) =>
  Effect.runPromise(Effect.scoped(Effect.flatMap(BloomFilter, body)).pipe(Effect.provide(backend.layer(topologyName))) as Effect.Effect<A, unknown>)

const spec = (overrides: Partial<BloomFilterSpec> = {}): BloomFilterSpec => ({
  owner: "dedupe",
  capacity: 10_000,
  falsePositiveRate: 0.001,
  ttlMs: 3_600_000,
  ...overrides
})

const signal = (content: string, capturedAt: string, extra: Partial<Signal> = {}): Signal => ({
  source: "reddit",
  sourceId: randomUUID(),
  content,
  capturedAt,
  engagement: {},
  tags: [],
  metadata: {},
  ...extra
})

const envelope = (data: Signal, attempt = 1): Delivered<Signal> => {
  const id = randomUUID()
  return { eventType: "signal.ingested", eventId: id, timestamp: data.capturedAt, source: "test", version: 1, correlationId: id, data, attempt }
}

const signalsRaw = stream("signals.raw", Signal)
const signalsUnique = stream("signals.unique", Signal)

/** What the operator passes of a batch, through the handler the worker calls. */
const passed = (node: ReturnType<typeof dedupe>, batch: ReadonlyArray<Signal>, attempt = 1) =>
  Effect.map(node.handle(batch.map((s) => envelope(s, attempt))), (results) =>
    results.flatMap((r) => {
      if (r._tag === "Fail") throw r.error
      return r.outputs.map((o) => o.data)
    })
  )

const HOUR = 3_600_000
const at = (ms: number) => new Date(ms).toISOString()

describe.each(backends)("BloomFilter on $name", (backend) => {
  it("tells seen keys, also within one call, and adds only when asked", () =>
    withBloom(backend, uniqueName(), (bloom) =>
      Effect.gen(function* () {
        const s = spec()
        expect(yield* bloom.checkAndAdd(s, [{ buckets: ["b1"], keys: ["a", "b", "a", "c"] }])).toEqual([[false, false, true, false]])
        expect(yield* bloom.checkAndAdd(s, [{ buckets: ["b1"], keys: ["c", "d", "b"] }])).toEqual([[true, false, true]])
        // A look-up only: nothing is added.
        expect(yield* bloom.checkAndAdd(s, [{ buckets: ["b1"], keys: ["e", "e"], add: false }])).toEqual([[false, false]])
        expect(yield* bloom.checkAndAdd(s, [{ buckets: ["b1"], keys: ["e"], add: false }])).toEqual([[false]])
        // Older buckets are looked in, not added to; several lookups in one call run in order.
        const [first, second] = yield* bloom.checkAndAdd(s, [
          { buckets: ["b2", "b1"], keys: ["a", "x"] },
          { buckets: ["b3", "b2"], keys: ["x", "y", "b"] }
        ])
        expect(first).toEqual([true, false])
        expect(second).toEqual([true, false, false])
        expect(yield* bloom.checkAndAdd(s, [{ buckets: ["b1"], keys: ["x"], add: false }])).toEqual([[false]])
        // Owners and sizings are separate filter families.
        expect(yield* bloom.checkAndAdd(spec({ owner: "other" }), [{ buckets: ["b1"], keys: ["a"] }])).toEqual([[false]])
        expect(yield* bloom.checkAndAdd(spec({ capacity: 20_000 }), [{ buckets: ["b1"], keys: ["a"] }])).toEqual([[false]])
        expect(yield* bloom.checkAndAdd(s, [{ buckets: ["b9"], keys: [] }])).toEqual([[]])
      })
    ))

  it("dedupe drops duplicates and passes uniques, keyed by the normalized content hash", () =>
    withBloom(backend, uniqueName(), () =>
      Effect.gen(function* () {
        const node = dedupe({ capacity: 10_000, ttl: "7 days" }, { from: signalsRaw, to: signalsUnique })
        const t0 = Date.parse("2026-03-01T12:00:00Z")
        const first = [
          signal("Cats in hats are trending", at(t0)),
          signal("Dogs in boots", at(t0 + 1_000)),
          // The same headline from another source, differently formatted: a duplicate.
          signal("CATS  in hats are trending\u200b", at(t0 + 2_000), { source: "rss" }),
          signal("Frogs on logs", at(t0 + 3_000), { contentHash: "0123456789abcdef0123456789abcdef" })
        ]
        const out1 = yield* passed(node, first)
        expect(out1.map((s) => s.content)).toEqual(["Cats in hats are trending", "Dogs in boots", "Frogs on logs"])
        expect(out1[0]!.contentHash).toBe(contentHash(first[0]!))
        // A hash that is already set is the key as it is.
        expect(out1[2]!.contentHash).toBe("0123456789abcdef0123456789abcdef")
        const out2 = yield* passed(node, [
          signal("dogs in boots", at(t0 + HOUR)),
          signal("Something new", at(t0 + HOUR)),
          signal("Something new", at(t0 + HOUR + 1)),
          signal("A frog", at(t0 + HOUR), { contentHash: "0123456789abcdef0123456789abcdef" })
        ])
        expect(out2.map((s) => s.content)).toEqual(["Something new"])
        // A redelivery finds its own earlier add (its worker died before the commit): it passes.
        const redelivered = yield* passed(node, [signal("Dogs in boots", at(t0 + 1_000))], 2)
        expect(redelivered.map((s) => s.content)).toEqual(["Dogs in boots"])
      })
    ))

  it("lets a topic come back after the ttl, by event time buckets (a replay decides as the live run)", () =>
    withBloom(backend, uniqueName(), () =>
      Effect.gen(function* () {
        // ttl 2 days: buckets of one day; a key is remembered in its day and the next.
        const node = dedupe({ ttl: "2 days" }, { from: signalsRaw, to: signalsUnique })
        const day = 24 * HOUR
        const base = Math.floor(Date.parse("2019-06-10T00:00:00Z") / day) * day // years ago: the wall clock plays no part
        const topic = (t: number) => signal("Moon landing anniversary", at(t))
        expect(yield* passed(node, [topic(base + 1 * HOUR)])).toHaveLength(1)
        expect(yield* passed(node, [topic(base + 23 * HOUR)])).toHaveLength(0) // same bucket
        expect(yield* passed(node, [topic(base + day + 20 * HOUR)])).toHaveLength(0) // next bucket: still remembered
        // Two buckets later the first bucket is out of sight, but the next one saw it: still a duplicate.
        expect(yield* passed(node, [topic(base + 2 * day + 1 * HOUR)])).toHaveLength(0)
        // A long quiet spell (two buckets with no sighting): the topic passes again.
        expect(yield* passed(node, [topic(base + 5 * day)])).toHaveLength(1)
        // Mixed buckets in one batch: each signal is judged in its own bucket.
        const mixed = yield* passed(node, [topic(base + 5 * day + HOUR), topic(base + 9 * day), topic(base + 9 * day + HOUR), topic(base + 20 * day)])
        expect(mixed.map((s) => s.capturedAt)).toEqual([at(base + 9 * day), at(base + 20 * day)])
      })
    ))

  it("keeps a false-positive rate near the configured one when filled to capacity", () =>
    withBloom(backend, uniqueName(), (bloom) =>
      Effect.gen(function* () {
        // The full million on the in-process filter; Redis runs one script command per
        // bit, so it gets 200,000 here unless DEDUPE_FP_KEYS asks for more.
        const n = backend.name === "memory" ? 1_000_000 : Number(process.env["DEDUPE_FP_KEYS"] ?? 200_000)
        const s = spec({ capacity: n, falsePositiveRate: 0.001 })
        const chunk = 10_000
        const started = performance.now()
        for (let i = 0; i < n; i += chunk) {
          const keys = Array.from({ length: Math.min(chunk, n - i) }, (_, j) => `inserted-${i + j}`)
          const [seen] = yield* bloom.checkAndAdd(s, [{ buckets: ["fp"], keys }])
          // Distinct keys: a "seen" while filling is a false positive at a lower fill.
          expect(seen!.filter(Boolean).length).toBeLessThan(chunk * 0.002 + 5)
        }
        let falsePositives = 0
        for (let i = 0; i < n; i += chunk) {
          const keys = Array.from({ length: Math.min(chunk, n - i) }, (_, j) => `probe-${i + j}`)
          const [seen] = yield* bloom.checkAndAdd(s, [{ buckets: ["fp"], keys, add: false }])
          falsePositives += seen!.filter(Boolean).length
        }
        const rate = falsePositives / n
        const seconds = (performance.now() - started) / 1000
        process.stderr.write(
          `bloom ${backend.name}: ${n} keys at capacity ${n}, p=0.001 -> measured false-positive rate ${(rate * 100).toFixed(4)}% (${falsePositives}/${n}) in ${seconds.toFixed(1)} s\n`
        )
        expect(rate).toBeLessThanOrEqual(0.002)
        // Every inserted key is still found (no false negatives).
        const [again] = yield* bloom.checkAndAdd(s, [{ buckets: ["fp"], keys: Array.from({ length: 5_000 }, (_, j) => `inserted-${j * 37}`), add: false }])
        expect(again!.every(Boolean)).toBe(true)
      })
    ), 300_000)
})

describe("BloomFilter, in-process", () => {
  it("forgets a filter ttl after its last write (driven clock)", () =>
    Effect.runPromise(
      Effect.gen(function* () {
        const bloom = yield* BloomFilter
        const s = spec({ ttlMs: 10_000 })
        expect(yield* bloom.checkAndAdd(s, [{ buckets: ["b"], keys: ["k"] }])).toEqual([[false]])
        yield* TestClock.adjust("9 seconds")
        expect(yield* bloom.checkAndAdd(s, [{ buckets: ["b"], keys: ["k"] }])).toEqual([[true]]) // refreshes the ttl
        yield* TestClock.adjust("9 seconds")
        expect(yield* bloom.checkAndAdd(s, [{ buckets: ["b"], keys: ["k"], add: false }])).toEqual([[true]])
        yield* TestClock.adjust("2 seconds")
        expect(yield* bloom.checkAndAdd(s, [{ buckets: ["b"], keys: ["k"], add: false }])).toEqual([[false]])
      }).pipe(Effect.provide(Layer.merge(layerMemory("t"), TestContext.TestContext)))
    ))
})

describe("BloomFilter on Redis (bitmaps + lua/bloom.lua)", () => {
  const redisCase = backends[1]!

  it("sets exactly the double-hashing bits the in-process filter uses, under keys.state, with a PEXPIRE", async () => {
    const name = uniqueName()
    const s = spec({ capacity: 1_000, ttlMs: 60_000 })
    const backend = await withBloom(redisCase, name, (bloom) =>
      Effect.as(bloom.checkAndAdd(s, [{ buckets: ["day-1"], keys: ["hello", "world"] }]), bloom.backend)
    )
    expect(backend).toBe("redis-bitmap") // no RedisBloom module on this redis-server
    const sizing = bloomSizing(s.capacity, s.falsePositiveRate)
    const key = makeKeys(name).state("dedupe", `bloom:${sizing.bits}x${sizing.hashes}:day-1`)
    const redis = new Redis(server.url)
    try {
      const expected = new Set([...bitPositions("hello", sizing), ...bitPositions("world", sizing)])
      expect(await redis.bitcount(key)).toBe(expected.size)
      for (const p of expected) expect(await redis.getbit(key, p)).toBe(1)
      const ttl = await redis.pttl(key)
      expect(ttl).toBeGreaterThan(50_000)
      expect(ttl).toBeLessThanOrEqual(60_000)
      expect(key.startsWith(`desainz:{${name}}:state:dedupe:`)).toBe(true)
    } finally {
      redis.disconnect()
    }
  })

  it("sends one script call per operator batch, whatever the buckets in it", async () => {
    const redis = new Redis(server.url)
    const calls = async () => {
      const info = await redis.info("commandstats")
      const evalsha = /cmdstat_evalsha:calls=(\d+)/.exec(info)?.[1] ?? "0"
      const evals = /cmdstat_eval:calls=(\d+)/.exec(info)?.[1] ?? "0"
      return Number(evalsha) + Number(evals)
    }
    try {
      // Loaded beforehand, so EVALSHA never falls back to EVAL (a second call) here.
      await redis.script("LOAD", readFileSync(new URL("../operators/ingest/lua/bloom.lua", import.meta.url), "utf8"))
      const node = dedupe({ ttl: "1 day" }, { from: signalsRaw, to: signalsUnique })
      const base = Date.parse("2026-01-01T00:00:00Z")
      const batch = Array.from({ length: 100 }, (_, i) => signal(`headline ${i % 70}`, at(base + (i % 5) * 13 * HOUR)))
      const before = await calls()
      const out = await withBloom(redisCase, uniqueName(), () => passed(node, batch))
      expect(await calls()).toBe(before + 1)
      expect(new Set(out.map((s) => s.content)).size).toBe(out.length)
    } finally {
      redis.disconnect()
    }
  })
})

describe("dedupe in a running topology", () => {
  it.each(transportCases)("passes each content once on the $name transport", (tc) =>
    runTest(
      tc,
      Effect.gen(function* () {
        const name = uniqueName()
        const feed = feeder("feed", signalsRaw)
        const seen: Array<Signal> = []
        const t = topology({
          name,
          nodes: [
            feed.node,
            dedupe({ capacity: 1_000 }, { from: signalsRaw, to: signalsUnique }, { batchSize: 16 }),
            sink({ name: "collect", from: signalsUnique, run: (s) => Effect.sync(() => void seen.push(s)) })
          ],
          services: tc.name === "redis" ? layerRedis({ url: Redacted.make(server.url), topology: name }) : layerMemory(name)
        })
        const w = yield* startWorker(t)
        const now = Date.parse("2026-05-01T00:00:00Z")
        feed.push(...Array.from({ length: 120 }, (_, i) => ({ data: signal(`Trend number ${i % 40}`, at(now + i * 1000)), key: String(i) })))
        const m = yield* Metrics
        yield* waitUntil("dedupe has processed all 120", Effect.sync(() => m.processed.get({ operator: "dedupe" }) === 120))
        yield* waitUntil(
          "the sink has what dedupe passed",
          Effect.sync(() => m.processed.get({ operator: "collect" }) === m.emitted.get({ node: "dedupe" }))
        )
        yield* w.stop
        expect(seen.map((s) => s.content).sort()).toEqual(Array.from({ length: 40 }, (_, i) => `Trend number ${i}`).sort())
        expect(seen.every((s) => s.contentHash === contentHash(s))).toBe(true)
      })
    )
  )
})

describe("dedupe config", () => {
  const io = { from: signalsRaw, to: signalsUnique }
  it.each([
    [{ capacity: 0 }, /capacity/],
    [{ capacity: 1.5 }, /capacity/],
    [{ falsePositiveRate: 0 }, /falsePositiveRate/],
    [{ falsePositiveRate: 0.9 }, /falsePositiveRate/],
    [{ ttl: "soon" }, /ttl/],
    [{ ttl: 1 }, /ttl/],
    [{ name: "Bad Name" }, /name/],
    [{ capacity: 1_000_000_000, falsePositiveRate: 0.000001 }, /capacity: .*512 MB/],
    [{ capasity: 10 }, /capasity/]
  ])("rejects %j naming the field", (config, field) => {
    expect(() => dedupe(config as never, io)).toThrow(TopologyError)
    expect(() => dedupe(config as never, io)).toThrow(field)
  })

  it("fills in defaults and shows them as the node's config", () => {
    const node = dedupe({}, io)
    expect(node.name).toBe("dedupe")
    expect(node.kind).toBe("dedupe")
    expect(node.config).toEqual({ name: "dedupe", capacity: 1_000_000, falsePositiveRate: 0.001, ttl: "7 days" })
    expect(bloomSizing(1_000_000, 0.001)).toEqual({ bits: 14_377_588, hashes: 10 })
  })
})
