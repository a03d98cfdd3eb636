/**
 * The `desainz` command line. Commands:
 *   start                          every node + the HTTP server
 *   worker --only a,b              some nodes (scale one role out)
 *   topology [--json]              the graph, readable or as JSON
 *   dlq list|requeue|drop <node>   dead letters (Redis directly; else the running server's API)
 * and whatever commands the topology module adds (`commands` in `topology({...})`).
 */
import { writeFile } from "node:fs/promises"
import { parseArgs } from "node:util"
import { Cause, Effect, Option, Redacted } from "effect"
import { loadTopology, loggerLayer, run } from "./app.ts"
import { RuntimeConfig, ServerUrl, transportLayer } from "./config.ts"
import { drop, listDeadLetters, requeue, type Selection } from "./dlq.ts"
import { describeError } from "./errors.ts"
import { DEFAULT_COMFYUI, renderNomad } from "./nomad.ts"
import { migrate, Sql } from "./sql.ts"
import { makeKeys } from "./keys.ts"
import { toJson, toText, type Topology, UsageError } from "./topology.ts"
import type { Transport } from "./transport.ts"

const USAGE = `usage: desainz <command> [options]

commands:
  start   [--topology FILE] [--port N]            run every node and the HTTP server
  serve   [--topology FILE] [--port N]            the HTTP API and UI only, no nodes (a separate API tier)
  worker  --only NODE[,NODE...] [--topology FILE] [--port N]
                                                  run some nodes (HTTP only with --port)
  topology [--json] [--topology FILE]             print the graph
  migrate                                         apply sql/ migrations (DATABASE_URL, else ./.data/pg)
  render nomad [--image IMG] [--out FILE] [--gpu NODE ...] [--comfyui-image IMG]
                                                  write the Nomad job for the topology; --gpu NODE:
                                                  a ComfyUI task with a GPU beside that node's worker
  dlq list    NODE [--count N]                    show dead letters, newest first
  dlq requeue NODE (--id ID ... | --all)          put dead letters back on the input stream
  dlq drop    NODE (--id ID ... | --all)          delete dead letters

Without REDIS_URL the dlq commands talk to the running server (DESAINZ_URL,
default http://127.0.0.1:8080; requeue/drop need DESAINZ_TOKEN).`

/** Built-in commands win over a topology's command of the same name. */
const BUILT_IN = new Set(["start", "serve", "worker", "topology", "render", "migrate", "dlq", "help"])

/** USAGE, plus the commands the topology adds. */
const usageOf = (t: Topology<any> | undefined): string => {
  const extra = Object.entries(t?.commands ?? {})
  return extra.length === 0
    ? USAGE
    : `${USAGE}\n\ncommands of topology "${t!.name}" (desainz <command> --help for options):\n${extra.map(([name, c]) => `  ${name.padEnd(46)}  ${c.summary}`).join("\n")}`
}

/**
 * Splits off `--topology FILE` (the only option shared with topology commands) and returns
 * the first remaining argument when it is not a built-in command.
 */
const topologyCommand = (argv: ReadonlyArray<string>, defaultTopology: string) => {
  const rest: Array<string> = []
  let path = defaultTopology
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === "--topology" && i + 1 < argv.length) path = argv[++i]!
    else if (arg.startsWith("--topology=")) path = arg.slice("--topology=".length)
    else rest.push(arg)
  }
  const [name, ...args] = rest
  return name !== undefined && !name.startsWith("-") && !BUILT_IN.has(name) ? { path, name, args } : undefined
}

const options = {
  topology: { type: "string" },
  port: { type: "string" },
  only: { type: "string" },
  json: { type: "boolean", default: false },
  count: { type: "string" },
  id: { type: "string", multiple: true },
  all: { type: "boolean", default: false },
  image: { type: "string" },
  out: { type: "string" },
  gpu: { type: "string", multiple: true },
  "comfyui-image": { type: "string" },
  help: { type: "boolean", short: "h", default: false }
} as const

const positiveInt = (name: string, value: string | undefined): number | undefined => {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--${name} must be a positive whole number, got "${value}"`)
  return n
}

const selectionOf = (values: { id?: ReadonlyArray<string> | undefined; all: boolean }): Selection => {
  if (values.all && values.id?.length) throw new UsageError("give either --id or --all, not both")
  if (values.all) return { all: true }
  if (!values.id?.length) throw new UsageError("name the dead letters with --id ID (repeatable) or --all")
  for (const id of values.id) if (!/^\d+-\d+$/.test(id)) throw new UsageError(`--id "${id}" is not a stream id like 1700000000000-0`)
  return { ids: values.id }
}

const print = (value: unknown) => Effect.sync(() => process.stdout.write(typeof value === "string" ? `${value}\n` : `${JSON.stringify(value, null, 2)}\n`))

/** Dead-letter commands over the HTTP API of a running `desainz start` (embedded transport). */
const viaHttp = (path: string, init: { method: "GET" | "POST"; body?: unknown }) =>
  Effect.gen(function* () {
    const base = yield* ServerUrl
    const config = yield* RuntimeConfig
    const headers: Record<string, string> = { "content-type": "application/json" }
    if (Option.isSome(config.token)) headers["authorization"] = `Bearer ${Redacted.value(config.token.value)}`
    const response = yield* Effect.tryPromise({
      try: () => fetch(`${base}${path}`, { method: init.method, headers, ...(init.body ? { body: JSON.stringify(init.body) } : {}) }),
      catch: () =>
        new UsageError(`no REDIS_URL, and no desainz server answers at ${base}: start one (npm start) or set REDIS_URL / DESAINZ_URL`)
    })
    const body = (yield* Effect.promise(() => response.json().catch(() => ({})))) as { error?: string }
    if (!response.ok) return yield* Effect.fail(new UsageError(`${response.status}: ${body.error ?? response.statusText}`))
    return body
  })

const dlqCommand = (t: Topology<any>, action: string | undefined, node: string | undefined, values: { id?: Array<string>; all: boolean; count?: string }) =>
  Effect.gen(function* () {
    if (action === undefined || !["list", "requeue", "drop"].includes(action)) throw new UsageError("dlq needs an action: list, requeue or drop")
    if (node === undefined) throw new UsageError(`dlq ${action} needs the node name, one of: ${t.nodes.map((n) => n.name).join(", ")}`)
    const config = yield* RuntimeConfig
    const count = positiveInt("count", values.count)
    const selection = action === "list" ? undefined : selectionOf(values)
    if (Option.isNone(config.redisUrl)) {
      const path = `/api/dlq/${encodeURIComponent(node)}`
      return yield* print(
        action === "list"
          ? yield* viaHttp(`${path}${count ? `?count=${count}` : ""}`, { method: "GET" })
          : yield* viaHttp(`${path}/${action}`, { method: "POST", body: selection })
      )
    }
    const keys = makeKeys(t.name)
    const effect: Effect.Effect<object, unknown, Transport> =
      action === "list"
        ? Effect.map(listDeadLetters(t, keys, node, count ? { count } : {}), (entries) => ({ entries }))
        : action === "requeue"
          ? Effect.map(requeue(t, keys, node, selection!), (n) => ({ requeued: n }))
          : Effect.map(drop(t, keys, node, selection!), (n) => ({ dropped: n }))
    return yield* print(yield* effect.pipe(Effect.provide(transportLayer(config.redisUrl))))
  })

/** `defaultTopology`: the module `--topology` defaults to (the compiled build passes its own). */
export const main = (argv: ReadonlyArray<string>, defaultTopology = "topology.ts") =>
  Effect.gen(function* () {
    const custom = topologyCommand(argv, defaultTopology)
    if (custom !== undefined) {
      const command = (yield* loadTopology(custom.path)).commands?.[custom.name]
      if (command !== undefined) return yield* command.run(custom.args)
    }
    const parsed = yield* Effect.try({
      try: () => parseArgs({ args: [...argv], options, allowPositionals: true, strict: true }),
      catch: (e) => new UsageError(e instanceof Error ? e.message : String(e))
    })
    const { values, positionals } = parsed
    const [command, ...rest] = positionals
    const topologyPath = values.topology ?? defaultTopology
    if (values.help || command === undefined || command === "help") {
      // The topology's own commands are listed when it loads; help works without one too.
      return yield* print(usageOf(yield* Effect.orElseSucceed(loadTopology(topologyPath), () => undefined)))
    }
    const port = positiveInt("port", values.port)
    const t = yield* loadTopology(topologyPath)
    switch (command) {
      case "start":
        return yield* run({ topology: t, http: true, port })
      case "serve":
        return yield* run({ topology: t, only: [], http: true, port })
      case "worker": {
        const only = values.only?.split(",").map((s) => s.trim()).filter(Boolean)
        if (!only?.length) throw new UsageError(`worker needs --only NODE[,NODE...], from: ${t.nodes.map((n) => n.name).join(", ")}`)
        return yield* run({ topology: t, only, http: port !== undefined, port })
      }
      case "topology":
        return yield* print(values.json ? toJson(t) : toText(t))
      case "render": {
        if (rest[0] !== "nomad") throw new UsageError('render needs a target: "render nomad"')
        const gpu = (values.gpu ?? []).flatMap((g) => g.split(",")).map((g) => g.trim()).filter(Boolean)
        const unknown = gpu.filter((g) => !t.nodes.some((n) => n.name === g))
        if (unknown.length > 0) throw new UsageError(`--gpu ${unknown.join(", ")}: no such node`)
        const hcl = renderNomad(toJson(t), {
          image: values.image ?? "desainz:latest",
          datacenters: ["dc1"],
          variablesPath: `nomad/jobs/${t.name}`,
          cpuMhz: 500,
          memoryMb: 768,
          gpuNodes: gpu,
          comfyui: { ...DEFAULT_COMFYUI, ...(values["comfyui-image"] !== undefined ? { image: values["comfyui-image"] } : {}) }
        })
        if (values.out === undefined) return yield* print(hcl)
        yield* Effect.promise(() => writeFile(values.out!, hcl))
        return yield* print(`wrote ${values.out}`)
      }
      case "migrate": {
        const applied = yield* migrate().pipe(Effect.provide(Sql.layerConfig))
        return yield* print(applied.length === 0 ? "up to date" : applied.map((m) => `applied ${m.version} ${m.name}`).join("\n"))
      }
      case "dlq":
        return yield* dlqCommand(t, rest[0], rest[1], values)
      default:
        throw new UsageError(`unknown command "${command}"\n\n${usageOf(t)}`)
    }
  })

/** Runs the CLI and exits with 0, 1 (failure) or 2 (usage). */
export const runCli = (argv: ReadonlyArray<string>, defaultTopology?: string) =>
  Effect.runPromiseExit(main(argv, defaultTopology).pipe(Effect.provide(loggerLayer))).then((exit) => {
    if (exit._tag === "Success") return process.exit(0)
    const error = Cause.squash(exit.cause)
    process.stderr.write(`desainz: ${describeError(error)}\n`)
    process.exit(error instanceof UsageError ? 2 : 1)
  })
