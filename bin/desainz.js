#!/usr/bin/env node
// Runs the TypeScript sources directly (tsx), so `topology.ts` edits need no build step.
import { register } from "tsx/esm/api"

register()
const { runCli } = await import("../runtime/cli.ts")
await runCli(process.argv.slice(2))
