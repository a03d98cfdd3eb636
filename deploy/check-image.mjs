#!/usr/bin/env node
/**
 * Runs the steps of deploy/Dockerfile without a Docker engine, in a clean temporary
 * folder, and checks that the result serves: `node deploy/check-image.mjs` (CI runs it).
 *
 * The Dockerfile itself is read, so the two cannot drift apart:
 * - each stage gets its own folder standing in for its WORKDIR (`/app`);
 * - `COPY <context paths>` copies from the build context: the working tree's files that
 *   git does not ignore, minus .dockerignore;
 * - `RUN` runs with `sh -c` in the stage folder, with the stage's `ENV`;
 * - `COPY --from=<stage>` takes the paths from that stage's folder (moved, not copied);
 * - then `ENTRYPOINT` + `CMD` run from the final stage's folder, and the `HEALTHCHECK`
 *   command is run until it passes (bounded), and `/health/live`, `/metrics` and the UI
 *   must answer; the generate worker must have rendered a design (sharp and the fonts
 *   work from the pruned install); SIGTERM must end the process with status 0.
 * What cannot be reproduced without an image is reported and skipped: `RUN` steps of the
 * final stage (they prepare the image's filesystem for its user) and `USER`.
 * `--keep` leaves the folder for inspection.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process"
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const keep = process.argv.includes("--keep")
const READY_WITHIN_MS = 180_000
const DESIGN_WITHIN_MS = 300_000
const EXIT_WITHIN_MS = 60_000

const log = (message) => process.stderr.write(`check-image: ${message}\n`)
const work = mkdtempSync(join(tmpdir(), "desainz-image-"))
const fail = (message) => {
  log(`FAILED: ${message}`)
  if (keep) log(`kept ${work}`)
  else rmSync(work, { recursive: true, force: true })
  process.exit(1)
}

/** Dockerfile instructions: continuation lines joined, comments dropped. */
const instructions = (text) => {
  const joined = text.replace(/\\\r?\n/g, " ")
  return joined
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const [keyword, ...rest] = line.split(/\s+/)
      return { keyword: keyword.toUpperCase(), args: line.slice(keyword.length).trim(), words: rest }
    })
}

/** Exec form (`["node", "x"]`) or shell form of ENTRYPOINT / CMD / HEALTHCHECK CMD. */
const commandOf = (args) => (args.startsWith("[") ? JSON.parse(args) : ["sh", "-c", args])

/** `ENV A=1 B=2` (the only ENV form the Dockerfile uses; values without spaces). */
const envOf = (args) => Object.fromEntries(args.split(/\s+/).map((pair) => pair.split(/=(.*)/s).slice(0, 2)))

const dockerignore = existsSync(join(root, ".dockerignore"))
  ? readFileSync(join(root, ".dockerignore"), "utf8")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.startsWith("#"))
  : []
const ignored = (path) => dockerignore.some((pattern) => (pattern.startsWith("*.") ? path.endsWith(pattern.slice(1)) : path === pattern || path.startsWith(`${pattern}/`)))

const freePort = () =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const context = join(work, "context")
log(`working in ${work}`)

// The build context: the working tree's files that git does not ignore (tracked or new).
const files = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: root, encoding: "utf8" })
for (const path of files.split("\0").filter(Boolean)) {
  if (ignored(path) || !existsSync(join(root, path))) continue
  mkdirSync(dirname(join(context, path)), { recursive: true })
  cpSync(join(root, path), join(context, path))
}

const stages = new Map()
let stage
const skipped = []
const steps = instructions(readFileSync(join(root, "deploy", "Dockerfile"), "utf8"))
const stageCount = steps.filter((s) => s.keyword === "FROM").length
for (const step of steps) {
  switch (step.keyword) {
    case "FROM": {
      const name = step.words[2] ?? String(stages.size)
      stage = { name, dir: join(work, `stage-${name}`), workdir: "/", env: {}, entrypoint: [], cmd: [], healthcheck: undefined, final: stages.size === stageCount - 1 }
      mkdirSync(stage.dir, { recursive: true })
      stages.set(name, stage)
      break
    }
    case "WORKDIR":
      stage.workdir = step.args
      break
    case "ENV":
      Object.assign(stage.env, envOf(step.args))
      break
    case "COPY": {
      const from = step.words.find((w) => w.startsWith("--from="))?.slice("--from=".length)
      const paths = step.words.filter((w) => !w.startsWith("--"))
      const dest = paths.pop()
      for (const src of paths) {
        if (from !== undefined) {
          const source = stages.get(from)
          if (source === undefined) fail(`COPY --from=${from}: no such stage`)
          const relative = src.startsWith(`${source.workdir}/`) ? src.slice(source.workdir.length + 1) : src
          const target = dest.endsWith("/") || dest === "." ? join(stage.dir, dest, relative) : join(stage.dir, dest)
          mkdirSync(dirname(target), { recursive: true })
          renameSync(join(source.dir, relative), target)
        } else {
          const target = dest.endsWith("/") || dest === "." ? join(stage.dir, dest, src === "." ? "" : src) : join(stage.dir, dest)
          cpSync(join(context, src), target, { recursive: true })
        }
      }
      log(`COPY ${step.args}`)
      break
    }
    case "RUN": {
      if (stage.final) {
        skipped.push(`RUN ${step.args}`)
        break
      }
      log(`RUN ${step.args}`)
      const started = Date.now()
      const result = spawnSync("sh", ["-c", step.args], { cwd: stage.dir, env: { ...process.env, ...stage.env }, stdio: ["ignore", 2, 2] })
      if (result.status !== 0) fail(`RUN ${step.args} exited with ${result.status}`)
      log(`  done in ${Math.round((Date.now() - started) / 1000)} s`)
      break
    }
    case "ENTRYPOINT":
      stage.entrypoint = commandOf(step.args)
      break
    case "CMD":
      stage.cmd = commandOf(step.args)
      break
    case "HEALTHCHECK":
      stage.healthcheck = commandOf(step.args.slice(step.args.indexOf("CMD") + 3).trim())
      break
    case "USER":
      skipped.push(`USER ${step.args}`)
      break
    case "EXPOSE":
      break
    default:
      fail(`unsupported Dockerfile instruction ${step.keyword}: teach deploy/check-image.mjs`)
  }
}

const image = stage
if (image.healthcheck === undefined) fail("the final stage has no HEALTHCHECK")
// No TypeScript runner and no UI toolchain in production (typescript itself is a peer
// dependency of @qdrant/js-client-rest, so it stays).
for (const devOnly of ["tsx", "esbuild", "vite", "solid-js"]) {
  if (existsSync(join(image.dir, "node_modules", devOnly))) fail(`node_modules/${devOnly} is in the image: a dev dependency reached production`)
}

const port = await freePort()
// Loopback and a free port here; embedded engines in the image's own folder.
const env = { ...process.env, ...image.env, HOST: "127.0.0.1", PORT: String(port), PGLITE_PORT: "0" }
delete env.REDIS_URL
delete env.DATABASE_URL
delete env.S3_ENDPOINT
const resolveNode = (argv) => (argv[0] === "node" ? [process.execPath, ...argv.slice(1)] : argv)
const [command, ...args] = resolveNode([...image.entrypoint, ...image.cmd])
log(`starting: ${[...image.entrypoint, ...image.cmd].join(" ")} (port ${port})`)
const app = spawn(command, args, { cwd: image.dir, env, stdio: ["ignore", "ignore", "pipe"] })
let output = ""
app.stderr.on("data", (chunk) => {
  output = (output + chunk).slice(-20_000)
})
let exited
app.on("exit", (code, signal) => {
  exited = { code, signal }
})

const check = (condition, message) => {
  if (!condition) {
    process.stderr.write(output)
    if (exited === undefined) app.kill("SIGKILL")
    fail(message)
  }
}
const base = `http://127.0.0.1:${port}`
const get = (path) => fetch(`${base}${path}`).catch(() => undefined)

const [hc, ...hcArgs] = resolveNode(image.healthcheck)
let healthy = false
for (const deadline = Date.now() + READY_WITHIN_MS; !healthy && exited === undefined && Date.now() < deadline; ) {
  healthy = spawnSync(hc, hcArgs, { cwd: image.dir, env, stdio: "ignore", timeout: 10_000 }).status === 0
  if (!healthy) await sleep(1_000)
}
check(healthy, `the HEALTHCHECK command did not pass within ${READY_WITHIN_MS / 1000} s${exited ? ` (the process exited: ${JSON.stringify(exited)})` : ""}`)
log("HEALTHCHECK passes")

const live = await get("/health/live")
check(live?.status === 200, `/health/live answered ${live?.status ?? "nothing"}`)
const metrics = await get("/metrics")
check(metrics?.status === 200 && (await metrics.text()).includes("desainz_operator_processed_total"), "/metrics does not answer with the runtime's metrics")
const ui = await get("/")
check(ui?.status === 200 && (await ui.text()).includes("<html"), "the UI is not served at /")
log("/health/live, /metrics and the UI answer")

const rendered = async () => {
  const text = (await (await get("/metrics"))?.text()) ?? ""
  const line = text.split("\n").find((l) => l.startsWith('desainz_operator_processed_total{operator="generate"}'))
  return line !== undefined && Number(line.split(" ").pop()) > 0
}
let designed = false
for (const deadline = Date.now() + DESIGN_WITHIN_MS; !designed && exited === undefined && Date.now() < deadline; ) {
  designed = await rendered()
  if (!designed) await sleep(2_000)
}
check(designed, `no design was rendered within ${DESIGN_WITHIN_MS / 1000} s`)
log("the generate worker rendered a design")

app.kill("SIGTERM")
for (const deadline = Date.now() + EXIT_WITHIN_MS; exited === undefined && Date.now() < deadline; ) await sleep(200)
check(exited?.code === 0, `SIGTERM: the process ended with ${JSON.stringify(exited ?? "no exit")}`)
log("SIGTERM: exit 0")

for (const step of skipped) log(`not reproducible without an image, skipped: ${step}`)
if (!keep) rmSync(work, { recursive: true, force: true })
log(keep ? `passed; kept ${work}` : "passed")
