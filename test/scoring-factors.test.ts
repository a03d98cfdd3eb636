/**
 * The scoring factors, one by one, with event time driven by the test's own timestamps
 * (nothing reads the wall clock), the shared state on both backends (the same cell
 * contents whatever the write order; late writes reported), and the scorer's central
 * promise: a signal's result does not depend on batch boundaries or processing order.
 */
import fc from "fast-check"
import { Effect, Either, Layer, Redacted, TestClock, TestContext } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { cosine, Embedder, hashEmbedding, layerHashing } from "../operators/scoring/embedder.ts"
import type { Signal } from "../operators/schemas.ts"
import { communityFitFactor, membersOf, NicheProfile, profileText } from "../operators/scoring/communityFit.ts"
import { engagementFactor, engagementRate, robustScale } from "../operators/scoring/engagement.ts"
import { freshness, freshnessFactor, topicsOf } from "../operators/scoring/freshness.ts"
import { makeMemory as makeIndex, VectorIndex } from "../operators/scoring/vectorIndex.ts"
import { centroid, noveltyFactor, quantize } from "../operators/scoring/novelty.ts"
import { makeScorer, ScoringConfig, type ScoredSignal, type ScoringInput } from "../operators/scoring/scorer.ts"
import { makeSeasonality, SeasonalityConfig } from "../operators/scoring/seasonality.ts"
import {
  type Cell,
  DAY,
  layerMemory,
  layerRedis,
  makeMemory,
  sampleRank,
  ScoringState,
  type ScoringStateShape,
  type Write
} from "../operators/scoring/state.ts"
import { closedWindow } from "../operators/scoring/window.ts"
import { RetryableError } from "../runtime/errors.ts"
import { Schema } from "effect"
import { makeKeys } from "../runtime/keys.ts"
import { type RedisServer, startRedis } from "./support/redisServer.ts"
import { uniqueName } from "./support/harness.ts"

const T0 = Date.parse("2026-03-10T00:00:00Z")
const HOUR = 3_600_000
const iso = (ms: number) => new Date(ms).toISOString()

const signal = (overrides: Partial<Signal> = {}): Signal => ({
  source: "reddit",
  sourceId: "x",
  content: "Plant Mom Energy",
  capturedAt: iso(T0),
  engagement: {},
  tags: [],
  metadata: {},
  ...overrides
})

describe("engagement", () => {
  it("is engagement per minute of the item's age at capture", () => {
    const s = signal({
      engagement: { likes: 100, comments: 20, views: 1000, score: -5 },
      metadata: { publishedAt: iso(T0 - 2 * HOUR) },
      capturedAt: iso(T0)
    })
    expect(engagementRate(s)).toBe(1120 / 120)
    expect(engagementRate(signal({ engagement: { score: 42 } }))).toBe(42)
    expect(engagementRate(signal())).toBeUndefined()
  })

  it("a viral post moves the median baseline by one sample, unlike a mean", () => {
    const baseline = Array.from({ length: 50 }, (_, i) => Math.log1p(10 + i))
    const viral = [...baseline.slice(1), Math.log1p(5_000_000)]
    const a = robustScale(baseline)
    const b = robustScale(viral)
    expect(Math.abs(b.median - a.median)).toBeLessThan(0.05)
    expect(Math.abs(b.sigma - a.sigma) / a.sigma).toBeLessThan(0.1)
    const mean = (xs: ReadonlyArray<number>) => xs.reduce((s, x) => s + x, 0) / xs.length
    expect(Math.abs(mean(viral) - mean(baseline))).toBeGreaterThan(0.15)
  })

  it("maps z through the logistic; the median is 0.5; cold start uses the absolute scale", () => {
    const config = Schema.decodeUnknownSync(ScoringConfig)({}).engagement
    const baseline = Array.from({ length: 40 }, (_, i) => Math.log1p(20 + (i % 10)))
    const { median } = robustScale(baseline)
    expect(engagementFactor(Math.expm1(median), baseline, config).value).toBeCloseTo(0.5, 10)
    const high = engagementFactor(Math.expm1(median + 2), baseline, config)
    expect(high.z).toBeGreaterThan(2)
    expect(high.value).toBeGreaterThan(0.88)
    expect(engagementFactor(50, baseline.slice(0, 5), config)).toEqual({ value: 0.5 })
    expect(engagementFactor(undefined, baseline, config)).toEqual({ value: 0 })
  })
})

describe("freshness", () => {
  const config = Schema.decodeUnknownSync(ScoringConfig)({}).freshness
  it("decays from 1 at the peak to 0.5 after one half-life", () => {
    expect(freshness(0, 48)).toBe(1)
    expect(freshness(48, 48)).toBeCloseTo(0.5, 12)
    expect(freshness(-5, 48)).toBe(1)
    expect(freshness(200, 48)).toBeLessThan(0.1)
  })

  it("counts hours since the topic's highest rate, itself included", () => {
    const s = signal({ capturedAt: iso(T0 + 30 * HOUR), tags: ["plants"] })
    const earlier = { value: 500, at: T0, id: "a" }
    expect(freshnessFactor(s, 100, [undefined, earlier], config).hoursSincePeak).toBe(30)
    // At its highest so far, the signal is its own peak.
    expect(freshnessFactor(s, 900, [earlier], config)).toEqual({ value: 1, hoursSincePeak: 0 })
    expect(topicsOf(s, config)).toEqual(["reddit/plant mom energy", "reddit/plants"])
  })

  it("an item published long ago is not fresh, even at its topic's peak", () => {
    const young = signal({ capturedAt: iso(T0 + 30 * HOUR), metadata: { publishedAt: iso(T0 + 29 * HOUR) } })
    const old = signal({ capturedAt: iso(T0 + 30 * HOUR), metadata: { publishedAt: iso(T0 - 66 * HOUR) } })
    expect(freshnessFactor(young, 900, [], config)).toEqual({ value: freshness(1, 48), hoursSincePeak: 0, hoursSincePublished: 1 })
    expect(freshnessFactor(old, 900, [], config)).toEqual({ value: freshness(96, 48), hoursSincePeak: 0, hoursSincePublished: 96 })
    // The topic's peak still counts when it is the older of the two.
    const earlier = { value: 5_000, at: T0 - 10 * HOUR, id: "a" }
    expect(freshnessFactor(young, 900, [earlier], config).value).toBe(freshness(40, 48))
  })

  it("a calendar signal peaks on its date: fresh before, fading after", () => {
    const before = signal({ capturedAt: iso(T0), eventDate: iso(T0 + 10 * DAY) })
    const after = signal({ capturedAt: iso(T0 + 12 * DAY), eventDate: iso(T0 + 10 * DAY) })
    expect(freshnessFactor(before, undefined, [], config).value).toBe(1)
    expect(freshnessFactor(after, undefined, [], config).hoursSincePeak).toBe(48)
  })
})

describe("novelty", () => {
  const config = Schema.decodeUnknownSync(ScoringConfig)({}).novelty
  it("weights older days of a centroid down by the event-time half-life", () => {
    const cells: ReadonlyArray<Cell> = [
      { family: "centroid", bucket: T0 / DAY - 6, key: "c" },
      { family: "centroid", bucket: T0 / DAY - 1, key: "c" }
    ]
    const c = centroid(T0, cells, [{ n: 1, vector: [65_536, 0] }, { n: 1, vector: [0, 65_536] }], config)!
    // Five days apart, half-life three days: 2^(-5/3) of the newer day's weight.
    expect(c[0]! / c[1]!).toBeCloseTo(Math.pow(2, -5 / 3), 12)
    expect(centroid(T0, cells, [undefined, undefined], config)).toBeUndefined()
  })

  it("is the smaller of distance to the centroid and to the nearest idea, in 0..1", () => {
    const e = hashEmbedding("plant mom energy", 384)
    expect(noveltyFactor(e, undefined, undefined).value).toBe(1)
    expect(noveltyFactor(e, e, undefined).value).toBeCloseTo(0, 6)
    expect(noveltyFactor(e, undefined, 0.95).value).toBeCloseTo(0.05, 12)
    expect(noveltyFactor(e, e.map((x) => -x), 0.2).value).toBeCloseTo(0.8, 12)
    expect(cosine(quantize(e), e)).toBeGreaterThan(0.99999)
  })
})

describe("community fit", () => {
  const niches = [Schema.decodeUnknownSync(NicheProfile)({ name: "plant lovers", keywords: ["houseplants"], subreddits: ["r/Gardening"], hashtags: ["#plantmom"] })]
  const profiles = niches.map((n) => hashEmbedding(profileText(n), 384))
  const config = { niches, saturation: 0.5 }
  it("is 1 for a signal from one of the niche's communities", () => {
    const s = signal({ category: "gardening", content: "Tomatoes" })
    expect(communityFitFactor(s, hashEmbedding(s.content, 384), profiles, membersOf(niches), config).value).toBe(1)
  })

  it("otherwise maps the best cosine to a profile linearly up to the saturation", () => {
    const close = signal({ content: "houseplants for the plant lovers" })
    const far = signal({ content: "Quarterly tax filing deadline" })
    const fit = (s: Signal) => communityFitFactor(s, hashEmbedding(s.content, 384), profiles, membersOf(niches), config)
    expect(fit(close).value).toBeGreaterThan(fit(far).value)
    expect(fit(close).value).toBeCloseTo(Math.min(1, Math.max(0, fit(close).nicheSimilarity! / 0.5)), 12)
    expect(communityFitFactor(close, hashEmbedding("x", 384), [], new Set(), config)).toEqual({ value: 0 })
  })
})

describe("seasonality", () => {
  const season = makeSeasonality(Schema.decodeUnknownSync(SeasonalityConfig)({}))
  const thanksgiving = Date.parse("2017-11-23T00:00:00Z")
  it("is 1 within a week of a holiday the signal mentions, then falls off exponentially", () => {
    expect(season(signal({ content: "Thanksgiving turkey hacks", capturedAt: iso(thanksgiving - 5 * DAY) }))).toEqual({ value: 1, days: 5 })
    const early = season(signal({ content: "My thanksgiving plans", capturedAt: iso(thanksgiving - 37 * DAY) }))
    expect(early.value).toBeCloseTo(Math.exp(-30 / 30), 12)
    expect(season(signal({ content: "Valentines gift ideas", capturedAt: iso(Date.parse("2018-02-10T00:00:00Z")) })).value).toBe(1)
  })

  it("is 0 without a mention, unless every holiday counts", () => {
    const s = signal({ content: "A random video", capturedAt: iso(thanksgiving - 2 * DAY) })
    expect(season(s)).toEqual({ value: 0 })
    expect(makeSeasonality(Schema.decodeUnknownSync(SeasonalityConfig)({ mentionedOnly: false }))(s).value).toBe(1)
  })

  it("uses a calendar signal's own date", () => {
    const s = signal({ source: "occasions", content: "Teachers x Summer", capturedAt: iso(T0), eventDate: iso(T0 + 45 * DAY) })
    expect(season(s)).toEqual({ value: Math.exp(-38 / 30), days: 45 })
  })
})

describe("the event-time window", () => {
  it("covers only whole days that ended the allowed lateness before the signal", () => {
    const w = closedWindow(T0 + 1 * HOUR, 2 * HOUR)
    expect(w.horizon).toBe(T0 - DAY)
    expect(w.buckets(3)).toEqual([T0 / DAY - 4, T0 / DAY - 3, T0 / DAY - 2])
    expect(closedWindow(T0 + 3 * HOUR, 2 * HOUR).horizon).toBe(T0)
  })
})

// ---------------------------------------------------------------------------------------
// Shared state, both backends

let server: RedisServer
beforeAll(async () => {
  server = await startRedis()
}, 30_000)
afterAll(async () => {
  await server?.stop()
})

const backends = [
  { name: "memory", layer: (t: string) => layerMemory(t) },
  { name: "redis", layer: (t: string) => layerRedis({ url: Redacted.make(server.url), topology: t }) }
] as const

const withState = <A>(layer: Layer.Layer<ScoringState>, body: (s: ScoringStateShape) => Effect.Effect<A, unknown>) =>
  Effect.runPromise(Effect.scoped(Effect.flatMap(ScoringState, body)).pipe(Effect.provide(layer)) as Effect.Effect<A, unknown>)

const day = (n: number) => T0 / DAY + n
const cell = (family: string, bucket: number, key: string): Cell => ({ family, bucket, key })

/** A small mixed workload, one signal's writes per entry: samples, maxima and sums over two days. */
const contributions: ReadonlyArray<ReadonlyArray<Write>> = Array.from({ length: 12 }, (_, i) => [
  { _tag: "Sample", cell: cell("eng", day(i % 2), "reddit"), id: `id-${i}`, value: i * 1.5, keep: 5 },
  { _tag: "Max", cell: cell("peak", day(i % 2), `topic-${i % 3}`), id: `id-${i}`, value: i % 4, at: T0 + i * 1000 },
  { _tag: "Sum", cell: cell("centroid", day(i % 2), "plants"), id: `id-${i}`, vector: [i, -i, 3] }
])

const readAll = (s: ScoringStateShape) =>
  s.read(
    T0 + 2 * DAY,
    {
      samples: [{ cells: [cell("eng", day(0), "reddit"), cell("eng", day(1), "reddit")], keep: 5 }],
      maxes: [[0, 1].flatMap((d) => [0, 1, 2].map((t) => cell("peak", day(d), `topic-${t}`)))],
      sums: [cell("centroid", day(0), "plants"), cell("centroid", day(1), "plants"), cell("centroid", day(5), "plants")]
    },
    "reader"
  )

describe.each(backends)("scoring state ($name)", (backend) => {
  it("holds the same content whatever the order and however often writes come", async () => {
    const reference = await withState(backend.layer(uniqueName("st")), (s) => Effect.zipRight(s.write(contributions.flat(), DAY), readAll(s)))
    // The bottom-k of the union: the 5 members of lowest rank over both days, whichever day holds them.
    const byRank = contributions.flat().flatMap((w) => (w._tag === "Sample" ? [w] : [])).sort((a, b) => sampleRank(a.id) - sampleRank(b.id))
    expect(reference.samples[0]).toEqual(byRank.slice(0, 5).map((w) => w.value))
    expect(reference.sums[0]).toEqual({ n: 6, vector: [30, -30, 18] })
    expect(reference.sums[2]).toBeUndefined()
    await fc.assert(
      fc.asyncProperty(fc.shuffledSubarray([...contributions, ...contributions.slice(0, 4)], { minLength: 16, maxLength: 16 }), fc.integer({ min: 1, max: 5 }), async (order, chunk) => {
        const result = await withState(backend.layer(uniqueName("st")), (s) =>
          Effect.gen(function* () {
            for (let i = 0; i < order.length; i += chunk) yield* s.write(order.slice(i, i + chunk).flat(), DAY)
            return yield* readAll(s)
          })
        )
        expect(result).toEqual(reference)
      }),
      { numRuns: backend.name === "redis" ? 10 : 40 }
    )
  })

  it("keeps vector sums exact integers, in any cell key (\"seen\" included)", async () => {
    // 2^50 + 1 is exact as a double and as an integer reply; printed with 14 digits it would not be.
    const big = 2 ** 50 + 1
    const result = await withState(backend.layer(uniqueName("st")), (s) =>
      Effect.gen(function* () {
        yield* s.write(
          [
            { _tag: "Sum", cell: cell("centroid", day(0), "seen"), id: "a", vector: [big, 0, -3, 0] },
            { _tag: "Sum", cell: cell("centroid", day(0), "seen"), id: "b", vector: [1, 0, 0, 7] },
            { _tag: "Sum", cell: cell("centroid", day(0), "plants"), id: "a", vector: [0, 2, 0, 0] }
          ],
          DAY
        )
        yield* s.write([{ _tag: "Sum", cell: cell("centroid", day(0), "seen"), id: "c", vector: [-big, 0, 0, 1] }], DAY)
        return yield* s.read(T0 + DAY, { samples: [], maxes: [], sums: [cell("centroid", day(0), "seen"), cell("centroid", day(0), "plants")] }, "r")
      })
    )
    expect(result.sums).toEqual([
      { n: 3, vector: [1, 0, -3, 8] },
      { n: 1, vector: [0, 2, 0, 0] }
    ])
  })

  it("reads 9,000 maxima of one day in one call (past Lua's unpack limit of ~8,000 values)", async () => {
    const topics = Array.from({ length: 9_000 }, (_, t) => cell("peak", day(0), `topic-${t}`))
    const result = await withState(backend.layer(uniqueName("st")), (s) =>
      Effect.gen(function* () {
        // Every third topic has a peak; the others read as absent.
        yield* s.write(topics.flatMap((c, t) => (t % 3 === 0 ? [{ _tag: "Max" as const, cell: c, id: `s${t}`, value: t, at: T0 }] : [])), DAY)
        return yield* s.read(T0 + DAY, { samples: [], maxes: [topics], sums: [] }, "r")
      })
    )
    expect(result.maxes[0]).toEqual(topics.map((_, t) => (t % 3 === 0 ? { value: t, at: T0, id: `s${t}` } : undefined)))
  })

  it("resolves tied maxima by the later event time, then the smaller id", async () => {
    const result = await withState(backend.layer(uniqueName("st")), (s) =>
      Effect.gen(function* () {
        yield* s.write(
          [
            { _tag: "Max", cell: cell("peak", day(0), "t"), id: "b", value: 5, at: T0 },
            { _tag: "Max", cell: cell("peak", day(0), "t"), id: "a", value: 5, at: T0 },
            { _tag: "Max", cell: cell("peak", day(0), "u"), id: "c", value: 5, at: T0 + 1 },
            { _tag: "Max", cell: cell("peak", day(0), "u"), id: "d", value: 5, at: T0 }
          ],
          DAY
        )
        return yield* s.read(T0 + DAY, { samples: [], maxes: [[cell("peak", day(0), "t"), cell("peak", day(0), "u"), cell("peak", day(0), "v")]], sums: [] }, "r")
      })
    )
    expect(result.maxes[0]).toEqual([{ value: 5, at: T0, id: "a" }, { value: 5, at: T0 + 1, id: "c" }, undefined])
  })

  it("tells a writer which of its event times another reader has read past", async () => {
    const result = await withState(backend.layer(uniqueName("st")), (s) =>
      Effect.gen(function* () {
        const none = { samples: [], maxes: [], sums: [] }
        const before = yield* s.missedBy("a", [T0])
        yield* s.read(T0 + DAY, none, "a")
        yield* s.read(T0 + 2 * DAY, none, "a")
        yield* s.read(T0, none, "b")
        return {
          before,
          byA: yield* s.missedBy("b", [T0 - 1, T0 + DAY, T0 + 2 * DAY - 1, T0 + 2 * DAY]),
          byB: yield* s.missedBy("a", [T0 - 1, T0])
        }
      })
    )
    expect(result.before).toEqual([false])
    expect(result.byA).toEqual([true, true, true, false])
    expect(result.byB).toEqual([true, false])
  })
})

it("memory state expires buckets on the Effect clock (driven, not slept)", async () => {
  const result = await Effect.runPromise(
    Effect.gen(function* () {
      const s = makeMemory(makeKeys(uniqueName("st")))
      const read = s.read(T0, { samples: [], maxes: [], sums: [cell("centroid", day(0), "plants")] }, "r")
      yield* s.write(contributions[0]!, 10 * DAY)
      yield* TestClock.adjust("9 days")
      const kept = (yield* read).sums[0]
      yield* TestClock.adjust("2 days")
      return { kept, gone: (yield* read).sums[0] }
    }).pipe(Effect.provide(TestContext.TestContext))
  )
  expect(result.kept?.n).toBe(1)
  expect(result.gone).toBeUndefined()
})

// ---------------------------------------------------------------------------------------
// The scorer: order- and batch-independent

const config = Schema.decodeUnknownSync(ScoringConfig)({
  allowedLateness: "6 hours",
  engagement: { minSamples: 5 },
  communityFit: { niches: [{ name: "runners", keywords: ["marathon", "trail"] }] }
})

const WORDS = ("apple bridge candle dragon engine falcon garden harbor island jungle kettle ladder meadow needle orange " +
  "pepper quartz river saddle tunnel umbrella violin walnut yellow zipper anchor basket cactus donkey eagle feather glacier " +
  "hammer igloo jacket koala lemon magnet nickel olive parrot quiver rocket salmon turtle unicorn velvet wizard yogurt zebra " +
  "acorn bamboo cobalt dagger ember fossil goblet hazel").split(" ")

/** Signals over six days, several per day and source, with engagement; signal 37 re-posts signal 24. */
const inputs: ReadonlyArray<ScoringInput> = Array.from({ length: 60 }, (_, i) => {
  const at = T0 + Math.floor(i / 10) * DAY + (i % 10) * HOUR
  const text = (n: number) => `${["marathon", "plants", "coffee"][n % 3]} ${WORDS[n]} ${WORDS[(n * 7) % 60]} ${WORDS[(n * 13) % 60]}`
  return {
    id: `signal-${i}`,
    ideaId: `00000000-0000-5000-8000-${String(i).padStart(12, "0")}`,
    signal: signal({
      sourceId: `s${i}`,
      source: i % 3 === 0 ? "youtube" : "reddit",
      content: text(i === 37 ? 24 : i),
      capturedAt: iso(at),
      engagement: { score: (i * 37) % 101, comments: i % 7 },
      tags: [["runners", "plants", "coffee"][i % 3]!],
      category: ["runners", "plants", "coffee"][i % 3]!
    })
  }
})

const runScorer = (batches: ReadonlyArray<ReadonlyArray<ScoringInput>>, state: Layer.Layer<ScoringState> = layerMemory(uniqueName("sc"))) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const scorer = makeScorer(config)
      const ideas = makeIndex()
      const out: Array<ScoredSignal & { readonly late: boolean }> = []
      for (const b of batches) {
        const batch = yield* scorer.score(b).pipe(Effect.provideService(VectorIndex, ideas))
        yield* ideas.add(batch.signals.filter((s) => !s.mergeInto).map((s) => ({ ideaId: s.ideaId, at: s.at, embedding: s.embedding })))
        const late = yield* scorer.late(batch)
        out.push(...batch.signals.map((s, i) => ({ ...s, late: late[i]! })))
      }
      return out.sort((a, b) => (a.id < b.id ? -1 : 1))
    }).pipe(Effect.provide(Layer.merge(state, layerHashing(384))))
  )

const chunks = <A>(xs: ReadonlyArray<A>, n: number) => Array.from({ length: Math.ceil(xs.length / n) }, (_, i) => xs.slice(i * n, i * n + n))

describe("scorer", () => {
  it("gives every signal the same result whatever the batch size and the order within the allowed lateness", async () => {
    const reference = await runScorer(chunks(inputs, 60))
    expect(reference.some((s) => s.details["engagementZ"] !== undefined)).toBe(true)
    expect(reference.some((s) => s.details["centroidSimilarity"] !== undefined)).toBe(true)
    expect(reference.filter((s) => s.mergeInto !== undefined).map((s) => s.id)).toEqual(["signal-37"])
    expect(reference.every((s) => !s.late)).toBe(true)
    // Batches of 7, and each day's signals shuffled (disorder well inside 6 hours of lateness).
    const shuffled = chunks(inputs, 10).flatMap((d, n) => [...d].sort((a, b) => ((a.id.charCodeAt(8) + n) % 3) - ((b.id.charCodeAt(8) + n) % 3)))
    expect(await runScorer(chunks(shuffled, 7))).toEqual(reference)
    expect(await runScorer(chunks(inputs, 1))).toEqual(reference)
  })

  it("writes what its own batch reads before reading, even when the state's writes are slow (a batch spanning midnight)", async () => {
    const reference = await runScorer(chunks(inputs, 60))
    // Writes that land 20 ms after they are sent: a read issued meanwhile would not see them.
    const slowWrites = Layer.effect(
      ScoringState,
      Effect.map(Effect.provide(ScoringState, layerMemory(uniqueName("sc"))), (inner) => ({
        ...inner,
        write: (writes, retainMs) => Effect.zipRight(Effect.sleep("20 millis"), inner.write(writes, retainMs))
      }))
    )
    expect(await runScorer(chunks(inputs, 60), slowWrites)).toEqual(reference)
  })

  it("lets its state writes finish when a read fails: a failed batch leaves nothing in flight", async () => {
    let sent = 0
    let landed = 0
    const failingReads = Layer.effect(
      ScoringState,
      Effect.map(Effect.provide(ScoringState, layerMemory(uniqueName("sc"))), (inner) => ({
        ...inner,
        write: (writes: ReadonlyArray<Write>, retainMs: number) => {
          sent++
          return Effect.zipRight(Effect.sleep("20 millis"), Effect.tap(inner.write(writes, retainMs), () => Effect.sync(() => landed++)))
        },
        read: () => Effect.fail(new RetryableError({ message: "scoring state read: connection closed" }))
      }))
    )
    const result = await Effect.runPromise(
      Effect.either(makeScorer(config).score(inputs.slice(0, 20))).pipe(Effect.provideService(VectorIndex, makeIndex()), Effect.provide(Layer.merge(failingReads, layerHashing(384))))
    )
    expect(Either.isLeft(result) && result.left.message).toBe("scoring state read: connection closed")
    expect(sent).toBeGreaterThan(0)
    expect(landed).toBe(sent)
  })

  it("is a reader before it searches for neighbours, however slow the state's reads", async () => {
    // Whether another batch, adding an idea now, would learn that this one read past it.
    const registeredAtSearch: Array<boolean> = []
    const result = await Effect.runPromise(
      Effect.gen(function* () {
        const inner = yield* Effect.provide(ScoringState, layerMemory(uniqueName("sc")))
        const slowReads = { ...inner, read: (...args: Parameters<typeof inner.read>) => Effect.zipRight(Effect.sleep("20 millis"), inner.read(...args)) }
        const ideas = makeIndex()
        const probing = {
          ...ideas,
          nearest: (searches: Parameters<typeof ideas.nearest>[0]) =>
            Effect.zipRight(Effect.tap(inner.missedBy("another batch", [T0]), ([missed]) => Effect.sync(() => registeredAtSearch.push(missed!))), ideas.nearest(searches))
        }
        return yield* makeScorer(config).score(inputs.slice(30, 40)).pipe(Effect.provideService(VectorIndex, probing), Effect.provideService(ScoringState, slowReads))
      }).pipe(Effect.provide(layerHashing(384)))
    )
    expect(result.signals).toHaveLength(10)
    expect(registeredAtSearch).toEqual([true])
  })

  it("flags input that arrives after the scorer read past it", async () => {
    const lateOne = inputs[5]!
    const rest = inputs.filter((i) => i !== lateOne)
    const result = await runScorer([...chunks(rest, 10), [lateOne]])
    expect(result.find((s) => s.id === lateOne.id)!.late).toBe(true)
    expect(result.filter((s) => s.late)).toHaveLength(1)
  })

  it("embeds niche profiles once, on the first batch", async () => {
    let calls = 0
    const counting = Layer.succeed(Embedder, {
      model: "count",
      dimensions: 384,
      embed: (texts) => Effect.sync(() => (calls++, texts.map((t) => hashEmbedding(t, 384))))
    })
    await Effect.runPromise(
      Effect.gen(function* () {
        const scorer = makeScorer(config)
        for (const b of chunks(inputs, 20)) yield* scorer.score(b)
      }).pipe(Effect.provideService(VectorIndex, makeIndex()), Effect.provide(Layer.merge(layerMemory(uniqueName("sc")), counting)))
    )
    expect(calls).toBe(1 + 3)
  })
})
