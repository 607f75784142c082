import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Fiber } from "effect"
import * as RateLimiter from "../src/resilience/RateLimiter.js"

/** A limiter that grants at once and records how each permit was released. */
const recordingLimiter = () => {
  const released: Array<RateLimiter.Outcome> = []
  const service: RateLimiter.Service = {
    acquire: () => Effect.succeed({ waited: Duration.zero, release: (outcome) => Effect.sync(() => void released.push(outcome)) }),
    stats: RateLimiter.unlimited.stats
  }
  return { service, released }
}

const ticket: RateLimiter.Ticket = { key: "k", tokens: 100, priority: "normal" }
const served: RateLimiter.Outcome = { status: 200, usedTokens: 42 }

describe("withPermit", () => {
  it.effect("releases with the outcome of a finished call", () =>
    Effect.gen(function*() {
      const { released, service } = recordingLimiter()
      yield* RateLimiter.withPermit(service, ticket, () => Effect.succeed("ok"), () => served)
      expect(released).toEqual([served])
    }))

  it.effect("releases an interrupted call as cancelled, so its tokens are refunded", () =>
    Effect.gen(function*() {
      const { released, service } = recordingLimiter()
      const started = yield* Deferred.make<void>()
      const fiber = yield* Effect.fork(
        RateLimiter.withPermit(service, ticket, () => Effect.zipRight(Deferred.succeed(started, undefined), Effect.never), () => served)
      )
      yield* Deferred.await(started)
      yield* Fiber.interrupt(fiber)
      expect(released).toEqual([RateLimiter.cancelled])
    }))

  it.effect("the unlimited limiter admits at once and reports no limits", () =>
    Effect.gen(function*() {
      const permit = yield* RateLimiter.unlimited.acquire(ticket)
      expect(Duration.toMillis(permit.waited)).toBe(0)
      const stats = yield* RateLimiter.unlimited.stats("k")
      expect(stats.requestsPerSecond).toBe(Infinity)
    }))
})
