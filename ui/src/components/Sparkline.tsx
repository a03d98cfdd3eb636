/**
 * Throughput charts with uPlot: `Sparkline` (no axes, for a node card) and `RateChart`
 * (axes and legend, for the details panel). Both redraw only when their samples change
 * (once per history sample, not per feed message), spread over frames, and rebuild on a
 * theme change.
 */
import { createEffect, on, onCleanup, onMount } from "solid-js"
import uPlot from "uplot"
import { chartColors, resolved } from "../theme.ts"

interface SeriesProps {
  readonly times: ReadonlyArray<number>
  readonly rate: ReadonlyArray<number>
  readonly errors?: ReadonlyArray<number>
}

const dataOf = (p: SeriesProps): uPlot.AlignedData =>
  p.errors ? [[...p.times], [...p.rate], [...p.errors]] : [[...p.times], [...p.rate]]

/**
 * Redraws share a per-frame time budget: every node takes its history sample from the
 * same snapshot, and 50 canvases redrawn in one task would be one long stall each second.
 * Queued redraws keep only their newest data.
 */
const queue = new Map<uPlot, uPlot.AlignedData>()
let frame: number | undefined
const BUDGET_MS = 4
const drain = () => {
  frame = undefined
  const start = performance.now()
  for (const [chart, data] of queue) {
    queue.delete(chart)
    chart.setData(data)
    if (performance.now() - start > BUDGET_MS) break
  }
  if (queue.size > 0) frame = requestAnimationFrame(drain)
}
const redraw = (chart: uPlot, data: uPlot.AlignedData) => {
  queue.set(chart, data)
  frame ??= requestAnimationFrame(drain)
}

const useChart = (el: () => HTMLDivElement, props: SeriesProps, build: (colors: ReturnType<typeof chartColors>) => uPlot.Options) => {
  let chart: uPlot | undefined
  const destroy = () => {
    if (chart) queue.delete(chart)
    chart?.destroy()
  }
  const create = () => {
    destroy()
    chart = new uPlot(build(chartColors()), dataOf(props), el())
  }
  onMount(() => {
    create()
    createEffect(on(resolved, create, { defer: true }))
    // Reading every sample subscribes to the history; it changes about once a second.
    createEffect(on(() => dataOf(props), (data) => chart && redraw(chart, data), { defer: true }))
  })
  onCleanup(destroy)
}

export function Sparkline(props: SeriesProps & { readonly width: number; readonly height: number }) {
  let el!: HTMLDivElement
  useChart(() => el, props, (c) => ({
    width: props.width,
    height: props.height,
    pxAlign: 0,
    cursor: { show: false },
    legend: { show: false },
    select: { show: false, left: 0, top: 0, width: 0, height: 0 },
    axes: [{ show: false }, { show: false }],
    scales: { x: { time: false }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.15)] } },
    series: [{}, { stroke: c.rate, fill: c.rateFill, width: 1.5, points: { show: false } }]
  }))
  return <div class="sparkline" ref={el} aria-hidden="true" />
}

export function RateChart(props: SeriesProps & { readonly width: number; readonly height: number }) {
  let el!: HTMLDivElement
  useChart(() => el, props, (c) => ({
    width: props.width,
    height: props.height,
    cursor: { drag: { x: false, y: false } },
    legend: { show: true, live: true },
    axes: [
      { stroke: c.axis, grid: { stroke: c.grid }, ticks: { stroke: c.grid } },
      { stroke: c.axis, grid: { stroke: c.grid }, ticks: { stroke: c.grid }, size: 44 }
    ],
    scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.15)] } },
    series: [
      {},
      { label: "msgs/s", stroke: c.rate, fill: c.rateFill, width: 2, points: { show: false }, value: (_u, v) => (v == null ? "–" : v.toFixed(1)) },
      { label: "errors/s", stroke: c.errors, width: 1.5, points: { show: false }, value: (_u, v) => (v == null ? "–" : v.toFixed(2)) }
    ]
  }))
  return <div class="rate-chart" ref={el} role="img" aria-label="Throughput and errors per second over the last minute" />
}
