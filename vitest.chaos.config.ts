import { defineConfig } from "vitest/config"

/** `npm run chaos`: real processes and engines, faults injected; minutes, not seconds. */
export default defineConfig({
  test: {
    include: ["test/chaos/**/*.chaos.ts"],
    globalSetup: ["test/support/globalSetup.ts"],
    // Each case is bounded by progress (it fails when nothing moves for a minute) and by this.
    testTimeout: 1_200_000,
    hookTimeout: 60_000,
    fileParallelism: false
  }
})
