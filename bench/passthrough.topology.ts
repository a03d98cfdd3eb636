/**
 * The runtime bench's topology: three stages on Redis,
 *   bench.in -> s1 -> bench.a -> s2 -> bench.b -> s3 -> bench.out
 * that pass each message through unchanged, or (`BENCH_TRANSFORM=1`) each set its
 * `source` field to the stage's name, so every stage decodes and encodes the payload.
 * each run as its own process (`desainz worker --topology bench/passthrough.topology.ts --only s1`).
 * The bench driver XADDs envelopes to `bench.in` itself; `feed` only exists because a
 * topology must say who writes every stream it reads, and is never run.
 *
 * Settings are the runtime defaults unless `BENCH_*` variables say otherwise, so the
 * bench measures what a user gets; see `settings` below for what can be varied.
 */
import { Effect, Layer, Schema } from "effect"
import { map, type SettingsInput, source, stream, topology } from "../runtime/topology.ts"

/** ~300 bytes of JSON, a bit like a small signal; `sentAt` (ms, sub-ms precision) carries the latency. */
export const BenchMessage = Schema.Struct({
  seq: Schema.Number,
  sentAt: Schema.Number,
  source: Schema.String,
  title: Schema.String,
  tags: Schema.Array(Schema.String),
  score: Schema.Number,
  body: Schema.String
})
export type BenchMessage = typeof BenchMessage.Type

const FILLER = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua ut enim ad minim veniam quis nostrud exercitation"

export const benchMessage = (seq: number, sentAt: number): BenchMessage => ({
  seq,
  sentAt,
  source: "bench",
  title: `retro sunset cat #${seq}`,
  tags: ["retro", "sunset", "cats", "80s"],
  score: (seq % 1000) / 1000,
  body: FILLER
})

export const STREAMS = { input: "bench.in", a: "bench.a", b: "bench.b", output: "bench.out" } as const
export const STAGES = [
  { name: "s1", from: STREAMS.input, to: STREAMS.a },
  { name: "s2", from: STREAMS.a, to: STREAMS.b },
  { name: "s3", from: STREAMS.b, to: STREAMS.output }
] as const
export const TOPOLOGY_NAME = "bench"

const envInt = (name: string): number | undefined => {
  const raw = process.env[name]
  return raw === undefined || raw === "" ? undefined : Number(raw)
}

/** Operator settings: defaults, with overrides the bench passes down (documented in bench/runtime.ts). */
const settings: SettingsInput = Object.fromEntries(
  Object.entries({
    batchSize: envInt("BENCH_BATCH_SIZE"),
    concurrency: envInt("BENCH_CONCURRENCY"),
    blockMs: envInt("BENCH_BLOCK_MS"),
    highWatermark: envInt("BENCH_HIGH_WATERMARK"),
    lowWatermark: envInt("BENCH_LOW_WATERMARK")
  }).filter(([, v]) => v !== undefined)
)

const input = stream(STREAMS.input, BenchMessage)
const a = stream(STREAMS.a, BenchMessage)
const b = stream(STREAMS.b, BenchMessage)
const output = stream(STREAMS.output, BenchMessage)

const transforming = process.env["BENCH_TRANSFORM"] === "1"
/** The stage's work: nothing, or one changed field (a new object, so it is serialized again). */
const stage = (name: string) => (m: BenchMessage) => Effect.succeed(transforming ? { ...m, source: name } : m)

export default topology({
  name: TOPOLOGY_NAME,
  nodes: [
    source({ name: "feed", to: input, every: "1 hour", poll: Effect.succeed({ emissions: [], done: true }) }),
    map({ name: "s1", from: input, to: a, settings, run: stage("s1") }),
    map({ name: "s2", from: a, to: b, settings, run: stage("s2") }),
    map({ name: "s3", from: b, to: output, settings, run: stage("s3") })
  ],
  services: Layer.empty
})
