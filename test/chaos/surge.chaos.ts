/**
 * Chaos: a 10x input burst against a slow stage (bench/surge.ts runs the scenario; `npm
 * run bench -- surge` reports the same figures as a bench line). Backpressure, not
 * buffering: every worker's peak RSS stays within 1.5x its steady state, the backlog in
 * front of the slow stage within the high watermark plus one batch per consumer, and
 * every message arrives.
 */
import { describe, expect, inject, it } from "vitest"
import { runSurge } from "../../bench/surge.ts"

describe("chaos: surge", () => {
  it("holds memory and backlog through a 10x burst against a slow stage, losing nothing", async () => {
    const r = await runSurge(inject("redisUrl"))
    console.error(`chaos surge: ${JSON.stringify(r)}`)
    expect(r.arrived).toBe(r.total)
    expect(r.worstBacklog).toBeLessThanOrEqual(r.backlogBound)
    expect(r.worstInputBacklog).toBeGreaterThan(r.backlogBound) // the burst really outran the slow stage
    expect(r.rssRatio).toBeLessThanOrEqual(1.5)
  })
})
