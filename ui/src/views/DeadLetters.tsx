/**
 * Dead letters per operator: what failed, why, after how many attempts, and when;
 * the original entry; requeue (back onto the operator's input, fresh attempts) or drop,
 * one or all. Dropping, and anything "all", asks first. Mutations need the API token
 * (Settings); a 401 says so instead of failing quietly.
 */
import { createEffect, createMemo, createSignal, For, on, onCleanup, Show } from "solid-js"
import { createStore, reconcile } from "solid-js/store"
import { api, ApiError, describeApiError } from "../api.ts"
import type { DeadLetter, DlqAction, DlqSelection } from "../../../operators/api/contract.ts"
import { ActionErrorBanner, confirmAction, hasToken, openSettings } from "../components/Dialogs.tsx"
import { live } from "../live.ts"
import { hrefOf } from "../route.ts"
import { fmtCount } from "../state.ts"
import { EnvelopeView } from "./Streams.tsx"

const when = (iso: string) => {
  const t = Date.parse(iso)
  return Number.isNaN(t) ? iso : new Date(t).toLocaleString(undefined, { hour12: false })
}

export function DeadLettersView(props: { operator: string | null }) {
  const nodes = createMemo(() => live.topology?.nodes ?? [])
  const byCount = createMemo(() => [...nodes()].sort((a, b) => (live.nodes[b.name]?.stats?.dlq ?? 0) - (live.nodes[a.name]?.stats?.dlq ?? 0)))
  const operator = createMemo(() => props.operator ?? byCount()[0]?.name ?? null)
  const node = () => nodes().find((n) => n.name === operator())
  const isSource = () => node()?.type === "source"
  const dlqCount = () => (operator() ? (live.nodes[operator()!]?.stats?.dlq ?? 0) : 0)

  const [letters, setLetters] = createStore<{ list: Array<DeadLetter> }>({ list: [] })
  const [loading, setLoading] = createSignal(false)
  const [loadError, setLoadError] = createSignal<string | null>(null)
  const [actionError, setActionError] = createSignal<{ text: string; unauthorized: boolean } | null>(null)
  const [result, setResult] = createSignal<string | null>(null)
  const [busy, setBusy] = createSignal(false)
  const [inspect, setInspect] = createSignal<string | null>(null)

  const load = async () => {
    const op = operator()
    if (op === null) return
    setLoading(true)
    try {
      const r = await api.deadLetters(op, 200)
      if (op !== operator()) return
      setLetters("list", reconcile([...r.entries], { key: "id" }))
      setLoadError(null)
    } catch (e) {
      setLoadError(describeApiError(e))
    } finally {
      setLoading(false)
    }
  }
  createEffect(
    on(operator, () => {
      setLetters("list", [])
      setInspect(null)
      setResult(null)
      setActionError(null)
      void load()
    })
  )
  // The feed says when the count changes; refetch then (and every 5 s as a fallback).
  createEffect(on(dlqCount, () => void load(), { defer: true }))
  const timer = setInterval(() => void load(), 5_000)
  onCleanup(() => clearInterval(timer))

  const act = async (action: DlqAction, selection: DlqSelection, what: string) => {
    const op = operator()
    if (op === null) return
    const all = "all" in selection
    if (action === "drop" || all) {
      const ok = await confirmAction({
        title: `${action === "drop" ? "Drop" : "Requeue"} ${what}?`,
        body:
          action === "drop" ? (
            <p>
              {what[0]!.toUpperCase() + what.slice(1)} will be deleted from <code>dlq.{op}</code>. This cannot be undone.
            </p>
          ) : (
            <p>
              {what[0]!.toUpperCase() + what.slice(1)} will go back onto <code>{node()?.input}</code> for <strong>{op}</strong> with fresh attempts. If the
              cause is not fixed they will fail again and return here.
            </p>
          ),
        confirmLabel: action === "drop" ? `Drop ${all ? "all" : ""}`.trim() : "Requeue all",
        danger: action === "drop"
      })
      if (!ok) return
    }
    setBusy(true)
    setResult(null)
    setActionError(null)
    try {
      const r = await api.dlqAction(op, action, selection)
      const n = "requeued" in r ? r.requeued : r.dropped
      setResult(
        action === "requeue"
          ? `Requeued ${n} dead letter${n === 1 ? "" : "s"} onto ${node()?.input ?? "the input stream"}.`
          : `Dropped ${n} dead letter${n === 1 ? "" : "s"}.`
      )
      if (inspect() !== null && ("all" in selection || selection.ids.includes(inspect()!))) setInspect(null)
      await load()
    } catch (e) {
      setActionError({ text: describeApiError(e), unauthorized: e instanceof ApiError && e.unauthorized })
    } finally {
      setBusy(false)
    }
  }

  const inspected = () => letters.list.find((l) => l.id === inspect())

  return (
    <div class="split">
      <nav class="sidebar" aria-label="Operators">
        <h2 class="sidebar-title">Dead letters by node</h2>
        <ul class="pick-list">
          <For each={byCount()}>
            {(n) => (
              <li>
                <a href={hrefOf("dlq", n.name)} aria-current={n.name === operator() ? "page" : undefined} class="pick" data-dlq-operator={n.name}>
                  <span class="pick-name">{n.name}</span>
                  <span class="pick-meta">
                    <Show when={(live.nodes[n.name]?.stats?.dlq ?? 0) > 0} fallback={<span class="muted">0</span>}>
                      <span class="count count-error">{fmtCount(live.nodes[n.name]?.stats?.dlq)}</span>
                    </Show>
                  </span>
                </a>
              </li>
            )}
          </For>
        </ul>
      </nav>
      <section class="content" aria-label={`Dead letters of ${operator() ?? ""}`}>
        <Show when={operator()} fallback={<p class="muted pad">No nodes.</p>}>
          <header class="content-head">
            <div>
              <h2>
                <span class="mono">dlq.{operator()}</span>{" "}
                <span class="count count-error big" data-testid="dlq-count" aria-label={`${letters.list.length} dead letters`}>
                  {letters.list.length}
                </span>
              </h2>
              <p class="muted">
                {isSource() ? "failed polls of this source (they cannot be requeued)" : <>entries of {node()?.input} that {operator()} could not process</>}
                <Show when={dlqCount() > letters.list.length && letters.list.length >= 200}> · showing the newest {letters.list.length} of {fmtCount(dlqCount())}</Show>
              </p>
            </div>
            <div class="actions">
              <Show when={!hasToken()}>
                <button class="btn btn-ghost" onClick={openSettings} title="Requeue and drop need the API token">
                  Set token…
                </button>
              </Show>
              <button class="btn" onClick={() => void load()} disabled={loading()}>
                Refresh
              </button>
              <Show when={!isSource()}>
                <button class="btn" disabled={busy() || letters.list.length === 0} onClick={() => void act("requeue", { all: true }, `all dead letters of ${operator()}`)}>
                  Requeue all
                </button>
              </Show>
              <button class="btn btn-danger-outline" disabled={busy() || letters.list.length === 0} onClick={() => void act("drop", { all: true }, `all dead letters of ${operator()}`)}>
                Drop all
              </button>
            </div>
          </header>
          <Show when={actionError()}>{(err) => <ActionErrorBanner error={err()} testId="action-error" />}</Show>
          <Show when={loadError()}>
            <p class="banner banner-error" role="alert">
              {loadError()}
            </p>
          </Show>
          <Show when={result()}>
            <p class="banner banner-ok" role="status">
              {result()}
            </p>
          </Show>
          <div class="tail-and-detail stacked">
            <section class="card tail" aria-label="Dead letters">
              <div class="table-scroll">
                <table class="table dlq">
                  <thead>
                    <tr>
                      <th scope="col">failed at</th>
                      <th scope="col">error</th>
                      <th scope="col">reason</th>
                      <th scope="col" class="num">attempts</th>
                      <th scope="col">original id</th>
                      <th scope="col">
                        <span class="sr-only">actions</span>
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    <For
                      each={letters.list}
                      fallback={
                        <tr>
                          <td colspan={6} class="empty">
                            {loading() ? "Loading…" : "No dead letters."}
                          </td>
                        </tr>
                      }
                    >
                      {(l) => (
                        <tr class={inspect() === l.id ? "selected" : ""} data-dead-letter={l.id}>
                          <td class="nowrap">{when(l.failedAt)}</td>
                          <td class="error-text" title={l.error}>
                            {l.error}
                          </td>
                          <td>
                            <span class={`tag reason-${l.reason}`}>{l.reason}</span>
                          </td>
                          <td class="num">{l.attempts}</td>
                          <td class="mono nowrap">{l.originalId}</td>
                          <td class="row-actions">
                            <button class="btn btn-small" aria-expanded={inspect() === l.id} onClick={() => setInspect(inspect() === l.id ? null : l.id)}>
                              Inspect
                            </button>
                            <Show when={!isSource()}>
                              <button class="btn btn-small" disabled={busy()} onClick={() => void act("requeue", { ids: [l.id] }, "this dead letter")}>
                                Requeue
                              </button>
                            </Show>
                            <button class="btn btn-small btn-danger-outline" disabled={busy()} onClick={() => void act("drop", { ids: [l.id] }, "this dead letter")}>
                              Drop
                            </button>
                          </td>
                        </tr>
                      )}
                    </For>
                  </tbody>
                </table>
              </div>
            </section>
            <Show when={inspected()}>
              {(l) => (
                <section class="card entry-detail" aria-label={`Dead letter ${l().id}`}>
                  <header class="content-head">
                    <h3>Original entry</h3>
                    <button class="btn btn-icon" onClick={() => setInspect(null)} aria-label="Close">
                      ✕
                    </button>
                  </header>
                  <p class="error-block">{l().error}</p>
                  <p class="muted small">
                    from <span class="mono">{l().stream}</span> id <span class="mono">{l().originalId}</span> · {l().reason} after {l().attempts} attempt
                    {l().attempts === 1 ? "" : "s"}
                  </p>
                  <EnvelopeView entry={{ id: l().originalId, fields: l().fields }} />
                </section>
              )}
            </Show>
          </div>
        </Show>
      </section>
    </div>
  )
}
