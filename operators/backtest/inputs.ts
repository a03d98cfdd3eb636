/**
 * Where a backtest's signals come from:
 * - a data file (JSONL, CSV, the YouTube trending layout), read as the replay source reads
 *   it, under the ids the replay source gives them;
 * - a retained stream (XRANGE through the transport, oldest first): the score operator's
 *   input, already deduplicated and enriched, in the order it was processed live;
 * - the raw-signal archive in the blob store (`raw-signals/year=/month=/day=/<id>.json`),
 *   written by enrich; those signals get ids from their archive key.
 */
import { Effect, Either, ParseResult, Schema } from "effect"
import { BlobStore } from "../../runtime/blobs.ts"
import { deriveEventId, makeEnvelopeCodec } from "../../runtime/envelope.ts"
import { PermanentError } from "../../runtime/errors.ts"
import { makeKeys } from "../../runtime/keys.ts"
import type { StreamDef } from "../../runtime/topology.ts"
import { Transport } from "../../runtime/transport.ts"
import { readRecording, type RecordingFormat } from "../sources/recordings.ts"
import { Signal } from "../schemas.ts"
import type { RecordedItem } from "./rescore.ts"

/** The replay source's node name (operators/sources/replay.ts): its events' ids derive from it. */
const REPLAY_SOURCE = "replay"

export const fromFile = (path: string, format: RecordingFormat): ReadonlyArray<RecordedItem> =>
  readRecording(path, format).map((r) => ({
    id: deriveEventId(REPLAY_SOURCE, r.key),
    key: r.key,
    signal: r.signal,
    stage: "raw" as const,
    ...(r.outcome !== undefined ? { outcome: r.outcome } : {})
  }))

const PAGE = 1_000

/** The entry id right after `id`, for paging with inclusive XRANGE bounds. */
const after = (id: string): string => {
  const [ms = "0", seq = "0"] = id.split("-")
  return `${ms}-${BigInt(seq) + 1n}`
}

/** Every entry of a retained stream; an entry that does not decode fails the backtest with its id. */
export const fromStream = (topology: string, input: StreamDef<Signal>) =>
  Effect.gen(function* () {
    const transport = yield* Transport
    const key = makeKeys(topology).stream(input.name)
    const codec = makeEnvelopeCodec(input.name, input.schema)
    const out: Array<RecordedItem> = []
    let start = "-"
    while (true) {
      const page = yield* transport.range(key, { start, count: PAGE })
      for (const entry of page) {
        const decoded = codec.decode(entry.fields)
        if (Either.isLeft(decoded)) return yield* new PermanentError({ message: `${input.name} ${entry.id}: ${decoded.left.message}` })
        out.push({ id: decoded.right.correlationId, key: entry.id, signal: decoded.right.data, stage: "enriched" })
      }
      if (page.length < PAGE) return out
      start = after(page[page.length - 1]!.id)
    }
  })

const ArchivedSignal = Schema.parseJson(Signal)
const DAY_OF_KEY = /^raw-signals\/year=(\d{4})\/month=(\d{2})\/day=(\d{2})\//

/** Archived raw signals of the UTC days `from`..`to` (YYYY-MM-DD, both optional, inclusive), by event time. */
export const fromArchive = (range: { readonly from?: string | undefined; readonly to?: string | undefined }) =>
  Effect.gen(function* () {
    const blobs = yield* BlobStore
    const keys = (yield* blobs.list("raw-signals/")).filter((key) => {
      const m = DAY_OF_KEY.exec(key)
      const day = m === null ? undefined : `${m[1]}-${m[2]}-${m[3]}`
      return day !== undefined && key.endsWith(".json") && (range.from === undefined || day >= range.from) && (range.to === undefined || day <= range.to)
    })
    const items = yield* Effect.forEach(
      keys,
      (key) =>
        Effect.flatMap(blobs.get(key), (bytes) =>
          Either.match(Schema.decodeUnknownEither(ArchivedSignal)(Buffer.from(bytes).toString("utf8")), {
            onLeft: (e) => Effect.fail(new PermanentError({ message: `${key}: ${ParseResult.TreeFormatter.formatErrorSync(e)}` })),
            onRight: (signal) => Effect.succeed<RecordedItem>({ id: deriveEventId("archive", key), key, signal, stage: "raw" })
          })
        ),
      { concurrency: 16 }
    )
    return items
      .map((item, i) => ({ item, i, at: Date.parse(item.signal.capturedAt) }))
      .sort((a, b) => a.at - b.at || a.i - b.i)
      .map(({ item }) => item)
  })
