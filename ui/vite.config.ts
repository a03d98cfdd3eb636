/**
 * The UI build: `npm run build:ui` writes `ui/dist`, which `desainz start` serves on the
 * API's port. `npm run dev:ui` serves it with hot reload and proxies the API to a
 * running `desainz start` (DESAINZ_URL, default http://127.0.0.1:8080).
 */
import { dirname } from "node:path"
import { fileURLToPath } from "node:url"
import { defineConfig } from "vite"
import solid from "vite-plugin-solid"

const here = dirname(fileURLToPath(import.meta.url))
const api = process.env["DESAINZ_URL"] ?? "http://127.0.0.1:8080"

export default defineConfig({
  root: here,
  base: "/",
  plugins: [solid()],
  // No `public/` copy step: everything the page needs is imported, so it gets a hash.
  publicDir: false,
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
    chunkSizeWarningLimit: 2_000,
    reportCompressedSize: false
  },
  server: {
    proxy: {
      "/api": { target: api, changeOrigin: false },
      "/health": api,
      "/metrics": api
    }
  }
})
