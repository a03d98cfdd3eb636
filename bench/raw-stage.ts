/**
 * The baseline of the runtime bench: one stage as a hand-written ioredis loop, what a
 * competent engineer writes without a framework, pipelined as the runtime is: each round
 * trip commits the previous batch and reads the next,
 *
 *   MULTI, XADD out (each), XACK in, EXEC, XREADGROUP GROUP g c COUNT n BLOCK ms STREAMS in >
 *
 * one connection, same batch size as the runtime, same envelope fields. `--mode copy`
 * forwards the fields untouched (the pass-through case: neither side serializes again);
 * `--mode transform` parses the payload, sets its `source` to the stage's name and
 * serializes it again, as the runtime's transforming stages do. It does not validate a
 * schema, derive event ids, keep metrics, check backpressure or handle retries: that is
 * the framework's work being priced.
 *
 *   node --import tsx bench/raw-stage.ts --url redis://... --in K --out K --group g
 *        [--batch 100] [--block 1000] [--mode copy|transform]
 *
 * SIGTERM: stop reading, commit the batch in hand, exit 0.
 */
import { parseArgs } from "node:util"
import { Redis } from "ioredis"

const { values } = parseArgs({
  options: {
    url: { type: "string" },
    in: { type: "string" },
    out: { type: "string" },
    group: { type: "string" },
    consumer: { type: "string", default: `raw-${process.pid}` },
    batch: { type: "string", default: "100" },
    block: { type: "string", default: "1000" },
    mode: { type: "string", default: "copy" }
  },
  strict: true
})

const required = (name: string, value: string | undefined): string => {
  if (value === undefined || value === "") {
    process.stderr.write(`raw-stage: --${name} is required\n`)
    process.exit(2)
  }
  return value
}

const url = required("url", values.url)
const input = required("in", values.in)
const output = required("out", values.out)
const group = required("group", values.group)
const consumer = values.consumer
const batch = Number(values.batch)
const block = Number(values.block)
if (values.mode !== "copy" && values.mode !== "transform") {
  process.stderr.write(`raw-stage: --mode must be copy or transform, got "${values.mode}"\n`)
  process.exit(2)
}
const copy = values.mode === "copy"

type ReadReply = Array<[string, Array<[string, Array<string>]>]> | null

const redis = new Redis(url, { maxRetriesPerRequest: null, enableAutoPipelining: false })
redis.on("error", (e) => process.stderr.write(`raw-stage ${group}: ${e.message}\n`))

let stopping = false
process.on("SIGTERM", () => {
  stopping = true
})
process.on("SIGINT", () => {
  stopping = true
})

try {
  await redis.xgroup("CREATE", input, group, "0", "MKSTREAM")
} catch (error) {
  if (!String(error).includes("BUSYGROUP")) throw error
}

const transform = (flat: ReadonlyArray<string>): Array<string> => {
  if (copy) return flat as Array<string>
  const fields = flat.slice()
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === "source") fields[i + 1] = group
    else if (fields[i] === "data") fields[i + 1] = JSON.stringify({ ...JSON.parse(fields[i + 1]!), source: group })
  }
  return fields
}

// First our own pending entries (a restart under the same name), then new ones.
let history = true
const readArgs = () =>
  history
    ? ["GROUP", group, consumer, "COUNT", batch, "STREAMS", input, "0"]
    : ["GROUP", group, consumer, "COUNT", batch, "BLOCK", block, "STREAMS", input, ">"]
const entriesOf = (reply: ReadReply): Array<[string, Array<string>]> => {
  const entries = reply === null ? [] : reply[0]![1]
  if (history && reply !== null && entries.length === 0) history = false
  return entries
}

// One round trip per batch: commit the previous batch and read the next together.
let outputs: Array<Array<string>> = []
let acks: Array<string> = []
while (true) {
  const pipe = redis.pipeline()
  if (acks.length > 0) {
    pipe.call("MULTI")
    for (const fields of outputs) pipe.xadd(output, "*", ...fields)
    pipe.xack(input, group, ...acks)
    pipe.call("EXEC")
  }
  if (!stopping) pipe.call("XREADGROUP", ...readArgs())
  const replies = (await pipe.exec()) ?? []
  const failed = replies.find(([error]) => error !== null)
  if (failed !== undefined) throw failed[0]
  if (acks.length > 0) {
    const exec = replies[outputs.length + 2]![1]
    if (!Array.isArray(exec) || exec.some((r) => r instanceof Error)) throw new Error("EXEC failed or aborted")
  }
  if (stopping) break
  const entries = entriesOf(replies[replies.length - 1]![1] as ReadReply)
  outputs = entries.map(([, flat]) => transform(flat))
  acks = entries.map(([id]) => id)
}
await redis.quit()
process.exit(0)
