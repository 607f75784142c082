import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

const src = (file: string) => fileURLToPath(new URL(`./src/${file}`, import.meta.url))

export default defineConfig({
  resolve: {
    // The package's own entry points, as tsconfig's `paths` maps them: docs/examples import
    // "effect-grok/..." as a user's app does, and tests run those examples.
    alias: [
      { find: /^effect-grok$/, replacement: src("index.ts") },
      { find: /^effect-grok\/node$/, replacement: src("node.ts") },
      { find: /^effect-grok\/redis$/, replacement: src("redis.ts") },
      { find: /^effect-grok\/otel$/, replacement: src("otel.ts") },
      { find: /^effect-grok\/simulator$/, replacement: src("simulator.ts") }
    ]
  },
  test: {
    include: ["test/**/*.test.ts"],
    // Redis tests start a real redis-server once for the whole run.
    globalSetup: ["test/support/globalSetup.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // CI has 2 cores; loopback servers and redis-server share them with the workers.
    pool: "forks",
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    sequence: { hooks: "list" }
  }
})
