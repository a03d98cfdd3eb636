/**
 * The live view's state and the pure reducers that move it. Everything the SSE feed does
 * to the UI goes through `reduce`, so it is tested without a DOM (test/ui-state.test.ts);
 * components only read the result. No DOM, no timers, no `Date.now()` in here: time comes
 * from the snapshots themselves, so a replayed sequence of messages gives the same state.
 */
import type { NodeStats, Snapshot, StreamStats, TopologyJson } from "../../operators/api/contract.ts"

/** How a node or edge is colored: green, amber, red, or muted when nothing flows. */
export type Health = "ok" | "warn" | "error" | "idle"
export type NodeState = "running" | "backpressured" | "erroring" | "idle"

/** Samples kept per node for the sparklines (one per `sampleEveryMs` of snapshot time). */
export const HISTORY = 60
/** Lag samples kept per edge to tell a growing backlog from a steady one. */
export const LAG_TREND = 5

export interface NodeLive {
  readonly name: string
  readonly stats: NodeStats | null
  readonly state: NodeState
  readonly health: Health
  /** Why the health is what it is, for tooltips and screen readers. */
  readonly reason: string
  /** Throughput samples (msgs/s), oldest first; `times` holds their epoch seconds. */
  readonly rate: ReadonlyArray<number>
  readonly errors: ReadonlyArray<number>
  readonly times: ReadonlyArray<number>
}

/** A stream between a writer and one reader (its consumer group), or to nobody (`to: null`). */
export interface EdgeLive {
  readonly id: string
  readonly stream: string
  readonly from: string
  readonly to: string | null
  readonly length: number | null
  readonly lag: number | null
  readonly pending: number | null
  readonly lagTrend: ReadonlyArray<number>
  readonly health: Health
  readonly reason: string
}

export interface LiveState {
  readonly topology: TopologyJson | null
  /** Changes exactly when the graph's shape changes: the only trigger for a new layout. */
  readonly structureKey: string
  readonly topologyName: string | null
  readonly transport: Snapshot["transport"] | null
  /** Server time of the last applied snapshot. */
  readonly time: string | null
  readonly nodes: Readonly<Record<string, NodeLive>>
  readonly edges: Readonly<Record<string, EdgeLive>>
  readonly streams: Readonly<Record<string, StreamStats>>
  /** Epoch ms (snapshot time) of the last history sample. */
  readonly lastSampleAt: number | null
  /** The feed names nodes the loaded topology does not have: fetch the topology again. */
  readonly topologyOutdated: boolean
}

/** The messages the live view reacts to (one discriminated union, like the server's feed). */
export type Action =
  | { readonly type: "topology"; readonly topology: TopologyJson }
  | { readonly type: "snapshot"; readonly snapshot: Snapshot }

export interface ReduceOptions {
  /** Width of a history sample's time bucket (snapshot time). */
  readonly sampleEveryMs: number
}

export const defaultReduceOptions: ReduceOptions = { sampleEveryMs: 1_000 }

export const initialState: LiveState = {
  topology: null,
  structureKey: "",
  topologyName: null,
  transport: null,
  time: null,
  nodes: {},
  edges: {},
  streams: {},
  lastSampleAt: null,
  topologyOutdated: false
}

// ---------------------------------------------------------------------------------------
// The graph's shape

export const edgeId = (stream: string, from: string, to: string | null) => `${stream}:${from}->${to ?? ""}`

/** Edges of the drawing: one per (writer, reader) of a stream, plus one per writer of an unread stream. */
export const graphEdges = (t: TopologyJson): ReadonlyArray<{ id: string; stream: string; from: string; to: string | null }> => {
  const edges = t.edges.map((e) => ({ id: edgeId(e.stream, e.from, e.to), stream: e.stream, from: e.from, to: e.to as string | null }))
  for (const s of t.streams) {
    if (s.readers.length > 0) continue
    for (const writer of s.writers) edges.push({ id: edgeId(s.name, writer, null), stream: s.name, from: writer, to: null })
  }
  return edges
}

/** A key of what the layout depends on: node names and kinds, and who feeds whom. */
export const structureKeyOf = (t: TopologyJson): string =>
  JSON.stringify([t.name, t.nodes.map((n) => [n.name, n.type, n.kind]), graphEdges(t).map((e) => e.id)])

// ---------------------------------------------------------------------------------------
// Health

/** A backlog is growing when the last samples never go down and end higher than they began. */
export const isGrowing = (samples: ReadonlyArray<number>): boolean => {
  if (samples.length < 3) return false
  for (let i = 1; i < samples.length; i++) if (samples[i]! < samples[i - 1]!) return false
  return samples[samples.length - 1]! > samples[0]!
}

export const nodeStateOf = (stats: NodeStats | null): NodeState => {
  if (stats === null) return "idle"
  if (stats.errorsPerSec > 0) return "erroring"
  if (stats.backpressured) return "backpressured"
  return stats.ratePerSec > 0 ? "running" : "idle"
}

export const nodeHealthOf = (stats: NodeStats | null, inputGrowing: boolean): { health: Health; reason: string } => {
  if (stats === null) return { health: "idle", reason: "no data yet" }
  if (stats.errorsPerSec > 0) return { health: "error", reason: `failing: ${fmtRate(stats.errorsPerSec)} errors/s` }
  if (stats.dlq > 0) return { health: "error", reason: `${stats.dlq} dead letter${stats.dlq === 1 ? "" : "s"}` }
  if (stats.backpressured) return { health: "warn", reason: "backpressured: output backlog above the high watermark" }
  if (inputGrowing) return { health: "warn", reason: "input lag growing" }
  return stats.ratePerSec > 0 ? { health: "ok", reason: "running" } : { health: "idle", reason: "idle" }
}

const edgeHealthOf = (
  reader: NodeStats | null,
  lag: number | null,
  pending: number | null,
  trend: ReadonlyArray<number>,
  highWatermark: number | null
): { health: Health; reason: string } => {
  if (reader !== null && reader.errorsPerSec > 0) return { health: "error", reason: `${reader.name} is failing` }
  if (isGrowing(trend)) return { health: "warn", reason: "lag growing" }
  const backlog = (lag ?? 0) + (pending ?? 0)
  if (highWatermark !== null && backlog >= highWatermark) return { health: "warn", reason: `backlog ${backlog} at the high watermark` }
  if (reader !== null && reader.ratePerSec === 0 && backlog === 0) return { health: "idle", reason: "idle" }
  return { health: "ok", reason: "flowing" }
}

// ---------------------------------------------------------------------------------------
// Reducers

const push = <A>(xs: ReadonlyArray<A>, x: A, max: number): ReadonlyArray<A> => (xs.length >= max ? [...xs.slice(xs.length - max + 1), x] : [...xs, x])

/** Loads (or reloads) the graph; keeps the live figures of nodes and edges that still exist. */
export const applyTopology = (state: LiveState, topology: TopologyJson): LiveState => {
  const nodes: Record<string, NodeLive> = {}
  for (const n of topology.nodes) {
    nodes[n.name] = state.nodes[n.name] ?? { name: n.name, stats: null, state: "idle", health: "idle", reason: "no data yet", rate: [], errors: [], times: [] }
  }
  const edges: Record<string, EdgeLive> = {}
  for (const e of graphEdges(topology)) {
    edges[e.id] = state.edges[e.id] ?? { ...e, length: null, lag: null, pending: null, lagTrend: [], health: "idle", reason: "no data yet" }
  }
  return { ...state, topology, structureKey: structureKeyOf(topology), nodes, edges, topologyOutdated: false }
}

/**
 * Applies one snapshot. Counters and rates always take the newest values; the sparkline
 * and lag-trend histories take one sample per `sampleEveryMs` of snapshot time, so a
 * fast feed (or frames that drop snapshots) does not squeeze their time axis.
 */
export const applySnapshot = (state: LiveState, snapshot: Snapshot, options: ReduceOptions = defaultReduceOptions): LiveState => {
  if (state.topology === null) return state
  const at = Date.parse(snapshot.time)
  // One sample per wall-clock bucket of `sampleEveryMs`: a feed at that interval lands in a
  // new bucket every time (its spacing is never shorter), a faster one is thinned evenly.
  const sample = state.lastSampleAt === null || Math.floor(at / options.sampleEveryMs) > Math.floor(state.lastSampleAt / options.sampleEveryMs)
  const stats = new Map(snapshot.nodes.map((n) => [n.name, n]))
  const streams: Record<string, StreamStats> = {}
  for (const s of snapshot.streams) streams[s.name] = s
  const settings = new Map(state.topology.nodes.map((n) => [n.name, n.settings]))

  const edges: Record<string, EdgeLive> = {}
  const growingInput = new Set<string>()
  for (const [id, edge] of Object.entries(state.edges)) {
    const s = streams[edge.stream]
    const group = edge.to === null ? undefined : s?.groups.find((g) => g.name === edge.to)
    const lag = group === undefined ? null : (group.lag ?? s!.length)
    const pending = group?.pending ?? null
    const lagTrend = sample && lag !== null ? push(edge.lagTrend, lag, LAG_TREND) : edge.lagTrend
    const reader = edge.to === null ? null : (stats.get(edge.to) ?? null)
    const { health, reason } = edgeHealthOf(reader, lag, pending, lagTrend, settings.get(edge.from)?.highWatermark ?? null)
    if (edge.to !== null && isGrowing(lagTrend)) growingInput.add(edge.to)
    edges[id] = { ...edge, length: s?.length ?? null, lag, pending, lagTrend, health, reason }
  }

  const nodes: Record<string, NodeLive> = {}
  for (const [name, node] of Object.entries(state.nodes)) {
    const st = stats.get(name) ?? null
    const { health, reason } = nodeHealthOf(st, growingInput.has(name))
    nodes[name] = {
      ...node,
      stats: st,
      state: nodeStateOf(st),
      health,
      reason,
      ...(sample && st !== null
        ? { rate: push(node.rate, st.ratePerSec, HISTORY), errors: push(node.errors, st.errorsPerSec, HISTORY), times: push(node.times, at / 1000, HISTORY) }
        : {})
    }
  }

  const known = new Set(state.topology.nodes.map((n) => n.name))
  const topologyOutdated =
    snapshot.topology !== state.topology.name || snapshot.nodes.length !== known.size || snapshot.nodes.some((n) => !known.has(n.name))
  return {
    ...state,
    topologyName: snapshot.topology,
    transport: snapshot.transport,
    time: snapshot.time,
    nodes,
    edges,
    streams,
    lastSampleAt: sample ? at : state.lastSampleAt,
    topologyOutdated
  }
}

export const reduce = (state: LiveState, action: Action, options: ReduceOptions = defaultReduceOptions): LiveState => {
  switch (action.type) {
    case "topology":
      return applyTopology(state, action.topology)
    case "snapshot":
      return applySnapshot(state, action.snapshot, options)
  }
}

/** Totals for the header: how many nodes are in each state, and dead letters overall. */
export const summarize = (state: LiveState) => {
  const counts: Record<Health, number> = { ok: 0, warn: 0, error: 0, idle: 0 }
  let dlq = 0
  for (const n of Object.values(state.nodes)) {
    counts[n.health]++
    dlq += n.stats?.dlq ?? 0
  }
  return { ...counts, dlq }
}

// ---------------------------------------------------------------------------------------
// Reconnecting

export interface Backoff {
  readonly initialMs: number
  readonly maxMs: number
  readonly factor: number
  /** 0..1: the share of the delay that is randomised, so clients do not reconnect in step. */
  readonly jitter: number
}

export const defaultBackoff: Backoff = { initialMs: 500, maxMs: 15_000, factor: 2, jitter: 0.2 }

/** Delay before reconnect attempt `attempt` (1-based); `random` in [0, 1). */
export const backoffDelay = (attempt: number, random: number, b: Backoff = defaultBackoff): number => {
  const base = Math.min(b.maxMs, b.initialMs * Math.pow(b.factor, Math.max(0, attempt - 1)))
  return Math.round(base * (1 - b.jitter + b.jitter * 2 * random))
}

// ---------------------------------------------------------------------------------------
// Ideas

export interface Reviewed {
  readonly ideaId: string
  readonly reviewStatus: "pending" | "approved" | "rejected"
}

/** Applies an approve/reject answer to the list in hand (the server's word wins). */
export const applyReview = <I extends { readonly ideaId: string; readonly reviewStatus: string }>(ideas: ReadonlyArray<I>, r: Reviewed): ReadonlyArray<I> =>
  ideas.map((i) => (i.ideaId === r.ideaId ? { ...i, reviewStatus: r.reviewStatus } : i))

// ---------------------------------------------------------------------------------------
// Formatting (shared by views, tested with the reducers)

export const fmtRate = (n: number | null | undefined): string => {
  if (n === null || n === undefined || !Number.isFinite(n)) return "–"
  if (n === 0) return "0"
  if (n < 0.1) return "<0.1"
  if (n < 10) return n.toFixed(1)
  if (n < 10_000) return String(Math.round(n))
  return `${(n / 1000).toFixed(n < 100_000 ? 1 : 0)}k`
}

export const fmtCount = (n: number | null | undefined): string => {
  if (n === null || n === undefined || !Number.isFinite(n)) return "–"
  if (Math.abs(n) < 10_000) return String(n)
  if (Math.abs(n) < 1_000_000) return `${(n / 1000).toFixed(n < 100_000 ? 1 : 0)}k`
  return `${(n / 1_000_000).toFixed(1)}M`
}

export const fmtMs = (ms: number | null | undefined): string => {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "–"
  if (ms < 1) return `${ms.toFixed(2)} ms`
  if (ms < 100) return `${ms.toFixed(1)} ms`
  if (ms < 10_000) return `${Math.round(ms)} ms`
  return `${(ms / 1000).toFixed(1)} s`
}

/** The same, for tight spaces (node cards): 0.4ms, 2.5ms, 50ms, 1.2s. */
export const fmtMsShort = (ms: number | null | undefined): string => {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "–"
  if (ms < 10) return `${ms.toFixed(1)}ms`
  if (ms < 1_000) return `${Math.round(ms)}ms`
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)}s`
}

/** An idle time or age, coarse: 850 ms, 12 s, 4 m 03 s, 2 h 10 m. */
export const fmtDuration = (ms: number): string => {
  if (!Number.isFinite(ms) || ms < 0) return "–"
  if (ms < 1_000) return `${Math.round(ms)} ms`
  const s = Math.floor(ms / 1000)
  if (s < 60) return `${s} s`
  if (s < 3600) return `${Math.floor(s / 60)} m ${String(s % 60).padStart(2, "0")} s`
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} m`
}

/** The wall-clock time a stream id was assigned (its millisecond part). */
export const streamIdTime = (id: string): Date | null => {
  const ms = Number(id.split("-")[0])
  return Number.isFinite(ms) && ms > 0 ? new Date(ms) : null
}

/** An entry's `data` field pretty-printed when it is JSON, as is otherwise. */
export const prettyData = (data: string | undefined): string => {
  if (data === undefined) return ""
  try {
    return JSON.stringify(JSON.parse(data), null, 2)
  } catch {
    return data
  }
}
