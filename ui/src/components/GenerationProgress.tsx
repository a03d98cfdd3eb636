/**
 * A progress bar per candidate of an idea's latest generation: queued, the executing node
 * with its sampler step (value / max), post-processing, done, mock-ups ready, or failed
 * with the reason.
 */
import { For, Show } from "solid-js"
import type { GenerationState } from "../../../operators/api/contract.ts"
import { progressOf } from "../generations.ts"

const share = (s: GenerationState): number => {
  switch (s.phase) {
    case "queued":
      return 0.02
    case "executing":
      return 0.05 + 0.8 * (s.max ? (s.value ?? 0) / s.max : 0)
    case "post-processing":
      return 0.9
    case "done":
    case "mocked-up":
    case "failed":
      return 1
  }
}

const label = (s: GenerationState) =>
  s.phase === "executing"
    ? `executing${s.node ? ` node ${s.node}` : ""}${s.max ? ` · step ${s.value ?? 0}/${s.max}` : ""}`
    : s.phase === "failed"
      ? `failed: ${s.reason ?? "unknown"}`
      : s.phase === "done" && s.reason
        ? `done · needs review: ${s.reason}`
        : s.phase === "mocked-up"
          ? `mock-ups ready${s.reason ? ` · needs review: ${s.reason}` : ""}`
          : s.phase

export function GenerationProgress(props: { ideaId: string }) {
  const states = () => progressOf(props.ideaId)
  return (
    <Show when={states().length > 0}>
      <div class="generation-progress" data-testid="generation-progress">
        <For each={states()}>
          {(s) => (
            <div class={`gen-row gen-${s.phase}`} data-phase={s.phase} data-generation={s.generationId}>
              <span class="small">
                candidate {s.candidate + 1}/{s.candidates}
              </span>
              <span
                class="bar"
                role="progressbar"
                aria-valuemin={0}
                aria-valuemax={100}
                aria-valuenow={Math.round(share(s) * 100)}
                aria-label={`candidate ${s.candidate + 1} ${label(s)}`}
              >
                <span style={{ width: `${Math.round(share(s) * 100)}%` }} />
              </span>
              <span class="small muted">{label(s)}</span>
            </div>
          )}
        </For>
      </div>
    </Show>
  )
}
