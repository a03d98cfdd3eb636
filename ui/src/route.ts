/** Hash routes: `#/topology`, `#/streams/<stream>`, `#/dlq/<operator>`, `#/ideas`, `#/feedback`. Deep links and reloads work. */
import { createSignal } from "solid-js"

export const VIEWS = ["topology", "streams", "dlq", "ideas", "feedback"] as const
export type View = (typeof VIEWS)[number]

export interface Route {
  readonly view: View
  /** The stream or operator the view is opened on. */
  readonly arg: string | null
}

export const parseHash = (hash: string): Route => {
  const [view, ...rest] = hash.replace(/^#\/?/, "").split("/")
  const arg = rest.length > 0 && rest.join("/") !== "" ? decodeURIComponent(rest.join("/")) : null
  return (VIEWS as ReadonlyArray<string>).includes(view ?? "") ? { view: view as View, arg } : { view: "topology", arg: null }
}

export const hrefOf = (view: View, arg?: string | null) => `#/${view}${arg ? `/${encodeURIComponent(arg)}` : ""}`

const [route, setRoute] = createSignal<Route>(parseHash(location.hash))
addEventListener("hashchange", () => setRoute(parseHash(location.hash)))

export { route }
export const navigate = (view: View, arg?: string | null) => {
  location.hash = hrefOf(view, arg)
}
