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

  it("sendText reads the body within the size cap; a larger body is permanent", async () => {
    script.set("/text", [(res) => res.writeHead(200, { etag: '"v1"' }).end("hello")])
    script.set("/huge", [(res) => res.writeHead(200).end("x".repeat(10_000))])
    const text = await run(Http.sendText(HttpClientRequest.get(`${base}/text`), { maxBytes: 100 }))
    expect(text).toEqual(Either.right({ status: 200, headers: expect.objectContaining({ etag: '"v1"' }), text: "hello" }))
    const huge = await run(Http.sendText(HttpClientRequest.get(`${base}/huge`), { maxBytes: 100, what: "big" }))
    const error = Either.getLeft(huge).pipe((o) => (o._tag === "Some" ? o.value : undefined))
    expect(isRetryable(error)).toBe(false)
    expect(error?.message).toBe("big: response larger than 100 bytes")
  })

  it("a 304 is an answer only for a conditional request", async () => {
    script.set("/same", [(res) => res.writeHead(304).end(), (res) => res.writeHead(304).end()])
    const conditional = await run(Http.sendText(HttpClientRequest.get(`${base}/same`), { conditional: true }))
    expect(conditional).toEqual(Either.right({ status: 304, headers: expect.anything(), text: "" }))
    const plain = await run(Http.sendText(HttpClientRequest.get(`${base}/same`), { retries: 0 }))
    expect(Either.isLeft(plain)).toBe(true)
  })

  it("a refused connection is retryable and says why", async () => {
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve))
    const port = (closed.address() as AddressInfo).port
    await new Promise<void>((resolve) => closed.close(() => resolve()))
    const result = await run(Http.send(HttpClientRequest.get(`http://127.0.0.1:${port}/x`), { retries: 0 }))
    const error = Either.getLeft(result).pipe((o) => (o._tag === "Some" ? o.value : undefined))
    expect(isRetryable(error)).toBe(true)
    expect(error?.message).toContain("ECONNREFUSED")
  })
})
