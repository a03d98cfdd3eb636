/**
 * How a signal becomes an idea: stable ids and the key phrase a design is typeset from.
 * Ids derive from content, so replays and redeliveries land on the same rows.
 */
import { deriveEventId } from "../runtime/envelope.ts"

/** One row per distinct content: a topic that returns maps to the signal already stored. */
export const signalIdOf = (contentHash: string): string => deriveEventId("signal", contentHash)

/** One idea per signal occurrence (its correlation id follows it from the source). */
export const ideaIdOf = (correlationId: string): string => deriveEventId("idea", correlationId)

export const listingIdOf = (ideaId: string, marketplace: string): string => deriveEventId("listing", ideaId, marketplace)

const NOISE = /\s*(\(|\[|\{)[^)\]}]*(\)|\]|\})\s*/g
const SEPARATORS = /\s+[|\-–—:•]\s+|\s*[|•]\s*/

/**
 * The short phrase for the artwork: the title's leading clause without bracketed noise
 * ("(Official Video)", "[HD]"), URLs, hashtags or emoji, cut at a word boundary.
 */
export const keyPhraseOf = (content: string, maxLength = 40): string => {
  const cleaned = content
    .replace(/https?:\/\/\S+/g, " ")
    .replace(NOISE, " ")
    .replace(/[#@]\w+/g, " ")
    .replace(/\s+/g, " ")
    .trim()
  const lead = cleaned.split(SEPARATORS).find((part) => part.trim().length >= 3) ?? cleaned
  const clause = lead.replace(/[^\p{L}\p{N}'’&!?.,\s-]/gu, " ").replace(/\s+/g, " ").trim()
  if (clause.length <= maxLength) return clause.length > 0 ? clause : "Good Vibes"
  const cut = clause.slice(0, maxLength + 1)
  const space = cut.lastIndexOf(" ")
  return (space > 10 ? cut.slice(0, space) : clause.slice(0, maxLength)).replace(/[\s,.:;-]+$/, "")
}
