/**
 * Artwork: the mock-ups (and the print file they carry in their generation params) of each
 * idea; its generations (a refinement points at its parent) and their candidates with
 * their quality checks; the picked candidate and who picked it (a reviewer's pick stays until
 * they pick another; the checks' default pick follows the best candidate of every generation).
 */
import { Effect, Option, Schema } from "effect"
import { attempt, type SqlError } from "../../runtime/sql.ts"
import { PermanentError } from "../../runtime/errors.ts"
import { QualityChecks } from "../schemas.ts"
import { decodeRows, JsonObject, validate, type Db } from "./db.ts"

export const MockupVariant = Schema.Literal("front", "back", "colorway")

export const MockupRow = Schema.Struct({
  id: Schema.UUID,
  ideaId: Schema.UUID,
  blobUri: Schema.NonEmptyString,
  variant: MockupVariant,
  /** "" for the design's default garment colour. */
  colorway: Schema.String,
  generationParams: JsonObject
})
export type MockupRow = typeof MockupRow.Type

export const GenerationRow = Schema.Struct({
  id: Schema.UUID,
  ideaId: Schema.UUID,
  parentId: Schema.NullOr(Schema.UUID),
  instruction: Schema.NullOr(Schema.String),
  engine: Schema.Literal("procedural", "comfyui"),
  request: JsonObject
})
export type GenerationRow = typeof GenerationRow.Type

export const CandidateMockup = Schema.Struct({ variant: Schema.String, colorway: Schema.String, key: Schema.String, uri: Schema.String })

export const CandidateRow = Schema.Struct({
  id: Schema.UUID,
  generationId: Schema.UUID,
  ideaId: Schema.UUID,
  position: Schema.Int,
  seed: Schema.String,
  format: Schema.String,
  printFileKey: Schema.NonEmptyString,
  sha256: Schema.String,
  checks: QualityChecks
})
export type CandidateRow = typeof CandidateRow.Type

export type StoredCandidate = CandidateRow & { readonly mockups: ReadonlyArray<typeof CandidateMockup.Type>; readonly passed: boolean }

/** Who made an idea's pick. */
export const PickedBy = Schema.Literal("checks", "reviewer")
export type PickedBy = typeof PickedBy.Type

/** A generation with its candidates, for review. */
export interface GenerationView extends GenerationRow {
  readonly createdAt: Date
  readonly candidates: ReadonlyArray<StoredCandidate>
}

export interface ArtworkStore {
  /**
   * Mock-ups by (idea, variant, colorway): new ones inserted, a known one updated to the image
   * now under its key (a later generation's pick re-renders it) and kept otherwise. Returns
   * rows inserted or changed, so a redelivery writes nothing.
   */
  readonly upsertMockups: (rows: ReadonlyArray<MockupRow>) => Effect.Effect<number, SqlError>
  /** A generation; a known id is kept as it was. */
  readonly upsertGeneration: (row: GenerationRow) => Effect.Effect<void, SqlError>
  /** A candidate; a known (generation, position) is kept as it was (a redelivery renders the same). */
  readonly upsertCandidate: (row: CandidateRow) => Effect.Effect<void, SqlError>
  readonly setCandidateMockups: (candidateId: string, mockups: ReadonlyArray<typeof CandidateMockup.Type>) => Effect.Effect<void, SqlError>
  /** The reviewer's pick: kept until they pick another; false when it is not a candidate of that idea. */
  readonly pickCandidate: (ideaId: string, candidateId: string) => Effect.Effect<boolean, SqlError>
  /** The default pick (best by the checks); false, and nothing changes, when a reviewer has picked. */
  readonly pickDefault: (ideaId: string, candidateId: string) => Effect.Effect<boolean, SqlError>
  readonly pickedCandidate: (ideaId: string) => Effect.Effect<Option.Option<StoredCandidate & { readonly pickedBy: PickedBy }>, SqlError>
  /** Generations of the ideas with their candidates, oldest first. */
  readonly generationsOf: (ideaIds: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<GenerationView>, SqlError>
}

export const makeArtworkStore = ({ sql, json, batched }: Db): ArtworkStore => {
  const checkMockups = validate(Schema.Array(MockupRow), "upsertMockups")

  const upsertMockups: ArtworkStore["upsertMockups"] = (input) =>
    Effect.flatMap(checkMockups(input), (rows) => {
      const values = rows.map((r) => ({
        id: r.id,
        idea_id: r.ideaId,
        blob_uri: r.blobUri,
        variant: r.variant,
        colorway: r.colorway,
        generation_params: json(r.generationParams)
      }))
      return batched("upsert mockups", values, 6, async (part) => {
        const result = await sql`insert into mockups ${sql(part, "id", "idea_id", "blob_uri", "variant", "colorway", "generation_params")}
          on conflict (idea_id, variant, colorway) do update set blob_uri = excluded.blob_uri, generation_params = excluded.generation_params
          where (mockups.blob_uri, mockups.generation_params) is distinct from (excluded.blob_uri, excluded.generation_params)`
        return result.count
      })
    })

  const checkGeneration = validate(GenerationRow, "upsertGeneration")
  const upsertGeneration: ArtworkStore["upsertGeneration"] = (input) =>
    Effect.flatMap(checkGeneration(input), (r) =>
      attempt("upsert generation", async () => {
        await sql`insert into generations (id, idea_id, parent_id, instruction, engine, request)
          values (${r.id}, ${r.ideaId}, ${r.parentId}, ${r.instruction}, ${r.engine}, ${json(r.request)})
          on conflict (id) do nothing`
      })
    )

  const checkCandidate = validate(CandidateRow, "upsertCandidate")
  const upsertCandidate: ArtworkStore["upsertCandidate"] = (input) =>
    Effect.flatMap(checkCandidate(input), (r) =>
      attempt("upsert candidate", async () => {
        await sql`insert into candidates (id, generation_id, idea_id, position, seed, format, print_file_key, sha256, checks, passed)
          values (${r.id}, ${r.generationId}, ${r.ideaId}, ${r.position}, ${r.seed}, ${r.format}, ${r.printFileKey}, ${r.sha256},
                  ${json(r.checks)}, ${r.checks.failures.length === 0})
          on conflict do nothing`
      })
    )

  const setCandidateMockups: ArtworkStore["setCandidateMockups"] = (candidateId, mockups) =>
    attempt("set candidate mockups", async () => {
      await sql`update candidates set mockups = ${json(mockups)} where id = ${candidateId}`
    })

  const pickCandidate: ArtworkStore["pickCandidate"] = (ideaId, candidateId) =>
    attempt("pick candidate", async () => {
      const result = await sql`update ideas set picked_candidate_id = ${candidateId}, picked_by = 'reviewer', updated_at = now()
        where id = ${ideaId} and exists (select 1 from candidates c where c.id = ${candidateId} and c.idea_id = ${ideaId})`
      return result.count > 0
    })

  // One statement, so a reviewer's pick landing at the same moment is never overwritten.
  const pickDefault: ArtworkStore["pickDefault"] = (ideaId, candidateId) =>
    attempt("pick default candidate", async () => {
      const result = await sql`update ideas set picked_candidate_id = ${candidateId}, picked_by = 'checks', updated_at = now()
        where id = ${ideaId} and picked_by is distinct from 'reviewer'
          and exists (select 1 from candidates c where c.id = ${candidateId} and c.idea_id = ${ideaId})`
      return result.count > 0
    })

  const candidateColumns = (sql: Db["sql"]) =>
    sql`c.id, c.generation_id as "generationId", c.idea_id as "ideaId", c.position, c.seed, c.format,
        c.print_file_key as "printFileKey", c.sha256, c.checks, c.passed, c.mockups`
  const StoredCandidateRow = Schema.Struct({ ...CandidateRow.fields, passed: Schema.Boolean, mockups: Schema.Array(CandidateMockup) })
  const decodeCandidates = decodeRows(StoredCandidateRow, "candidates")
  const decodePicked = decodeRows(Schema.Struct({ ...StoredCandidateRow.fields, pickedBy: PickedBy }), "picked candidate")

  const pickedCandidate: ArtworkStore["pickedCandidate"] = (ideaId) =>
    Effect.gen(function* () {
      const rows = yield* attempt("picked candidate", () =>
        sql`select ${candidateColumns(sql)}, i.picked_by as "pickedBy" from ideas i join candidates c on c.id = i.picked_candidate_id where i.id = ${ideaId}`
      )
      const [row] = yield* Effect.orDie(decodePicked(rows))
      return Option.fromNullable(row)
    })

  const decodeGenerations = decodeRows(Schema.Struct({ ...GenerationRow.fields, createdAt: Schema.ValidDateFromSelf }), "generations")
  const generationsOf: ArtworkStore["generationsOf"] = (ideaIds) =>
    Effect.gen(function* () {
      if (ideaIds.length === 0) return []
      const [gens, cands] = yield* attempt("generations of ideas", () =>
        Promise.all([
          sql`select id, idea_id as "ideaId", parent_id as "parentId", instruction, engine, request, created_at as "createdAt"
              from generations where idea_id in ${sql(ideaIds)} order by created_at, id`,
          sql`select ${candidateColumns(sql)} from candidates c where c.idea_id in ${sql(ideaIds)} order by c.generation_id, c.position`
        ])
      )
      const generations = yield* Effect.mapError(decodeGenerations(gens), (e) => new PermanentError({ message: e.message }))
      const candidates = yield* Effect.mapError(decodeCandidates(cands), (e) => new PermanentError({ message: e.message }))
      return generations.map((g) => ({ ...g, candidates: candidates.filter((c) => c.generationId === g.id) }))
    }).pipe(Effect.catchTag("PermanentError", (e) => Effect.die(e)))

  return { upsertMockups, upsertGeneration, upsertCandidate, setCandidateMockups, pickCandidate, pickDefault, pickedCandidate, generationsOf }
}
