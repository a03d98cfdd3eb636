/**
 * The source loop: polls one source, appends what it emits to its stream, and pauses
 * while that stream's backlog is above the high watermark.
 */
import { Deferred, Duration, Effect, Either, Schedule } from "effect"
import { deadLetter } from "./dlq.ts"
import { deriveEventId, type Fields, makeEnvelopeCodec, newEventId, ENVELOPE_VERSION } from "./envelope.ts"
import { describeError, isRetryable, retryAfterMs } from "./errors.ts"
import type { Keys } from "./keys.ts"
import { awaitBacklogBelow, backlogQueries, sleepUnlessStopped } from "./loop.ts"
import { Metrics } from "./metrics.ts"
import { backoffDelayMs, type SourceNode, type Topology } from "./topology.ts"
import { Transport } from "./transport.ts"

export const runSource = (t: Topology<any>, keys: Keys, src: SourceNode<any, any>, stop: Deferred.Deferred<void>) =>
  Effect.gen(function* () {
    const transport = yield* Transport
    const metrics = yield* Metrics
    const labels = { node: src.name }
    const key = keys.stream(src.to.name)
    const codec = makeEnvelopeCodec(src.to.name, src.to.schema)
    const queries = backlogQueries(t, keys, [src.to], src.settings.highWatermark, src.settings.lowWatermark)
    const s = src.settings
    let failures = 0
    while (!(yield* Deferred.isDone(stop))) {
      const ready = yield* Effect.either(
        awaitBacklogBelow(transport, queries, s.highWatermark, s.lowWatermark, stop, (p) =>
          metrics.backpressured.set({ operator: src.name }, p ? 1 : 0)
        )
      )
      if (Either.isLeft(ready)) {
        metrics.transportErrors.inc({ operator: src.name })
        yield* sleepUnlessStopped(stop, 1_000)
        continue
      }
      if (yield* Deferred.isDone(stop)) break
      metrics.polls.inc(labels)
      // A defect (a throw) in a poll is contained like an operator's: a retryable failure.
      const polled = yield* Effect.either(Effect.catchAllDefect(Effect.suspend(() => src.poll), (defect) => Effect.fail(defect)))
      if (Either.isLeft(polled)) {
        failures++
        const message = describeError(polled.left)
        metrics.failed.inc({ operator: src.name })
        yield* Effect.logWarning(`source ${src.name}: poll failed: ${message}`)
        if (!isRetryable(polled.left) || failures >= s.maxAttempts) {
          // The poll itself is the input; keep its error where operators keep theirs.
          yield* Effect.ignore(
            transport.append(deadLetter(keys, src.name, src.to.name, {}, "", message, failures, "source"))
          )
          metrics.deadLettered.inc({ operator: src.name })
          failures = 0
          yield* sleepUnlessStopped(stop, Duration.toMillis(src.every))
        } else {
          yield* sleepUnlessStopped(stop, Math.max(backoffDelayMs(s, failures), retryAfterMs(polled.left) ?? 0))
        }
        continue
      }
      failures = 0
      const entries: Array<Fields> = []
      for (const e of polled.right.emissions) {
        const eventId = e.key !== undefined ? deriveEventId(src.name, e.key) : newEventId()
        const envelope = {
          eventType: src.to.eventType,
          eventId,
          timestamp: e.timestamp ?? new Date().toISOString(),
          source: src.name,
          version: ENVELOPE_VERSION,
          correlationId: eventId,
          data: e.data
        }
        const encoded = Either.try(() => codec.encode(envelope))
        if (Either.isLeft(encoded)) {
          yield* Effect.ignore(
            transport.append(
              deadLetter(keys, src.name, src.to.name, { data: safeJson(e.data) }, "", describeError(encoded.left), 1, "decode")
            )
          )
          metrics.deadLettered.inc({ operator: src.name })
          continue
        }
        entries.push(encoded.right)
      }
      for (let i = 0; i < entries.length; i += s.batchSize) {
        const chunk = entries.slice(i, i + s.batchSize)
        // A poll's records are appended before the next poll, however long Redis is away
        // (sources with a cursor, such as a replay file, cannot fetch them again), until the
        // worker's shutdown timeout interrupts the wait.
        yield* transport.append({ stream: key, entries: chunk }).pipe(
          Effect.tapError((e) => Effect.sync(() => metrics.transportErrors.inc({ operator: src.name })).pipe(Effect.zipRight(Effect.logWarning(e.message)))),
          Effect.retry(Schedule.exponential("100 millis").pipe(Schedule.either(Schedule.spaced("5 seconds"))))
        )
        metrics.emitted.inc(labels, chunk.length)
      }
      if (polled.right.done) break
      if (!polled.right.more) yield* sleepUnlessStopped(stop, Duration.toMillis(src.every))
    }
  })

const safeJson = (value: unknown): string => {
  try {
    return JSON.stringify(value) ?? "null"
  } catch {
    return String(value)
  }
}

