/**
 * Mocked-up: tells the live progress feed that a generation's candidates have their
 * mock-ups stored (the `mocked-up` state, one per candidate), so the Ideas view refetches
 * the idea's candidates and shows them with their mock-ups and checks, without a reload
 * or polling. `done` from generate comes earlier, when the print files are stored; the
 * mock-ups are made after the whole generation, by the mockup node.
 *
 * Its own node beside mockup (reading `mockups.ready`): mockup stays about images, and a
 * redelivery here only repeats a state, which the feed keeps as the latest anyway.
 */
import { Effect } from "effect"
import { sink, type SettingsInput, type StreamDef } from "../../runtime/topology.ts"
import type { MockupSet } from "../schemas.ts"
import { GenerationProgress } from "./progress.ts"

export const mockedUp = (io: { readonly from: StreamDef<MockupSet> }, settings?: SettingsInput) =>
  sink({
    name: "mocked-up",
    from: io.from,
    settings: { concurrency: 4, batchSize: 32, ...settings },
    run: (set) =>
      Effect.gen(function* () {
        const { generationId, candidates = [], idea } = set.artwork
        // An artwork from before generations were recorded has no candidates to announce.
        if (generationId === undefined) return
        const progress = yield* GenerationProgress
        // The candidates are listed in their generation's order: the index is the candidate's position.
        yield* Effect.forEach(candidates, (c, candidate) =>
          progress.publish({
            generationId,
            ideaId: idea.ideaId,
            candidate,
            candidates: candidates.length,
            phase: "mocked-up",
            ...(c.checks.failures.length > 0 ? { reason: c.checks.failures.join("; ") } : {})
          })
        )
      })
  })
