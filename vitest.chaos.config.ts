import { defineConfig } from "vitest/config"

/** `npm run chaos`: real processes and engines, faults injected; minutes, not seconds. */
export default defineConfig({
  test: {
    include: ["test/chaos/**/*.chaos.ts"],
    globalSetup: ["test/support/globalSetup.ts"],
    testTimeout: 600_000,
    hookTimeout: 60_000,
    fileParallelism: false
  }
})
