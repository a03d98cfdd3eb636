/**
 * Headless Chromium for the UI's browser tests and bench: the system's Chromium
 * (Debian's /usr/bin/chromium, or CHROMIUM_PATH), never a downloaded one, with a fresh
 * profile per launch that is removed on close.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type BrowserContext, chromium } from "playwright-core"

export const chromiumPath = (): string => {
  const path = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium"
  if (!existsSync(path)) {
    throw new Error(`no Chromium at ${path}: install Debian's (apt-get install -y chromium) or set CHROMIUM_PATH`)
  }
  return path
}

export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage"
]

export interface Browser {
  readonly context: BrowserContext
  readonly close: () => Promise<void>
}

/** A persistent context on a throwaway profile (the only way to pick the user-data dir). */
export const launchChromium = async (options: { viewport?: { width: number; height: number }; colorScheme?: "light" | "dark"; args?: ReadonlyArray<string> } = {}): Promise<Browser> => {
  const profile = mkdtempSync(join(tmpdir(), "desainz-chromium-"))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath(),
    headless: true,
    args: [...CHROMIUM_ARGS, ...(options.args ?? [])],
    viewport: options.viewport ?? { width: 1440, height: 900 },
    colorScheme: options.colorScheme ?? "light",
    deviceScaleFactor: 1
  })
  return {
    context,
    close: async () => {
      await context.close().catch(() => undefined)
      rmSync(profile, { recursive: true, force: true })
    }
  }
}
