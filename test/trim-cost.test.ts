/**
 * Trimming costs what it removes, not what it keeps (issue 15, item 1): a trim of a long
 * stream must not copy the kept entries into Lua. Measured without a clock: MONITOR shows
 * every command the trim script runs with its arguments, so the COUNT of each range read
 * is the number of entries it copies. The script before the fix read `XREVRANGE ... COUNT
 * keep` (here 4,990 entries) to find the cut, and fails this test.
 */
import { Effect } from "effect"
import { Redis } from "ioredis"
import { describe, expect, inject, it } from "vitest"
import { makeKeys } from "../runtime/keys.ts"
import { Transport } from "../runtime/transport.ts"
import { runTest, transportCases, uniqueName } from "./support/harness.ts"

const redisCase = transportCases.find((c) => c.name !== "embedded")!

describe("trim cost on Redis", () => {
  it("reads only the entries it removes, with and without consumer groups", async () => {
    const monitor = await new Redis(inject("redisUrl")).monitor()
    const ranges: Array<{ readonly command: string; readonly count: number }> = []
    monitor.on("monitor", (_time: string, args: Array<string>) => {
      const command = String(args[0]).toLowerCase()
      const at = args.findIndex((a) => String(a).toLowerCase() === "count")
      if ((command === "xrange" || command === "xrevrange") && at > 0) ranges.push({ command, count: Number(args[at + 1]) })
    })
    try {
      const removed = await runTest(
        redisCase,
        Effect.gen(function* () {
          const t = yield* Transport
          const plain = makeKeys(uniqueName()).stream("dlq")
          const grouped = makeKeys(uniqueName()).stream("in")
          const entries = Array.from({ length: 5_000 }, (_, i) => ({ n: String(i) }))
          yield* t.append({ stream: plain, entries })
          yield* t.ensureGroup(grouped, "g")
          yield* t.append({ stream: grouped, entries })
          // The group has read and acknowledged everything, so the length cut decides.
          const { deliveries } = yield* t.exchange({ read: { stream: grouped, group: "g", consumer: "c", count: 5_000, blockMs: 0 } })
          yield* t.commit({ appends: [], acks: [{ stream: grouped, group: "g", ids: deliveries.map((d) => d.id) }] })
          return [yield* t.trim(plain, 4_990), yield* t.trim(grouped, 4_990)]
        })
      )
      expect(removed).toEqual([10, 10])
      // MONITOR reports a command after it ran; wait until both trims' reads have arrived.
      await new Promise((resolve) => setTimeout(resolve, 200))
      expect(ranges.length).toBeGreaterThan(0)
      for (const r of ranges) expect(r.count, `${r.command} COUNT ${r.count}`).toBeLessThanOrEqual(10)
    } finally {
      monitor.disconnect()
    }
  })
})
