/** One redis-server for the whole test run (tests isolate themselves by topology name). */
import type { TestProject } from "vitest/node"
import { startRedis } from "./redisServer.ts"

declare module "vitest" {
  export interface ProvidedContext {
    redisUrl: string
  }
}

export default async function setup(project: TestProject) {
  if (process.env["REDIS_URL"]) {
    project.provide("redisUrl", process.env["REDIS_URL"])
    return
  }
  const server = await startRedis()
  project.provide("redisUrl", server.url)
  return () => server.stop()
}
