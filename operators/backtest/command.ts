/**
 * `desainz backtest`: replays a recorded stream through the scoring code in-process,
 * scores it with several weight sets in one pass, measures each against real outcomes
 * (NDCG@k, precision@k, Spearman, on a train and a validation part split by event time),
 * optionally searches for better weights, records the run in `backtest_runs`, and with
 * `--promote` stores the winner as the new weight version if it beats the current one on
 * validation. The table goes to stdout (`--json` for machine output), progress to stderr.
 */
import { writeFile } from "node:fs/promises"
import { parseArgs } from "node:util"
import { Clock, Effect, Layer, Option, Schema } from "effect"
import type { BlobStore } from "../../runtime/blobs.ts"
import { transportLayer, RuntimeConfig } from "../../runtime/config.ts"
import { newEventId } from "../../runtime/envelope.ts"
import type { Command, StreamDef } from "../../runtime/topology.ts"
import { UsageError } from "../../runtime/topology.ts"
import type { DedupeConfig } from "../ingest/dedupe.ts"
import type { Embedder } from "../scoring/embedder.ts"
import { signalIdOf } from "../ids.ts"
import { contentHash } from "../ingest/normalize.ts"
import { RecordingFormat } from "../sources/recordings.ts"
import { FACTOR_NAMES, type Signal, Weights } from "../schemas.ts"
import { combine, ScoringConfig } from "../scoring/scorer.ts"
import { Store } from "../store/store.ts"
import { DEFAULT_WEIGHTS } from "../store/weights.ts"
import { baselineScores } from "./baselines.ts"
import { type BaselineResult, type Cohort, type Evaluation, evaluateWeightSets, type EvaluatedItem, feedbackOutcome, type SetResult, youtubeOutcome } from "./evaluate.ts"
import { fromArchive, fromFile, fromStream } from "./inputs.ts"
import type { RankingMetrics } from "./metrics.ts"
import { replay, type ReplayedItem } from "./rescore.ts"
import type { SearchMode } from "./search.ts"

const USAGE = `usage: desainz backtest (--file PATH [--format jsonl|csv|youtube-trending] | --stream NAME | --archive [--from DAY] [--to DAY])
                        [--search random|coordinate] [--trials N] [--seed N] [--split F] [--k N] [--cohort day|all]
                        [--weights JSON ...] [--batch N] [--limit N] [--out FILE.jsonl] [--json] [--promote]

  --file PATH        a recording; --format as the replay source reads it (default jsonl)
  --stream NAME      a retained stream on Redis (REDIS_URL), e.g. signals.enriched
  --archive          raw signals archived in the blob store; --from/--to YYYY-MM-DD
  --search MODE      look for better weights: random (uniform on the simplex) or coordinate
  --trials N         weight sets the search evaluates (default 200); --seed N (default 1)
  --split F          share of the event-time span that trains; the rest validates (default 0.7)
  --k N              cut-off of NDCG@k and precision@k (default 10)
  --cohort day|all   rank within each event-time day (default) or all together
  --weights JSON     another weight set to compare, e.g. '{"freshness":0.2,"engagement":0.8,...}'
  --batch N          signals per scoring batch (default 200); --limit N: the first N signals only
  --out FILE         one JSON line per scored signal: id, event time, scores, factors, outcome
  --json             the report as JSON on stdout instead of a table
  --promote          store the winner as a new weight version if it beats the current on validation`

const options = {
  file: { type: "string" },
  format: { type: "string", default: "jsonl" },
  stream: { type: "string" },
  archive: { type: "boolean", default: false },
  from: { type: "string" },
  to: { type: "string" },
  search: { type: "string" },
  trials: { type: "string", default: "200" },
  seed: { type: "string", default: "1" },
  split: { type: "string", default: "0.7" },
  k: { type: "string", default: "10" },
  cohort: { type: "string", default: "day" },
  weights: { type: "string", multiple: true },
  batch: { type: "string", default: "200" },
  limit: { type: "string" },
  out: { type: "string" },
  json: { type: "boolean", default: false },
  promote: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false }
} as const

const int = (name: string, value: string, min: number): number => {
  const n = Number(value)
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be a whole number >= ${min}, got "${value}"`)
  return n
}

const oneOf = <const A extends ReadonlyArray<string>>(name: string, value: string, allowed: A): A[number] => {
  if (!allowed.includes(value)) throw new UsageError(`--${name} must be one of ${allowed.join(", ")}, got "${value}"`)
  return value
}

const DAY_ARG = /^\d{4}-\d{2}-\d{2}$/
const decodeWeights = Schema.decodeUnknownEither(Schema.parseJson(Weights))

export interface BacktestArgs {
  readonly input:
    | { readonly _tag: "File"; readonly path: string; readonly format: RecordingFormat }
    | { readonly _tag: "Stream"; readonly name: string }
    | { readonly _tag: "Archive"; readonly from?: string | undefined; readonly to?: string | undefined }
  readonly search?: { readonly mode: SearchMode; readonly trials: number; readonly seed: number } | undefined
  readonly split: number
  readonly k: number
  readonly cohort: Cohort
  readonly weights: ReadonlyArray<Weights>
  readonly batch: number
  readonly limit?: number | undefined
  readonly out?: string | undefined
  readonly json: boolean
  readonly promote: boolean
}

/** Parses the command line; throws a UsageError naming the option. */
export const parseBacktestArgs = (argv: ReadonlyArray<string>): BacktestArgs | "help" => {
  let v
  try {
    v = parseArgs({ args: [...argv], options, allowPositionals: false, strict: true }).values
  } catch (e) {
    throw new UsageError(`${e instanceof Error ? e.message : String(e)}\n\n${USAGE}`)
  }
  if (v.help) return "help"
  const sources = [v.file !== undefined, v.stream !== undefined, v.archive].filter(Boolean).length
  if (sources !== 1) throw new UsageError(`give exactly one of --file, --stream or --archive\n\n${USAGE}`)
  for (const [name, day] of [["from", v.from], ["to", v.to]] as const) {
    if (day !== undefined && !DAY_ARG.test(day)) throw new UsageError(`--${name} must be a day like 2026-11-20, got "${day}"`)
  }
  const split = Number(v.split)
  if (!(split > 0 && split < 1)) throw new UsageError(`--split must be a number between 0 and 1 (exclusive), got "${v.split}"`)
  const weights = (v.weights ?? []).map((raw) => {
    const decoded = decodeWeights(raw)
    if (decoded._tag === "Left") throw new UsageError(`--weights must be JSON with ${FACTOR_NAMES.join(", ")}, got ${raw}`)
    return decoded.right
  })
  return {
    input:
      v.file !== undefined
        ? { _tag: "File", path: v.file, format: oneOf("format", v.format, RecordingFormat.literals) }
        : v.stream !== undefined
          ? { _tag: "Stream", name: v.stream }
          : { _tag: "Archive", from: v.from, to: v.to },
    search:
      v.search === undefined
        ? undefined
        : { mode: oneOf("search", v.search, ["random", "coordinate"] as const), trials: int("trials", v.trials, 1), seed: int("seed", v.seed, 0) },
    split,
    k: int("k", v.k, 1),
    cohort: oneOf("cohort", v.cohort, ["day", "all"] as const),
    weights,
    batch: int("batch", v.batch, 1),
    limit: v.limit === undefined ? undefined : int("limit", v.limit, 1),
    out: v.out,
    json: v.json,
    promote: v.promote
  }
}

// ---------------------------------------------------------------------------------------
// Progress and output

/** A bar redrawn in place on a terminal; on a pipe or file, a plain line every quarter. */
const progress = (total: number, label: string) => {
  const tty = process.stderr.isTTY === true
  let shown = -1
  return (done: number) => {
    const share = total === 0 ? 1 : done / total
    if (tty) {
      const percent = Math.floor(share * 100)
      if (percent === shown && done < total) return
      shown = percent
      const width = 30
      const filled = Math.round(share * width)
      process.stderr.write(`\r${label} [${"#".repeat(filled)}${" ".repeat(width - filled)}] ${percent}% ${done}/${total}${done >= total ? "\n" : ""}`)
    } else {
      const quarter = Math.floor(share * 4)
      if (quarter === shown) return
      shown = quarter
      process.stderr.write(`${label}: ${done}/${total} signals\n`)
    }
  }
}

const fixed = (x: number | null, digits = 3) => (x === null ? "-" : x.toFixed(digits))

const row = (cells: ReadonlyArray<string>, widths: ReadonlyArray<number>) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ")

export const renderTable = (report: BacktestReport): string => {
  const { evaluation: e, k } = report
  const head = ["weight set", ...FACTOR_NAMES.map((f) => f.slice(0, 6)), `tr NDCG@${k}`, `tr P@${k}`, "tr rho", `va NDCG@${k}`, `va P@${k}`, "va rho"]
  const line = (s: SetResult) => [
    s.name,
    ...FACTOR_NAMES.map((f) => s.weights[f].toFixed(2)),
    fixed(s.train.ndcg),
    fixed(s.train.precision),
    fixed(s.train.spearman),
    fixed(s.validation.ndcg),
    fixed(s.validation.precision),
    fixed(s.validation.spearman)
  ]
  const baselineLine = (b: BaselineResult) => [
    b.name,
    ...FACTOR_NAMES.map(() => "-"),
    fixed(b.train.ndcg),
    fixed(b.train.precision),
    fixed(b.train.spearman),
    fixed(b.validation.ndcg),
    fixed(b.validation.precision),
    fixed(b.validation.spearman)
  ]
  const rows = [head, ...e.sets.map(line), ...e.baselines.map(baselineLine)]
  const widths = head.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  const m = (x: RankingMetrics) => `${x.items} signals in ${x.cohorts} cohort${x.cohorts === 1 ? "" : "s"}`
  return [
    `backtest ${report.source}: ${report.signals} signals replayed, ${report.duplicates} duplicates dropped, ${report.merged} merged, ${report.late} late; ${report.evaluated} with an outcome (${report.outcome})`,
    `split at ${e.splitAt ?? "-"}: train ${m(e.current.train)}, validation ${m(e.current.validation)}; ranked per ${report.cohort}`,
    "",
    row(rows[0]!, widths),
    ...rows.slice(1).map((r) => row(r, widths)),
    "",
    ...e.baselines.map((b) => {
      const ahead = (x: number | null, y: number | null) => x !== null && (y === null || x > y)
      const both = ahead(e.current.validation.ndcg, b.validation.ndcg) && ahead(e.current.validation.spearman, b.validation.spearman)
      return `vs ${b.name} on validation: the current weights ${both ? "are ahead in both" : "are NOT ahead in both"} NDCG@${k} and rho`
    }),
    `winner on train: ${e.winner.name}; validation NDCG@${k} ${fixed(e.winner.validation.ndcg)} vs current ${fixed(e.current.validation.ndcg)}: ${e.beatsCurrent ? "beats" : "does not beat"} the current weights`,
    report.promotion
  ].join("\n")
}

// ---------------------------------------------------------------------------------------
// The run

export interface BacktestReport {
  readonly runId: string
  readonly source: string
  readonly outcome: string
  readonly cohort: Cohort
  readonly k: number
  readonly signals: number
  readonly duplicates: number
  readonly unusable: number
  readonly merged: number
  readonly late: number
  readonly evaluated: number
  readonly evaluation: Evaluation
  /** What `--promote` did, in words. */
  readonly promotion: string
  readonly promotedVersion: number | null
}

/** One `--out` line: stable keys, written in replay order, so two runs compare byte for byte. */
const outLine = (item: ReplayedItem, sets: ReadonlyArray<SetResult>, outcome: number | undefined) =>
  JSON.stringify({
    id: item.key,
    ideaId: item.ideaId,
    eventTime: new Date(item.at).toISOString(),
    scores: { ...Object.fromEntries(sets.map((s) => [s.name, combine(item.factors, s.weights)])), ...baselineScores(item.signal) },
    factors: item.factors,
    details: item.details,
    mergedInto: item.mergeInto?.ideaId ?? null,
    outcome: outcome ?? null
  })

export interface BacktestOptions {
  /** The topology's name: stream keys live under it. */
  readonly topology: string
  /** The score operator's input, the stream `--stream` replays by default. */
  readonly input: StreamDef<Signal>
  /** The score operator's scoring config and the dedupe operator's config, as in topology.ts. */
  readonly scoring: typeof ScoringConfig.Encoded
  readonly dedupe: typeof DedupeConfig.Encoded
}

/** Runs a parsed backtest; needs the store and the embedder (blob store for `--archive`). */
export const runBacktest = (args: BacktestArgs, options: BacktestOptions) =>
  Effect.gen(function* () {
    const store = yield* Store
    const scoring = Schema.decodeUnknownSync(ScoringConfig)(options.scoring)
    const runId = newEventId()
    const startedAt = new Date(yield* Clock.currentTimeMillis)
    const input = args.input
    const source =
      input._tag === "File"
        ? `${input.path} (${input.format})`
        : input._tag === "Stream"
          ? `stream ${input.name}`
          : `archive ${input.from ?? "start"}..${input.to ?? "end"}`
    const params = { ...args, source, scoring: options.scoring, dedupe: options.dedupe }
    yield* store.recordBacktestRun({ id: runId, startedAt, finishedAt: null, params, results: {}, winner: null })

    const loaded =
      input._tag === "File"
        ? yield* Effect.try({ try: () => fromFile(input.path, input.format), catch: (e) => e })
        : input._tag === "Stream"
          ? yield* streamItems(options, input.name)
          : yield* fromArchive(input)
    const records = args.limit === undefined ? loaded : loaded.slice(0, args.limit)
    const replayed = yield* replay(records, {
      scoring,
      dedupe: options.dedupe,
      batchSize: args.batch,
      onProgress: progress(records.length, "backtest")
    })

    // Outcomes: the recording's own where it has them, else marketplace feedback.
    const fromRecording = replayed.items.some((i) => i.outcome !== undefined)
    const signalIdOfItem = (i: ReplayedItem) => signalIdOf(i.signal.contentHash ?? contentHash(i.signal))
    const feedback = fromRecording ? new Map() : yield* store.feedbackBySignal([...new Set(replayed.items.map(signalIdOfItem))])
    const outcomeOf = (i: ReplayedItem): number | undefined => {
      if (i.outcome !== undefined) return youtubeOutcome(i.signal, i.outcome)
      const totals = feedback.get(signalIdOfItem(i))
      return totals === undefined ? undefined : feedbackOutcome(totals)
    }
    const outcomes = replayed.items.map(outcomeOf)
    const evaluated: Array<EvaluatedItem> = replayed.items.flatMap((i, n) =>
      i.mergeInto === undefined && outcomes[n] !== undefined ? [{ id: i.key, at: i.at, factors: i.factors, outcome: outcomes[n]!, baselines: baselineScores(i.signal) }] : []
    )

    const current = yield* store.currentWeights()
    const sameAsDefault = FACTOR_NAMES.every((f) => current.weights[f] === DEFAULT_WEIGHTS[f])
    const evaluation = evaluateWeightSets(evaluated, {
      split: args.split,
      k: args.k,
      cohort: args.cohort,
      current: { name: `current v${current.version}${sameAsDefault ? " (default)" : ""}`, weights: current.weights },
      candidates: [{ name: "default", weights: DEFAULT_WEIGHTS }, ...args.weights.map((weights, i) => ({ name: `custom ${i + 1}`, weights }))],
      search: args.search
    })

    if (args.out !== undefined) {
      const lines = replayed.items.map((item, n) => outLine(item, evaluation.sets, outcomes[n]))
      yield* Effect.tryPromise({ try: () => writeFile(args.out!, lines.map((l) => `${l}\n`).join("")), catch: (e) => e })
    }

    let promotedVersion: number | null = null
    let promotion: string
    if (evaluation.winner === evaluation.current) promotion = "the current weights are the winner: nothing to promote"
    else if (!evaluation.beatsCurrent) promotion = `not promoted: ${evaluation.winner.name} does not beat the current weights on validation`
    else if (!args.promote) promotion = `not promoted (--promote not given): ${evaluation.winner.name} beats the current weights on validation`
    else {
      promotedVersion = yield* store.insertWeights({
        weights: evaluation.winner.weights,
        note: `backtest ${runId}: ${evaluation.winner.name}, validation NDCG@${args.k} ${fixed(evaluation.winner.validation.ndcg)} vs ${fixed(evaluation.current.validation.ndcg)}`,
        promoted: true
      })
      promotion = `promoted ${evaluation.winner.name} as weight version ${promotedVersion}`
    }

    const report: BacktestReport = {
      runId,
      source,
      outcome: fromRecording ? "log views growth after first appearance" : "log weighted marketplace feedback",
      cohort: args.cohort,
      k: args.k,
      signals: records.length,
      duplicates: replayed.duplicates,
      unusable: replayed.unusable,
      merged: replayed.items.filter((i) => i.mergeInto !== undefined).length,
      late: replayed.items.filter((i) => i.late).length,
      evaluated: evaluated.length,
      evaluation,
      promotion,
      promotedVersion
    }
    yield* store.recordBacktestRun({
      id: runId,
      startedAt,
      finishedAt: new Date(yield* Clock.currentTimeMillis),
      params,
      results: JSON.parse(JSON.stringify({ ...report, evaluation: { ...evaluation, winner: undefined, current: undefined } })),
      winner: { name: evaluation.winner.name, weights: evaluation.winner.weights, beatsCurrent: evaluation.beatsCurrent, promotedVersion }
    })
    return report
  })

const streamItems = (options: BacktestOptions, name: string) =>
  Effect.gen(function* () {
    const config = yield* RuntimeConfig
    if (Option.isNone(config.redisUrl)) return yield* Effect.fail(new UsageError("--stream reads a retained Redis stream: set REDIS_URL"))
    if (name !== options.input.name) {
      return yield* Effect.fail(new UsageError(`--stream ${name}: only the score operator's input (${options.input.name}) can be replayed`))
    }
    return yield* fromStream(options.topology, options.input).pipe(Effect.provide(transportLayer(config.redisUrl)))
  })

/** The `backtest` command, for a topology's `commands`; `services` provides the store and the embedder, as live. */
export const backtestCommand = (
  options: BacktestOptions,
  services: Layer.Layer<Store | Embedder | BlobStore, unknown>
): Command => ({
  summary: "replay recorded signals, compare scoring weights against outcomes, promote a better set",
  run: (argv) =>
    Effect.gen(function* () {
      const args = parseBacktestArgs(argv)
      if (args === "help") return yield* Effect.sync(() => process.stdout.write(`${USAGE}\n`))
      const report = yield* runBacktest(args, options).pipe(Effect.provide(services))
      yield* Effect.sync(() => process.stdout.write(`${args.json ? JSON.stringify(report, null, 2) : renderTable(report)}\n`))
    }).pipe(Effect.scoped)
})
