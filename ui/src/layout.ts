/**
 * Lays the topology out left to right with ELK's layered algorithm. Run once per graph
 * shape (`structureKey`), never per feed update: positions depend only on which nodes
 * exist and who feeds whom, so live figures can change without moving anything.
 */
import type { ELK as ElkApi, ElkExtendedEdge, ElkNode } from "elkjs/lib/elk.bundled.js"
import type { TopologyJson } from "../../operators/api/contract.ts"
import { graphEdges } from "./state.ts"

export const NODE_WIDTH = 232
export const NODE_HEIGHT = 116
export const END_SIZE = 14
export const LABEL_HEIGHT = 40

export interface Box {
  readonly x: number
  readonly y: number
  readonly width: number
  readonly height: number
}

export interface LaidOutEdge {
  readonly id: string
  /** SVG path data of the route, orthogonal with rounded corners. */
  readonly path: string
  readonly label: Box | null
}

export interface Layout {
  readonly width: number
  readonly height: number
  readonly nodes: Readonly<Record<string, Box>>
  /** End markers of streams nobody reads, keyed by edge id. */
  readonly ends: Readonly<Record<string, Box>>
  readonly edges: Readonly<Record<string, LaidOutEdge>>
}

/** Label width from its longest line (the name, or "len 12.3k · lag 1234 · pend 123"); an estimate, good enough for spacing. */
export const labelWidth = (stream: string) => Math.max(172, Math.min(260, Math.round(stream.length * 7.4) + 22))

const endNodeId = (edgeId: string) => `end:${edgeId}`

/** A polyline with corners rounded by up to `r`. */
export const roundedPath = (points: ReadonlyArray<{ x: number; y: number }>, r = 10): string => {
  if (points.length === 0) return ""
  const [first, ...rest] = points
  let d = `M${first!.x},${first!.y}`
  for (let i = 0; i < rest.length; i++) {
    const p = rest[i]!
    const prev = i === 0 ? first! : rest[i - 1]!
    const next = rest[i + 1]
    if (next === undefined) {
      d += ` L${p.x},${p.y}`
      break
    }
    const inLen = Math.hypot(p.x - prev.x, p.y - prev.y)
    const outLen = Math.hypot(next.x - p.x, next.y - p.y)
    const k = Math.min(r, inLen / 2, outLen / 2)
    if (k < 0.5) {
      d += ` L${p.x},${p.y}`
      continue
    }
    const ax = p.x - ((p.x - prev.x) / inLen) * k
    const ay = p.y - ((p.y - prev.y) / inLen) * k
    const bx = p.x + ((next.x - p.x) / outLen) * k
    const by = p.y + ((next.y - p.y) / outLen) * k
    d += ` L${ax},${ay} Q${p.x},${p.y} ${bx},${by}`
  }
  return d
}

// ELK is most of the bundle's weight: loaded on first layout, so the page paints first.
let elk: Promise<ElkApi> | undefined

export const layoutTopology = async (t: TopologyJson): Promise<Layout> => {
  elk ??= import("elkjs/lib/elk.bundled.js").then((m) => new m.default())
  const edges = graphEdges(t)
  const graph: ElkNode = {
    id: "root",
    layoutOptions: {
      "elk.algorithm": "layered",
      "elk.direction": "RIGHT",
      "elk.edgeRouting": "ORTHOGONAL",
      "elk.layered.spacing.nodeNodeBetweenLayers": "56",
      "elk.layered.spacing.edgeNodeBetweenLayers": "20",
      "elk.layered.spacing.edgeEdgeBetweenLayers": "14",
      "elk.spacing.nodeNode": "28",
      "elk.spacing.edgeNode": "18",
      "elk.spacing.edgeEdge": "12",
      "elk.spacing.edgeLabel": "4",
      "elk.edgeLabels.placement": "CENTER",
      "elk.layered.nodePlacement.strategy": "NETWORK_SIMPLEX",
      "elk.layered.considerModelOrder.strategy": "NODES_AND_EDGES",
      "elk.padding": "[top=16,left=16,bottom=16,right=16]"
    },
    children: [
      ...t.nodes.map((n) => ({ id: n.name, width: NODE_WIDTH, height: NODE_HEIGHT })),
      ...edges.filter((e) => e.to === null).map((e) => ({ id: endNodeId(e.id), width: END_SIZE, height: END_SIZE }))
    ],
    edges: edges.map(
      (e): ElkExtendedEdge => ({
        id: e.id,
        sources: [e.from],
        targets: [e.to ?? endNodeId(e.id)],
        labels: [{ id: `label:${e.id}`, text: e.stream, width: labelWidth(e.stream), height: LABEL_HEIGHT }]
      })
    )
  }
  const out = await (await elk).layout(graph)
  const nodes: Record<string, Box> = {}
  const ends: Record<string, Box> = {}
  for (const c of out.children ?? []) {
    const box = { x: c.x ?? 0, y: c.y ?? 0, width: c.width ?? 0, height: c.height ?? 0 }
    if (c.id.startsWith("end:")) ends[c.id.slice(4)] = box
    else nodes[c.id] = box
  }
  const laid: Record<string, LaidOutEdge> = {}
  for (const e of out.edges ?? []) {
    const points = (e.sections ?? []).flatMap((s) => [s.startPoint, ...(s.bendPoints ?? []), s.endPoint])
    const l = e.labels?.[0]
    laid[e.id] = {
      id: e.id,
      path: roundedPath(points),
      label: l ? { x: l.x ?? 0, y: l.y ?? 0, width: l.width ?? 0, height: l.height ?? 0 } : null
    }
  }
  return { width: out.width ?? 0, height: out.height ?? 0, nodes, ends, edges: laid }
}
