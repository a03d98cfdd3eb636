#!/usr/bin/env node
// Runs the TypeScript sources directly (tsx), so `topology.ts` edits need no build step.
// The production image runs the compiled build instead (`npm run build`, dist/runtime/main.js).
import { register } from "tsx/esm/api"

register()
const { runCli } = await import("../runtime/cli.ts")
await runCli(process.argv.slice(2))
