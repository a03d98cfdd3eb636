/**
 * A consumer's own Redis connection for its hot loop, speaking RESP directly: a round
 * trip's commands are written as one string and their replies parsed by redis-parser
 * (the parser ioredis itself uses). The worker loop sends the same few commands thousands
 * of times a second, and ioredis' per-command objects, promises and reply callbacks cost
 * the client more than Redis spends running them (measured with `npm run bench -- runtime`).
 * Everything else in the Redis transport goes through ioredis.
 *
 * Pipelined request/response only (no pub/sub, no MONITOR): replies come back in the order
 * the commands were sent. A broken connection fails what is waiting and is reopened by the
 * next round trip. A half-open one (the peer gone without a FIN: a crashed host, a dropped
 * NAT entry) is found by the reply timeout, and by TCP keepalive when idle, and closed.
 */
import * as net from "node:net"
import * as tls from "node:tls"
import RedisParser from "redis-parser"

export type Arg = string | number

/** Commands encoded for one round trip, and how many replies they will get. */
export class RespBatch {
  private encoded = ""
  private count = 0

  /** The RESP text to write. */
  get text(): string {
    return this.encoded
  }

  /** How many commands, so how many replies. */
  get commands(): number {
    return this.count
  }

  /** Appends one command. */
  command(...args: ReadonlyArray<Arg>): this {
    let text = `*${args.length}\r\n`
    for (const arg of args) text += bulk(String(arg))
    this.encoded += text
    this.count++
    return this
  }

  /** `XADD stream * field value ...`, encoded straight from the fields object. */
  xadd(stream: string, fields: Readonly<Record<string, string>>): this {
    let args = 3
    let body = ""
    for (const name in fields) {
      body += bulk(name) + bulk(fields[name]!)
      args += 2
    }
    this.encoded += `*${args}\r\n$4\r\nXADD\r\n${bulk(stream)}$1\r\n*\r\n${body}`
    this.count++
    return this
  }
}

const bulk = (value: string): string => `$${Buffer.byteLength(value)}\r\n${value}\r\n`

interface Waiting {
  readonly replies: Array<unknown>
  left: number
  readonly resolve: (replies: Array<unknown>) => void
  readonly reject: (error: Error) => void
  readonly timer: ReturnType<typeof setTimeout> | undefined
}

export interface RespConnectionOptions {
  /** How long connecting, or a round trip's replies (beyond a blocking read's wait), may take; default 10 s. */
  readonly timeoutMs?: number | undefined
}

/** Where and how to connect, from a `redis://` or `rediss://` URL. */
interface Endpoint {
  readonly host: string
  readonly port: number
  readonly tls: boolean
  readonly handshake: RespBatch
}

export const REDIS_URL_FORMAT = "redis://[user:password@]host[:port][/db], or rediss://... for TLS"

/** Read as ioredis reads it: user, password and database from the URL, else from its query (`?password=`, `?db=`). */
export const parseRedisUrl = (raw: string): Endpoint => {
  const url = URL.canParse(raw) ? new URL(raw) : undefined
  if (url === undefined || (url.protocol !== "redis:" && url.protocol !== "rediss:")) {
    throw new Error(`REDIS_URL: expected ${REDIS_URL_FORMAT}`)
  }
  const query = url.searchParams
  const handshake = new RespBatch()
  const username = decodeURIComponent(url.username) || query.get("username") || ""
  const password = decodeURIComponent(url.password) || query.get("password") || ""
  if (password !== "") {
    if (username !== "") handshake.command("AUTH", username, password)
    else handshake.command("AUTH", password)
  }
  const db = url.pathname.replace(/^\//, "") || query.get("db") || ""
  if (db !== "" && db !== "0") handshake.command("SELECT", db)
  return {
    host: url.hostname.replace(/^\[|\]$/g, "") || "127.0.0.1",
    port: url.port === "" ? 6379 : Number(url.port),
    tls: url.protocol === "rediss:",
    handshake
  }
}

export const isRedisUrl = (raw: string): boolean => {
  try {
    parseRedisUrl(raw)
    return true
  } catch {
    return false
  }
}

export class RespConnection {
  private socket: net.Socket | undefined
  private opening: Promise<void> | undefined
  private readonly waiting: Array<Waiting> = []
  private readonly endpoint: Endpoint
  private readonly timeoutMs: number

  constructor(url: string, options: RespConnectionOptions = {}) {
    this.endpoint = parseRedisUrl(url)
    this.timeoutMs = options.timeoutMs ?? 10_000
  }

  /**
   * Sends the batch in one write; resolves with one reply per command (error replies as
   * `Error` values). `waitMs` is how long the batch may legitimately wait on the server
   * (a BLOCK): the replies are due within that plus the timeout, else the connection is
   * taken for dead and closed.
   */
  async send(batch: RespBatch, waitMs = 0): Promise<Array<unknown>> {
    if (this.socket === undefined) await this.open()
    return this.write(this.socket!, batch, waitMs)
  }

  /** Ends the connection; what is still waiting fails. */
  close(): Promise<void> {
    const socket = this.socket
    if (socket === undefined) return Promise.resolve()
    return new Promise((resolve) => {
      socket.once("close", () => resolve())
      socket.end()
      setTimeout(() => socket.destroy(), 1_000).unref()
    })
  }

  private write(socket: net.Socket, batch: RespBatch, waitMs: number): Promise<Array<unknown>> {
    return new Promise((resolve, reject) => {
      if (batch.commands === 0) return resolve([])
      const { host, port } = this.endpoint
      const limit = this.timeoutMs + waitMs
      const timer = setTimeout(() => this.abandon(socket, new Error(`no reply from ${host}:${port} within ${limit} ms`)), limit)
      this.waiting.push({ replies: [], left: batch.commands, resolve, reject, timer })
      socket.write(batch.text)
    })
  }

  /** Fails everything waiting on `socket` with `error` and closes it; the next send reconnects. */
  private abandon(socket: net.Socket, error: Error): void {
    if (this.socket === socket) this.socket = undefined
    this.failAll(error)
    socket.destroy()
  }

  private open(): Promise<void> {
    this.opening ??= this.connect().finally(() => {
      this.opening = undefined
    })
    return this.opening
  }

  private async connect(): Promise<void> {
    const { host, port } = this.endpoint
    const socket = this.endpoint.tls ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host }) : net.connect({ host, port })
    socket.setNoDelay(true)
    socket.setKeepAlive(true, 10_000)
    // What waits belongs to the current socket: a socket abandoned earlier (a reply timeout)
    // had its waiters failed then, and its late replies or close must not touch a newer one's.
    const parser = new RedisParser({
      returnReply: (reply) => this.socket === socket && this.reply(reply),
      returnError: (error) => this.socket === socket && this.reply(error),
      returnFatalError: (error) => socket.destroy(error)
    })
    socket.on("data", (chunk: Buffer) => parser.execute(chunk))
    socket.on("error", () => undefined) // "close" follows and reports it
    socket.on("close", (hadError) => {
      if (this.socket !== socket) return
      this.socket = undefined
      this.failAll(new Error(hadError ? `connection to ${host}:${port} failed` : `connection to ${host}:${port} closed`))
    })
    this.socket = socket
    // The handshake (or a PING when there is none) is queued behind the connect, so its
    // timeout bounds connecting too.
    const handshake = this.endpoint.handshake.commands > 0 ? this.endpoint.handshake : new RespBatch().command("PING")
    const replies = await this.write(socket, handshake, 0)
    const refused = replies.find((r) => r instanceof Error)
    if (refused !== undefined) {
      socket.destroy()
      throw refused
    }
  }

  private reply(value: unknown): void {
    const head = this.waiting[0]
    if (head === undefined) return
    head.replies.push(value)
    if (--head.left === 0) {
      this.waiting.shift()
      clearTimeout(head.timer)
      head.resolve(head.replies)
    }
  }

  private failAll(error: Error): void {
    for (const w of this.waiting.splice(0)) {
      clearTimeout(w.timer)
      w.reject(error)
    }
  }
}
