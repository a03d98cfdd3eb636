/**
 * Backtest runs: recorded when a run starts and again when it ends, under the same id.
 */
import { Effect, Schema } from "effect"
import { attempt, type SqlError } from "../../runtime/sql.ts"
import { Instant, JsonObject, validate, type Db } from "./db.ts"

/** Recorded when a backtest starts (no `finishedAt`) and again when it ends, under the same id. */
export const BacktestRun = Schema.Struct({
  id: Schema.UUID,
  startedAt: Instant,
  finishedAt: Schema.NullOr(Instant),
  params: JsonObject,
  results: JsonObject,
  winner: Schema.NullOr(JsonObject)
})
export type BacktestRun = typeof BacktestRun.Type

export interface BacktestsStore {
  /** Returns 1 when the run is new, 0 when it updated the run's earlier record. */
  readonly recordBacktestRun: (run: BacktestRun) => Effect.Effect<number, SqlError>
}

export const makeBacktestsStore = ({ sql, json, insertedCount }: Db): BacktestsStore => {
  const checkBacktest = validate(BacktestRun, "recordBacktestRun")

  const recordBacktestRun: BacktestsStore["recordBacktestRun"] = (input) =>
    Effect.flatMap(checkBacktest(input), (run) =>
      attempt("record backtest run", async () => {
        const result = await sql`
          insert into backtest_runs (id, started_at, finished_at, params, results, winner)
          values (${run.id}, ${run.startedAt}, ${run.finishedAt}, ${json(run.params)}, ${json(run.results)},
                  ${run.winner === null ? null : json(run.winner)})
          on conflict (id) do update set
            finished_at = excluded.finished_at, results = excluded.results, winner = excluded.winner
          returning (xmax = 0) as inserted`
        return insertedCount(result)
      })
    )

  return { recordBacktestRun }
}
