/**
 * In-process transport with the observable semantics of Redis Streams consumer groups:
 * ids, pending lists with delivery counts and idle times, claims, lag, blocking reads,
 * trimming that spares unconsumed entries. It is the `npm start` default and is held to
 * the same conformance suite as the Redis layer. It lives and dies with one process:
 * anything that must survive a crash or span machines uses Redis.
 *
 * Every operation runs synchronously inside one JavaScript turn, which is what makes a
 * commit atomic here (the counterpart of MULTI/EXEC).
 */
import { Effect, Either, Layer, Option } from "effect"
import { TransportError } from "../errors.ts"
import {
  type Append,
  type BacklogQuery,
  type Commit,
  type Delivery,
  type Entry,
  type ReadRequest,
  type StreamInfo,
  Transport,
  type TransportShape
} from "../transport.ts"

interface Id {
  readonly ms: number
  readonly seq: number
}

interface MemEntry extends Entry {
  readonly at: Id
}

interface Pending {
  consumer: string
  deliveredAt: number
  count: number
}

interface Group {
  lastDelivered: Id
  /** In id order: entries are first delivered in id order and keep their place when claimed. */
  readonly pending: Map<string, Pending>
  readonly consumers: Map<string, { seenAt: number }>
}

interface MemStream {
  entries: Array<MemEntry>
  /** Index of the first live entry; trimmed entries before it are compacted away lazily. */
  head: number
  last: Id
  readonly groups: Map<string, Group>
  readonly waiters: Set<() => void>
}

const ZERO: Id = { ms: 0, seq: 0 }
const cmp = (a: Id, b: Id) => (a.ms !== b.ms ? a.ms - b.ms : a.seq - b.seq)
const parse = (id: string): Id => {
  const [ms = "0", seq = "0"] = id.split("-")
  return { ms: Number(ms), seq: Number(seq) }
}
const format = (id: Id) => `${id.ms}-${id.seq}`

export const make = Effect.sync((): TransportShape => {
  const streams = new Map<string, MemStream>()

  const get = (key: string, create = false): MemStream | undefined => {
    let s = streams.get(key)
    if (s === undefined && create) {
      s = { entries: [], head: 0, last: ZERO, groups: new Map(), waiters: new Set() }
      streams.set(key, s)
    }
    return s
  }

  /** Index of the first live entry with id > `after`. */
  const firstAfter = (s: MemStream, after: Id): number => {
    let lo = s.head
    let hi = s.entries.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (cmp(s.entries[mid]!.at, after) <= 0) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  const find = (s: MemStream, id: string): MemEntry | undefined => {
    const at = parse(id)
    const i = firstAfter(s, { ms: at.ms, seq: at.seq - 1 })
    const e = s.entries[i]
    return e !== undefined && cmp(e.at, at) === 0 ? e : undefined
  }

  const appendNow = (a: Append): Array<string> => {
    const s = get(a.stream, true)!
    const ids = a.entries.map((fields) => {
      const now = Date.now()
      const at = now > s.last.ms ? { ms: now, seq: 0 } : { ms: s.last.ms, seq: s.last.seq + 1 }
      s.last = at
      const id = format(at)
      s.entries.push({ id, at, fields })
      return id
    })
    if (ids.length > 0) for (const wake of [...s.waiters]) wake()
    return ids
  }

  const groupOf = (key: string, name: string): Group => {
    const g = get(key)?.groups.get(name)
    // Redis answers NOGROUP; the worker re-creates its group and carries on.
    if (g === undefined) throw new Error(`NOGROUP No such key '${key}' or consumer group '${name}'`)
    return g
  }

  const touch = (g: Group, consumer: string, now: number) => g.consumers.set(consumer, { seenAt: now })

  const readNow = (r: ReadRequest): Array<Delivery> => {
    const s = get(r.stream)
    const g = groupOf(r.stream, r.group)
    const now = Date.now()
    touch(g, r.consumer, now)
    if (s === undefined) return []
    const start = firstAfter(s, g.lastDelivered)
    const out: Array<Delivery> = []
    for (let i = start; i < s.entries.length && out.length < r.count; i++) {
      const e = s.entries[i]!
      g.pending.set(e.id, { consumer: r.consumer, deliveredAt: now, count: 1 })
      g.lastDelivered = e.at
      out.push({ id: e.id, fields: e.fields, deliveries: 1 })
    }
    return out
  }

  const commitNow = (c: Commit) => {
    // Validate first so a failing commit changes nothing, as a refused MULTI would.
    for (const ack of c.acks) if (ack.ids.length > 0) groupOf(ack.stream, ack.group)
    for (const a of c.appends) appendNow(a)
    for (const ack of c.acks) {
      const g = groupOf(ack.stream, ack.group)
      for (const id of ack.ids) g.pending.delete(id)
    }
  }

  const backlogNow = (queries: ReadonlyArray<BacklogQuery>): number => {
    let worst = 0
    for (const q of queries) {
      const s = get(q.stream)
      if (s === undefined) continue
      const length = s.entries.length - s.head
      for (const name of q.groups) {
        const g = s.groups.get(name)
        const backlog = g === undefined ? length : s.entries.length - firstAfter(s, g.lastDelivered) + g.pending.size
        worst = Math.max(worst, backlog)
      }
    }
    return worst
  }

  const attempt = <A>(run: () => A) => Effect.try({ try: run, catch: (e) => e as Error })

  /** Waits until the stream gets new entries or `ms` pass. */
  const waitForAppend = (key: string, ms: number) =>
    Effect.async<void>((resume) => {
      const s = get(key, true)!
      const wake = () => {
        clearTimeout(timer)
        s.waiters.delete(wake)
        resume(Effect.void)
      }
      const timer = setTimeout(wake, ms)
      s.waiters.add(wake)
      return Effect.sync(() => {
        clearTimeout(timer)
        s.waiters.delete(wake)
      })
    })

  const read = (r: ReadRequest): Effect.Effect<ReadonlyArray<Delivery>, Error> =>
    attempt(() => readNow(r)).pipe(
      Effect.flatMap((got) =>
        got.length > 0 || r.blockMs <= 0 ? Effect.succeed(got) : Effect.zipRight(waitForAppend(r.stream, r.blockMs), attempt(() => readNow(r)))
      )
    )

  /** Claims pending `ids` for `consumer`; `ownOnly`: only those it owns; `count`: a delivery more. */
  const claimEach = (key: string, group: string, consumer: string, ids: Iterable<string>, limit: number, ownOnly = false, count = true) => {
    const s = get(key)
    const g = groupOf(key, group)
    const now = Date.now()
    touch(g, consumer, now)
    const out: Array<Delivery> = []
    for (const id of ids) {
      if (out.length >= limit) break
      const p = g.pending.get(id)
      if (p === undefined || (ownOnly && p.consumer !== consumer)) continue
      const entry = s === undefined ? undefined : find(s, id)
      if (entry === undefined) {
        g.pending.delete(id)
        continue
      }
      p.consumer = consumer
      p.deliveredAt = now
      if (count) p.count += 1
      out.push({ id, fields: entry.fields, deliveries: p.count })
    }
    return out
  }

  const asTransportError = <A, R>(what: string, effect: Effect.Effect<A, Error, R>) =>
    Effect.mapError(effect, (cause) => new TransportError({ message: `embedded ${what}: ${cause.message}`, cause }))

  const shape: TransportShape = {
    kind: "embedded",
    ensureGroup: (key, group) =>
      Effect.sync(() => {
        const s = get(key, true)!
        if (!s.groups.has(group)) s.groups.set(group, { lastDelivered: ZERO, pending: new Map(), consumers: new Map() })
      }),
    append: (a) => asTransportError("append", attempt(() => appendNow(a))),
    commit: (c) => asTransportError("commit", attempt(() => commitNow(c))),
    exchange: (x) =>
      asTransportError(
        "exchange",
        Effect.gen(function* () {
          // A commit that fails changes nothing (see commitNow); the read still happens.
          const commitError = x.commit
            ? Either.getLeft(yield* Effect.either(asTransportError("commit", attempt(() => commitNow(x.commit!))))).pipe(Option.getOrUndefined)
            : undefined
          const backlog = x.backlog ? backlogNow(x.backlog) : 0
          const read_ = x.read ? yield* Effect.either(asTransportError("read", read(x.read))) : Either.right([])
          return Either.isRight(read_)
            ? { backlog, deliveries: read_.right, commitError }
            : { backlog, deliveries: [], commitError, readError: read_.left }
        })
      ),
    backlog: (queries) => Effect.sync(() => backlogNow(queries)),
    readPending: (key, group, consumer, count) =>
      asTransportError(
        "readPending",
        attempt(() => {
          const g = groupOf(key, group)
          const mine = [...g.pending.entries()].filter(([, p]) => p.consumer === consumer).map(([id]) => id)
          return claimEach(key, group, consumer, mine, count, true)
        })
      ),
    claim: (key, group, consumer, ids, mode = "retry") =>
      asTransportError("claim", attempt(() => claimEach(key, group, consumer, ids, Number.MAX_SAFE_INTEGER, true, mode === "retry"))),
    autoClaim: (key, group, consumer, minIdleMs, count) =>
      asTransportError(
        "autoClaim",
        attempt(() => {
          const g = groupOf(key, group)
          const now = Date.now()
          const idle = [...g.pending.entries()].filter(([, p]) => now - p.deliveredAt >= minIdleMs).map(([id]) => id)
          return claimEach(key, group, consumer, idle, count)
        })
      ),
    info: (key) =>
      Effect.sync((): StreamInfo => {
        const s = get(key)
        if (s === undefined) return { length: 0, firstId: null, lastId: null, groups: [] }
        const now = Date.now()
        return {
          length: s.entries.length - s.head,
          firstId: s.entries[s.head]?.id ?? null,
          lastId: s.entries.at(-1)?.id ?? null,
          groups: [...s.groups.entries()].map(([name, g]) => ({
            name,
            pending: g.pending.size,
            lag: s.entries.length - firstAfter(s, g.lastDelivered),
            lastDeliveredId: format(g.lastDelivered),
            consumers: [...g.consumers.entries()].map(([consumer, c]) => ({
              name: consumer,
              pending: [...g.pending.values()].filter((p) => p.consumer === consumer).length,
              idleMs: now - c.seenAt
            }))
          }))
        }
      }),
    range: (key, options = {}) =>
      Effect.sync(() => {
        const s = get(key)
        if (s === undefined) return []
        const lo = options.start === undefined || options.start === "-" ? ZERO : parse(options.start)
        const hi = options.end === undefined || options.end === "+" ? { ms: Infinity, seq: Infinity } : parse(options.end)
        const live = s.entries.slice(s.head).filter((e) => cmp(e.at, lo) >= 0 && cmp(e.at, hi) <= 0)
        const ordered = options.reverse ? live.reverse() : live
        return ordered.slice(0, options.count ?? 100).map((e): Entry => ({ id: e.id, fields: e.fields }))
      }),
    remove: (key, ids) =>
      Effect.sync(() => {
        const s = get(key)
        if (s === undefined) return 0
        const drop = new Set(ids)
        const before = s.entries.length - s.head
        s.entries = s.entries.slice(s.head).filter((e) => !drop.has(e.id))
        s.head = 0
        return before - s.entries.length
      }),
    trim: (key, keep, maxAgeMs) =>
      Effect.sync(() => {
        const s = get(key)
        if (s === undefined) return 0
        // Cut before the oldest of the newest `keep` entries (and the first young enough),
        // but not past what a group still needs.
        let cut = Math.max(s.head, s.entries.length - keep)
        if (maxAgeMs !== undefined) cut = Math.max(cut, firstAfter(s, { ms: Date.now() - maxAgeMs - 1, seq: Number.MAX_SAFE_INTEGER }))
        if (cut <= s.head) return 0
        for (const g of s.groups.values()) {
          const oldestPending = g.pending.keys().next()
          const safe = oldestPending.done ? firstAfter(s, g.lastDelivered) : firstAfter(s, decrement(parse(oldestPending.value)))
          cut = Math.min(cut, safe)
        }
        const removed = Math.max(0, cut - s.head)
        s.head += removed
        if (s.head > 1024 && s.head * 2 > s.entries.length) {
          s.entries = s.entries.slice(s.head)
          s.head = 0
        }
        return removed
      }),
    pruneConsumers: (key, group, minIdleMs) =>
      Effect.sync(() => {
        const g = get(key)?.groups.get(group)
        if (g === undefined) return 0
        const now = Date.now()
        let removed = 0
        for (const [name, c] of g.consumers) {
          const holds = [...g.pending.values()].some((p) => p.consumer === name)
          if (!holds && now - c.seenAt >= minIdleMs) {
            g.consumers.delete(name)
            removed++
          }
        }
        return removed
      }),
    ping: Effect.void
  }
  return shape
})

const decrement = (id: Id): Id => (id.seq > 0 ? { ms: id.ms, seq: id.seq - 1 } : { ms: id.ms - 1, seq: Number.MAX_SAFE_INTEGER })

export const layer: Layer.Layer<Transport> = Layer.effect(Transport, make)
