/**
 * Renders a Nomad job from the topology: one task group per node (an operator role or a
 * source), `count` = the node's replicas, each running `desainz worker --only <node>`,
 * plus an `api` group running `desainz serve` (HTTP API and UI). Engines (Redis,
 * Postgres, S3) are shared and come in through a Nomad Variable rendered into the task
 * environment, so no secret is written into the job file.
 */
import type { TopologyJson } from "./topology.ts"

export interface NomadOptions {
  readonly image: string
  readonly datacenters: ReadonlyArray<string>
  /** Nomad Variable path holding REDIS_URL, DATABASE_URL, S3_*, tokens. */
  readonly variablesPath: string
  readonly cpuMhz: number
  readonly memoryMb: number
  /** Nodes that need a GPU (e.g. a ComfyUI-backed generator): they get `device "nvidia/gpu"`. */
  readonly gpuNodes: ReadonlyArray<string>
}

const quote = (s: string) => JSON.stringify(s)

const envTemplate = (variablesPath: string) => `      template {
        destination = "secrets/desainz.env"
        env         = true
        data        = <<EOT
{{- with nomadVar ${quote(variablesPath)} -}}
{{- range $k, $v := . }}
{{ $k }}={{ $v }}
{{- end }}
{{- end }}
EOT
      }`

const task = (name: string, args: ReadonlyArray<string>, o: NomadOptions, withPort: boolean) => `    task ${quote(name)} {
      driver = "docker"
      config {
        image = ${quote(o.image)}
        args  = [${args.map(quote).join(", ")}]
${withPort ? '        ports = ["http"]\n' : ""}      }
      # SIGTERM: the worker stops reading, finishes and acks in-flight batches, exits 0.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"
      env {
        DESAINZ_CONSUMER = "\${NOMAD_ALLOC_ID}"
        HOST             = "0.0.0.0"
      }
${envTemplate(o.variablesPath)}
      resources {
        cpu    = ${o.cpuMhz}
        memory = ${o.memoryMb}
${o.gpuNodes.includes(name) ? '        device "nvidia/gpu" {\n          count = 1\n        }\n' : ""}      }
    }`

export const renderNomad = (t: TopologyJson, o: NomadOptions): string => {
  const groups = t.nodes.map(
    (n) => `  # ${n.type} ${n.name} (${n.kind}): ${n.input ?? "-"} -> ${n.outputs.join(", ") || "(sink)"}
  group ${quote(n.name)} {
    count = ${n.type === "source" ? 1 : n.settings.replicas}
    restart {
      attempts = 10
      interval = "10m"
      delay    = "15s"
      mode     = "delay"
    }
${task(n.name, ["worker", "--only", n.name], o, false)}
  }`
  )
  const api = `  group "api" {
    count = 1
    network {
      port "http" {
        to = 8080
      }
    }
    service {
      name = "${t.name}-api"
      port = "http"
      check {
        type     = "http"
        path     = "/health"
        interval = "10s"
        timeout  = "2s"
      }
    }
${task("api", ["serve", "--port", "8080"], o, true)}
  }`
  return `# Rendered by \`desainz render nomad\` from the topology "${t.name}"; edit topology.ts and render again.
job ${quote(t.name)} {
  datacenters = [${o.datacenters.map(quote).join(", ")}]
  type        = "service"

  update {
    max_parallel     = 1
    min_healthy_time = "10s"
    auto_revert      = true
  }

${[api, ...groups].join("\n\n")}
}
`
}
