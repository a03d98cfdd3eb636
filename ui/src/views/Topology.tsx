/**
 * The live topology: ELK's left-to-right layout drawn as SVG. Operators and sources are
 * cards (throughput, errors, p99, totals, state, a throughput sparkline); streams are the
 * edges, labelled with length, lag and pending of the reading group; everything is
 * colored by health. Positions are computed once per graph shape; the feed only changes
 * text and classes. Clicking (or Enter on) a node or edge opens its details.
 */
import { createEffect, createMemo, createSignal, For, on, onCleanup, onMount, Show } from "solid-js"
import type { GroupStats } from "../../../operators/api/contract.ts"
import { END_SIZE, type Layout, layoutTopology, NODE_HEIGHT, NODE_WIDTH } from "../layout.ts"
import { currentTopology, live } from "../live.ts"
import { hrefOf, navigate, route } from "../route.ts"
import { fmtCount, fmtDuration, fmtMs, fmtMsShort, fmtRate, type Health } from "../state.ts"
import { RateChart, Sparkline } from "../components/Sparkline.tsx"

// One layout per graph shape, kept across view switches.
let cached: { key: string; layout: Layout } | undefined

type Selection = { readonly kind: "node"; readonly name: string } | { readonly kind: "edge"; readonly id: string }

const selectionOf = (arg: string | null): Selection | null => {
  if (arg === null) return null
  if (arg.startsWith("node:")) return { kind: "node", name: arg.slice(5) }
  if (arg.startsWith("edge:")) return { kind: "edge", id: arg.slice(5) }
  return null
}

const HEALTH_LABEL: Record<Health, string> = { ok: "healthy", warn: "warning", error: "error", idle: "idle" }

function NodeCard(props: { name: string; x: number; y: number; selected: boolean }) {
  const topo = createMemo(() => live.topology?.nodes.find((n) => n.name === props.name))
  const n = () => live.nodes[props.name]
  const stats = () => n()?.stats ?? null
  const total = () => (topo()?.type === "source" ? stats()?.emitted : stats()?.processed)
  const open = () => navigate("topology", `node:${props.name}`)
  const dlq = () => stats()?.dlq ?? 0
  const subtitle = () => {
    const t = topo()
    if (!t) return ""
    const parts = t.type === "source" ? ["source", ...(t.kind !== "source" ? [t.kind] : []), `every ${t.every ?? "?"}`] : [t.kind]
    const text = [...parts, `×${t.settings.replicas}`].join(" · ")
    // Leave room for the DLQ badge on the same line.
    const max = dlq() > 0 ? 20 : 32
    return text.length > max ? `${text.slice(0, max - 1)}…` : text
  }
  // The accessible name changes with the state, not with every figure: a screen reader
  // re-announcing a focused node 10 times a second is noise (and it costs every update).
  const label = () =>
    `${topo()?.type ?? "node"} ${props.name}: ${n()?.state ?? "idle"}, ${HEALTH_LABEL[n()?.health ?? "idle"]} (${n()?.reason ?? ""}). Enter for details.`
  return (
    <g
      class={`node health-${n()?.health ?? "idle"} state-${n()?.state ?? "idle"}${props.selected ? " selected" : ""}`}
      transform={`translate(${props.x},${props.y})`}
      data-node={props.name}
      tabindex={0}
      role="button"
      aria-label={label()}
      aria-pressed={props.selected}
      onClick={open}
      onKeyDown={(e) => (e.key === "Enter" || e.key === " ") && (e.preventDefault(), open())}
    >
      <rect class="node-bg" width={NODE_WIDTH} height={NODE_HEIGHT} rx={10} />
      <rect class="node-bar" x={0} y={0} width={5} height={NODE_HEIGHT} rx={2.5} />
      <text class="node-name" x={16} y={23}>
        {props.name.length > 20 ? `${props.name.slice(0, 19)}…` : props.name}
      </text>
      <text class="node-kind" x={16} y={40}>
        {subtitle()}
      </text>
      <g transform={`translate(${NODE_WIDTH - 10},10)`} class={`state-pill state-${n()?.state ?? "idle"}`}>
        <rect class="pill" x={-(n()?.state ?? "idle").length * 6.4 - 14} width={(n()?.state ?? "idle").length * 6.4 + 14} height={18} rx={9} />
        <text class="pill-text" x={-7} y={13} text-anchor="end" data-metric="state">
          {n()?.state ?? "idle"}
        </text>
      </g>
      <g class="metrics" transform="translate(16,60)">
        <text class="metric-label">msgs/s</text>
        <text class="metric-value" y={17} data-metric="rate">
          {fmtRate(stats()?.ratePerSec)}
        </text>
        <text class="metric-label" x={54}>
          err/s
        </text>
        <text class={`metric-value${(stats()?.errorsPerSec ?? 0) > 0 ? " bad" : ""}`} x={54} y={17} data-metric="errors">
          {fmtRate(stats()?.errorsPerSec)}
        </text>
        <text class="metric-label" x={100}>
          p99
        </text>
        <text class="metric-value" x={100} y={17} data-metric="p99">
          {fmtMsShort(stats()?.p99Ms)}
        </text>
        <text class="metric-label" x={NODE_WIDTH - 28} text-anchor="end">
          {topo()?.type === "source" ? "emitted" : "processed"}
        </text>
        <text class="metric-value" x={NODE_WIDTH - 28} y={17} text-anchor="end" data-metric="processed">
          {fmtCount(total())}
        </text>
      </g>
      <Show when={dlq() > 0}>
        <g class="dlq-badge" transform={`translate(${NODE_WIDTH - 10},29)`}>
          <rect x={-62} width={62} height={17} rx={8.5} />
          <text x={-31} y={12.5} text-anchor="middle" data-metric="dlq">
            DLQ {fmtCount(dlq())}
          </text>
        </g>
      </Show>
    </g>
  )
}

const SPARK = { x: 10, y: 86, width: NODE_WIDTH - 20, height: 24 } as const

/**
 * A node's sparkline, on an HTML layer above the SVG rather than in a <foreignObject>:
 * a canvas inside the SVG is re-rasterised with every text change of the graph, while a
 * contained box of its own is only painted when its chart changes.
 */
function SparkSlot(props: { name: string; x: number; y: number }) {
  const n = () => live.nodes[props.name]
  return (
    <div class="spark-slot" style={{ left: `${props.x + SPARK.x}px`, top: `${props.y + SPARK.y}px`, width: `${SPARK.width}px`, height: `${SPARK.height}px` }}>
      <Sparkline times={n()?.times ?? []} rate={n()?.rate ?? []} width={SPARK.width} height={SPARK.height} />
    </div>
  )
}

function EdgeShape(props: { id: string; layout: Layout; selected: boolean }) {
  const e = () => live.edges[props.id]
  const laid = () => props.layout.edges[props.id]
  const end = () => props.layout.ends[props.id]
  const open = () => navigate("topology", `edge:${props.id}`)
  const stats = () => {
    const edge = e()
    if (!edge) return ""
    const parts = [`len ${fmtCount(edge.length)}`]
    if (edge.to !== null) parts.push(`lag ${fmtCount(edge.lag)}`, `pend ${fmtCount(edge.pending)}`)
    else parts.push("no readers")
    return parts.join(" · ")
  }
  const label = () => {
    const edge = e()
    if (!edge) return props.id
    return `stream ${edge.stream} from ${edge.from} to ${edge.to ?? "no reader"}: ${HEALTH_LABEL[edge.health]} (${edge.reason}). Enter for details.`
  }
  return (
    <Show when={laid()}>
      {(l) => (
        <g
          class={`edge health-${e()?.health ?? "idle"}${props.selected ? " selected" : ""}`}
          data-edge={props.id}
          data-stream={e()?.stream}
          tabindex={0}
          role="button"
          aria-label={label()}
          aria-pressed={props.selected}
          onClick={open}
          onKeyDown={(ev) => (ev.key === "Enter" || ev.key === " ") && (ev.preventDefault(), open())}
        >
          <path class="edge-hit" d={l().path} />
          <path class="edge-line" d={l().path} marker-end={`url(#arrow-${e()?.health ?? "idle"})`} />
          <Show when={end()}>
            {(b) => <rect class="edge-end" x={b().x} y={b().y} width={END_SIZE} height={END_SIZE} rx={3} />}
          </Show>
          <Show when={l().label}>
            {(b) => (
              <g transform={`translate(${b().x},${b().y})`} class="edge-label">
                <rect width={b().width} height={b().height} rx={6} />
                <text x={b().width / 2} y={16} text-anchor="middle" class="edge-name">
                  {e()?.stream}
                </text>
                <text x={b().width / 2} y={31} text-anchor="middle" class="edge-stats" data-metric="edge-stats">
                  {stats()}
                </text>
              </g>
            )}
          </Show>
        </g>
      )}
    </Show>
  )
}

function GroupTable(props: { groups: ReadonlyArray<GroupStats>; highlight?: string | null }) {
  return (
    <table class="table compact">
      <caption class="sr-only">Consumer groups</caption>
      <thead>
        <tr>
          <th scope="col">group / consumer</th>
          <th scope="col" class="num">lag</th>
          <th scope="col" class="num">pending</th>
          <th scope="col" class="num">idle</th>
        </tr>
      </thead>
      <tbody>
        <For each={props.groups}>
          {(g) => (
            <>
              <tr class={g.name === props.highlight ? "row-group highlight" : "row-group"}>
                <th scope="row">{g.name}</th>
                <td class="num">{fmtCount(g.lag)}</td>
                <td class="num">{fmtCount(g.pending)}</td>
                <td class="num" />
              </tr>
              <For each={g.consumers}>
                {(c) => (
                  <tr class="row-consumer">
                    <td>
                      <span class="consumer-name">{c.name}</span>
                    </td>
                    <td class="num" />
                    <td class="num">{fmtCount(c.pending)}</td>
                    <td class="num">{fmtDuration(c.idleMs)}</td>
                  </tr>
                )}
              </For>
            </>
          )}
        </For>
      </tbody>
    </table>
  )
}

export { GroupTable }

function NodeDetails(props: { name: string }) {
  const topo = () => live.topology?.nodes.find((n) => n.name === props.name)
  const n = () => live.nodes[props.name]
  const s = () => n()?.stats ?? null
  const row = (label: string, value: string, cls = "") => (
    <div class={`kv ${cls}`}>
      <dt>{label}</dt>
      <dd>{value}</dd>
    </div>
  )
  return (
    <Show when={topo()} fallback={<p class="muted">No node named {props.name} in this topology.</p>}>
      {(t) => (
        <>
          <header class="details-head">
            <div>
              <h2>{t().name}</h2>
              <p class="muted">
                {t().type} · {t().kind}
                {t().every ? ` · every ${t().every}` : ""}
              </p>
            </div>
            <span class={`pill-html state-${n()?.state ?? "idle"}`}>{n()?.state ?? "idle"}</span>
          </header>
          <Show when={n()?.reason && n()!.reason !== n()!.state}>
            <p class={`reason health-${n()?.health ?? "idle"}`}>{n()?.reason}</p>
          </Show>
          <dl class="kv-grid">
            {row("msgs/s", fmtRate(s()?.ratePerSec))}
            {row("errors/s", fmtRate(s()?.errorsPerSec), (s()?.errorsPerSec ?? 0) > 0 ? "bad" : "")}
            {row("p50", fmtMs(s()?.p50Ms))}
            {row("p99", fmtMs(s()?.p99Ms))}
            {row(t().type === "source" ? "emitted" : "processed", fmtCount(t().type === "source" ? s()?.emitted : s()?.processed))}
            {row("failed", fmtCount(s()?.failed), (s()?.failed ?? 0) > 0 ? "bad" : "")}
            {row("retried", fmtCount(s()?.retried))}
            {row("dead-lettered", fmtCount(s()?.deadLettered))}
            {row("claimed", fmtCount(s()?.claimed))}
            {row("DLQ now", fmtCount(s()?.dlq), (s()?.dlq ?? 0) > 0 ? "bad" : "")}
            {row("backpressured", s()?.backpressured ? "yes" : "no", s()?.backpressured ? "warn" : "")}
            {row("replicas", String(t().settings.replicas))}
          </dl>
          <section aria-label="Throughput, last minute">
            <h3>Last minute</h3>
            <RateChart times={n()?.times ?? []} rate={n()?.rate ?? []} errors={n()?.errors ?? []} width={348} height={150} />
          </section>
          <section>
            <h3>Streams</h3>
            <ul class="links">
              <Show when={t().input}>
                <li>
                  in: <a href={hrefOf("streams", t().input)}>{t().input}</a>
                </li>
              </Show>
              <For each={t().outputs}>
                {(o) => (
                  <li>
                    out: <a href={hrefOf("streams", o)}>{o}</a>
                  </li>
                )}
              </For>
              <li>
                <a href={hrefOf("dlq", t().name)}>dead letters: dlq.{t().name} ({fmtCount(s()?.dlq ?? 0)})</a>
              </li>
            </ul>
          </section>
          <section>
            <h3>Settings</h3>
            <dl class="kv-grid small">
              {row("batch", String(t().settings.batchSize))}
              {row("concurrency", String(t().settings.concurrency))}
              {row("max attempts", String(t().settings.maxAttempts))}
              {row("backoff", `${t().settings.backoff.initialMs}–${t().settings.backoff.maxMs} ms ×${t().settings.backoff.factor}`)}
              {row("claim idle", fmtDuration(t().settings.claimIdleMs))}
              {row("watermarks", `${fmtCount(t().settings.lowWatermark)} / ${fmtCount(t().settings.highWatermark)}`)}
            </dl>
          </section>
          <Show when={t().config !== null && t().config !== undefined}>
            <section>
              <h3>Config</h3>
              <pre class="code">{JSON.stringify(t().config, null, 2)}</pre>
            </section>
          </Show>
        </>
      )}
    </Show>
  )
}

function EdgeDetails(props: { id: string }) {
  const e = () => live.edges[props.id]
  const s = () => (e() ? live.streams[e()!.stream] : undefined)
  const def = () => live.topology?.streams.find((x) => x.name === e()?.stream)
  return (
    <Show when={e()} fallback={<p class="muted">This stream is not in the topology any more.</p>}>
      {(edge) => (
        <>
          <header class="details-head">
            <div>
              <h2>{edge().stream}</h2>
              <p class="muted">
                {edge().from} → {edge().to ?? "(no reader)"}
              </p>
            </div>
            <span class={`pill-html health-${edge().health}`}>{HEALTH_LABEL[edge().health]}</span>
          </header>
          <p class={`reason health-${edge().health}`}>{edge().reason}</p>
          <dl class="kv-grid">
            <div class="kv">
              <dt>length</dt>
              <dd>{fmtCount(s()?.length)}</dd>
            </div>
            <div class="kv">
              <dt>lag ({edge().to ?? "–"})</dt>
              <dd>{fmtCount(edge().lag)}</dd>
            </div>
            <div class="kv">
              <dt>pending</dt>
              <dd>{fmtCount(edge().pending)}</dd>
            </div>
            <div class="kv">
              <dt>max length</dt>
              <dd>{def()?.maxLen == null ? "unbounded" : fmtCount(def()!.maxLen)}</dd>
            </div>
            <div class="kv wide">
              <dt>event type</dt>
              <dd>{def()?.eventType}</dd>
            </div>
            <div class="kv wide">
              <dt>last id</dt>
              <dd class="mono">{s()?.lastId ?? "–"}</dd>
            </div>
          </dl>
          <section>
            <h3>Consumer groups</h3>
            <Show when={(s()?.groups.length ?? 0) > 0} fallback={<p class="muted">No consumer group reads this stream.</p>}>
              <GroupTable groups={s()!.groups} highlight={edge().to} />
            </Show>
          </section>
          <p>
            <a class="btn" href={hrefOf("streams", edge().stream)}>
              Tail {edge().stream} →
            </a>
          </p>
        </>
      )}
    </Show>
  )
}

export function TopologyView() {
  const [layout, setLayout] = createSignal<Layout | null>(cached?.key === live.structureKey ? cached.layout : null)
  const [layoutError, setLayoutError] = createSignal<string | null>(null)
  createEffect(
    on(
      () => live.structureKey,
      (key) => {
        const t = currentTopology()
        if (!key || t === null || cached?.key === key) return
        layoutTopology(t)
          .then((l) => {
            cached = { key, layout: l }
            if (live.structureKey === key) setLayout(l)
            setLayoutError(null)
          })
          .catch((e) => setLayoutError(e instanceof Error ? e.message : String(e)))
      }
    )
  )
  const selection = createMemo(() => selectionOf(route().arg))
  const close = () => navigate("topology")
  const onKey = (e: KeyboardEvent) => {
    if (e.key === "Escape" && selection() && !document.querySelector("dialog[open]")) close()
  }
  addEventListener("keydown", onKey)
  onCleanup(() => removeEventListener("keydown", onKey))

  // Zoom: "fit" scales the graph into the viewport (not above 100%, not below 75%, then scroll).
  let viewport!: HTMLDivElement
  const [box, setBox] = createSignal({ width: 1200, height: 700 })
  const [zoom, setZoom] = createSignal<number | "fit">("fit")
  onMount(() => {
    const ro = new ResizeObserver(([entry]) => entry && setBox({ width: entry.contentRect.width, height: entry.contentRect.height }))
    ro.observe(viewport)
    onCleanup(() => ro.disconnect())
  })
  const scale = createMemo(() => {
    const z = zoom()
    if (z !== "fit") return z
    const l = layout()
    if (!l || l.width === 0) return 1
    // Below 75% the cards' text gets hard to read: scroll instead.
    return Math.max(0.75, Math.min(1, (box().width - 8) / l.width, (box().height - 8) / l.height))
  })
  const step = (factor: number) => setZoom(Math.max(0.25, Math.min(2, Math.round(scale() * factor * 20) / 20)))

  const nodeNames = createMemo(() => Object.keys(layout()?.nodes ?? {}))
  const edgeIds = createMemo(() => Object.keys(layout()?.edges ?? {}))

  return (
    <div class={`topology-view${selection() ? " with-details" : ""}`}>
      <div class="graph-area">
        <div class="toolbar" role="toolbar" aria-label="Graph">
          <div class="legend" aria-label="Legend">
            <span class="legend-item health-ok">ok</span>
            <span class="legend-item health-warn">backpressured / lag growing</span>
            <span class="legend-item health-error">errors / dead letters</span>
            <span class="legend-item health-idle">idle</span>
          </div>
          <span class="spacer" />
          <button class="btn btn-small" onClick={() => step(1 / 1.25)} aria-label="Zoom out">
            −
          </button>
          <button class="btn btn-small" onClick={() => setZoom("fit")} aria-pressed={zoom() === "fit"}>
            Fit
          </button>
          <button class="btn btn-small" onClick={() => setZoom(1)} aria-pressed={zoom() === 1}>
            100%
          </button>
          <button class="btn btn-small" onClick={() => step(1.25)} aria-label="Zoom in">
            +
          </button>
          <span class="muted zoom-level" aria-live="polite">
            {Math.round(scale() * 100)}%
          </span>
        </div>
        <div class="graph-viewport" ref={viewport}>
          <Show when={layoutError()}>
            <p class="banner banner-error" role="alert">
              Layout failed: {layoutError()}
            </p>
          </Show>
          <Show when={layout()} fallback={<p class="muted pad">{live.topology ? "Laying out the graph…" : "Loading the topology…"}</p>}>
            {(l) => (
              <div class="graph-stage" style={{ width: `${l().width * scale()}px`, height: `${l().height * scale()}px` }}>
                <svg
                  class="graph"
                  role="group"
                  aria-label={`Topology ${live.topology?.name ?? ""}: ${nodeNames().length} nodes, ${edgeIds().length} streams`}
                  width={l().width * scale()}
                  height={l().height * scale()}
                  style={{ position: "absolute", left: 0, top: 0 }}
                  viewBox={`0 0 ${l().width} ${l().height}`}
                >
                  <defs>
                    <For each={["ok", "warn", "error", "idle"]}>
                      {(h) => (
                        <marker id={`arrow-${h}`} class={`arrow health-${h}`} viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="11" markerHeight="11" orient="auto-start-reverse">
                          <path d="M0,0 L10,5 L0,10 z" />
                        </marker>
                      )}
                    </For>
                  </defs>
                  <g class="edges">
                    <For each={edgeIds()}>{(id) => <EdgeShape id={id} layout={l()} selected={selection()?.kind === "edge" && (selection() as { id: string }).id === id} />}</For>
                  </g>
                  <g class="nodes">
                    <For each={nodeNames()}>
                      {(name) => (
                        <NodeCard
                          name={name}
                          x={l().nodes[name]!.x}
                          y={l().nodes[name]!.y}
                          selected={selection()?.kind === "node" && (selection() as { name: string }).name === name}
                        />
                      )}
                    </For>
                  </g>
                </svg>
                <div class="spark-layer" aria-hidden="true" style={{ width: `${l().width}px`, height: `${l().height}px`, transform: `scale(${scale()})` }}>
                  <For each={nodeNames()}>{(name) => <SparkSlot name={name} x={l().nodes[name]!.x} y={l().nodes[name]!.y} />}</For>
                </div>
              </div>
            )}
          </Show>
        </div>
      </div>
      <Show when={selection()}>
        {(sel) => (
          <aside class="details" aria-label="Details">
            <button class="btn btn-icon details-close" onClick={close} aria-label="Close details (Escape)">
              ✕
            </button>
            <Show when={sel().kind === "node"} fallback={<EdgeDetails id={(sel() as { id: string }).id} />}>
              <NodeDetails name={(sel() as { name: string }).name} />
            </Show>
          </aside>
        )}
      </Show>
    </div>
  )
}
