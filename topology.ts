/**
 * The pipeline, declared. Edit this file to add a source or tune an operator;
 * `npx desainz topology` shows the result.
 */
import { Effect, Layer, Schema } from "effect"
import { map, sink, source, stream, topology } from "./runtime/topology.ts"

const Tick = Schema.Struct({ n: Schema.Number, text: Schema.String })

const ticks = stream("demo.ticks", Tick, { maxLen: 10_000 })
const shouted = stream("demo.shouted", Tick, { maxLen: 10_000 })

let n = 0
export default topology({
  name: "desainz",
  nodes: [
    source({ name: "ticker", to: ticks, every: "1 second", poll: Effect.sync(() => ({ emissions: [{ data: { n: ++n, text: `tick ${n}` } }] })) }),
    map({ name: "shout", from: ticks, to: shouted, run: (t) => Effect.succeed({ ...t, text: t.text.toUpperCase() }) }),
    sink({ name: "log", from: shouted, run: (t) => Effect.logDebug(t.text) })
  ],
  services: Layer.empty
})
