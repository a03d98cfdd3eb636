/**
 * The stream transport: Redis Streams semantics, with one layer per backend
 * (`transport/redis.ts`, `transport/embedded.ts`), both held to `test/conformance.ts`.
 *
 * Names here are Redis keys (see `keys.ts`); the transport knows nothing of envelopes.
 */
import { Context, type Effect } from "effect"
import type { Fields } from "./envelope.ts"
import type { TransportError } from "./errors.ts"

export interface Entry {
  readonly id: string
  readonly fields: Fields
}

/** An entry handed to a consumer, with its delivery count from the pending list. */
export interface Delivery extends Entry {
  readonly deliveries: number
}

export interface Append {
  readonly stream: string
  readonly entries: ReadonlyArray<Fields>
}

export interface Ack {
  readonly stream: string
  readonly group: string
  readonly ids: ReadonlyArray<string>
}

/** Appended and acknowledged together, atomically (MULTI/EXEC): an input is acked exactly when its outputs exist. */
export interface Commit {
  readonly appends: ReadonlyArray<Append>
  readonly acks: ReadonlyArray<Ack>
}

export interface ReadRequest {
  readonly stream: string
  readonly group: string
  readonly consumer: string
  readonly count: number
  /** 0 = do not wait. */
  readonly blockMs: number
}

/** Entries of `stream` not yet acknowledged by the slowest of `groups` (its lag plus its pending). */
export interface BacklogQuery {
  readonly stream: string
  readonly groups: ReadonlyArray<string>
  /**
   * When Redis cannot tell a group's lag (after an XDEL inside its unread range) the
   * undelivered entries are counted, but no further than this (default 100,000): enough
   * to decide backpressure. Pass the high watermark.
   */
  readonly countUpTo?: number
  /**
   * A lag Redis reports at or above this is counted from the last-delivered id too (default:
   * never): after a restart from its AOF, Redis 7.0 can report a lag far above the truth
   * (a group's entries-read is not fully restored), which would hold backpressure for good.
   * Pass the low watermark: below it the figure cannot pause anything.
   */
  readonly checkLagFrom?: number
}

/**
 * One round trip of the worker loop, in this order: commit the previous batch, measure
 * the output backlog, read the next batch. The Redis layer sends all three in one pipeline.
 */
export interface Exchange {
  readonly commit?: Commit | undefined
  readonly backlog?: ReadonlyArray<BacklogQuery> | undefined
  readonly read?: ReadRequest | undefined
}

/**
 * What came of each part of a round trip. The exchange itself fails only when nothing is
 * known (the connection broke before the replies came); then whether the commit was
 * applied is unknown too, and resending it can duplicate outputs (their event ids are
 * derived, so idempotent sinks absorb them).
 */
export interface ExchangeResult {
  /** The largest backlog among the queried streams (0 when none was asked, or it failed). */
  readonly backlog: number
  /** Delivered by the read, also when the commit failed: they are pending for this consumer now. */
  readonly deliveries: ReadonlyArray<Delivery>
  /** The commit was not applied (EXEC refused or failed); send it again. Absent: it was applied. */
  readonly commitError?: TransportError | undefined
  /** The backlog measurement or the read failed (after the commit was applied). */
  readonly readError?: TransportError | undefined
}

export interface ConsumerInfo {
  readonly name: string
  readonly pending: number
  readonly idleMs: number
}

export interface GroupInfo {
  readonly name: string
  readonly pending: number
  /** Entries not yet delivered to the group; null when Redis cannot tell. */
  readonly lag: number | null
  readonly lastDeliveredId: string
  readonly consumers: ReadonlyArray<ConsumerInfo>
}

export interface StreamInfo {
  readonly length: number
  readonly firstId: string | null
  readonly lastId: string | null
  readonly groups: ReadonlyArray<GroupInfo>
}

export interface RangeOptions {
  readonly start?: string
  readonly end?: string
  readonly count?: number
  /** Newest first. */
  readonly reverse?: boolean
}

export interface TransportShape {
  readonly kind: "redis" | "embedded"
  /** Creates the group (and the stream) reading from the beginning; an existing group is left alone. */
  readonly ensureGroup: (stream: string, group: string) => Effect.Effect<void, TransportError>
  /** Appends entries atomically; returns their ids. */
  readonly append: (append: Append) => Effect.Effect<ReadonlyArray<string>, TransportError>
  readonly commit: (commit: Commit) => Effect.Effect<void, TransportError>
  readonly exchange: (exchange: Exchange) => Effect.Effect<ExchangeResult, TransportError>
  readonly backlog: (queries: ReadonlyArray<BacklogQuery>) => Effect.Effect<number, TransportError>
  /** The consumer's own pending entries (re-read after a restart under the same name). */
  readonly readPending: (
    stream: string,
    group: string,
    consumer: string,
    count: number
  ) => Effect.Effect<ReadonlyArray<Delivery>, TransportError>
  /**
   * Takes back the given entries that this consumer still owns (XCLAIM): its retries,
   * counting a delivery, or (`hold`) entries it read and keeps for later, without counting
   * one, restarting their idle time. An entry another consumer took over meanwhile is not
   * returned (that consumer is working on it); entries gone from the stream are dropped
   * from the pending list.
   */
  readonly claim: (
    stream: string,
    group: string,
    consumer: string,
    ids: ReadonlyArray<string>,
    mode?: "retry" | "hold"
  ) => Effect.Effect<ReadonlyArray<Delivery>, TransportError>
  /** Takes over entries idle at least `minIdleMs` from any consumer (XAUTOCLAIM). */
  readonly autoClaim: (
    stream: string,
    group: string,
    consumer: string,
    minIdleMs: number,
    count: number
  ) => Effect.Effect<ReadonlyArray<Delivery>, TransportError>
  readonly info: (stream: string) => Effect.Effect<StreamInfo, TransportError>
  readonly range: (stream: string, options?: RangeOptions) => Effect.Effect<ReadonlyArray<Entry>, TransportError>
  readonly remove: (stream: string, ids: ReadonlyArray<string>) => Effect.Effect<number, TransportError>
  /**
   * Trims the stream to about `keep` entries (and, with `maxAgeMs`, drops entries older
   * than that), but never past an entry that one of its groups has not yet read and
   * acknowledged. Costs what is removed, not what is kept. Returns how many entries were removed.
   */
  readonly trim: (stream: string, keep: number, maxAgeMs?: number) => Effect.Effect<number, TransportError>
  /** Forgets consumers that hold no pending entries and were idle at least `minIdleMs`, atomically. */
  readonly pruneConsumers: (stream: string, group: string, minIdleMs: number) => Effect.Effect<number, TransportError>

  /** Answers when the engine does (PING); for readiness checks. */
  readonly ping: Effect.Effect<void, TransportError>
}

export class Transport extends Context.Tag("desainz/Transport")<Transport, TransportShape>() {}

/** Compares two stream ids ("ms-seq"). */
export const compareIds = (a: string, b: string): number => {
  const [am = "0", as = "0"] = a.split("-")
  const [bm = "0", bs = "0"] = b.split("-")
  const ms = Number(am) - Number(bm)
  return ms !== 0 ? Math.sign(ms) : Math.sign(Number(as) - Number(bs))
}
