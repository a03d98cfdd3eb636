/**
 * The worker: runs a subset of a topology's nodes in this process, each operator as
 * `replicas` consumers of its group (`operatorLoop.ts`), each source as one poller
 * (`sourceLoop.ts`), and maintenance (`maintenance.ts`) beside them.
 */
import { hostname } from "node:os"
import { Deferred, Duration, Effect, Fiber } from "effect"
import { TopologyError } from "./errors.ts"
import { type Keys, makeKeys } from "./keys.ts"
import { type DeadLetterRetention, DEFAULT_DLQ_RETENTION, maintenance } from "./maintenance.ts"
import { runOperatorReplica } from "./operatorLoop.ts"
import { runSource } from "./sourceLoop.ts"
import type { OperatorNode, Topology } from "./topology.ts"
import { Transport } from "./transport.ts"

export interface WorkerOptions {
  readonly topology: Topology<any>
  /** Node names to run; all when absent. */
  readonly only?: ReadonlyArray<string> | undefined
  /** Completing it stops the worker gracefully: no more reads, in-flight work finished and acked. */
  readonly stop: Deferred.Deferred<void>
  /** Prefix of this process's consumer names; default `<host>-<pid>`. */
  readonly consumerPrefix?: string | undefined
  /** How often streams are trimmed and idle consumers pruned. */
  readonly maintenanceEvery?: Duration.DurationInput | undefined
  /** Dead letters kept per node; default 10,000 entries and 7 days. */
  readonly dlqRetention?: DeadLetterRetention | undefined
  /**
   * How long after `stop` in-flight work may take (default 30 s). Past it the loops are
   * interrupted: what they had not committed stays pending and is redelivered, so a worker
   * that cannot reach Redis still exits, and loses nothing that was acknowledged.
   */
  readonly shutdownTimeout?: Duration.DurationInput | undefined
}

export const consumerPrefix = (): string => process.env["DESAINZ_CONSUMER"] ?? `${hostname()}-${process.pid}`

/** Selects the nodes named in `only` (all when absent, none when empty), failing with the valid names when one is unknown. */
export const selectNodes = (t: Topology<any>, only: ReadonlyArray<string> | undefined) => {
  if (only === undefined) return t.nodes
  const known = new Set(t.nodes.map((n) => n.name))
  const unknown = only.filter((n) => !known.has(n))
  if (unknown.length > 0) {
    throw new TopologyError({ message: `unknown node(s) ${unknown.join(", ")}; the topology has: ${[...known].join(", ")}` })
  }
  return t.nodes.filter((n) => only.includes(n.name))
}

/** Makes sure every consumer group of the topology exists before anything is written. */
export const ensureGroups = (t: Topology<any>, keys: Keys) =>
  Effect.flatMap(Transport, (transport) =>
    Effect.forEach(
      t.nodes.filter((n): n is OperatorNode<any, any, any> => n._tag === "Operator"),
      (op) => transport.ensureGroup(keys.stream(op.from.name), keys.group(op.name)),
      { discard: true }
    )
  )

/**
 * Runs the selected nodes until `stop` completes, then lets every loop finish its
 * in-flight batch and commit it. Sources that finish (a replay file's end) just end.
 */
export const runWorker = (options: WorkerOptions) =>
  Effect.gen(function* () {
    const t = options.topology
    const keys = makeKeys(t.name)
    const nodes = selectNodes(t, options.only)
    const prefix = options.consumerPrefix ?? consumerPrefix()
    yield* ensureGroups(t, keys)
    const fibers = []
    for (const node of nodes) {
      if (node._tag === "Source") {
        fibers.push(yield* Effect.fork(runSource(t, keys, node, options.stop)))
        continue
      }
      for (let i = 0; i < node.settings.replicas; i++) {
        fibers.push(yield* Effect.fork(runOperatorReplica(t, keys, node, `${prefix}-${i}`, options.stop)))
      }
    }
    fibers.push(
      yield* Effect.fork(
        maintenance(t, keys, nodes, options.maintenanceEvery ?? "5 seconds", options.dlqRetention ?? DEFAULT_DLQ_RETENTION, options.stop)
      )
    )
    yield* Effect.logInfo(`worker ${prefix}: running ${nodes.map((n) => n.name).join(", ")}`)
    const timeout = Duration.decode(options.shutdownTimeout ?? "30 seconds")
    const deadline = Deferred.await(options.stop).pipe(
      Effect.zipRight(Effect.sleep(timeout)),
      Effect.zipRight(Effect.logWarning(`worker ${prefix}: in-flight work not committed ${Duration.format(timeout)} after the stop; it stays pending for redelivery`)),
      Effect.zipRight(Fiber.interruptAll(fibers))
    )
    yield* Effect.raceFirst(Fiber.joinAll(fibers), deadline)
  })
