/**
 * Serves the built UI (`ui/dist`) from the API's own hono server, so one port carries
 * both, with `@hono/node-server`'s `serveStatic`. Mounted after the API routes
 * (`HttpOptions.mount`): API paths never reach it.
 *
 * - Known files are served with their content type; anything else that is not an API
 *   path gets `index.html` (the SPA routes client-side), so a reload on `#/dlq/x` or a
 *   deep link works.
 * - `serveStatic` refuses `..` segments, backslashes and any percent-encoding in the path
 *   (404) rather than normalising them into something else.
 * - Vite's content-hashed files under `assets/` are immutable and cached for a year;
 *   `index.html` is `no-cache`, so a rebuilt UI is picked up on the next load.
 */
import { existsSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { serveStatic } from "@hono/node-server/serve-static"
import type { Hono } from "hono"

/** Where `npm run build:ui` writes the UI. */
export const UI_DIST = resolve(dirname(fileURLToPath(import.meta.url)), "..", "ui", "dist")

/** Paths owned by the API: a miss there is a JSON 404 from the API, never index.html. */
const API_PATH = /^\/(api|health|metrics)(\/|$)/

const IMMUTABLE = "public, max-age=31536000, immutable"

export interface StaticOptions {
  /** Folder to serve; default `ui/dist` of this checkout. */
  readonly root?: string
}

/** Adds the UI routes to `app`; call it from `HttpOptions.mount`. */
export const mountStatic = (options: StaticOptions = {}) => (app: Hono) => {
  const root = resolve(options.root ?? UI_DIST)
  const index = join(root, "index.html")
  // serveStatic documents its root as relative to the working directory.
  const relativeRoot = relative(process.cwd(), root) || "."
  // Set on the response serveStatic returns: headers set in its `onFound` miss a response it has already built.
  const cached = (response: Response | void, cacheControl: string) => {
    if (response === undefined) return undefined
    response.headers.set("cache-control", cacheControl)
    response.headers.set("x-content-type-options", "nosniff")
    return response
  }
  const files = serveStatic({ root: relativeRoot })
  const spa = serveStatic({ path: relative(process.cwd(), index) })
  app.on(["GET", "HEAD"], "*", async (c, next) => {
    const path = c.req.path
    if (API_PATH.test(path)) return next()
    // serveStatic calls the `next` it is given when it has no such file.
    const served = cached(await files(c, async () => {}), path.startsWith("/assets/") ? IMMUTABLE : "no-cache")
    if (served !== undefined) return served
    // A missing asset is a 404 (a stale page asking for an old hash must not get HTML).
    if (/\.[a-z0-9]+$/i.test(path) && path !== "/index.html") return next()
    if (!existsSync(index)) {
      return c.text("The UI is not built: run `npm run build:ui` (npm start does it for you).", 503)
    }
    return cached(await spa(c, async () => {}), "no-cache") ?? next()
  })
}
