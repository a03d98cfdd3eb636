/**
 * Naive rankings a scorer must beat to be worth its name, computed from the signal alone
 * as it was first seen (no history, no embedding):
 *
 * - `engagement per hour`: the signal's engagement divided by the hours since the item was
 *   published (`metadata.publishedAt`) at capture: views/hour for YouTube. An item without
 *   a publication time counts as published an hour before capture.
 * - `raw engagement`: the engagement figure at first sight, whatever the item's age.
 *
 * The engagement figure is views when the source reports views (they dwarf the rest and
 * are what "views/hour" means), else likes + comments + positive net votes. A signal with
 * no engagement figure at all scores 0, below every signal that has one.
 *
 * Backtests score every signal with these in the same pass as the weight sets, and the
 * feedback learner uses them as its floor: a weight set that does not beat them is noise.
 */
import type { Signal } from "../schemas.ts"
import { publishedAt } from "../scoring/engagement.ts"

export interface Baseline {
  readonly name: string
  /** Higher ranks first; finite, >= 0. */
  readonly score: (signal: Signal) => number
}

const HOUR = 3_600_000

/** The engagement figure a naive ranking sorts by, or undefined when the source reports none. */
export const engagementFigure = (signal: Signal): number | undefined => {
  const e = signal.engagement
  if (e.views !== undefined) return e.views
  if (e.likes === undefined && e.comments === undefined && e.score === undefined) return undefined
  return (e.likes ?? 0) + (e.comments ?? 0) + Math.max(0, e.score ?? 0)
}

/** Hours from publication to capture, at least one minute; one hour when the publication time is unknown. */
export const hoursSincePublished = (signal: Signal): number => {
  const published = publishedAt(signal)
  if (published === undefined) return 1
  return Math.max(1 / 60, (Date.parse(signal.capturedAt) - published) / HOUR)
}

export const engagementPerHour: Baseline = {
  name: "baseline: engagement/hour",
  score: (signal) => {
    const figure = engagementFigure(signal)
    return figure === undefined ? 0 : figure / hoursSincePublished(signal)
  }
}

export const rawEngagement: Baseline = {
  name: "baseline: raw engagement",
  score: (signal) => engagementFigure(signal) ?? 0
}

export const BASELINES: ReadonlyArray<Baseline> = [engagementPerHour, rawEngagement]

/** Every baseline's score of one signal, by name. */
export const baselineScores = (signal: Signal): Readonly<Record<string, number>> =>
  Object.fromEntries(BASELINES.map((b) => [b.name, b.score(signal)]))
