/**
 * Why an idea waits for a person: its brand & IP safety hits (operators/safety/), each
 * with what was found, what it matched, where and on which list. Nothing when there are none.
 */
import { For, Show } from "solid-js"
import type { ReviewReason } from "../../../operators/api/contract.ts"

const KIND_LABEL: Record<ReviewReason["kind"], string> = {
  trademark: "trademark",
  "trademark-near-miss": "near a trademark",
  "blocked-term": "on your block list",
  "registered-mark": "registered mark",
  nsfw: "NSFW",
  hate: "hate",
  tragedy: "tragedy",
  "artwork-check": "artwork check"
}

/** `idea`, `idea:signal`, `listing:etsy:title` as a reader says them. */
const where = (field: string) => {
  const [stage, a, b] = field.split(":")
  if (stage === "listing") return `${a} listing ${b ?? ""}`.trim()
  if (stage === "artwork") return "the artwork"
  return a === undefined ? "the idea" : `the idea's ${a}`
}

/** One line per (kind, what it matched, list), with every place it was found. */
export const groupReasons = (reasons: ReadonlyArray<ReviewReason>) => {
  const groups = new Map<string, { readonly reason: ReviewReason; readonly places: Array<string> }>()
  for (const r of reasons) {
    const key = `${r.kind}\u0000${r.matched}\u0000${r.source}`
    const group = groups.get(key)
    if (group === undefined) groups.set(key, { reason: r, places: [where(r.field)] })
    else if (!group.places.includes(where(r.field))) group.places.push(where(r.field))
  }
  return [...groups.values()]
}

export const ReviewReasons = (props: { readonly reasons: ReadonlyArray<ReviewReason> | undefined }) => (
  <Show when={(props.reasons ?? []).length > 0}>
    <section class="review-reasons" aria-label="Why this waits for review" data-testid="review-reasons">
      <strong class="small">Held for review</strong>
      <ul>
        <For each={groupReasons(props.reasons ?? [])}>
          {({ reason: r, places }) => (
            <li data-kind={r.kind}>
              <span class={`tag reason-tag reason-${r.kind}`}>{KIND_LABEL[r.kind]}</span>{" "}
              <Show when={r.kind !== "artwork-check"} fallback={<>{r.found} </>}>
                “{r.found}” matches <b>{r.matched}</b>{" "}
              </Show>
              <span class="muted small">
                in {places.sort().join(", ")} · {r.source}
              </span>
            </li>
          )}
        </For>
      </ul>
    </section>
  </Show>
)
