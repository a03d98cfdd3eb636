/**
 * A TCP proxy in front of a server, to make its connections half-open on demand: `cut()`
 * turns every connection (open ones and new ones) into a black hole that accepts bytes and
 * answers nothing, as a crashed host or a dropped NAT entry does; `restore()` lets new
 * connections through again (a black-holed connection stays dead, as a real one would).
 */
import { createServer, connect, type Socket } from "node:net"

export interface TcpProxy {
  readonly port: number
  readonly url: string
  readonly cut: () => void
  readonly restore: () => void
  readonly close: () => Promise<void>
}

export const startTcpProxy = (target: { host: string; port: number }, scheme = "redis"): Promise<TcpProxy> =>
  new Promise((resolve, reject) => {
    let open = true
    const sockets = new Set<Socket>()
    const dead = new WeakSet<Socket>()
    const server = createServer((client) => {
      sockets.add(client)
      client.on("close", () => sockets.delete(client))
      client.on("error", () => undefined)
      if (!open) {
        dead.add(client)
        return
      }
      const upstream = connect(target)
      sockets.add(upstream)
      upstream.on("close", () => sockets.delete(upstream))
      upstream.on("error", () => client.destroy())
      client.on("data", (chunk) => (dead.has(client) ? undefined : upstream.write(chunk)))
      upstream.on("data", (chunk) => (dead.has(client) ? undefined : client.write(chunk)))
      client.on("close", () => upstream.destroy())
      upstream.on("close", () => (dead.has(client) ? undefined : client.destroy()))
    })
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      if (typeof address !== "object" || address === null) return reject(new Error("no port"))
      resolve({
        port: address.port,
        url: `${scheme}://127.0.0.1:${address.port}`,
        cut: () => {
          open = false
          for (const s of sockets) dead.add(s)
        },
        restore: () => {
          open = true
        },
        close: () =>
          new Promise((done) => {
            for (const s of sockets) s.destroy()
            server.close(() => done())
          })
      })
    })
  })
