import { describe, expect, it } from "@effect/vitest"
import { Cause, Data, Effect, Either, Exit, Ref, Schedule } from "effect"
import * as RetryBudget from "../src/resilience/RetryBudget.js"
import * as RetryPolicy from "../src/resilience/RetryPolicy.js"

class Unavailable extends Data.TaggedError("Unavailable")<{ readonly retryable: boolean }> {}

const CALLS = 1_000

/** Three immediate retries per call: only the budget can stop a storm. */
const threeRetries = RetryPolicy.whileRetryable(Schedule.recurs(3))

/** A server that is down: every attempt fails, and is counted. */
const outage = Effect.map(Ref.make(0), (attempts) => ({
  attempts: Ref.get(attempts),
  call: Ref.update(attempts, (n) => n + 1).pipe(Effect.zipRight(Effect.fail(new Unavailable({ retryable: true }))))
}))

const callsThrough = (
  budget: RetryBudget.RetryBudget | undefined,
  call: Effect.Effect<unknown, Unavailable>,
  calls: number,
  concurrency: number
) =>
  Effect.forEach(
    Array.from({ length: calls }),
    () => Effect.exit(RetryPolicy.retry(call, { policy: threeRetries, budget })),
    { concurrency, discard: true }
  )

describe("RetryBudget", () => {
  it.effect("under a total outage, 1,000 sequential calls make at most 1.2 attempts each (4 without a budget)", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make()
      const server = yield* outage
      yield* callsThrough(budget, server.call, CALLS, 1)
      const perRequest = (yield* server.attempts) / CALLS
      expect(perRequest).toBeLessThanOrEqual(1.2)
      // the initial tokens and the deposits did buy some retries
      expect(perRequest).toBeGreaterThan(1.1)

      const unbudgeted = yield* outage
      yield* callsThrough(undefined, unbudgeted.call, CALLS, 1)
      expect((yield* unbudgeted.attempts) / CALLS).toBe(4)
    }))

  it.effect("the bound holds with 100 calls in flight at once", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make()
      const server = yield* outage
      yield* callsThrough(budget, server.call, CALLS, 100)
      expect((yield* server.attempts) / CALLS).toBeLessThanOrEqual(1 + 0.1 + 10 / CALLS)
    }))

  it.effect("recovers after successful calls: retries resume once deposits refill it", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make()
      const server = yield* outage
      yield* callsThrough(budget, server.call, 200, 1)
      expect(yield* budget.level).toBeLessThan(1)

      const before = yield* server.attempts
      yield* callsThrough(budget, server.call, 1, 1)
      expect((yield* server.attempts) - before).toBe(1)

      yield* Effect.forEach(Array.from({ length: 100 }), () => RetryPolicy.retry(Effect.void, { policy: threeRetries, budget }))
      expect(yield* budget.level).toBeGreaterThanOrEqual(10)

      const recovered = yield* server.attempts
      yield* callsThrough(budget, server.call, 1, 1)
      expect((yield* server.attempts) - recovered).toBe(4)
    }))

  it.effect("starts at initialTokens, never holds more than maxTokens, and refuses a retry below one token", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make({ ratio: 0.5, maxTokens: 3, initialTokens: 1 })
      expect(yield* budget.level).toBe(1)
      yield* Effect.repeatN(budget.deposit, 99)
      expect(yield* budget.level).toBe(3)
      expect(yield* Effect.all(Array.from({ length: 4 }, () => budget.tryWithdraw))).toEqual([true, true, true, false])
      yield* budget.deposit
      expect(yield* budget.tryWithdraw).toBe(false)
      yield* budget.deposit
      expect(yield* budget.tryWithdraw).toBe(true)
    }))

  it.effect("ten deposits of 0.1 buy exactly one retry despite float rounding", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make({ initialTokens: 0 })
      yield* Effect.repeatN(budget.deposit, 9)
      expect(yield* budget.tryWithdraw).toBe(true)
      expect(yield* budget.tryWithdraw).toBe(false)
    }))

  it.effect("out-of-range options: a typed error from validate, a defect from make", () =>
    Effect.gen(function*() {
      const rejected = (options: RetryBudget.Options) =>
        Either.match(RetryBudget.validate(options), { onLeft: (error) => error.option, onRight: () => "accepted" })
      expect(rejected({ ratio: 0 })).toBe("ratio")
      expect(rejected({ ratio: Number.POSITIVE_INFINITY })).toBe("ratio")
      expect(rejected({ maxTokens: 0.5 })).toBe("maxTokens")
      expect(rejected({ maxTokens: 5, initialTokens: 6 })).toBe("initialTokens")
      expect(rejected({ initialTokens: -1 })).toBe("initialTokens")
      expect(rejected({ maxTokens: 5 })).toBe("accepted")
      const exit = yield* Effect.exit(RetryBudget.make({ ratio: -1 }))
      expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
    }))
})
