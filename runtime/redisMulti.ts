/**
 * ioredis' MULTI resolves even when commands inside it failed (EXEC succeeds; each reply
 * carries its own error). The replies of a MULTI, in order, or its first error: a failed
 * command then fails the caller (and its batch is retried) instead of passing as done.
 */
import type { ChainableCommander } from "ioredis"

export const execMulti = async (multi: ChainableCommander): Promise<ReadonlyArray<unknown>> => {
  const replies = await multi.exec()
  if (replies === null) throw new Error("MULTI aborted: a watched key changed or the connection dropped")
  return replies.map(([error, value]) => {
    if (error !== null) throw error
    return value
  })
}
