/**
 * Runs one source node in a real worker on the embedded transport, the way `desainz start`
 * would, and reads back what it wrote: the signals on its stream and its dead letters.
 */
import { Deferred, Effect, Either, Fiber, Layer } from "effect"
import { Signal } from "../../operators/schemas.ts"
import type { SourceServices } from "../../operators/sources/http.ts"
import { layerInProcess } from "../../operators/sources/rateLimit.ts"
import type { Fields } from "../../runtime/envelope.ts"
import { PermanentError, RetryableError } from "../../runtime/errors.ts"
import * as Http from "../../runtime/httpClient.ts"
import { makeKeys } from "../../runtime/keys.ts"
import { Metrics } from "../../runtime/metrics.ts"
import { type SourceNode, stream, topology } from "../../runtime/topology.ts"
import * as EmbeddedTransport from "../../runtime/transport/embedded.ts"
import { Transport } from "../../runtime/transport.ts"
import { runWorker } from "../../runtime/worker.ts"

export const signalsRaw = stream("signals.raw", Signal, { eventType: "signal.ingested" })

/** What a source needs, as the topology's services give it: an in-process rate limit and the runtime's HttpClient. */
export const sourceServices = Layer.merge(layerInProcess, Http.layer)

export interface WrittenSignal {
  readonly eventId: string
  readonly timestamp: string
  readonly data: Signal
}

export interface RunSnapshot {
  readonly signals: ReadonlyArray<WrittenSignal>
  readonly deadLetters: ReadonlyArray<Fields>
}

/** Runs `node` until `until` holds for what it wrote (at most 4 s, inside the test timeout), then stops the worker gracefully. */
export const runSource = (node: SourceNode<Signal, SourceServices>, until: (s: RunSnapshot) => boolean) =>
  Effect.gen(function* () {
    const t = topology({ name: "test", nodes: [node], services: sourceServices })
    const keys = makeKeys(t.name)
    const transport = yield* Transport
    const stop = yield* Deferred.make<void>()
    const worker = yield* Effect.fork(runWorker({ topology: t, stop, consumerPrefix: "test" }))
    const snapshot = Effect.gen(function* () {
      const entries = yield* transport.range(keys.stream(node.to.name), { count: 10_000 })
      const dead = yield* transport.range(keys.dlq(node.name), { count: 10_000 })
      return {
        signals: entries.map((e) => ({
          eventId: e.fields["eventId"] ?? "",
          timestamp: e.fields["timestamp"] ?? "",
          data: JSON.parse(e.fields["data"] ?? "null") as Signal
        })),
        deadLetters: dead.map((e) => e.fields)
      }
    })
    let last: RunSnapshot = yield* snapshot
    const deadline = Date.now() + 4_000
    while (!until(last) && Date.now() < deadline) {
      yield* Effect.sleep(25)
      last = yield* snapshot
    }
    yield* Deferred.succeed(stop, undefined)
    yield* Fiber.join(worker)
    return last
  }).pipe(Effect.provide(Layer.mergeAll(EmbeddedTransport.layer, Metrics.layer, sourceServices)))

/** The classified error an effect fails with; a success, or an unclassified failure, fails the test. */
export const failure = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.either(effect), (result): RetryableError | PermanentError => {
    if (Either.isRight(result)) throw new Error("expected a failure, got a success")
    const error: unknown = result.left
    if (error instanceof RetryableError || error instanceof PermanentError) return error
    throw new Error(`expected a RetryableError or a PermanentError, got ${String(error)}`)
  })
