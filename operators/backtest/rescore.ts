/**
 * Replays recorded signals through the live pipeline's own code, in this process: the
 * dedupe operator (its node, with an in-process Bloom filter), the enricher's
 * normalization, and the scoring core with in-process state and an in-process index of
 * recent ideas. No Redis and no store are involved, and nothing is written anywhere; the
 * embedder is whichever the configuration selects, as live.
 *
 * Signals keep the identity the live pipeline gives them (the correlation id, from the
 * source's node name and the record's key), so the state's samples and the idea ids match
 * a live run's, and the scores do too.
 */
import { Effect, Either } from "effect"
import { ENVELOPE_VERSION, type Delivered } from "../../runtime/envelope.ts"
import { makeKeys } from "../../runtime/keys.ts"
import { stream } from "../../runtime/topology.ts"
import { BloomFilter, dedupe, type DedupeConfig, makeMemory as makeBloom } from "../ingest/dedupe.ts"
import { ideaIdOf } from "../ids.ts"
import { normalizeSignal } from "../ingest/normalize.ts"
import type { Outcome } from "../sources/recordings.ts"
import { Signal } from "../schemas.ts"
import { makeMemory as makeIndex, VectorIndex } from "../scoring/vectorIndex.ts"
import { makeScorer, type ScoredSignal, type ScoringConfig, type ScoringInput } from "../scoring/scorer.ts"
import { makeMemory as makeState, ScoringState } from "../scoring/state.ts"

export interface RecordedItem {
  /** The signal's correlation id, as the live pipeline assigns it. */
  readonly id: string
  /** A readable name of the record: `source:sourceId`, or a stream entry id. */
  readonly key: string
  readonly signal: Signal
  /** raw: deduplicated and normalized here first, as dedupe and enrich do live; enriched: scored as is. */
  readonly stage: "raw" | "enriched"
  readonly outcome?: Outcome
}

export interface ReplayedItem extends ScoredSignal {
  readonly key: string
  /** Arrived after a later signal's batch had read past it (out of order beyond the allowed lateness). */
  readonly late: boolean
  readonly outcome?: Outcome
}

export interface ReplayResult {
  /** Scored signals, in replay order; merged ones included (with `mergeInto`). */
  readonly items: ReadonlyArray<ReplayedItem>
  /** Dropped by dedupe. */
  readonly duplicates: number
  /** Nothing left after normalization. */
  readonly unusable: number
}

export interface ReplayOptions {
  readonly scoring: ScoringConfig
  readonly dedupe: typeof DedupeConfig.Encoded
  /** Signals per scoring batch; results do not depend on it (see scoring/scorer.ts). */
  readonly batchSize: number
  readonly onProgress?: (done: number) => void
}

// The dedupe node is only ever driven directly here; its streams are never read.
const recorded = stream("replay.recorded", Signal)

export const replay = (records: ReadonlyArray<RecordedItem>, options: ReplayOptions) =>
  Effect.gen(function* () {
    const dedupeNode = dedupe(options.dedupe, { from: recorded, to: recorded })
    const scorer = makeScorer(options.scoring)
    const keys = makeKeys("replay")
    const state = makeState(keys)
    const bloom = makeBloom(keys)
    const ideas = makeIndex()
    const items: Array<ReplayedItem> = []
    let duplicates = 0
    let unusable = 0

    for (let start = 0; start < records.length; start += options.batchSize) {
      const chunk = records.slice(start, start + options.batchSize)
      const raw = chunk.filter((r) => r.stage === "raw")
      const passed = new Set<RecordedItem>(chunk.filter((r) => r.stage === "enriched"))
      // Normalized once: dedupe keys on the content hash that normalizing computes anyway.
      const normalized = new Map(raw.map((r) => [r, Either.try(() => normalizeSignal(r.signal))]))
      if (raw.length > 0) {
        const envelopes = raw.map((r): Delivered<Signal> => {
          const signal = normalized.get(r)!
          return {
            eventType: recorded.eventType,
            eventId: r.id,
            timestamp: r.signal.capturedAt,
            source: "replay",
            version: ENVELOPE_VERSION,
            correlationId: r.id,
            data: Either.isRight(signal) ? { ...r.signal, contentHash: signal.right.contentHash } : r.signal,
            attempt: 1
          }
        })
        const results = yield* dedupeNode.handle(envelopes).pipe(Effect.provideService(BloomFilter, bloom))
        results.forEach((result, i) => {
          if (result._tag === "Emit" && result.outputs.length > 0) passed.add(raw[i]!)
          else duplicates++
        })
      }
      const inputs: Array<ScoringInput> = []
      const sources: Array<RecordedItem> = []
      for (const record of chunk) {
        if (!passed.has(record)) continue
        const signal = normalized.get(record) ?? Either.right(record.signal)
        if (Either.isLeft(signal)) {
          unusable++
          continue
        }
        inputs.push({ id: record.id, ideaId: ideaIdOf(record.id), signal: signal.right })
        sources.push(record)
      }
      const batch = yield* scorer
        .score(inputs)
        .pipe(Effect.provideService(ScoringState, state), Effect.provideService(VectorIndex, ideas))
      yield* ideas.add(batch.signals.filter((s) => s.mergeInto === undefined).map((s) => ({ ideaId: s.ideaId, at: s.at, embedding: s.embedding })))
      const late = yield* scorer.late(batch).pipe(Effect.provideService(ScoringState, state))
      batch.signals.forEach((s, i) => {
        const { key, outcome } = sources[i]!
        items.push({ ...s, key, late: late[i]!, ...(outcome !== undefined ? { outcome } : {}) })
      })
      options.onProgress?.(Math.min(records.length, start + chunk.length))
    }
    return { items, duplicates, unusable } satisfies ReplayResult
  })
