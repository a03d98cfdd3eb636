/**
 * deploy/compose: the compose file against the Compose Specification's JSON schema and
 * the Grafana dashboard against Grafana's (both vendored in deploy/compose/schema/, see
 * SOURCE.md there), every desAInz service
 * against the topology, Prometheus' alert rules and the Grafana dashboard's PromQL
 * through promtool, and their metric names against what `/metrics` really exports.
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Ajv } from "ajv"
import addFormatsModule from "ajv-formats"
import draft07 from "ajv/dist/refs/json-schema-draft-07.json" with { type: "json" }
import { Effect, Layer, Option } from "effect"
import { describe, expect, it } from "vitest"
import { parse } from "yaml"
import topology from "../topology.ts"
import { makeHttpApp } from "../runtime/http.ts"
import { makeKeys } from "../runtime/keys.ts"
import { Metrics } from "../runtime/metrics.ts"
import * as EmbeddedTransport from "../runtime/transport/embedded.ts"

const COMPOSE = join(import.meta.dirname, "..", "deploy", "compose")
const read = (path: string) => readFileSync(join(COMPOSE, path), "utf8")
const compose = parse(read("compose.yaml"), { merge: true }) as {
  services: Record<string, Service>
  volumes: Record<string, unknown>
}
interface Service {
  image?: string
  command?: Array<string>
  profiles?: Array<string>
  restart?: string
  environment?: Record<string, string>
  healthcheck?: { test?: Array<string>; disable?: boolean }
  depends_on?: Record<string, { condition: string; required?: boolean }>
  deploy?: { resources?: { reservations?: { devices?: Array<{ driver?: string; count?: number; capabilities?: Array<string> }> } } }
}

const desainzServices = Object.entries(compose.services).filter(([, s]) => s.image === "desainz:latest")
/** Long-running desAInz processes (the migration step is a one-shot). */
const processes = desainzServices.filter(([, s]) => s.restart !== "no")
const nodeNames = new Set(topology.nodes.map((n) => n.name))
const optionValue = (command: ReadonlyArray<string>, option: string) => {
  const i = command.indexOf(option)
  return i < 0 ? undefined : command[i + 1]
}

/** Draft-07 (both vendored schemas), formats checked; `strict: false` as the schemas use annotations ajv does not know. */
const newAjv = () => {
  const ajv = new Ajv({ allErrors: true, strict: false })
  ;(addFormatsModule as unknown as (a: Ajv) => Ajv)(ajv)
  return ajv
}

const promtool = spawnSync("promtool", ["--version"]).status === 0 ? "promtool" : undefined
const runPromtool = (args: ReadonlyArray<string>) => {
  const result = spawnSync(promtool!, args, { encoding: "utf8" })
  return { status: result.status, output: `${result.stdout}${result.stderr}` }
}

describe("compose file", () => {
  it("is valid against the Compose Specification schema", () => {
    const schema = JSON.parse(read("schema/compose-spec.json"))
    const ajv = newAjv()
    // The schema names its draft-07 meta-schema by the https address; ajv ships it under http.
    ajv.addMetaSchema({ ...draft07, $id: schema.$schema })
    const validate = ajv.compile(schema)
    const valid = validate(compose)
    expect(validate.errors ?? [], JSON.stringify(validate.errors, null, 2)).toEqual([])
    expect(valid).toBe(true)
    // The schema is not a formality: a misspelt key is refused.
    expect(validate({ services: { api: { image: "x", helthcheck: {} } } })).toBe(false)
  })

  it("runs every node of the topology, and names only nodes that exist", () => {
    const run = new Set<string>()
    for (const [name, service] of desainzServices) {
      const command = service.command ?? []
      expect(["start", "serve", "worker", "migrate"], `${name}: ${command.join(" ")}`).toContain(command[0])
      if (command[0] !== "worker") continue
      const only = optionValue(command, "--only")?.split(",") ?? []
      expect(only.length, `${name} names no node`).toBeGreaterThan(0)
      for (const node of only) {
        expect(nodeNames.has(node), `${name} runs "${node}", which is not a node of topology.ts (${[...nodeNames].join(", ")})`).toBe(true)
        expect(run.has(node), `"${node}" runs in two services`).toBe(false)
        run.add(node)
      }
    }
    expect([...nodeNames].filter((n) => !run.has(n)), "nodes no service runs").toEqual([])
  })

  it("gives every desAInz process HTTP on 8080 and a readiness healthcheck; Prometheus scrapes each", () => {
    expect(processes.length).toBeGreaterThan(1)
    for (const [name, service] of processes) {
      const command = service.command ?? []
      expect(optionValue(command, "--port"), `${name} serves no HTTP`).toBe("8080")
      expect(service.healthcheck?.disable, name).not.toBe(true)
      expect(service.healthcheck?.test?.join(" "), name).toContain("http://127.0.0.1:8080/health/ready")
    }
    const prometheus = parse(read("prometheus/prometheus.yml")) as {
      scrape_configs: Array<{ dns_sd_configs: Array<{ names: Array<string>; port: number }> }>
    }
    const scraped = prometheus.scrape_configs.flatMap((c) => c.dns_sd_configs.flatMap((d) => d.names.map((n) => `${n}:${d.port}`)))
    expect(scraped.sort()).toEqual(processes.map(([name]) => `${name}:8080`).sort())
    for (const name of ["prometheus", "grafana", "redis", "postgres", "minio", "comfyui"]) {
      expect(compose.services[name]?.healthcheck?.test, `${name} has no healthcheck`).toBeDefined()
    }
  })

  it("has a gpu profile: ComfyUI with a GPU, which the generate workers use", () => {
    const comfyui = compose.services["comfyui"]!
    expect(comfyui.profiles).toEqual(["gpu"])
    expect(comfyui.deploy?.resources?.reservations?.devices).toEqual([{ driver: "nvidia", count: 1, capabilities: ["gpu"] }])
    // Only the generate role talks to ComfyUI, and waits for it when the profile runs it.
    const users = desainzServices.filter(([, s]) => s.environment?.["COMFYUI_URL"] !== undefined)
    expect(users.map(([name]) => name)).toEqual(["generate"])
    const generate = compose.services["generate"]!
    expect(optionValue(generate.command ?? [], "--only")?.split(",")).toContain("generate")
    expect(generate.environment?.["COMFYUI_URL"]).toBe("${COMFYUI_URL:-}")
    expect(generate.depends_on?.["comfyui"]).toEqual({ condition: "service_healthy", required: false })
    expect(read("compose.yaml")).toContain("COMFYUI_URL=http://comfyui:8188 docker compose --profile gpu up")
    // Every other service runs without the profile.
    expect(Object.entries(compose.services).filter(([, s]) => s.profiles !== undefined).map(([n]) => n)).toEqual(["comfyui"])
  })
})

// ---- Prometheus and Grafana

interface Panel {
  title: string
  type: string
  datasource: { type: string; uid: string }
  targets: Array<{ expr: string; refId: string }>
}
const dashboard = JSON.parse(read("grafana/dashboards/desainz.json")) as { uid: string; title: string; panels: Array<Panel> }
const alertRules = parse(read("prometheus/alerts.yml")) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> }
/** Grafana's own variables, as Grafana substitutes them before the query reaches Prometheus. */
const grafanaToPromQL = (expr: string) => expr.replaceAll("$__rate_interval", "1m").replaceAll("$__interval", "15s").replaceAll("$__range", "6h")

/** Metric families of a real `/metrics` answer, plus the histograms operators record with `observe`. */
const exportedFamilies = async () => {
  const text = await Effect.runPromise(
    Effect.gen(function* () {
      const app = yield* makeHttpApp({ topology, keys: makeKeys(topology.name), token: Option.none(), corsOrigins: [] })
      return yield* Effect.promise(async () => (await app.request("/metrics")).text())
    }).pipe(Effect.scoped, Effect.provide(Layer.merge(EmbeddedTransport.layer, Metrics.layer)))
  )
  const families = new Map([...text.matchAll(/^# TYPE (\w+) (\w+)$/gm)].map((m) => [m[1]!, m[2]!]))
  const operators = join(import.meta.dirname, "..", "operators")
  for (const file of readdirSync(operators, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts"))) {
    for (const m of readFileSync(join(operators, file), "utf8").matchAll(/observe\(\s*"(desainz_\w+)"/g)) families.set(m[1]!, "histogram")
  }
  return families
}

describe("dashboard and alert rules", () => {
  it("the dashboard is valid against Grafana's dashboard schema, with the panels of the runbook, each querying the provisioned datasource", () => {
    const validate = newAjv().compile(JSON.parse(read("schema/grafana-dashboard.jsonschema.json")))
    expect(validate(dashboard), JSON.stringify(validate.errors, null, 2)).toBe(true)
    // A misspelt panel field is refused.
    expect(validate({ ...dashboard, panels: [{ type: "timeseries", tittle: "x" }] })).toBe(false)
    expect(dashboard.uid).toBe("desainz")
    const titles = dashboard.panels.map((p) => p.title)
    for (const title of [
      "Throughput per operator",
      "Lag per consumer group",
      "Pending per consumer group",
      "DLQ size per operator",
      "Processing p99 per operator",
      "signal_to_publish_seconds"
    ]) {
      expect(titles).toContain(title)
    }
    const datasource = parse(read("grafana/provisioning/datasources/prometheus.yaml")) as { datasources: Array<{ uid: string; url: string }> }
    expect(datasource.datasources[0]!.url).toBe("http://prometheus:9090")
    for (const panel of dashboard.panels) {
      expect(panel.datasource.uid, panel.title).toBe(datasource.datasources[0]!.uid)
      expect(panel.targets.length, panel.title).toBeGreaterThan(0)
    }
    const provider = parse(read("grafana/provisioning/dashboards/desainz.yaml")) as { providers: Array<{ options: { path: string } }> }
    expect(read("compose.yaml")).toContain(`./grafana/dashboards:${provider.providers[0]!.options.path}:ro`)
  })

  it("queries only metrics that /metrics exports, with the right suffixes", async () => {
    const families = await exportedFamilies()
    expect(families.get("desainz_group_lag")).toBe("gauge")
    const expressions = [...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)), ...alertRules.groups.flatMap((g) => g.rules.map((r) => r.expr))]
    for (const expr of expressions) {
      for (const [name] of expr.matchAll(/desainz_\w+/g)) {
        const histogram = name.match(/^(\w+)_bucket$/)?.[1]
        if (histogram !== undefined) expect(families.get(histogram), `${name} in ${expr}`).toBe("histogram")
        else expect(families.has(name), `${name} in ${expr} is not exported`).toBe(true)
      }
    }
  })

  describe.skipIf(promtool === undefined)("promtool (Debian's prometheus package; .ci/run installs it)", () => {
    it("parses the alert rules and the Prometheus configuration", () => {
      const rules = runPromtool(["check", "rules", join(COMPOSE, "prometheus", "alerts.yml")])
      expect(rules.status, rules.output).toBe(0)
      const config = runPromtool(["check", "config", "--syntax-only", join(COMPOSE, "prometheus", "prometheus.yml")])
      expect(config.status, config.output).toBe(0)
    })

    it("the alert rules fire on the series they are written for (promtool test rules)", () => {
      const result = runPromtool(["test", "rules", join(COMPOSE, "prometheus", "alerts.test.yml")])
      expect(result.status, result.output).toBe(0)
      const tested = new Set([...read("prometheus/alerts.test.yml").matchAll(/alertname: (\w+)/g)].map((m) => m[1]))
      expect(alertRules.groups.flatMap((g) => g.rules.map((r) => r.alert)).filter((a) => !tested.has(a)), "alerts without a test").toEqual([])
    })

    it("parses every PromQL expression of the dashboard", () => {
      const dir = mkdtempSync(join(tmpdir(), "desainz-dashboard-"))
      try {
        const rules = dashboard.panels.flatMap((p, i) =>
          p.targets.map((t) => ({ record: `dashboard:panel${i + 1}:${t.refId}`, expr: grafanaToPromQL(t.expr) }))
        )
        writeFileSync(join(dir, "dashboard.rules.json"), JSON.stringify({ groups: [{ name: "dashboard", rules }] }))
        const result = runPromtool(["check", "rules", join(dir, "dashboard.rules.json")])
        expect(result.status, result.output).toBe(0)
        expect(result.output).toContain(`SUCCESS: ${rules.length} rules found`)
        // promtool is not lenient: a broken expression fails.
        writeFileSync(join(dir, "broken.rules.json"), JSON.stringify({ groups: [{ name: "x", rules: [{ record: "x:y", expr: "sum by (le (rate(x[1m]))" }] }] }))
        expect(runPromtool(["check", "rules", join(dir, "broken.rules.json")]).status).not.toBe(0)
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    })
  })
})
