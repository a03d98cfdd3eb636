/**
 * Ideas: the ranked list with each factor of the score as a small bar, the signal it came
 * from, its artwork and mock-ups, and the review gate (approve / reject, with the token).
 */
import { createEffect, createSignal, For, on, onCleanup, Show } from "solid-js"
import { createStore, reconcile } from "solid-js/store"
import { api, ApiError, describeApiError } from "../api.ts"
import { FACTORS, type FactorName, IDEA_STATUSES, type IdeaStatus, type IdeaSummary, REVIEW_STATUSES, type ReviewAction, type ReviewStatus } from "../../../operators/api/contract.ts"
import { ActionErrorBanner, hasToken, openSettings } from "../components/Dialogs.tsx"
import { ReviewReasons } from "../components/ReviewReasons.tsx"
import { IdeaListings } from "../components/Listings.tsx"
import { applyReview } from "../state.ts"
import { Candidates } from "../components/Candidates.tsx"
import { GenerationProgress } from "../components/GenerationProgress.tsx"
import { connectGenerations } from "../generations.ts"

const FACTOR_LABEL: Record<FactorName, string> = {
  freshness: "freshness",
  engagement: "engagement",
  novelty: "novelty",
  communityFit: "community fit",
  seasonality: "seasonality"
}

const ago = (iso: string) => {
  const ms = Date.now() - Date.parse(iso)
  if (Number.isNaN(ms)) return iso
  const m = Math.round(ms / 60_000)
  if (m < 1) return "just now"
  if (m < 60) return `${m} min ago`
  const h = Math.round(m / 60)
  return h < 48 ? `${h} h ago` : `${Math.round(h / 24)} days ago`
}

function FactorBars(props: { factors: IdeaSummary["factors"] }) {
  return (
    <dl class="factors" aria-label="Score breakdown">
      <For each={FACTORS}>
        {(f) => {
          const v = () => props.factors[f]
          return (
            <div class="factor">
              <dt>{FACTOR_LABEL[f]}</dt>
              <dd>
                <span class="bar" role="meter" aria-valuemin={0} aria-valuemax={1} aria-valuenow={v()} aria-label={`${FACTOR_LABEL[f]} ${v().toFixed(2)}`}>
                  <span class="bar-fill" style={{ width: `${Math.max(0, Math.min(1, v())) * 100}%` }} />
                </span>
                <span class="factor-value">{v().toFixed(2)}</span>
              </dd>
            </div>
          )
        }}
      </For>
    </dl>
  )
}

export function IdeasView() {
  connectGenerations()
  const [status, setStatus] = createSignal<IdeaStatus | "">("")
  const [review, setReview] = createSignal<ReviewStatus | "">("")
  const [limit, setLimit] = createSignal(50)
  const [ideas, setIdeas] = createStore<{ list: Array<IdeaSummary> }>({ list: [] })
  const [loaded, setLoaded] = createSignal(false)
  const [error, setError] = createSignal<{ text: string; missing: boolean } | null>(null)
  const [actionError, setActionError] = createSignal<{ id: string; text: string; unauthorized: boolean } | null>(null)
  const [busy, setBusy] = createSignal<string | null>(null)
  const [preview, setPreview] = createSignal<{ url: string; alt: string } | null>(null)

  const load = async () => {
    try {
      const r = await api.ideas({ ...(status() ? { status: status() as IdeaStatus } : {}), ...(review() ? { review: review() as ReviewStatus } : {}), limit: limit() })
      setIdeas("list", reconcile([...r.ideas], { key: "ideaId" }))
      setError(null)
    } catch (e) {
      setError({ text: describeApiError(e), missing: e instanceof ApiError && e.notFound })
    } finally {
      setLoaded(true)
    }
  }
  createEffect(on([status, review, limit], () => void load()))
  const timer = setInterval(() => void load(), 10_000)
  onCleanup(() => clearInterval(timer))

  const decide = async (idea: IdeaSummary, action: ReviewAction) => {
    setBusy(idea.ideaId)
    setActionError(null)
    try {
      const r = await api.review(idea.ideaId, action)
      setIdeas("list", (list) => [...applyReview(list, r)])
    } catch (e) {
      setActionError({ id: idea.ideaId, text: describeApiError(e), unauthorized: e instanceof ApiError && e.unauthorized })
    } finally {
      setBusy(null)
    }
  }

  let previewDialog!: HTMLDialogElement
  createEffect(() => {
    if (preview() && !previewDialog.open) previewDialog.showModal()
  })

  return (
    <div class="ideas-view">
      <div class="toolbar" role="toolbar" aria-label="Filter ideas">
        <label class="inline">
          status
          <select aria-label="Status filter" value={status()} onChange={(e) => setStatus(e.currentTarget.value as IdeaStatus | "")}>
            <option value="">any</option>
            <For each={IDEA_STATUSES}>{(s) => <option value={s}>{s}</option>}</For>
          </select>
        </label>
        <label class="inline">
          review
          <select aria-label="Review filter" value={review()} onChange={(e) => setReview(e.currentTarget.value as ReviewStatus | "")}>
            <option value="">any</option>
            <For each={REVIEW_STATUSES}>{(s) => <option value={s}>{s}</option>}</For>
          </select>
        </label>
        <label class="inline">
          show
          <select aria-label="Ideas to show" value={limit()} onChange={(e) => setLimit(Number(e.currentTarget.value))}>
            <For each={[20, 50, 100, 200]}>{(n) => <option value={n}>{n}</option>}</For>
          </select>
        </label>
        <button class="btn btn-small" onClick={() => void load()}>
          Refresh
        </button>
        <span class="spacer" />
        <Show when={!hasToken()}>
          <button class="btn btn-small btn-ghost" onClick={openSettings} title="Approve and reject need the API token">
            Set token to review…
          </button>
        </Show>
      </div>
      <Show when={error()}>
        {(err) => (
          <div class={err().missing ? "banner banner-info" : "banner banner-error"} role="alert">
            {err().missing ? "This server has no ideas API yet (GET /api/ideas → 404): ideas appear here once the store routes are deployed." : err().text}
          </div>
        )}
      </Show>
      <Show when={loaded() && !error() && ideas.list.length === 0}>
        <p class="muted pad">No ideas match these filters.</p>
      </Show>
      <ol class="idea-list" aria-label="Ideas, best score first">
        <For each={ideas.list}>
          {(idea, i) => (
            <li class={`idea review-${idea.reviewStatus}`} data-idea={idea.ideaId}>
              <div class="idea-rank" aria-hidden="true">
                #{i() + 1}
              </div>
              <div class="idea-main">
                <header class="idea-head">
                  <h3 class="idea-title">{idea.title}</h3>
                  <span class="score" title="score">
                    {idea.score.toFixed(2)}
                  </span>
                </header>
                <p class="key-phrase">“{idea.keyPhrase}”</p>
                <div class="idea-tags">
                  <span class={`tag status-${idea.status}`}>{idea.status}</span>
                  <span class={`tag review-tag review-${idea.reviewStatus}`} data-testid="review-status">
                    {idea.reviewStatus}
                  </span>
                  <span class="muted small">created {ago(idea.createdAt)}</span>
                </div>
                <ReviewReasons reasons={idea.reviewReasons} />
                <div class="idea-body">
                  <FactorBars factors={idea.factors} />
                  <div class="signal">
                    <div class="signal-head">
                      <span class="tag">{idea.signal.source}</span>
                      <span class="muted small">{ago(idea.signal.capturedAt)}</span>
                      <Show when={idea.signal.url}>
                        <a href={idea.signal.url} target="_blank" rel="noopener noreferrer" class="small">
                          open ↗
                        </a>
                      </Show>
                    </div>
                    <p class="signal-content">{idea.signal.content}</p>
                  </div>
                </div>
                <Show when={idea.printFileUrl || idea.mockups.length > 0}>
                  <div class="thumbs">
                    <Show when={idea.printFileUrl}>
                      <button class="thumb" onClick={() => setPreview({ url: idea.printFileUrl!, alt: `print file of ${idea.title}` })}>
                        <img src={idea.printFileUrl} alt={`print file of ${idea.title}`} loading="lazy" />
                        <span>print file</span>
                      </button>
                    </Show>
                    <For each={idea.mockups}>
                      {(m) => (
                        <button class="thumb" onClick={() => setPreview({ url: m.url, alt: `${m.variant} mock-up, ${m.colorway || "default"}` })}>
                          <img src={m.url} alt={`${m.variant} mock-up, ${m.colorway || "default colour"}`} loading="lazy" />
                          <span>
                            {m.variant}
                            {m.colorway ? ` · ${m.colorway}` : ""}
                          </span>
                        </button>
                      )}
                    </For>
                  </div>
                </Show>
                <GenerationProgress ideaId={idea.ideaId} />
                <Candidates ideaId={idea.ideaId} onPicked={() => void load()} />
                <IdeaListings ideaId={idea.ideaId} version={`${idea.status}/${idea.reviewStatus}`} />
                <Show when={actionError()?.id === idea.ideaId}>
                  <ActionErrorBanner error={actionError()!} testId="review-error" />
                </Show>
              </div>
              <div class="idea-actions">
                <button
                  class="btn btn-approve"
                  aria-pressed={idea.reviewStatus === "approved"}
                  disabled={busy() === idea.ideaId || idea.reviewStatus === "approved"}
                  onClick={() => void decide(idea, "approve")}
                >
                  ✓ Approve
                </button>
                <button
                  class="btn btn-reject"
                  aria-pressed={idea.reviewStatus === "rejected"}
                  disabled={busy() === idea.ideaId || idea.reviewStatus === "rejected"}
                  onClick={() => void decide(idea, "reject")}
                >
                  ✕ Reject
                </button>
              </div>
            </li>
          )}
        </For>
      </ol>
      <dialog ref={previewDialog} class="dialog preview" aria-label={preview()?.alt ?? "Preview"} onClose={() => setPreview(null)} onClick={(e) => e.target === previewDialog && previewDialog.close()}>
        <Show when={preview()}>
          {(p) => (
            <figure>
              <img src={p().url} alt={p().alt} />
              <figcaption>
                {p().alt}{" "}
                <a href={p().url} target="_blank" rel="noopener noreferrer">
                  open full size ↗
                </a>
              </figcaption>
            </figure>
          )}
        </Show>
        <form method="dialog">
          <button class="btn">Close</button>
        </form>
      </dialog>
    </div>
  )
}
