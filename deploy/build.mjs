#!/usr/bin/env node
/**
 * `npm run build`: the production build in dist/, run by node alone (no tsx).
 * - tsc (tsconfig.build.json) compiles topology.ts, runtime/ and operators/, rewriting
 *   the `.ts` import specifiers to `.js`;
 * - vite builds the UI;
 * - the files the code reads beside itself (`new URL("./lua/x.lua", import.meta.url)`,
 *   `../sql/`, `../ui/dist`) are copied to the same places under dist/, so the compiled
 *   modules find them as the sources do.
 * Entry point: `node dist/runtime/main.js <command>`.
 */
import { spawnSync } from "node:child_process"
import { cpSync, readdirSync, rmSync } from "node:fs"
import { dirname, join, relative } from "node:path"
import { fileURLToPath } from "node:url"
import { buildUi } from "../ui/ensure-built.mjs"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const dist = join(root, "dist")

const fail = (message) => {
  process.stderr.write(`build: ${message}\n`)
  process.exit(1)
}

rmSync(dist, { recursive: true, force: true })

const tsc = spawnSync(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", join(root, "tsconfig.build.json")], {
  cwd: root,
  stdio: "inherit"
})
if (tsc.status !== 0) fail("tsc failed")

if (!buildUi()) fail("the UI build failed")

/** Every file under `folder` that tsc does not emit (lua scripts and the like). */
const copyAssets = (folder) => {
  for (const entry of readdirSync(join(root, folder), { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || entry.name.endsWith(".ts")) continue
    const from = join(entry.parentPath, entry.name)
    cpSync(from, join(dist, relative(root, from)))
  }
}
copyAssets("runtime")
copyAssets("operators")
cpSync(join(root, "sql"), join(dist, "sql"), { recursive: true })
cpSync(join(root, "ui", "dist"), join(dist, "ui", "dist"), { recursive: true })
process.stderr.write("build: dist/ ready (node dist/runtime/main.js <command>)\n")
