/**
 * What every domain route shares: a route's effect becomes a JSON answer, and a failure a
 * 4xx/5xx carrying its reason (an error's own `status`, else 503 for a retryable failure
 * and 400 for a permanent one) — never a crash.
 */
import { Cause, Effect, Exit, ParseResult, Schema } from "effect"
import type { Context as HonoContext } from "hono"
import { describeError, isRetryable } from "../../runtime/errors.ts"
import type { ApiContext } from "../../runtime/topology.ts"

/** An error that answers with `status` and its message. */
export const httpError = (status: number, message: string) => Object.assign(new Error(message), { status, retryable: false })

/** The route runner of one API: `respond(c, effect)` answers with the effect's value or its failure. */
export const responder =
  (ctx: ApiContext) =>
  async (c: HonoContext, effect: Effect.Effect<object, unknown, any>, status: 200 | 201 | 202 = 200) => {
    const exit = await ctx.run(effect)
    if (Exit.isSuccess(exit)) return c.json(exit.value, status)
    const error = Cause.squash(exit.cause)
    const code = (error as { status?: number }).status ?? (isRetryable(error) ? 503 : 400)
    return c.json({ error: describeError(error) }, code as 400)
  }

/** Decodes a path part, query or body; a value that does not fit is a 400 naming what is wrong. */
export const decodeWith = <A, I>(schema: Schema.Schema<A, I>, value: unknown) =>
  Effect.mapError(Schema.decodeUnknown(schema)(value), (e) => httpError(400, ParseResult.TreeFormatter.formatErrorSync(e)))

export const IdeaId = Schema.UUID.annotations({ message: () => "idea id must be a uuid" })

export const parseIdeaId = (raw: string) => decodeWith(IdeaId, raw)
