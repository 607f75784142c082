/**
 * docs/rate-limiting.md: choosing and tuning the limiter. Type-checked by `npm test`.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import * as GrokClient from "../../src/GrokClient.js"
import * as RateLimiter from "../../src/resilience/RateLimiter.js"
import * as RateLimiterMemory from "../../src/resilience/RateLimiterMemory.js"
import * as RateLimiterRedis from "../../src/resilience/RateLimiterRedis.js"

// One process: limits learned from the server's headers; a tighter configured limit wins.
export const MemoryLimiter = RateLimiterMemory.layer({
  limits: { requestsPerMinute: 480, tokensPerMinute: 2_000_000, maxConcurrency: 32 },
  maxQueued: 5_000,
  maxWait: "2 minutes"
})

// A fleet: one quota shared through Redis; while Redis is down each process keeps going at a quarter of it.
export const RedisLimiter = RateLimiterRedis.layer({
  url: "redis://127.0.0.1:6379",
  limits: { requestsPerMinute: 480 },
  onUnavailable: { fallback: { share: 0.25 } }
})

// The client picks up whichever limiter is provided (without one it owns an in-memory limiter).
export const AppLive = GrokClient.layerConfig().pipe(
  Layer.provide(MemoryLimiter),
  Layer.provide(NodeHttpClient.layerUndici)
)

// Priorities: under pressure critical goes first and background is shed first.
export const nightlyDigest = Effect.gen(function*() {
  const grok = yield* GrokClient.GrokClient
  return yield* grok.chat(
    { messages: [{ role: "user", content: "Summarise yesterday's tickets" }] },
    { priority: "background" }
  )
}).pipe(
  // A full queue or a too-long wait is a typed error, never a hang.
  Effect.catchTag("QueueRejected", (rejected) => Effect.succeed(`skipped: ${rejected.reason}`))
)

// Tests or an external pacer: admit everything.
export const NoLimits: Layer.Layer<RateLimiter.RateLimiter> = RateLimiter.layerUnlimited
