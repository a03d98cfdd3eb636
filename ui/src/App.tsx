/**
 * The shell: header (topology, feed status, health summary, theme, settings), the view
 * tabs, and the current view. Keys: 1-5 switch views (outside text fields); the tabs
 * follow the ARIA tabs pattern (arrow keys, Home/End).
 */
import { createEffect, createMemo, For, type JSX, Match, onCleanup, Show, Switch } from "solid-js"
import { ConfirmDialog, hasToken, openSettings, SettingsDialog } from "./components/Dialogs.tsx"
import { feed, live, loadTopology, topologyError } from "./live.ts"
import { hrefOf, navigate, route, type View, VIEWS } from "./route.ts"
import { summarize } from "./state.ts"
import { resolved, toggleTheme } from "./theme.ts"
import { DeadLettersView } from "./views/DeadLetters.tsx"
import { FeedbackView } from "./views/Feedback.tsx"
import { IdeasView } from "./views/Ideas.tsx"
import { StreamsView } from "./views/Streams.tsx"
import { TopologyView } from "./views/Topology.tsx"

const LABELS: Record<View, string> = { topology: "Topology", streams: "Streams", dlq: "Dead letters", ideas: "Ideas", feedback: "Feedback" }

function FeedStatus() {
  const text = createMemo(() => {
    const s = feed.status()
    if (s.state === "open") return "live"
    if (s.state === "connecting") return "connecting…"
    return `reconnecting (attempt ${s.attempt})`
  })
  return (
    <span class={`feed feed-${feed.status().state}`} role="status" aria-live="polite" title="Server-Sent Events feed /api/events">
      <span class="dot" aria-hidden="true" />
      {text()}
      <Show when={feed.status().state === "retrying"}>
        <button class="btn btn-small" onClick={() => feed.reconnect()}>
          Retry now
        </button>
      </Show>
    </span>
  )
}

function Summary() {
  const s = createMemo(() => summarize(live))
  return (
    <div class="summary" aria-label="Health summary">
      <Show when={s().ok > 0 || s().idle === 0}>
        <span class="chip chip-ok" title="operators and sources running normally">
          {s().ok} ok
        </span>
      </Show>
      <Show when={s().idle > 0}>
        <span class="chip chip-idle" title="nothing flowing through them right now">
          {s().idle} idle
        </span>
      </Show>
      <Show when={s().warn > 0}>
        <span class="chip chip-warn" title="backpressured or with a growing input lag">
          {s().warn} warn
        </span>
      </Show>
      <Show when={s().error > 0}>
        <span class="chip chip-error" title="failing or with dead letters">
          {s().error} error
        </span>
      </Show>
      <Show when={s().dlq > 0}>
        <a class="chip chip-error" href={hrefOf("dlq")} title="dead letters in all operators">
          {s().dlq} dead letters
        </a>
      </Show>
    </div>
  )
}

export function App(): JSX.Element {
  void loadTopology(true)
  createEffect(() => {
    document.documentElement.dataset["theme"] = resolved()
  })

  const onKey = (e: KeyboardEvent) => {
    if (e.altKey || e.ctrlKey || e.metaKey) return
    const target = e.target as HTMLElement | null
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return
    if (document.querySelector("dialog[open]")) return
    const i = Number(e.key) - 1
    if (Number.isInteger(i) && i >= 0 && i < VIEWS.length) navigate(VIEWS[i]!)
  }
  addEventListener("keydown", onKey)
  onCleanup(() => removeEventListener("keydown", onKey))

  const dlqTotal = createMemo(() => summarize(live).dlq)
  const tabKeys = (e: KeyboardEvent, i: number) => {
    const next = e.key === "ArrowRight" ? i + 1 : e.key === "ArrowLeft" ? i - 1 : e.key === "Home" ? 0 : e.key === "End" ? VIEWS.length - 1 : null
    if (next === null) return
    e.preventDefault()
    const view = VIEWS[(next + VIEWS.length) % VIEWS.length]!
    navigate(view)
    document.getElementById(`tab-${view}`)?.focus()
  }

  return (
    <div class="app">
      <header class="topbar">
        <div class="brand">
          <span class="logo" aria-hidden="true">
            d
          </span>
          <span class="brand-name">desAInz</span>
          <Show when={live.topology}>
            <span class="topology-name" title="topology">
              {live.topology!.name}
            </span>
          </Show>
          <Show when={live.transport}>
            <span class="badge" title="stream transport">
              {live.transport}
            </span>
          </Show>
        </div>
        <nav class="tabs" role="tablist" aria-label="Views">
          <For each={VIEWS}>
            {(view, i) => (
              <a
                id={`tab-${view}`}
                role="tab"
                href={hrefOf(view)}
                aria-selected={route().view === view}
                aria-controls="panel"
                tabindex={route().view === view ? 0 : -1}
                class="tab"
                onKeyDown={(e) => tabKeys(e, i())}
                title={`${LABELS[view]} (${i() + 1})`}
              >
                {LABELS[view]}
                <Show when={view === "dlq" && dlqTotal() > 0}>
                  <span class="count count-error" aria-label={`${dlqTotal()} dead letters`}>
                    {dlqTotal()}
                  </span>
                </Show>
              </a>
            )}
          </For>
        </nav>
        <div class="topbar-right">
          <Summary />
          <FeedStatus />
          <button class="btn btn-icon" onClick={toggleTheme} aria-label={`Switch to ${resolved() === "dark" ? "light" : "dark"} theme`} title="Toggle theme">
            {resolved() === "dark" ? "☀" : "☾"}
          </button>
          <button class="btn" onClick={openSettings} aria-label={`Settings (API token ${hasToken() ? "set" : "not set"})`}>
            <span aria-hidden="true">⚙</span> Settings
            <span class={hasToken() ? "token-dot token-set" : "token-dot"} title={hasToken() ? "token set" : "no token"} aria-hidden="true" />
          </button>
        </div>
      </header>
      <Show when={topologyError()}>
        <div class="banner banner-error" role="alert">
          Cannot load the topology: {topologyError()}{" "}
          <button class="btn btn-small" onClick={() => void loadTopology(true)}>
            Retry
          </button>
        </div>
      </Show>
      <Show when={feed.status().state === "retrying" && live.time}>
        <div class="banner banner-warn" role="status">
          The live feed is disconnected: figures are from {new Date(live.time!).toLocaleTimeString(undefined, { hour12: false })} and update again once it reconnects.
        </div>
      </Show>
      <main id="panel" role="tabpanel" aria-labelledby={`tab-${route().view}`} class="panel">
        <Switch>
          <Match when={route().view === "topology"}>
            <TopologyView />
          </Match>
          <Match when={route().view === "streams"}>
            <StreamsView stream={route().arg} />
          </Match>
          <Match when={route().view === "dlq"}>
            <DeadLettersView operator={route().arg} />
          </Match>
          <Match when={route().view === "ideas"}>
            <IdeasView />
          </Match>
          <Match when={route().view === "feedback"}>
            <FeedbackView />
          </Match>
        </Switch>
      </main>
      <ConfirmDialog />
      <SettingsDialog />
    </div>
  )
}
