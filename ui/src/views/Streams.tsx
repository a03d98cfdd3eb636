/**
 * Streams: pick a stream, tail its newest entries (polled every second while "Live" is
 * on), open one to read the whole envelope with `data` pretty-printed, and see each
 * consumer group's consumers with their pending counts and idle times.
 */
import { createEffect, createMemo, createSignal, For, on, onCleanup, Show } from "solid-js"
import { createStore, reconcile } from "solid-js/store"
import { api, describeApiError } from "../api.ts"
import type { Entry } from "../../../operators/api/contract.ts"
import { live } from "../live.ts"
import { hrefOf } from "../route.ts"
import { fmtCount, prettyData, streamIdTime } from "../state.ts"
import { GroupTable } from "./Topology.tsx"

const ENVELOPE_ORDER = ["eventType", "eventId", "timestamp", "source", "version", "correlationId"]

const timeOf = (id: string) => {
  const t = streamIdTime(id)
  return t ? t.toLocaleTimeString(undefined, { hour12: false }) + `.${String(t.getMilliseconds()).padStart(3, "0")}` : "–"
}

const summaryOf = (e: Entry, dlq: boolean) => {
  if (dlq) return e.fields["dlq.error"] ?? ""
  const data = e.fields["data"] ?? ""
  return data.length > 120 ? `${data.slice(0, 119)}…` : data
}

export function EnvelopeView(props: { entry: Entry }) {
  const fields = createMemo(() => {
    const f = props.entry.fields
    const keys = Object.keys(f).filter((k) => k !== "data")
    keys.sort((a, b) => {
      const ia = ENVELOPE_ORDER.indexOf(a)
      const ib = ENVELOPE_ORDER.indexOf(b)
      return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b)
    })
    return keys.map((k) => [k, f[k]!] as const)
  })
  return (
    <>
      <table class="table compact fields">
        <caption class="sr-only">Envelope fields</caption>
        <tbody>
          <tr>
            <th scope="row">id</th>
            <td class="mono">{props.entry.id}</td>
          </tr>
          <For each={fields()}>
            {([k, v]) => (
              <tr>
                <th scope="row">{k}</th>
                <td class="mono wrap">{v}</td>
              </tr>
            )}
          </For>
        </tbody>
      </table>
      <Show when={props.entry.fields["data"] !== undefined}>
        <h4>data</h4>
        <pre class="code" tabindex={0} aria-label="data, decoded">
          {prettyData(props.entry.fields["data"])}
        </pre>
      </Show>
    </>
  )
}

export function StreamsView(props: { stream: string | null }) {
  const streams = createMemo(() => live.topology?.streams.map((s) => s.name) ?? [])
  const dlqStreams = createMemo(() => live.topology?.nodes.map((n) => `dlq.${n.name}`) ?? [])
  const stream = createMemo(() => props.stream ?? streams()[0] ?? null)
  const isDlq = () => stream()?.startsWith("dlq.") ?? false

  const [entries, setEntries] = createStore<{ list: Array<Entry> }>({ list: [] })
  const [error, setError] = createSignal<string | null>(null)
  const [liveTail, setLiveTail] = createSignal(true)
  const [count, setCount] = createSignal(50)
  const [openId, setOpenId] = createSignal<string | null>(null)
  const [opened, setOpened] = createSignal<Entry | null>(null)
  const [loadedAt, setLoadedAt] = createSignal<Date | null>(null)

  let inflight: AbortController | undefined
  const poll = async () => {
    const s = stream()
    if (s === null) return
    inflight?.abort()
    const controller = new AbortController()
    inflight = controller
    try {
      const r = await api.entries(s, count(), controller.signal)
      if (controller.signal.aborted || s !== stream()) return
      setEntries("list", reconcile([...r.entries], { key: "id" }))
      setError(null)
      setLoadedAt(new Date())
      const id = openId()
      const found = id === null ? undefined : r.entries.find((e) => e.id === id)
      if (found) setOpened(found)
    } catch (e) {
      if (!controller.signal.aborted) setError(describeApiError(e))
    }
  }

  createEffect(
    on([stream, count], () => {
      setEntries("list", [])
      setOpenId(null)
      setOpened(null)
      void poll()
    })
  )
  createEffect(() => {
    if (!liveTail()) return
    const timer = setInterval(() => void poll(), 1_000)
    onCleanup(() => clearInterval(timer))
  })
  onCleanup(() => inflight?.abort())

  const stats = () => (stream() ? live.streams[stream()!] : undefined)
  const dlqLength = (s: string) => live.nodes[s.slice(4)]?.stats?.dlq ?? 0
  const maxLag = (s: string) => Math.max(0, ...(live.streams[s]?.groups.map((g) => (g.lag ?? 0) + g.pending) ?? [0]))

  return (
    <div class="split">
      <nav class="sidebar" aria-label="Streams">
        <h2 class="sidebar-title">Streams</h2>
        <ul class="pick-list">
          <For each={streams()}>
            {(s) => (
              <li>
                <a href={hrefOf("streams", s)} aria-current={s === stream() ? "page" : undefined} class="pick">
                  <span class="pick-name">{s}</span>
                  <span class="pick-meta" title="length · largest backlog (lag + pending)">
                    {fmtCount(live.streams[s]?.length)}
                    <Show when={maxLag(s) > 0}>
                      <span class="count count-warn">{fmtCount(maxLag(s))}</span>
                    </Show>
                  </span>
                </a>
              </li>
            )}
          </For>
        </ul>
        <h2 class="sidebar-title">Dead-letter streams</h2>
        <ul class="pick-list">
          <For each={dlqStreams()}>
            {(s) => (
              <li>
                <a href={hrefOf("streams", s)} aria-current={s === stream() ? "page" : undefined} class="pick">
                  <span class="pick-name">{s}</span>
                  <span class="pick-meta">
                    <Show when={dlqLength(s) > 0} fallback={<span class="muted">0</span>}>
                      <span class="count count-error">{fmtCount(dlqLength(s))}</span>
                    </Show>
                  </span>
                </a>
              </li>
            )}
          </For>
        </ul>
      </nav>
      <section class="content" aria-label={`Stream ${stream() ?? ""}`}>
        <Show when={stream()} fallback={<p class="muted pad">The topology has no streams.</p>}>
          <header class="content-head">
            <div>
              <h2 class="mono">{stream()}</h2>
              <p class="muted">
                <Show when={!isDlq()} fallback={<>dead letters of {stream()!.slice(4)} · {fmtCount(dlqLength(stream()!))} entries</>}>
                  length {fmtCount(stats()?.length)} · last id <span class="mono">{stats()?.lastId ?? "–"}</span>
                </Show>
              </p>
            </div>
            <div class="actions">
              <label class="inline">
                show
                <select value={count()} onChange={(e) => setCount(Number(e.currentTarget.value))} aria-label="Entries to show">
                  <For each={[25, 50, 100, 200]}>{(n) => <option value={n}>{n}</option>}</For>
                </select>
              </label>
              <button class="btn" aria-pressed={liveTail()} onClick={() => setLiveTail(!liveTail())} title="Poll the newest entries every second">
                <span class={liveTail() ? "dot dot-live" : "dot"} aria-hidden="true" /> {liveTail() ? "Live" : "Paused"}
              </button>
              <button class="btn" onClick={() => void poll()}>
                Refresh
              </button>
            </div>
          </header>
          <Show when={error()}>
            <p class="banner banner-error" role="alert">
              {error()}
            </p>
          </Show>
          <Show when={!isDlq()}>
            <section class="card" aria-label="Consumer groups">
              <h3>Consumer groups</h3>
              <Show when={(stats()?.groups.length ?? 0) > 0} fallback={<p class="muted">No consumer group reads this stream.</p>}>
                <GroupTable groups={stats()!.groups} />
              </Show>
            </section>
          </Show>
          <div class="tail-and-detail">
            <section class="card tail" aria-label="Newest entries">
              <h3>
                Newest entries <span class="muted small">{loadedAt() ? `updated ${loadedAt()!.toLocaleTimeString(undefined, { hour12: false })}` : ""}</span>
              </h3>
              <div class="table-scroll">
                <table class="table entries">
                  <thead>
                    <tr>
                      <th scope="col">id</th>
                      <th scope="col">time</th>
                      <th scope="col">{isDlq() ? "operator" : "event type"}</th>
                      <th scope="col">{isDlq() ? "error" : "data"}</th>
                    </tr>
                  </thead>
                  <tbody>
                    <For each={entries.list} fallback={<tr><td colspan={4} class="muted">No entries.</td></tr>}>
                      {(e) => (
                        <tr class={openId() === e.id ? "selected" : ""} data-entry={e.id}>
                          <td>
                            <button
                              class="link mono"
                              aria-expanded={openId() === e.id}
                              onClick={() => {
                                setOpenId(e.id)
                                setOpened(e)
                              }}
                            >
                              {e.id}
                            </button>
                          </td>
                          <td class="mono nowrap">{timeOf(e.id)}</td>
                          <td class="nowrap">{isDlq() ? e.fields["dlq.operator"] : e.fields["eventType"]}</td>
                          <td class="mono ellipsis">{summaryOf(e, isDlq())}</td>
                        </tr>
                      )}
                    </For>
                  </tbody>
                </table>
              </div>
            </section>
            <Show when={opened()}>
              {(e) => (
                <section class="card entry-detail" aria-label={`Entry ${e().id}`}>
                  <header class="content-head">
                    <h3 class="mono">{e().id}</h3>
                    <button class="btn btn-icon" onClick={() => (setOpenId(null), setOpened(null))} aria-label="Close entry">
                      ✕
                    </button>
                  </header>
                  <EnvelopeView entry={e()} />
                </section>
              )}
            </Show>
          </div>
        </Show>
      </section>
    </div>
  )
}
