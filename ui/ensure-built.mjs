#!/usr/bin/env node
/**
 * Builds the UI when `ui/dist` is missing or older than its sources, so `npm ci &&
 * npm start` serves a current UI without a separate step (run by `prestart`, the
 * browser tests and the UI bench). `--force` always builds. Exits non-zero only when
 * a needed build fails; with vite absent (a production install) it warns and goes on.
 */
import { spawnSync } from "node:child_process"
import { existsSync, readdirSync, statSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const ui = dirname(fileURLToPath(import.meta.url))
const root = join(ui, "..")
const built = join(ui, "dist", "index.html")

/** Newest mtime under the given paths (files or folders). */
const newest = (paths) => {
  let latest = 0
  const visit = (path) => {
    if (!existsSync(path)) return
    const stat = statSync(path)
    if (stat.isDirectory()) for (const entry of readdirSync(path)) visit(join(path, entry))
    else latest = Math.max(latest, stat.mtimeMs)
  }
  paths.forEach(visit)
  return latest
}

export const uiIsStale = () => {
  if (!existsSync(built)) return true
  // Runtime modules are imported for types only (erased at build), so they are not sources here.
  const sources = [join(ui, "src"), join(ui, "index.html"), join(ui, "vite.config.ts"), join(root, "package-lock.json")]
  return newest(sources) > statSync(built).mtimeMs
}

export const buildUi = () => {
  const vite = join(root, "node_modules", "vite", "bin", "vite.js")
  if (!existsSync(vite)) {
    process.stderr.write("desainz: vite is not installed (npm ci without dev dependencies?); the UI is not rebuilt\n")
    return existsSync(built)
  }
  process.stderr.write("desainz: building the UI (ui/dist)...\n")
  // stdout of the build goes to stderr: callers (benches) keep stdout for their own output.
  const result = spawnSync(process.execPath, [vite, "build", "--config", join(ui, "vite.config.ts"), "--logLevel", "warn"], {
    cwd: root,
    stdio: ["ignore", 2, 2]
  })
  return result.status === 0
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const force = process.argv.includes("--force")
  if (force || uiIsStale()) {
    if (!buildUi()) {
      process.stderr.write("desainz: the UI build failed\n")
      process.exit(1)
    }
  }
}
