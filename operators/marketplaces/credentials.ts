/**
 * Marketplace credentials kept in the store, sealed with AES-256-GCM under a key from the
 * environment (`DESAINZ_SECRET_KEY`), so a copy of the database alone reveals nothing. The
 * credential's name is the additional authenticated data: a sealed value moved to another name
 * does not open. Values are `Redacted` in memory and never logged.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto"
import { Config, type ConfigError, Context, Effect, Layer, Option, Redacted } from "effect"
import { PermanentError } from "../../runtime/errors.ts"
import type { SqlError } from "../../runtime/sql.ts"
import { Store } from "../store/store.ts"

const VERSION = "v1"
const MIN_SECRET_LENGTH = 16

/** The 256-bit key: SHA-256 of the secret (e.g. `openssl rand -base64 32`). */
export const sealingKey = (secret: Redacted.Redacted<string>): Effect.Effect<Buffer, PermanentError> =>
  Redacted.value(secret).length < MIN_SECRET_LENGTH
    ? Effect.fail(new PermanentError({ message: `DESAINZ_SECRET_KEY: needs at least ${MIN_SECRET_LENGTH} characters (e.g. openssl rand -base64 32)` }))
    : Effect.succeed(createHash("sha256").update(Redacted.value(secret)).digest())

/** `v1.<iv>.<tag>.<ciphertext>`, base64url parts. */
export const seal = (key: Buffer, name: string, value: string): string => {
  const iv = randomBytes(12)
  const cipher = createCipheriv("aes-256-gcm", key, iv)
  cipher.setAAD(Buffer.from(name))
  const body = Buffer.concat([cipher.update(value, "utf8"), cipher.final()])
  return [VERSION, iv, cipher.getAuthTag(), body].map((p) => (typeof p === "string" ? p : p.toString("base64url"))).join(".")
}

export const unseal = (key: Buffer, name: string, sealed: string): Effect.Effect<string, PermanentError> =>
  Effect.try({
    try: () => {
      const [version, iv, tag, body] = sealed.split(".")
      if (version !== VERSION || iv === undefined || tag === undefined || body === undefined) throw new Error("unknown format")
      const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(iv, "base64url"))
      decipher.setAAD(Buffer.from(name))
      decipher.setAuthTag(Buffer.from(tag, "base64url"))
      return Buffer.concat([decipher.update(Buffer.from(body, "base64url")), decipher.final()]).toString("utf8")
    },
    // No cause: it could carry key material.
    catch: () => new PermanentError({ message: `stored credential ${name} does not open with DESAINZ_SECRET_KEY (changed key?): connect again` })
  })

export interface CredentialsService {
  /** The credential, if one is stored; a stored one that does not open is a PermanentError. */
  readonly load: (name: string) => Effect.Effect<Option.Option<Redacted.Redacted<string>>, SqlError>
  readonly save: (name: string, value: Redacted.Redacted<string>) => Effect.Effect<void, SqlError>
}

export class Credentials extends Context.Tag("desainz/Credentials")<Credentials, CredentialsService>() {
  /** Sealed in the store under `DESAINZ_SECRET_KEY`; without the key nothing is stored or read, and `save` says why. */
  static readonly layerConfig: Layer.Layer<Credentials, ConfigError.ConfigError | PermanentError, Store> = Layer.effect(
    Credentials,
    Effect.gen(function* () {
      const store = yield* Store
      const secret = yield* Config.option(Config.redacted("DESAINZ_SECRET_KEY"))
      if (Option.isNone(secret) || Redacted.value(secret.value).trim() === "") {
        return {
          load: () => Effect.succeed(Option.none()),
          save: (name) => Effect.fail(new PermanentError({ message: `cannot store ${name}: set DESAINZ_SECRET_KEY (e.g. openssl rand -base64 32)` }))
        }
      }
      const key = yield* sealingKey(secret.value)
      return {
        load: (name) =>
          Effect.flatMap(store.loadCredential(name), (sealed) =>
            Option.match(sealed, {
              onNone: () => Effect.succeed(Option.none()),
              onSome: (s) => Effect.map(unseal(key, name, s), (v) => Option.some(Redacted.make(v)))
            })
          ),
        save: (name, value) => store.saveCredential(name, seal(key, name, Redacted.value(value)))
      }
    })
  )
}
