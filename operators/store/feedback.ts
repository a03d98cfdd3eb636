/**
 * Feedback: marketplace events per listing, keyed by event id and attributed listing ->
 * idea -> signal when stored; cumulative counters differenced against the last value
 * stored; the series and the training set the feedback view and the learner read.
 */
import { Effect, Schema } from "effect"
import { attempt, type SqlError } from "../../runtime/sql.ts"
import { FeedbackEvent } from "../schemas.ts"
import { Finite, Instant, JsonObject, validate, type Db } from "./db.ts"

/** One `feedback.received` event; `id` is its event id. */
export const FeedbackRow = Schema.Struct({
  id: Schema.UUID,
  listingId: Schema.UUID,
  kind: FeedbackEvent.fields.kind,
  value: Finite,
  occurredAt: Instant,
  payload: JsonObject
})
export type FeedbackRow = typeof FeedbackRow.Type

/** A feedback event off the stream, with its event id. */
export interface ReceivedFeedback {
  readonly id: string
  readonly event: FeedbackEvent
}

export interface RecordResult {
  /** Rows written (a counter that did not move writes none). */
  readonly inserted: number
  /** Known ids, unchanged or older counter readings: nothing to write. */
  readonly unchanged: number
  /** Event ids whose listing the store does not know (by id, or by marketplace and external id). */
  readonly unknownListing: ReadonlyArray<string>
}

/** A listing published on a marketplace, by the id the marketplace gave it. */
export interface MarketListing {
  readonly listingId: string
  readonly ideaId: string
  readonly externalId: string
}

/** One day of one kind of feedback on one listing. */
export interface FeedbackPoint {
  readonly listingId: string
  readonly day: string
  readonly kind: string
  readonly value: number
}

export interface ListingFeedback {
  readonly listingId: string
  readonly ideaId: string
  readonly title: string
  readonly marketplace: string
  readonly externalId: string | null
  readonly publishedAt: string | null
  readonly totals: Readonly<Record<string, number>>
}

/** What the learner trains on: an idea's stored factors and its feedback up to a time. */
export interface TrainingRow {
  readonly ideaId: string
  /** The idea's event time (its signal's), ms. */
  readonly at: number
  readonly factors: Readonly<Record<string, number>>
  /** The source item's engagement per minute of its age when scored, if the scorer recorded it. */
  readonly engagementRate: number | undefined
  readonly publishedAt: number | null
  readonly totals: Readonly<Record<string, number>>
}

export interface FeedbackStore {
  /** New feedback events; a known id is skipped. Returns rows inserted. */
  readonly insertFeedback: (rows: ReadonlyArray<FeedbackRow>) => Effect.Effect<number, SqlError>
  /**
   * Events off `feedback.events`, attributed to their listing's idea and signal. A plain
   * event is inserted under its id (a redelivery is skipped). A cumulative counter
   * reading is stored as its difference to the last reading stored (the first one counts
   * from 0), in the same transaction that moves the counter; a reading that equals the
   * stored total, or is older than it, writes nothing.
   */
  readonly recordFeedback: (events: ReadonlyArray<ReceivedFeedback>) => Effect.Effect<RecordResult, SqlError>
  /** Feedback totals per kind for the ideas made from the given signals, keyed by signal id. */
  readonly feedbackBySignal: (
    signalIds: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyMap<string, Readonly<Record<string, number>>>, SqlError>
  /** Published listings of a marketplace with an external id, keyed by it. */
  readonly marketListings: (marketplace: string) => Effect.Effect<ReadonlyMap<string, MarketListing>, SqlError>
  /** Listings with feedback or published, with their totals per kind, most recent first. */
  readonly listingFeedback: (limit: number) => Effect.Effect<ReadonlyArray<ListingFeedback>, SqlError>
  /** Daily sums per kind for the given listings. */
  readonly feedbackSeries: (listingIds: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<FeedbackPoint>, SqlError>
  /** Sums per kind of a listing's feedback with event time in [from, to). */
  readonly feedbackBetween: (listingId: string, from: Date, to: Date) => Effect.Effect<Readonly<Record<string, number>>, SqlError>
  /** The newest feedback event time stored, ms (null when there is none). */
  readonly latestFeedbackAt: () => Effect.Effect<number | null, SqlError>
  /** Ideas with a published listing, their factors and their feedback with event time before `until`. */
  readonly trainingSet: (until: Date) => Effect.Effect<ReadonlyArray<TrainingRow>, SqlError>
}

const num = (v: unknown): number => Number(v)

export const makeFeedbackStore = ({ sql, json, batched }: Db): FeedbackStore => {
  const checkFeedback = validate(Schema.Array(FeedbackRow), "insertFeedback")
  const checkReceived = validate(Schema.Array(Schema.Struct({ id: Schema.UUID, event: FeedbackEvent })), "recordFeedback")

  const insertFeedback: FeedbackStore["insertFeedback"] = (input) =>
    Effect.flatMap(checkFeedback(input), (rows) => {
      const values = rows.map((r) => ({
        id: r.id,
        listing_id: r.listingId,
        kind: r.kind,
        value: r.value,
        occurred_at: r.occurredAt,
        payload: json(r.payload)
      }))
      return batched("insert feedback", values, 6, async (part) => {
        const result = await sql`insert into feedback_events ${sql(part, "id", "listing_id", "kind", "value", "occurred_at", "payload")}
          on conflict do nothing`
        return result.count
      })
    })

  const recordFeedback: FeedbackStore["recordFeedback"] = (input) =>
    Effect.flatMap(checkReceived(input), (received) =>
      attempt("record feedback", () =>
        sql.begin(async (tx) => {
          type Known = { id: string; ideaId: string; signalId: string; marketplace: string; externalId: string | null }
          const listingIds = [...new Set(received.flatMap((r) => (r.event.listingId === undefined ? [] : [r.event.listingId])))]
          const external = received.flatMap((r) =>
            r.event.listingId === undefined && r.event.externalId !== undefined && r.event.marketplace !== undefined ? [`${r.event.marketplace}\u001f${r.event.externalId}`] : []
          )
          const known = await tx<Array<Known>>`
            select l.id, l.idea_id as "ideaId", i.signal_id as "signalId", l.marketplace, l.external_id as "externalId"
            from listings l join ideas i on i.id = l.idea_id
            where l.id = any(${listingIds}::uuid[]) or (l.marketplace || chr(31) || l.external_id) = any(${[...new Set(external)]}::text[])`
          const byId = new Map(known.map((k) => [k.id, k]))
          const byExternal = new Map(known.map((k) => [`${k.marketplace}\u001f${k.externalId}`, k]))
          const listingOf = (e: FeedbackEvent) =>
            e.listingId !== undefined ? byId.get(e.listingId) : byExternal.get(`${e.marketplace}\u001f${e.externalId}`)
          let inserted = 0
          let unchanged = 0
          const unknownListing: Array<string> = []
          // Counter readings in event-time order, so a batch holding two readings differences both.
          const ordered = [...received].sort((a, b) => Date.parse(a.event.occurredAt) - Date.parse(b.event.occurredAt))
          for (const { id, event } of ordered) {
            const listing = listingOf(event)
            if (listing === undefined) {
              unknownListing.push(id)
              continue
            }
            let value = event.value
            let payload: Record<string, unknown> = { ...event.payload }
            const at = new Date(event.occurredAt)
            if (event.counter === "cumulative") {
              // The row exists before it is locked: `for update` of no row locks nothing, and two
              // first readings at once would each count from 0. A reading at the epoch is none.
              await tx`insert into feedback_counters (listing_id, kind, total, observed_at)
                values (${listing.id}, ${event.kind}, 0, to_timestamp(0)) on conflict (listing_id, kind) do nothing`
              const [last] = await tx<Array<{ total: number; observedAt: Date }>>`
                select total, observed_at as "observedAt" from feedback_counters
                where listing_id = ${listing.id} and kind = ${event.kind} for update`
              if (last !== undefined && (last.observedAt.getTime() >= at.getTime() || num(last.total) === event.value)) {
                unchanged++
                continue
              }
              const previous = last === undefined ? 0 : num(last.total)
              value = event.value - previous
              payload = { ...payload, total: event.value, previousTotal: previous }
              await tx`insert into feedback_counters (listing_id, kind, total, observed_at)
                values (${listing.id}, ${event.kind}, ${event.value}, ${at})
                on conflict (listing_id, kind) do update set total = excluded.total, observed_at = excluded.observed_at`
              // A first reading of 0 starts the counter without an event of nothing.
              if (value === 0) {
                unchanged++
                continue
              }
            }
            const result = await tx`insert into feedback_events
                (id, listing_id, idea_id, signal_id, marketplace, kind, value, occurred_at, payload)
              values (${id}, ${listing.id}, ${listing.ideaId}, ${listing.signalId}, ${event.marketplace ?? listing.marketplace},
                      ${event.kind}, ${value}, ${at}, ${json(payload)})
              on conflict (id) do nothing`
            if (result.count === 1) inserted++
            else unchanged++
          }
          return { inserted, unchanged, unknownListing }
        })
      )
    )

  const feedbackBySignal: FeedbackStore["feedbackBySignal"] = (signalIds) =>
    attempt("read feedback by signal", async () => {
      const out = new Map<string, Record<string, number>>()
      if (signalIds.length === 0) return out
      const rows = await sql<Array<{ signalId: string; kind: string; total: number }>>`
        select i.signal_id as "signalId", f.kind, sum(f.value)::float8 as total
        from feedback_events f join listings l on l.id = f.listing_id join ideas i on i.id = l.idea_id
        where i.signal_id = any(${[...signalIds]}::uuid[])
        group by 1, 2`
      for (const r of rows) out.set(r.signalId, { ...out.get(r.signalId), [r.kind]: Number(r.total) })
      return out
    })

  const marketListings: FeedbackStore["marketListings"] = (marketplace) =>
    attempt("read market listings", async () => {
      const rows = await sql<Array<MarketListing>>`
        select id as "listingId", idea_id as "ideaId", external_id as "externalId" from listings
        where marketplace = ${marketplace} and external_id is not null and status = 'published'`
      return new Map(rows.map((r) => [r.externalId, { ...r }]))
    })

  const listingFeedback: FeedbackStore["listingFeedback"] = (limit) =>
    attempt("read listing feedback", async () => {
      const rows = await sql<Array<Omit<ListingFeedback, "totals"> & { totals: Record<string, number> | null; last: Date | null }>>`
        select l.id as "listingId", l.idea_id as "ideaId", l.title, l.marketplace, l.external_id as "externalId",
               l.published_at as "publishedAt", t.totals, t.last
        from listings l
        left join lateral (
          select jsonb_object_agg(kind, total) as totals, max(last) as last
          from (select kind, sum(value)::float8 as total, max(occurred_at) as last from feedback_events
                where listing_id = l.id group by kind) k
        ) t on true
        where l.status = 'published' or t.totals is not null
        order by t.last desc nulls last, l.published_at desc nulls last
        limit ${limit}`
      return rows.map((r) => ({
        listingId: r.listingId,
        ideaId: r.ideaId,
        title: r.title,
        marketplace: r.marketplace,
        externalId: r.externalId,
        publishedAt: r.publishedAt === null ? null : new Date(r.publishedAt).toISOString(),
        totals: r.totals ?? {}
      }))
    })

  const feedbackSeries: FeedbackStore["feedbackSeries"] = (listingIds) =>
    attempt("read feedback series", async () => {
      if (listingIds.length === 0) return []
      const rows = await sql<Array<{ listingId: string; day: string; kind: string; value: number }>>`
        select listing_id as "listingId", to_char(date_trunc('day', occurred_at at time zone 'UTC'), 'YYYY-MM-DD') as day,
               kind, sum(value)::float8 as value
        from feedback_events where listing_id = any(${[...listingIds]}::uuid[])
        group by 1, 2, 3 order by 2`
      return rows.map((r) => ({ ...r, value: num(r.value) }))
    })

  const feedbackBetween: FeedbackStore["feedbackBetween"] = (listingId, from, to) =>
    attempt("read feedback between", async () => {
      const rows = await sql<Array<{ kind: string; total: number }>>`
        select kind, sum(value)::float8 as total from feedback_events
        where listing_id = ${listingId} and occurred_at >= ${from} and occurred_at < ${to} group by kind`
      return Object.fromEntries(rows.map((r) => [r.kind, num(r.total)]))
    })

  const latestFeedbackAt: FeedbackStore["latestFeedbackAt"] = () =>
    attempt("read latest feedback time", async () => {
      const [row] = await sql<Array<{ at: Date | null }>>`select max(occurred_at) as at from feedback_events`
      return row?.at == null ? null : new Date(row.at).getTime()
    })

  const trainingSet: FeedbackStore["trainingSet"] = (until) =>
    attempt("read training set", async () => {
      const rows = await sql<
        Array<{ ideaId: string; at: Date; factors: Record<string, unknown>; publishedAt: Date | null; totals: Record<string, number> | null }>
      >`
        select i.id as "ideaId", coalesce(i.event_at, s.captured_at) as at, i.factors,
               min(l.published_at) as "publishedAt", t.totals
        from ideas i
        join signals s on s.id = i.signal_id
        join listings l on l.idea_id = i.id and l.status = 'published'
        left join lateral (
          select jsonb_object_agg(kind, total) as totals
          from (select kind, sum(value)::float8 as total from feedback_events
                where idea_id = i.id and occurred_at < ${until} group by kind) k
        ) t on true
        group by i.id, s.captured_at, t.totals`
      return rows.map((r) => {
        const factors: Record<string, number> = {}
        for (const [k, v] of Object.entries(r.factors ?? {})) if (typeof v === "number") factors[k] = v
        // The scorer stores the figures behind the factors beside them (score.ts), the rate among them.
        const engagementRate = factors["engagementRate"]
        return {
          ideaId: r.ideaId,
          at: new Date(r.at).getTime(),
          factors,
          engagementRate,
          publishedAt: r.publishedAt === null ? null : new Date(r.publishedAt).getTime(),
          totals: r.totals ?? {}
        }
      })
    })

  return {
    insertFeedback,
    recordFeedback,
    feedbackBySignal,
    marketListings,
    listingFeedback,
    feedbackSeries,
    feedbackBetween,
    latestFeedbackAt,
    trainingSet
  }
}
