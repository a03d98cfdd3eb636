/**
 * The feedback loop's decisions: A/B experiments and the variant shown per period, the
 * daily promotion allocation, learner runs, and alert state (which must survive restarts).
 */
import { Effect } from "effect"
import { attempt, type SqlError } from "../../runtime/sql.ts"
import type { Db } from "./db.ts"

export interface ExperimentVariant {
  readonly key: string
  readonly label: string
  /** Etsy: the listing image made primary while this variant is shown. */
  readonly imageId?: string | undefined
}

export interface Experiment {
  readonly id: string
  readonly listingId: string
  readonly name: string
  readonly metric: "ctr" | "conversion"
  readonly variants: ReadonlyArray<ExperimentVariant>
  readonly threshold: number
  readonly horizonDays: number
  readonly periodHours: number
  readonly seed: number
  readonly status: "running" | "stopped"
  readonly startedAt: Date
  readonly endedAt: Date | null
  readonly winner: string | null
  readonly stopReason: string | null
  /** Per variant: alpha, beta, trials, successes, pBest; as of the last step. */
  readonly posterior: Readonly<Record<string, unknown>>
}

export interface ExperimentPeriod {
  readonly startsAt: Date
  readonly variant: string
}

export interface AllocationRow {
  readonly day: string
  readonly listingId: string
  readonly share: number
  readonly amountCents: number
  readonly pBest: number
  readonly alpha: number
  readonly beta: number
}

export interface LearnerRun {
  readonly day: string
  readonly outcome: string
  readonly items: number
  readonly promotedVersion: number | null
  readonly reason: string
  readonly figures: Readonly<Record<string, unknown>>
  readonly ranAt?: Date
}

export interface AlertState {
  readonly name: string
  readonly open: boolean
  readonly lastSentAt: Date | null
  readonly lastValue: number | null
}

export interface ExperimentsStore {
  /** A new experiment and its first period; a known id changes nothing. Returns whether it was new. */
  readonly createExperiment: (experiment: Experiment, first: ExperimentPeriod) => Effect.Effect<boolean, SqlError>
  readonly experiments: (status?: "running" | "stopped") => Effect.Effect<ReadonlyArray<Experiment>, SqlError>
  readonly experimentPeriods: (experimentId: string) => Effect.Effect<ReadonlyArray<ExperimentPeriod>, SqlError>
  /** Records the next period (idempotent by its start) and the posterior it was chosen from. */
  readonly addExperimentPeriod: (experimentId: string, period: ExperimentPeriod, posterior: Readonly<Record<string, unknown>>) => Effect.Effect<void, SqlError>
  readonly stopExperiment: (
    experimentId: string,
    stop: { readonly endedAt: Date; readonly winner: string | null; readonly reason: string; readonly posterior: Readonly<Record<string, unknown>> }
  ) => Effect.Effect<void, SqlError>
  /** Replaces a day's allocation (the same day computed again gives the same rows). */
  readonly saveAllocation: (day: string, rows: ReadonlyArray<AllocationRow>) => Effect.Effect<void, SqlError>
  /** The allocation of the given days (all days when empty), newest day first. */
  readonly allocations: (days?: number) => Effect.Effect<ReadonlyArray<AllocationRow>, SqlError>
  /** One run per day: a second run of the same day changes nothing and returns false. */
  readonly recordLearnerRun: (run: LearnerRun) => Effect.Effect<boolean, SqlError>
  readonly learnerRuns: (limit: number) => Effect.Effect<ReadonlyArray<LearnerRun>, SqlError>
  readonly alertState: (name: string) => Effect.Effect<AlertState | null, SqlError>
  readonly saveAlertState: (state: AlertState) => Effect.Effect<void, SqlError>
  /** Mean and count of (published_at - signal event time) in seconds, over listings published in [from, to). */
  readonly signalToPublish: (from: Date, to: Date) => Effect.Effect<{ readonly mean: number | null; readonly count: number }, SqlError>
}

const isoDay = (d: unknown) => (d instanceof Date ? d.toISOString().slice(0, 10) : String(d).slice(0, 10))

export const makeExperimentsStore = ({ sql, json }: Db): ExperimentsStore => {
  const columns = `id, listing_id as "listingId", name, metric, variants, threshold, horizon_days as "horizonDays",
    period_hours as "periodHours", seed, status, started_at as "startedAt", ended_at as "endedAt", winner,
    stop_reason as "stopReason", posterior`

  const createExperiment: ExperimentsStore["createExperiment"] = (e, first) =>
    attempt("create experiment", () =>
      sql.begin(async (tx) => {
        const result = await tx`insert into experiments
            (id, listing_id, name, metric, variants, threshold, horizon_days, period_hours, seed, status, started_at)
          values (${e.id}, ${e.listingId}, ${e.name}, ${e.metric}, ${json(e.variants)}, ${e.threshold}, ${e.horizonDays},
                  ${e.periodHours}, ${e.seed}, 'running', ${e.startedAt})
          on conflict (id) do nothing`
        if (result.count === 0) return false
        await tx`insert into experiment_periods (experiment_id, starts_at, variant) values (${e.id}, ${first.startsAt}, ${first.variant})`
        return true
      })
    )

  const experiments: ExperimentsStore["experiments"] = (status) =>
    attempt("read experiments", async () => {
      const rows = status === undefined
        ? await sql`select ${sql.unsafe(columns)} from experiments order by started_at desc`
        : await sql`select ${sql.unsafe(columns)} from experiments where status = ${status} order by started_at desc`
      return rows.map((r) => ({ ...(r as unknown as Experiment), threshold: Number(r["threshold"]) }))
    })

  const experimentPeriods: ExperimentsStore["experimentPeriods"] = (experimentId) =>
    attempt("read experiment periods", async () => {
      const rows = await sql<Array<ExperimentPeriod>>`
        select starts_at as "startsAt", variant from experiment_periods where experiment_id = ${experimentId} order by starts_at`
      return rows.map((r) => ({ ...r }))
    })

  const addExperimentPeriod: ExperimentsStore["addExperimentPeriod"] = (experimentId, period, posterior) =>
    attempt("add experiment period", () =>
      sql.begin(async (tx) => {
        await tx`insert into experiment_periods (experiment_id, starts_at, variant) values (${experimentId}, ${period.startsAt}, ${period.variant})
          on conflict do nothing`
        await tx`update experiments set posterior = ${json(posterior)} where id = ${experimentId}`
      })
    ).pipe(Effect.asVoid)

  const stopExperiment: ExperimentsStore["stopExperiment"] = (experimentId, stop) =>
    attempt("stop experiment", () =>
      sql`update experiments set status = 'stopped', ended_at = ${stop.endedAt}, winner = ${stop.winner},
          stop_reason = ${stop.reason}, posterior = ${json(stop.posterior)} where id = ${experimentId} and status = 'running'`
    ).pipe(Effect.asVoid)

  const saveAllocation: ExperimentsStore["saveAllocation"] = (day, rows) =>
    attempt("save allocation", () =>
      sql.begin(async (tx) => {
        await tx`delete from promotion_allocations where day = ${day}`
        if (rows.length === 0) return
        await tx`insert into promotion_allocations ${tx(
          rows.map((r) => ({ day, listing_id: r.listingId, share: r.share, amount_cents: r.amountCents, p_best: r.pBest, alpha: r.alpha, beta: r.beta })),
          "day", "listing_id", "share", "amount_cents", "p_best", "alpha", "beta"
        )}`
      })
    ).pipe(Effect.asVoid)

  const allocations: ExperimentsStore["allocations"] = (days = 14) =>
    attempt("read allocations", async () => {
      const rows = await sql`
        select day, listing_id as "listingId", share, amount_cents as "amountCents", p_best as "pBest", alpha, beta
        from promotion_allocations
        where day in (select distinct day from promotion_allocations order by day desc limit ${days})
        order by day desc, share desc`
      return rows.map((r) => ({
        day: isoDay(r["day"]),
        listingId: String(r["listingId"]),
        share: Number(r["share"]),
        amountCents: Number(r["amountCents"]),
        pBest: Number(r["pBest"]),
        alpha: Number(r["alpha"]),
        beta: Number(r["beta"])
      }))
    })

  const recordLearnerRun: ExperimentsStore["recordLearnerRun"] = (run) =>
    attempt("record learner run", async () => {
      const result = await sql`insert into learner_runs (day, outcome, items, promoted_version, reason, figures)
        values (${run.day}, ${run.outcome}, ${run.items}, ${run.promotedVersion}, ${run.reason}, ${json(run.figures)})
        on conflict (day) do nothing`
      return result.count === 1
    })

  const learnerRuns: ExperimentsStore["learnerRuns"] = (limit) =>
    attempt("read learner runs", async () => {
      const rows = await sql`select day, ran_at as "ranAt", outcome, items, promoted_version as "promotedVersion", reason, figures
        from learner_runs order by day desc limit ${limit}`
      return rows.map((r) => ({
        day: isoDay(r["day"]),
        ranAt: r["ranAt"] as Date,
        outcome: String(r["outcome"]),
        items: Number(r["items"]),
        promotedVersion: r["promotedVersion"] === null ? null : Number(r["promotedVersion"]),
        reason: String(r["reason"]),
        figures: r["figures"] as Record<string, unknown>
      }))
    })

  const alertState: ExperimentsStore["alertState"] = (name) =>
    attempt("read alert state", async () => {
      const [row] = await sql`select name, open, last_sent_at as "lastSentAt", last_value as "lastValue" from alert_state where name = ${name}`
      if (row === undefined) return null
      return {
        name: String(row["name"]),
        open: row["open"] === true,
        lastSentAt: (row["lastSentAt"] as Date | null) ?? null,
        lastValue: row["lastValue"] === null ? null : Number(row["lastValue"])
      }
    })

  const saveAlertState: ExperimentsStore["saveAlertState"] = (s) =>
    attempt("save alert state", () =>
      sql`insert into alert_state (name, open, last_sent_at, last_value, updated_at)
        values (${s.name}, ${s.open}, ${s.lastSentAt}, ${s.lastValue}, now())
        on conflict (name) do update set open = excluded.open, last_sent_at = excluded.last_sent_at,
          last_value = excluded.last_value, updated_at = now()`
    ).pipe(Effect.asVoid)

  const signalToPublish: ExperimentsStore["signalToPublish"] = (from, to) =>
    attempt("read signal to publish", async () => {
      const [row] = await sql`
        select avg(extract(epoch from (l.published_at - s.captured_at)))::float8 as mean, count(*)::int as count
        from listings l join ideas i on i.id = l.idea_id join signals s on s.id = i.signal_id
        where l.published_at >= ${from} and l.published_at < ${to}`
      return { mean: row?.["mean"] == null ? null : Number(row["mean"]), count: Number(row?.["count"] ?? 0) }
    })

  return {
    createExperiment,
    experiments,
    experimentPeriods,
    addExperimentPeriod,
    stopExperiment,
    saveAllocation,
    allocations,
    recordLearnerRun,
    learnerRuns,
    alertState,
    saveAlertState,
    signalToPublish
  }
}
