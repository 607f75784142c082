import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Either, Random, Ref, TestClock } from "effect"
import fc from "fast-check"
import * as Backoff from "../src/resilience/Backoff.js"
import { delays } from "../src/resilience/internal/retrySchedule.js"

const ATTEMPTS = 25

/** The delays a backoff chooses for its first `n` retries, under a seeded Random. */
const delaysOf = (options: Backoff.BackoffOptions, seed: number, n = ATTEMPTS): ReadonlyArray<number> =>
  Effect.runSync(delays(Backoff.exponential(options), Array.from({ length: n }, () => undefined)).pipe(
    Effect.withRandom(Random.make(seed))
  ))

const curve = fc.record({
  seed: fc.integer(),
  baseMillis: fc.integer({ min: 1, max: 5_000 }),
  factor: fc.double({ min: 1, max: 4, noNaN: true }),
  capOverBase: fc.double({ min: 1, max: 1_000, noNaN: true })
})

/** Float slack: delays pass through epoch arithmetic and nanosecond Durations. */
const slack = (millis: number) => 1e-6 + millis * 1e-9

describe("Backoff.exponential", () => {
  describe("every jitter kind stays within its bounds for attempts 0..N", () => {
    const ceiling = (base: number, factor: number, cap: number, n: number) => Math.min(cap, base * Math.pow(factor, n))

    it("none: exactly min(cap, base * factor^n)", () =>
      fc.assert(fc.property(curve, ({ baseMillis, capOverBase, factor, seed }) => {
        const cap = baseMillis * capOverBase
        const chosen = delaysOf({ base: baseMillis, factor, cap, jitter: "none" }, seed)
        expect(chosen).toHaveLength(ATTEMPTS)
        chosen.forEach((delay, n) => {
          const expected = ceiling(baseMillis, factor, cap, n)
          expect(Math.abs(delay - expected)).toBeLessThanOrEqual(slack(expected))
        })
      })))

    it("full: within [0, min(cap, base * factor^n)]", () =>
      fc.assert(fc.property(curve, ({ baseMillis, capOverBase, factor, seed }) => {
        const cap = baseMillis * capOverBase
        delaysOf({ base: baseMillis, factor, cap, jitter: "full" }, seed).forEach((delay, n) => {
          const top = ceiling(baseMillis, factor, cap, n)
          expect(delay).toBeGreaterThanOrEqual(0)
          expect(delay).toBeLessThanOrEqual(top + slack(top))
        })
      })))

    it("equal: within [ceiling / 2, ceiling]", () =>
      fc.assert(fc.property(curve, ({ baseMillis, capOverBase, factor, seed }) => {
        const cap = baseMillis * capOverBase
        delaysOf({ base: baseMillis, factor, cap, jitter: "equal" }, seed).forEach((delay, n) => {
          const top = ceiling(baseMillis, factor, cap, n)
          expect(delay).toBeGreaterThanOrEqual(top / 2 - slack(top))
          expect(delay).toBeLessThanOrEqual(top + slack(top))
        })
      })))

    it("decorrelated: within [base, min(cap, 3 * previous)], previous starting at base", () =>
      fc.assert(fc.property(curve, ({ baseMillis, capOverBase, factor, seed }) => {
        const cap = baseMillis * capOverBase
        let previous = baseMillis
        delaysOf({ base: baseMillis, factor, cap, jitter: "decorrelated" }, seed).forEach((delay) => {
          const top = Math.min(cap, 3 * previous)
          expect(delay).toBeGreaterThanOrEqual(baseMillis - slack(baseMillis))
          expect(delay).toBeLessThanOrEqual(top + slack(top))
          previous = delay
        })
      })))
  })

  it("jitter really spreads delays: full covers most of [0, base], equal most of [base/2, base]", () => {
    const firstDelays = (jitter: Backoff.Jitter) =>
      Array.from({ length: 500 }, (_, seed) => delaysOf({ base: 1_000, jitter }, seed, 1)[0] ?? Number.NaN)
    const full = firstDelays("full")
    expect(Math.min(...full)).toBeLessThan(50)
    expect(Math.max(...full)).toBeGreaterThan(950)
    const equal = firstDelays("equal")
    expect(Math.min(...equal)).toBeLessThan(550)
    expect(Math.max(...equal)).toBeGreaterThan(950)
  })

  it("is reproducible under a seeded Random, and different seeds give different delays", () => {
    for (const jitter of ["full", "equal", "decorrelated"] as const) {
      expect(delaysOf({ jitter }, 7)).toEqual(delaysOf({ jitter }, 7))
      expect(delaysOf({ jitter }, 7)).not.toEqual(delaysOf({ jitter }, 8))
    }
  })

  it("defaults to 500 millis base, factor 2, 30 seconds cap, full jitter", () => {
    expect(Backoff.defaults).toEqual({ base: Duration.millis(500), factor: 2, cap: Duration.seconds(30), jitter: "full" })
    const chosen = delaysOf({}, 3, 12)
    chosen.forEach((delay, n) => expect(delay).toBeLessThanOrEqual(Math.min(30_000, 500 * 2 ** n)))
    expect(Math.max(...chosen)).toBeGreaterThan(0)
  })

  it.effect("drives Effect.retry: attempts start after each delay on the clock", () =>
    Effect.gen(function*() {
      const startedAt = yield* Ref.make<ReadonlyArray<number>>([])
      const attempt = Clock.currentTimeMillis.pipe(
        Effect.flatMap((now) => Ref.update(startedAt, (times) => [...times, now])),
        Effect.zipRight(Effect.fail("unavailable"))
      )
      const schedule = Backoff.exponential({ base: "100 millis", factor: 2, cap: "300 millis", jitter: "none" })
      const fiber = yield* Effect.fork(Effect.retry(attempt, { schedule, times: 4 }))
      yield* TestClock.adjust("1 second")
      const result = yield* Effect.either(fiber.await.pipe(Effect.flatten))
      expect(result).toEqual(Either.left("unavailable"))
      expect(yield* Ref.get(startedAt)).toEqual([0, 100, 300, 600, 900])
    }))

  describe("options out of range", () => {
    it("validate returns a typed error naming the option", () => {
      const rejected = (options: Backoff.BackoffOptions) =>
        Either.match(Backoff.validate(options), { onLeft: (error) => error.option, onRight: () => "accepted" })
      expect(rejected({ base: 0 })).toBe("base")
      expect(rejected({ base: -5 })).toBe("base")
      expect(rejected({ base: Duration.infinity })).toBe("base")
      expect(rejected({ factor: 0.5 })).toBe("factor")
      expect(rejected({ factor: Number.NaN })).toBe("factor")
      expect(rejected({ base: "2 seconds", cap: "1 second" })).toBe("cap")
      expect(rejected({ cap: Duration.infinity })).toBe("cap")
      expect(rejected({ base: 10, cap: 10, factor: 1, jitter: "none" })).toBe("accepted")
    })

    it("exponential throws InvalidRetryOptions with a clear message (a defect: options in code)", () => {
      expect(() => Backoff.exponential({ factor: 0.5 })).toThrow(Backoff.InvalidRetryOptions)
      expect(() => Backoff.exponential({ base: "2 seconds", cap: "1 second" })).toThrow(
        "cap: must be finite and at least base (2s), got \"1 second\""
      )
    })
  })
})
