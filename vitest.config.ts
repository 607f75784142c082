import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

const src = fileURLToPath(new URL("./src/", import.meta.url))

export default defineConfig({
  // The package's own entry points, as tsconfig's `paths` map them: docs/examples import
  // "effect-grok/..." as an app does, and tests run them.
  resolve: {
    alias: [
      { find: /^effect-grok$/, replacement: `${src}index.ts` },
      { find: /^effect-grok\/(ai|node|otel|redis|simulator)$/, replacement: `${src}$1.ts` }
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
