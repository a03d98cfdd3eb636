/**
 * `npm run bench -- runtime`: the runtime against a hand-written ioredis loop, side by side.
 *
 * Topology (bench/passthrough.topology.ts): bench.in -> s1 -> bench.a -> s2 -> bench.b ->
 * s3 -> bench.out, three pass-through `map` operators, each its own
 * `desainz worker --only sN` process. The baseline is the same three stages as
 * bench/raw-stage.ts processes, pipelined as the runtime is (each round trip commits the
 * previous batch with MULTI{XADD..., XACK}/EXEC and reads the next; same batch size). The
 * driver XADDs envelopes (~300 bytes of JSON data with a send timestamp) to bench.in and
 * watches bench.out.
 *
 * Two kinds of stage, so the comparison is like for like:
 *   passthrough  each stage forwards its message unchanged: neither side serializes the
 *                payload again (the runtime keeps the input's JSON, the baseline copies
 *                the fields);
 *   transform    each stage changes a field (`source`): both parse and serialize it.
 *
 * Cases per kind (one JSON line each, median over `--rounds`, ours and the baseline
 * alternated ABBA so drift on the machine hits both):
 *   3-stage-redis-<kind>   N messages preloaded into bench.in; downstream stages start
 *                          first, s1 last; msgs/s from the first to the last entry of
 *                          bench.out, seen by polling XLEN every 5 ms (the driver spends
 *                          next to no CPU while it is measured).
 *   3-stage-redis-<kind>-latency
 *                          open loop at a fixed offered rate: the producer sends what the
 *                          clock says is due every ~1 ms (pipelined, never waiting for
 *                          replies); latency = arrival at the driver's XREAD on bench.out
 *                          - the *intended* send time (so a stalled producer counts
 *                          against the result rather than hiding it). Before the clock
 *                          starts, a burst of `--prewarm` messages warms the JIT (a cold
 *                          Effect worker is several times slower for its first seconds);
 *                          then the first `--warmup-s` of the open loop are excluded too.
 * After every run the driver checks that bench.out holds each message exactly once and
 * that no group has pending entries.
 *
 * Settings: the runtime's defaults (batchSize 100, blockMs 1000, watermarks 5000/10000)
 * except `concurrency: 1`, like the baseline, which handles a batch's entries one after
 * the other. Lanes of concurrency pay off for operators that wait on I/O; a pass-through
 * on one JS thread only pays for the fibers (`--concurrency 8` measures the default).
 * Each run line also carries CPU per message of every process (start-up excluded), the
 * load average before it and the CPU pressure during it: on a shared machine those say
 * how far a figure can be trusted.
 *
 * Flags: --messages N (200000)  --rate R (5000)  --warmup-s (3)  --duration-s (10)
 *        --prewarm N (20000 messages through the chain before a latency run's clock starts)
 *        --rounds (2)  --case throughput|latency|all  --batch (100 = the runtime default)
 *        --block-ms (1000 = the runtime default)  --kind passthrough|transform|both (both)
 *        --concurrency (1; the runtime default is 8, see below)
 *        --cpu-prof DIR (V8 CPU profiles of every stage process, for finding where time goes)
 */
import { randomUUID } from "node:crypto"
import { readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { Redis } from "ioredis"
import { ENVELOPE_VERSION, type Fields, makeEnvelopeCodec } from "../runtime/envelope.ts"
import { makeKeys } from "../runtime/keys.ts"
import {
  type Child,
  emit,
  intFlag,
  log,
  machineLoad,
  median,
  monotonicMs,
  numberFlag,
  parseFlags,
  quantile,
  round,
  spawnChild,
  steadyClock,
  stopAll,
  UsageError,
  waitFor,
  watchClock
} from "./harness.ts"
import { BenchMessage, benchMessage, STAGES, STREAMS, TOPOLOGY_NAME } from "./passthrough.topology.ts"
import { withRedis } from "./redis.ts"

const here = dirname(fileURLToPath(import.meta.url))
/**
 * `BENCH_RUNTIME_ROOT=/other/checkout` runs the workers of another copy of the project
 * (its bin/, runtime/ and bench/passthrough.topology.ts): A/B of a runtime change.
 */
const root = process.env["BENCH_RUNTIME_ROOT"] || join(here, "..")
const TOPOLOGY_FILE = join(root, "bench", "passthrough.topology.ts")
const CLI = join(root, "bin", "desainz.js")
const RAW_STAGE = join(here, "raw-stage.ts")

const keys = makeKeys(TOPOLOGY_NAME)
const key = (stream: string) => keys.stream(stream)

type Impl = "ours" | "raw"
type Kind = "passthrough" | "transform"

interface Settings {
  readonly batch: number
  /** The operators' `concurrency` (entries of a batch in flight at once). */
  readonly concurrency: number
  readonly blockMs: number
  /** Each stage forwards its message unchanged, or changes a field (both sides serialize it). */
  readonly kind: Kind
  /** Write a V8 CPU profile of every stage process here (`node --cpu-prof`). */
  readonly cpuProf: string | undefined
}

const now = () => performance.timeOrigin + performance.now()

// ---------------------------------------------------------------------------------------
// Envelopes

const codec = makeEnvelopeCodec(STREAMS.input, BenchMessage)

const envelopeOf = (seq: number, sentAt: number): Fields => {
  const eventId = randomUUID()
  return codec.encode({
    eventType: STREAMS.input,
    eventId,
    timestamp: new Date(sentAt).toISOString(),
    source: "bench-driver",
    version: ENVELOPE_VERSION,
    correlationId: eventId,
    data: benchMessage(seq, sentAt)
  })
}

const flat = (fields: Fields): Array<string> => Object.entries(fields).flat()

// ---------------------------------------------------------------------------------------
// Stages

const cpuSeconds = (pid: number | undefined): number => {
  if (pid === undefined) return NaN
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the command.
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return NaN
  }
}

const startStage = (impl: Impl, stage: (typeof STAGES)[number], url: string, s: Settings): Child => {
  const env = { ...process.env, REDIS_URL: url, LOG_LEVEL: process.env["LOG_LEVEL"] ?? "warning" }
  // One folder per stage: node names profiles by pid and thread (tsx's loader runs in a thread of its own).
  const node = s.cpuProf === undefined ? [] : ["--cpu-prof", "--cpu-prof-dir", join(s.cpuProf, `${impl}-${stage.name}`)]
  if (impl === "ours") {
    return spawnChild(stage.name, process.execPath, [...node, CLI, "worker", "--topology", TOPOLOGY_FILE, "--only", stage.name], {
      cwd: root,
      env: {
        ...env,
        BENCH_BATCH_SIZE: String(s.batch),
        BENCH_BLOCK_MS: String(s.blockMs),
        BENCH_CONCURRENCY: String(s.concurrency),
        BENCH_TRANSFORM: s.kind === "transform" ? "1" : "0"
      }
    })
  }
  return spawnChild(
    `raw-${stage.name}`,
    process.execPath,
    [
      ...node,
      "--import", "tsx", RAW_STAGE,
      "--url", url,
      "--in", key(stage.from),
      "--out", key(stage.to),
      "--group", stage.name,
      "--consumer", `raw-${stage.name}`,
      "--batch", String(s.batch),
      "--block", String(s.blockMs),
      "--mode", s.kind === "transform" ? "transform" : "copy"
    ],
    { cwd: root, env }
  )
}

/** A stage is ready once its consumer shows up in its group (after its first XREADGROUP). */
const stageReady = (redis: Redis, stage: (typeof STAGES)[number]) => async () => {
  try {
    const consumers = (await redis.call("XINFO", "CONSUMERS", key(stage.from), stage.name)) as Array<unknown>
    return consumers.length > 0
  } catch {
    return false
  }
}

/** Starts the stages wave by wave; each wave's stages start together and must all join before the next. */
const startStages = async (
  impl: Impl,
  redis: Redis,
  url: string,
  s: Settings,
  waves: ReadonlyArray<ReadonlyArray<(typeof STAGES)[number]>>
): Promise<Map<string, Child>> => {
  const started = new Map<string, Child>()
  try {
    for (const wave of waves) {
      const children = wave.map((stage) => {
        const child = startStage(impl, stage, url, s)
        started.set(stage.name, child)
        return [stage, child] as const
      })
      await waitFor(`${impl} stage(s) ${wave.map((x) => x.name).join(", ")} to join their groups`, async () => {
        for (const [stage, child] of children) {
          if (!child.running()) throw new Error(`${impl} stage ${stage.name} exited with ${child.process.exitCode ?? child.process.signalCode}`)
        }
        const ready = await Promise.all(children.map(([stage]) => stageReady(redis, stage)()))
        return ready.every(Boolean)
      })
    }
    return started
  } catch (error) {
    await stopAll([...started.values()], 2_000)
    throw error
  }
}

const stopStages = async (impl: Impl, stages: Map<string, Child>) => {
  const codes = await stopAll([...stages.values()])
  const bad = [...stages.keys()].filter((_, i) => codes[i] !== 0)
  if (bad.length > 0) throw new Error(`${impl} stage(s) ${bad.join(", ")} did not exit 0 after SIGTERM: ${codes.join(", ")}`)
}

// ---------------------------------------------------------------------------------------
// Redis checks

const reset = async (redis: Redis) => {
  const stream = redis.scanStream({ match: `desainz:{${TOPOLOGY_NAME}}:*`, count: 1000 })
  for await (const batch of stream as AsyncIterable<Array<string>>) if (batch.length > 0) await redis.del(...batch)
}

/** How many times Redis ran a command so far (INFO commandstats). */
const commandCalls = async (redis: Redis, command: string): Promise<number> => {
  const info = await redis.info("commandstats")
  return Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, "m").exec(info)?.[1] ?? 0)
}

const redisCpu = async (redis: Redis): Promise<number> => {
  const info = await redis.info("cpu")
  const value = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, "m").exec(info)?.[1] ?? NaN)
  return value("used_cpu_user") + value("used_cpu_sys")
}

/** Every message exactly once on bench.out, nothing pending anywhere. */
const verify = async (redis: Redis, expected: ReadonlyArray<number>): Promise<void> => {
  const want = new Set(expected)
  const seen = new Set<number>()
  let duplicates = 0
  let start = "-"
  for (;;) {
    const page = (await redis.xrange(key(STREAMS.output), start, "+", "COUNT", 10_000)) as Array<[string, Array<string>]>
    if (page.length === 0) break
    for (const [, fields] of page) {
      const data = fields[fields.indexOf("data") + 1]!
      const seq = (JSON.parse(data) as BenchMessage).seq
      if (seen.has(seq)) duplicates++
      seen.add(seq)
    }
    start = `(${page.at(-1)![0]}`
  }
  const missing = [...want].filter((s) => !seen.has(s)).length
  const extra = [...seen].filter((s) => !want.has(s)).length
  const pending: Array<string> = []
  for (const stage of STAGES) {
    const summary = (await redis.xpending(key(stage.from), stage.name)) as [number, ...Array<unknown>]
    if (Number(summary[0]) > 0) pending.push(`${stage.name}: ${summary[0]}`)
  }
  const dead = await Promise.all(STAGES.map((s) => redis.xlen(keys.dlq(s.name))))
  const problems = [
    missing > 0 ? `${missing} missing` : "",
    duplicates > 0 ? `${duplicates} duplicated` : "",
    extra > 0 ? `${extra} unexpected` : "",
    pending.length > 0 ? `pending ${pending.join(", ")}` : "",
    dead.some((n) => n > 0) ? `dead letters ${dead.join("/")}` : ""
  ].filter(Boolean)
  if (problems.length > 0) throw new Error(`bench.out check failed: ${problems.join("; ")}`)
}

const describeStreams = async (redis: Redis) => {
  const lengths = await Promise.all(Object.values(STREAMS).map(async (s) => `${s}=${await redis.xlen(key(s))}`))
  return lengths.join(" ")
}

// ---------------------------------------------------------------------------------------
// Throughput

interface ThroughputResult {
  readonly msgs_per_s: number
  readonly seconds: number
  /** CPU time per message while the stream drained (start-up excluded), per stage and for redis-server. */
  readonly cpu_us_per_msg: Record<string, number>
  /** Entries per XREADGROUP over all stages (reads that came back empty count too). */
  readonly mean_batch: number
}

const throughputRun = async (impl: Impl, redis: Redis, url: string, preload: ReadonlyArray<Array<string>>, s: Settings): Promise<ThroughputResult> => {
  const n = preload.length
  await reset(redis)
  for (let i = 0; i < n; i += 1_000) {
    const pipe = redis.pipeline()
    for (const fields of preload.slice(i, i + 1_000)) pipe.xadd(key(STREAMS.input), "*", ...fields)
    await pipe.exec()
  }
  // Downstream first, s1 last: nothing moves until the whole chain is up.
  const [s1, s2, s3] = STAGES
  const stages = await startStages(impl, redis, url, s, [[s2, s3], [s1]])
  const redisCpuBefore = await redisCpu(redis)
  const readsBefore = await commandCalls(redis, "xreadgroup")
  const cpuBefore = new Map([...stages].map(([name, child]) => [name, cpuSeconds(child.process.pid)]))
  try {
    // XLEN every few ms on the monotonic clock (this VM's wall clock has jumped mid-run,
    // so the ms in entry ids cannot be trusted); XLEN is O(1) and costs Redis next to nothing.
    let last = 0
    const elapsed = steadyClock()
    let lastChange = elapsed()
    let first: { at: number; count: number } | undefined
    let done = 0
    await waitFor(
      `${n} entries on bench.out`,
      async () => {
        const length = await redis.xlen(key(STREAMS.output))
        const t = monotonicMs()
        if (first === undefined && length > 0) first = { at: t, count: length }
        if (length >= n) done = t
        if (length !== last) {
          last = length
          lastChange = elapsed()
        } else if (elapsed() - lastChange > 30_000) {
          throw new Error(`${impl}: no progress for 30 s at ${length}/${n} (${await describeStreams(redis)})`)
        }
        for (const [name, child] of stages) if (!child.running()) throw new Error(`${impl} stage ${name} died`)
        return length >= n
      },
      30 * 60_000,
      5
    )
    const perMsg = (seconds: number) => round((seconds * 1e6) / n, 1)
    const cpu: Record<string, number> = {}
    for (const [name, child] of stages) cpu[name] = perMsg(cpuSeconds(child.process.pid) - cpuBefore.get(name)!)
    cpu["redis"] = perMsg((await redisCpu(redis)) - redisCpuBefore)
    const reads = (await commandCalls(redis, "xreadgroup")) - readsBefore
    // Entries seen at the first look arrived "at once": count what came after them.
    const seconds = Math.max(0.001, (done - first!.at) / 1000)
    const atFirst = first!.count
    await stopStages(impl, stages)
    await verify(redis, Array.from({ length: n }, (_, i) => i))
    return {
      msgs_per_s: round((n - atFirst) / seconds, 0),
      seconds: round(seconds, 3),
      cpu_us_per_msg: cpu,
      mean_batch: round((n * STAGES.length) / Math.max(1, reads), 1)
    }
  } finally {
    await stopAll([...stages.values()], 2_000)
  }
}

// ---------------------------------------------------------------------------------------
// Latency

interface LatencyResult {
  readonly p50_ms: number
  readonly p90_ms: number
  readonly p99_ms: number
  readonly p999_ms: number
  readonly max_ms: number
  readonly mean_ms: number
  readonly measured: number
  readonly achieved_per_s: number
  /** How late the producer sent, against its schedule (p99, ms). */
  readonly producer_lag_p99_ms: number
  /** CPU time per message of each stage process and of redis-server (start-up excluded). */
  readonly cpu_us_per_msg: Record<string, number>
  /** Entries per XREADGROUP over all stages (reads that came back empty count too). */
  readonly mean_batch: number
}

const latencyRun = async (
  impl: Impl,
  redis: Redis,
  url: string,
  s: Settings,
  rate: number,
  warmupS: number,
  durationS: number,
  prewarm: number
): Promise<LatencyResult> => {
  await reset(redis)
  const stages = await startStages(impl, redis, url, s, [STAGES])
  const total = Math.round(rate * (warmupS + durationS))
  // JIT warm-up: a burst through the whole chain before the clock starts, so a cold
  // start's backlog does not spill into the measured window (it would, for seconds).
  for (let i = 0; i < prewarm; i += 1_000) {
    const pipe = redis.pipeline()
    for (let j = i; j < Math.min(prewarm, i + 1_000); j++) pipe.xadd(key(STREAMS.input), "*", ...flat(envelopeOf(total + j, now())))
    await pipe.exec()
  }
  await waitFor(`${prewarm} warm-up messages through ${impl}`, async () => (await redis.xlen(key(STREAMS.output))) >= prewarm, 120_000)
  const [newest] = (await redis.xrevrange(key(STREAMS.output), "+", "-", "COUNT", 1)) as Array<[string, unknown]>
  const redisCpuBefore = await redisCpu(redis)
  const readsBefore = await commandCalls(redis, "xreadgroup")
  const cpuBefore = new Map([...stages].map(([name, child]) => [name, cpuSeconds(child.process.pid)]))
  const reader = new Redis(url, { maxRetriesPerRequest: null })
  const producer = new Redis(url, { maxRetriesPerRequest: null })
  try {
    const arrival = new Float64Array(total).fill(NaN)
    const intended = new Float64Array(total)
    const lag: Array<number> = []
    let received = 0
    let duplicates = 0
    let reading = true

    const readLoop = (async () => {
      let lastId = newest?.[0] ?? "0-0"
      while (reading) {
        const reply = (await reader.xread("COUNT", 5_000, "BLOCK", 100, "STREAMS", key(STREAMS.output), lastId)) as
          | Array<[string, Array<[string, Array<string>]>]>
          | null
        const t = now()
        if (reply === null) continue
        const entries = reply[0]![1]
        for (const [, fields] of entries) {
          const data = fields[fields.indexOf("data") + 1]!
          const seq = (JSON.parse(data) as BenchMessage).seq
          if (seq >= total) continue
          if (!Number.isNaN(arrival[seq]!)) duplicates++
          else received++
          arrival[seq] = t
        }
        lastId = entries.at(-1)![0]
      }
    })()

    // Open loop: whatever the clock says is due goes out now, replies are not waited for.
    const start = now() + 20
    const interval = 1000 / rate
    let sent = 0
    let sendError: unknown
    const inflight = new Set<Promise<unknown>>()
    await new Promise<void>((resolve, reject) => {
      const tick = () => {
        const t = now()
        const due = Math.min(total, Math.floor((t - start) / interval) + 1)
        if (due > sent) {
          const pipe = producer.pipeline()
          for (; sent < due; sent++) {
            const at = start + sent * interval
            intended[sent] = at
            lag.push(t - at)
            pipe.xadd(key(STREAMS.input), "*", ...flat(envelopeOf(sent, at)))
          }
          const sending: Promise<unknown> = pipe.exec().then(
            (replies) => {
              inflight.delete(sending)
              const failed = replies?.find(([error]) => error !== null)
              if (failed !== undefined) sendError ??= failed[0]
            },
            (error: unknown) => {
              inflight.delete(sending)
              sendError ??= error
            }
          )
          inflight.add(sending)
        }
        if (sendError !== undefined) reject(sendError)
        else if (sent >= total) resolve()
        else setTimeout(tick, Math.max(0, Math.min(1, start + sent * interval - now())))
      }
      setTimeout(tick, Math.max(0, start - now()))
      reader.once("error", reject)
    })
    await Promise.all(inflight)
    if (sendError !== undefined) throw sendError
    const producedIn = (now() - start) / 1000
    // A saturated chain drains its backlog first: wait while it makes progress.
    const elapsed = steadyClock()
    let progress = { received, at: elapsed() }
    await waitFor(`all ${total} messages on bench.out (${impl})`, async () => {
      if (received !== progress.received) progress = { received, at: elapsed() }
      else if (elapsed() - progress.at > 30_000) {
        throw new Error(`${impl}: no progress for 30 s at ${received}/${total} received (${await describeStreams(redis)})`)
      }
      return received >= total
    }, 30 * 60_000, 20)
    reading = false
    await readLoop
    const perMsg = (seconds: number) => round((seconds * 1e6) / total, 1)
    const cpu: Record<string, number> = {}
    for (const [name, child] of stages) cpu[name] = perMsg(cpuSeconds(child.process.pid) - cpuBefore.get(name)!)
    cpu["redis"] = perMsg((await redisCpu(redis)) - redisCpuBefore)
    const reads = (await commandCalls(redis, "xreadgroup")) - readsBefore
    if (duplicates > 0) throw new Error(`${impl}: ${duplicates} duplicates on bench.out`)

    const from = start + warmupS * 1000
    const until = from + durationS * 1000
    const latencies: Array<number> = []
    for (let i = 0; i < total; i++) if (intended[i]! >= from && intended[i]! < until) latencies.push(arrival[i]! - intended[i]!)
    const sorted = Float64Array.from(latencies).sort()
    const lagSorted = Float64Array.from(lag).sort()
    await stopStages(impl, stages)
    await verify(redis, Array.from({ length: total + prewarm }, (_, i) => i))
    return {
      p50_ms: round(quantile(sorted, 0.5)),
      p90_ms: round(quantile(sorted, 0.9)),
      p99_ms: round(quantile(sorted, 0.99)),
      p999_ms: round(quantile(sorted, 0.999)),
      max_ms: round(sorted[sorted.length - 1] ?? NaN),
      mean_ms: round(latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length)),
      measured: latencies.length,
      achieved_per_s: round(total / producedIn, 0),
      producer_lag_p99_ms: round(quantile(lagSorted, 0.99)),
      cpu_us_per_msg: cpu,
      mean_batch: round((STAGES.length * total) / Math.max(1, reads), 1)
    }
  } finally {
    reader.disconnect()
    producer.disconnect()
    await stopAll([...stages.values()], 2_000)
  }
}

// ---------------------------------------------------------------------------------------

/**
 * Runs one measurement, again (up to 3 tries) when this process's timers fired over a
 * second late meanwhile: the clock jumped or the machine stalled, and the figure is off.
 */
const measured = async <A>(
  what: string,
  f: () => Promise<A>
): Promise<A & { readonly tries: number; readonly load_1m: number; readonly cpu_pressure_pct: number }> => {
  for (let attempt = 1; ; attempt++) {
    const load = machineLoad()
    const watch = watchClock()
    let result: A
    try {
      result = await f()
    } finally {
      watch.stop()
    }
    if (watch.jumps() === 0) return { ...result, tries: attempt, load_1m: load.load_1m, cpu_pressure_pct: load.cpuPressurePct() }
    if (attempt >= 3) throw new Error(`${what}: clock jumps or stalls in ${attempt} tries in a row; cannot measure now`)
    log(`runtime: ${what}: timers fired ${watch.worstMs()} ms late (a clock jump or a stall); repeating the run`)
  }
}

/** ABBA: ours first in even rounds, the baseline first in odd ones. */
const orderOf = (round: number): ReadonlyArray<Impl> => (round % 2 === 0 ? ["ours", "raw"] : ["raw", "ours"])

export const run = async (args: ReadonlyArray<string>): Promise<void> => {
  const flags = parseFlags(args, {
    messages: { type: "string" },
    rate: { type: "string" },
    "warmup-s": { type: "string" },
    "duration-s": { type: "string" },
    rounds: { type: "string" },
    prewarm: { type: "string" },
    case: { type: "string" },
    batch: { type: "string" },
    "block-ms": { type: "string" },
    concurrency: { type: "string" },
    kind: { type: "string" },
    "cpu-prof": { type: "string" }
  })
  const messages = intFlag("messages", flags.messages, 200_000)
  const rate = numberFlag("rate", flags.rate, 5_000)
  const warmupS = numberFlag("warmup-s", flags["warmup-s"], 3)
  const durationS = numberFlag("duration-s", flags["duration-s"], 10)
  const rounds = intFlag("rounds", flags.rounds, 2)
  const prewarm = intFlag("prewarm", flags.prewarm, 20_000, 0)
  const which = flags.case ?? "all"
  if (!["throughput", "latency", "all"].includes(which)) throw new UsageError(`--case must be throughput, latency or all, got "${which}"`)
  const kindFlag = flags.kind ?? "both"
  if (!["passthrough", "transform", "both"].includes(kindFlag)) throw new UsageError(`--kind must be passthrough, transform or both, got "${kindFlag}"`)
  const kinds: ReadonlyArray<Kind> = kindFlag === "both" ? ["passthrough", "transform"] : [kindFlag as Kind]
  const base = {
    batch: intFlag("batch", flags.batch, 100),
    blockMs: intFlag("block-ms", flags["block-ms"], 1_000),
    concurrency: intFlag("concurrency", flags.concurrency, 1),
    cpuProf: flags["cpu-prof"]
  }

  await withRedis(async (url) => {
    // The driver's control connection: a Redis that went away fails the run instead of hanging it.
    const redis = new Redis(url)
    try {
      for (const kind of kinds) await runKind(redis, url, { ...base, kind }, { messages, rate, warmupS, durationS, rounds, prewarm, which })
    } finally {
      redis.disconnect()
    }
  })
}

const runKind = async (
  redis: Redis,
  url: string,
  settings: Settings,
  o: { messages: number; rate: number; warmupS: number; durationS: number; rounds: number; prewarm: number; which: string }
) => {
  const { messages, rate, warmupS, durationS, rounds, prewarm, which } = o
  const common = { kind: settings.kind, batch_size: settings.batch, block_ms: settings.blockMs, concurrency: settings.concurrency, rounds }
  const baselineCase = `raw-ioredis-loop-pipelined-${settings.kind}`
  /** Median over runs of the stages' mean CPU per message: steadier than msgs/s on a busy machine. */
  const stageCpu = (runs: ReadonlyArray<{ readonly cpu_us_per_msg: Record<string, number> }>) =>
    round(median(runs.map((r) => STAGES.reduce((sum, st) => sum + r.cpu_us_per_msg[st.name]!, 0) / STAGES.length)), 1)
  if (which !== "latency") {
    log(`runtime: encoding ${messages} envelopes`)
    const t0 = now()
    const preload = Array.from({ length: messages }, (_, i) => flat(envelopeOf(i, t0)))
    const results: Record<Impl, Array<ThroughputResult>> = { ours: [], raw: [] }
    for (let r = 0; r < rounds; r++) {
      for (const impl of orderOf(r)) {
        log(`runtime: throughput round ${r + 1}/${rounds}, ${impl}: ${messages} messages`)
        const result = await measured(`throughput ${impl}`, () => throughputRun(impl, redis, url, preload, settings))
        log(`runtime:   ${impl}: ${result.msgs_per_s} msgs/s over ${result.seconds} s, mean batch ${result.mean_batch}, cpu us/msg ${JSON.stringify(result.cpu_us_per_msg)}`)
        results[impl].push(result)
      }
    }
    const ours = median(results.ours.map((x) => x.msgs_per_s))
    const raw = median(results.raw.map((x) => x.msgs_per_s))
    emit({
      bench: "runtime",
      case: `3-stage-redis-${settings.kind}`,
      messages,
      msgs_per_s: round(ours, 0),
      baseline_case: baselineCase,
      baseline_msgs_per_s: round(raw, 0),
      ratio: round(ours / raw, 3),
      target_ratio: 1.0,
      stage_cpu_us_per_msg: stageCpu(results.ours),
      baseline_stage_cpu_us_per_msg: stageCpu(results.raw),
      ...common,
      runs: results.ours,
      baseline_runs: results.raw
    })
  }
  if (which !== "throughput") {
    const results: Record<Impl, Array<LatencyResult>> = { ours: [], raw: [] }
    for (let r = 0; r < rounds; r++) {
      for (const impl of orderOf(r)) {
        log(`runtime: latency round ${r + 1}/${rounds}, ${impl}: ${rate}/s for ${warmupS} s + ${durationS} s`)
        const result = await measured(`latency ${impl}`, () => latencyRun(impl, redis, url, settings, rate, warmupS, durationS, prewarm))
        log(`runtime:   ${impl}: p50 ${result.p50_ms} ms, p99 ${result.p99_ms} ms, max ${result.max_ms} ms, mean batch ${result.mean_batch}, cpu us/msg ${JSON.stringify(result.cpu_us_per_msg)}`)
        results[impl].push(result)
      }
    }
    const p = (impl: Impl, field: "p50_ms" | "p99_ms") => round(median(results[impl].map((x) => x[field])))
    emit({
      bench: "runtime",
      case: `3-stage-redis-${settings.kind}-latency`,
      offered_per_s: rate,
      warmup_s: warmupS,
      prewarm_messages: prewarm,
      duration_s: durationS,
      p50_ms: p("ours", "p50_ms"),
      p99_ms: p("ours", "p99_ms"),
      baseline_case: `${baselineCase}-latency`,
      baseline_p50_ms: p("raw", "p50_ms"),
      baseline_p99_ms: p("raw", "p99_ms"),
      ratio: round(p("raw", "p99_ms") / p("ours", "p99_ms"), 3),
      ratio_of: "baseline p99 / ours p99 (higher is better)",
      target_p99_ms: 10,
      stage_cpu_us_per_msg: stageCpu(results.ours),
      baseline_stage_cpu_us_per_msg: stageCpu(results.raw),
      ...common,
      runs: results.ours,
      baseline_runs: results.raw
    })
  }
}
