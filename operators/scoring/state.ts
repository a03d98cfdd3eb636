/**
 * Shared scoring state: the event-time buckets the factors learn from (engagement
 * baselines, topic peaks, category centroids), in Redis so every scorer replica shares
 * them, or in this process for the embedded default and for replays.
 *
 * Three kinds of cell, each a pure function of the SET of writes it received, whatever
 * their order, and each write idempotent (keyed by the signal's identity):
 * - sample: a bottom-k sample, the k members with the lowest hash of their id. The same
 *   members survive in any order, and the k lowest of a union of samples is a uniform
 *   sample of the union, so per-bucket samples merge into a sample of any window.
 * - max: per field, the record with the highest value (ties: later event time, then the
 *   smaller id).
 * - sum: an integer vector sum and count, each member added once (a `seen` set per bucket).
 *   Integers, because float addition depends on order in its last bits.
 *
 * Reads name a horizon (they only cover buckets that end at or before it) and a reader
 * (one scoring batch), recorded in the same atomic step. Once a batch's own writes are
 * durable (state and ideas), `missedBy` tells which of its signals lie below the horizon
 * of some OTHER reader: that reader may have read without them, so they are late. With no
 * late signals every read saw complete buckets, and scores do not depend on the order
 * batches were processed in, nor on which replica processed them.
 *
 * Buckets expire `retainMs` of wall time after their last write, on both backends.
 */
import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"
import { Clock, Config, Context, Effect, Layer, Option, Redacted } from "effect"
import { Redis } from "ioredis"
import { RetryableError } from "../../runtime/errors.ts"
import { type Keys, makeKeys } from "../../runtime/keys.ts"

/** Buckets are UTC days of event time. */
export const DAY = 86_400_000

export const bucketOf = (at: number): number => Math.floor(at / DAY)

/** One family's value for one key in one event-time bucket (a day index). */
export interface Cell {
  readonly family: string
  readonly bucket: number
  readonly key: string
}

export type Write =
  | { readonly _tag: "Sample"; readonly cell: Cell; readonly id: string; readonly value: number; readonly keep: number }
  | { readonly _tag: "Max"; readonly cell: Cell; readonly id: string; readonly value: number; readonly at: number }
  | { readonly _tag: "Sum"; readonly cell: Cell; readonly id: string; readonly vector: ReadonlyArray<number> }

export interface MaxRecord {
  readonly value: number
  readonly at: number
  readonly id: string
}

export interface SumRecord {
  readonly n: number
  /** Integer components. */
  readonly vector: ReadonlyArray<number>
}

export interface Reads {
  /** Per request, the values of the `keep` lowest-hashed members over all its cells. */
  readonly samples: ReadonlyArray<{ readonly cells: ReadonlyArray<Cell>; readonly keep: number }>
  /** Per request, the record of each cell (same order); undefined where none. */
  readonly maxes: ReadonlyArray<ReadonlyArray<Cell>>
  /** Per cell, its sum; undefined where none. */
  readonly sums: ReadonlyArray<Cell>
}

export interface ReadResults {
  readonly samples: ReadonlyArray<ReadonlyArray<number>>
  readonly maxes: ReadonlyArray<ReadonlyArray<MaxRecord | undefined>>
  readonly sums: ReadonlyArray<SumRecord | undefined>
}

export interface ScoringStateShape {
  readonly backend: "memory" | "redis"
  /** Applies the writes in one atomic step. */
  readonly write: (writes: ReadonlyArray<Write>, retainMs: number) => Effect.Effect<void, RetryableError>
  /** Records `reader` as having read up to `horizon`, and reads, in one atomic step. */
  readonly read: (horizon: number, reads: Reads, reader: string) => Effect.Effect<ReadResults, RetryableError>
  /** Per event time, whether a reader other than `reader` has read past it (so may have missed it). */
  readonly missedBy: (reader: string, ats: ReadonlyArray<number>) => Effect.Effect<ReadonlyArray<boolean>, RetryableError>
}

export class ScoringState extends Context.Tag("desainz/ScoringState")<ScoringState, ScoringStateShape>() {}

/** A member's place in a bottom-k sample: 52 bits of SHA-1, exact as a double (Redis' ZSET score). */
export const sampleRank = (id: string): number => parseInt(createHash("sha1").update(id).digest("hex").slice(0, 13), 16) / 2 ** 52

const SEP = "|"
const memberOf = (id: string, value: number) => `${id}${SEP}${value}`
const valueOfMember = (member: string) => Number(member.slice(member.lastIndexOf(SEP) + 1))

/** Redis key names of cells, shared by both backends so they hold the same layout. */
const names = (keys: Keys, owner: string) => ({
  readers: keys.state(owner, "readers"),
  sample: (c: Cell) => keys.state(owner, `s:${c.family}:${c.bucket}:${c.key}`),
  max: (c: Cell) => keys.state(owner, `m:${c.family}:${c.bucket}`),
  sum: (c: Cell) => keys.state(owner, `sum:${c.family}:${c.bucket}:${c.key}`),
  // Not under `sum:`: a cell key may be any word, "seen" included.
  seen: (c: Cell) => keys.state(owner, `sum-seen:${c.family}:${c.bucket}`)
})

/** Total order of maxima: value, then later event time, then smaller id. */
const beats = (a: MaxRecord, b: MaxRecord): boolean =>
  a.value !== b.value ? a.value > b.value : a.at !== b.at ? a.at > b.at : a.id < b.id

interface Ranked {
  readonly rank: number
  readonly member: string
  /** The member's value, where already known (in process); else parsed from the member. */
  readonly value?: number
}

const byRank = (a: Ranked, b: Ranked) => a.rank - b.rank || (a.member < b.member ? -1 : a.member > b.member ? 1 : 0)

/** Readers kept: only the highest horizons matter to `missedBy`. */
const READERS_KEPT = 16

/** The highest horizon of a reader other than `reader`. */
const otherHorizon = (readers: ReadonlyArray<readonly [string, number]>, reader: string): number =>
  Math.max(-Infinity, ...readers.filter(([name]) => name !== reader).map(([, horizon]) => horizon))

/**
 * The values of the `keep` lowest-ranked members of several samples: a merge of the parts,
 * each already in rank order (a part that is not, is sorted first).
 */
const mergeSamples = (parts: ReadonlyArray<ReadonlyArray<Ranked>>, keep: number): ReadonlyArray<number> => {
  const lists = parts.filter((p) => p.length > 0).map((p) => (p.every((r, i) => i === 0 || byRank(p[i - 1]!, r) <= 0) ? p : [...p].sort(byRank)))
  const heads = lists.map(() => 0)
  const out: Array<number> = []
  while (out.length < keep) {
    let best = -1
    for (let l = 0; l < lists.length; l++) {
      const r = lists[l]![heads[l]!]
      if (r !== undefined && (best < 0 || byRank(r, lists[best]![heads[best]!]!) < 0)) best = l
    }
    if (best < 0) break
    const r = lists[best]![heads[best]!++]!
    out.push(r.value ?? valueOfMember(r.member))
  }
  return out
}

// ---------------------------------------------------------------------------------------
// In-process layer

interface Expiring<V> {
  value: V
  expiresAt: number
}

/** The Lua scripts' semantics over Maps, with the same key names and the Effect clock for expiry. */
export const makeMemory = (keys: Keys, owner = "score"): ScoringStateShape => {
  const name = names(keys, owner)
  const readers = new Map<string, number>()
  const samples = new Map<string, Expiring<Array<Ranked>>>()
  const maxes = new Map<string, Expiring<Map<string, MaxRecord>>>()
  const sums = new Map<string, Expiring<{ n: number; vector: Array<number> }>>()
  const seen = new Map<string, Expiring<Set<string>>>()
  const live = <V>(map: Map<string, Expiring<V>>, key: string, now: number): V | undefined => {
    const e = map.get(key)
    if (e !== undefined && e.expiresAt <= now) map.delete(key)
    return e !== undefined && e.expiresAt > now ? e.value : undefined
  }
  // Buckets of past days are never touched again: sweep them out once a minute, as Redis expires them.
  let swept = -Infinity
  const sweep = (now: number) => {
    if (now - swept < 60_000) return
    swept = now
    for (const map of [samples, maxes, sums, seen] as Array<Map<string, Expiring<unknown>>>) {
      for (const [key, e] of map) if (e.expiresAt <= now) map.delete(key)
    }
  }
  const touch = <V>(map: Map<string, Expiring<V>>, key: string, now: number, ttl: number, create: () => V): V => {
    const value = live(map, key, now) ?? create()
    map.set(key, { value, expiresAt: now + ttl })
    return value
  }
  return {
    backend: "memory",
    write: (writes, retainMs) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        sweep(now)
        for (const w of writes) {
          if (w._tag === "Sample") {
            const list = touch(samples, name.sample(w.cell), now, retainMs, () => [])
            const member = memberOf(w.id, w.value)
            const entry = { rank: sampleRank(w.id), member, value: valueOfMember(member) }
            let lo = 0
            for (let hi = list.length; lo < hi; ) {
              const mid = (lo + hi) >> 1
              if (byRank(list[mid]!, entry) < 0) lo = mid + 1
              else hi = mid
            }
            if (lo < w.keep && list[lo]?.member !== entry.member) {
              list.splice(lo, 0, entry)
              list.length = Math.min(list.length, w.keep)
            }
          } else if (w._tag === "Max") {
            const fields = touch(maxes, name.max(w.cell), now, retainMs, () => new Map())
            const old = fields.get(w.cell.key)
            const record = { value: w.value, at: w.at, id: w.id }
            if (old === undefined || beats(record, old)) fields.set(w.cell.key, record)
          } else {
            const ids = touch(seen, name.seen(w.cell), now, retainMs, () => new Set())
            const sum = touch(sums, name.sum(w.cell), now, retainMs, () => ({ n: 0, vector: new Array<number>(w.vector.length).fill(0) }))
            const member = `${w.cell.key}${SEP}${w.id}`
            if (!ids.has(member)) {
              ids.add(member)
              const { vector } = w
              for (let i = 0; i < vector.length; i++) if (vector[i] !== 0) sum.vector[i] = (sum.vector[i] ?? 0) + vector[i]!
              sum.n++
            }
          }
        }
      }),
    read: (horizon, reads, reader) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        readers.set(reader, Math.max(horizon, readers.get(reader) ?? -Infinity))
        for (const [r] of [...readers].sort((a, b) => b[1] - a[1]).slice(READERS_KEPT)) readers.delete(r)
        return {
          samples: reads.samples.map(({ cells, keep }) =>
            mergeSamples(cells.map((c) => live(samples, name.sample(c), now) ?? []), keep)
          ),
          maxes: reads.maxes.map((cells) => cells.map((c) => live(maxes, name.max(c), now)?.get(c.key))),
          sums: reads.sums.map((c) => {
            const sum = live(sums, name.sum(c), now)
            return sum === undefined ? undefined : { n: sum.n, vector: sum.vector.slice() }
          })
        }
      }),
    missedBy: (reader, ats) =>
      Effect.sync(() => {
        const horizon = otherHorizon([...readers], reader)
        return ats.map((at) => at < horizon)
      })
  }
}

// ---------------------------------------------------------------------------------------
// Redis layer

const WRITE_LUA = readFileSync(new URL("./lua/state-write.lua", import.meta.url), "utf8")
const READ_LUA = readFileSync(new URL("./lua/state-read.lua", import.meta.url), "utf8")

interface StateRedis extends Redis {
  desainzStateWrite(numKeys: number, ...args: ReadonlyArray<string | number>): Promise<number>
  desainzStateRead(numKeys: number, ...args: ReadonlyArray<string | number>): Promise<ReadonlyArray<unknown>>
}

const attempt = <A>(what: string, run: () => Promise<A>): Effect.Effect<A, RetryableError> =>
  Effect.tryPromise({
    try: run,
    catch: (cause) => new RetryableError({ message: `scoring state ${what}: ${cause instanceof Error ? cause.message : String(cause)}`, cause })
  })

/** A sum's non-zero components as (1-based dimension, value) pairs: a fifth of the payload. */
const nonZeroPairs = (vector: ReadonlyArray<number>): Array<number> => {
  const out: Array<number> = []
  vector.forEach((x, i) => x !== 0 && out.push(i + 1, x))
  return out
}

/** KEYS of one script call, each distinct key once, `first` (if any) first. */
const keyList = (first?: string) => {
  const index = new Map<string, number>(first === undefined ? [] : [[first, 1]])
  return {
    of: (key: string) => {
      let i = index.get(key)
      if (i === undefined) {
        i = index.size + 1
        index.set(key, i)
      }
      return i
    },
    all: () => [...index.keys()]
  }
}

export interface RedisStateOptions {
  readonly url: Redacted.Redacted<string>
  readonly topology: string
  /** The operator whose state this is (its node name). */
  readonly owner?: string
}

export const makeRedis = (options: RedisStateOptions) =>
  Effect.gen(function* () {
    const redis = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const r = new Redis(Redacted.value(options.url), { maxRetriesPerRequest: 3 }) as StateRedis
        r.on("error", () => undefined) // surfaced by the failing command, whose batch is retried
        r.defineCommand("desainzStateWrite", { lua: WRITE_LUA })
        r.defineCommand("desainzStateRead", { lua: READ_LUA })
        return r
      }),
      (r) => Effect.promise(() => r.quit().catch(() => r.disconnect()))
    )
    const name = names(makeKeys(options.topology), options.owner ?? "score")
    return {
      backend: "redis",
      write: (writes, retainMs) => {
        if (writes.length === 0) return Effect.void
        const keys = keyList()
        const plan = writes.map((w) =>
          w._tag === "Sample"
            ? ["s", keys.of(name.sample(w.cell)), memberOf(w.id, w.value), String(sampleRank(w.id)), w.keep]
            : w._tag === "Max"
              ? ["m", keys.of(name.max(w.cell)), w.cell.key, String(w.value), String(w.at), w.id]
              : ["v", keys.of(name.sum(w.cell)), keys.of(name.seen(w.cell)), `${w.cell.key}${SEP}${w.id}`, w.vector.length, ...nonZeroPairs(w.vector)]
        )
        const all = keys.all()
        return Effect.asVoid(attempt("write", () => redis.desainzStateWrite(all.length, ...all, Math.max(1, Math.round(retainMs)), JSON.stringify(plan))))
      },
      missedBy: (reader, ats) =>
        Effect.map(
          attempt("readers", () => redis.zrevrange(name.readers, 0, 1, "WITHSCORES")),
          (flat) => {
            const pairs: Array<readonly [string, number]> = []
            for (let i = 0; i + 1 < flat.length; i += 2) pairs.push([flat[i]!, Number(flat[i + 1])])
            const horizon = otherHorizon(pairs, reader)
            return ats.map((at) => at < horizon)
          }
        ),
      read: (horizon, reads, reader) => {
        const keys = keyList(name.readers)
        const sampleCalls = reads.samples.map((r) => r.cells.map((c) => ["s", keys.of(name.sample(c)), r.keep] as const))
        const maxCalls = reads.maxes.map((cells) => {
          // One HMGET per hash: cells of one bucket share it.
          const byKey = new Map<string, Array<number>>()
          cells.forEach((c, i) => {
            const k = name.max(c)
            const members = byKey.get(k)
            if (members === undefined) byKey.set(k, [i])
            else members.push(i)
          })
          return [...byKey].map(([k, members]) => ({ key: keys.of(k), members }))
        })
        const sumCalls = reads.sums.map((c) => ["v", keys.of(name.sum(c))] as const)
        const plan: Array<ReadonlyArray<string | number>> = [
          ...sampleCalls.flat(),
          ...maxCalls.flatMap((calls, r) => calls.map(({ key, members }) => ["m", key, ...members.map((i) => reads.maxes[r]![i]!.key)])),
          ...sumCalls
        ]
        const all = keys.all()
        return Effect.map(
          attempt("read", () => redis.desainzStateRead(all.length, ...all, String(horizon), reader, JSON.stringify(plan))),
          (replies): ReadResults => {
            let next = 0
            const reply = () => (replies[next++] ?? []) as ReadonlyArray<string | null>
            const samples = sampleCalls.map((calls, r) =>
              mergeSamples(
                calls.map(() => {
                  const flat = reply()
                  const out: Array<Ranked> = []
                  for (let i = 0; i + 1 < flat.length; i += 2) out.push({ member: flat[i]!, rank: Number(flat[i + 1]) })
                  return out
                }),
                reads.samples[r]!.keep
              )
            )
            const maxes = maxCalls.map((calls, r) => {
              const out = new Array<MaxRecord | undefined>(reads.maxes[r]!.length).fill(undefined)
              for (const { members } of calls) {
                reply().forEach((raw, j) => {
                  if (raw === null) return
                  const [value = "", at = "", ...id] = raw.split(SEP)
                  out[members[j]!] = { value: Number(value), at: Number(at), id: id.join(SEP) }
                })
              }
              return out
            })
            const sums = sumCalls.map(() => {
              const packed = replies[next++] as ReadonlyArray<number>
              return packed.length === 0 ? undefined : { n: packed[0]!, vector: packed.slice(1) }
            })
            return { samples, maxes, sums }
          }
        )
      }
    } satisfies ScoringStateShape
  })

export const layerMemory = (topology: string, owner?: string): Layer.Layer<ScoringState> =>
  Layer.sync(ScoringState, () => makeMemory(makeKeys(topology), owner))

export const layerRedis = (options: RedisStateOptions): Layer.Layer<ScoringState> => Layer.scoped(ScoringState, makeRedis(options))

/** Redis when `REDIS_URL` is set, else in-process; keys live under the topology's name. */
export const layer = (topology: string) =>
  Layer.unwrapEffect(
    Effect.map(Config.option(Config.redacted("REDIS_URL")), (url) =>
      Option.match(url, { onNone: () => layerMemory(topology), onSome: (u) => layerRedis({ url: u, topology }) })
    )
  )
