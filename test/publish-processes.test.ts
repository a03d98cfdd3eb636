/**
 * Exactly once on the marketplace, with worker processes on a real redis-server: `desainz worker
 * --only publish` processes publish approved listings to the fake Etsy, which answers 5xx to a
 * share of writes before doing them and, to another share, does the write and then answers 502
 * (the response is lost). The first worker is killed with SIGKILL the moment Etsy creates a
 * listing for it, before the answer reaches it (so between the remote create and the ack, with
 * nothing recorded); a second worker takes its entries over. Result: exactly one Etsy listing per
 * idea, every image uploaded once, every listing published, nothing pending or dead-lettered.
 */
import { spawn, type ChildProcess } from "node:child_process"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { Redis } from "ioredis"
import { inject } from "vitest"
import { skuOf } from "../operators/publishers/etsy.ts"
import { Listing } from "../operators/schemas.ts"
import { BlobStore } from "../runtime/blobs.ts"
import { deriveEventId, makeEnvelopeCodec } from "../runtime/envelope.ts"
import { makeKeys } from "../runtime/keys.ts"
import { attempt, Sql } from "../runtime/sql.ts"
import * as EtsyFake from "./fakes/etsy.ts"
import { uniqueName } from "./support/harness.ts"
import { approvedListing } from "./support/approvedListings.ts"
import { migratedStore, tempDir } from "./support/store.ts"

const BIN = new URL("../bin/desainz.js", import.meta.url).pathname
const TOPOLOGY = new URL("./fixtures/publish.topology.ts", import.meta.url).pathname
const LISTINGS = Number(process.env["PUBLISH_CRASH_LISTINGS"] ?? 12)

const exitOf = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.exitCode !== null || child.signalCode !== null
      ? resolve({ code: child.exitCode, signal: child.signalCode })
      : child.once("exit", (code, signal) => resolve({ code, signal }))
  )

const waitFor = (what: string, check: () => Promise<boolean>, timeoutMs: number) =>
  Effect.promise(async () => {
    const deadline = Date.now() + timeoutMs
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
      await new Promise((r) => setTimeout(r, 200))
    }
  })

describe("publishing with worker processes on redis", () => {
  it.scopedLive(
    "5xx, lost answers and a SIGKILL between the create and the ack: one Etsy listing per idea, each image once, nothing lost",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir("desainz-publish-crash-")
        const blobDir = path.join(dir, "blobs")
        const context = yield* Layer.build(Layer.merge(migratedStore("desainz-publish-crash-pg-"), BlobStore.layerLocal({ root: blobDir })))
        const { client, endpoint } = Effect.runSync(Effect.provide(Sql, context))
        if (endpoint._tag !== "Embedded") throw new Error("expected the embedded store")

        const fake = yield* EtsyFake.startEtsyFake({ failWrites: 0.15, loseWriteResponses: 0.15, seed: 7, limitPerSecond: 200 })
        const listings = yield* Effect.forEach(Array.from({ length: LISTINGS }, (_, n) => n), (n) => approvedListing(100 + n, { marketplace: "etsy" })).pipe(Effect.provide(context))

        const name = uniqueName("pubcrash")
        const redis = yield* Effect.acquireRelease(
          Effect.sync(() => new Redis(inject("redisUrl"))),
          (r) => Effect.promise(() => r.quit())
        )
        const keys = makeKeys(name)
        const codec = makeEnvelopeCodec("listings.approved", Listing)
        yield* Effect.promise(async () => {
          const pipe = redis.pipeline()
          for (const listing of listings) {
            const eventId = deriveEventId(name, listing.ideaId)
            const fields = codec.encode({ eventType: "listing.approved", eventId, timestamp: new Date().toISOString(), source: "test", version: 1, correlationId: eventId, data: listing })
            pipe.xadd(keys.stream("listings.approved"), "*", ...Object.entries(fields).flat())
          }
          await pipe.exec()
        })

        const env = {
          ...process.env,
          REDIS_URL: inject("redisUrl"),
          PUBLISH_TOPOLOGY: name,
          DATABASE_URL: `postgres://postgres@${endpoint.host}:${endpoint.port}/postgres`,
          BLOB_DIR: blobDir,
          DESAINZ_SECRET_KEY: "publish-crash-secret-key-0123456789",
          ETSY_API_URL: fake.apiUrl,
          ETSY_KEYSTRING: EtsyFake.KEYSTRING,
          ETSY_SHARED_SECRET: EtsyFake.SHARED_SECRET,
          ETSY_SHOP_ID: String(EtsyFake.SHOP_ID),
          ETSY_REFRESH_TOKEN: fake.grantRefreshToken(),
          ETSY_STATE: "active",
          LOG_LEVEL: "warning"
        }
        const children: Array<ChildProcess> = []
        yield* Effect.addFinalizer(() => Effect.sync(() => children.forEach((c) => c.exitCode === null && c.signalCode === null && c.kill("SIGKILL"))))
        const startWorker = (index: number) => {
          const child = spawn(process.execPath, [BIN, "worker", "--topology", TOPOLOGY, "--only", "publish"], {
            env: { ...env, DESAINZ_CONSUMER: `pub${index}-${process.pid}` },
            stdio: ["ignore", "inherit", "inherit"]
          })
          children.push(child)
          return child
        }

        // Kill the first worker the moment Etsy has created its third listing, before the answer leaves.
        const first = startWorker(1)
        let killedAtCreate = 0
        fake.state.onCreate = () => {
          if (fake.state.creates.length === 3 && first.exitCode === null) {
            first.kill("SIGKILL")
            killedAtCreate = fake.state.creates.length
          }
        }
        yield* waitFor("the first worker is killed mid-publish", async () => killedAtCreate > 0, 120_000)
        expect((yield* Effect.promise(() => exitOf(first))).signal).toBe("SIGKILL")
        fake.state.onCreate = undefined
        const second = startWorker(2)

        const published = () =>
          client<Array<{ n: number }>>`select count(*)::int as n from listings where marketplace = 'etsy' and status = 'published'`.then((r) => r[0]!.n)
        yield* waitFor(`all ${LISTINGS} listings are published`, async () => (await published()) === LISTINGS, 240_000)
        yield* waitFor(
          "nothing is left pending",
          async () => Number(((await redis.xpending(keys.stream("listings.approved"), "publish")) as [number])[0]) === 0,
          30_000
        )

        // Exactly one Etsy listing per idea, with its SKU, both images (each uploaded once), active.
        const rows = yield* attempt("read", () =>
          client<Array<{ idea_id: string; external_id: string; remote_state: string }>>`select idea_id, external_id, remote_state from listings where marketplace = 'etsy'`
        )
        expect(fake.state.listings.size).toBe(LISTINGS)
        for (const listing of listings) {
          const onEtsy = fake.listingsTitled(listing.title)
          expect(onEtsy).toHaveLength(1)
          const id = onEtsy[0]!.listing_id
          expect(onEtsy[0]!.state).toBe("active")
          expect(fake.state.inventory.get(id)?.[0]?.sku).toBe(skuOf(listing.ideaId))
          const uploads = fake.state.uploads.filter((u) => u.listing_id === id)
          expect(uploads.map((u) => u.alt_text).sort()).toEqual([`${listing.title} - front, black`, `${listing.title} - front, white`])
          expect(rows.find((r) => r.idea_id === listing.ideaId)).toMatchObject({ external_id: String(id), remote_state: "active" })
        }
        expect(yield* Effect.promise(() => redis.xlen(keys.stream("listings.published")))).toBeGreaterThanOrEqual(LISTINGS)
        expect(yield* Effect.promise(() => redis.exists(keys.dlq("publish")))).toBe(0)
        const faults = { "503": fake.statuses.filter((s) => s === 503).length, "502": fake.statuses.filter((s) => s === 502).length }
        expect(faults["503"]).toBeGreaterThan(0)
        expect(faults["502"]).toBeGreaterThan(0)
        console.error(`publish crash test: killed at create ${killedAtCreate}; Etsy answered ${faults["503"]} x 503 and ${faults["502"]} x 502 (work done, answer lost); ${fake.state.creates.length} creates for ${LISTINGS} listings`)

        second.kill("SIGTERM")
        expect((yield* Effect.promise(() => exitOf(second))).code).toBe(0)
      }),
    360_000
  )
})
