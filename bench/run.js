#!/usr/bin/env node
/**
 * Benchmark dispatcher: `npm run bench -- <name> [flags...]` runs `bench/<name>.ts`'s
 * exported `run(args)`; with no name (or only flags) it runs every bench in this folder.
 *
 * The contract (DESIGN.md "Benchmarks: one contract"): stdout carries one JSON object per
 * line and nothing else; progress and logs go to stderr. `console.log` is pointed at
 * stderr here so a stray log line can never corrupt the JSON stream; benches write their
 * results with `emit` from `./harness.ts`.
 */
import { readdirSync, readFileSync } from "node:fs"
import { basename, dirname, join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { register } from "tsx/esm/api"

register()
console.log = console.error
console.info = console.error

const here = dirname(fileURLToPath(import.meta.url))

/** A bench is a `.ts` file here that exports `run`; helpers and topology files do not. */
const EXPORTS_RUN = /^export\s+(?:const\s+run\b|(?:async\s+)?function\s+run\b)/m
const benches = readdirSync(here)
  .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts") && EXPORTS_RUN.test(readFileSync(join(here, f), "utf8")))
  .map((f) => basename(f, ".ts"))
  .sort()

const argv = process.argv.slice(2)
const named = argv.length > 0 && !argv[0].startsWith("-")
const selected = named ? [argv[0]] : benches
const args = named ? argv.slice(1) : argv

if (named && !benches.includes(argv[0])) {
  process.stderr.write(`bench: unknown bench "${argv[0]}"; available: ${benches.join(", ") || "(none)"}\n`)
  process.stderr.write(`usage: npm run bench -- [<name>] [flags...]\n`)
  process.exit(2)
}

let exitCode = 0
for (const name of selected) {
  process.stderr.write(`bench: ${name}\n`)
  try {
    const module = await import(pathToFileURL(join(here, `${name}.ts`)).href)
    await module.run(args)
  } catch (error) {
    if (error instanceof Error && error.name === "UsageError") {
      process.stderr.write(`bench ${name}: ${error.message}\n`)
      exitCode = 2
    } else {
      process.stderr.write(`bench ${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
      exitCode = Math.max(exitCode, 1)
    }
  }
}
// Helpers may hold handles (timers, sockets) of failed runs; their exit hooks kill children.
process.exit(exitCode)
