/**
 * The candidates of an idea, side by side with their quality checks, grouped by
 * generation (a refinement shows its instruction and parent): the picked one is marked,
 * another can be picked before approving (and stays picked through refinements), and a
 * refinement instruction queues new ones. Reloads when the live feed says a candidate of
 * this idea was stored or mocked up, so refined candidates appear with their mock-ups
 * without a page reload; never polls.
 */
import { createEffect, createResource, createSignal, For, on, Show } from "solid-js"
import { api, describeApiError } from "../api.ts"
import { generationFinished } from "../generations.ts"

/** `onPicked`: the idea's card shows its pick, so the view reloads it. */
export function Candidates(props: { ideaId: string; onPicked?: () => void }) {
  const [data, { refetch }] = createResource(() => props.ideaId, (id) => api.generations(id).catch(() => undefined))
  createEffect(
    on(generationFinished, (f) => {
      if (f?.ideaId === props.ideaId) void refetch()
    }, { defer: true })
  )
  /** A generation's name in the history: "generation 1", "refinement N". */
  const nameOf = (generationId: string) => {
    const index = data()?.generations.findIndex((g) => g.generationId === generationId) ?? -1
    return index < 0 ? "an earlier generation" : index === 0 ? "generation 1" : `refinement ${index}`
  }
  const [instruction, setInstruction] = createSignal("")
  const [error, setError] = createSignal<string | null>(null)
  const [note, setNote] = createSignal<string | null>(null)

  const pick = async (candidateId: string) => {
    setError(null)
    try {
      await api.pick(props.ideaId, candidateId)
      props.onPicked?.()
      await refetch()
    } catch (e) {
      setError(describeApiError(e))
    }
  }
  const refine = async (e: Event) => {
    e.preventDefault()
    setError(null)
    try {
      const r = await api.refine(props.ideaId, instruction().trim())
      setNote(`refining: "${r.instruction}"`)
      setInstruction("")
    } catch (err) {
      setError(describeApiError(err))
    }
  }

  return (
    <Show when={(data()?.generations.length ?? 0) > 0}>
      <section class="candidates" data-testid="candidates">
        <For each={data()!.generations}>
          {(g, gi) => (
            <div class="generation" data-generation={g.generationId}>
              <div class="small muted" data-testid="generation-head">
                {gi() === 0 ? "generation 1" : `refinement ${gi()}`}
                {g.instruction ? ` · “${g.instruction}”` : ""}
                {g.parentId ? ` · of ${nameOf(g.parentId)}` : ""} · {g.engine}
              </div>
              <div class="candidate-row">
                <For each={g.candidates}>
                  {(c) => (
                    <figure class={`candidate${c.picked ? " picked" : ""}${c.passed ? "" : " failed"}`} data-candidate={c.candidateId}>
                      <img src={c.mockups[0]?.url ?? c.printFileUrl} alt={`candidate ${c.position + 1}, ${c.format}`} loading="lazy" />
                      <figcaption class="small">
                        <div>
                          {c.format} · coverage {(c.checks.coverage * 100).toFixed(0)}% · {c.checks.effectiveDpi} dpi
                        </div>
                        <Show when={c.checks.failures.length > 0}>
                          <div class="check-failures">{c.checks.failures.join("; ")}</div>
                        </Show>
                        <Show when={c.picked} fallback={<button class="btn btn-small" onClick={() => void pick(c.candidateId)}>Pick</button>}>
                          <span class="tag" title={data()!.pickedBy === "reviewer" ? "your pick: kept until you pick another" : "best by the checks until you pick one"}>
                            {data()!.pickedBy === "reviewer" ? "your pick" : "picked"}
                          </span>
                        </Show>
                      </figcaption>
                    </figure>
                  )}
                </For>
              </div>
            </div>
          )}
        </For>
        <form class="refine" onSubmit={(e) => void refine(e)}>
          <input
            type="text"
            placeholder="Refine, e.g. more retro"
            aria-label="Refinement instruction"
            value={instruction()}
            onInput={(e) => setInstruction(e.currentTarget.value)}
          />
          <button class="btn btn-small" type="submit" disabled={instruction().trim().length < 2}>
            Refine
          </button>
          <Show when={note()}>
            <span class="small muted">{note()}</span>
          </Show>
        </form>
        <Show when={error()}>
          <div class="banner banner-error" role="alert">
            {error()}
          </div>
        </Show>
      </section>
    </Show>
  )
}
