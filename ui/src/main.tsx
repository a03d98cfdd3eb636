import { render } from "solid-js/web"
import "uplot/dist/uPlot.min.css"
import "./styles.css"
import { App } from "./App.tsx"
import { resolved } from "./theme.ts"

// Before the first paint, so a dark system does not flash the light theme.
document.documentElement.dataset["theme"] = resolved()
render(() => <App />, document.getElementById("root")!)
