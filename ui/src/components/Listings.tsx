/**
 * Where an idea is listed: one chip per marketplace with its status, a link to the listing (the
 * marketplace's page, or the exported bundle's file) and, for a failure, the marketplace's own
 * message. Re-read when `version` changes (the idea's status moving on).
 */
import { createResource, For, Show } from "solid-js"
import type { IdeaListing } from "../../../operators/api/contract.ts"
import { api } from "../api.ts"

const label = (l: IdeaListing) => (l.remoteState && l.remoteState !== l.status ? `${l.status} · ${l.remoteState}` : l.status)

export const IdeaListings = (props: { readonly ideaId: string; readonly version: string }) => {
  const [listings] = createResource(
    () => `${props.ideaId}|${props.version}`,
    () => api.listings(props.ideaId).then((r) => r.listings).catch(() => [] as ReadonlyArray<IdeaListing>)
  )
  return (
    <Show when={(listings() ?? []).length > 0}>
      <ul class="listings" data-testid="idea-listings">
        <For each={listings()}>
          {(l) => (
            <li class={`listing listing-${l.status}`} data-marketplace={l.marketplace}>
              <span class="tag">{l.marketplace}</span>
              <Show when={l.url} fallback={<span class="small">{label(l)}</span>}>
                <a href={l.url!} target="_blank" rel="noopener noreferrer" class="small">
                  {label(l)}
                  {l.externalId && l.externalId.length <= 24 ? ` #${l.externalId}` : ""} ↗
                </a>
              </Show>
              <Show when={l.status === "failed" && l.reason}>
                <span class="small error-text" title={l.reason!}>
                  {l.reason}
                </span>
              </Show>
            </li>
          )}
        </For>
      </ul>
    </Show>
  )
}
