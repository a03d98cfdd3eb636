/**
 * `npm run bench -- surge`: a 10x input burst against a slow stage, on real worker
 * processes and a real redis-server (the chaos suite runs the same scenario and asserts
 * on it: test/chaos/surge.chaos.ts).
 *
 * Topology test/fixtures/crash.topology.ts: crash.in -> relay -> crash.mid -> record, on
 * 2 worker processes (`desainz worker --only relay,record`); `record` is the slow stage
 * (RECORD_DELAY_MS per entry). The driver writes to crash.in at a steady rate, then 10x
 * that rate for a while, and samples every worker's RSS (/proc) and the backlog in front
 * of the slow stage. Backpressure, not buffering: relay stops reading while crash.mid's
 * backlog is above the high watermark, so the burst waits in crash.in (in Redis), and
 * worker memory stays near its steady state.
 *
 * Line: peak RSS of the worst worker over its steady-state RSS (`ratio`, target <= 1.5;
 * lower is better here), the worst backlog in front of the slow stage and its bound
 * (high watermark + one batch per consumer), and that every message arrived.
 *
 * Flags: --rate (300 msgs/s steady)  --factor (10)  --steady-s (8)  --burst-s (5)
 */
import { readFileSync } from "node:fs"
import { Redis } from "ioredis"
import { makeKeys } from "../runtime/keys.ts"
import { BIN, envFor, inputEntry, TOPOLOGY } from "../test/support/crashRun.ts"
import { emit, intFlag, log, median, numberFlag, parseFlags, round, sleep, spawnChild, stopAll, waitFor } from "./harness.ts"
import { withRedis } from "./redis.ts"

export interface SurgeOptions {
  readonly rate: number
  readonly factor: number
  readonly steadyS: number
  readonly burstS: number
}

export const DEFAULT_SURGE: SurgeOptions = { rate: 300, factor: 10, steadyS: 8, burstS: 5 }

const HIGH = 2_000
const LOW = 1_000
const BATCH = 200
const WORKERS = 2

export interface SurgeResult {
  readonly total: number
  readonly arrived: number
  readonly steadyRssMb: ReadonlyArray<number>
  readonly peakRssMb: ReadonlyArray<number>
  /** Peak over steady-state RSS of the worst worker. */
  readonly rssRatio: number
  readonly worstBacklog: number
  readonly backlogBound: number
  readonly worstInputBacklog: number
}

const rssMb = (pid: number | undefined): number => {
  if (pid === undefined) return NaN
  try {
    const kb = /^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]
    return kb === undefined ? NaN : Number(kb) / 1024
  } catch {
    return NaN
  }
}

/** Lag + pending of `group` on `stream` (XINFO GROUPS). */
const backlogOf = async (redis: Redis, stream: string, group: string): Promise<number> => {
  const groups = (await redis.call("XINFO", "GROUPS", stream).catch(() => [])) as Array<Array<unknown>>
  for (const g of groups) {
    const info: Record<string, unknown> = {}
    for (let i = 0; i + 1 < g.length; i += 2) info[String(g[i])] = g[i + 1]
    if (info["name"] === group) return Number(info["lag"] ?? 0) + Number(info["pending"])
  }
  return 0
}

export const runSurge = async (url: string, o: SurgeOptions = DEFAULT_SURGE): Promise<SurgeResult> => {
  const name = `surge-${process.pid}-${Date.now()}`
  const keys = makeKeys(name)
  const redis = new Redis(url)
  const workers = Array.from({ length: WORKERS }, (_, i) =>
    spawnChild(`surge-w${i}`, process.execPath, [BIN, "worker", "--topology", TOPOLOGY, "--only", "relay,record"], {
      env: envFor(url, name, {
        DESAINZ_CONSUMER: `surge-w${i}`,
        RECORD_DELAY_MS: "8",
        HIGH_WATERMARK: String(HIGH),
        LOW_WATERMARK: String(LOW)
      })
    })
  )
  try {
    await waitFor("the workers join their groups", async () => {
      const consumers = (await redis.call("XINFO", "CONSUMERS", keys.stream("crash.mid"), "record").catch(() => [])) as Array<unknown>
      return consumers.length >= WORKERS
    }, 60_000)
    const samples: Array<{ phase: "steady" | "surge"; rss: Array<number> }> = []
    let worstBacklog = 0
    let worstInput = 0
    let phase: "steady" | "surge" = "steady"
    let sampling = true
    const sampler = (async () => {
      while (sampling) {
        samples.push({ phase, rss: workers.map((w) => rssMb(w.process.pid)) })
        worstBacklog = Math.max(worstBacklog, await backlogOf(redis, keys.stream("crash.mid"), "record"))
        worstInput = Math.max(worstInput, await backlogOf(redis, keys.stream("crash.in"), "relay"))
        await sleep(100)
      }
    })()
    let sent = 0
    /** Sends at `rate` for `seconds`, by the clock: what is due goes out every ~20 ms. */
    const produce = async (rate: number, seconds: number) => {
      const base = sent
      const start = performance.now()
      while (performance.now() - start < seconds * 1_000) {
        const due = base + Math.floor(((performance.now() - start) / 1_000) * rate)
        const pipe = redis.pipeline()
        for (; sent < due; sent++) pipe.xadd(keys.stream("crash.in"), "*", ...inputEntry(name, sent).args)
        await pipe.exec()
        await sleep(20)
      }
    }
    log(`surge: steady ${o.rate}/s for ${o.steadyS} s`)
    await produce(o.rate, o.steadyS)
    phase = "surge"
    log(`surge: ${o.factor}x, ${o.rate * o.factor}/s for ${o.burstS} s`)
    await produce(o.rate * o.factor, o.burstS)
    const total = sent
    log(`surge: ${total} sent; draining`)
    await waitFor("every message arrives", async () => (await redis.scard(`${name}:seen`)) >= total, 300_000, 200)
    sampling = false
    await sampler
    // Steady state: the second half of the steady phase (after start-up and JIT warm-up).
    const steadySamples = samples.filter((s) => s.phase === "steady")
    const settled = steadySamples.slice(Math.floor(steadySamples.length / 2))
    const steadyRss = workers.map((_, i) => median(settled.map((s) => s.rss[i]!)))
    const peakRss = workers.map((_, i) => Math.max(...samples.filter((s) => s.phase === "surge").map((s) => s.rss[i]!)))
    return {
      total,
      arrived: await redis.scard(`${name}:seen`),
      steadyRssMb: steadyRss.map((x) => round(x, 1)),
      peakRssMb: peakRss.map((x) => round(x, 1)),
      rssRatio: round(Math.max(...peakRss.map((p, i) => p / steadyRss[i]!)), 3),
      worstBacklog,
      backlogBound: HIGH + BATCH * WORKERS,
      worstInputBacklog: worstInput
    }
  } finally {
    await stopAll(workers, 10_000)
    redis.disconnect()
  }
}

export const run = async (args: ReadonlyArray<string>): Promise<void> => {
  const flags = parseFlags(args, { rate: { type: "string" }, factor: { type: "string" }, "steady-s": { type: "string" }, "burst-s": { type: "string" } })
  const o: SurgeOptions = {
    rate: intFlag("rate", flags.rate, DEFAULT_SURGE.rate),
    factor: numberFlag("factor", flags.factor, DEFAULT_SURGE.factor),
    steadyS: numberFlag("steady-s", flags["steady-s"], DEFAULT_SURGE.steadyS),
    burstS: numberFlag("burst-s", flags["burst-s"], DEFAULT_SURGE.burstS)
  }
  await withRedis(async (url) => {
    const r = await runSurge(url, o)
    emit({
      bench: "surge",
      case: `${o.factor}x-burst-slow-stage`,
      peak_rss_mb: Math.max(...r.peakRssMb),
      baseline_case: "steady-state-rss",
      baseline_rss_mb: Math.max(...r.steadyRssMb),
      ratio: r.rssRatio,
      ratio_of: "peak RSS / steady-state RSS of the worst worker (lower is better)",
      target_ratio_max: 1.5,
      worst_backlog: r.worstBacklog,
      backlog_bound: r.backlogBound,
      worst_input_backlog: r.worstInputBacklog,
      sent: r.total,
      arrived: r.arrived,
      steady_rss_mb: r.steadyRssMb,
      peak_rss_mb_per_worker: r.peakRssMb,
      rate: o.rate,
      factor: o.factor
    })
  })
}
