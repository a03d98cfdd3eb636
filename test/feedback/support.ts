/**
 * What the feedback tests share: an embedded PGlite store (migrated) in a temp folder,
 * published listings seeded with their idea and signal, and a topology run on the
 * embedded transport until a condition holds.
 */
import { createHash, randomUUID } from "node:crypto"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { ConfigProvider, Deferred, Effect, Fiber, Layer } from "effect"
import { Store, type StoreService } from "../../operators/store/store.ts"
import { Metrics } from "../../runtime/metrics.ts"
import { migrate, Sql } from "../../runtime/sql.ts"
import type { Topology } from "../../runtime/topology.ts"
import * as EmbeddedTransport from "../../runtime/transport/embedded.ts"
import { runWorker } from "../../runtime/worker.ts"
import { makeKeys } from "../../runtime/keys.ts"
import { Transport } from "../../runtime/transport.ts"
import { uniqueName } from "../support/harness.ts"

const tempDir = Effect.acquireRelease(
  Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "desainz-feedback-"))),
  (dir) => Effect.promise(() => fs.rm(dir, { recursive: true, force: true }))
)

/** A fresh migrated store per layer build. */
export const storeLayer = Layer.unwrapScoped(
  Effect.map(tempDir, (dir) => {
    const sql = Sql.layerEmbedded({ dataDir: path.join(dir, "pg"), port: 0 })
    const migrated = Layer.effectDiscard(migrate({ embeddingDim: 8 })).pipe(Layer.provideMerge(sql))
    return Store.layer.pipe(Layer.provideMerge(migrated))
  })
)

export interface SeededListing {
  readonly listingId: string
  readonly ideaId: string
  readonly signalId: string
  readonly externalId: string
}

/**
 * One signal, idea and published listing per external id. `factors` and `eventAt` per
 * listing let a test build a market whose outcomes depend on known factors.
 */
export const seedListings = (
  store: StoreService,
  marketplace: string,
  externalIds: ReadonlyArray<string>,
  options: {
    readonly factors?: (i: number) => Record<string, number>
    readonly eventAt?: (i: number) => Date
    readonly publishedAt?: (i: number) => Date
  } = {}
) =>
  Effect.gen(function* () {
    const rows = externalIds.map((externalId, i) => {
      const content = `${marketplace} listing ${externalId} ${randomUUID()}`
      const eventAt = options.eventAt?.(i) ?? new Date("2021-01-01T00:00:00Z")
      return {
        externalId,
        signal: {
          id: randomUUID(),
          content,
          source: "test",
          capturedAt: eventAt,
          metadata: {},
          contentHash: createHash("sha256").update(content).digest("hex").slice(0, 32)
        },
        ideaId: randomUUID(),
        listingId: randomUUID(),
        eventAt,
        factors: options.factors?.(i) ?? { freshness: 0.5, engagement: 0.5, novelty: 0, communityFit: 0, seasonality: 0 },
        publishedAt: options.publishedAt?.(i) ?? new Date(eventAt.getTime() + 3_600_000)
      }
    })
    yield* store.upsertSignals(rows.map((r) => r.signal))
    yield* store.upsertIdeas(
      rows.map((r) => ({
        id: r.ideaId,
        signalId: r.signal.id,
        title: `idea ${r.externalId}`,
        description: "",
        embedding: null,
        score: 0.5,
        factors: r.factors,
        weightsVersion: 1,
        eventAt: r.eventAt
      }))
    )
    yield* store.upsertListings(
      rows.map((r) => ({
        id: r.listingId,
        ideaId: r.ideaId,
        marketplace,
        externalId: r.externalId,
        url: null,
        title: `listing ${r.externalId}`,
        description: "",
        tags: [],
        status: "published" as const,
        performance: {},
        publishedAt: r.publishedAt
      }))
    )
    return new Map<string, SeededListing>(
      rows.map((r) => [r.externalId, { listingId: r.listingId, ideaId: r.ideaId, signalId: r.signal.id, externalId: r.externalId }])
    )
  })

/** Runs the topology's nodes on the embedded transport until `until` holds (at most `timeoutMs`), then stops them gracefully. */
export const runUntil = <E, R>(t: Topology<any>, until: Effect.Effect<boolean, E, R>, timeoutMs = 30_000) =>
  Effect.gen(function* () {
    const stop = yield* Deferred.make<void>()
    const worker = yield* Effect.fork(runWorker({ topology: t, stop, consumerPrefix: uniqueName("c"), maintenanceEvery: "200 millis" }))
    const deadline = Date.now() + timeoutMs
    let done = yield* until
    while (!done && Date.now() < deadline) {
      yield* Effect.sleep(50)
      done = yield* until
    }
    yield* Deferred.succeed(stop, undefined)
    yield* Fiber.join(worker)
    if (!done && timeoutMs >= 10_000) {
      // Say why: what the nodes dead-lettered.
      const transport = yield* Transport
      const keys = makeKeys(t.name)
      for (const node of t.nodes) {
        const dead = yield* transport.range(keys.dlq(node.name), { count: 5 })
        for (const d of dead) console.error(`runUntil: dlq.${node.name}: ${d.fields["error"] ?? JSON.stringify(d.fields)}`)
      }
    }
    return done
  })

export const runtimeLayer = Layer.mergeAll(EmbeddedTransport.layer, Metrics.layer)

export const withEnv = (vars: Record<string, string>) => Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(vars))))
