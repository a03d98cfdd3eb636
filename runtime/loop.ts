/**
 * What the worker loops share: the output backlog they watch (backpressure) and a sleep
 * that wakes when the worker is told to stop.
 */
import { Deferred, Effect } from "effect"
import type { Keys } from "./keys.ts"
import { readersOf, type StreamDef, type Topology } from "./topology.ts"
import type { BacklogQuery, TransportShape } from "./transport.ts"

/** The backlog queries for a node's output streams: each stream with the groups that read it. */
export const backlogQueries = (
  t: Topology<any>,
  keys: Keys,
  outputs: ReadonlyArray<StreamDef<any>>,
  highWatermark: number,
  lowWatermark: number
): ReadonlyArray<BacklogQuery> =>
  outputs.flatMap((s) => {
    const groups = readersOf(t, s.name)
    return groups.length === 0
      ? []
      : [{ stream: keys.stream(s.name), groups: groups.map(keys.group), countUpTo: highWatermark + 1, checkLagFrom: lowWatermark }]
  })

/** Waits until the stream's backlog is at most the low watermark, or the worker stops. */
export const awaitBacklogBelow = (
  transport: TransportShape,
  queries: ReadonlyArray<BacklogQuery>,
  high: number,
  low: number,
  stop: Deferred.Deferred<void>,
  onPause: (paused: boolean) => void
) =>
  Effect.gen(function* () {
    if (queries.length === 0) return
    let backlog = yield* transport.backlog(queries)
    if (backlog < high) return
    onPause(true)
    while (backlog > low && !(yield* Deferred.isDone(stop))) {
      yield* Effect.sleep(100)
      backlog = yield* transport.backlog(queries)
    }
    onPause(false)
  })

/** Sleeps for `ms`, waking early when the worker is told to stop. */
export const sleepUnlessStopped = (stop: Deferred.Deferred<void>, ms: number) =>
  Effect.raceFirst(Effect.sleep(ms), Deferred.await(stop))

