/**
 * Chaos: the store goes away for 30 s mid-run. The store is PGlite served over
 * pglite-socket (the embedded default) and reached through the same `postgres` client as
 * production (`Sql.layerUrl`); the socket server is stopped and started again. Entries
 * whose writes fail meanwhile are retried (connection errors are retryable, and the sink's
 * attempt budget covers the outage), none is dead-lettered, and afterwards every row is
 * there exactly once. Runs on the Redis transport (a real redis-server) in-process.
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { PGlite } from "@electric-sql/pglite"
import { PGLiteSocketServer } from "@electric-sql/pglite-socket"
import { Effect, Layer, Redacted, Schema } from "effect"
import { describe, expect, inject, it } from "vitest"
import { listDeadLetters } from "../../runtime/dlq.ts"
import { Metrics } from "../../runtime/metrics.ts"
import { attempt, Sql } from "../../runtime/sql.ts"
import { map, sink, stream, topology } from "../../runtime/topology.ts"
import * as RedisTransport from "../../runtime/transport/redis.ts"
import { feeder, startWorker, uniqueName, waitUntil } from "../support/harness.ts"
import { freePort } from "../support/redisServer.ts"

const Item = Schema.Struct({ n: Schema.Number })
const OUTAGE_MS = Number(process.env["CHAOS_OUTAGE_S"] ?? 30) * 1_000

describe("chaos: store outage", () => {
  it("retries writes through a 30 s store outage, losing and duplicating no row", async () => {
    const db = await PGlite.create({ dataDir: join(mkdtempSync(join(tmpdir(), "desainz-outage-")), "pg") })
    await db.exec("create table outage_rows (id bigserial primary key, event_id text not null unique, n int not null)")
    const port = await freePort()
    // As the embedded store serves it (runtime/sql.ts): a few connections onto the one backend.
    const serve = () => new PGLiteSocketServer({ db, port, host: "127.0.0.1", maxConnections: 8 })
    let server = serve()
    await server.start()

    const items = stream("items", Item)
    const checked = stream("checked", Item)
    const feed = feeder("feed", items)
    const t = topology({
      name: uniqueName("outage"),
      nodes: [
        feed.node,
        map({ name: "check", from: items, to: checked, run: Effect.succeed }),
        sink({
          name: "store",
          from: checked,
          // The attempt budget is what rides an outage out: 0.2 + 0.4 + 0.8 + 1.6 + 2 s x 20 > 30 s.
          settings: { maxAttempts: 25, backoff: { initialMs: 200, maxMs: 2_000 }, claimIdleMs: 60_000 },
          run: (item, envelope) =>
            Effect.flatMap(Sql, ({ client }) =>
              attempt("insert row", () => client`insert into outage_rows (event_id, n) values (${envelope.eventId}, ${item.n}) on conflict (event_id) do nothing`)
            )
        })
      ],
      services: Sql.layerUrl(Redacted.make(`postgres://postgres@127.0.0.1:${port}/postgres?sslmode=disable`))
    })
    const count = async () => Number((await db.query<{ c: number }>("select count(*)::int c, count(distinct event_id)::int d from outage_rows")).rows[0]!.c)

    const total = 3_000
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const w = yield* startWorker(t)
          // A steady trickle, so that writes are under way when the store goes.
          const trickle = yield* Effect.fork(
            Effect.gen(function* () {
              for (let n = 0; n < total; n += 50) {
                feed.push(...Array.from({ length: 50 }, (_, i) => ({ data: { n: n + i } })))
                yield* Effect.sleep("50 millis")
              }
            })
          )
          const running = Effect.sync(() => {
            const exit = w.fiber.unsafePoll()
            if (exit !== null) throw new Error(`the worker ended: ${JSON.stringify(exit)}`)
          })
          yield* waitUntil("a third is stored", Effect.zipRight(running, Effect.promise(async () => (await count()) >= total / 3)), 120_000)
          yield* Effect.promise(() => server.stop())
          const atOutage = yield* Effect.promise(count)
          yield* Effect.sleep(OUTAGE_MS)
          server = serve()
          yield* Effect.promise(() => server.start())
          yield* waitUntil("every row is stored", Effect.promise(async () => (await count()) === total), 180_000)
          yield* trickle.await
          const m = yield* Metrics
          console.error(`chaos store outage: ${atOutage}/${total} stored when the store went away; ${m.retried.get({ operator: "store" })} retries`)
          expect(atOutage).toBeLessThan(total)
          expect(m.retried.get({ operator: "store" })).toBeGreaterThan(0)
          expect(yield* listDeadLetters(t, w.keys, "store")).toHaveLength(0)
          yield* w.stop
        })
      ).pipe(Effect.provide(Layer.merge(RedisTransport.layer({ url: Redacted.make(inject("redisUrl")) }), Metrics.layer))) as Effect.Effect<void, unknown, never>
    )
    const rows = (await db.query<{ c: number; d: number; lo: number; hi: number }>("select count(*)::int c, count(distinct n)::int d, min(n) lo, max(n) hi from outage_rows")).rows[0]!
    expect(rows).toEqual({ c: total, d: total, lo: 0, hi: total - 1 })
    await server.stop()
    await db.close()
  })
})
