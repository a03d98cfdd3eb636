/**
 * The `Marketplace` service: the marketplaces a listing is published to, chosen by
 * `MARKETPLACES` (comma-separated; default `export`, so `npm start` needs no account). Each
 * publisher is one file in this folder exporting a `Publisher` (its name and how it builds
 * itself from configuration); `topology.ts` lists them, one line each.
 *
 * Contract of `publish`: idempotent per (idea, marketplace). Called again for the same listing
 * (a redelivery, a retry after a crash, a requeued dead letter) it reconciles with what the
 * marketplace already has and finishes the job, never creating a second listing.
 */
import { Config, ConfigError, Context, Effect, Either, Layer } from "effect"
import type { PermanentError, RetryableError } from "../../runtime/errors.ts"
import { httpFailure } from "../../runtime/httpClient.ts"
import type { Listing } from "../schemas.ts"

export interface PublishOutcome {
  /** `published`: live (or a draft) on the marketplace; `exported`: a bundle to upload by hand. */
  readonly status: "published" | "exported"
  readonly externalId: string | null
  readonly url: string | null
  /** The marketplace's word for the listing (Etsy draft/active, Printify published). */
  readonly remoteState: string | null
}

export interface MarketplaceShape {
  readonly name: string
  readonly publish: (listing: Listing) => Effect.Effect<PublishOutcome, RetryableError | PermanentError>
}

/** A publisher: a marketplace's name and how it builds itself (from its config and the environment). */
export interface Publisher<R> {
  readonly name: string
  readonly make: Effect.Effect<MarketplaceShape, ConfigError.ConfigError | PermanentError, R>
}

export const DEFAULT_MARKETPLACES = ["export"] as const

/** `MARKETPLACES`, comma-separated; default `export`. */
export const MarketplacesConfig = Config.string("MARKETPLACES").pipe(
  Config.withDefault(DEFAULT_MARKETPLACES.join(",")),
  Config.map((s) => [...new Set(s.split(",").map((m) => m.trim()).filter(Boolean))])
)

type RequirementsOf<P> = P extends Publisher<infer R> ? R : never

export class Marketplace extends Context.Tag("desainz/Marketplace")<Marketplace, ReadonlyArray<MarketplaceShape>>() {
  /**
   * The marketplaces named in `selected` (default: `MARKETPLACES`), each built by its publisher
   * among `publishers`. An unknown name, or a publisher missing its settings, stops the start
   * with a message naming the variable.
   */
  static readonly layer = <const P extends ReadonlyArray<Publisher<any>>>(
    publishers: P,
    selected?: ReadonlyArray<string>
  ): Layer.Layer<Marketplace, ConfigError.ConfigError | PermanentError, RequirementsOf<P[number]>> =>
    Layer.effect(
      Marketplace,
      Effect.gen(function* () {
        const names = selected ?? (yield* MarketplacesConfig)
        if (names.length === 0) return yield* Effect.fail(ConfigError.InvalidData(["MARKETPLACES"], "names no marketplace"))
        return yield* Effect.forEach(names, (name) => {
          const publisher = publishers.find((p) => p.name === name)
          return publisher === undefined
            ? Effect.fail(ConfigError.InvalidData(["MARKETPLACES"], `unknown marketplace "${name}" (known: ${publishers.map((p) => p.name).join(", ")})`))
            : publisher.make
        })
      })
    )
}

/**
 * A failed remote call in the marketplace's own words: the reason its error body gives
 * (`pick` reads it), else the error's message. Keeps the error's retryability.
 */
export const inMarketplaceWords = <E extends RetryableError | PermanentError>(
  marketplace: string,
  error: E,
  pick: (body: unknown) => string | undefined
): E => {
  const failure = httpFailure(error)
  if (failure === undefined || failure.body === "") return error
  const reason = Either.getOrUndefined(Either.try(() => pick(JSON.parse(failure.body))))
  if (reason === undefined || reason === "") return error
  const Ctor = error.constructor as new (args: { message: string; cause?: unknown }) => E
  return new Ctor({ message: `${marketplace}: ${reason} (HTTP ${failure.status})`, cause: error.cause })
}

/** A listing's images in the order they go up: mock-ups in rank order, then the print file when asked. */
export const listingImages = (listing: Listing, options: { readonly printFile: boolean }) => [
  ...listing.mockups.mockups.map((m) => ({
    key: m.key,
    fileName: `mockup-${m.variant}-${m.colorway}.jpg`,
    contentType: "image/jpeg",
    altText: `${listing.title} - ${m.variant}, ${m.colorway.replace(/-/g, " ")}`.slice(0, 500)
  })),
  ...(options.printFile
    ? [{ key: listing.mockups.artwork.printFileKey, fileName: "print.png", contentType: "image/png", altText: `${listing.title} - design`.slice(0, 500) }]
    : [])
]
