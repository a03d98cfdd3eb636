/**
 * Replays a recorded file of signals (JSONL, CSV, or the YouTube trending layout) at an
 * accelerated event-time pace, each with its recorded event time, so downstream windows
 * and decays see what a live run saw. The file is read and validated once, at start-up:
 * a bad line stops the start with its file, line and field.
 */
import { Effect, Schema } from "effect"
import { decodeConfig, source, type SettingsInput, type StreamDef } from "../../runtime/topology.ts"
import { readRecording, RecordingFormat } from "./recordings.ts"
import type { Signal } from "../schemas.ts"

export const ReplayConfig = Schema.Struct({
  path: Schema.NonEmptyString.annotations({ description: "the recording to replay", examples: ["data/signals.jsonl"] }),
  format: RecordingFormat,
  speed: Schema.optionalWith(Schema.Number.pipe(Schema.nonNegative()), { default: () => 3600 }).annotations({
    description: "event-time seconds replayed per wall-clock second; 0 replays as fast as backpressure allows"
  }),
  batch: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 200 }).annotations({ description: "signals per poll at most" })
})
export type ReplayConfig = typeof ReplayConfig.Type

export const replay = (
  config: typeof ReplayConfig.Encoded,
  io: { readonly to: StreamDef<Signal> },
  settings?: SettingsInput
) => {
  const c = decodeConfig("replay", ReplayConfig, config)
  const records = readRecording(c.path, c.format)
  const first = records.length > 0 ? Date.parse(records[0]!.signal.capturedAt) : 0
  let next = 0
  let startedAt: number | undefined
  return source({
    name: "replay",
    kind: "replay",
    to: io.to,
    every: "200 millis",
    settings,
    config: c,
    poll: Effect.sync(() => {
      startedAt ??= Date.now()
      const clock = c.speed === 0 ? Infinity : first + (Date.now() - startedAt) * c.speed
      const due: Array<(typeof records)[number]> = []
      while (next < records.length && due.length < c.batch && Date.parse(records[next]!.signal.capturedAt) <= clock) {
        due.push(records[next++]!)
      }
      return {
        emissions: due.map((r) => ({ data: r.signal, timestamp: r.signal.capturedAt, key: r.key })),
        more: due.length === c.batch,
        done: next >= records.length
      }
    })
  })
}
