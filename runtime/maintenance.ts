/**
 * Maintenance: trims streams to their retention, applies the dead-letter retention policy
 * and forgets consumers of exited processes, every few seconds while the worker runs.
 *
 * Each process looks after what its own nodes write (their output streams and dead-letter
 * streams) and the groups of its own operators, so N workers of a topology do the work
 * once per stream, not N times, and a worker started with `--only` touches nothing else.
 */
import { Deferred, Duration, Effect } from "effect"
import type { Keys } from "./keys.ts"
import { sleepUnlessStopped } from "./loop.ts"
import { Metrics } from "./metrics.ts"
import type { Node, Topology } from "./topology.ts"
import { Transport } from "./transport.ts"

/** How many dead letters an operator keeps, and for how long. */
export interface DeadLetterRetention {
  readonly maxLen: number
  readonly maxAgeMs: number
}

export const DEFAULT_DLQ_RETENTION: DeadLetterRetention = { maxLen: 10_000, maxAgeMs: 7 * 24 * 3_600_000 }

export const maintenance = (
  t: Topology<any>,
  keys: Keys,
  nodes: ReadonlyArray<Node<any>>,
  every: Duration.DurationInput,
  dlq: DeadLetterRetention,
  stop: Deferred.Deferred<void>
) =>
  Effect.gen(function* () {
    const transport = yield* Transport
    const metrics = yield* Metrics
    const ms = Duration.toMillis(Duration.decode(every))
    const written = new Set(nodes.flatMap((n) => (n._tag === "Source" ? [n.to.name] : n.to.map((s) => s.name))))
    const streams = t.streams.filter((s) => s.maxLen !== undefined && written.has(s.name))
    while (!(yield* Deferred.isDone(stop))) {
      for (const s of streams) yield* Effect.ignore(transport.trim(keys.stream(s.name), s.maxLen!))
      for (const n of nodes) {
        const dropped = yield* Effect.orElseSucceed(transport.trim(keys.dlq(n.name), dlq.maxLen, dlq.maxAgeMs), () => 0)
        if (dropped > 0) {
          metrics.dlqTrimmed.inc({ operator: n.name }, dropped)
          yield* Effect.logWarning(
            `dlq.${n.name}: dropped ${dropped} dead letter(s) past the retention (${dlq.maxLen} entries, ${Math.round(dlq.maxAgeMs / 3_600_000)} h)`
          )
        }
        if (n._tag === "Operator") {
          // Consumers of exited processes linger in XINFO; forget them once they hold nothing.
          yield* Effect.ignore(transport.pruneConsumers(keys.stream(n.from.name), keys.group(n.name), 3_600_000))
        }
      }
      yield* sleepUnlessStopped(stop, ms)
    }
  })
