/**
 * Live generation progress: the generate operator publishes each candidate's state
 * (queued, executing node + step, post-processing, done / failed with the reason), the
 * API streams it to the UI over SSE. Latest state per candidate is kept (bounded), so a
 * client that connects mid-run starts from the current picture.
 *
 * In-process: it reaches the UI when the generate operator and the HTTP server share a
 * process (`desainz start`). A generate worker on another machine (`desainz worker --only
 * generate`) publishes into its own process only; its results still reach the UI through
 * the store.
 */
import { Context, Effect, Layer, Schema } from "effect"

export const GenerationPhase = Schema.Literal("queued", "executing", "post-processing", "done", "failed")
export type GenerationPhase = typeof GenerationPhase.Type

export const GenerationState = Schema.Struct({
  generationId: Schema.UUID,
  ideaId: Schema.UUID,
  candidate: Schema.Int,
  candidates: Schema.Int,
  phase: GenerationPhase,
  /** The node executing (ComfyUI) or the step of the procedural designer. */
  node: Schema.optional(Schema.String),
  value: Schema.optional(Schema.Number),
  max: Schema.optional(Schema.Number),
  server: Schema.optional(Schema.String),
  reason: Schema.optional(Schema.String),
  at: Schema.String
})
export type GenerationState = typeof GenerationState.Type

export interface GenerationProgressService {
  readonly publish: (state: Omit<GenerationState, "at">) => Effect.Effect<void>
  /** Calls `listener` with every state published from now on; returns the unsubscribe. */
  readonly subscribe: (listener: (state: GenerationState) => void) => () => void
  /** The latest state of each recent candidate, oldest first. */
  readonly current: () => ReadonlyArray<GenerationState>
}

const KEEP = 500

export const make = (): GenerationProgressService => {
  const listeners = new Set<(state: GenerationState) => void>()
  const latest = new Map<string, GenerationState>()
  return {
    publish: (input) =>
      Effect.sync(() => {
        const state: GenerationState = { ...input, at: new Date().toISOString() }
        const key = `${state.generationId}:${state.candidate}`
        latest.delete(key)
        latest.set(key, state)
        if (latest.size > KEEP) latest.delete(latest.keys().next().value!)
        for (const listener of listeners) {
          try {
            listener(state)
          } catch {
            // A failing subscriber (a closed SSE stream) must not stop the generation.
          }
        }
      }),
    subscribe: (listener) => {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    current: () => [...latest.values()]
  }
}

export class GenerationProgress extends Context.Tag("desainz/GenerationProgress")<GenerationProgress, GenerationProgressService>() {
  static readonly layer: Layer.Layer<GenerationProgress> = Layer.sync(GenerationProgress, make)
}
