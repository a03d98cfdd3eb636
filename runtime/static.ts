/**
 * Serves the built UI (`ui/dist`) from the API's own hono server, so one port carries
 * both. Mounted after the API routes (`HttpOptions.mount`): API paths never reach it.
 *
 * - Known files are served with their content type; anything else that is not an API
 *   path gets `index.html` (the SPA routes client-side), so a reload on `#/dlq/x` or a
 *   deep link works.
 * - Paths are resolved and must stay inside the root: `..`, encoded `%2e%2e`, NUL and
 *   backslashes are refused with 404 rather than normalised into something else.
 * - Vite's content-hashed files under `assets/` are immutable and cached for a year;
 *   `index.html` is `no-cache`, so a rebuilt UI is picked up on the next load.
 */
import { createReadStream, existsSync, statSync } from "node:fs"
import { dirname, extname, join, resolve, sep } from "node:path"
import { Readable } from "node:stream"
import { fileURLToPath } from "node:url"
import type { Context, Hono } from "hono"

/** Where `npm run build:ui` writes the UI. */
export const UI_DIST = resolve(dirname(fileURLToPath(import.meta.url)), "..", "ui", "dist")

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".webp": "image/webp",
  ".gif": "image/gif",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
  ".woff": "font/woff",
  ".woff2": "font/woff2",
  ".wasm": "application/wasm"
}

/** Paths owned by the API: a miss there is a JSON 404 from the API, never index.html. */
const API_PATH = /^\/(api|health|metrics)(\/|$)/

const IMMUTABLE = "public, max-age=31536000, immutable"

export interface StaticOptions {
  /** Folder to serve; default `ui/dist` of this checkout. */
  readonly root?: string
}

/** Maps a URL path to a file under `root`, or undefined when it is not a safe, existing file. */
export const resolveStaticPath = (root: string, urlPath: string): string | undefined => {
  let decoded: string
  try {
    decoded = decodeURIComponent(urlPath)
  } catch {
    return undefined
  }
  if (decoded.includes("\0") || decoded.includes("\\")) return undefined
  if (decoded.split("/").some((segment) => segment === "..")) return undefined
  const base = resolve(root)
  const file = resolve(base, `.${decoded}`)
  if (file !== base && !file.startsWith(base + sep)) return undefined
  try {
    return statSync(file).isFile() ? file : undefined
  } catch {
    return undefined
  }
}

const send = (c: Context, file: string, cacheControl: string) => {
  const stat = statSync(file)
  const headers = {
    "content-type": CONTENT_TYPES[extname(file).toLowerCase()] ?? "application/octet-stream",
    "content-length": String(stat.size),
    "cache-control": cacheControl,
    "last-modified": stat.mtime.toUTCString(),
    "x-content-type-options": "nosniff"
  }
  if (c.req.method === "HEAD") return c.body(null, 200, headers)
  return c.body(Readable.toWeb(createReadStream(file)) as ReadableStream, 200, headers)
}

/** Adds the UI routes to `app`; call it from `HttpOptions.mount`. */
export const mountStatic = (options: StaticOptions = {}) => (app: Hono) => {
  const root = resolve(options.root ?? UI_DIST)
  const index = join(root, "index.html")
  app.on(["GET", "HEAD"], "*", async (c, next) => {
    const path = c.req.path
    if (API_PATH.test(path)) return next()
    const file = path === "/" ? undefined : resolveStaticPath(root, path)
    if (file !== undefined) {
      const hashed = file.startsWith(join(root, "assets") + sep)
      return send(c, file, hashed ? IMMUTABLE : "no-cache")
    }
    // A missing asset is a 404 (a stale page asking for an old hash must not get HTML).
    if (/\.[a-z0-9]+$/i.test(path) && path !== "/index.html") return next()
    if (!existsSync(index)) {
      return c.text("The UI is not built: run `npm run build:ui` (npm start does it for you).", 503)
    }
    return send(c, index, "no-cache")
  })
}
