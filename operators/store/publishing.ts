/**
 * Publishing: the publish intent of each (idea, marketplace), written before any remote
 * create so a redelivery reconciles with the marketplace instead of creating again, and the
 * sealed marketplace credentials.
 */
import { Effect, Option } from "effect"
import { attempt, type SqlError } from "../../runtime/sql.ts"
import type { Db } from "./db.ts"

export interface PublishIntent {
  readonly ideaId: string
  readonly marketplace: string
  readonly title: string
  /** Publishes started for this (idea, marketplace), this one included. */
  readonly attempt: number
  /** The marketplace's id of the listing, once known. */
  readonly remoteId: string | null
  /** When the first intent was written: no remote listing of this intent can be older. */
  readonly createdAt: Date
}

export interface PublishingStore {
  /**
   * Records that a publish of (idea, marketplace) starts: the first call creates the intent,
   * later ones (redeliveries, retries) count an attempt and keep the first `createdAt`.
   */
  readonly recordPublishIntent: (ideaId: string, marketplace: string, title: string) => Effect.Effect<PublishIntent, SqlError>
  /**
   * Takes the lease on publishing (idea, marketplace) for `leaseMs` unless another publish holds
   * it: true when taken. Held until `releasePublish`, or until it runs out (a process that died).
   */
  readonly leasePublish: (ideaId: string, marketplace: string, title: string, leaseMs: number) => Effect.Effect<boolean, SqlError>
  readonly releasePublish: (ideaId: string, marketplace: string) => Effect.Effect<void, SqlError>
  /** The marketplace's id of the listing, recorded as soon as it is known. */
  readonly recordRemoteId: (ideaId: string, marketplace: string, remoteId: string) => Effect.Effect<void, SqlError>
  /** Remote ids already taken by other ideas on a marketplace (so reconciliation never adopts one). */
  readonly remoteIdsTaken: (marketplace: string, remoteIds: ReadonlyArray<string>, exceptIdea: string) => Effect.Effect<ReadonlySet<string>, SqlError>
  /** A sealed credential (see operators/marketplaces/credentials.ts). */
  readonly saveCredential: (name: string, sealed: string) => Effect.Effect<void, SqlError>
  readonly loadCredential: (name: string) => Effect.Effect<Option.Option<string>, SqlError>
}

interface IntentRow {
  idea_id: string
  marketplace: string
  title: string
  attempt: number
  remote_id: string | null
  created_at: Date
}

const toIntent = (row: IntentRow): PublishIntent => ({
  ideaId: row.idea_id,
  marketplace: row.marketplace,
  title: row.title,
  attempt: row.attempt,
  remoteId: row.remote_id,
  createdAt: row.created_at
})

export const makePublishingStore = ({ sql }: Db): PublishingStore => ({
  recordPublishIntent: (ideaId, marketplace, title) =>
    attempt("record publish intent", async () => {
      const [row] = await sql<Array<IntentRow>>`
        insert into publish_intents (idea_id, marketplace, title) values (${ideaId}, ${marketplace}, ${title})
        on conflict (idea_id, marketplace) do update set attempt = publish_intents.attempt + 1, title = excluded.title, updated_at = now()
        returning idea_id, marketplace, title, attempt, remote_id, created_at`
      return toIntent(row!)
    }),
  leasePublish: (ideaId, marketplace, title, leaseMs) =>
    attempt("lease publish", async () => {
      const rows = await sql`
        insert into publish_intents (idea_id, marketplace, title, attempt, lease_until)
        values (${ideaId}, ${marketplace}, ${title}, 0, now() + make_interval(secs => ${leaseMs / 1000}::float8))
        on conflict (idea_id, marketplace) do update set lease_until = excluded.lease_until
          where publish_intents.lease_until is null or publish_intents.lease_until < now()
        returning 1`
      return rows.length === 1
    }),
  releasePublish: (ideaId, marketplace) =>
    attempt("release publish", async () => {
      await sql`update publish_intents set lease_until = null where idea_id = ${ideaId} and marketplace = ${marketplace}`
    }),
  recordRemoteId: (ideaId, marketplace, remoteId) =>
    attempt("record remote id", async () => {
      await sql`update publish_intents set remote_id = ${remoteId}, updated_at = now()
        where idea_id = ${ideaId} and marketplace = ${marketplace}`
    }),
  remoteIdsTaken: (marketplace, remoteIds, exceptIdea) =>
    remoteIds.length === 0
      ? Effect.succeed(new Set<string>())
      : attempt("read taken remote ids", async () => {
          const rows = await sql<Array<{ remote_id: string }>>`
            select remote_id from publish_intents
            where marketplace = ${marketplace} and idea_id <> ${exceptIdea} and remote_id = any(${sql.array([...remoteIds])}::text[])`
          return new Set(rows.map((r) => r.remote_id))
        }),
  saveCredential: (name, sealed) =>
    attempt("save credential", async () => {
      await sql`insert into marketplace_credentials (name, sealed) values (${name}, ${sealed})
        on conflict (name) do update set sealed = excluded.sealed, updated_at = now()`
    }),
  loadCredential: (name) =>
    attempt("load credential", async () => {
      const [row] = await sql<Array<{ sealed: string }>>`select sealed from marketplace_credentials where name = ${name}`
      return Option.fromNullable(row?.sealed)
    })
})
