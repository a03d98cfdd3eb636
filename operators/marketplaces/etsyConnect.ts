/**
 * `desainz etsy connect`: connects the seller's Etsy shop with OAuth 2.0 authorization code +
 * PKCE (developers.etsy.com/documentation/essentials/authentication) through a loopback
 * redirect: it listens on `http://localhost:<port>/callback` (register that exact URL as a
 * callback of your Etsy app), prints the authorization URL to open, checks the returned `state`,
 * exchanges the code with its `code_verifier`, and stores the refresh token sealed in the store
 * (DESAINZ_SECRET_KEY). From then on access tokens refresh themselves (operators/marketplaces/etsy.ts).
 */
import { createHash, randomBytes } from "node:crypto"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { parseArgs } from "node:util"
import type { HttpClient } from "@effect/platform"
import { Config, Deferred, Duration, Effect, type Layer, Option, Redacted } from "effect"
import { PermanentError } from "../../runtime/errors.ts"
import { type Command, UsageError } from "../../runtime/topology.ts"
import { Credentials } from "./credentials.ts"
import { ETSY_API_URL, ETSY_CONNECT_URL, ETSY_REFRESH_TOKEN, ETSY_SCOPES, exchangeCode } from "./etsy.ts"

const USAGE = `usage: desainz etsy connect [--port N] [--timeout MINUTES]

  Connects your Etsy shop: open the printed URL, approve, and the refresh token is stored
  (sealed with DESAINZ_SECRET_KEY). Needs ETSY_KEYSTRING; register
  http://localhost:<port>/callback (default port 3003) as a callback URL of your Etsy app.`

export interface ConnectOptions {
  readonly port: number
  readonly timeout: Duration.DurationInput
  /** Shown to the seller: the URL to open. */
  readonly onAuthorizeUrl: (url: string) => Effect.Effect<void>
}

const ConnectConfig = Config.all({
  keystring: Config.string("ETSY_KEYSTRING"),
  apiUrl: Config.string("ETSY_API_URL").pipe(Config.withDefault(ETSY_API_URL), Config.map((u) => u.replace(/\/+$/, ""))),
  connectUrl: Config.string("ETSY_CONNECT_URL").pipe(Config.withDefault(ETSY_CONNECT_URL)),
  secretKey: Config.option(Config.redacted("DESAINZ_SECRET_KEY"))
})

const page = (title: string, text: string) =>
  `<!doctype html><meta charset="utf-8"><title>${title}</title><body style="font-family:sans-serif;margin:3em"><h1>${title}</h1><p>${text}</p></body>`

/** Runs the flow once; succeeds when the refresh token is stored. */
export const connectEtsy = (options: ConnectOptions) =>
  Effect.gen(function* () {
    const config = yield* ConnectConfig
    if (Option.isNone(config.secretKey)) {
      return yield* Effect.fail(new PermanentError({ message: "etsy connect: set DESAINZ_SECRET_KEY first (e.g. openssl rand -base64 32): the refresh token is stored sealed with it" }))
    }
    const verifier = randomBytes(32).toString("base64url")
    const challenge = createHash("sha256").update(verifier).digest("base64url")
    const state = randomBytes(16).toString("hex")
    const callback = yield* Deferred.make<string, PermanentError>()

    const server = yield* Effect.acquireRelease(
      Effect.async<Server, PermanentError>((resume) => {
        const s = createServer((req, res) => {
          const url = new URL(req.url ?? "/", "http://localhost")
          if (url.pathname !== "/callback") return void res.writeHead(404).end()
          const error = url.searchParams.get("error")
          const code = url.searchParams.get("code")
          if (url.searchParams.get("state") !== state) {
            res.writeHead(400, { "content-type": "text/html" }).end(page("Not connected", "The state does not match this request; start `desainz etsy connect` again."))
            return
          }
          if (error !== null || code === null) {
            const reason = `${error ?? "no code"}${url.searchParams.get("error_description") ? `: ${url.searchParams.get("error_description")}` : ""}`
            res.writeHead(400, { "content-type": "text/html" }).end(page("Not connected", `Etsy said: ${reason}`))
            Effect.runSync(Deferred.fail(callback, new PermanentError({ message: `etsy connect: Etsy refused: ${reason}` })))
            return
          }
          res.writeHead(200, { "content-type": "text/html" }).end(page("Connected", "desAInz can now publish to your Etsy shop. You can close this tab."))
          Effect.runSync(Deferred.succeed(callback, code))
        })
        s.once("error", (e) => resume(Effect.fail(new PermanentError({ message: `etsy connect: cannot listen on port ${options.port}: ${e.message}` }))))
        s.listen(options.port, "127.0.0.1", () => resume(Effect.succeed(s)))
      }),
      (s) =>
        Effect.async<void>((resume) => {
          s.close(() => resume(Effect.void))
        })
    )
    const redirectUri = `http://localhost:${(server.address() as AddressInfo).port}/callback`
    const authorize = new URL(config.connectUrl)
    for (const [k, v] of Object.entries({
      response_type: "code",
      client_id: config.keystring,
      redirect_uri: redirectUri,
      scope: ETSY_SCOPES.join(" "),
      state,
      code_challenge: challenge,
      code_challenge_method: "S256"
    })) authorize.searchParams.set(k, v)
    yield* options.onAuthorizeUrl(authorize.toString())

    const code = yield* Deferred.await(callback).pipe(
      Effect.timeoutFail({ duration: options.timeout, onTimeout: () => new PermanentError({ message: "etsy connect: no answer from Etsy in time; run it again" }) })
    )
    const tokens = yield* exchangeCode(config, { code, codeVerifier: verifier, redirectUri })
    yield* (yield* Credentials).save(ETSY_REFRESH_TOKEN, Redacted.make(tokens.refresh_token))
    return { userId: tokens.access_token.split(".")[0] ?? "" }
  }).pipe(Effect.scoped)

/** The `etsy` command of a topology; `services` provides the store's Credentials and an HttpClient. */
export const etsyCommand = (services: Layer.Layer<Credentials | HttpClient.HttpClient, unknown>): Command => ({
  summary: "connect your Etsy shop (OAuth 2.0 with PKCE; stores the refresh token sealed)",
  run: (argv) =>
    Effect.gen(function* () {
      const { values, positionals } = yield* Effect.try({
        try: () => parseArgs({ args: [...argv], allowPositionals: true, options: { port: { type: "string", default: "3003" }, timeout: { type: "string", default: "10" }, help: { type: "boolean" } } }),
        catch: (e) => new UsageError(`${(e as Error).message}\n\n${USAGE}`)
      })
      if (values.help || positionals[0] !== "connect") {
        if (values.help) return yield* Effect.sync(() => process.stdout.write(`${USAGE}\n`))
        return yield* Effect.fail(new UsageError(`etsy: expected the subcommand "connect"\n\n${USAGE}`))
      }
      const port = Number(values.port)
      if (!Number.isInteger(port) || port < 0 || port > 65535) return yield* Effect.fail(new UsageError(`--port "${values.port}": expected a port number`))
      const minutes = Number(values.timeout)
      if (!(minutes > 0)) return yield* Effect.fail(new UsageError(`--timeout "${values.timeout}": expected minutes above 0`))
      const { userId } = yield* connectEtsy({
        port,
        timeout: Duration.minutes(minutes),
        onAuthorizeUrl: (url) => Effect.sync(() => process.stdout.write(`Open this URL, sign in to Etsy and approve desAInz:\n\n  ${url}\n\nWaiting for Etsy to redirect to this machine...\n`))
      }).pipe(Effect.provide(services))
      yield* Effect.sync(() => process.stdout.write(`Connected Etsy user ${userId}: refresh token stored (sealed). Set MARKETPLACES=etsy to publish.\n`))
    })
})
