/**
 * The live state as a Solid store: the SSE feed and the topology fetch dispatch actions
 * into the pure reducer (`state.ts`), and the result is reconciled into the store, so
 * only the figures that changed touch the DOM. The feed is coalesced to one update per
 * animation frame by `createEventSource`.
 */
import { createRoot, createSignal } from "solid-js"
import { createStore, reconcile } from "solid-js/store"
import { api, describeApiError } from "./api.ts"
import type { Snapshot } from "../../operators/api/contract.ts"
import { createEventSource } from "./sse.ts"
import { type Action, initialState, type LiveState, reduce } from "./state.ts"

const [live, setLive] = createStore<LiveState>(structuredClone(initialState))
let current: LiveState = initialState
const [topologyError, setTopologyError] = createSignal<string | null>(null)

/** Counters for benches and the curious (`window.__desainz` in the console). */
export const stats = { applies: 0, applyMs: 0 }
;(globalThis as { __desainz?: typeof stats }).__desainz = stats

export const dispatch = (action: Action) => {
  const started = performance.now()
  const next = reduce(current, action)
  if (next === current) return
  current = next
  setLive(reconcile(next))
  stats.applies++
  stats.applyMs += performance.now() - started
}

let loading: Promise<void> | undefined
let lastLoad = 0
/** (Re)loads the graph; at most one request in flight, and not more than once per 2 s. */
export const loadTopology = (force = false): Promise<void> => {
  if (loading) return loading
  if (!force && Date.now() - lastLoad < 2_000) return Promise.resolve()
  lastLoad = Date.now()
  const request = api.topology().then(
    (topology) => {
      setTopologyError(null)
      dispatch({ type: "topology", topology })
    },
    (e: unknown) => {
      setTopologyError(describeApiError(e))
    }
  )
  loading = request.finally(() => {
    loading = undefined
  })
  return loading
}

const feed = createRoot(() =>
  createEventSource<Snapshot>({
    url: "/api/events",
    event: "snapshot",
    parse: (data) => JSON.parse(data) as Snapshot,
    onOpen: () => void loadTopology(true),
    onMessage: (snapshot) => {
      dispatch({ type: "snapshot", snapshot })
      if (current.topologyOutdated) void loadTopology()
    }
  })
)

export { feed, live, topologyError }

/** The reducer's current topology (plain data, for the layout engine). */
export const currentTopology = () => current.topology
