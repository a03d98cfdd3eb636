/**
 * Live generation progress from `/api/generations/events` (SSE): the latest state of each
 * candidate, by idea. The browser's EventSource reconnects by itself; a `snapshot` event
 * on (re)connect restores the current picture, then `progress` events update it. Nothing
 * here polls.
 */
import { createRoot, createSignal } from "solid-js"
import { createStore, produce } from "solid-js/store"
import type { GenerationState } from "../../operators/api/contract.ts"

const [states, setStates] = createStore<Record<string, GenerationState>>({})
/** Bumped when a candidate of an idea is stored, mocked up or failed, so views reload its generations. */
const [finished, setFinished] = createSignal<{ ideaId: string; at: number } | null>(null)
let source: EventSource | undefined
/** Snapshots received: the first is the starting picture, later ones may carry what a gap hid. */
let snapshots = 0

const key = (s: GenerationState) => `${s.generationId}:${s.candidate}`
/** Print files stored (done), mock-ups stored (mocked-up), or given up: the idea's candidates changed. */
const isEnd = (phase: GenerationState["phase"]) => phase === "done" || phase === "mocked-up" || phase === "failed"

const apply = (list: ReadonlyArray<GenerationState>) =>
  setStates(
    produce((draft) => {
      for (const s of list) draft[key(s)] = s
    })
  )

/** Opens the feed once (idempotent). */
export const connectGenerations = () => {
  if (source !== undefined || typeof EventSource === "undefined") return
  createRoot(() => {
    source = new EventSource("/api/generations/events")
    // On (re)connect, and again after the server's subscription had a gap: a candidate that
    // finished meanwhile counts as finished now.
    source.addEventListener("snapshot", (e) => {
      const list = JSON.parse((e as MessageEvent<string>).data) as Array<GenerationState>
      const ended = snapshots++ === 0 ? [] : list.filter((s) => isEnd(s.phase) && states[key(s)]?.phase !== s.phase)
      apply(list)
      for (const s of ended) setFinished({ ideaId: s.ideaId, at: Date.now() })
    })
    source.addEventListener("progress", (e) => {
      const state = JSON.parse((e as MessageEvent<string>).data) as GenerationState
      apply([state])
      if (isEnd(state.phase)) setFinished({ ideaId: state.ideaId, at: Date.now() })
    })
  })
}

/** The candidates' states of the idea's latest generation, by candidate index. */
export const progressOf = (ideaId: string): ReadonlyArray<GenerationState> => {
  const all = Object.values(states).filter((s) => s.ideaId === ideaId)
  if (all.length === 0) return []
  const latest = all.reduce((a, b) => (a.at >= b.at ? a : b)).generationId
  return all.filter((s) => s.generationId === latest).sort((a, b) => a.candidate - b.candidate)
}

export const generationFinished = finished
