/**
 * docs/degradation.md's table of worst-case waits, row by row: with the defaults, how long a
 * caller waits at worst in each failure mode, and what it gets. Each over loopback against
 * the simulator, on the TestClock.
 */
import { describe, expect, it } from "@effect/vitest"
import type { HttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Clock, Duration, Effect, Either, Layer, type Scope } from "effect"
import * as GrokClient from "../src/GrokClient.js"
import * as GrokConfig from "../src/GrokConfig.js"
import type * as GrokError from "../src/GrokError.js"
import * as RateLimiterMemory from "../src/resilience/RateLimiterMemory.js"
import type * as FaultPlan from "../src/simulator/FaultPlan.js"
import * as Simulator from "../src/simulator/Simulator.js"
import { drive, simulatorActivity } from "./support/drive.js"
import { errorBodyCase } from "./support/fixtures.js"

const hello: GrokClient.ChatRequest = { messages: [{ role: "user", content: "Say hi" }] }

const loopback = <A, E>(body: Effect.Effect<A, E, Scope.Scope | HttpClient.HttpClient>) =>
  body.pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))

/** A client with every default, on a simulator answering with `faults`. */
const setup = (faults: FaultPlan.FaultPlan) =>
  Effect.gen(function*() {
    const sim = yield* Effect.orDie(Simulator.make({ faults }))
    const grok = yield* GrokClient.make(Either.getOrThrow(GrokConfig.make({ apiKey: "k", baseUrl: sim.url })))
    return { sim, grok }
  })

/** How long `calls` take on the TestClock, and what each ends with. */
const timed = <A>(sim: Simulator.Service, calls: Effect.Effect<A>) =>
  Effect.gen(function*() {
    const started = yield* Clock.currentTimeMillis
    const result = yield* Effect.flatMap(Effect.fork(calls), (fiber) => drive(fiber, simulatorActivity(sim)))
    return { result, millis: (yield* Clock.currentTimeMillis) - started }
  })

const errorOf = <A>(result: Either.Either<A, GrokError.GrokError>): GrokError.GrokError => {
  if (Either.isRight(result)) throw new Error("expected a failure")
  return result.left
}

describe("worst-case waits with the defaults (docs/degradation.md)", () => {
  it.effect("model down: at most 30 s waiting for the breaker, then CircuitOpen, not retried; later calls fail at once", () =>
    loopback(Effect.gen(function*() {
      const { grok, sim } = yield* setup([{ fault: { kind: "status", status: 503 } }])
      const calls = Effect.forEach(Array.from({ length: 40 }), () => Effect.either(grok.chat(hello)), { concurrency: 20 })
      const { millis, result } = yield* timed(sim, calls)
      // The first calls' own retries (backoff under 4 s) open the breaker; the rest wait at most 30 s.
      expect(millis).toBeLessThanOrEqual(35_000)
      const tags = new Set(result.map((r) => errorOf(r)._tag))
      expect([...tags].every((tag) => tag === "ServerError" || tag === "CircuitOpen")).toBe(true)
      const open = result.map(errorOf).find((error) => error._tag === "CircuitOpen")
      expect(open).toMatchObject({ retryable: false })
      // Once the breaker has held calls for 30 s, a new call is answered at once.
      const late = yield* timed(sim, Effect.either(grok.chat(hello)))
      expect(late.millis).toBe(0)
      expect(errorOf(late.result)).toMatchObject({ _tag: "CircuitOpen", retryable: false })
    })))

  it.effect("quota (credits) exhausted: QuotaExhausted at once, one request", () =>
    loopback(Effect.gen(function*() {
      const body = errorBodyCase("credits-exhausted-429")
      const { grok, sim } = yield* setup([{ fault: { kind: "status", status: body.status, body: body.body } }])
      const { millis, result } = yield* timed(sim, Effect.either(grok.chat(hello)))
      expect(millis).toBe(0)
      expect(errorOf(result)._tag).toBe("QuotaExhausted")
      expect(yield* sim.requestCount).toBe(1)
    })))

  it.effect("429 with a Retry-After past the 60 s cap: RateLimited at once; at the cap, 3 waits of 60 s then RateLimited", () =>
    loopback(Effect.gen(function*() {
      const hour = yield* setup([{ fault: { kind: "status", status: 429, headers: { "retry-after": "3600" } } }])
      const now = yield* timed(hour.sim, Effect.either(hour.grok.chat(hello)))
      expect(now.millis).toBe(0)
      expect(errorOf(now.result)).toMatchObject({ _tag: "RateLimited", retryAfter: Duration.seconds(3600) })

      const minute = yield* setup([{ fault: { kind: "status", status: 429, headers: { "retry-after": "60" } } }])
      const capped = yield* timed(minute.sim, Effect.either(minute.grok.chat(hello)))
      expect(capped.millis).toBeGreaterThanOrEqual(180_000)
      expect(capped.millis).toBeLessThan(190_000)
      expect(errorOf(capped.result)._tag).toBe("RateLimited")
      expect(yield* minute.sim.requestCount).toBe(4)
    })))

  it.effect("a stalled server: 5 min per attempt, and the 10 min deadline ends the call with Timeout", () =>
    loopback(Effect.gen(function*() {
      const { grok, sim } = yield* setup([{ fault: { kind: "stall" } }])
      const { millis, result } = yield* timed(sim, Effect.either(grok.chat(hello)))
      expect(millis).toBe(600_000)
      expect(errorOf(result)).toMatchObject({ _tag: "Timeout", phase: "deadline", retryable: false })
      expect(yield* sim.requestCount).toBe(2)
    })))

  it.effect("a full limiter queue: QueueRejected (queue-full) after the call's retries (under 3.5 s of backoff), nothing sent", () =>
    loopback(Effect.gen(function*() {
      const { grok, sim } = yield* setup([])
      const limiter = Layer.orDie(RateLimiterMemory.layer({ limits: { requestsPerSecond: 1 }, maxQueued: 1 }))
      const endedAt = (effect: Effect.Effect<unknown, GrokError.GrokError>) =>
        Effect.flatMap(Effect.either(effect), (result) => Effect.map(Clock.currentTimeMillis, (at) => ({ result, at })))
      const calls = Effect.forEach(Array.from({ length: 5 }), () => endedAt(grok.chat(hello)), { concurrency: "unbounded" })
      const { result } = yield* timed(sim, calls.pipe(Effect.provide(limiter)))
      const refused = result.filter((call) => Either.isLeft(call.result))
      expect(refused.length).toBeGreaterThan(0)
      for (const call of refused) {
        expect(errorOf(call.result)).toMatchObject({ _tag: "QueueRejected", reason: "queue-full" })
        // Retried (there may be room later), each retry refused at once: only the backoff waits.
        expect(call.at).toBeLessThanOrEqual(3_500)
      }
      expect(yield* sim.requestCount).toBe(5 - refused.length)
    })))
})
