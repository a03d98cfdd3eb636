/**
 * Modal dialogs on the native <dialog> element (focus trap, Escape and an inert page come
 * with it): a confirm step for destructive actions, and the settings (API token, theme).
 */
import { createEffect, createSignal, For, type JSX, Show } from "solid-js"
import { tokenStore } from "../api.ts"
import { preference, setPreference, type ThemePreference } from "../theme.ts"

// ---------------------------------------------------------------------------------------
// Confirm

interface ConfirmRequest {
  readonly title: string
  readonly body: JSX.Element
  readonly confirmLabel: string
  readonly danger?: boolean
  readonly resolve: (ok: boolean) => void
}

const [request, setRequest] = createSignal<ConfirmRequest | null>(null)

/** Asks before doing something that cannot be undone; resolves true on confirm. */
export const confirmAction = (r: Omit<ConfirmRequest, "resolve">): Promise<boolean> =>
  new Promise((resolve) => {
    request()?.resolve(false)
    setRequest({ ...r, resolve })
  })

export function ConfirmDialog() {
  let dialog!: HTMLDialogElement
  const finish = (ok: boolean) => {
    const r = request()
    if (r === null) return
    setRequest(null)
    if (dialog.open) dialog.close()
    r.resolve(ok)
  }
  createEffect(() => {
    if (request() !== null && !dialog.open) dialog.showModal()
  })
  return (
    <dialog ref={dialog} class="dialog" aria-labelledby="confirm-title" onClose={() => finish(false)}>
      <Show when={request()}>
        {(r) => (
          <form method="dialog" onSubmit={(e) => (e.preventDefault(), finish(true))}>
            <h2 id="confirm-title">{r().title}</h2>
            <div class="dialog-body">{r().body}</div>
            <div class="dialog-actions">
              <span class="spacer" />
              {/* A destructive action starts on Cancel, so a stray Enter does not confirm it. */}
              <button type="button" class="btn" onClick={() => finish(false)} autofocus={r().danger === true}>
                Cancel
              </button>
              <button type="submit" class={r().danger ? "btn btn-danger" : "btn btn-primary"} autofocus={r().danger !== true}>
                {r().confirmLabel}
              </button>
            </div>
          </form>
        )}
      </Show>
    </dialog>
  )
}

// ---------------------------------------------------------------------------------------
// Settings

const [settingsOpen, setSettingsOpen] = createSignal(false)
const [hasToken, setHasToken] = createSignal(tokenStore.get() !== "")
export { hasToken }
export const openSettings = () => setSettingsOpen(true)

/** A failed mutating call; when it was refused for want of a token, the way to the settings that take one. */
export function ActionErrorBanner(props: { readonly error: { readonly text: string; readonly unauthorized: boolean }; readonly testId: string }) {
  return (
    <div class="banner banner-error" role="alert" data-testid={props.testId}>
      <span>{props.error.text}</span>
      <Show when={props.error.unauthorized}>
        <button class="btn btn-small" onClick={openSettings}>
          Open settings
        </button>
      </Show>
    </div>
  )
}

export function SettingsDialog() {
  let dialog!: HTMLDialogElement
  let input!: HTMLInputElement
  createEffect(() => {
    if (settingsOpen() && !dialog.open) {
      input.value = tokenStore.get()
      dialog.showModal()
      input.focus()
    }
  })
  const close = () => {
    setSettingsOpen(false)
    if (dialog.open) dialog.close()
  }
  const save = (token: string) => {
    tokenStore.set(token.trim())
    setHasToken(token.trim() !== "")
  }
  return (
    <dialog ref={dialog} class="dialog" aria-labelledby="settings-title" onClose={() => setSettingsOpen(false)}>
      <form
        method="dialog"
        onSubmit={(e) => {
          e.preventDefault()
          save(input.value)
          close()
        }}
      >
        <h2 id="settings-title">Settings</h2>
        <div class="dialog-body">
          <label class="field">
            <span>API token</span>
            <input ref={input} name="token" type="password" autocomplete="off" spellcheck={false} placeholder="the server's DESAINZ_TOKEN" />
            <small>Needed to requeue or drop dead letters and to approve or reject ideas. Kept in this tab's session storage only.</small>
          </label>
          <fieldset class="field">
            <legend>Theme</legend>
            <div class="segmented">
              <For each={["system", "light", "dark"] as ReadonlyArray<ThemePreference>}>
                {(p) => (
                  <label>
                    <input type="radio" name="theme" value={p} checked={preference() === p} onChange={() => setPreference(p)} />
                    <span>{p[0]!.toUpperCase() + p.slice(1)}</span>
                  </label>
                )}
              </For>
            </div>
          </fieldset>
        </div>
        <div class="dialog-actions">
          <button
            type="button"
            class="btn"
            onClick={() => {
              input.value = ""
              save("")
            }}
          >
            Clear token
          </button>
          <span class="spacer" />
          <button type="button" class="btn" onClick={close}>
            Cancel
          </button>
          <button type="submit" class="btn btn-primary">
            Save
          </button>
        </div>
      </form>
    </dialog>
  )
}
