/**
 * Scoring weights: versioned sets; scorers read the newest promoted one.
 */
import { Effect, Schema } from "effect"
import { PermanentError } from "../../runtime/errors.ts"
import { attempt, type SqlError } from "../../runtime/sql.ts"
import { Weights } from "../schemas.ts"
import { decodeRows, Instant, validate, type Db } from "./db.ts"

export const WeightsVersion = Schema.Struct({
  version: Schema.Int,
  weights: Weights,
  note: Schema.String,
  promoted: Schema.Boolean,
  createdAt: Instant
})
export type WeightsVersion = typeof WeightsVersion.Type

export const NewWeights = Schema.Struct({
  weights: Weights,
  note: Schema.String,
  promoted: Schema.Boolean
})
export type NewWeights = typeof NewWeights.Type

/** The weights scorers use until a learned set is promoted: recency and engagement only. */
export const DEFAULT_WEIGHTS: Weights = { freshness: 0.5, engagement: 0.5, novelty: 0, communityFit: 0, seasonality: 0 }

const weightsColumns = `version, weights, note, promoted, created_at as "createdAt"`

export interface WeightsStore {
  /** The newest promoted weight set; seeds DEFAULT_WEIGHTS as version 1 on an empty table. */
  readonly currentWeights: () => Effect.Effect<WeightsVersion, SqlError>
  /** Returns the new version number. */
  readonly insertWeights: (weights: NewWeights) => Effect.Effect<number, SqlError>
  /** Every version, newest first. */
  readonly weightVersions: (limit: number) => Effect.Effect<ReadonlyArray<WeightsVersion>, SqlError>
}

export const makeWeightsStore = ({ sql, json }: Db): WeightsStore => {
  const checkWeights = validate(NewWeights, "insertWeights")
  const decodeWeights = decodeRows(WeightsVersion, "currentWeights")
  const latestPromoted = () =>
    sql`select ${sql.unsafe(weightsColumns)} from scoring_weights where promoted order by version desc limit 1`

  const currentWeights: WeightsStore["currentWeights"] = () =>
    Effect.gen(function* () {
      let rows = yield* attempt("read current weights", latestPromoted)
      if (rows.length === 0) {
        // Replicas starting together must seed once: the lock makes the second one see the first's row.
        rows = yield* attempt("seed default weights", () =>
          sql.begin(async (tx) => {
            await tx`select pg_advisory_xact_lock(hashtext('desainz.scoring_weights.seed'))`
            const existing = await tx`select ${tx.unsafe(weightsColumns)} from scoring_weights where promoted order by version desc limit 1`
            if (existing.length > 0) return existing
            return tx`insert into scoring_weights (weights, note, promoted)
              values (${json(DEFAULT_WEIGHTS)}, 'default: freshness and engagement', true)
              returning ${tx.unsafe(weightsColumns)}`
          })
        )
      }
      const [current] = yield* decodeWeights(rows)
      if (current === undefined) return yield* new PermanentError({ message: "currentWeights: seeding returned no row" })
      return current
    })

  const insertWeights: WeightsStore["insertWeights"] = (input) =>
    Effect.flatMap(checkWeights(input), (w) =>
      attempt("insert weights", async () => {
        const [row] = await sql<Array<{ version: number }>>`
          insert into scoring_weights (weights, note, promoted) values (${json(w.weights)}, ${w.note}, ${w.promoted})
          returning version`
        if (row === undefined) throw new PermanentError({ message: "insertWeights: insert returned no row" })
        return row.version
      })
    )

  const decodeVersions = decodeRows(WeightsVersion, "weightVersions")
  const weightVersions: WeightsStore["weightVersions"] = (limit) =>
    Effect.flatMap(
      attempt("read weight versions", () => sql`select ${sql.unsafe(weightsColumns)} from scoring_weights order by version desc limit ${limit}`),
      decodeVersions
    )

  return { currentWeights, insertWeights, weightVersions }
}
