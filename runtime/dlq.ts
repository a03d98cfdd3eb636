/**
 * Dead-letter tooling over the transport: list, requeue, drop. Used by the CLI and the
 * HTTP API alike. A requeued entry goes back to the operator's input stream marked for
 * that operator alone, so other groups reading the same stream do not see it twice.
 */
import { Effect, Schema } from "effect"
import { NotFoundError, PermanentError } from "./errors.ts"
import type { Keys } from "./keys.ts"
import type { Topology } from "./topology.ts"
import { type Append, Transport } from "./transport.ts"
import type { Fields } from "./envelope.ts"

/** Fields a dead-letter entry adds to the original entry's fields. */
export const DLQ_FIELDS = {
  error: "dlq.error",
  reason: "dlq.reason",
  attempts: "dlq.attempts",
  operator: "dlq.operator",
  stream: "dlq.stream",
  originalId: "dlq.originalId",
  failedAt: "dlq.failedAt"
} as const
/** Set on an entry requeued from a dead-letter stream: only this operator's group processes it. */
export const REQUEUED_FOR = "requeuedFor"

export type DeadLetterReason = "permanent" | "max-attempts" | "decode" | "source"

/** The append that dead-letters one entry: its original fields plus why, how often and where it failed. */
export const deadLetter = (
  keys: Keys,
  node: string,
  stream: string,
  original: Fields,
  originalId: string,
  error: string,
  attempts: number,
  reason: DeadLetterReason
): Append => ({
  stream: keys.dlq(node),
  entries: [
    {
      ...original,
      [DLQ_FIELDS.error]: error,
      [DLQ_FIELDS.reason]: reason,
      [DLQ_FIELDS.attempts]: String(attempts),
      [DLQ_FIELDS.operator]: node,
      [DLQ_FIELDS.stream]: stream,
      [DLQ_FIELDS.originalId]: originalId,
      [DLQ_FIELDS.failedAt]: new Date().toISOString()
    }
  ]
})

export const DeadLetter = Schema.Struct({
  id: Schema.String,
  operator: Schema.String,
  stream: Schema.String,
  originalId: Schema.String,
  error: Schema.String,
  reason: Schema.String,
  attempts: Schema.Number,
  failedAt: Schema.String,
  /** The original entry's fields, exactly as they were read. */
  fields: Schema.Record({ key: Schema.String, value: Schema.String })
})
export type DeadLetter = typeof DeadLetter.Type

const isDlqField = (k: string) => k.startsWith("dlq.")

const nodeNamed = (t: Topology<any>, operator: string) => {
  const node = t.nodes.find((n) => n.name === operator)
  return node === undefined
    ? Effect.fail(new NotFoundError({ message: `unknown operator "${operator}"; known: ${t.nodes.map((n) => n.name).join(", ")}` }))
    : Effect.succeed(node)
}

export const listDeadLetters = (t: Topology<any>, keys: Keys, operator: string, options: { count?: number } = {}) =>
  Effect.gen(function* () {
    yield* nodeNamed(t, operator)
    const transport = yield* Transport
    const entries = yield* transport.range(keys.dlq(operator), { reverse: true, count: options.count ?? 100 })
    return entries.map(
      (e): DeadLetter => ({
        id: e.id,
        operator: e.fields[DLQ_FIELDS.operator] ?? operator,
        stream: e.fields[DLQ_FIELDS.stream] ?? "",
        originalId: e.fields[DLQ_FIELDS.originalId] ?? "",
        error: e.fields[DLQ_FIELDS.error] ?? "",
        reason: e.fields[DLQ_FIELDS.reason] ?? "",
        attempts: Number(e.fields[DLQ_FIELDS.attempts] ?? 0),
        failedAt: e.fields[DLQ_FIELDS.failedAt] ?? "",
        fields: Object.fromEntries(Object.entries(e.fields).filter(([k]) => !isDlqField(k)))
      })
    )
  })

export const deadLetterCount = (keys: Keys, operator: string) =>
  Effect.flatMap(Transport, (transport) => Effect.map(transport.info(keys.dlq(operator)), (i) => i.length))

/** Which dead letters an action applies to. */
export type Selection = { readonly all: true } | { readonly ids: ReadonlyArray<string> }

const selected = (t: Topology<any>, keys: Keys, operator: string, selection: Selection) =>
  Effect.gen(function* () {
    yield* nodeNamed(t, operator)
    const transport = yield* Transport
    const key = keys.dlq(operator)
    if ("all" in selection) return yield* transport.range(key, { count: 1_000_000 })
    const found = yield* Effect.forEach(selection.ids, (id) => transport.range(key, { start: id, end: id, count: 1 }))
    const missing = selection.ids.filter((_, i) => found[i]!.length === 0)
    if (missing.length > 0) {
      return yield* new NotFoundError({ message: `no dead letter with id ${missing.join(", ")} in dlq.${operator}` })
    }
    return found.flat()
  })

/**
 * Puts dead letters back on the operator's input stream (fresh attempts), then removes
 * them from the DLQ. Append first: a crash in between leaves a duplicate, never a loss.
 */
export const requeue = (t: Topology<any>, keys: Keys, operator: string, selection: Selection) =>
  Effect.gen(function* () {
    const node = yield* nodeNamed(t, operator)
    if (node._tag !== "Operator") {
      return yield* new PermanentError({ message: `"${operator}" is a source: its dead letters record failed polls and cannot be requeued` })
    }
    const transport = yield* Transport
    const entries = yield* selected(t, keys, operator, selection)
    if (entries.length === 0) return 0
    yield* transport.append({
      stream: keys.stream(node.from.name),
      entries: entries.map((e) => ({
        ...Object.fromEntries(Object.entries(e.fields).filter(([k]) => !isDlqField(k) && k !== REQUEUED_FOR)),
        [REQUEUED_FOR]: operator
      }))
    })
    return yield* transport.remove(keys.dlq(operator), entries.map((e) => e.id))
  })

export const drop = (t: Topology<any>, keys: Keys, operator: string, selection: Selection) =>
  Effect.gen(function* () {
    const transport = yield* Transport
    const entries = yield* selected(t, keys, operator, selection)
    return yield* transport.remove(keys.dlq(operator), entries.map((e) => e.id))
  })
