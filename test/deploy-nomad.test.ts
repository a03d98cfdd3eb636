/**
 * `desainz render nomad`: the rendered job parsed with a real HCL parser (@cdktf/hcl2json)
 * and checked block by block: one group per node with its replicas, the api group,
 * readiness checks, secrets only from the Nomad Variable, kill_timeout, and the GPU group
 * (ComfyUI beside the generate worker) that `--gpu generate` asks for.
 */
import { spawnSync } from "node:child_process"
import { parse } from "@cdktf/hcl2json"
import { Effect, Layer, Schema } from "effect"
import { describe, expect, it } from "vitest"
import topology from "../topology.ts"
import { DEFAULT_COMFYUI, renderNomad } from "../runtime/nomad.ts"
import { sink, source, stream, toJson, topology as defineTopology } from "../runtime/topology.ts"

const BIN = new URL("../bin/desainz.js", import.meta.url).pathname

/** hcl2json's shape: every block is a list; labelled blocks are maps of label to list. */
type Block = Record<string, any>
const only = <T>(list: ReadonlyArray<T> | undefined, what: string): T => {
  expect(list, what).toHaveLength(1)
  return list![0]!
}

const parseJob = async (hcl: string) => {
  const parsed = await parse("job.nomad.hcl", hcl)
  const [name, ...others] = Object.keys(parsed["job"])
  expect(others).toEqual([])
  const job = only<Block>(parsed["job"][name!], "job")
  return { name: name!, job, groups: job["group"] as Record<string, Array<Block>> }
}

const group = (groups: Record<string, Array<Block>>, name: string) => only(groups[name], `group ${name}`)
const tasksOf = (g: Block) => g["task"] as Record<string, Array<Block>>
const task = (g: Block, name: string) => only(tasksOf(g)[name], `task ${name}`)

const render = (args: ReadonlyArray<string>) => spawnSync(process.execPath, [BIN, "render", "nomad", ...args], { encoding: "utf8" })

/** Variables the job file may set itself: none of them secret. */
const PLAIN_ENV = new Set(["DESAINZ_CONSUMER", "HOST", "PORT", "COMFYUI_URL"])

const expectReadinessCheck = (g: Block, name: string) => {
  const network = only<Block>(g["network"], `${name} network`)
  expect(only<Block>(network["port"]["http"], `${name} http port`)["to"]).toBe(8080)
  const service = only<Block>(g["service"], `${name} service`)
  expect(service["port"]).toBe("http")
  expect(service["provider"]).toBe("nomad")
  const check = only<Block>(service["check"], `${name} check`)
  expect(check).toMatchObject({ type: "http", path: "/health/ready" })
}

const expectDesainzTask = (t: Block, image: string, args: ReadonlyArray<string>, variablesPath: string) => {
  const config = only<Block>(t["config"], "config")
  expect(config["image"]).toBe(image)
  expect(config["args"]).toEqual(args)
  expect(t["kill_signal"]).toBe("SIGTERM")
  expect(t["kill_timeout"]).toBe("45s")
  const env = only<Block>(t["env"], "env")
  expect(Object.keys(env).filter((k) => !PLAIN_ENV.has(k)), "variables set in the job file").toEqual([])
  expect(env["DESAINZ_CONSUMER"]).toBe("${NOMAD_ALLOC_ID}")
  const template = only<Block>(t["template"], "template")
  expect(template["env"]).toBe(true)
  expect(template["destination"]).toMatch(/^secrets\//)
  expect(template["data"]).toContain(`nomadVar ${JSON.stringify(variablesPath)}`)
  // The heredoc's indentation is stripped: the env file's lines start with the variable.
  expect((template["data"] as string).split("\n").filter((l) => /^\s+\S/.test(l))).toEqual([])
  expect(t["resources"]?.[0]?.["device"], "a desAInz worker needs no GPU").toBeUndefined()
}

describe("nomad job", () => {
  it("has one group per node with its replicas, an api group, readiness checks and secrets from the Nomad Variable", async () => {
    const A = Schema.Struct({ n: Schema.Number })
    const sa = stream("s.a", A)
    const t = defineTopology({
      name: "demo",
      nodes: [
        source({ name: "src", to: sa, every: "1 minute", poll: Effect.succeed({ emissions: [] }) }),
        sink({ name: "paint", from: sa, settings: { replicas: 3 }, run: () => Effect.void })
      ],
      services: Layer.empty
    })
    const hcl = renderNomad(toJson(t), {
      image: "registry.example/desainz:1",
      datacenters: ["dc1", "dc2"],
      variablesPath: "nomad/jobs/demo",
      cpuMhz: 100,
      memoryMb: 256,
      gpuNodes: [],
      comfyui: DEFAULT_COMFYUI
    })
    const { name, job, groups } = await parseJob(hcl)
    expect(name).toBe("demo")
    expect(job["datacenters"]).toEqual(["dc1", "dc2"])
    expect(only<Block>(job["update"], "update")).toMatchObject({ health_check: "checks", auto_revert: true })
    expect(Object.keys(groups).sort()).toEqual(["api", "paint", "src"])
    expect(group(groups, "paint")["count"]).toBe(3)
    expect(group(groups, "src")["count"]).toBe(1)
    expect(group(groups, "api")["count"]).toBe(1)
    for (const [groupName, args] of [
      ["api", ["serve", "--port", "8080"]],
      ["paint", ["worker", "--only", "paint", "--port", "8080"]],
      ["src", ["worker", "--only", "src", "--port", "8080"]]
    ] as const) {
      const g = group(groups, groupName)
      expectReadinessCheck(g, groupName)
      expect(Object.keys(tasksOf(g))).toEqual([groupName])
      const t = task(g, groupName)
      expectDesainzTask(t, "registry.example/desainz:1", args, "nomad/jobs/demo")
      // Host networking: the docker task maps the group's port itself.
      expect(only<Block>(t["config"], "config")["ports"]).toEqual(["http"])
    }
    // Nothing secret anywhere in the file, nor a GPU without --gpu.
    expect(hcl).not.toMatch(/\b(REDIS_URL|DATABASE_URL|S3_\w+|\w*TOKEN|\w*SECRET\w*|\w*API_KEY)\s*=/)
    expect(hcl).not.toContain("nvidia/gpu")
    expect(hcl).not.toContain("comfyui")
  })

  it("desainz render nomad --gpu generate: ComfyUI with the GPU beside the generate worker, which points at it", async () => {
    const result = render(["--gpu", "generate", "--image", "registry.example/desainz:2", "--comfyui-image", "registry.example/comfyui:sdxl"])
    expect(result.status, result.stderr).toBe(0)
    const { name, groups } = await parseJob(result.stdout)
    expect(name).toBe(topology.name)
    const nodes = toJson(topology).nodes
    expect(Object.keys(groups).sort()).toEqual([...nodes.map((n) => n.name), "api"].sort())
    for (const node of nodes) {
      const g = group(groups, node.name)
      expect(g["count"], node.name).toBe(node.type === "source" ? 1 : node.settings.replicas)
      expectReadinessCheck(g, node.name)
      expectDesainzTask(task(g, node.name), "registry.example/desainz:2", ["worker", "--only", node.name, "--port", "8080"], `nomad/jobs/${topology.name}`)
    }

    const gpu = group(groups, "generate")
    expect(Object.keys(tasksOf(gpu)).sort()).toEqual(["comfyui", "generate"])
    const comfyui = task(gpu, "comfyui")
    expect(only<Block>(comfyui["config"], "config")["image"]).toBe("registry.example/comfyui:sdxl")
    expect(only<Block>(comfyui["resources"], "resources")["device"]).toEqual({ "nvidia/gpu": [{ count: 1 }] })
    expect(only<Block>(comfyui["lifecycle"], "lifecycle")).toEqual({ hook: "prestart", sidecar: true })
    expect(comfyui["kill_timeout"]).toBeDefined()
    expect(comfyui["template"], "ComfyUI gets no desAInz secrets").toBeUndefined()
    // The models live on the GPU host: a host volume mounted into ComfyUI.
    const volume = only<Block>(gpu["volume"]["comfyui"], "volume")
    expect(volume["type"]).toBe("host")
    expect(only<Block>(comfyui["volume_mount"], "volume_mount")["volume"]).toBe("comfyui")
    // One network namespace for the group: the worker reaches ComfyUI on localhost, at the port ComfyUI listens on.
    expect(only<Block>(gpu["network"], "network")["mode"]).toBe("bridge")
    const listen = only<Block>(comfyui["env"], "env")["CLI_ARGS"] as string
    const port = listen.match(/--port (\d+)/)?.[1]
    expect(listen).toContain("--listen 127.0.0.1")
    expect(only<Block>(task(gpu, "generate")["env"], "env")["COMFYUI_URL"]).toBe(`http://127.0.0.1:${port}`)

    // Only the named group changes.
    for (const [groupName, list] of Object.entries(groups)) {
      if (groupName === "generate") continue
      expect(Object.keys(tasksOf(only(list, groupName))), groupName).toEqual([groupName])
      expect(only<Block>(list, groupName)["network"][0]["mode"], groupName).toBeUndefined()
    }
  })

  it("refuses --gpu for a node the topology does not have, naming it", () => {
    const result = render(["--gpu", "generate,paint-by-numbers"])
    expect(result.status).toBe(2)
    expect(result.stderr).toContain("--gpu paint-by-numbers: no such node")
  })
})
