/**
 * The feedback loop at a glance: per listing, what the marketplace counted per day
 * (a uPlot chart of the selected listing); the A/B experiments with each variant's
 * posterior density and P(best); the daily promotion allocation; and the scoring weight
 * versions with the learner's decision per day (the held-out figures that promoted a set,
 * or why a candidate was refused).
 */
import { createEffect, createMemo, createResource, createSignal, For, type JSX, on, onCleanup, Show } from "solid-js"
import uPlot from "uplot"
import type { ExperimentSummary, FeedbackListing } from "../../../operators/api/contract.ts"
import { api, describeApiError } from "../api.ts"
import { chartColors, resolved } from "../theme.ts"

const KIND_COLORS: Record<string, string> = { view: "#3b82f6", favorite: "#e11d48", sale: "#16a34a", click: "#f59e0b", add_to_cart: "#8b5cf6" }
const PALETTE = ["#3b82f6", "#e11d48", "#16a34a", "#f59e0b", "#8b5cf6", "#0ea5e9"]

/** A line chart that rebuilds when its data or the theme changes. */
function Chart(props: { readonly data: () => uPlot.AlignedData; readonly series: () => ReadonlyArray<{ label: string; color: string }>; readonly time: boolean; readonly label: string; readonly xLabel?: string }) {
  let el!: HTMLDivElement
  let chart: uPlot | undefined
  const build = () => {
    chart?.destroy()
    const c = chartColors()
    chart = new uPlot(
      {
        width: Math.max(320, Math.min(720, el.clientWidth || 640)),
        height: 220,
        legend: { show: true },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: props.time } },
        axes: [
          { stroke: c.axis, grid: { stroke: c.grid }, ticks: { stroke: c.grid }, ...(props.xLabel ? { label: props.xLabel } : {}) },
          { stroke: c.axis, grid: { stroke: c.grid }, ticks: { stroke: c.grid }, size: 50 }
        ],
        series: [{}, ...props.series().map((s) => ({ label: s.label, stroke: s.color, width: 2, points: { show: props.time } }))]
      },
      props.data(),
      el
    )
  }
  createEffect(on([props.data, resolved], build))
  onCleanup(() => chart?.destroy())
  return <div class="feedback-chart" ref={el} role="img" aria-label={props.label} />
}

const percent = (x: number) => `${(x * 100).toFixed(1)}%`
const money = (cents: number) => `$${(cents / 100).toFixed(2)}`

function ListingMetrics(props: { readonly listings: ReadonlyArray<FeedbackListing> }) {
  const [selected, setSelected] = createSignal<string | null>(null)
  const current = createMemo(() => props.listings.find((l) => l.listingId === selected()) ?? props.listings[0])
  const kinds = createMemo(() => [...new Set((current()?.series ?? []).map((p) => p.kind))].sort())
  const data = createMemo((): uPlot.AlignedData => {
    const l = current()
    if (l === undefined) return [[]]
    const days = [...new Set(l.series.map((p) => p.day))].sort()
    return [days.map((d) => Date.parse(`${d}T00:00:00Z`) / 1000), ...kinds().map((k) => days.map((d) => l.series.find((p) => p.day === d && p.kind === k)?.value ?? 0))]
  })
  return (
    <section class="feedback-section" aria-labelledby="fb-listings">
      <h2 id="fb-listings">Listings: what the marketplaces counted</h2>
      <Show when={props.listings.length > 0} fallback={<p class="muted">No feedback yet. It arrives from Etsy (ETSY_*), Printify order webhooks, or a CSV report import.</p>}>
        <table class="table" aria-label="Listings with feedback">
          <thead>
            <tr><th>Listing</th><th>Marketplace</th><th>Views</th><th>Favourites</th><th>Sales</th></tr>
          </thead>
          <tbody>
            <For each={props.listings}>
              {(l) => (
                <tr classList={{ selected: current()?.listingId === l.listingId }} onClick={() => setSelected(l.listingId)} style={{ cursor: "pointer" }}>
                  <td><button class="link" onClick={() => setSelected(l.listingId)}>{l.title}</button></td>
                  <td>{l.marketplace}{l.externalId ? ` #${l.externalId}` : ""}</td>
                  <td class="num">{l.totals["view"] ?? 0}</td>
                  <td class="num">{l.totals["favorite"] ?? 0}</td>
                  <td class="num">{l.totals["sale"] ?? 0}</td>
                </tr>
              )}
            </For>
          </tbody>
        </table>
        <h3>{current()?.title}: per day</h3>
        <Chart data={data} series={() => kinds().map((k) => ({ label: k, color: KIND_COLORS[k] ?? "#64748b" }))} time label={`Feedback per day for ${current()?.title ?? ""}`} />
      </Show>
    </section>
  )
}

function ExperimentCard(props: { readonly experiment: ExperimentSummary }) {
  const e = () => props.experiment
  const data = createMemo((): uPlot.AlignedData => {
    const arms = e().arms
    if (arms.length === 0) return [[]]
    return [arms[0]!.curve.map(([x]) => x), ...arms.map((a) => a.curve.map(([, y]) => y))]
  })
  return (
    <article class="card experiment" aria-label={`Experiment ${e().name}`}>
      <header>
        <strong>{e().name}</strong> <span class={`chip ${e().status === "running" ? "chip-ok" : "chip-idle"}`}>{e().status}</span>{" "}
        <span class="muted">{e().metric === "ctr" ? "favourites + clicks per view" : "sales per view"}; stops at P(best) ≥ {e().threshold} or after {e().horizonDays} days</span>
      </header>
      <Show when={e().status === "stopped"} fallback={<p>Showing now: <strong>{e().showing ?? "–"}</strong></p>}>
        <p>Winner: <strong>{e().winner}</strong>. {e().stopReason}</p>
      </Show>
      <table class="table" aria-label={`Variants of ${e().name}`}>
        <thead>
          <tr><th>Variant</th><th>Views</th><th>Successes</th><th>Rate</th><th>Posterior</th><th>P(best)</th></tr>
        </thead>
        <tbody>
          <For each={e().arms}>
            {(a) => (
              <tr>
                <td>{a.label}</td>
                <td class="num">{a.trials}</td>
                <td class="num">{a.successes}</td>
                <td class="num">{a.trials > 0 ? percent(a.successes / a.trials) : "–"}</td>
                <td class="num">Beta({a.alpha}, {a.beta})</td>
                <td class="num p-best">{percent(a.pBest)}</td>
              </tr>
            )}
          </For>
        </tbody>
      </table>
      <Chart data={data} series={() => e().arms.map((a, i) => ({ label: a.label, color: PALETTE[i % PALETTE.length]! }))} time={false} xLabel="rate" label={`Posterior densities of ${e().name}`} />
    </article>
  )
}

export function FeedbackView(): JSX.Element {
  const [listings, { refetch: r1 }] = createResource(() => api.feedbackListings())
  const [experiments, { refetch: r2 }] = createResource(() => api.experiments())
  const [allocations, { refetch: r3 }] = createResource(() => api.allocations())
  const [weights, { refetch: r4 }] = createResource(() => api.weights())
  const refresh = () => void Promise.all([r1(), r2(), r3(), r4()])
  const error = () => [listings, experiments, allocations, weights].map((r) => r.error).find((e) => e !== undefined)
  const figure = (f: Record<string, unknown>, key: string) => {
    const v = (f[key] as { validationNdcg?: number | null } | undefined)?.validationNdcg
    return v === undefined || v === null ? "–" : v.toFixed(3)
  }
  return (
    <main class="view feedback-view" aria-label="Feedback">
      <div class="toolbar">
        <button class="btn" onClick={refresh}>Refresh</button>
      </div>
      <Show when={error()}>
        <div class="banner banner-error" role="alert">{describeApiError(error())}</div>
      </Show>
      <Show when={listings()}>{(l) => <ListingMetrics listings={l().listings} />}</Show>

      <section class="feedback-section" aria-labelledby="fb-experiments">
        <h2 id="fb-experiments">A/B micro-tests</h2>
        <Show when={(experiments()?.experiments.length ?? 0) > 0} fallback={<p class="muted">No experiments. Start one with POST /api/feedback/experiments.</p>}>
          <For each={experiments()?.experiments}>{(e) => <ExperimentCard experiment={e} />}</For>
        </Show>
      </section>

      <section class="feedback-section" aria-labelledby="fb-budget">
        <h2 id="fb-budget">Promotion budget by day</h2>
        <Show when={(allocations()?.allocations.length ?? 0) > 0} fallback={<p class="muted">No allocation yet.</p>}>
          <table class="table" aria-label="Daily allocation">
            <thead>
              <tr><th>Day</th><th>Listing</th><th>Budget</th><th>P(best)</th><th>Posterior</th></tr>
            </thead>
            <tbody>
              <For each={allocations()?.allocations}>
                {(a) => (
                  <tr>
                    <td>{a.day}</td>
                    <td>{a.title}</td>
                    <td class="num">{money(a.amountCents)}</td>
                    <td class="num">{percent(a.pBest)}</td>
                    <td class="num">Beta({a.alpha}, {a.beta})</td>
                  </tr>
                )}
              </For>
            </tbody>
          </table>
        </Show>
      </section>

      <section class="feedback-section" aria-labelledby="fb-weights">
        <h2 id="fb-weights">Scoring weights</h2>
        <table class="table" aria-label="Weight versions">
          <thead>
            <tr><th>Version</th><th>Freshness</th><th>Engagement</th><th>Novelty</th><th>Community fit</th><th>Seasonality</th><th>Promoted</th><th>Note</th></tr>
          </thead>
          <tbody>
            <For each={weights()?.versions}>
              {(v) => (
                <tr>
                  <td>v{v.version}</td>
                  <td class="num">{v.weights.freshness.toFixed(2)}</td>
                  <td class="num">{v.weights.engagement.toFixed(2)}</td>
                  <td class="num">{v.weights.novelty.toFixed(2)}</td>
                  <td class="num">{v.weights.communityFit.toFixed(2)}</td>
                  <td class="num">{v.weights.seasonality.toFixed(2)}</td>
                  <td>{v.promoted ? "yes" : "no"}</td>
                  <td>{v.note}</td>
                </tr>
              )}
            </For>
          </tbody>
        </table>
        <h3>Learner decisions</h3>
        <Show when={(weights()?.runs.length ?? 0) > 0} fallback={<p class="muted">The learner has not run: it learns once a day of feedback has closed.</p>}>
          <table class="table" aria-label="Learner runs">
            <thead>
              <tr><th>Day</th><th>Ideas</th><th>Held-out NDCG: candidate</th><th>current</th><th>baseline</th><th>Decision</th></tr>
            </thead>
            <tbody>
              <For each={weights()?.runs}>
                {(r) => (
                  <tr>
                    <td>{r.day}</td>
                    <td class="num">{r.items}</td>
                    <td class="num">{figure(r.figures, "winner")}</td>
                    <td class="num">{figure(r.figures, "current")}</td>
                    <td class="num">{figure(r.figures, "baseline")}</td>
                    <td>{r.reason}</td>
                  </tr>
                )}
              </For>
            </tbody>
          </table>
        </Show>
      </section>
    </main>
  )
}
