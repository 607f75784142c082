/**
 * Vitest global setup, once for the whole run:
 *
 * - `dist/` is rebuilt when `src/` changed since it was built, so that the tests that run the
 *   shipped CLI (`node dist/cli/bin.js`) run the current code; once, before any test file, so
 *   that no two files rebuild it at the same time;
 * - one real redis-server on a free loopback port. Tests read its URL with
 *   `inject("redisUrl")` and keep apart with `freshPrefix()`.
 */
import type { TestProject } from "vitest/node"
import { ensureBuilt } from "./build.js"
import { startRedisServer } from "./redis.js"

declare module "vitest" {
  export interface ProvidedContext {
    redisUrl: string
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  ensureBuilt()
  const server = await startRedisServer()
  project.provide("redisUrl", server.url)
  return () => server.kill()
}
