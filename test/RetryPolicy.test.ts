import { describe, expect, it } from "@effect/vitest"
import { Cause, Clock, Data, Duration, Effect, Either, Exit, Fiber, Layer, Option, Random, Ref, Schedule, TestClock } from "effect"
import fc from "fast-check"
import * as Backoff from "../src/resilience/Backoff.js"
import { delays } from "../src/resilience/internal/retrySchedule.js"
import * as RetryBudget from "../src/resilience/RetryBudget.js"
import * as RetryPolicy from "../src/resilience/RetryPolicy.js"

/** Any error with the two fields: the module must not need anything Grok-specific. */
class Unavailable extends Data.TaggedError("Unavailable")<{
  readonly retryable: boolean
  readonly retryAfter?: Duration.Duration | undefined
}> {}

class DeadlineExceeded extends Data.TaggedError("DeadlineExceeded")<{ readonly after: Duration.Duration }> {}

const retryable = (retryAfter?: Duration.Duration) => new Unavailable({ retryable: true, retryAfter })
const fatal = new Unavailable({ retryable: false })

/**
 * Retry-After as a header parser turns it into a Duration: delta-seconds, `retry-after-ms`,
 * or an HTTP-date relative to the response's arrival.
 */
const RESPONSE_AT = Date.parse("Wed, 21 Oct 2015 07:27:48 GMT")
const retryAfterForms = [
  { header: "retry-after: 7", retryAfter: Duration.seconds(Number("7")) },
  { header: "retry-after-ms: 1500", retryAfter: Duration.millis(Number("1500")) },
  {
    header: "retry-after: Wed, 21 Oct 2015 07:28:00 GMT",
    retryAfter: Duration.millis(Date.parse("Wed, 21 Oct 2015 07:28:00 GMT") - RESPONSE_AT)
  }
] as const

/**
 * An effect whose n-th attempt fails with `failures[n]` (succeeding with "ok" once they run
 * out), counting attempts and recording when each started.
 */
const scripted = (failures: ReadonlyArray<Unavailable>, attemptTakes: Duration.DurationInput = Duration.zero) =>
  Effect.gen(function*() {
    const startedAt = yield* Ref.make<ReadonlyArray<number>>([])
    const attempt = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const n = (yield* Ref.getAndUpdate(startedAt, (times) => [...times, now])).length
      yield* Effect.sleep(attemptTakes)
      const failure = failures[n]
      return failure === undefined ? "ok" : yield* Effect.fail(failure)
    })
    return { attempt, startedAt: Ref.get(startedAt) }
  })

const alwaysFailing = (error: Unavailable, attemptTakes?: Duration.DurationInput) =>
  scripted(Array.from({ length: 1_000 }, () => error), attemptTakes)

const seeded = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.withRandom(effect, Random.make(42))

describe("RetryPolicy", () => {
  describe("Retry-After floor", () => {
    for (const form of retryAfterForms) {
      it.effect(`waits exactly what the server asked (${form.header}) when the backoff is shorter`, () =>
        Effect.gen(function*() {
          const { attempt, startedAt } = yield* scripted([retryable(form.retryAfter)])
          const events = yield* Ref.make<ReadonlyArray<RetryPolicy.RetryEvent<Unavailable>>>([])
          const fiber = yield* Effect.fork(seeded(RetryPolicy.retry(attempt, {
            policy: RetryPolicy.defaultPolicy,
            onRetry: (event) => Ref.update(events, (all) => [...all, event])
          })))
          const floorMillis = Duration.toMillis(form.retryAfter)
          yield* TestClock.adjust(floorMillis - 1)
          expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
          yield* TestClock.adjust(1)
          expect(yield* Fiber.join(fiber)).toBe("ok")
          expect(yield* startedAt).toEqual([0, floorMillis])
          const [event] = yield* Ref.get(events)
          expect(event?.reason).toBe("retry-after")
          expect(Duration.toMillis(event?.delay ?? Duration.zero)).toBe(floorMillis)
        }))
    }

    it("no jitter kind ever waits less than Retry-After, and a longer backoff is kept", () =>
      fc.assert(fc.property(
        fc.integer(),
        fc.constantFrom(...Backoff.jitters),
        fc.integer({ min: 1, max: 60_000 }),
        (seed, jitter, retryAfterMillis) => {
          const policy = RetryPolicy.make({ jitter, base: "1 second", cap: "30 seconds", maxRetries: 12 })
          const error = retryable(Duration.millis(retryAfterMillis))
          const withFloor = Effect.runSync(Effect.withRandom(delays(policy, Array(12).fill(error)), Random.make(seed)))
          const backoffOnly = Effect.runSync(Effect.withRandom(delays(policy, Array(12).fill(retryable())), Random.make(seed)))
          expect(withFloor).toHaveLength(12)
          withFloor.forEach((delay, n) => expect(delay).toBeCloseTo(Math.max(retryAfterMillis, backoffOnly[n] ?? 0), 6))
        }
      )))
  })

  describe("Retry-After cap", () => {
    it.effect("a Retry-After of an hour fails at once with that error, without sleeping", () =>
      Effect.gen(function*() {
        const hour = retryable(Duration.seconds(3600))
        const { attempt, startedAt } = yield* alwaysFailing(hour)
        const fiber = yield* Effect.fork(seeded(RetryPolicy.retry(attempt, { policy: RetryPolicy.defaultPolicy })))
        yield* TestClock.adjust("1 second")
        const exit = yield* Fiber.poll(fiber)
        expect(exit).toEqual(Option.some(Exit.fail(hour)))
        expect(yield* startedAt).toEqual([0])
      }))

    it.effect("an ask up to the cap is honoured; the cap is configurable", () =>
      Effect.gen(function*() {
        const minute = retryable(Duration.seconds(60))
        const { attempt, startedAt } = yield* scripted([minute])
        const fiber = yield* Effect.fork(seeded(RetryPolicy.retry(attempt, { policy: RetryPolicy.defaultPolicy })))
        yield* TestClock.adjust("60 seconds")
        expect(yield* Fiber.join(fiber)).toBe("ok")
        expect(yield* startedAt).toEqual([0, 60_000])

        const strict = RetryPolicy.make({ retryAfterCap: "10 seconds" })
        const second = yield* alwaysFailing(retryable(Duration.seconds(11)))
        const now = yield* Clock.currentTimeMillis
        const refused = yield* Effect.fork(seeded(RetryPolicy.retry(second.attempt, { policy: strict })))
        yield* TestClock.adjust("1 second")
        expect(Option.map(yield* Fiber.poll(refused), Exit.isFailure)).toEqual(Option.some(true))
        expect(yield* second.startedAt).toEqual([now])
      }))
  })

  it.effect("a non-retryable error is never retried and onRetry never runs", () =>
    Effect.gen(function*() {
      const { attempt, startedAt } = yield* alwaysFailing(fatal)
      const retries = yield* Ref.make(0)
      const result = yield* Effect.either(RetryPolicy.retry(attempt, {
        policy: RetryPolicy.defaultPolicy,
        onRetry: () => Ref.update(retries, (n) => n + 1)
      }))
      expect(result).toEqual(Either.left(fatal))
      expect(yield* startedAt).toEqual([0])
      expect(yield* Ref.get(retries)).toBe(0)
    }))

  describe("the contract holds for any Schedule", () => {
    it.effect("Schedule.forever never retries an error that is not retryable", () =>
      Effect.gen(function*() {
        const { attempt, startedAt } = yield* alwaysFailing(fatal)
        expect(yield* Effect.either(RetryPolicy.retry(attempt, { policy: Schedule.forever }))).toEqual(Either.left(fatal))
        expect(yield* startedAt).toEqual([0])
      }))

    it.effect("Schedule.recurs(3) waits at least the Retry-After, and not for one past the cap", () =>
      Effect.gen(function*() {
        const { attempt, startedAt } = yield* scripted([retryable(Duration.seconds(2))])
        const fiber = yield* Effect.fork(RetryPolicy.retry(attempt, { policy: Schedule.recurs(3) }))
        yield* TestClock.adjust("1999 millis")
        expect(yield* startedAt).toEqual([0])
        yield* TestClock.adjust("1 milli")
        expect(yield* Fiber.join(fiber)).toBe("ok")
        expect(yield* startedAt).toEqual([0, 2000])

        const tooLong = retryable(Duration.seconds(61))
        const second = yield* alwaysFailing(tooLong)
        const now = yield* Clock.currentTimeMillis
        expect(yield* Effect.either(RetryPolicy.retry(second.attempt, { policy: Schedule.recurs(3) }))).toEqual(Either.left(tooLong))
        expect(yield* second.startedAt).toEqual([now])
        // The cap is an option of the loop.
        const third = yield* scripted([tooLong])
        const patient = yield* Effect.fork(RetryPolicy.retry(third.attempt, { policy: Schedule.recurs(3), retryAfterCap: "2 minutes" }))
        yield* TestClock.adjust("61 seconds")
        expect(yield* Fiber.join(patient)).toBe("ok")
      }))
  })

  it.effect("stops retrying when an error turns non-retryable midway", () =>
    Effect.gen(function*() {
      const { attempt, startedAt } = yield* scripted([retryable(), fatal, retryable()])
      const fiber = yield* Effect.fork(seeded(RetryPolicy.retry(attempt, { policy: RetryPolicy.defaultPolicy })))
      yield* TestClock.adjust("1 minute")
      expect(yield* Effect.either(Fiber.join(fiber))).toEqual(Either.left(fatal))
      expect((yield* startedAt).length).toBe(2)
    }))

  it.effect("maxRetries bounds the attempts to n + 1, then the last error surfaces", () =>
    Effect.gen(function*() {
      for (const n of [0, 1, 3, 5]) {
        const last = retryable()
        const { attempt, startedAt } = yield* alwaysFailing(last)
        const fiber = yield* Effect.fork(seeded(RetryPolicy.retry(attempt, { policy: RetryPolicy.make({ maxRetries: n }) })))
        yield* TestClock.adjust("10 minutes")
        expect(yield* Effect.either(Fiber.join(fiber))).toEqual(Either.left(last))
        expect((yield* startedAt).length).toBe(n + 1)
      }
    }))

  it.effect("onRetry sees each retry, numbered from 1, with its delay, reason and error", () =>
    Effect.gen(function*() {
      const first = retryable()
      const second = retryable(Duration.seconds(2))
      const third = retryable(Duration.millis(100))
      const { attempt, startedAt } = yield* scripted([first, second, third])
      const events = yield* Ref.make<ReadonlyArray<RetryPolicy.RetryEvent<Unavailable>>>([])
      const policy = RetryPolicy.make({ base: "300 millis", factor: 2, jitter: "none" })
      const fiber = yield* Effect.fork(RetryPolicy.retry(attempt, {
        policy,
        onRetry: (event) => Ref.update(events, (all) => [...all, event])
      }))
      yield* TestClock.adjust("1 minute")
      expect(yield* Fiber.join(fiber)).toBe("ok")
      expect((yield* Ref.get(events)).map((event) => ({ ...event, delay: Duration.toMillis(event.delay) }))).toEqual([
        { attempt: 1, delay: 300, reason: "backoff", error: first },
        { attempt: 2, delay: 2_000, reason: "retry-after", error: second },
        { attempt: 3, delay: 1_200, reason: "backoff", error: third }
      ])
      expect(yield* startedAt).toEqual([0, 300, 2_300, 3_500])
    }))

  describe("deadline", () => {
    const onDeadline = (after: Duration.Duration) => new DeadlineExceeded({ after })

    it.effect("an attempt that hangs is cut at the deadline and fails with onDeadline", () =>
      Effect.gen(function*() {
        const attempts = yield* Ref.make(0)
        const hangs = Ref.update(attempts, (n) => n + 1).pipe(Effect.zipRight(Effect.never))
        const fiber = yield* Effect.fork(RetryPolicy.retry(hangs, {
          policy: RetryPolicy.defaultPolicy,
          deadline: "10 seconds",
          onDeadline
        }))
        yield* TestClock.adjust(9_999)
        expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
        yield* TestClock.adjust(1)
        expect(yield* Fiber.poll(fiber)).toEqual(Option.some(Exit.fail(new DeadlineExceeded({ after: Duration.seconds(10) }))))
        expect(yield* Ref.get(attempts)).toBe(1)
      }))

    it.effect("slow attempts and waits together never outlive the deadline", () =>
      Effect.gen(function*() {
        // attempts take 3 s, waits 1 s: 0-3, 4-7, 8-(11) cut at 10
        const { attempt, startedAt } = yield* alwaysFailing(retryable(), "3 seconds")
        const policy = RetryPolicy.whileRetryable(Schedule.spaced("1 second"))
        const fiber = yield* Effect.fork(RetryPolicy.retry(attempt, { policy, deadline: "10 seconds", onDeadline }))
        yield* TestClock.adjust("10 seconds")
        expect(yield* Fiber.poll(fiber)).toEqual(Option.some(Exit.fail(new DeadlineExceeded({ after: Duration.seconds(10) }))))
        expect(yield* startedAt).toEqual([0, 4_000, 8_000])
      }))

    it.effect("a wait that would cross the deadline is not taken: the last error surfaces at once", () =>
      Effect.gen(function*() {
        const asksEight = retryable(Duration.seconds(8))
        const { attempt, startedAt } = yield* alwaysFailing(asksEight, "1 second")
        const fiber = yield* Effect.fork(seeded(RetryPolicy.retry(attempt, {
          policy: RetryPolicy.defaultPolicy,
          deadline: "5 seconds",
          onDeadline
        })))
        yield* TestClock.adjust("1 second")
        expect(yield* Fiber.poll(fiber)).toEqual(Option.some(Exit.fail(asksEight)))
        expect(yield* startedAt).toEqual([0])
      }))

    it.effect("a call that succeeds before the deadline is untouched by it", () =>
      Effect.gen(function*() {
        const { attempt } = yield* scripted([retryable(Duration.seconds(2))], "1 second")
        const fiber = yield* Effect.fork(seeded(RetryPolicy.retry(attempt, {
          policy: RetryPolicy.defaultPolicy,
          deadline: "5 seconds",
          onDeadline
        })))
        yield* TestClock.adjust("4 seconds")
        expect(yield* Fiber.join(fiber)).toBe("ok")
      }))
  })

  describe("budget", () => {
    it.effect("an empty budget surfaces the error at once, without waiting", () =>
      Effect.gen(function*() {
        const budget = yield* RetryBudget.make({ initialTokens: 0 })
        const error = retryable()
        const { attempt, startedAt } = yield* alwaysFailing(error)
        const fiber = yield* Effect.fork(seeded(RetryPolicy.retry(attempt, { policy: RetryPolicy.defaultPolicy, budget })))
        yield* TestClock.adjust("1 millis")
        expect(yield* Fiber.poll(fiber)).toEqual(Option.some(Exit.fail(error)))
        expect(yield* startedAt).toEqual([0])
        expect(yield* budget.level).toBeCloseTo(0.1)
      }))

    it.effect("each call deposits once and each retry withdraws one token", () =>
      Effect.gen(function*() {
        const budget = yield* RetryBudget.make({ initialTokens: 5 })
        const { attempt } = yield* scripted([retryable(), retryable()])
        const fiber = yield* Effect.fork(seeded(RetryPolicy.retry(attempt, { policy: RetryPolicy.defaultPolicy, budget })))
        yield* TestClock.adjust("1 minute")
        expect(yield* Fiber.join(fiber)).toBe("ok")
        expect(yield* budget.level).toBeCloseTo(5 + 0.1 - 2)
      }))
  })

  it.effect("defects are not retried", () =>
    Effect.gen(function*() {
      const attempts = yield* Ref.make(0)
      const dies = Ref.update(attempts, (n) => n + 1).pipe(Effect.zipRight(Effect.die("bug")))
      const exit = yield* Effect.exit(RetryPolicy.retry(dies, { policy: RetryPolicy.defaultPolicy }))
      expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
      expect(yield* Ref.get(attempts)).toBe(1)
    }))

  it.effect("custom policies compose from the combinators and plain Schedule operators, data-last too", () =>
    Effect.gen(function*() {
      const policy = Schedule.spaced("2 seconds").pipe(
        RetryPolicy.retryAfterFloor,
        RetryPolicy.whileRetryable,
        RetryPolicy.retryAfterCap("5 seconds"),
        RetryPolicy.maxRetries(2)
      )
      const { attempt, startedAt } = yield* alwaysFailing(retryable(Duration.seconds(3)))
      const fiber = yield* Effect.fork(attempt.pipe(RetryPolicy.retry({ policy })))
      yield* TestClock.adjust("1 minute")
      expect(Either.isLeft(yield* Effect.either(Fiber.join(fiber)))).toBe(true)
      expect(yield* startedAt).toEqual([0, 3_000, 6_000])
    }))

  describe("options", () => {
    it("the defaults are 0.5 s base, factor 2, 30 s cap, full jitter, 3 retries, 60 s Retry-After cap", () => {
      expect(RetryPolicy.defaults).toEqual({
        base: Duration.millis(500),
        factor: 2,
        cap: Duration.seconds(30),
        jitter: "full",
        maxRetries: 3,
        retryAfterCap: Duration.seconds(60)
      })
    })

    it("out-of-range options give a typed error from validate and a defect from make", () => {
      const rejected = (options: RetryPolicy.Options) =>
        Either.match(RetryPolicy.validate(options), { onLeft: (error) => error.option, onRight: () => "accepted" })
      expect(rejected({ maxRetries: -1 })).toBe("maxRetries")
      expect(rejected({ maxRetries: 1.5 })).toBe("maxRetries")
      expect(rejected({ base: "0 millis" })).toBe("base")
      expect(rejected({ retryAfterCap: 0 })).toBe("retryAfterCap")
      expect(rejected({ retryAfterCap: Duration.infinity })).toBe("retryAfterCap")
      expect(rejected({ maxRetries: 0, jitter: "decorrelated" })).toBe("accepted")
      expect(() => RetryPolicy.make({ maxRetries: -1 })).toThrow("maxRetries: must be a whole number >= 0, got -1")
    })
  })

  describe("RetrySettings", () => {
    it.effect("without a layer, reads the default settings: 10 min deadline, 5 min attempts, no budget", () =>
      Effect.gen(function*() {
        const settings = yield* RetryPolicy.RetrySettings
        expect(settings).toBe(RetryPolicy.defaultSettings)
        expect(Duration.toMinutes(settings.deadline)).toBe(10)
        expect(Duration.toMinutes(settings.attemptTimeout)).toBe(5)
        expect(settings.budget).toBeUndefined()
      }))

    it.effect("layer replaces them and shares one budget between everything under it", () =>
      Effect.gen(function*() {
        const policy = RetryPolicy.make({ maxRetries: 1 })
        const live = RetryPolicy.layer({ policy, deadline: "1 minute", budget: { initialTokens: 2 } })
        const [first, second] = yield* Effect.all([RetryPolicy.RetrySettings, RetryPolicy.RetrySettings]).pipe(
          Effect.provide(live)
        )
        expect(first?.policy).toBe(policy)
        expect(Duration.toMinutes(first?.deadline ?? Duration.zero)).toBe(1)
        expect(first?.budget).toBeDefined()
        expect(first?.budget).toBe(second?.budget)
        const budget = first?.budget
        expect(budget === undefined || budget === false ? -1 : yield* budget.level).toBe(2)

        const none = yield* RetryPolicy.RetrySettings.pipe(Effect.provide(RetryPolicy.layer({ budget: false })))
        expect(none.budget).toBe(false)
      }))

    it.effect("a layer with out-of-range settings fails with a typed error", () =>
      Effect.gen(function*() {
        const built = yield* Effect.either(Layer.build(RetryPolicy.layer({ deadline: 0 })).pipe(Effect.scoped))
        expect(Either.isLeft(built) && built.left.option).toBe("deadline")
        const budget = yield* Effect.either(Layer.build(RetryPolicy.layer({ budget: { ratio: 0 } })).pipe(Effect.scoped))
        expect(Either.isLeft(budget) && budget.left.option).toBe("ratio")
      }))
  })
})
