/**
 * Redis Streams transport. Everything that writes entries (commits, appends) and the
 * backlog measurement go through `resp.ts` connections: a round trip written as one string,
 * one MULTI/EXEC encoding for all of them. Each consumer has a connection of its own, so
 * one waiting in XREADGROUP BLOCK never holds up another's commit; the rest share one.
 * Claims, history reads and inspection (XINFO, XRANGE, trims) use one shared ioredis
 * connection.
 */
import { readFileSync } from "node:fs"
import { Effect, Layer, Redacted } from "effect"
import { Redis } from "ioredis"
import { RespBatch, RespConnection } from "./resp.ts"
import type { Fields } from "../envelope.ts"
import { TransportError } from "../errors.ts"
import {
  type BacklogQuery,
  type Commit,
  type Delivery,
  type Entry,
  type GroupInfo,
  Transport,
  type TransportShape
} from "../transport.ts"

const script = (name: string) => readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), "utf8")

interface ScriptedRedis extends Redis {
  desainzClaim(key: string, ...args: ReadonlyArray<string | number>): Promise<ReadonlyArray<unknown>>
  desainzTrim(key: string, keep: number): Promise<number>
}

const withScripts = (redis: Redis): ScriptedRedis => {
  redis.defineCommand("desainzClaim", { numberOfKeys: 1, lua: script("claim") })
  redis.defineCommand("desainzTrim", { numberOfKeys: 1, lua: script("trim") })
  return redis as ScriptedRedis
}

const attempt = <A>(what: string, run: () => Promise<A>): Effect.Effect<A, TransportError> =>
  Effect.tryPromise({
    try: run,
    catch: (cause) => new TransportError({ message: `redis ${what}: ${cause instanceof Error ? cause.message : String(cause)}`, cause })
  })

const toFields = (flat: ReadonlyArray<string>): Fields => {
  const fields: Record<string, string> = {}
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!
  return fields
}

type RawEntries = ReadonlyArray<[string, ReadonlyArray<string>]>
type ReadReply = ReadonlyArray<[string, RawEntries]> | null

const fromRead = (reply: ReadReply, deliveries: number): ReadonlyArray<Delivery> =>
  reply === null ? [] : reply.flatMap(([, entries]) => entries.map(([id, flat]) => ({ id, fields: toFields(flat), deliveries })))

const fromClaim = (reply: ReadonlyArray<unknown>): ReadonlyArray<Delivery> => {
  const out: Array<Delivery> = []
  for (let i = 0; i + 2 < reply.length; i += 3) {
    out.push({ id: reply[i] as string, fields: toFields(reply[i + 1] as ReadonlyArray<string>), deliveries: Number(reply[i + 2]) })
  }
  return out
}

/** Asks for what `backlogFrom` needs: each stream's length and its groups. */
const queueBacklog = (batch: RespBatch, queries: ReadonlyArray<BacklogQuery>): void => {
  for (const q of queries) batch.command("XLEN", q.stream).command("XINFO", "GROUPS", q.stream)
}

/**
 * The largest backlog among the queried streams, from `queueBacklog`'s replies starting at
 * `at`: what the slowest wanted group has not acknowledged yet (lag + pending). A group that
 * does not exist yet counts the whole stream (it will read from the start); when Redis
 * cannot tell a group's lag (after XDEL inside its range, or before Redis 7) the length is
 * used: an upper bound, so backpressure errs on the side of waiting.
 */
const backlogFrom = (queries: ReadonlyArray<BacklogQuery>, replies: ReadonlyArray<unknown>, at: number): number => {
  let worst = 0
  for (let n = 0; n < queries.length; n++) {
    const length = replies[at + 2 * n]
    const groups = replies[at + 2 * n + 1]
    if (length instanceof Error) throw length
    if (groups instanceof Error) {
      if (/no such key/i.test(groups.message)) continue // no stream yet: nothing waits in it
      throw groups
    }
    // Read in place: this runs every round trip, and a group's reply is a flat name/value list.
    const infos = groups as ReadonlyArray<ReadonlyArray<unknown>>
    for (const wanted of queries[n]!.groups) {
      const info = infos.find((g) => fieldOf(g, "name") === wanted)
      const lag = info === undefined ? undefined : fieldOf(info, "lag")
      const backlog = info === undefined ? Number(length) : (typeof lag === "number" ? lag : Number(length)) + Number(fieldOf(info, "pending"))
      if (backlog > worst) worst = backlog
    }
  }
  return worst
}

/** Queues a commit as MULTI, its XADDs and XACKs, EXEC; returns where EXEC's reply will be. */
const queueCommit = (batch: RespBatch, commit: Commit): number => {
  batch.command("MULTI")
  for (const a of commit.appends) for (const fields of a.entries) batch.xadd(a.stream, fields)
  for (const ack of commit.acks) if (ack.ids.length > 0) batch.command("XACK", ack.stream, ack.group, ...ack.ids)
  const execAt = batch.commands
  batch.command("EXEC")
  return execAt
}

/**
 * EXEC's replies (the appended entries' ids first), or the error that stopped the commit.
 * MULTI's OK and one QUEUED per command come before it; a command Redis refused to queue
 * makes EXEC fail as a whole (EXECABORT), with nothing written.
 */
const committed = (replies: ReadonlyArray<unknown>, execAt: number): ReadonlyArray<unknown> => {
  const exec = replies[execAt]
  if (!Array.isArray(exec)) throw exec instanceof Error ? exec : new Error("MULTI/EXEC aborted")
  // Redis runs the rest of a transaction past a failing command; surface it.
  const failed = exec.find((r) => r instanceof Error)
  if (failed) throw failed
  return exec
}

/** The value after `name` in a flat name/value reply. */
const fieldOf = (flat: ReadonlyArray<unknown>, name: string): unknown => {
  for (let i = 0; i + 1 < flat.length; i += 2) if (flat[i] === name) return flat[i + 1]
  return undefined
}

const asObject = (flat: ReadonlyArray<unknown>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = flat[i + 1]
  return out
}

export interface RedisTransportOptions {
  readonly url: Redacted.Redacted<string>
}

export const make = (options: RedisTransportOptions) =>
  Effect.gen(function* () {
    const connect = () =>
      withScripts(
        new Redis(Redacted.value(options.url), {
          lazyConnect: false,
          // Blocking reads and long MULTIs must not be cut by a client-side timeout.
          maxRetriesPerRequest: null,
          enableAutoPipelining: false
        })
      )
    const shared = yield* Effect.acquireRelease(Effect.sync(connect), (r) => Effect.promise(() => r.quit().catch(() => undefined)))
    // A consumer's round trips go over its own connection, so one waiting in XREADGROUP
    // BLOCK never holds up another's commit; by group, then consumer (consumer names are
    // unique within a group only: one process runs `0` of several operators).
    const url = Redacted.value(options.url)
    const dedicated = new Map<string, Map<string, RespConnection>>()
    const unattached = new RespConnection(url)
    yield* Effect.addFinalizer(() =>
      Effect.promise(() => Promise.all([unattached, ...[...dedicated.values()].flatMap((byConsumer) => [...byConsumer.values()])].map((c) => c.close())))
    )
    const connectionOf = (group: string, consumer: string): RespConnection => {
      let byConsumer = dedicated.get(group)
      if (byConsumer === undefined) dedicated.set(group, (byConsumer = new Map()))
      let conn = byConsumer.get(consumer)
      if (conn === undefined) byConsumer.set(consumer, (conn = new RespConnection(url)))
      return conn
    }

    const groupsOf = async (conn: Redis, stream: string): Promise<ReadonlyArray<Record<string, unknown>>> =>
      ((await conn.call("XINFO", "GROUPS", stream)) as ReadonlyArray<ReadonlyArray<unknown>>).map(asObject)

    const shape: TransportShape = {
      kind: "redis",
      ensureGroup: (stream, group) =>
        attempt("XGROUP CREATE", () => shared.xgroup("CREATE", stream, group, "0", "MKSTREAM")).pipe(
          Effect.asVoid,
          Effect.catchIf((e) => String(e.message).includes("BUSYGROUP"), () => Effect.void)
        ),
      append: (a) =>
        attempt("XADD", async () => {
          const batch = new RespBatch()
          const execAt = queueCommit(batch, { appends: [a], acks: [] })
          return committed(await unattached.send(batch), execAt) as ReadonlyArray<string>
        }),
      commit: (commit) =>
        attempt("commit", async () => {
          const batch = new RespBatch()
          const execAt = queueCommit(batch, commit)
          committed(await unattached.send(batch), execAt)
        }),
      exchange: (x) =>
        attempt("exchange", async () => {
          const conn = x.read ? connectionOf(x.read.group, x.read.consumer) : unattached
          const batch = new RespBatch()
          const hasCommit = x.commit !== undefined && (x.commit.appends.length > 0 || x.commit.acks.length > 0)
          const execAt = hasCommit ? queueCommit(batch, x.commit!) : -1
          const hasBacklog = x.backlog !== undefined && x.backlog.length > 0
          const backlogAt = batch.commands
          if (hasBacklog) queueBacklog(batch, x.backlog!)
          const readAt = batch.commands
          if (x.read) {
            const r = x.read
            if (r.blockMs > 0) batch.command("XREADGROUP", "GROUP", r.group, r.consumer, "COUNT", r.count, "BLOCK", r.blockMs, "STREAMS", r.stream, ">")
            else batch.command("XREADGROUP", "GROUP", r.group, r.consumer, "COUNT", r.count, "STREAMS", r.stream, ">")
          }
          const replies = await conn.send(batch)
          if (hasCommit) committed(replies, execAt)
          const backlog = hasBacklog ? backlogFrom(x.backlog!, replies, backlogAt) : 0
          const read = replies[readAt]
          if (read instanceof Error) throw read
          return { backlog, deliveries: x.read ? fromRead(read as ReadReply, 1) : [] }
        }),
      backlog: (queries) =>
        queries.length === 0
          ? Effect.succeed(0)
          : attempt("backlog", async () => {
              const batch = new RespBatch()
              queueBacklog(batch, queries)
              return backlogFrom(queries, await unattached.send(batch), 0)
            }),
      readPending: (stream, group, consumer, count) =>
        attempt("XREADGROUP 0", async () => {
          const reply = (await shared.xreadgroup("GROUP", group, consumer, "COUNT", count, "STREAMS", stream, "0")) as ReadReply
          const entries = fromRead(reply, 0).filter((d) => Object.keys(d.fields).length > 0)
          if (entries.length === 0) return []
          // History reads count a delivery too; read the counts back from the pending list.
          const pending = (await shared.xpending(stream, group, entries[0]!.id, entries.at(-1)!.id, entries.length, consumer)) as ReadonlyArray<
            [string, string, number, number]
          >
          const counts = new Map(pending.map(([id, , , n]) => [id, Number(n)]))
          return entries.map((d) => ({ ...d, deliveries: counts.get(d.id) ?? 1 }))
        }),
      claim: (stream, group, consumer, ids) =>
        ids.length === 0
          ? Effect.succeed([])
          : attempt("XCLAIM", () => shared.desainzClaim(stream, group, consumer, "ids", ...ids)).pipe(Effect.map(fromClaim)),
      autoClaim: (stream, group, consumer, minIdleMs, count) =>
        attempt("XAUTOCLAIM", () => shared.desainzClaim(stream, group, consumer, "auto", Math.floor(minIdleMs), count)).pipe(
          Effect.map(fromClaim)
        ),
      info: (stream) =>
        attempt("XINFO", async () => {
          if ((await shared.exists(stream)) === 0) return { length: 0, firstId: null, lastId: null, groups: [] }
          const s = asObject((await shared.call("XINFO", "STREAM", stream)) as ReadonlyArray<unknown>)
          const first = s["first-entry"] as [string, unknown] | null
          const last = s["last-entry"] as [string, unknown] | null
          const groups: Array<GroupInfo> = []
          for (const g of await groupsOf(shared, stream)) {
            const name = String(g["name"])
            const consumers = ((await shared.call("XINFO", "CONSUMERS", stream, name)) as ReadonlyArray<ReadonlyArray<unknown>>).map(asObject)
            groups.push({
              name,
              pending: Number(g["pending"]),
              lag: g["lag"] === null || g["lag"] === undefined ? null : Number(g["lag"]),
              lastDeliveredId: String(g["last-delivered-id"]),
              consumers: consumers.map((c) => ({ name: String(c["name"]), pending: Number(c["pending"]), idleMs: Number(c["idle"]) }))
            })
          }
          return { length: Number(s["length"]), firstId: first?.[0] ?? null, lastId: last?.[0] ?? null, groups }
        }),
      range: (stream, options = {}) =>
        attempt("XRANGE", async () => {
          const count = options.count ?? 100
          const raw = (
            options.reverse
              ? await shared.xrevrange(stream, options.end ?? "+", options.start ?? "-", "COUNT", count)
              : await shared.xrange(stream, options.start ?? "-", options.end ?? "+", "COUNT", count)
          ) as RawEntries
          return raw.map(([id, flat]): Entry => ({ id, fields: toFields(flat) }))
        }),
      remove: (stream, ids) => (ids.length === 0 ? Effect.succeed(0) : attempt("XDEL", () => shared.xdel(stream, ...ids))),
      trim: (stream, keep) => attempt("trim", () => shared.desainzTrim(stream, keep)).pipe(Effect.map(Number)),
      pruneConsumers: (stream, group, minIdleMs) =>
        attempt("XGROUP DELCONSUMER", async () => {
          const consumers = ((await shared.call("XINFO", "CONSUMERS", stream, group)) as ReadonlyArray<ReadonlyArray<unknown>>).map(asObject)
          let removed = 0
          for (const c of consumers) {
            if (Number(c["pending"]) === 0 && Number(c["idle"]) >= minIdleMs) {
              await shared.xgroup("DELCONSUMER", stream, group, String(c["name"]))
              removed++
            }
          }
          return removed
        })
    }
    return shape
  })

export const layer = (options: RedisTransportOptions): Layer.Layer<Transport> => Layer.scoped(Transport, make(options))
