/** A mocked-up design as the listing stage receives it, for listing and brand-safety tests. */
import type { Idea, MockupSet } from "../../operators/schemas.ts"

export const sampleIdea = (over: Partial<Idea> = {}): Idea => ({
  ideaId: "6a1f2c0e-58a8-4d7e-9a0b-00000000a001",
  signalId: "6a1f2c0e-58a8-4d7e-9a0b-00000000b001",
  signal: {
    source: "occasions",
    sourceId: "2026-05-10:mothers-day",
    content: "Mother's Day is coming: dog moms celebrate too",
    capturedAt: "2026-04-01T10:00:00.000Z",
    engagement: {},
    tags: ["dog mom", "mothers day"],
    metadata: { occasion: "Mother's Day" }
  },
  keyPhrase: "Dog Mom Club",
  title: "Dog Mom Club",
  niche: "dog lovers",
  score: 0.4,
  factors: { freshness: 0.5, engagement: 0.5, novelty: 0.5, communityFit: 0.5, seasonality: 0.5 },
  weightsVersion: 1,
  ...over
})

export const sampleSet = (idea: Idea = sampleIdea()): MockupSet => ({
  artwork: {
    idea,
    seed: "s1",
    engine: "procedural",
    printFileKey: `generated-mockups/${idea.ideaId}/print.png`,
    printFileUri: `file:///blobs/generated-mockups/${idea.ideaId}/print.png`,
    width: 4500,
    height: 5400,
    dpi: 300,
    sha256: "0".repeat(64)
  },
  mockups: [
    { variant: "front", colorway: "black", key: `generated-mockups/${idea.ideaId}/variants/front-black.jpg`, uri: "file:///x/front-black.jpg" },
    { variant: "front", colorway: "heather-grey", key: `generated-mockups/${idea.ideaId}/variants/front-heather-grey.jpg`, uri: "file:///x/front-hg.jpg" }
  ]
})
