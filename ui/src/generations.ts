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

const key = (s: GenerationState) => `${s.generationId}:${s.candidate}`

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
    source.addEventListener("snapshot", (e) => apply(JSON.parse((e as MessageEvent<string>).data) as Array<GenerationState>))
    source.addEventListener("progress", (e) => {
      const state = JSON.parse((e as MessageEvent<string>).data) as GenerationState
      apply([state])
      // Print files stored (done), mock-ups stored (mocked-up), or given up: the idea's candidates changed.
      if (state.phase === "done" || state.phase === "mocked-up" || state.phase === "failed") setFinished({ ideaId: state.ideaId, at: Date.now() })
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
