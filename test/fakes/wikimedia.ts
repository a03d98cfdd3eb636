/**
 * Fake Wikimedia feed API: `GET /feed/v1/wikipedia/<lang>/onthisday/<type>/<MM>/<DD>`
 * (types all, selected, events, births, deaths, holidays), answering from
 * test/fixtures/anniversaries when it has the day and with empty lists otherwise, and
 * with problem+json errors like the real service.
 */
import { Effect } from "effect"
import { Hono } from "hono"
import { conditional, jsonFixture, startFake, type Validators } from "./server.ts"

const TYPES = ["selected", "events", "births", "deaths", "holidays"] as const
const PROFILE = 'application/json; charset=utf-8; profile="https://www.mediawiki.org/wiki/Specs/onthisday/0.3.3"'

export const startWikimediaFake = Effect.gen(function* () {
  const state = {
    /** `<type>/<MM>/<DD>` -> the response. */
    days: new Map<string, Record<string, unknown>>(
      (["selected", "events", "births"] as const).map((t) => [`${t}/07/20`, jsonFixture(`anniversaries`, `onthisday-${t}-07-20.json`)])
    ),
    validators: "etag" as Validators
  }
  const problem = (status: 400 | 404, detail: string) => () =>
    new Response(JSON.stringify({ ...jsonFixture<Record<string, unknown>>("anniversaries", "error-not-found.json"), detail }), {
      status,
      headers: { "content-type": "application/problem+json" }
    })
  const app = new Hono()
  app.get("/feed/v1/wikipedia/:lang/onthisday/:type/:mm/:dd", (c) => {
    const { type, mm, dd } = c.req.param()
    if (type !== "all" && !(TYPES as ReadonlyArray<string>).includes(type)) return problem(404, "Route not found")()
    if (!/^(0[1-9]|1[0-2])$/.test(mm) || !/^(0[1-9]|[12]\d|3[01])$/.test(dd)) return problem(400, "Invalid date")()
    const listFor = (t: string) => (state.days.get(`${t}/${mm}/${dd}`)?.[t] as ReadonlyArray<unknown> | undefined) ?? []
    const body = type === "all" ? Object.fromEntries(TYPES.map((t) => [t, listFor(t)])) : { [type]: listFor(type) }
    return conditional(c, JSON.stringify(body), { contentType: PROFILE, validators: state.validators })
  })
  const server = yield* startFake(app)
  return { ...server, state }
})
