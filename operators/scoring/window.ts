/**
 * The event-time windower every stateful factor uses (clock x windower x logic): the
 * clock is the signal's own event time, never the wall clock or a scorer's watermark; the
 * windower picks the day buckets that are CLOSED relative to it; the logic (engagement
 * baseline, topic peaks, centroids, neighbours) only ever sees those.
 *
 * A bucket is closed for a signal at `t` when it ends at or before `t - allowedLateness`
 * (the horizon, rounded down to a day boundary). Everything a signal is scored against is
 * therefore older than itself by at least the allowed lateness, and once the input
 * stream's disorder (plus the skew between replicas) stays within that lateness, every
 * closed bucket is complete when read: the score of a signal is a function of the set of
 * signals before it, not of the order they were processed in. Input that arrives later
 * than that is counted (`late`) and still added, for the signals after it.
 */
import { bucketOf, DAY } from "./state.ts"

export interface ClosedWindow {
  /** The signal's event time (ms): "now" for every factor. */
  readonly at: number
  /** Reads cover event time before this instant, a day boundary; the seal is raised to it. */
  readonly horizon: number
  /** The `span` closed day buckets just before the horizon, oldest first. */
  readonly buckets: (span: number) => ReadonlyArray<number>
}

export const closedWindow = (at: number, allowedLatenessMs: number): ClosedWindow => {
  const last = bucketOf(at - allowedLatenessMs) // the first bucket that is still open
  return {
    at,
    horizon: last * DAY,
    buckets: (span) => Array.from({ length: span }, (_, i) => last - span + i)
  }
}

/** The middle of a day bucket, where its decay weight is taken. */
export const bucketMiddle = (bucket: number): number => bucket * DAY + DAY / 2
