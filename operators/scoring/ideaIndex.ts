/**
 * The recent ideas a signal is checked against for near-duplicates: pgvector through the
 * store for live scoring (shared by every replica), or an in-process list for replays and
 * backtests, which must not touch the store's ideas.
 *
 * Both answer "the ideas with event time in [from, to), nearest first"; the scorer then
 * takes the cosine itself from the returned float32 vectors, so both layers decide alike.
 */
import { Context, Effect } from "effect"
import type { SqlError } from "../../runtime/sql.ts"
import { Store } from "../store/store.ts"

export interface IndexedIdea {
  readonly ideaId: string
  /** Event time (ms) of the idea's signal. */
  readonly at: number
  readonly embedding: ReadonlyArray<number>
}

export interface NeighbourSearch {
  readonly embedding: ReadonlyArray<number>
  readonly from: number
  readonly to: number
  /** The signal's own idea (a redelivery or a second run must not find itself). */
  readonly excludeId: string
  readonly limit: number
}

export interface IdeaIndexShape {
  readonly nearest: (searches: ReadonlyArray<NeighbourSearch>) => Effect.Effect<ReadonlyArray<ReadonlyArray<IndexedIdea>>, SqlError>
}

export class IdeaIndex extends Context.Tag("desainz/IdeaIndex")<IdeaIndex, IdeaIndexShape>() {}

/** Ideas in the store; the score operator adds to it by upserting its ideas. */
export const fromStore: Effect.Effect<IdeaIndexShape, never, Store> = Effect.map(Store, (store) => ({
    nearest: (searches) =>
      Effect.map(
        store.nearestIdeas(
          searches.map((s) => ({ embedding: s.embedding, from: new Date(s.from), to: new Date(s.to), excludeId: s.excludeId, limit: s.limit }))
        ),
        // pgvector prints the shortest decimal that rounds to each float32; fround turns it back into
        // exactly the vector that was stored, so similarities match the in-process index to the bit.
        (results) => results.map((found) => found.map((n) => ({ ideaId: n.id, at: n.eventAt.getTime(), embedding: n.embedding.map(Math.fround) })))
      )
}))

/** The first position in `ideas` (sorted by event time) at or after `at`. */
const firstAtOrAfter = (ideas: ReadonlyArray<IndexedIdea>, at: number): number => {
  let lo = 0
  for (let hi = ideas.length; lo < hi; ) {
    const mid = (lo + hi) >> 1
    if (ideas[mid]!.at < at) lo = mid + 1
    else hi = mid
  }
  return lo
}

/**
 * An in-process index for one replay, kept in event-time order so a search scans only its
 * window. Ideas older than the oldest window still searched (with a day to spare) are
 * dropped, so a long replay holds only recent vectors.
 */
export const makeMemoryIndex = () => {
  let ideas: Array<IndexedIdea & { readonly vector: Float64Array; readonly inverseNorm: number }> = []
  let oldestNeeded = -Infinity
  const index: IdeaIndexShape = {
    nearest: (searches) =>
      Effect.sync(() => {
        for (const s of searches) oldestNeeded = Math.max(oldestNeeded, s.from - 86_400_000)
        return searches.map((s) => {
          // Ranked by dot product over stored norms (the scorer takes the exact cosine of the few returned).
          const q = s.embedding
          const found: Array<{ readonly idea: IndexedIdea; readonly similarity: number }> = []
          for (let i = firstAtOrAfter(ideas, s.from); i < ideas.length && ideas[i]!.at < s.to; i++) {
            const idea = ideas[i]!
            if (idea.ideaId === s.excludeId) continue
            const e = idea.vector
            let dot = 0
            for (let d = 0; d < e.length; d++) dot += (q[d] ?? 0) * e[d]!
            found.push({ idea, similarity: dot * idea.inverseNorm })
          }
          return found
            .sort((a, b) => b.similarity - a.similarity || (a.idea.ideaId < b.idea.ideaId ? -1 : 1))
            .slice(0, s.limit)
            .map(({ idea }) => idea)
        })
      })
  }
  return {
    index,
    add: (added: ReadonlyArray<IndexedIdea>) => {
      const kept = ideas.slice(firstAtOrAfter(ideas, oldestNeeded))
      for (const idea of added) {
        const norm = Math.sqrt(idea.embedding.reduce((sum, x) => sum + x * x, 0))
        kept.splice(firstAtOrAfter(kept, idea.at + 1), 0, { ...idea, vector: Float64Array.from(idea.embedding), inverseNorm: norm > 0 ? 1 / norm : 0 })
      }
      ideas = kept
    }
  }
}
