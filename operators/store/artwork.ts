/**
 * Artwork: the mock-ups (and the print file they carry in their generation params) of each idea.
 */
import { Effect, Schema } from "effect"
import type { SqlError } from "../../runtime/sql.ts"
import { JsonObject, validate, type Db } from "./db.ts"

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

export interface ArtworkStore {
  /** New mock-ups; a known id or (idea, variant, colorway) is skipped. Returns rows inserted. */
  readonly upsertMockups: (rows: ReadonlyArray<MockupRow>) => Effect.Effect<number, SqlError>
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
          on conflict do nothing`
        return result.count
      })
    })

  return { upsertMockups }
}
