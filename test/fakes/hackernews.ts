/**
 * Fake Hacker News Firebase API: `GET /v0/<top|best|new>stories.json` and
 * `GET /v0/item/<id>.json`. Like Firebase, a path it has no data for answers `null`
 * with 200, and no validators are sent (Firebase only sends an ETag when asked with
 * X-Firebase-ETag). Item responses can be delayed to observe request concurrency.
 */
import { setTimeout as sleep } from "node:timers/promises"
import { Effect } from "effect"
import { Hono } from "hono"
import { jsonFixture, startFake } from "./server.ts"

interface HnItem {
  readonly id: number
  readonly [field: string]: unknown
}

export const startHackerNewsFake = Effect.gen(function* () {
  const state = {
    lists: new Map<string, ReadonlyArray<number>>([["top", jsonFixture<ReadonlyArray<number>>("hackernews", "topstories.json")]]),
    items: new Map(jsonFixture<ReadonlyArray<HnItem>>("hackernews", "items.json").map((i) => [i.id, i] as const)),
    delayMs: 0,
    inFlight: 0,
    maxInFlight: 0
  }
  const app = new Hono()
  app.get("/v0/:file", (c) => {
    const list = /^(top|best|new)stories\.json$/.exec(c.req.param("file"))?.[1]
    return c.json(list === undefined ? null : (state.lists.get(list) ?? null))
  })
  app.get("/v0/item/:file", async (c) => {
    const id = /^(\d+)\.json$/.exec(c.req.param("file"))?.[1]
    state.inFlight++
    state.maxInFlight = Math.max(state.maxInFlight, state.inFlight)
    try {
      if (state.delayMs > 0) await sleep(state.delayMs)
      return c.json(id === undefined ? null : (state.items.get(Number(id)) ?? null))
    } finally {
      state.inFlight--
    }
  })
  const server = yield* startFake(app)
  return { ...server, state }
})
