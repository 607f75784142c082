/**
 * `effect-grok/redis`: the rate limiter shared by a fleet of processes through Redis. Needs `ioredis`.
 *
 * @since 0.2.0
 */

/** The Redis rate limiter for fleets of processes. @since 0.1.0 */
export * as RateLimiterRedis from "./resilience/RateLimiterRedis.js"
