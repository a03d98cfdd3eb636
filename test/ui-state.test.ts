/**
 * The UI's reducers, without a DOM: what a sequence of feed messages does to the live
 * state (figures, health, histories, the relayout key), the reconnect backoff, the review
 * update and the formatting the views share. The messages are built with the server's
 * own `Snapshot`/`TopologyJson` schemas, so a contract change breaks these tests too.
 */
import { Schema } from "effect"
import { describe, expect, it } from "vitest"
import { Snapshot, type NodeStats, type StreamStats } from "../runtime/http.ts"
import { defaultSettings, TopologyJson } from "../runtime/topology.ts"
import {
  applyReview,
  applySnapshot,
  applyTopology,
  backoffDelay,
  edgeId,
  fmtCount,
  fmtDuration,
  fmtMs,
  fmtMsShort,
  fmtRate,
  graphEdges,
  HISTORY,
  initialState,
  isGrowing,
  type LiveState,
  prettyData,
  reduce,
  streamIdTime,
  summarize
} from "../ui/src/state.ts"

const node = (name: string, type: "source" | "operator", input: string | null, outputs: ReadonlyArray<string>) => ({
  name,
  type,
  kind: type === "source" ? "source" : "map",
  input,
  outputs,
  every: type === "source" ? "1s" : null,
  settings: { ...defaultSettings, highWatermark: 100, lowWatermark: 50 },
  config: null
})

const topo = Schema.decodeUnknownSync(TopologyJson)({
  name: "demo",
  nodes: [node("ticker", "source", null, ["ticks"]), node("shout", "operator", "ticks", ["shouted"]), node("log", "operator", "shouted", ["archive"])],
  streams: [
    { name: "ticks", eventType: "ticks", maxLen: null, writers: ["ticker"], readers: ["shout"] },
    { name: "shouted", eventType: "shouted", maxLen: null, writers: ["shout"], readers: ["log"] },
    { name: "archive", eventType: "archive", maxLen: null, writers: ["log"], readers: [] }
  ],
  edges: [
    { from: "ticker", to: "shout", stream: "ticks" },
    { from: "shout", to: "log", stream: "shouted" }
  ]
})

const stats = (name: string, over: Partial<NodeStats> = {}): NodeStats => ({
  name,
  type: name === "ticker" ? "source" : "operator",
  processed: 0,
  failed: 0,
  retried: 0,
  deadLettered: 0,
  emitted: 0,
  claimed: 0,
  backpressured: false,
  ratePerSec: 0,
  errorsPerSec: 0,
  p50Ms: null,
  p99Ms: null,
  dlq: 0,
  ...over
})

const streamStats = (name: string, group: string | null, lag: number, pending = 0, length = 10): StreamStats => ({
  name,
  length,
  lastId: "1-0",
  groups: group === null ? [] : [{ name: group, lag, pending, consumers: [{ name: "c-1", pending, idleMs: 5 }] }]
})

/** A snapshot `second` seconds in, checked against the server's schema. */
const snap = (
  second: number,
  nodes: { ticker?: Partial<NodeStats>; shout?: Partial<NodeStats>; log?: Partial<NodeStats> } = {},
  lags: { ticks?: number; shouted?: number } = {}
): Snapshot =>
  Schema.decodeUnknownSync(Snapshot)({
    time: new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString(),
    topology: "demo",
    transport: "embedded",
    nodes: [stats("ticker", nodes.ticker), stats("shout", nodes.shout), stats("log", nodes.log)],
    streams: [streamStats("ticks", "shout", lags.ticks ?? 0), streamStats("shouted", "log", lags.shouted ?? 0), streamStats("archive", null, 0)]
  })

const loaded = (): LiveState => reduce(initialState, { type: "topology", topology: topo })

describe("ui state: topology", () => {
  it("derives one edge per reader, and an open-ended edge for a stream nobody reads", () => {
    expect(graphEdges(topo).map((e) => e.id)).toEqual(["ticks:ticker->shout", "shouted:shout->log", "archive:log->"])
    const s = loaded()
    expect(Object.keys(s.nodes)).toEqual(["ticker", "shout", "log"])
    expect(s.edges[edgeId("archive", "log", null)]).toMatchObject({ to: null, health: "idle" })
  })

  it("changes the layout key only when the graph's shape changes", () => {
    const s = loaded()
    const again = applyTopology(s, { ...topo, nodes: topo.nodes.map((n) => ({ ...n, settings: { ...n.settings, replicas: 4 } })) })
    expect(again.structureKey).toBe(s.structureKey)
    const grown = applyTopology(s, {
      ...topo,
      nodes: [...topo.nodes, node("extra", "operator", "shouted", [])],
      streams: topo.streams.map((x) => (x.name === "shouted" ? { ...x, readers: ["log", "extra"] } : x)),
      edges: [...topo.edges, { from: "shout", to: "extra", stream: "shouted" }]
    })
    expect(grown.structureKey).not.toBe(s.structureKey)
    // Snapshots never change it.
    expect(reduce(s, { type: "snapshot", snapshot: snap(1, { shout: { ratePerSec: 5 } }) }).structureKey).toBe(s.structureKey)
  })

  it("keeps live figures across a topology reload, and flags a feed from a different graph", () => {
    const s = reduce(loaded(), { type: "snapshot", snapshot: snap(1, { shout: { processed: 42, ratePerSec: 3 } }) })
    expect(applyTopology(s, topo).nodes["shout"]!.stats?.processed).toBe(42)
    expect(s.topologyOutdated).toBe(false)
    const other = { ...snap(2), nodes: [...snap(2).nodes, stats("newcomer")] }
    expect(applySnapshot(s, other).topologyOutdated).toBe(true)
  })

  it("ignores snapshots until the topology is known", () => {
    expect(reduce(initialState, { type: "snapshot", snapshot: snap(1) })).toBe(initialState)
  })
})

describe("ui state: snapshots", () => {
  it("applies counters, rates and stream figures, and derives each node's state", () => {
    const s = reduce(
      loaded(),
      {
        type: "snapshot",
        snapshot: snap(1, { ticker: { emitted: 10, ratePerSec: 10 }, shout: { processed: 9, ratePerSec: 9, p99Ms: 12 }, log: {} }, { ticks: 1, shouted: 0 })
      }
    )
    expect(s.nodes["ticker"]).toMatchObject({ state: "running", health: "ok" })
    expect(s.nodes["shout"]!.stats).toMatchObject({ processed: 9, p99Ms: 12 })
    expect(s.nodes["log"]).toMatchObject({ state: "idle", health: "idle" })
    expect(s.edges["ticks:ticker->shout"]).toMatchObject({ length: 10, lag: 1, pending: 0, health: "ok" })
    expect(s.streams["archive"]!.groups).toEqual([])
    expect(s.time).toBe("2026-01-01T00:00:01.000Z")
    expect(s.transport).toBe("embedded")
  })

  it("colors errors red, dead letters red, backpressure amber", () => {
    const s = reduce(loaded(), {
      type: "snapshot",
      snapshot: snap(1, { ticker: { backpressured: true, ratePerSec: 0 }, shout: { errorsPerSec: 2, ratePerSec: 5 }, log: { dlq: 3, ratePerSec: 1 } })
    })
    expect(s.nodes["ticker"]).toMatchObject({ state: "backpressured", health: "warn" })
    expect(s.nodes["shout"]).toMatchObject({ state: "erroring", health: "error" })
    expect(s.nodes["log"]).toMatchObject({ state: "running", health: "error", reason: "3 dead letters" })
    // The edge into a failing operator is red too.
    expect(s.edges["ticks:ticker->shout"]!.health).toBe("error")
    expect(summarize(s)).toEqual({ ok: 0, warn: 1, error: 2, idle: 0, dlq: 3 })
  })

  it("turns an edge and its reader amber when the lag keeps growing, and back when it drains", () => {
    let s = loaded()
    for (const [second, lag] of [
      [1, 5],
      [2, 9],
      [3, 20]
    ] as const) {
      s = reduce(s, { type: "snapshot", snapshot: snap(second, { ticker: { ratePerSec: 10 }, shout: { ratePerSec: 1 } }, { ticks: lag }) })
    }
    expect(s.edges["ticks:ticker->shout"]).toMatchObject({ health: "warn", reason: "lag growing", lagTrend: [5, 9, 20] })
    expect(s.nodes["shout"]).toMatchObject({ health: "warn", reason: "input lag growing" })
    s = reduce(s, { type: "snapshot", snapshot: snap(4, { ticker: { ratePerSec: 10 }, shout: { ratePerSec: 30 } }, { ticks: 2 }) })
    expect(s.edges["ticks:ticker->shout"]!.health).toBe("ok")
    expect(s.nodes["shout"]!.health).toBe("ok")
  })

  it("warns when a backlog reaches the writer's high watermark even if it is steady", () => {
    const s = reduce(loaded(), { type: "snapshot", snapshot: snap(1, { shout: { ratePerSec: 1 } }, { ticks: 100 }) })
    expect(s.edges["ticks:ticker->shout"]).toMatchObject({ health: "warn" })
    expect(s.edges["ticks:ticker->shout"]!.reason).toMatch(/high watermark/)
  })

  it("samples the sparkline once per second of snapshot time, however fast the feed is", () => {
    let s = loaded()
    // 100 messages per second for 3 seconds: 3 samples (plus the first), not 300.
    for (let i = 0; i <= 300; i++) {
      const at = { ...snap(0, { shout: { ratePerSec: i } }), time: new Date(Date.UTC(2026, 0, 1) + i * 10).toISOString() }
      s = reduce(s, { type: "snapshot", snapshot: at })
    }
    expect(s.nodes["shout"]!.rate).toEqual([0, 100, 200, 300])
    expect(s.nodes["shout"]!.times).toHaveLength(4)
    // The latest figures are applied even between samples.
    expect(s.nodes["shout"]!.stats?.ratePerSec).toBe(300)
  })

  it("keeps the last HISTORY samples, oldest first", () => {
    let s = loaded()
    for (let i = 0; i < HISTORY + 15; i++) s = reduce(s, { type: "snapshot", snapshot: snap(i, { shout: { ratePerSec: i } }) })
    const rate = s.nodes["shout"]!.rate
    expect(rate).toHaveLength(HISTORY)
    expect(rate[0]).toBe(15)
    expect(rate[HISTORY - 1]).toBe(HISTORY + 14)
  })

  it("is pure: the previous state is left as it was", () => {
    const before = reduce(loaded(), { type: "snapshot", snapshot: snap(1, { shout: { ratePerSec: 1 } }) })
    const copy = structuredClone(before)
    reduce(before, { type: "snapshot", snapshot: snap(2, { shout: { ratePerSec: 99, errorsPerSec: 1 } }, { ticks: 7 }) })
    expect(before).toEqual(copy)
  })
})

describe("ui state: helpers", () => {
  it("isGrowing needs three rising-or-flat samples that end higher", () => {
    expect(isGrowing([1, 2])).toBe(false)
    expect(isGrowing([1, 1, 1])).toBe(false)
    expect(isGrowing([1, 1, 2])).toBe(true)
    expect(isGrowing([1, 3, 2, 4])).toBe(false)
  })

  it("backs off exponentially up to the cap, with bounded jitter", () => {
    const b = { initialMs: 500, maxMs: 8_000, factor: 2, jitter: 0.2 }
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, 0.5, b))).toEqual([500, 1000, 2000, 4000, 8000, 8000])
    expect(backoffDelay(1, 0, b)).toBe(400)
    expect(backoffDelay(1, 0.999999, b)).toBe(600)
  })

  it("applies a review answer to the idea it names only", () => {
    const ideas = [
      { ideaId: "a", reviewStatus: "pending" as string, title: "A" },
      { ideaId: "b", reviewStatus: "pending" as string, title: "B" }
    ]
    expect(applyReview(ideas, { ideaId: "b", reviewStatus: "approved" })).toEqual([ideas[0], { ideaId: "b", reviewStatus: "approved", title: "B" }])
  })

  it("formats figures for tight spaces", () => {
    expect([0, 0.05, 2.345, 42.4, 12_345, 250_000].map(fmtRate)).toEqual(["0", "<0.1", "2.3", "42", "12.3k", "250k"])
    expect([null, 7, 12_345, 2_500_000].map(fmtCount)).toEqual(["–", "7", "12.3k", "2.5M"])
    expect([0.25, 12.34, 250, 12_500].map(fmtMs)).toEqual(["0.25 ms", "12.3 ms", "250 ms", "12.5 s"])
    expect([0.25, 50, 250, 1_500].map(fmtMsShort)).toEqual(["0.3ms", "50ms", "250ms", "1.5s"])
    expect([850, 12_000, 243_000, 7_800_000].map(fmtDuration)).toEqual(["850 ms", "12 s", "4 m 03 s", "2 h 10 m"])
    expect(streamIdTime("1700000000123-4")?.toISOString()).toBe("2023-11-14T22:13:20.123Z")
    expect(prettyData('{"a":1}')).toBe('{\n  "a": 1\n}')
    expect(prettyData("not json")).toBe("not json")
  })
})
