/**
 * The transport conformance suite: the same cases against the embedded transport and a
 * real redis-server. Part one drives the transport directly; part two runs topologies
 * through the worker loop (retries, dead letters, backpressure, graceful stop).
 */
import { Effect, Fiber, Layer, Ref, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { drop, listDeadLetters, requeue } from "../runtime/dlq.ts"
import { makeEnvelopeCodec } from "../runtime/envelope.ts"
import { PermanentError, RetryableError } from "../runtime/errors.ts"
import { makeKeys } from "../runtime/keys.ts"
import { Metrics } from "../runtime/metrics.ts"
import { flatMap, map, type OperatorNode, output, sink, source, stream, type StreamDef, topology } from "../runtime/topology.ts"
import { Transport } from "../runtime/transport.ts"
import { feeder, runTest, startWorker, transportCases, uniqueName, waitUntil } from "./support/harness.ts"

const fields = (i: number) => ({ n: String(i) })

describe.each(transportCases)("transport conformance: $name", (tc) => {
  const run = <A, E>(body: Effect.Effect<A, E, any>) => runTest(tc, body)

  it("delivers every entry to every group, in order", () =>
    run(
      Effect.gen(function* () {
        const t = yield* Transport
        const s = makeKeys(uniqueName()).stream("in")
        yield* t.ensureGroup(s, "g1")
        yield* t.ensureGroup(s, "g2")
        yield* t.ensureGroup(s, "g1") // an existing group is left alone
        const ids = yield* t.append({ stream: s, entries: Array.from({ length: 250 }, (_, i) => fields(i)) })
        for (const group of ["g1", "g2"]) {
          const got: Array<string> = []
          while (true) {
            const { deliveries } = yield* t.exchange({ read: { stream: s, group, consumer: "c", count: 64, blockMs: 0 } })
            if (deliveries.length === 0) break
            got.push(...deliveries.map((d) => d.id))
            expect(deliveries.every((d) => d.deliveries === 1)).toBe(true)
          }
          expect(got).toEqual(ids)
        }
      })
    ))

  it("acks an input exactly when its outputs exist (atomic commit)", () =>
    run(
      Effect.gen(function* () {
        const t = yield* Transport
        const keys = makeKeys(uniqueName())
        const input = keys.stream("in")
        const output = keys.stream("out")
        yield* t.ensureGroup(input, "g")
        yield* t.append({ stream: input, entries: Array.from({ length: 60 }, (_, i) => fields(i)) })
        const { deliveries } = yield* t.exchange({ read: { stream: input, group: "g", consumer: "c", count: 60, blockMs: 0 } })
        expect(deliveries).toHaveLength(60)
        const violations = yield* Ref.make(0)
        const observations = yield* Ref.make(0)
        const done = yield* Ref.make(false)
        // Every observation from another connection must see pending + outputs == inputs.
        const watch = Effect.gen(function* () {
          while (!(yield* Ref.get(done))) {
            const [pending, length] = yield* tc.pendingAndLength(input, "g", output)
            if (pending + length !== 60) yield* Ref.update(violations, (n) => n + 1)
            yield* Ref.update(observations, (n) => n + 1)
            yield* Effect.yieldNow()
          }
        })
        const fiber = yield* Effect.fork(watch)
        for (const d of deliveries) {
          yield* t.commit({ appends: [{ stream: output, entries: [{ from: d.id }] }], acks: [{ stream: input, group: "g", ids: [d.id] }] })
          yield* Effect.yieldNow()
        }
        yield* Ref.set(done, true)
        yield* fiber.await
        expect(yield* Ref.get(violations)).toBe(0)
        expect(yield* Ref.get(observations)).toBeGreaterThan(0)
        expect((yield* t.info(output)).length).toBe(60)
        expect((yield* t.info(input)).groups[0]!.pending).toBe(0)
      })
    ))

  it("redelivers unacked entries to another consumer after the idle time, counting deliveries", () =>
    run(
      Effect.gen(function* () {
        const t = yield* Transport
        const s = makeKeys(uniqueName()).stream("in")
        yield* t.ensureGroup(s, "g")
        yield* t.append({ stream: s, entries: Array.from({ length: 10 }, (_, i) => fields(i)) })
        const first = yield* t.exchange({ read: { stream: s, group: "g", consumer: "dies", count: 10, blockMs: 0 } })
        expect(first.deliveries).toHaveLength(10)
        // Not idle long enough yet: nothing to take over.
        expect(yield* t.autoClaim(s, "g", "survivor", 300, 100)).toHaveLength(0)
        yield* Effect.sleep("350 millis")
        const taken = yield* t.autoClaim(s, "g", "survivor", 300, 100)
        expect(taken.map((d) => d.id)).toEqual(first.deliveries.map((d) => d.id))
        expect(taken.every((d) => d.deliveries === 2)).toBe(true)
        expect(taken[0]!.fields).toEqual(fields(0))
        // An explicit claim (a retry after backoff) counts another delivery.
        const again = yield* t.claim(s, "g", "survivor", [taken[0]!.id])
        expect(again.map((d) => d.deliveries)).toEqual([3])
        // After a restart under the same name, the consumer re-reads its own pending entries.
        const own = yield* t.readPending(s, "g", "survivor", 100)
        expect(own).toHaveLength(10)
        expect(own[0]!.deliveries).toBe(4)
        const info = yield* t.info(s)
        const consumers = Object.fromEntries(info.groups[0]!.consumers.map((c) => [c.name, c.pending]))
        expect(consumers).toEqual({ dies: 0, survivor: 10 })
        yield* t.commit({ appends: [], acks: [{ stream: s, group: "g", ids: own.map((d) => d.id) }] })
        expect((yield* t.info(s)).groups[0]!.pending).toBe(0)
        expect(yield* t.pruneConsumers(s, "g", 0)).toBe(2)
      })
    ))

  it("drops pending entries whose stream entry was deleted when claiming", () =>
    run(
      Effect.gen(function* () {
        const t = yield* Transport
        const s = makeKeys(uniqueName()).stream("in")
        yield* t.ensureGroup(s, "g")
        const ids = yield* t.append({ stream: s, entries: Array.from({ length: 5 }, (_, i) => fields(i)) })
        yield* t.exchange({ read: { stream: s, group: "g", consumer: "a", count: 5, blockMs: 0 } })
        expect(yield* t.remove(s, [ids[1]!, ids[3]!])).toBe(2)
        yield* Effect.sleep("60 millis")
        const taken = yield* t.autoClaim(s, "g", "b", 50, 10)
        expect(taken.map((d) => d.id)).toEqual([ids[0], ids[2], ids[4]])
        expect((yield* t.info(s)).groups[0]!.pending).toBe(3)
      })
    ))

  it("measures backlog as lag plus pending of the slowest named group", () =>
    run(
      Effect.gen(function* () {
        const t = yield* Transport
        const s = makeKeys(uniqueName()).stream("in")
        yield* t.ensureGroup(s, "fast")
        yield* t.ensureGroup(s, "slow")
        yield* t.append({ stream: s, entries: Array.from({ length: 100 }, (_, i) => fields(i)) })
        const { deliveries } = yield* t.exchange({ read: { stream: s, group: "fast", consumer: "c", count: 30, blockMs: 0 } })
        yield* t.commit({ appends: [], acks: [{ stream: s, group: "fast", ids: deliveries.slice(0, 10).map((d) => d.id) }] })
        expect(yield* t.backlog([{ stream: s, groups: ["fast"] }])).toBe(90)
        expect(yield* t.backlog([{ stream: s, groups: ["fast", "slow"] }])).toBe(100)
        expect(yield* t.backlog([{ stream: s, groups: ["not-yet-created"] }])).toBe(100)
        expect(yield* t.backlog([{ stream: makeKeys(uniqueName()).stream("none"), groups: ["g"] }])).toBe(0)
        // The exchange reports the same figure, measured after its commit.
        const x = yield* t.exchange({
          commit: { appends: [], acks: [{ stream: s, group: "fast", ids: deliveries.slice(10).map((d) => d.id) }] },
          backlog: [{ stream: s, groups: ["fast"] }]
        })
        expect(x.backlog).toBe(70)
      })
    ))

  it("trims only what every group has read and acknowledged", () =>
    run(
      Effect.gen(function* () {
        const t = yield* Transport
        const s = makeKeys(uniqueName()).stream("in")
        yield* t.ensureGroup(s, "g")
        yield* t.append({ stream: s, entries: Array.from({ length: 100 }, (_, i) => fields(i)) })
        const { deliveries } = yield* t.exchange({ read: { stream: s, group: "g", consumer: "c", count: 60, blockMs: 0 } })
        yield* t.commit({ appends: [], acks: [{ stream: s, group: "g", ids: deliveries.slice(0, 50).map((d) => d.id) }] })
        // 10 delivered but pending, 40 never read: nothing from the 51st on may go.
        expect(yield* t.trim(s, 10)).toBe(50)
        const info = yield* t.info(s)
        expect(info.length).toBe(50)
        expect(info.firstId).toBe(deliveries[50]!.id)
        const rest = yield* t.exchange({ read: { stream: s, group: "g", consumer: "c", count: 100, blockMs: 0 } })
        yield* t.commit({ appends: [], acks: [{ stream: s, group: "g", ids: [...deliveries.slice(50), ...rest.deliveries].map((d) => d.id) }] })
        expect(yield* t.trim(s, 10)).toBe(40)
        expect((yield* t.info(s)).length).toBe(10)
        expect(yield* t.trim(s, 10)).toBe(0)
      })
    ))

  it("claims a retry back only while the consumer still owns the entry; a hold keeps the delivery count", () =>
    run(
      Effect.gen(function* () {
        const t = yield* Transport
        const s = makeKeys(uniqueName()).stream("in")
        yield* t.ensureGroup(s, "g")
        yield* t.append({ stream: s, entries: Array.from({ length: 3 }, (_, i) => fields(i)) })
        const { deliveries } = yield* t.exchange({ read: { stream: s, group: "g", consumer: "a", count: 3, blockMs: 0 } })
        const ids = deliveries.map((d) => d.id)
        // b's retry list names a's entries (a took them over meanwhile): b must not take them.
        expect(yield* t.claim(s, "g", "b", ids)).toEqual([])
        const held = yield* t.claim(s, "g", "a", ids, "hold")
        expect(held.map((d) => [d.id, d.deliveries])).toEqual(ids.map((id) => [id, 1]))
        const retried = yield* t.claim(s, "g", "a", [ids[0]!])
        expect(retried.map((d) => d.deliveries)).toEqual([2])
        const info = yield* t.info(s)
        expect(Object.fromEntries(info.groups[0]!.consumers.map((c) => [c.name, c.pending]))).toMatchObject({ a: 3 })
      })
    ))

  it("re-reads its own pending entries after a restart when some were deleted from the stream", () =>
    run(
      Effect.gen(function* () {
        const t = yield* Transport
        const s = makeKeys(uniqueName()).stream("in")
        yield* t.ensureGroup(s, "g")
        const ids = yield* t.append({ stream: s, entries: Array.from({ length: 5 }, (_, i) => fields(i)) })
        yield* t.exchange({ read: { stream: s, group: "g", consumer: "a", count: 5, blockMs: 0 } })
        yield* t.remove(s, [ids[2]!])
        const own = yield* t.readPending(s, "g", "a", 100)
        expect(own.map((d) => d.id)).toEqual([ids[0], ids[1], ids[3], ids[4]])
        // The deleted one can never be processed: it no longer counts as pending.
        expect((yield* t.info(s)).groups[0]!.pending).toBe(4)
      })
    ))

  it("counts the backlog from the last-delivered entry when Redis cannot tell a group's lag", () =>
    run(
      Effect.gen(function* () {
        const t = yield* Transport
        const s = makeKeys(uniqueName()).stream("in")
        yield* t.ensureGroup(s, "g")
        const ids = yield* t.append({ stream: s, entries: Array.from({ length: 300 }, (_, i) => fields(i)) })
        const { deliveries } = yield* t.exchange({ read: { stream: s, group: "g", consumer: "c", count: 290, blockMs: 0 } })
        yield* t.commit({ appends: [], acks: [{ stream: s, group: "g", ids: deliveries.map((d) => d.id) }] })
        // An XDEL inside the unread range: Redis 7 answers a nil lag from then on.
        yield* t.remove(s, [ids[295]!])
        expect(yield* t.backlog([{ stream: s, groups: ["g"] }])).toBe(9)
        const x = yield* t.exchange({ backlog: [{ stream: s, groups: ["g"] }] })
        expect(x.backlog).toBe(9)
      })
    ))

  it("keeps what a round trip read when its commit is refused, and reports a commit applied when the read fails", () =>
    run(
      Effect.gen(function* () {
        const t = yield* Transport
        const keys = makeKeys(uniqueName())
        const s = keys.stream("in")
        const out = keys.stream("out")
        yield* t.ensureGroup(s, "g")
        yield* t.append({ stream: s, entries: Array.from({ length: 4 }, (_, i) => fields(i)) })
        const refused = yield* tc.refusedCommit(keys.stream("not-a-stream"))
        const first = yield* t.exchange({ commit: refused, read: { stream: s, group: "g", consumer: "c", count: 4, blockMs: 0 } })
        expect(first.commitError).toBeDefined()
        expect(first.deliveries).toHaveLength(4)
        // The commit applies; the read (from a group that does not exist) fails on its own.
        const second = yield* t.exchange({
          commit: { appends: [{ stream: out, entries: [{ n: "x" }] }], acks: [{ stream: s, group: "g", ids: first.deliveries.map((d) => d.id) }] },
          read: { stream: s, group: "no-such-group", consumer: "c", count: 4, blockMs: 0 }
        })
        expect(second.commitError).toBeUndefined()
        expect(second.readError?.message).toMatch(/NOGROUP/)
        expect((yield* t.info(out)).length).toBe(1)
        expect((yield* t.info(s)).groups[0]!.pending).toBe(0)
      })
    ))

  it("prunes only consumers that hold nothing, even while they read", () =>
    run(
      Effect.gen(function* () {
        const t = yield* Transport
        const reader = yield* tc.second
        const s = makeKeys(uniqueName()).stream("in")
        yield* t.ensureGroup(s, "g")
        yield* t.append({ stream: s, entries: Array.from({ length: 400 }, (_, i) => fields(i)) })
        let done = false
        const prune = Effect.gen(function* () {
          while (!done) yield* t.pruneConsumers(s, "g", 0)
        })
        const pruner = yield* Effect.fork(Effect.all([prune, prune, prune], { concurrency: "unbounded" }))
        let lost = 0
        for (let i = 0; i < 400; i++) {
          const { deliveries } = yield* reader.exchange({ read: { stream: s, group: "g", consumer: "c", count: 1, blockMs: 0 } })
          const [pending] = yield* tc.pendingAndLength(s, "g", s)
          if (pending === 0) lost++ // the consumer was deleted with the entry it had just read
          yield* reader.commit({ appends: [], acks: [{ stream: s, group: "g", ids: deliveries.map((d) => d.id) }] })
        }
        done = true
        yield* Fiber.join(pruner)
        expect(lost).toBe(0)
      })
    ))

  it("trims by age too, and a stream without groups (a dead-letter stream) by length and age alone", () =>
    run(
      Effect.gen(function* () {
        const t = yield* Transport
        const s = makeKeys(uniqueName()).dlq("op")
        yield* t.append({ stream: s, entries: Array.from({ length: 30 }, (_, i) => fields(i)) })
        expect(yield* t.trim(s, 20)).toBe(10)
        expect((yield* t.info(s)).length).toBe(20)
        yield* Effect.sleep("20 millis")
        expect(yield* t.trim(s, 1_000, 10)).toBe(20)
        expect((yield* t.info(s)).length).toBe(0)
      })
    ))

  it("wakes a blocked read when an entry arrives", () =>
    run(
      Effect.gen(function* () {
        const t = yield* Transport
        const writer = yield* tc.second
        const s = makeKeys(uniqueName()).stream("in")
        yield* t.ensureGroup(s, "g")
        const started = Date.now()
        const reader = yield* Effect.fork(t.exchange({ read: { stream: s, group: "g", consumer: "c", count: 10, blockMs: 5_000 } }))
        yield* Effect.sleep("100 millis")
        yield* writer.append({ stream: s, entries: [fields(1)] })
        const { deliveries } = yield* reader.await.pipe(Effect.flatten)
        expect(deliveries).toHaveLength(1)
        expect(Date.now() - started).toBeLessThan(4_000)
      })
    ))
})

// ---------------------------------------------------------------------------------------
// The worker loop on both transports.

const Item = Schema.Struct({ n: Schema.Number, poison: Schema.optional(Schema.Boolean) })

describe.each(transportCases)("worker semantics: $name", (tc) => {
  const run = <A, E>(body: Effect.Effect<A, E, any>) => runTest(tc, body)

  const pipeline = (options: {
    work: (item: typeof Item.Type) => Effect.Effect<typeof Item.Type, unknown>
    settings?: Parameters<typeof map>[0]["settings"]
    sinkDelayMs?: number
    sinkSettings?: Parameters<typeof sink>[0]["settings"]
  }) => {
    const inS = stream("in", Item)
    const outS = stream("out", Item)
    const feed = feeder("feed", inS)
    const seen: Array<number> = []
    const t = topology({
      name: uniqueName(),
      nodes: [
        feed.node,
        map({
          name: "work",
          from: inS,
          to: outS,
          settings: { maxAttempts: 3, backoff: { initialMs: 20, maxMs: 80 }, claimIdleMs: 10_000, ...options.settings },
          run: options.work
        }),
        sink({
          name: "collect",
          from: outS,
          settings: options.sinkSettings,
          run: (item) =>
            Effect.sync(() => void seen.push(item.n)).pipe(Effect.delay(options.sinkDelayMs ?? 0))
        })
      ],
      services: Layer.empty
    })
    return { t, feed, seen }
  }

  it("dead-letters a poison entry after maxAttempts while the rest flows, and requeues it", () =>
    run(
      Effect.gen(function* () {
        let healed = false
        const { t, feed, seen } = pipeline({
          work: (item) =>
            Effect.sync(() => {
              if (item.poison && !healed) throw new Error(`cannot handle item ${item.n}`)
              return item
            })
        })
        const w = yield* startWorker(t)
        feed.push(...Array.from({ length: 100 }, (_, n) => ({ data: { n, poison: n === 42 } })))
        yield* waitUntil("99 items arrive", Effect.sync(() => seen.length === 99))
        yield* waitUntil(
          "the poison entry is dead-lettered",
          Effect.map(listDeadLetters(t, w.keys, "work"), (l) => l.length === 1)
        )
        const [letter] = yield* listDeadLetters(t, w.keys, "work")
        expect(letter!.error).toContain("cannot handle item 42")
        expect(letter!.attempts).toBe(3)
        expect(letter!.reason).toBe("max-attempts")
        expect(letter!.stream).toBe("in")
        expect(JSON.parse(letter!.fields["data"]!)).toEqual({ n: 42, poison: true })
        const m = yield* Metrics
        expect(m.retried.get({ operator: "work" })).toBe(2)
        expect(m.deadLettered.get({ operator: "work" })).toBe(1)
        expect(seen).not.toContain(42)

        healed = true
        expect(yield* requeue(t, w.keys, "work", { ids: [letter!.id] })).toBe(1)
        yield* waitUntil("the requeued entry arrives", Effect.sync(() => seen.includes(42)))
        expect(yield* listDeadLetters(t, w.keys, "work")).toHaveLength(0)
        expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, n) => n))
        yield* w.stop
      })
    ))

  it("dead-letters a permanent error at once, without retries", () =>
    run(
      Effect.gen(function* () {
        const { t, feed, seen } = pipeline({
          work: (item) => (item.poison ? Effect.fail(new PermanentError({ message: `item ${item.n} is invalid` })) : Effect.succeed(item))
        })
        const w = yield* startWorker(t)
        feed.push(...Array.from({ length: 20 }, (_, n) => ({ data: { n, poison: n === 7 } })))
        yield* waitUntil("19 items arrive", Effect.sync(() => seen.length === 19))
        yield* waitUntil("a dead letter", Effect.map(listDeadLetters(t, w.keys, "work"), (l) => l.length === 1))
        const [letter] = yield* listDeadLetters(t, w.keys, "work")
        expect(letter!.attempts).toBe(1)
        expect(letter!.reason).toBe("permanent")
        expect(letter!.error).toContain("item 7 is invalid")
        expect((yield* Metrics).retried.get({ operator: "work" })).toBe(0)
        expect(yield* drop(t, w.keys, "work", { all: true })).toBe(1)
        expect(yield* listDeadLetters(t, w.keys, "work")).toHaveLength(0)
        yield* w.stop
      })
    ))

  it("retries a transient failure and succeeds within the attempt budget", () =>
    run(
      Effect.gen(function* () {
        const failures = new Map<number, number>()
        const { t, feed, seen } = pipeline({
          work: (item) =>
            Effect.suspend(() => {
              const n = failures.get(item.n) ?? 0
              if (item.poison && n < 2) {
                failures.set(item.n, n + 1)
                return Effect.fail(new Error("flaky dependency"))
              }
              return Effect.succeed(item)
            })
        })
        const w = yield* startWorker(t)
        feed.push(...Array.from({ length: 10 }, (_, n) => ({ data: { n, poison: n % 3 === 0 } })))
        yield* waitUntil("all 10 arrive", Effect.sync(() => seen.length === 10))
        expect(yield* listDeadLetters(t, w.keys, "work")).toHaveLength(0)
        expect((yield* Metrics).retried.get({ operator: "work" })).toBe(8)
        yield* w.stop
      })
    ))

  it("honours a Retry-After longer than the claim idle time: the entry waits, kept, and no other replica takes it", () =>
    run(
      Effect.gen(function* () {
        const calls: Array<number> = []
        const { t, feed, seen } = pipeline({
          settings: { replicas: 2, claimIdleMs: 400, blockMs: 100 },
          work: (item) =>
            Effect.suspend(() => {
              calls.push(Date.now())
              return calls.length === 1 ? Effect.fail(new RetryableError({ message: "rate limited", cause: { retryAfterMs: 1_500 } })) : Effect.succeed(item)
            })
        })
        const w = yield* startWorker(t)
        feed.push({ data: { n: 1 } })
        yield* waitUntil("the item arrives", Effect.sync(() => seen.length === 1))
        yield* Effect.sleep("500 millis")
        expect(calls).toHaveLength(2)
        expect(calls[1]! - calls[0]!).toBeGreaterThanOrEqual(1_450)
        expect(yield* listDeadLetters(t, w.keys, "work")).toHaveLength(0)
        yield* w.stop
      })
    ))

  it("keeps a batch that takes longer than the claim idle time: no other replica processes it again", () =>
    run(
      Effect.gen(function* () {
        let calls = 0
        const { t, feed, seen } = pipeline({
          settings: { replicas: 2, claimIdleMs: 400, blockMs: 100 },
          work: (item) => Effect.as(Effect.sync(() => calls++).pipe(Effect.zipRight(Effect.sleep("1500 millis"))), item)
        })
        const w = yield* startWorker(t)
        feed.push({ data: { n: 1 } })
        yield* waitUntil("the item arrives", Effect.sync(() => seen.length === 1))
        yield* Effect.sleep("1 second")
        expect(calls).toBe(1)
        expect(seen).toEqual([1])
        yield* w.stop
      })
    ))

  it("dead-letters an entry that does not decode, naming the field", () =>
    run(
      Effect.gen(function* () {
        const { t, feed, seen } = pipeline({ work: Effect.succeed })
        const w = yield* startWorker(t)
        const transport = yield* Transport
        const codec = makeEnvelopeCodec("in", Item)
        const good = codec.encode({
          eventType: "in",
          eventId: "11111111-1111-4111-8111-111111111111",
          timestamp: new Date().toISOString(),
          source: "test",
          version: 1,
          correlationId: "c",
          data: { n: 1 }
        })
        yield* transport.append({
          stream: w.keys.stream("in"),
          entries: [{ ...good, data: JSON.stringify({ n: "one" }) }, { ...good, data: "{not json" }, { data: "{}" }]
        })
        feed.push({ data: { n: 2 } })
        yield* waitUntil("the good item arrives", Effect.sync(() => seen.includes(2)))
        yield* waitUntil("three dead letters", Effect.map(listDeadLetters(t, w.keys, "work"), (l) => l.length === 3))
        const letters = yield* listDeadLetters(t, w.keys, "work")
        expect(letters.every((l) => l.reason === "decode" && l.attempts === 1)).toBe(true)
        const errors = letters.map((l) => l.error).join("\n")
        expect(errors).toMatch(/\["n"\]/)
        expect(errors).toMatch(/JSON/)
        expect(errors).toMatch(/invalid envelope/)
        yield* w.stop
      })
    ))

  it("passes a payload through without serializing it again, unless the schema changed it", () =>
    run(
      Effect.gen(function* () {
        const { t, seen } = pipeline({ work: Effect.succeed })
        const w = yield* startWorker(t)
        const transport = yield* Transport
        const head = { eventType: "in", timestamp: new Date().toISOString(), source: "test", version: "1", correlationId: "c" }
        yield* transport.append({
          stream: w.keys.stream("in"),
          entries: [
            { ...head, eventId: "11111111-1111-4111-8111-111111111111", data: '{ "n": 7 }' },
            // An excess key: the schema strips it, so the output is encoded from the decoded value.
            { ...head, eventId: "22222222-2222-4222-8222-222222222222", data: '{"n":8,"extra":true}' }
          ]
        })
        yield* waitUntil("both items arrive", Effect.sync(() => seen.includes(7) && seen.includes(8)))
        const out = yield* transport.range(w.keys.stream("out"))
        expect(out.map((e) => e.fields["data"]).sort()).toEqual(['{ "n": 7 }', '{"n":8}'])
        yield* w.stop
      })
    ))

  it("holds the backlog under the high watermark plus one batch per consumer, losing nothing", () =>
    run(
      Effect.gen(function* () {
        const total = 3_000
        const high = 300
        const batchSize = 25
        const replicas = 2
        const { t, feed, seen } = pipeline({
          work: Effect.succeed,
          settings: { highWatermark: high, lowWatermark: 150, batchSize, replicas, concurrency: 4 },
          // The sink is slow: 1 ms per entry, one at a time.
          sinkDelayMs: 1,
          sinkSettings: { concurrency: 1, batchSize: 10 }
        })
        const w = yield* startWorker(t)
        feed.push(...Array.from({ length: total }, (_, n) => ({ data: { n } })))
        const transport = yield* Transport
        let worstOut = 0
        let worstIn = 0
        while (seen.length < total) {
          worstOut = Math.max(worstOut, yield* transport.backlog([{ stream: w.keys.stream("out"), groups: ["collect"] }]))
          worstIn = Math.max(worstIn, yield* transport.backlog([{ stream: w.keys.stream("in"), groups: ["work"] }]))
          yield* Effect.sleep("5 millis")
        }
        expect(worstOut).toBeGreaterThan(high / 2) // the pressure was real
        expect(worstOut).toBeLessThanOrEqual(high + batchSize * replicas)
        const feedSettings = feed.node.settings
        expect(worstIn).toBeLessThanOrEqual(feedSettings.highWatermark + feedSettings.batchSize)
        expect(new Set(seen).size).toBe(total)
        expect(seen).toHaveLength(total)
        yield* w.stop
      })
    ), 120_000)

  it("contains a source whose poll throws, and keeps its dead letters within the retention", () =>
    run(
      Effect.gen(function* () {
        const { t: base, feed, seen } = pipeline({ work: Effect.succeed })
        const broken = source({
          name: "broken",
          to: base.streams.find((s) => s.name === "in")!,
          every: "5 millis",
          settings: { maxAttempts: 1 },
          poll: Effect.sync((): never => {
            throw new Error("the source has a bug")
          })
        })
        const t = { ...base, nodes: [...base.nodes, broken] }
        const w = yield* startWorker(t, { dlqRetention: { maxLen: 5, maxAgeMs: 3_600_000 } })
        feed.push(...Array.from({ length: 50 }, (_, n) => ({ data: { n } })))
        yield* waitUntil("the rest of the pipeline flows", Effect.sync(() => seen.length === 50))
        const m = yield* Metrics
        yield* waitUntil("the retention drops old dead letters", Effect.sync(() => m.dlqTrimmed.get({ operator: "broken" }) > 10))
        expect(w.fiber.unsafePoll()).toBeNull() // still running
        yield* w.stop
        const [letter] = yield* listDeadLetters(t, w.keys, "broken", { count: 1 })
        expect(letter!.error).toContain("the source has a bug")
        // Every dead letter is either kept or counted as dropped by the retention.
        const kept = (yield* (yield* Transport).info(w.keys.dlq("broken"))).length
        expect(kept + m.dlqTrimmed.get({ operator: "broken" })).toBe(m.deadLettered.get({ operator: "broken" }))
        expect(kept).toBeLessThan(m.deadLettered.get({ operator: "broken" }))
      })
    ))

  it("trims only the streams its own nodes write", () =>
    run(
      Effect.gen(function* () {
        const inS = stream("in", Item, { maxLen: 10 })
        const feed = feeder("feed", inS)
        const t = topology({
          name: uniqueName(),
          nodes: [feed.node, sink({ name: "collect", from: inS, run: () => Effect.void })],
          services: Layer.empty
        })
        const transport = yield* Transport
        const keys = makeKeys(t.name)
        const codec = makeEnvelopeCodec("in", Item)
        yield* transport.ensureGroup(keys.stream("in"), "collect")
        const envelope = (n: number) =>
          codec.encode({ eventType: "in", eventId: `e${n}`, timestamp: new Date().toISOString(), source: "test", version: 1, correlationId: `e${n}`, data: { n } })
        yield* transport.append({ stream: keys.stream("in"), entries: Array.from({ length: 100 }, (_, n) => envelope(n)) })
        const reader = yield* startWorker(t, { only: ["collect"] })
        yield* waitUntil("everything is consumed", Effect.map(transport.info(keys.stream("in")), (i) => i.groups[0]!.pending === 0 && i.groups[0]!.lag === 0))
        yield* Effect.sleep("700 millis") // several maintenance rounds of the reader
        expect((yield* transport.info(keys.stream("in"))).length).toBe(100)
        const writer = yield* startWorker(t, { only: ["feed"] })
        yield* waitUntil("the writer trims it", Effect.map(transport.info(keys.stream("in")), (i) => i.length <= 10))
        yield* writer.stop
        yield* reader.stop
      })
    ))

  it("requeues and lists dead letters a page at a time", () =>
    run(
      Effect.gen(function* () {
        const { t } = pipeline({ work: Effect.succeed })
        const keys = makeKeys(t.name)
        const base = yield* Transport
        const appended: Array<number> = []
        const spy = { ...base, append: (a: Parameters<typeof base.append>[0]) => Effect.zipRight(Effect.sync(() => appended.push(a.entries.length)), base.append(a)) }
        for (let i = 0; i < 5; i++) {
          yield* base.append({ stream: keys.dlq("work"), entries: Array.from({ length: 500 }, (_, n) => ({ n: String(i * 500 + n), "dlq.error": "x" })) })
        }
        expect(yield* listDeadLetters(t, keys, "work", { count: 100_000 })).toHaveLength(1_000)
        expect(yield* requeue(t, keys, "work", { all: true }).pipe(Effect.provideService(Transport, spy))).toBe(2_500)
        expect(Math.max(...appended)).toBeLessThanOrEqual(1_000)
        expect((yield* base.info(keys.stream("in"))).length).toBe(2_500)
        expect((yield* base.info(keys.dlq("work"))).length).toBe(0)
      })
    ), 60_000)

  it("stops gracefully: in-flight work finishes and is acknowledged", () =>
    run(
      Effect.gen(function* () {
        let started = 0
        const { t, feed, seen } = pipeline({
          work: (item) =>
            Effect.sync(() => {
              started++
              return item
            }).pipe(Effect.delay("300 millis")),
          settings: { batchSize: 20, concurrency: 20 }
        })
        const w = yield* startWorker(t)
        feed.push(...Array.from({ length: 200 }, (_, n) => ({ data: { n } })))
        yield* waitUntil("a batch is in flight", Effect.sync(() => started > 0))
        yield* w.stop
        const transport = yield* Transport
        const info = yield* transport.info(w.keys.stream("in"))
        const group = info.groups.find((g) => g.name === "work")!
        expect(group.pending).toBe(0)
        // Everything the operator started was finished and written out.
        const out = yield* transport.info(w.keys.stream("out"))
        expect(out.length).toBe(started)
        expect(seen.length).toBeLessThanOrEqual(started)
      })
    ))
})

describe("worker semantics: an operator emitting output it must not", () => {
  /** Five items through `work`; the third one's output is wrong and must end in the DLQ with `error`, the rest flow. */
  const oneOfFiveDeadLettered = (
    work: (inS: StreamDef<typeof Item.Type>, outS: StreamDef<typeof Item.Type>) => OperatorNode<typeof Item.Type, typeof Item.Type, never>,
    error: string
  ) =>
    runTest(
      transportCases[0]!,
      Effect.gen(function* () {
        const inS = stream("in", Item)
        const outS = stream("out", Item)
        const feed = feeder("feed", inS)
        const seen: Array<number> = []
        const t = topology({
          name: uniqueName(),
          nodes: [feed.node, work(inS, outS), sink({ name: "collect", from: outS, run: (item) => Effect.sync(() => void seen.push(item.n)) })],
          services: Layer.empty
        })
        const w = yield* startWorker(t)
        feed.push(...Array.from({ length: 5 }, (_, n) => ({ data: { n } })))
        yield* waitUntil("4 items arrive", Effect.sync(() => seen.length === 4))
        yield* waitUntil("a dead letter", Effect.map(listDeadLetters(t, w.keys, "work"), (l) => l.length === 1))
        const [letter] = yield* listDeadLetters(t, w.keys, "work")
        expect(letter!.reason).toBe("permanent")
        expect(letter!.error).toContain(error)
        expect(seen.sort()).toEqual([0, 1, 3, 4])
        yield* w.stop
      })
    )

  it("dead-letters the input of an output that breaks its stream's schema, instead of crashing", () =>
    oneOfFiveDeadLettered(
      (from, to) =>
        map({ name: "work", from, to, run: (item) => Effect.succeed(item.n === 2 ? ({ n: "two" } as unknown as typeof Item.Type) : item) }),
      "does not match its stream's schema"
    ))

  it("dead-letters the input of an output addressed to a stream the operator does not write", () =>
    oneOfFiveDeadLettered(
      (from, to) => flatMap({ name: "work", from, to, run: (item) => Effect.succeed(item.n === 2 ? [output(item, { to: "elsewhere" })] : [item]) }),
      "output to elsewhere, which work does not write (it writes: out)"
    ))
})
