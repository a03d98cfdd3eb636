/**
 * Maintenance: trims streams to their retention and forgets consumers of exited
 * processes, every few seconds while the worker runs.
 */
import { Deferred, Duration, Effect } from "effect"
import type { Keys } from "./keys.ts"
import { sleepUnlessStopped } from "./loop.ts"
import type { Topology } from "./topology.ts"
import { Transport } from "./transport.ts"

export const maintenance = (t: Topology<any>, keys: Keys, every: Duration.DurationInput, stop: Deferred.Deferred<void>) =>
  Effect.gen(function* () {
    const transport = yield* Transport
    const ms = Duration.toMillis(Duration.decode(every))
    while (!(yield* Deferred.isDone(stop))) {
      for (const s of t.streams) {
        if (s.maxLen !== undefined) yield* Effect.ignore(transport.trim(keys.stream(s.name), s.maxLen))
      }
      for (const n of t.nodes) {
        if (n._tag === "Operator") {
          // Consumers of exited processes linger in XINFO; forget them once they hold nothing.
          yield* Effect.ignore(transport.pruneConsumers(keys.stream(n.from.name), keys.group(n.name), 3_600_000))
        }
      }
      yield* sleepUnlessStopped(stop, ms)
    }
  })

