/**
 * Vitest global setup: one real redis-server on a free loopback port for the whole run. Tests
 * read its URL with `inject("redisUrl")` and keep apart with `freshPrefix()`.
 */
import type { TestProject } from "vitest/node"
import { startRedisServer } from "./redis.js"

declare module "vitest" {
  export interface ProvidedContext {
    redisUrl: string
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startRedisServer()
  project.provide("redisUrl", server.url)
  return () => server.kill()
}
