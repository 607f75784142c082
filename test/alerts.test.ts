/**
 * GrokAlerts on the TestClock: rules evaluated on their schedule against the metric
 * registry. A simulator workload shows an error rate that lasts fires once and a blip does
 * not; metrics recorded directly (through the same recorder the pipeline uses) pin down
 * each rule, de-duplication, the cooldown, `for`, a failing handler and invalid rules.
 */
import { describe, expect, it } from "@effect/vitest"
import { NodeHttpClient } from "@effect/platform-node"
import { Duration, Effect, Either, Exit, Layer, Logger, TestClock } from "effect"
import * as GrokClient from "../src/GrokClient.js"
import * as GrokConfig from "../src/GrokConfig.js"
import * as CircuitBreaker from "../src/resilience/CircuitBreaker.js"
import * as RateLimiter from "../src/resilience/RateLimiter.js"
import * as RetryPolicy from "../src/resilience/RetryPolicy.js"
import type * as FaultPlan from "../src/simulator/FaultPlan.js"
import * as Simulator from "../src/simulator/Simulator.js"
import * as Alerts from "../src/telemetry/Alerts.js"
import * as Record from "../src/telemetry/internal/record.js"
import { drive, simulatorActivity } from "./support/drive.js"

/** Alerts whose notifications land in `received`. */
const collecting = (rules: ReadonlyArray<Alerts.Rule>, options: Partial<Alerts.Options> = {}) =>
  Effect.gen(function*() {
    const received: Array<Alerts.Alert> = []
    const alerts = yield* Alerts.make({
      rules,
      interval: "10 seconds",
      onAlert: (alert) => Effect.sync(() => received.push(alert)),
      ...options
    })
    return { alerts, received }
  })

// ---------------------------------------------------------------------------
// Against the simulator
// ---------------------------------------------------------------------------

/** One call a second for two minutes, without retries, with `alerts` watching. */
const steadyTraffic = (faults: FaultPlan.FaultPlan) =>
  Effect.gen(function*() {
    const sim = yield* Effect.orDie(Simulator.make({ faults }))
    const config = Either.getOrThrow(GrokConfig.make({ apiKey: "k", baseUrl: sim.url }))
    // Calls fail fast once the breaker opens, rather than wait for it: the alert sees failures.
    const grok = yield* GrokClient.make(config).pipe(
      Effect.provideService(RateLimiter.RateLimiter, RateLimiter.unlimited),
      Effect.provide(CircuitBreaker.layer({ whenOpen: "fail" }))
    )
    const { alerts, received } = yield* collecting([
      Alerts.errorRate({ above: 0.5, window: "1 minute", minRequests: 10 })
    ])
    const traffic = Effect.forEach(
      Array.from({ length: 120 }, (_, i) => i),
      () =>
        grok.chat({ messages: [{ role: "user", content: "hi" }] }, { retry: RetryPolicy.make({ maxRetries: 0 }) }).pipe(
          Effect.either,
          Effect.zipLeft(Effect.sleep("1 second"))
        )
    )
    const outcomes = yield* Effect.flatMap(Effect.fork(traffic), (fiber) => drive(fiber, simulatorActivity(sim)))
    const failed = outcomes.filter((outcome) => outcome._tag === "Left").length
    return { received, firing: yield* alerts.firing, failed, log: yield* sim.log }
  }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))

/**
 * A model that goes down and stays down, under a client with every default (the breaker waits
 * for 30 s at most): one call arriving each second for two minutes, each on its own fiber.
 */
const trafficIntoAnOutage = (downFromMillis: number) =>
  Effect.gen(function*() {
    const sim = yield* Effect.orDie(Simulator.make({ faults: [{ afterMillis: downFromMillis, fault: { kind: "status", status: 503 } }] }))
    const grok = yield* GrokClient.make(Either.getOrThrow(GrokConfig.make({ apiKey: "k", baseUrl: sim.url })))
    const { received } = yield* collecting([Alerts.errorRate({ above: 0.5, window: "1 minute", minRequests: 10 })], { interval: "1 second" })
    const arrivals = Effect.forEach(
      Array.from({ length: 120 }, (_, i) => i),
      () => Effect.zipLeft(Effect.fork(Effect.either(grok.chat({ messages: [{ role: "user", content: "hi" }] }))), Effect.sleep("1 second"))
    )
    const run = Effect.flatMap(arrivals, (fibers) => Effect.forEach(fibers, (fiber) => fiber.await))
    yield* Effect.flatMap(Effect.fork(run), (fiber) => drive(fiber, simulatorActivity(sim)))
    return { received, endedAt: yield* TestClock.currentTimeMillis }
  }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))

describe("error-rate alert for a model that stays down, with the client's defaults", () => {
  it.effect("fires while the outage goes on, within the minute it is computed over, not at the end of the run", () =>
    Effect.gen(function*() {
      const { endedAt, received } = yield* trafficIntoAnOutage(20_000)
      expect(received.length).toBeGreaterThan(0)
      const [alert] = received
      expect(alert!.rule).toBe("error-rate")
      // Down from 20 s: calls fail within the breaker's 30 s, so the 1-minute error rate tips
      // over 50% within a minute of the outage's start...
      expect(alert!.at).toBeLessThanOrEqual(20_000 + 60_000)
      // ...while calls are still arriving (the last at 119 s), long before the run ends.
      expect(alert!.at).toBeLessThan(119_000)
      expect(endedAt).toBeGreaterThan(alert!.at)
    }))
})

describe("error-rate alert over simulator traffic", () => {
  it.effect("a sustained error rate fires once (de-duplicated while it lasts)", () =>
    Effect.gen(function*() {
      // Every request fails from the 30th second on.
      const { failed, firing, log, received } = yield* steadyTraffic([
        { afterMillis: 30_000, fault: { kind: "status", status: 500 } }
      ])
      // Every call from the 30th second on fails (with 500s, or fast once the circuit breaker opens).
      expect(failed).toBe(90)
      expect(log.filter((entry) => entry.status === 500).length).toBeGreaterThan(0)
      expect(received).toHaveLength(1)
      const [alert] = received
      expect(alert!.rule).toBe("error-rate")
      expect(alert!.message).toMatch(/^error rate \d+\.\d% over 1m \(\d+ of \d+ calls failed\), above 50\.0%$/)
      expect(alert!.value).toBeGreaterThan(0.5)
      // 30 s of successes then failures: the 1-minute window tips past 50% after the 60th second.
      expect(alert!.at).toBeGreaterThanOrEqual(60_000)
      expect(alert!.at).toBeLessThanOrEqual(80_000)
      expect(firing).toEqual(["error-rate"])
    }))

  it.effect("a blip does not fire: three failures at the start (too few calls) and three in the middle", () =>
    Effect.gen(function*() {
      const { failed, received } = yield* steadyTraffic([
        { nth: [1, 2, 3], fault: { kind: "status", status: 500 } },
        { nth: [60, 61, 62], fault: { kind: "status", status: 503 } }
      ])
      expect(failed).toBe(6)
      expect(received).toEqual([])
    }))
})

// ---------------------------------------------------------------------------
// Each rule, from recorded metrics
// ---------------------------------------------------------------------------

const calls = (count: number, errorType: string | undefined, elapsedMillis = 100, model = "alert-model") =>
  Effect.forEach(
    Array.from({ length: count }, () => Record.makeTrace("chat", model)),
    (trace) => Record.callEnded(trace, errorType, elapsedMillis),
    { discard: true }
  )

const attempts = (count: number, status: number) =>
  Effect.forEach(
    Array.from({ length: count }, (_, i) => i),
    () => Record.attemptEnded("alert-model", status, status === 200 ? undefined : "RateLimited", 50, status === 429 ? "requests" : undefined),
    { discard: true }
  )

/** Run `step` then move the clock by `by`, `times` times. */
const every = (by: Duration.DurationInput, times: number, step: Effect.Effect<void>) =>
  Effect.forEach(Array.from({ length: times }, (_, i) => i), () => Effect.zipRight(step, TestClock.adjust(by)), { discard: true })

describe("rules", () => {
  it.scoped("de-duplication and cooldown: one notification per episode, none within the cooldown", () =>
    Effect.gen(function*() {
      const { alerts, received } = yield* collecting(
        [Alerts.errorRate({ above: 0.5, window: "1 minute", minRequests: 5 })],
        { cooldown: "5 minutes" }
      )
      // 0-60 s: failing. Fires at the first evaluation (10 s), then stays quiet while it lasts.
      yield* every("10 seconds", 6, calls(5, "ServerError"))
      expect(received.map((alert) => alert.at)).toEqual([10_000])
      expect(yield* alerts.firing).toEqual(["error-rate"])
      // 60-130 s: healthy; the minute's window clears and the rule resolves.
      yield* every("10 seconds", 7, calls(10, undefined))
      expect(yield* alerts.firing).toEqual([])
      // 130 s on: failing again, within the cooldown of the 10 s notification: held back...
      yield* every("10 seconds", 10, calls(20, "ServerError"))
      expect(received).toHaveLength(1)
      // ...until the cooldown ends (310 s), since it still holds.
      yield* every("10 seconds", 10, calls(20, "ServerError"))
      expect(received.map((alert) => alert.at)).toEqual([10_000, 310_000])
      expect(yield* alerts.fired).toEqual(received)
    }))

  it.scoped("for: a condition must last before the rule fires", () =>
    Effect.gen(function*() {
      const { received } = yield* collecting([
        Alerts.errorRate({ above: 0.5, window: "30 seconds", minRequests: 5, for: "1 minute" })
      ])
      // 30 s of failures, then health: it held for 30 s only.
      yield* every("10 seconds", 3, calls(5, "ServerError"))
      yield* every("10 seconds", 6, calls(20, undefined))
      expect(received).toEqual([])
      // Failures for two minutes: fires once it has held a minute.
      yield* every("10 seconds", 12, calls(5, "ServerError"))
      expect(received).toHaveLength(1)
    }))

  it.scoped("429 rate over attempts", () =>
    Effect.gen(function*() {
      const { received } = yield* collecting([Alerts.rateLimitedRate({ above: 0.25, window: "1 minute", minAttempts: 10 })])
      yield* every("10 seconds", 3, Effect.zipRight(attempts(8, 200), attempts(1, 429)))
      expect(received).toEqual([])
      yield* every("10 seconds", 3, Effect.zipRight(attempts(4, 200), attempts(6, 429)))
      expect(received).toHaveLength(1)
      expect(received[0]!.message).toMatch(/^429 rate \d+\.\d% over 1m \(\d+ of \d+ attempts\), above 25\.0%$/)
    }))

  it.scoped("p95 latency, from the duration histogram", () =>
    Effect.gen(function*() {
      const { received } = yield* collecting([Alerts.latencyP95({ above: "5 seconds", window: "1 minute", minRequests: 20 })])
      // 95 fast calls and 5 slow ones: the p95 is fast.
      yield* calls(95, undefined, 200)
      yield* calls(5, undefined, 30_000)
      yield* TestClock.adjust("10 seconds")
      expect(received).toEqual([])
      yield* TestClock.adjust("1 minute")
      // Then a slow minute.
      yield* every("10 seconds", 6, calls(10, undefined, 9_000))
      expect(received).toHaveLength(1)
      expect(received[0]!.value).toBeGreaterThan(5)
      expect(received[0]!.value).toBeLessThanOrEqual(10.24)
      expect(received[0]!.message).toMatch(/^p95 latency \d+\.\d\d s over 1m \(\d+ calls\), above 5\.00 s$/)
    }))

  it.scoped("token burn against a budget", () =>
    Effect.gen(function*() {
      const { received } = yield* collecting([Alerts.tokenBurn({ budget: 1_000_000, per: "1 day", window: "1 hour" })], {
        interval: "1 minute"
      })
      const usage = (total: number) => Record.usageRecorded("alert-model", "chat", { total_tokens: total }, undefined)
      // 1,000 tokens a minute is 1.44 million a day: over budget once the hour's tokens say so.
      yield* every("1 minute", 30, usage(1_000))
      expect(received).toEqual([])
      yield* every("1 minute", 30, usage(1_000))
      expect(received).toHaveLength(1)
      expect(received[0]!.message).toContain("above the budget of 1,000,000")
    }))

  it.scoped("retry budget exhausted, and back", () =>
    Effect.gen(function*() {
      yield* Record.retryBudgetLevel(10)
      const { alerts, received } = yield* collecting([Alerts.retryBudgetExhausted()])
      yield* TestClock.adjust("10 seconds")
      expect(received).toEqual([])
      yield* Record.retryBudgetLevel(0.4)
      yield* TestClock.adjust("10 seconds")
      expect(received.map((alert) => alert.rule)).toEqual(["retry-budget-exhausted"])
      yield* Record.retryBudgetLevel(3)
      yield* TestClock.adjust("10 seconds")
      expect(yield* alerts.firing).toEqual([])
    }))

  it.scoped("a failing handler is logged, and evaluation goes on", () =>
    Effect.gen(function*() {
      let calledTimes = 0
      const { alerts } = yield* collecting([Alerts.retryBudgetExhausted({ name: "budget" })], {
        cooldown: "0 seconds",
        onAlert: () => Effect.suspend(() => (++calledTimes === 1 ? Effect.die("handler broke") : Effect.void))
      })
      yield* Record.retryBudgetLevel(0)
      yield* TestClock.adjust("10 seconds")
      yield* Record.retryBudgetLevel(5)
      yield* TestClock.adjust("10 seconds")
      yield* Record.retryBudgetLevel(0)
      yield* TestClock.adjust("10 seconds")
      expect(calledTimes).toBe(2)
      expect((yield* alerts.fired).map((alert) => alert.rule)).toEqual(["budget", "budget"])
    }))

  it.scoped("the default handler logs a warning", () =>
    Effect.gen(function*() {
      const logged: Array<string> = []
      yield* Alerts.make({ rules: [Alerts.retryBudgetExhausted()], interval: "1 second" }).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, Logger.make(({ logLevel, message }) => logged.push(`${logLevel.label} ${String(message)}`))))
      )
      yield* Record.retryBudgetLevel(0)
      yield* TestClock.adjust("1 second")
      expect(logged.filter((line) => line.startsWith("WARN alert retry-budget-exhausted: retry budget exhausted"))).toHaveLength(1)
    }))
})

describe("invalid rules are refused with a typed error", () => {
  const refused = (options: Alerts.Options) =>
    Effect.map(Effect.exit(Effect.scoped(Alerts.make(options))), (exit) => {
      expect(Exit.isFailure(exit)).toBe(true)
      return Exit.isFailure(exit) ? String(exit.cause) : ""
    })

  it.effect("rates, counts, windows, budgets, names, interval", () =>
    Effect.gen(function*() {
      expect(yield* refused({ rules: [Alerts.errorRate({ above: 1.5 })] })).toContain("above must be a rate in (0, 1]")
      expect(yield* refused({ rules: [Alerts.errorRate({ above: Number.NaN })] })).toContain("InvalidAlertRule")
      expect(yield* refused({ rules: [Alerts.rateLimitedRate({ above: 0.1, minAttempts: 0 })] })).toContain("minAttempts")
      expect(yield* refused({ rules: [Alerts.latencyP95({ above: "0 seconds" })] })).toContain("above must be a finite duration")
      expect(yield* refused({ rules: [Alerts.tokenBurn({ budget: -1, per: "1 day" })] })).toContain("budget")
      expect(yield* refused({ rules: [Alerts.errorRate({ above: 0.1, window: Duration.infinity })] })).toContain("window")
      expect(yield* refused({ rules: [Alerts.errorRate({ above: 0.1 }), Alerts.errorRate({ above: 0.2 })] })).toContain(
        "two rules have this name"
      )
      expect(yield* refused({ rules: [], interval: "0 seconds" })).toContain("interval")
    }))

  it.effect("the layer fails the same way", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Effect.scoped(Layer.build(Alerts.layer({ rules: [Alerts.errorRate({ above: 2 })] }))))
      expect(Exit.isFailure(exit)).toBe(true)
    }))
})
