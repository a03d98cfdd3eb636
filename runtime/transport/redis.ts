/**
 * Redis Streams transport. Everything that writes entries (commits, appends) and the
 * backlog measurement go through `resp.ts` connections: a round trip written as one string,
 * one MULTI/EXEC encoding for all of them. Each consumer has a connection of its own, so
 * one waiting in XREADGROUP BLOCK never holds up another's commit; the rest share one.
 * Claims, history reads and inspection (XINFO, XRANGE, trims) use one shared ioredis
 * connection.
 */
import { readFileSync } from "node:fs"
import { Either, Effect, Layer, Redacted } from "effect"
import { Redis } from "ioredis"
import { RespBatch, RespConnection } from "./resp.ts"
import type { Fields } from "../envelope.ts"
import { describeError, TransportError } from "../errors.ts"
import {
  type BacklogQuery,
  type Commit,
  type Delivery,
  type Entry,
  type ExchangeResult,
  type GroupInfo,
  Transport,
  type TransportShape
} from "../transport.ts"

const script = (name: string) => readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), "utf8")

interface ScriptedRedis extends Redis {
  desainzClaim(key: string, ...args: ReadonlyArray<string | number>): Promise<ReadonlyArray<unknown>>
  desainzTrim(key: string, keep: number, minId: string): Promise<number>
  desainzPrune(key: string, group: string, minIdleMs: number): Promise<number>
  desainzBacklog(key: string, lastDeliveredId: string, countUpTo: number): Promise<number>
}

const withScripts = (redis: Redis): ScriptedRedis => {
  redis.defineCommand("desainzClaim", { numberOfKeys: 1, lua: script("claim") })
  redis.defineCommand("desainzTrim", { numberOfKeys: 1, lua: script("trim") })
  redis.defineCommand("desainzPrune", { numberOfKeys: 1, lua: script("prune") })
  redis.defineCommand("desainzBacklog", { numberOfKeys: 1, lua: script("backlog") })
  return redis as ScriptedRedis
}

/** The oldest Redis this transport runs on: 7.0 reports a consumer group's lag (XINFO GROUPS). */
export const MINIMUM_REDIS_VERSION = "7.0.0"

/** Refuses a Redis older than `MINIMUM_REDIS_VERSION`, from `INFO server`'s text; returns the version. */
export const checkRedisVersion = (info: string): string => {
  const version = /^redis_version:(\S+)/m.exec(info)?.[1]
  if (version === undefined) throw new Error("INFO server did not report redis_version")
  const [major = 0, minor = 0] = version.split(".").map(Number)
  const [needMajor = 0, needMinor = 0] = MINIMUM_REDIS_VERSION.split(".").map(Number)
  if (major < needMajor || (major === needMajor && minor < needMinor)) {
    throw new Error(
      `Redis ${version} is not supported: desAInz needs Redis ${MINIMUM_REDIS_VERSION} or newer (consumer-group lag in XINFO GROUPS, which backpressure reads)`
    )
  }
  return version
}

const asError = (what: string, cause: unknown) =>
  new TransportError({ message: `redis ${what}: ${cause instanceof Error ? cause.message : String(cause)}`, cause })

const attempt = <A>(what: string, run: () => Promise<A>): Effect.Effect<A, TransportError> =>
  Effect.tryPromise({ try: run, catch: (cause) => asError(what, cause) })

/** Runs a reply check; its error, or undefined when it passes. */
const failure = (what: string, check: () => unknown): TransportError | undefined => {
  try {
    check()
    return undefined
  } catch (cause) {
    return asError(what, cause)
  }
}

const toFields = (flat: ReadonlyArray<string>): Fields => {
  const fields: Record<string, string> = {}
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!
  return fields
}

type RawEntries = ReadonlyArray<[string, ReadonlyArray<string>]>
type ReadReply = ReadonlyArray<[string, RawEntries]> | null

const fromRead = (reply: ReadReply, deliveries: number): ReadonlyArray<Delivery> =>
  reply === null ? [] : reply.flatMap(([, entries]) => entries.map(([id, flat]) => ({ id, fields: toFields(flat), deliveries })))

/** A history read (id 0) answers a pending entry whose stream entry was deleted with nil fields. */
const deletedIds = (reply: ReadReply): ReadonlyArray<string> =>
  reply === null ? [] : reply.flatMap(([, entries]) => entries.filter(([, flat]) => flat === null).map(([id]) => id))

const liveOnly = (reply: ReadReply): ReadReply =>
  reply === null ? null : reply.map(([stream, entries]) => [stream, entries.filter(([, flat]) => flat !== null)])

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

/** A group whose lag Redis could not tell: its undelivered entries must be counted. */
interface UnknownLag {
  readonly stream: string
  readonly lastDeliveredId: string
  readonly pending: number
  readonly countUpTo: number
}

/**
 * The largest backlog among the queried streams, from `queueBacklog`'s replies starting at
 * `at`: what the slowest wanted group has not acknowledged yet (lag + pending). A group that
 * does not exist yet counts the whole stream (it will read from the start). A group whose
 * lag Redis cannot tell (after an XDEL inside its unread range), or reports high enough to
 * matter (`checkLagFrom`: Redis 7.0 can overstate it after an AOF restart), is returned in
 * `unknown`, to be counted from its last-delivered id (`countUnknown`): the stream's length
 * or a stale lag would be far above the watermarks and stall backpressure for good.
 */
const backlogFrom = (
  queries: ReadonlyArray<BacklogQuery>,
  replies: ReadonlyArray<unknown>,
  at: number
): { readonly worst: number; readonly unknown: ReadonlyArray<UnknownLag> } => {
  let worst = 0
  const unknown: Array<UnknownLag> = []
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
      if (info === undefined) {
        if (Number(length) > worst) worst = Number(length)
        continue
      }
      const lag = fieldOf(info, "lag")
      const pending = Number(fieldOf(info, "pending"))
      const q = queries[n]!
      if (typeof lag !== "number" || (q.checkLagFrom !== undefined && lag >= q.checkLagFrom)) {
        unknown.push({ stream: q.stream, lastDeliveredId: String(fieldOf(info, "last-delivered-id")), pending, countUpTo: q.countUpTo ?? 100_000 })
      } else if (lag + pending > worst) worst = lag + pending
    }
  }
  return { worst, unknown }
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
  /**
   * How long a command may go unanswered (beyond a blocking read's own wait) before its
   * connection is taken for dead, closed and reopened; default 10 s. Also bounds connecting.
   */
  readonly commandTimeoutMs?: number | undefined
}

export const make = (options: RedisTransportOptions) =>
  Effect.gen(function* () {
    const timeoutMs = options.commandTimeoutMs ?? 10_000
    const connect = () =>
      withScripts(
        new Redis(Redacted.value(options.url), {
          lazyConnect: false,
          // No blocking commands and no long MULTIs go over this connection (those use
          // resp.ts), so a bounded wait is right: during an outage a caller (an API
          // request, /metrics) gets an error instead of a queue that waits forever.
          maxRetriesPerRequest: 1,
          commandTimeout: timeoutMs,
          connectTimeout: timeoutMs,
          keepAlive: 10_000,
          enableAutoPipelining: false
        })
      )
    const shared = yield* Effect.acquireRelease(Effect.sync(connect), (r) =>
      // quit waits for Redis; during an outage it would wait forever, so disconnect after a while.
      Effect.promise(() => Promise.race([r.quit().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 1_000).unref())]).then(() => r.disconnect()))
    )
    shared.on("error", () => undefined) // reported by the commands that fail
    /**
     * A call over the shared connection. ioredis keeps a timed-out command in its queue,
     * waiting for a reply a half-open connection will never bring (and keepalive may take
     * minutes to notice), so a timeout also drops the connection to be reopened.
     */
    const viaShared = <A>(what: string, run: () => Promise<A>) =>
      attempt(what, run).pipe(
        Effect.tapError((e) => Effect.sync(() => (/timed out/i.test(e.message) ? shared.disconnect(true) : undefined)))
      )

    const info = yield* viaShared("INFO server", () => shared.info("server"))
    yield* Effect.try({ try: () => checkRedisVersion(info), catch: (cause) => new TransportError({ message: describeError(cause), cause }) })
    // A consumer's round trips go over its own connection, so one waiting in XREADGROUP
    // BLOCK never holds up another's commit; by group, then consumer (consumer names are
    // unique within a group only: one process runs `0` of several operators).
    const url = Redacted.value(options.url)
    const dedicated = new Map<string, Map<string, RespConnection>>()
    const respOptions = { timeoutMs }
    const unattached = new RespConnection(url, respOptions)
    yield* Effect.addFinalizer(() =>
      Effect.promise(() => Promise.all([unattached, ...[...dedicated.values()].flatMap((byConsumer) => [...byConsumer.values()])].map((c) => c.close())))
    )
    const connectionOf = (group: string, consumer: string): RespConnection => {
      let byConsumer = dedicated.get(group)
      if (byConsumer === undefined) dedicated.set(group, (byConsumer = new Map()))
      let conn = byConsumer.get(consumer)
      if (conn === undefined) byConsumer.set(consumer, (conn = new RespConnection(url, respOptions)))
      return conn
    }

    /** Counts what `backlogFrom` could not tell, and returns the largest backlog. */
    const countUnknown = async (measured: { readonly worst: number; readonly unknown: ReadonlyArray<UnknownLag> }): Promise<number> => {
      let worst = measured.worst
      for (const u of measured.unknown) {
        const lag = Number(await shared.desainzBacklog(u.stream, u.lastDeliveredId, u.countUpTo))
        worst = Math.max(worst, lag + u.pending)
      }
      return worst
    }

    const groupsOf = async (conn: Redis, stream: string): Promise<ReadonlyArray<Record<string, unknown>>> =>
      ((await conn.call("XINFO", "GROUPS", stream)) as ReadonlyArray<ReadonlyArray<unknown>>).map(asObject)

    const shape: TransportShape = {
      kind: "redis",
      ensureGroup: (stream, group) =>
        viaShared("XGROUP CREATE", () => shared.xgroup("CREATE", stream, group, "0", "MKSTREAM")).pipe(
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
        attempt("exchange", async (): Promise<ExchangeResult> => {
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
            // Redis takes whole milliseconds only (a retry's backoff may end on a fraction).
            if (r.blockMs > 0) batch.command("XREADGROUP", "GROUP", r.group, r.consumer, "COUNT", r.count, "BLOCK", Math.ceil(r.blockMs), "STREAMS", r.stream, ">")
            else batch.command("XREADGROUP", "GROUP", r.group, r.consumer, "COUNT", r.count, "STREAMS", r.stream, ">")
          }
          // A blocking read waits its time on top of the command timeout.
          const replies = await conn.send(batch, x.read?.blockMs ?? 0)
          // Each part on its own: a failed commit must not lose what the read delivered
          // (it is pending for this consumer now), and a failed read must not make the
          // caller send a commit again that EXEC applied.
          const commitError = hasCommit ? failure("commit", () => committed(replies, execAt)) : undefined
          let backlog = 0
          let readError: TransportError | undefined
          if (hasBacklog) {
            const measured = Either.try({ try: () => backlogFrom(x.backlog!, replies, backlogAt), catch: (e) => asError("backlog", e) })
            if (Either.isLeft(measured)) readError = measured.left
            else if (measured.right.unknown.length === 0) backlog = measured.right.worst
            else {
              // A second call: its failure is the measurement's, never the applied commit's.
              const counted = await countUnknown(measured.right).then(
                (n) => Either.right(n),
                (e: unknown) => Either.left(asError("backlog", e))
              )
              if (Either.isLeft(counted)) readError = counted.left
              else backlog = counted.right
            }
          }
          const read = replies[readAt]
          if (x.read && read instanceof Error) readError ??= asError("XREADGROUP", read)
          const deliveries = x.read && !(read instanceof Error) ? fromRead(read as ReadReply, 1) : []
          return { backlog, deliveries, commitError, readError }
        }),
      backlog: (queries) =>
        queries.length === 0
          ? Effect.succeed(0)
          : attempt("backlog", async () => {
              const batch = new RespBatch()
              queueBacklog(batch, queries)
              return countUnknown(backlogFrom(queries, await unattached.send(batch), 0))
            }),
      readPending: (stream, group, consumer, count) =>
        viaShared("XREADGROUP 0", async () => {
          const reply = (await shared.xreadgroup("GROUP", group, consumer, "COUNT", count, "STREAMS", stream, "0")) as ReadReply
          // Entries deleted from the stream while pending can never be processed: let them go.
          const deleted = deletedIds(reply)
          if (deleted.length > 0) await shared.xack(stream, group, ...deleted)
          const entries = fromRead(liveOnly(reply), 0).filter((d) => Object.keys(d.fields).length > 0)
          if (entries.length === 0) return []
          // History reads count a delivery too; read the counts back from the pending list.
          const pending = (await shared.xpending(stream, group, entries[0]!.id, entries.at(-1)!.id, entries.length, consumer)) as ReadonlyArray<
            [string, string, number, number]
          >
          const counts = new Map(pending.map(([id, , , n]) => [id, Number(n)]))
          return entries.map((d) => ({ ...d, deliveries: counts.get(d.id) ?? 1 }))
        }),
      claim: (stream, group, consumer, ids, mode = "retry") =>
        ids.length === 0
          ? Effect.succeed([])
          : viaShared("XCLAIM", () => shared.desainzClaim(stream, group, consumer, mode === "retry" ? "ids" : "hold", ...ids)).pipe(Effect.map(fromClaim)),
      autoClaim: (stream, group, consumer, minIdleMs, count) =>
        viaShared("XAUTOCLAIM", () => shared.desainzClaim(stream, group, consumer, "auto", Math.floor(minIdleMs), count)).pipe(
          Effect.map(fromClaim)
        ),
      info: (stream) =>
        viaShared("XINFO", async () => {
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
        viaShared("XRANGE", async () => {
          const count = options.count ?? 100
          const raw = (
            options.reverse
              ? await shared.xrevrange(stream, options.end ?? "+", options.start ?? "-", "COUNT", count)
              : await shared.xrange(stream, options.start ?? "-", options.end ?? "+", "COUNT", count)
          ) as RawEntries
          return raw.map(([id, flat]): Entry => ({ id, fields: toFields(flat) }))
        }),
      remove: (stream, ids) => (ids.length === 0 ? Effect.succeed(0) : viaShared("XDEL", () => shared.xdel(stream, ...ids))),
      trim: (stream, keep, maxAgeMs) =>
        viaShared("trim", () => shared.desainzTrim(stream, keep, maxAgeMs === undefined ? "" : `${Math.max(0, Date.now() - maxAgeMs)}-0`)).pipe(
          Effect.map(Number)
        ),
      pruneConsumers: (stream, group, minIdleMs) =>
        viaShared("prune consumers", () => shared.desainzPrune(stream, group, Math.floor(minIdleMs))).pipe(Effect.map(Number)),
      ping: attempt("PING", () => unattached.send(new RespBatch().command("PING"))).pipe(
        Effect.flatMap(([reply]) => (reply instanceof Error ? Effect.fail(asError("PING", reply)) : Effect.void))
      )
    }
    return shape
  })

export const layer = (options: RedisTransportOptions): Layer.Layer<Transport, TransportError> => Layer.scoped(Transport, make(options))
