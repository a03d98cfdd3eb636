/**
 * Light and dark themes: follow `prefers-color-scheme` until the user picks one; the
 * pick is kept in localStorage. `resolved()` is what is on screen (for canvas charts,
 * which cannot read CSS variables by themselves).
 */
import { createSignal } from "solid-js"

export type ThemePreference = "system" | "light" | "dark"
const KEY = "desainz.theme"

const media = typeof matchMedia === "function" ? matchMedia("(prefers-color-scheme: dark)") : undefined
const stored = (): ThemePreference => {
  try {
    const v = localStorage.getItem(KEY)
    return v === "light" || v === "dark" ? v : "system"
  } catch {
    return "system"
  }
}

const [preference, setPreferenceSignal] = createSignal<ThemePreference>(stored())
const [systemDark, setSystemDark] = createSignal(media?.matches ?? false)
media?.addEventListener("change", (e) => setSystemDark(e.matches))

export { preference }
export const resolved = (): "light" | "dark" => {
  const p = preference()
  return p === "system" ? (systemDark() ? "dark" : "light") : p
}

export const setPreference = (p: ThemePreference) => {
  setPreferenceSignal(p)
  try {
    if (p === "system") localStorage.removeItem(KEY)
    else localStorage.setItem(KEY, p)
  } catch {
    // Storage disabled: the choice lasts as long as the page.
  }
}

/** The toggle in the header: flips what is on screen, then stays on that choice. */
export const toggleTheme = () => setPreference(resolved() === "dark" ? "light" : "dark")

/** Chart colors per theme (canvas needs concrete values). */
export const chartColors = () =>
  resolved() === "dark"
    ? { rate: "#60a5fa", rateFill: "rgba(96,165,250,0.18)", errors: "#f87171", axis: "#94a3b8", grid: "rgba(148,163,184,0.15)" }
    : { rate: "#2563eb", rateFill: "rgba(37,99,235,0.14)", errors: "#dc2626", axis: "#475569", grid: "rgba(71,85,105,0.15)" }
