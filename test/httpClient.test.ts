import { HttpClientRequest } from "@effect/platform"
import { Effect, Either, Schema } from "effect"
import { createServer, type IncomingMessage, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Http from "../runtime/httpClient.ts"
import { isRetryable } from "../runtime/errors.ts"

/** A local server whose answers the test scripts per path; it records what it was sent. */
let server: Server
let base = ""
const seen: Array<IncomingMessage> = []
const script = new Map<string, Array<(res: import("node:http").ServerResponse) => void>>()

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req)
    const next = script.get(req.url ?? "")?.shift()
    if (next) next(res)
    else res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ok: true }))
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

const run = <A, E>(effect: Effect.Effect<A, E, import("@effect/platform").HttpClient.HttpClient>) =>
  Effect.runPromise(Effect.either(effect).pipe(Effect.provide(Http.layer)))

describe("httpClient", () => {
  it("sends the User-Agent and decodes a JSON body", async () => {
    const result = await run(Http.sendJson(HttpClientRequest.get(`${base}/ok`), Schema.Struct({ ok: Schema.Boolean })))
    expect(result).toEqual(Either.right({ ok: true }))
    expect(seen.at(-1)?.headers["user-agent"]).toBe(Http.USER_AGENT)
  })

  it("retries a 503 inside the call and succeeds", async () => {
    script.set("/flaky", [(res) => res.writeHead(503).end("busy"), (res) => res.writeHead(200).end("{}")])
    const before = seen.length
    const result = await run(Http.send(HttpClientRequest.get(`${base}/flaky`)))
    expect(Either.isRight(result)).toBe(true)
    expect(seen.length - before).toBe(2)
  })

  it("a 400 is permanent, quotes the body, and is not retried", async () => {
    script.set("/bad", [(res) => res.writeHead(400, { "content-type": "application/json" }).end('{"error":"title too long"}')])
    const before = seen.length
    const result = await run(Http.send(HttpClientRequest.post(`${base}/bad`), { what: "create listing" }))
    expect(seen.length - before).toBe(1)
    const error = Either.getLeft(result).pipe((o) => (o._tag === "Some" ? o.value : undefined))
    expect(isRetryable(error)).toBe(false)
    expect(error?.message).toContain("create listing: HTTP 400")
    expect(Http.httpFailure(error)).toMatchObject({ status: 400, body: '{"error":"title too long"}' })
  })

  it("a 429 with a long Retry-After is left to the worker, carrying the wait", async () => {
    script.set("/limited", [(res) => res.writeHead(429, { "retry-after": "60" }).end()])
    const before = seen.length
    const result = await run(Http.send(HttpClientRequest.get(`${base}/limited`)))
    expect(seen.length - before).toBe(1)
    const error = Either.getLeft(result).pipe((o) => (o._tag === "Some" ? o.value : undefined))
    expect(isRetryable(error)).toBe(true)
    expect(Http.httpFailure(error)?.retryAfterMs).toBe(60_000)
  })

  it("no answer within the timeout is retryable", async () => {
    script.set("/slow", [() => undefined])
    const result = await run(Http.send(HttpClientRequest.get(`${base}/slow`), { timeout: "200 millis", retries: 0 }))
    const error = Either.getLeft(result).pipe((o) => (o._tag === "Some" ? o.value : undefined))
    expect(isRetryable(error)).toBe(true)
    expect(error?.message).toContain("no answer within")
  })

  it("a body that breaks the schema is permanent", async () => {
    const result = await run(Http.sendJson(HttpClientRequest.get(`${base}/ok`), Schema.Struct({ id: Schema.Number })))
    const error = Either.getLeft(result).pipe((o) => (o._tag === "Some" ? o.value : undefined))
    expect(isRetryable(error)).toBe(false)
    expect(error?.message).toContain("unexpected body")
  })
})
