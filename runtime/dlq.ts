/**
 * Dead-letter tooling over the transport: list, requeue, drop. Used by the CLI and the
 * HTTP API alike. A requeued entry goes back to the operator's input stream marked for
 * that operator alone, so other groups reading the same stream do not see it twice.
 */
import { Effect, Schema } from "effect"
import { NotFoundError, PermanentError } from "./errors.ts"
import type { Keys } from "./keys.ts"
import type { Topology } from "./topology.ts"
import { type Append, type Entry, Transport } from "./transport.ts"
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

/** The most dead letters one call lists, requeues or drops at a time (one XRANGE, one MULTI). */
export const DLQ_PAGE = 1_000

/** The newest dead letters, at most `count` (capped at `DLQ_PAGE`). */
export const listDeadLetters = (t: Topology<any>, keys: Keys, operator: string, options: { count?: number } = {}) =>
  Effect.gen(function* () {
    yield* nodeNamed(t, operator)
    const transport = yield* Transport
    const entries = yield* transport.range(keys.dlq(operator), { reverse: true, count: Math.min(DLQ_PAGE, options.count ?? 100) })
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

const nextId = (id: string) => {
  const [ms = "0", seq = "0"] = id.split("-")
  return `${ms}-${Number(seq) + 1}`
}

/**
 * Applies `action` to the selected dead letters a page (`DLQ_PAGE`) at a time, and returns
 * the sum of what it returns. `all` means what the stream holds when the call starts: a
 * requeued entry that fails again comes back with a newer id and is not picked up again.
 */
const eachPage = <E, R>(
  t: Topology<any>,
  keys: Keys,
  operator: string,
  selection: Selection,
  action: (entries: ReadonlyArray<Entry>) => Effect.Effect<number, E, R>
) =>
  Effect.gen(function* () {
    yield* nodeNamed(t, operator)
    const transport = yield* Transport
    const key = keys.dlq(operator)
    let total = 0
    if ("all" in selection) {
      const [newest] = yield* transport.range(key, { reverse: true, count: 1 })
      if (newest === undefined) return 0
      let start = "-"
      while (true) {
        const page = yield* transport.range(key, { start, end: newest.id, count: DLQ_PAGE })
        if (page.length === 0) break
        total += yield* action(page)
        if (page.length < DLQ_PAGE) break
        start = nextId(page.at(-1)!.id)
      }
      return total
    }
    const found = yield* Effect.forEach(selection.ids, (id) => transport.range(key, { start: id, end: id, count: 1 }))
    const missing = selection.ids.filter((_, i) => found[i]!.length === 0)
    if (missing.length > 0) {
      return yield* new NotFoundError({ message: `no dead letter with id ${missing.join(", ")} in dlq.${operator}` })
    }
    const entries = found.flat()
    for (let i = 0; i < entries.length; i += DLQ_PAGE) total += yield* action(entries.slice(i, i + DLQ_PAGE))
    return total
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
    return yield* eachPage(t, keys, operator, selection, (entries) =>
      transport
        .append({
          stream: keys.stream(node.from.name),
          entries: entries.map((e) => ({
            ...Object.fromEntries(Object.entries(e.fields).filter(([k]) => !isDlqField(k) && k !== REQUEUED_FOR)),
            [REQUEUED_FOR]: operator
          }))
        })
        .pipe(Effect.zipRight(transport.remove(keys.dlq(operator), entries.map((e) => e.id))))
    )
  })

export const drop = (t: Topology<any>, keys: Keys, operator: string, selection: Selection) =>
  Effect.gen(function* () {
    const transport = yield* Transport
    return yield* eachPage(t, keys, operator, selection, (entries) => transport.remove(keys.dlq(operator), entries.map((e) => e.id)))
  })
