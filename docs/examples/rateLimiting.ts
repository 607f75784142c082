/**
 * docs/rate-limiting.md: choosing, sharing and tuning the limiter. Type-checked by `npm test`;
 * the sharing recipes also run against the simulator (docs/examples/recipes.ts).
 */
import { Effect, Layer } from "effect"
import { GrokClient, RateLimiter, RateLimiterMemory } from "effect-grok"
import { NodeGrokClient } from "effect-grok/node"
import { RateLimiterRedis } from "effect-grok/redis"

// One process: limits learned from the server's headers; a tighter configured limit wins.
// A burst of 10 goes back to back (as the server's own bucket allows), then the even pace.
export const MemoryLimiter = RateLimiterMemory.layer({
  limits: { requestsPerMinute: 480, tokensPerMinute: 2_000_000, burst: 10, maxConcurrency: 32 },
  maxQueued: 5_000,
  maxWait: "2 minutes"
})

// A fleet: one quota shared through Redis; while Redis is down each process keeps going at a quarter of it.
export const RedisLimiter = RateLimiterRedis.layer({
  url: "redis://127.0.0.1:6379",
  limits: { requestsPerMinute: 480 },
  onUnavailable: { fallback: { share: 0.25 } }
})

// The client uses the limiter its calls find. For one client these three are the same:
type Program<A, E> = Effect.Effect<A, E, GrokClient.GrokClient>
export const beside = <A, E>(program: Program<A, E>) =>
  program.pipe(Effect.provide(Layer.mergeAll(NodeGrokClient.layerConfig(), MemoryLimiter)))
export const under = <A, E>(program: Program<A, E>) =>
  program.pipe(Effect.provide(NodeGrokClient.layerConfig().pipe(Layer.provide(MemoryLimiter))))
export const around = <A, E>(program: Program<A, E>) =>
  program.pipe(Effect.provide(NodeGrokClient.layerConfig()), Effect.provide(MemoryLimiter))

// Several clients: one limiter above all of them. Each part provides its own client; the
// limiter is built once, so all their calls share its quota.
export const twoClients = <A, B, E>(
  chatbot: Effect.Effect<A, E, GrokClient.GrokClient>,
  batch: Effect.Effect<B, E, GrokClient.GrokClient>
) =>
  Effect.all([
    chatbot.pipe(Effect.provide(NodeGrokClient.layerConfig())),
    batch.pipe(Effect.provide(NodeGrokClient.layerConfig()))
  ], { concurrency: "unbounded" }).pipe(Effect.provide(MemoryLimiter))

// Several API keys of one team: xAI limits per team and model, so give them one rateLimitKey
// (or XAI_RATE_LIMIT_KEY=team-7 in the environment).
export const TeamClient = (apiKey: string) => NodeGrokClient.layer({ apiKey, rateLimitKey: "team-7" })

// Priorities: under pressure critical goes first and background is shed first.
export const nightlyDigest = Effect.gen(function*() {
  const grok = yield* GrokClient.GrokClient
  return yield* grok.chat(
    { messages: [{ role: "user", content: "Summarise yesterday's tickets" }] },
    { priority: "background" }
  )
}).pipe(
  // A full queue, a too-long wait or no slot before the deadline is a typed error, never a hang.
  Effect.catchTag("QueueRejected", (rejected) => Effect.succeed(`skipped: ${rejected.reason}`))
)

// Tests or an external pacer: admit everything.
export const NoLimits: Layer.Layer<RateLimiter.RateLimiter> = RateLimiter.layerUnlimited
