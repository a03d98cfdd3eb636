/**
 * The operator loop: one replica of an operator, a consumer of its group.
 *
 * Per consumer, one round trip does three things in order: commit the previous batch
 * (outputs XADDed and inputs XACKed atomically), measure the output backlog, read the
 * next batch. Failures become retries (the entry stays pending and is claimed back after
 * its backoff, which counts a delivery) or dead letters; nothing is acked before its
 * outputs exist, so a crash anywhere means redelivery, never loss.
 */
import { Deferred, Effect, Either, Exit } from "effect"
import { deadLetter, type DeadLetterReason, REQUEUED_FOR } from "./dlq.ts"
import { type Delivered, deriveEventId, type EnvelopeCodec, type Fields, makeEnvelopeCodec, ENVELOPE_VERSION } from "./envelope.ts"
import { describeError, isRetryable, retryAfterMs } from "./errors.ts"
import type { Keys } from "./keys.ts"
import { backlogQueries } from "./loop.ts"
import { Metrics, type RuntimeMetrics } from "./metrics.ts"
import { backoffDelayMs, type ItemResult, type OperatorNode, type Output, type Topology } from "./topology.ts"
import { type Append, type Commit, type Delivery, Transport } from "./transport.ts"

/** Groups appends by stream so a commit sends one XADD run per stream. */
const appendsOf = (byStream: Map<string, Array<Fields>>): ReadonlyArray<Append> =>
  [...byStream].map(([stream, entries]) => ({ stream, entries }))

interface Retry {
  readonly due: number
}

/** The longest Retry-After a retry waits for. */
const MAX_RETRY_AFTER_MS = 60 * 60_000

export const runOperatorReplica = (
  t: Topology<any>,
  keys: Keys,
  op: OperatorNode<any, any, any>,
  consumer: string,
  stop: Deferred.Deferred<void>
) =>
  Effect.gen(function* () {
    const transport = yield* Transport
    const metrics = yield* Metrics
    const s = op.settings
    const labels = { operator: op.name }
    const input = keys.stream(op.from.name)
    const group = keys.group(op.name)
    const queries = backlogQueries(t, keys, op.to, s.highWatermark, s.lowWatermark)
    const retries = new Map<string, Retry>()
    const context: BatchContext = {
      keys,
      op,
      input,
      group,
      codecIn: makeEnvelopeCodec(op.from.name, op.from.schema),
      targets: outputTargets(keys, op),
      defaultTarget: op.to[0]?.name,
      metrics,
      labels,
      nodeLabels: { node: op.name },
      retries
    }

    let commit: Commit | undefined
    let commitFailures = 0
    let backlog = 0
    let paused = false
    let nextAutoClaim = 0
    const autoClaimEvery = Math.max(1_000, s.claimIdleMs / 2)
    // Entries this consumer keeps for longer than the claim idle time (a long Retry-After, a
    // slow batch) are claimed again without counting a delivery before they go idle, so no
    // other consumer takes them over meanwhile.
    const touchEvery = s.claimIdleMs / 3
    // The batch being processed; it and the retries are kept by one fiber for the replica's life.
    let inFlight: { readonly ids: ReadonlyArray<string>; readonly since: number } | undefined
    const keep = Effect.gen(function* () {
      const now = Date.now()
      const waiting = [...retries].filter(([, r]) => r.due - now > touchEvery).map(([id]) => id)
      const batch = inFlight !== undefined && now - inFlight.since >= touchEvery ? inFlight.ids : []
      if (waiting.length + batch.length === 0) return
      const kept = new Set((yield* transport.claim(input, group, consumer, [...waiting, ...batch], "hold")).map((d) => d.id))
      // A retry not returned is another consumer's now (or left the stream): not this one's to claim.
      for (const id of waiting) if (!kept.has(id)) retries.delete(id)
    })
    yield* Effect.fork(Effect.forever(Effect.zipRight(Effect.sleep(touchEvery), Effect.ignore(keep))))

    yield* transport.ensureGroup(input, group)
    metrics.backpressured.set(labels, 0)
    // Entries this consumer read but has not processed yet: its own pending entries after a
    // restart under the same name, a batch read while the backlog was high or with a commit
    // that failed. Before processing them it takes them back with a `hold` claim: any that
    // another consumer took over meanwhile (they went idle) are left to that consumer.
    let carried: ReadonlyArray<Delivery> = yield* transport.readPending(input, group, consumer, s.batchSize * 10)

    const readRequest = (blockMs: number) => ({ stream: input, group, consumer, count: s.batchSize, blockMs })

    const iteration = Effect.gen(function* () {
      const stopping = yield* Deferred.isDone(stop)
      const now = Date.now()
      const due: Array<string> = []
      let nextDue = Infinity
      for (const [id, r] of retries) {
        if (r.due <= now) due.push(id)
        else nextDue = Math.min(nextDue, r.due)
      }
      const blockMs = stopping ? 0 : Math.max(0, Math.min(s.blockMs, Number.isFinite(nextDue) ? nextDue - now : s.blockMs))
      const safe = queries.length === 0 || (!paused && backlog < s.lowWatermark)
      const readNow = !stopping && safe && carried.length === 0 && due.length === 0
      const result = yield* transport.exchange({
        commit,
        backlog: queries,
        read: readNow ? readRequest(blockMs) : undefined
      })
      if (result.commitError !== undefined) {
        // Not applied: keep the commit for the next try, and what the read delivered with it.
        carried = [...carried, ...result.deliveries]
        return yield* Effect.fail(result.commitError)
      }
      // Applied: never send it again, whatever happened to the rest of the round trip.
      commit = undefined
      commitFailures = 0
      if (result.readError !== undefined) {
        // What the read delivered is pending for this consumer: held, not left to XAUTOCLAIM.
        carried = [...carried, ...result.deliveries]
        return yield* Effect.fail(result.readError)
      }
      backlog = result.backlog
      const wasPaused = paused
      if (backlog >= s.highWatermark) paused = true
      else if (backlog <= s.lowWatermark) paused = false
      if (paused !== wasPaused) metrics.backpressured.set(labels, paused ? 1 : 0)
      if (stopping) return true

      if (paused) {
        // Hold what was read with the measurement; process it once the backlog drains.
        carried = [...carried, ...result.deliveries]
        yield* Effect.sleep(Math.min(200, s.blockMs))
        return false
      }
      const held = carried
      carried = []
      const batch: Array<Delivery> = []
      // One entry once per batch, however many ways it came back (held, retried, claimed).
      const inBatch = new Set<string>()
      const add = (ds: ReadonlyArray<Delivery>) => {
        for (const d of ds) {
          if (inBatch.has(d.id)) continue
          inBatch.add(d.id)
          batch.push(d)
        }
      }
      if (held.length > 0) {
        add(
          yield* transport.claim(input, group, consumer, held.map((d) => d.id), "hold").pipe(
            Effect.tapError(() => Effect.sync(() => (carried = held)))
          )
        )
      }
      add(result.deliveries)
      if (due.length > 0) {
        for (const id of due) retries.delete(id)
        add(yield* transport.claim(input, group, consumer, due))
      }
      if (now >= nextAutoClaim) {
        nextAutoClaim = now + autoClaimEvery
        const taken = yield* transport.autoClaim(input, group, consumer, s.claimIdleMs, s.batchSize)
        if (taken.length > 0) metrics.claimed.inc(labels, taken.length)
        add(taken.filter((d) => !retries.has(d.id)))
      }
      if (!readNow && batch.length === 0) {
        const next = yield* transport.exchange({ read: readRequest(blockMs) })
        if (next.readError !== undefined) return yield* Effect.fail(next.readError)
        add(next.deliveries)
      }
      if (batch.length > 0) {
        inFlight = { ids: batch.map((d) => d.id), since: Date.now() }
        commit = yield* processBatch(context, batch)
        inFlight = undefined
      }
      return false
    })

    let failures = 0
    while (true) {
      const outcome = yield* Effect.either(iteration)
      if (Either.isRight(outcome)) {
        failures = 0
        if (outcome.right) break
        continue
      }
      // Transport trouble (Redis restarting, a network blip): keep the commit and try again.
      failures++
      commitFailures++
      metrics.transportErrors.inc(labels)
      yield* Effect.logWarning(`operator ${op.name}: ${describeError(outcome.left)}; retrying`)
      if (commitFailures > 5 && commit !== undefined) {
        // Its inputs stay pending and come back through XAUTOCLAIM; outputs carry derived ids.
        yield* Effect.logError(`operator ${op.name}: giving up on a commit after ${commitFailures} tries`)
        commit = undefined
      }
      yield* Effect.sleep(Math.min(5_000, 100 * 2 ** Math.min(failures, 6)))
      yield* Effect.ignore(transport.ensureGroup(input, group))
      if ((yield* Deferred.isDone(stop)) && failures > 20) break
    }
    metrics.backpressured.set(labels, 0)
  })

/** Where an operator's outputs to one stream go. */
interface OutputTarget {
  readonly key: string
  readonly eventType: string
  readonly codec: EnvelopeCodec<any>
  /** Same schema as the operator's input: an input payload passed through keeps its encoded JSON. */
  readonly sameSchemaAsInput: boolean
}

interface BatchContext {
  readonly keys: Keys
  readonly op: OperatorNode<any, any, any>
  readonly input: string
  readonly group: string
  readonly codecIn: EnvelopeCodec<any>
  /** By stream name; the first output stream is the default of an output without `to`. */
  readonly targets: ReadonlyMap<string, OutputTarget>
  readonly defaultTarget: string | undefined
  readonly metrics: RuntimeMetrics
  /** Metric labels, one object each for the operator's life (metrics key their series by it). */
  readonly labels: { readonly operator: string }
  readonly nodeLabels: { readonly node: string }
  readonly retries: Map<string, Retry>
}

const outputTargets = (keys: Keys, op: OperatorNode<any, any, any>): ReadonlyMap<string, OutputTarget> =>
  new Map(
    op.to.map((s) => [
      s.name,
      { key: keys.stream(s.name), eventType: s.eventType, codec: makeEnvelopeCodec(s.name, s.schema), sameSchemaAsInput: s.schema === op.from.schema }
    ])
  )

/**
 * Encodes one input's outputs as stream entries, all or none: an output that does not fit
 * its stream (or names a stream the operator does not write) is the operator's bug, and
 * the input is dead-lettered with the reason rather than half-written.
 */
const encodeOutputs = (
  c: BatchContext,
  input: Delivery,
  envelope: Delivered<any>,
  outputs: ReadonlyArray<Output<any>>
): Array<readonly [stream: string, fields: Fields]> | string => {
  const encoded = new Array<readonly [string, Fields]>(outputs.length)
  for (let n = 0; n < outputs.length; n++) {
    const o = outputs[n]!
    const name = o.to ?? c.defaultTarget
    const target = name === undefined ? undefined : c.targets.get(name)
    if (target === undefined) {
      return `output to ${name ?? "no stream"}, which ${c.op.name} does not write (it writes: ${[...c.targets.keys()].join(", ") || "nothing"})`
    }
    // A payload passed through unchanged (a filter, a router, dedupe) is not serialized again.
    const passedThrough = target.sameSchemaAsInput && o.data === envelope.data && c.codecIn.decodedAsIs(o.data)
    try {
      const fields = target.codec.encode(
        {
          eventType: target.eventType,
          eventId: deriveEventId(envelope.eventId, c.op.name, name!, o.key ?? String(n)),
          timestamp: o.timestamp ?? envelope.timestamp,
          source: c.op.name,
          version: ENVELOPE_VERSION,
          correlationId: envelope.correlationId,
          data: o.data
        },
        passedThrough ? input.fields["data"] : undefined
      )
      encoded[n] = [target.key, fields]
    } catch (error) {
      return `output does not match its stream's schema: ${describeError(error)}`
    }
  }
  return encoded
}

/** Runs the operator on a batch and returns what to commit: outputs, dead letters, acks. */
const processBatch = (c: BatchContext, batch: ReadonlyArray<Delivery>): Effect.Effect<Commit, never, any> => {
  const { op, keys, metrics, labels } = c
  const started = performance.now()
  const out = new Map<string, Array<Fields>>()
  const push = (stream: string, fields: Fields) => {
    const list = out.get(stream)
    if (list === undefined) out.set(stream, [fields])
    else list.push(fields)
  }
  const acks: Array<string> = []
  const dead = (d: Delivery, error: string, reason: DeadLetterReason) => {
    const letter = deadLetter(keys, op.name, op.from.name, d.fields, d.id, error, d.deliveries, reason)
    push(letter.stream, letter.entries[0]!)
    acks.push(d.id)
    metrics.deadLettered.inc(labels)
  }

  const work: Array<Delivery> = []
  const envelopes: Array<Delivered<any>> = []
  for (const d of batch) {
    const target = d.fields[REQUEUED_FOR]
    if (target !== undefined && target !== op.name) {
      acks.push(d.id) // requeued for another operator's group
      continue
    }
    if (d.deliveries > op.settings.maxAttempts) {
      // Delivered too often without an ack: it keeps killing or stalling its consumer.
      dead(d, `no result after ${d.deliveries} deliveries (consumer died or stalled while processing)`, "max-attempts")
      continue
    }
    const decoded = c.codecIn.decode(d.fields, d.deliveries)
    if (Either.isLeft(decoded)) {
      dead(d, decoded.left.message, "decode")
      continue
    }
    work.push(d)
    envelopes.push(decoded.right)
  }

  const finish = (results: ReadonlyArray<ItemResult<any>>) => {
    // Counted here and recorded once per batch: a metric update is a label lookup.
    let emitted = 0
    let processed = 0
    const retried: Array<string> = []
    for (let i = 0; i < work.length; i++) {
      const d = work[i]!
      const result = results[i] ?? { _tag: "Fail" as const, error: new Error("operator returned no result for this entry") }
      if (result._tag === "Emit") {
        const encoded = encodeOutputs(c, d, envelopes[i]!, result.outputs)
        if (typeof encoded === "string") {
          metrics.failed.inc(labels)
          dead(d, encoded, "permanent")
          continue
        }
        for (const [stream, fields] of encoded) push(stream, fields)
        emitted += encoded.length
        acks.push(d.id)
        processed++
        continue
      }
      metrics.failed.inc(labels)
      const message = describeError(result.error)
      if (!isRetryable(result.error)) dead(d, message, "permanent")
      else if (d.deliveries >= op.settings.maxAttempts) dead(d, message, "max-attempts")
      else {
        // A service's Retry-After is honoured (up to an hour); the entry stays this consumer's meanwhile.
        const wait = Math.max(backoffDelayMs(op.settings, d.deliveries), Math.min(retryAfterMs(result.error) ?? 0, MAX_RETRY_AFTER_MS))
        c.retries.set(d.id, { due: Date.now() + wait })
        metrics.retried.inc(labels)
        retried.push(`operator ${op.name}: attempt ${d.deliveries} of ${d.id} failed: ${message}`)
      }
    }
    if (emitted > 0) metrics.emitted.inc(c.nodeLabels, emitted)
    if (processed > 0) metrics.processed.inc(labels, processed)
    metrics.processingSeconds.observe(labels, (performance.now() - started) / 1000, batch.length)
    const commit: Commit = { appends: appendsOf(out), acks: [{ stream: c.input, group: c.group, ids: acks }] }
    return retried.length === 0 ? Exit.succeed(commit) : Effect.as(Effect.forEach(retried, (m) => Effect.logDebug(m), { discard: true }), commit)
  }
  return envelopes.length === 0 ? finish([]) : Effect.flatMap(Effect.suspend(() => op.handle(envelopes)), finish)
}

