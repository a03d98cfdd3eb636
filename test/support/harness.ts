/**
 * Test harness: both transport layers under one name each, topologies run in-process
 * with a driven stop, a feeding source (TestingSource) and polling waits.
 */
import { randomBytes } from "node:crypto"
import { Deferred, Duration, Effect, Exit, Fiber, Layer, Redacted, type Scope } from "effect"
import { Redis } from "ioredis"
import { inject } from "vitest"
import type { TransportError } from "../../runtime/errors.ts"
import { makeKeys, type Keys } from "../../runtime/keys.ts"
import { Metrics } from "../../runtime/metrics.ts"
import { source, type Emission, type StreamDef, type Topology } from "../../runtime/topology.ts"
import { type Commit, Transport, type TransportShape } from "../../runtime/transport.ts"
import * as EmbeddedTransport from "../../runtime/transport/embedded.ts"
import * as RedisTransport from "../../runtime/transport/redis.ts"
import { runWorker, type WorkerOptions } from "../../runtime/worker.ts"

export interface TransportCase {
  readonly name: "embedded" | "redis"
  readonly layer: () => Layer.Layer<Transport, TransportError>
  /** A second handle on the same streams: another connection for Redis, the same instance in-process. */
  readonly second: Effect.Effect<TransportShape, TransportError, Transport | Scope.Scope>
  /** Reads a group's pending count and another stream's length in one atomic step. */
  readonly pendingAndLength: (input: string, group: string, output: string) => Effect.Effect<[number, number], unknown, Transport | Scope.Scope>
  /** A commit this transport refuses at EXEC (Redis: an XADD to a key holding a string; in-process: an ack in a group that does not exist). */
  readonly refusedCommit: (key: string) => Effect.Effect<Commit>
}

export const transportCases: ReadonlyArray<TransportCase> = [
  {
    name: "embedded",
    layer: () => EmbeddedTransport.layer,
    second: Transport,
    // In-process operations run to completion within one turn; two synchronous reads in a row are atomic.
    pendingAndLength: (input, group, output) =>
      Effect.flatMap(Transport, (t) =>
        Effect.all([t.info(input), t.info(output)]).pipe(
          Effect.map(([i, o]): [number, number] => [i.groups.find((g) => g.name === group)?.pending ?? 0, o.length])
        )
      ),
    refusedCommit: (key) => Effect.succeed({ appends: [], acks: [{ stream: key, group: "no-such-group", ids: ["1-1"] }] })
  },
  {
    name: "redis",
    layer: () => RedisTransport.layer({ url: Redacted.make(inject("redisUrl")) }),
    second: RedisTransport.make({ url: Redacted.make(inject("redisUrl")) }),
    pendingAndLength: (input, group, output) =>
      Effect.acquireUseRelease(
        Effect.sync(() => new Redis(inject("redisUrl"))),
        (redis) =>
          Effect.promise(async () => {
            const [[, pending], [, length]] = (await redis.multi().xpending(input, group).xlen(output).exec()) as [[null, [number]], [null, number]]
            return [Number(pending[0]), Number(length)] as [number, number]
          }),
        (redis) => Effect.sync(() => redis.disconnect())
      ),
    refusedCommit: (key) =>
      Effect.promise(async () => {
        const redis = new Redis(inject("redisUrl"))
        await redis.set(key, "not a stream")
        redis.disconnect()
        return { appends: [{ stream: key, entries: [{ n: "1" }] }], acks: [] }
      })
  }
]

/** A fresh topology name: every test gets its own keys (hash tag) on the shared server. */
export const uniqueName = (prefix = "t") => `${prefix}-${randomBytes(5).toString("hex")}`

export const runTest = <A, E>(
  transport: TransportCase,
  body: Effect.Effect<A, E, Transport | Metrics | Scope.Scope>
): Promise<A> =>
  Effect.runPromise(Effect.scoped(body).pipe(Effect.provide(Layer.merge(transport.layer(), Metrics.layer))) as Effect.Effect<A, E, never>)

/** Polls `check` until it returns true, failing with `what` after `timeoutMs`. */
export const waitUntil = <E, R>(what: string, check: Effect.Effect<boolean, E, R>, timeoutMs = 20_000) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMs
    while (!(yield* check)) {
      if (Date.now() > deadline) return yield* Effect.dieMessage(`timed out waiting until ${what}`)
      yield* Effect.sleep(Duration.millis(20))
    }
  })

/** A source that emits whatever the test pushes (TestingSource). */
export const feeder = <O>(name: string, to: StreamDef<O>, options: { batch?: number } = {}) => {
  const queue: Array<Emission<O>> = []
  const node = source({
    name,
    to,
    every: "10 millis",
    settings: { batchSize: options.batch ?? 100 },
    poll: Effect.sync(() => {
      const emissions = queue.splice(0, options.batch ?? 100)
      return { emissions, more: queue.length > 0 }
    })
  })
  return { node, push: (...items: ReadonlyArray<Emission<O>>) => void queue.push(...items), pending: () => queue.length }
}

/** Runs a topology's worker in the background; `stop()` stops it gracefully and waits. */
export const startWorker = (
  t: Topology<any>,
  options: Pick<WorkerOptions, "only" | "consumerPrefix" | "dlqRetention" | "shutdownTimeout"> = {}
) =>
  Effect.gen(function* () {
    const stop = yield* Deferred.make<void>()
    const fiber = yield* Effect.fork(
      runWorker({ ...options, topology: t, stop, consumerPrefix: options.consumerPrefix ?? uniqueName("c"), maintenanceEvery: "200 millis" }).pipe(
        Effect.provide(t.services)
      )
    )
    const keys: Keys = makeKeys(t.name)
    return {
      keys,
      fiber,
      stop: Effect.gen(function* () {
        yield* Deferred.done(stop, Exit.void)
        return yield* Fiber.join(fiber)
      })
    }
  })
