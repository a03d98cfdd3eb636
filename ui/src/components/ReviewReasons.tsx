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
  tragedy: "tragedy"
}

/** `idea`, `idea:signal`, `listing:etsy:title` as a reader says them. */
const where = (field: string) => {
  const [stage, a, b] = field.split(":")
  if (stage === "listing") return `${a} listing ${b ?? ""}`.trim()
  return a === undefined ? "the idea" : `the idea's ${a}`
}

export const ReviewReasons = (props: { readonly reasons: ReadonlyArray<ReviewReason> | undefined }) => (
  <Show when={(props.reasons ?? []).length > 0}>
    <section class="review-reasons" aria-label="Why this waits for review" data-testid="review-reasons">
      <strong class="small">Held for review</strong>
      <ul>
        <For each={props.reasons}>
          {(r) => (
            <li data-kind={r.kind}>
              <span class={`tag reason-tag reason-${r.kind}`}>{KIND_LABEL[r.kind]}</span> “{r.found}” matches <b>{r.matched}</b>{" "}
              <span class="muted small">
                in {where(r.field)} · {r.source}
              </span>
            </li>
          )}
        </For>
      </ul>
    </section>
  </Show>
)
