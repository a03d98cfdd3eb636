/** The parts of redis-parser (the RESP parser ioredis uses) that `resp.ts` calls; it ships no types. */
declare module "redis-parser" {
  export default class RedisParser {
    constructor(options: {
      readonly returnReply: (reply: unknown) => void
      /** An error reply; its message is Redis' own ("NOSCRIPT ...", "WRONGTYPE ..."). */
      readonly returnError: (error: Error) => void
      /** The byte stream is not RESP: the connection cannot be trusted any more. */
      readonly returnFatalError?: (error: Error) => void
    })
    execute(chunk: Buffer): void
  }
}
