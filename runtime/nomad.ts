/**
 * Renders a Nomad job from the topology: one task group per node (an operator role or a
 * source), `count` = the node's replicas, each running `desainz worker --only <node>
 * --port 8080`, plus an `api` group running `desainz serve` (HTTP API and UI). Every
 * group registers a service whose check is the process' readiness (`/health/ready`),
 * which also gives Prometheus (`nomad_sd_configs`) every process to scrape.
 * Engines (Redis, Postgres, S3) and secrets come in through a Nomad Variable rendered
 * into the task environment, so no secret is written into the job file.
 * A node named in `gpuNodes` gets a ComfyUI task with the GPU beside its worker, in a
 * bridge network, so the worker reaches it on localhost and ComfyUI (which has no
 * authentication) is not reachable from outside the allocation.
 */
import type { TopologyJson } from "./topology.ts"

export interface ComfyUiOptions {
  readonly image: string
  readonly cpuMhz: number
  readonly memoryMb: number
  /** Nomad host volume holding ComfyUI and its model files on GPU clients. */
  readonly hostVolume: string
}

export interface NomadOptions {
  readonly image: string
  readonly datacenters: ReadonlyArray<string>
  /** Nomad Variable path holding REDIS_URL, DATABASE_URL, S3_*, tokens. */
  readonly variablesPath: string
  readonly cpuMhz: number
  readonly memoryMb: number
  /** Nodes whose group runs a ComfyUI task with a GPU beside the worker (`--gpu generate`). */
  readonly gpuNodes: ReadonlyArray<string>
  readonly comfyui: ComfyUiOptions
}

export const DEFAULT_COMFYUI: ComfyUiOptions = {
  image: "yanwk/comfyui-boot:cu124-slim",
  cpuMhz: 4000,
  memoryMb: 16384,
  hostVolume: "comfyui"
}

/** The port every desAInz process serves HTTP on inside its container. */
const HTTP_PORT = 8080
const COMFYUI_PORT = 8188

const quote = (s: string) => JSON.stringify(s)
const indent = (text: string, by: number) =>
  text
    .split("\n")
    .map((line) => (line === "" ? line : " ".repeat(by) + line))
    .join("\n")
/** Nomad service names: lowercase letters, digits and dashes. */
const serviceName = (topology: string, group: string) => `${topology}-${group}`.toLowerCase().replace(/[^a-z0-9-]+/g, "-")

/** `<<-EOT` strips the heredoc's indentation, so the rendered env file has none. */
const envTemplate = (variablesPath: string) => `template {
  destination = "secrets/desainz.env"
  env         = true
  data        = <<-EOT
    {{- with nomadVar ${quote(variablesPath)} -}}
    {{- range $k, $v := . }}
    {{ $k }}={{ $v }}
    {{- end }}
    {{- end }}
    EOT
}`

const desainzTask = (name: string, args: ReadonlyArray<string>, o: NomadOptions, extra: { mapPort: boolean; comfyuiUrl?: string }) => `task ${quote(name)} {
  driver = "docker"
  config {
    image = ${quote(o.image)}
    args  = [${args.map(quote).join(", ")}]
${extra.mapPort ? '    ports = ["http"]\n' : ""}  }
  # SIGTERM: the worker stops reading, finishes and acks in-flight batches, exits 0.
  kill_signal  = "SIGTERM"
  kill_timeout = "45s"
  # Not secret; everything secret comes from the Nomad Variable below.
  env {
    DESAINZ_CONSUMER = "\${NOMAD_ALLOC_ID}"
    HOST             = "0.0.0.0"
    PORT             = "${HTTP_PORT}"
${extra.comfyuiUrl !== undefined ? `    COMFYUI_URL      = ${quote(extra.comfyuiUrl)}\n` : ""}  }
${indent(envTemplate(o.variablesPath), 2)}
  resources {
    cpu    = ${o.cpuMhz}
    memory = ${o.memoryMb}
  }
}`

const comfyuiTask = (c: ComfyUiOptions) => `# ComfyUI (SDXL) for the worker beside it: started first, kept running beside it.
task "comfyui" {
  driver = "docker"
  lifecycle {
    hook    = "prestart"
    sidecar = true
  }
  config {
    image = ${quote(c.image)}
  }
  env {
    CLI_ARGS = "--listen 127.0.0.1 --port ${COMFYUI_PORT} --preview-method none"
  }
  volume_mount {
    volume      = "comfyui"
    destination = "/root"
  }
  kill_timeout = "45s"
  resources {
    cpu    = ${c.cpuMhz}
    memory = ${c.memoryMb}
    device "nvidia/gpu" {
      count = 1
    }
  }
}`

const group = (
  t: TopologyJson,
  name: string,
  count: number,
  args: ReadonlyArray<string>,
  o: NomadOptions,
  comment: string
) => {
  const gpu = o.gpuNodes.includes(name)
  return `${comment}
group ${quote(name)} {
  count = ${count}
  network {
${gpu ? '    mode = "bridge"\n' : ""}    port "http" {
      to = ${HTTP_PORT}
    }
  }
  restart {
    attempts = 10
    interval = "10m"
    delay    = "15s"
    mode     = "delay"
  }
  service {
    provider = "nomad"
    name     = ${quote(serviceName(t.name, name))}
    port     = "http"
    tags     = ["desainz", "metrics"]
    check {
      name     = "ready"
      type     = "http"
      path     = "/health/ready"
      interval = "10s"
      timeout  = "3s"
    }
  }
${
  gpu
    ? `  volume "comfyui" {
    type      = "host"
    source    = ${quote(o.comfyui.hostVolume)}
    read_only = false
  }
${indent(comfyuiTask(o.comfyui), 2)}
`
    : ""
}${indent(desainzTask(name, args, o, gpu ? { mapPort: false, comfyuiUrl: `http://127.0.0.1:${COMFYUI_PORT}` } : { mapPort: true }), 2)}
}`
}

export const renderNomad = (t: TopologyJson, o: NomadOptions): string => {
  const port = ["--port", String(HTTP_PORT)]
  const groups = t.nodes.map((n) =>
    group(
      t,
      n.name,
      n.type === "source" ? 1 : n.settings.replicas,
      ["worker", "--only", n.name, ...port],
      o,
      `# ${n.type} ${n.name} (${n.kind}): ${n.input ?? "-"} -> ${n.outputs.join(", ") || "(sink)"}${o.gpuNodes.includes(n.name) ? "; with ComfyUI on a GPU" : ""}`
    )
  )
  const api = group(t, "api", 1, ["serve", ...port], o, "# the HTTP API and UI (desainz serve)")
  return `# Rendered by \`desainz render nomad\` from the topology "${t.name}"; edit topology.ts and render again.
job ${quote(t.name)} {
  datacenters = [${o.datacenters.map(quote).join(", ")}]
  type        = "service"

  update {
    max_parallel     = 1
    health_check     = "checks"
    min_healthy_time = "10s"
    healthy_deadline = "10m"
    auto_revert      = true
  }

${[api, ...groups].map((g) => indent(g, 2)).join("\n\n")}
}
`
}
