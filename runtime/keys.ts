/**
 * Every Redis key name the runtime uses, in one place.
 *
 * All keys of one topology share the hash tag `{<topology>}`: a commit XADDs to output
 * streams and XACKs the input stream in one MULTI/EXEC, which Redis Cluster only allows
 * when every key lives in one slot. To spread load over a cluster, split the pipeline
 * into several topologies (each its own tag); never break the atomic commit.
 */
export interface Keys {
  /** The Redis key of a logical stream such as `signals.raw`. */
  readonly stream: (name: string) => string
  /** The dead-letter stream of an operator: `dlq.<operator>`. */
  readonly dlq: (operator: string) => string
  /** The consumer group of an operator on its input stream: the operator's name. */
  readonly group: (operator: string) => string
  /** A key for an operator's own state (bloom filters, baselines, rate limits). */
  readonly state: (operator: string, name: string) => string
  /** The inverse of `stream`: the logical name of a stream key, if it is one of ours. */
  readonly streamName: (key: string) => string | undefined
}

export const makeKeys = (topology: string, prefix = "desainz"): Keys => {
  const base = `${prefix}:{${topology}}`
  const streamPrefix = `${base}:s:`
  return {
    stream: (name) => `${streamPrefix}${name}`,
    dlq: (operator) => `${streamPrefix}dlq.${operator}`,
    group: (operator) => operator,
    state: (operator, name) => `${base}:state:${operator}:${name}`,
    streamName: (key) => (key.startsWith(streamPrefix) ? key.slice(streamPrefix.length) : undefined)
  }
}
