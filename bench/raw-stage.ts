/**
 * The baseline of the runtime bench: one pass-through stage as a hand-written ioredis
 * loop, what a competent engineer writes without a framework:
 *
 *   XREADGROUP GROUP g c COUNT n BLOCK ms STREAMS in >   ->   MULTI, XADD out (each), XACK in, EXEC
 *
 * sequentially, one connection, same batch size as the runtime, same envelope fields.
 * The payload is parsed and serialized again (`--mode json`, the default), as any stage
 * that looks at its data must; `--mode copy` forwards the fields untouched (the floor).
 * It does not validate a schema, derive event ids, keep metrics, check backpressure or
 * handle retries: that is the framework's work being priced. `--pipelined` sends each
 * commit in one round trip with the next read, as the runtime's worker loop does.
 *
 *   node --import tsx bench/raw-stage.ts --url redis://... --in K --out K --group g
 *        [--batch 100] [--block 1000] [--mode json|copy] [--pipelined]
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
    mode: { type: "string", default: "json" },
    pipelined: { type: "boolean", default: false }
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
const copy = values.mode === "copy"
const pipelined = values.pipelined

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
    else if (fields[i] === "data") fields[i + 1] = JSON.stringify(JSON.parse(fields[i + 1]!))
  }
  return fields
}

const failedReply = (results: Array<[Error | null, unknown]> | null): Error | undefined => {
  if (results === null) return new Error("EXEC aborted")
  return results.find(([error]) => error !== null)?.[0] ?? undefined
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

if (!pipelined) {
  while (!stopping) {
    const entries = entriesOf((await redis.call("XREADGROUP", ...readArgs())) as ReadReply)
    if (entries.length === 0) continue
    const tx = redis.multi()
    for (const [, flat] of entries) tx.xadd(output, "*", ...transform(flat))
    tx.xack(input, group, ...entries.map(([id]) => id))
    const failed = failedReply(await tx.exec())
    if (failed !== undefined) throw failed
  }
} else {
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
}
await redis.quit()
process.exit(0)
