/**
 * Process-local metrics: counters, gauges and histograms with labels, rendered in the
 * Prometheus text format and as a JSON snapshot. Recording is a map lookup and an add,
 * cheap enough for the per-entry hot path; stream gauges are read from the transport
 * at scrape time instead of being tracked.
 */
import { Context, Effect, Layer } from "effect"

type Labels = Readonly<Record<string, string>>

/**
 * Keys are remembered per labels object: the hot path records with the same few objects
 * over and over (labels are read-only once used).
 */
const labelKeys = new WeakMap<Labels, string>()
const labelKey = (labels: Labels): string => {
  let key = labelKeys.get(labels)
  if (key === undefined) {
    key = Object.keys(labels)
      .sort()
      .map((k) => `${k}="${escapeLabel(labels[k]!)}"`)
      .join(",")
    labelKeys.set(labels, key)
  }
  return key
}
const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')

interface Series<V> {
  readonly labels: Labels
  value: V
}

interface HistogramValue {
  readonly counts: Array<number>
  sum: number
  count: number
}

/** Seconds; spans a sub-millisecond pass-through to a multi-second image render. */
export const DEFAULT_BUCKETS: ReadonlyArray<number> = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60
]

export interface Counter {
  readonly inc: (labels: Labels, by?: number) => void
  readonly get: (labels: Labels) => number
}
export interface Gauge {
  readonly set: (labels: Labels, value: number) => void
  readonly get: (labels: Labels) => number
}
export interface Histogram {
  readonly observe: (labels: Labels, value: number, times?: number) => void
  /** Approximate quantile from the buckets (upper bound of the bucket holding it). */
  readonly quantile: (labels: Labels, q: number) => number | null
}

interface Family {
  readonly name: string
  readonly help: string
  readonly type: "counter" | "gauge" | "histogram"
  readonly buckets?: ReadonlyArray<number>
  readonly series: Map<string, Series<number> | Series<HistogramValue>>
}

export class MetricsRegistry {
  private readonly families = new Map<string, Family>()

  private family(name: string, help: string, type: Family["type"], buckets?: ReadonlyArray<number>): Family {
    let f = this.families.get(name)
    if (f === undefined) {
      f = { name, help, type, series: new Map(), ...(buckets ? { buckets } : {}) }
      this.families.set(name, f)
    } else if (f.type !== type) {
      throw new Error(`metric ${name} is already registered as a ${f.type}`)
    }
    return f
  }

  counter(name: string, help: string): Counter {
    const f = this.family(name, help, "counter")
    const series = f.series as Map<string, Series<number>>
    return {
      inc: (labels, by = 1) => {
        const key = labelKey(labels)
        const s = series.get(key)
        if (s === undefined) series.set(key, { labels, value: by })
        else s.value += by
      },
      get: (labels) => series.get(labelKey(labels))?.value ?? 0
    }
  }

  gauge(name: string, help: string): Gauge {
    const f = this.family(name, help, "gauge")
    const series = f.series as Map<string, Series<number>>
    return {
      set: (labels, value) => {
        const key = labelKey(labels)
        const s = series.get(key)
        if (s === undefined) series.set(key, { labels, value })
        else s.value = value
      },
      get: (labels) => series.get(labelKey(labels))?.value ?? 0
    }
  }

  histogram(name: string, help: string, buckets: ReadonlyArray<number> = DEFAULT_BUCKETS): Histogram {
    const f = this.family(name, help, "histogram", buckets)
    const bounds = f.buckets!
    const series = f.series as Map<string, Series<HistogramValue>>
    const valueOf = (labels: Labels) => {
      const key = labelKey(labels)
      let s = series.get(key)
      if (s === undefined) {
        s = { labels, value: { counts: bounds.map(() => 0), sum: 0, count: 0 } }
        series.set(key, s)
      }
      return s.value
    }
    return {
      observe: (labels, value, times = 1) => {
        const h = valueOf(labels)
        for (let i = 0; i < bounds.length; i++) {
          if (value <= bounds[i]!) {
            h.counts[i]! += times
            break
          }
        }
        h.sum += value * times
        h.count += times
      },
      quantile: (labels, q) => {
        const h = series.get(labelKey(labels))?.value
        if (h === undefined || h.count === 0) return null
        const rank = q * h.count
        let seen = 0
        for (let i = 0; i < bounds.length; i++) {
          seen += h.counts[i]!
          if (seen >= rank) return bounds[i]!
        }
        return Infinity
      }
    }
  }

  /** Prometheus text exposition format 0.0.4. */
  render(): string {
    const lines: Array<string> = []
    for (const f of this.families.values()) {
      lines.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`)
      for (const [key, s] of f.series) {
        if (f.type !== "histogram") {
          lines.push(`${f.name}${key ? `{${key}}` : ""} ${formatNumber(s.value as number)}`)
          continue
        }
        const h = s.value as HistogramValue
        let cumulative = 0
        const sep = key ? "," : ""
        f.buckets!.forEach((bound, i) => {
          cumulative += h.counts[i]!
          lines.push(`${f.name}_bucket{${key}${sep}le="${bound}"} ${cumulative}`)
        })
        lines.push(`${f.name}_bucket{${key}${sep}le="+Inf"} ${h.count}`)
        lines.push(`${f.name}_sum${key ? `{${key}}` : ""} ${formatNumber(h.sum)}`)
        lines.push(`${f.name}_count${key ? `{${key}}` : ""} ${h.count}`)
      }
    }
    return lines.join("\n") + "\n"
  }
}

const formatNumber = (n: number) => (Number.isFinite(n) ? String(n) : n > 0 ? "+Inf" : n < 0 ? "-Inf" : "NaN")

/** The runtime's own instruments, shared by the worker loop, the HTTP server and the UI snapshot. */
export const makeRuntimeMetrics = (registry: MetricsRegistry) => ({
  registry,
  processed: registry.counter("desainz_operator_processed_total", "Entries an operator handled successfully"),
  failed: registry.counter("desainz_operator_failed_total", "Failed processing attempts (retried or dead-lettered)"),
  retried: registry.counter("desainz_operator_retried_total", "Entries scheduled for another attempt"),
  deadLettered: registry.counter("desainz_operator_dead_lettered_total", "Entries moved to the operator's dead-letter stream"),
  emitted: registry.counter("desainz_node_emitted_total", "Entries a source or operator wrote to its output streams"),
  claimed: registry.counter("desainz_operator_claimed_total", "Entries taken over from an idle consumer (XAUTOCLAIM)"),
  processingSeconds: registry.histogram("desainz_operator_processing_seconds", "Time from read to commit, per entry"),
  backpressured: registry.gauge("desainz_node_backpressured", "1 while a node waits for its output backlog to drain"),
  polls: registry.counter("desainz_source_polls_total", "Source polls"),
  transportErrors: registry.counter("desainz_transport_errors_total", "Failed transport round trips (retried)"),
  dlqTrimmed: registry.counter("desainz_dlq_trimmed_total", "Dead letters dropped by the retention policy (DLQ_MAX_LEN, DLQ_MAX_AGE_HOURS)")
})
export type RuntimeMetrics = ReturnType<typeof makeRuntimeMetrics>

export class Metrics extends Context.Tag("desainz/Metrics")<Metrics, RuntimeMetrics>() {
  static readonly layer = Layer.sync(Metrics, () => makeRuntimeMetrics(new MetricsRegistry()))
}

/** Records into a histogram of the process registry, e.g. `signal_to_publish_seconds` from an operator. */
export const observe = (name: string, help: string, labels: Labels, value: number, buckets?: ReadonlyArray<number>) =>
  Effect.map(Metrics, (m) => m.registry.histogram(name, help, buckets).observe(labels, value))
