/**
 * `npm run bench -- ui`: does the live topology view stay responsive under a busy feed?
 *
 * A small hono server (in this process) serves the built UI (runtime/static.ts), a
 * synthetic topology of 50 nodes (5 sources, each feeding a chain of 9 operators) on
 * /api/topology, and an SSE feed on /api/events that pushes snapshots of all 50 nodes
 * (and their 50 streams) at `--msgs-per-s` (default 100, i.e. 5,000 node updates a
 * second). Headless Chromium (system /usr/bin/chromium) opens the topology view; in the
 * page, requestAnimationFrame deltas and long tasks (PerformanceObserver "longtask")
 * are recorded for `--seconds` (default 10) per case and round, the cases alternating
 * (`--rounds`, default 2) and pooled:
 *
 *   idle-page                       the same page, same open SSE connection, feed paused
 *   50-ops-5000-updates-per-s       the feed running
 *
 * Frame deltas are what a user feels: p50 ≈ 16.7 ms is every frame at 60 Hz, a p99 in
 * the hundreds means visible stalls. `ratio` = baseline p99 / ours (1.0 = the feed costs
 * nothing; lower is worse). The bench also checks that the page really applied the
 * feed: a node's counter must have moved during the busy case.
 *
 * Flags: --seconds N (10)  --rounds N (2)  --msgs-per-s N (100)  --nodes-per-chain N (10, chains are 5)
 *        --screenshot FILE (a PNG of the page under load, to look at)
 */
import type { AddressInfo } from "node:net"
import { spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { serve } from "@hono/node-server"
import { Hono } from "hono"
import { streamSSE } from "hono/streaming"
import type { Snapshot } from "../runtime/http.ts"
import { mountStatic, UI_DIST } from "../runtime/static.ts"
import { defaultSettings, type TopologyJson } from "../runtime/topology.ts"
import { launchChromium } from "../ui/support/chromium.ts"
import { emit, intFlag, log, numberFlag, parseFlags, quantile, round, sleep } from "./harness.ts"

const CHAINS = 5

/** 5 chains of `perChain` nodes: a source, then operators, each writing its own stream. */
export const syntheticTopology = (perChain: number): TopologyJson => {
  const nodes: Array<TopologyJson["nodes"][number]> = []
  const streams: Array<TopologyJson["streams"][number]> = []
  const edges: Array<TopologyJson["edges"][number]> = []
  for (let c = 0; c < CHAINS; c++) {
    for (let i = 0; i < perChain; i++) {
      const name = i === 0 ? `source-${c}` : `op-${c}-${i}`
      const out = `s${c}.${i}`
      const input = i === 0 ? null : `s${c}.${i - 1}`
      const next = i + 1 < perChain ? `op-${c}-${i + 1}` : null
      nodes.push({
        name,
        type: i === 0 ? "source" : "operator",
        kind: i === 0 ? "source" : "map",
        input,
        outputs: [out],
        every: i === 0 ? "1s" : null,
        settings: defaultSettings,
        config: null
      })
      streams.push({ name: out, eventType: out, maxLen: 10_000, writers: [name], readers: next ? [next] : [] })
      if (next) edges.push({ from: name, to: next, stream: out })
    }
  }
  return { name: "bench-ui", nodes, streams, edges }
}

/** A feed whose figures move every message, like a busy pipeline's. */
const makeFeed = (t: TopologyJson) => {
  const processed = new Map(t.nodes.map((n) => [n.name, 0]))
  let seq = 0
  return (): Snapshot => {
    seq++
    const nodes = t.nodes.map((n, i) => {
      const rate = 200 + 150 * Math.sin(seq / 50 + i)
      const done = processed.get(n.name)! + Math.round(rate / 100)
      processed.set(n.name, done)
      const failing = i % 17 === 3
      return {
        name: n.name,
        type: n.type,
        processed: done,
        failed: failing ? seq >> 4 : 0,
        retried: 0,
        deadLettered: failing ? seq >> 6 : 0,
        emitted: done,
        claimed: 0,
        backpressured: i % 23 === 7 && seq % 400 < 200,
        ratePerSec: rate,
        errorsPerSec: failing ? 0.5 + (seq % 3) : 0,
        p50Ms: 2 + (i % 5),
        p99Ms: 20 + ((seq + i) % 40),
        dlq: failing ? seq >> 6 : 0
      }
    })
    const streams = t.streams.map((s, i) => ({
      name: s.name,
      length: 5_000 + ((seq * 7 + i * 13) % 5_000),
      lastId: `${Date.now()}-${seq}`,
      groups: s.readers.map((r) => ({
        name: r,
        lag: (seq + i) % 50,
        pending: (seq * 3 + i) % 20,
        consumers: [{ name: `${r}-c0`, pending: (seq * 3 + i) % 20, idleMs: (seq * 10) % 1000 }]
      }))
    }))
    return { time: new Date().toISOString(), topology: t.name, transport: "redis", nodes, streams }
  }
}

interface FrameStats {
  readonly frames: number
  readonly p50: number
  readonly p95: number
  readonly p99: number
  readonly max: number
  readonly longTasks: number
  readonly longTaskMs: number
}

/** Runs in the page: rAF deltas and long tasks for `ms` milliseconds. */
const MEASURE = `(ms) => new Promise((resolve) => {
  const deltas = []
  let long = 0, longMs = 0, last
  const po = new PerformanceObserver((list) => { for (const e of list.getEntries()) { long++; longMs += e.duration } })
  try { po.observe({ type: "longtask", buffered: false }) } catch {}
  const end = performance.now() + ms
  const tick = (now) => {
    if (last !== undefined) deltas.push(now - last)
    last = now
    if (now < end) requestAnimationFrame(tick)
    else { po.disconnect(); resolve({ deltas, long, longMs }) }
  }
  requestAnimationFrame(tick)
})`

export async function run(args: ReadonlyArray<string>): Promise<void> {
  const flags = parseFlags(args, {
    seconds: { type: "string" },
    "msgs-per-s": { type: "string" },
    "nodes-per-chain": { type: "string" },
    rounds: { type: "string" },
    screenshot: { type: "string" }
  })
  const seconds = numberFlag("seconds", flags.seconds, 10)
  const msgsPerSecond = intFlag("msgs-per-s", flags["msgs-per-s"], 100)
  const perChain = intFlag("nodes-per-chain", flags["nodes-per-chain"], 10, 2)
  const rounds = intFlag("rounds", flags.rounds, 2)

  const root = join(import.meta.dirname, "..")
  const built = spawnSync(process.execPath, [join(root, "ui", "ensure-built.mjs")], { stdio: ["ignore", 2, 2] })
  if (built.status !== 0 || !existsSync(join(UI_DIST, "index.html"))) throw new Error("the UI could not be built (npm run build:ui)")

  const t = syntheticTopology(perChain)
  const next = makeFeed(t)
  let paused = true
  let sent = 0
  const app = new Hono()
  app.get("/api/topology", (c) => c.json(t))
  app.get("/api/snapshot", (c) => c.json(next()))
  app.get("/api/events", (c) =>
    streamSSE(c, async (stream) => {
      let open = true
      stream.onAbort(() => {
        open = false
      })
      // Open loop: send what the clock says is due, in small bursts every ~10 ms.
      const started = performance.now()
      let due = 0
      let id = 0
      while (open) {
        if (paused) {
          due = Math.floor(((performance.now() - started) / 1000) * msgsPerSecond)
          await stream.sleep(50)
          continue
        }
        const target = Math.floor(((performance.now() - started) / 1000) * msgsPerSecond)
        while (due < target && open) {
          await stream.writeSSE({ event: "snapshot", id: String(id++), data: JSON.stringify(next()) })
          due++
          sent++
        }
        await stream.sleep(10)
      }
    })
  )
  app.get("/api/streams/:s/entries", (c) => c.json({ stream: c.req.param("s"), entries: [] }))
  app.get("/api/dlq/:op", (c) => c.json({ entries: [] }))
  mountStatic()(app)
  app.notFound((c) => c.json({ error: "not found" }, 404))

  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s))
  })
  const port = (server.address() as AddressInfo).port
  const browser = await launchChromium({ viewport: { width: 1440, height: 900 } })
  try {
    const page = await browser.context.newPage()
    page.on("pageerror", (e) => log(`page error: ${e.message}`))
    await page.goto(`http://127.0.0.1:${port}/#/topology`)
    await page.locator("svg.graph [data-node]").nth(t.nodes.length - 1).waitFor({ timeout: 60_000 })
    log(`bench ui: ${t.nodes.length} nodes laid out; feed ${msgsPerSecond} msgs/s x ${t.nodes.length} nodes`)

    // A short busy warm-up (JIT, first paints of every sparkline), then settle.
    paused = false
    await sleep(2_000)
    paused = true
    await sleep(1_000)

    const measure = async () =>
      (await page.evaluate(`(${MEASURE})(${Math.round(seconds * 1000)})`)) as { deltas: Array<number>; long: number; longMs: number }
    const summarize = (runs: ReadonlyArray<{ deltas: Array<number>; long: number; longMs: number }>): FrameStats => {
      const sorted = runs.flatMap((r) => r.deltas).sort((a, b) => a - b)
      return {
        frames: sorted.length,
        p50: quantile(sorted, 0.5),
        p95: quantile(sorted, 0.95),
        p99: quantile(sorted, 0.99),
        max: sorted[sorted.length - 1] ?? NaN,
        longTasks: runs.reduce((n, r) => n + r.long, 0),
        longTaskMs: runs.reduce((n, r) => n + r.longMs, 0)
      }
    }
    const counter = page.locator(`[data-node="op-2-5"] [data-metric="processed"]`)
    const applied = async () => (await page.evaluate("({ ...globalThis.__desainz })")) as { applies: number; applyMs: number }

    // Idle and busy alternate (ABAB), so a noisy neighbour on the machine hits both.
    const idleRuns = []
    const busyRuns = []
    let busySeconds = 0
    let sentDuring = 0
    let applies = 0
    let applyMs = 0
    for (let round = 1; round <= rounds; round++) {
      paused = true
      await sleep(500)
      log(`bench ui: round ${round}/${rounds}: idle-page (feed paused), ${seconds} s`)
      idleRuns.push(await measure())

      paused = false
      await sleep(500)
      const before = await counter.textContent()
      const appliedBefore = await applied()
      const sentBefore = sent
      const started = performance.now()
      log(`bench ui: round ${round}/${rounds}: feed running, ${seconds} s`)
      busyRuns.push(await measure())
      busySeconds += (performance.now() - started) / 1000
      sentDuring += sent - sentBefore
      if (flags.screenshot && round === rounds) await page.screenshot({ path: flags.screenshot })
      const appliedAfter = await applied()
      applies += appliedAfter.applies - appliedBefore.applies
      applyMs += appliedAfter.applyMs - appliedBefore.applyMs
      const after = await counter.textContent()
      if (before === after) throw new Error(`the page did not apply the feed: op-2-5's counter stayed at ${before}`)
    }
    paused = true
    const idle = summarize(idleRuns)
    const busy = summarize(busyRuns)

    emit({
      bench: "ui",
      case: `${t.nodes.length}-ops-${msgsPerSecond * t.nodes.length}-updates-per-s`,
      nodes: t.nodes.length,
      sse_msgs_per_s: round(sentDuring / busySeconds, 1),
      node_updates_per_s: round((sentDuring * t.nodes.length) / busySeconds, 0),
      ui_applies_per_s: round(applies / busySeconds, 1),
      ui_apply_ms_mean: round(applyMs / Math.max(1, applies)),
      frames: busy.frames,
      frame_p50_ms: round(busy.p50),
      frame_p95_ms: round(busy.p95),
      frame_p99_ms: round(busy.p99),
      frame_max_ms: round(busy.max),
      long_tasks: busy.longTasks,
      long_task_ms: round(busy.longTaskMs, 0),
      baseline_case: "idle-page",
      baseline_frames: idle.frames,
      baseline_frame_p50_ms: round(idle.p50),
      baseline_frame_p99_ms: round(idle.p99),
      baseline_long_tasks: idle.longTasks,
      ratio: round(idle.p99 / busy.p99, 3)
    })
  } finally {
    await browser.close()
    ;(server as { closeAllConnections?: () => void }).closeAllConnections?.()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
}
