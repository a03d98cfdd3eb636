/** The topology DSL: validation errors name the culprit; the graph as data and text. */
import { Effect, Layer, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { TopologyError } from "../runtime/errors.ts"
import { flatMap, map, sink, source, stream, toJson, toText, topology } from "../runtime/topology.ts"

const A = Schema.Struct({ a: Schema.String })
const B = Schema.Struct({ b: Schema.Number })
const idle = { every: "1 minute", poll: Effect.succeed({ emissions: [] }) } as const

describe("topology", () => {
  const sa = stream("s.a", A)
  const sb = stream("s.b", B)

  it("rejects a stream type that does not match an operator, at compile time", () => {
    map({
      name: "ok",
      from: sa,
      to: sb,
      run: (x) => Effect.succeed({ b: x.a.length })
    })
    map({
      name: "wrong-input",
      // @ts-expect-error: s.b carries B, the operator reads A
      from: sb,
      to: sb,
      run: (x: typeof A.Type) => Effect.succeed({ b: x.a.length })
    })
    map({
      name: "wrong-output",
      from: sa,
      to: sb,
      // @ts-expect-error: the operator writes A into a stream of B
      run: (x) => Effect.succeed({ a: x.a })
    })
    expect(true).toBe(true)
  })

  const cases: ReadonlyArray<[string, () => unknown, RegExp]> = [
    [
      "duplicate names",
      () =>
        topology({
          name: "t",
          nodes: [source({ name: "x", to: sa, ...idle }), sink({ name: "x", from: sa, run: () => Effect.void })],
          services: Layer.empty
        }),
      /duplicate node name "x"/
    ],
    [
      "a dangling input stream",
      () => topology({ name: "t", nodes: [sink({ name: "y", from: sa, run: () => Effect.void })], services: Layer.empty }),
      /operator "y" reads stream "s.a", which no source or operator writes/
    ],
    [
      "a cycle without a way out",
      () =>
        topology({
          name: "t",
          nodes: [
            source({ name: "src", to: sa, ...idle }),
            map({ name: "loop", from: sa, to: sa, run: Effect.succeed })
          ],
          services: Layer.empty
        }),
      /"src" is on a cycle with no way out|"loop" is on a cycle with no way out/
    ],
    [
      "watermarks the wrong way round",
      () =>
        topology({
          name: "t",
          nodes: [source({ name: "src", to: sa, ...idle, settings: { highWatermark: 10, lowWatermark: 20 } })],
          services: Layer.empty
        }),
      /node "src": lowWatermark must be below highWatermark/
    ],
    [
      "a backoff longer than the claim idle time",
      () =>
        topology({
          name: "t",
          nodes: [source({ name: "src", to: sa, ...idle, settings: { claimIdleMs: 1_000, backoff: { maxMs: 5_000 } } })],
          services: Layer.empty
        }),
      /backoff.maxMs must be below claimIdleMs/
    ],
    [
      "two different streams under one name",
      () =>
        topology({
          name: "t",
          nodes: [source({ name: "one", to: sa, ...idle }), source({ name: "two", to: stream("s.a", A), ...idle })],
          services: Layer.empty
        }),
      /stream "s.a" is declared twice/
    ],
    ["a reserved stream name", () => topology({ name: "t", nodes: [source({ name: "s", to: stream("dlq.x", A), ...idle })], services: Layer.empty }), /reserved/]
  ]
  it.each(cases)("rejects %s with a clear error", (_, build, message) => {
    expect(build).toThrow(TopologyError)
    expect(build).toThrow(message)
  })

  it("accepts a cycle that has a way out (a feedback loop)", () => {
    const done = stream("s.done", A)
    expect(() =>
      topology({
        name: "t",
        nodes: [
          source({ name: "src", to: sa, ...idle }),
          flatMap({ name: "loop", from: sa, to: [sa, done], run: (x) => Effect.succeed([x]) }),
          sink({ name: "end", from: done, run: () => Effect.void })
        ],
        services: Layer.empty
      })
    ).not.toThrow()
  })

  it("prints the graph as JSON and as text", () => {
    const t = topology({
      name: "demo",
      nodes: [
        source({ name: "src", to: sa, ...idle }),
        map({ name: "convert", from: sa, to: sb, settings: { replicas: 3 }, run: (x) => Effect.succeed({ b: x.a.length }) }),
        sink({ name: "store", from: sb, run: () => Effect.void })
      ],
      services: Layer.empty
    })
    const json = toJson(t)
    expect(json.nodes.map((n) => [n.name, n.type, n.input, n.outputs])).toEqual([
      ["src", "source", null, ["s.a"]],
      ["convert", "operator", "s.a", ["s.b"]],
      ["store", "operator", "s.b", []]
    ])
    expect(json.edges).toEqual([
      { from: "src", to: "convert", stream: "s.a" },
      { from: "convert", to: "store", stream: "s.b" }
    ])
    expect(json.nodes[1]!.settings.replicas).toBe(3)
    expect(json.streams.find((s) => s.name === "s.b")).toMatchObject({ writers: ["convert"], readers: ["store"] })
    const text = toText(t)
    expect(text).toContain("source   src")
    expect(text).toMatch(/operator convert\s+s\.a -> s\.b\s+\[map\] replicas=3/)
    expect(text).toMatch(/operator store\s+s\.b -> \(sink\)/)
  })
})

describe("operator batch handlers", () => {
  const sa = stream("s.a", A)
  const sb = stream("s.b", B)
  const envelope = (a: string) => ({ eventType: "s.a", eventId: a, timestamp: "2026-11-22T00:00:00Z", source: "t", version: 1, correlationId: a, attempt: 1, data: { a } })

  it("keeps results in input order, whether an entry completes at once, waits, fails or throws", async () => {
    for (const concurrency of [1, 3]) {
      const op = map({
        name: "mixed",
        from: sa,
        to: sb,
        settings: { concurrency },
        run: (x) => {
          if (x.a === "throws") throw new Error("thrown before any effect")
          if (x.a === "fails") return Effect.fail(new Error("failed"))
          if (x.a.startsWith("slow")) return Effect.as(Effect.sleep(x.a === "slow1" ? 20 : 1), { b: x.a.length })
          return Effect.succeed({ b: x.a.length })
        }
      })
      const results = await Effect.runPromise(op.handle(["slow1", "a", "throws", "slow22", "fails", "bb"].map(envelope)))
      expect(results.map((r) => (r._tag === "Emit" ? r.outputs.map((o) => o.data) : String(r.error)))).toEqual([
        [{ b: 5 }],
        [{ b: 1 }],
        ["Error: thrown before any effect"],
        [{ b: 6 }],
        ["Error: failed"],
        [{ b: 2 }]
      ].map((x) => (typeof x[0] === "string" ? x[0] : x)))
    }
  })

  it("runs no more than `concurrency` waiting entries at once", async () => {
    let inFlight = 0
    let most = 0
    const op = sink({
      name: "bounded",
      from: sa,
      settings: { concurrency: 2 },
      run: () =>
        Effect.acquireUseRelease(
          Effect.sync(() => (most = Math.max(most, ++inFlight))),
          () => Effect.sleep(2),
          () => Effect.sync(() => void inFlight--)
        )
    })
    const results = await Effect.runPromise(op.handle(Array.from({ length: 9 }, (_, i) => envelope(String(i)))))
    expect(results.every((r) => r._tag === "Emit")).toBe(true)
    expect(most).toBe(2)
  })
})
