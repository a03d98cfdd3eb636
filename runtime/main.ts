/**
 * Entry point of the compiled build (`npm run build`, then `node dist/runtime/main.js
 * <command>`; the production image runs it): the CLI, with the topology compiled beside
 * it as the default `--topology`. Development runs bin/desainz.js (tsx, the sources).
 */
import { fileURLToPath } from "node:url"
import { runCli } from "./cli.ts"

await runCli(process.argv.slice(2), fileURLToPath(new URL("../topology.js", import.meta.url)))
