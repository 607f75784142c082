/**
 * CircuitBreaker: the state machine on any error with a classification (TestClock); calls
 * waiting for an open breaker (the default) and failing fast (`whenOpen: "fail"`); then the
 * breaker in the Grok pipeline against the simulator over real loopback sockets: a model that
 * is down trips it, calls then wait (or fail fast with CircuitOpen) without reaching the
 * server or the limiter, and it recovers through half-open when the model comes back.
 */
import { describe, expect, it } from "@effect/vitest"
import type { HttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Data, Duration, Effect, Either, Exit, Fiber, Layer, Metric, Option, Redacted, type Scope, TestClock } from "effect"
import * as GrokClient from "../src/GrokClient.js"
import * as GrokConfig from "../src/GrokConfig.js"
import type * as GrokError from "../src/GrokError.js"
import * as CircuitBreaker from "../src/resilience/CircuitBreaker.js"
import { limitKey } from "../src/internal/pipeline.js"
import * as RateLimiter from "../src/resilience/RateLimiter.js"
import * as RateLimiterMemory from "../src/resilience/RateLimiterMemory.js"
import * as RetryPolicy from "../src/resilience/RetryPolicy.js"
import type * as FaultPlan from "../src/simulator/FaultPlan.js"
import * as Simulator from "../src/simulator/Simulator.js"
import { drive, simulatorActivity } from "./support/drive.js"

class Boom extends Data.TaggedError("Boom")<{ readonly kind: "unhealthy" | "caller" | "local" }> {}
class Rejected extends Data.TaggedError("Rejected")<{ readonly rejection: CircuitBreaker.Rejection }> {}

const handlers: CircuitBreaker.Handlers<Boom, Rejected> = {
  classify: (error) => (error.kind === "unhealthy" ? "failure" : error.kind === "caller" ? "success" : "ignore"),
  onOpen: (rejection) => new Rejected({ rejection })
}

const KEY = "svc"
const gauge = (key: string) => Effect.map(Metric.value(Metric.tagged(CircuitBreaker.stateGauge, "key", key)), (state) => state.value)
const waiting = (key: string) =>
  Effect.map(Metric.value(Metric.tagged(CircuitBreaker.waitingGauge, "key", key)), (state) => state.value)

/** A breaker with small numbers and a counter of the calls that really ran. */
const harness = (options: CircuitBreaker.Options) =>
  Effect.gen(function*() {
    const breaker = yield* CircuitBreaker.make(options)
    let ran = 0
    const call = (outcome: "ok" | Boom["kind"]) =>
      breaker.guard(KEY, Effect.suspend(() => {
        ran++
        return outcome === "ok" ? Effect.succeed("ok" as const) : Effect.fail(new Boom({ kind: outcome }))
      }), handlers)
    return { breaker, call, ran: () => ran }
  })

describe("CircuitBreaker (any error)", () => {
  it.effect("opens on the failure ratio once the window holds the minimum calls, then fails fast", () =>
    Effect.gen(function*() {
      const { breaker, call, ran } = yield* harness({ failureRatio: 0.5, minimumCalls: 4, breakDuration: "10 seconds", whenOpen: "fail" })
      yield* Effect.flip(call("unhealthy"))
      yield* Effect.flip(call("unhealthy"))
      yield* Effect.flip(call("unhealthy"))
      // Three failures out of three: below the minimum, still closed.
      expect(yield* breaker.state(KEY)).toBe("closed")
      yield* call("ok")
      // 3 failures out of 4 >= 0.5, but only a failure can open it.
      expect(yield* breaker.state(KEY)).toBe("closed")
      yield* Effect.flip(call("unhealthy"))
      expect(yield* breaker.state(KEY)).toBe("open")
      expect(yield* gauge(KEY)).toBe(2)

      yield* TestClock.adjust("4 seconds")
      const rejected = yield* Effect.flip(call("ok"))
      expect(rejected._tag).toBe("Rejected")
      if (rejected._tag !== "Rejected") return
      expect(rejected.rejection.state).toBe("open")
      expect(Option.map(Option.fromNullable(rejected.rejection.retryAfter), Duration.toMillis)).toEqual(Option.some(6000))
      expect(ran()).toBe(5)
    }))

  it.effect("does not count errors the caller caused, nor calls that say nothing about the dependency", () =>
    Effect.gen(function*() {
      const { breaker, call } = yield* harness({ failureRatio: 0.5, minimumCalls: 4 })
      for (let i = 0; i < 20; i++) yield* Effect.flip(call("local"))
      yield* Effect.flip(call("unhealthy"))
      expect(yield* breaker.state(KEY)).toBe("closed")
      // Caller errors count as successes: 3 failures out of 8 stay under the ratio.
      for (let i = 0; i < 5; i++) yield* Effect.flip(call("caller"))
      yield* Effect.flip(call("unhealthy"))
      yield* Effect.flip(call("unhealthy"))
      expect(yield* breaker.state(KEY)).toBe("closed")
    }))

  it.effect("forgets outcomes older than the window", () =>
    Effect.gen(function*() {
      const { breaker, call } = yield* harness({ failureRatio: 0.5, minimumCalls: 4, window: "10 seconds" })
      for (let i = 0; i < 3; i++) yield* Effect.flip(call("unhealthy"))
      yield* TestClock.adjust("11 seconds")
      yield* Effect.flip(call("unhealthy"))
      expect(yield* breaker.state(KEY)).toBe("closed")
    }))

  it.effect("half-opens after the break: lets the probes through, closes after they succeed", () =>
    Effect.gen(function*() {
      const { breaker, call, ran } = yield* harness({
        minimumCalls: 2,
        breakDuration: "5 seconds",
        halfOpenCalls: 2,
        whenOpen: "fail"
      })
      yield* Effect.flip(call("unhealthy"))
      yield* Effect.flip(call("unhealthy"))
      expect(yield* breaker.state(KEY)).toBe("open")
      yield* TestClock.adjust("5 seconds")

      // Two slow probes take both slots: a third call is rejected meanwhile, without retryAfter.
      const latch = yield* Effect.makeLatch(false)
      let started = 0
      const probe = breaker.guard(KEY, Effect.sync(() => started++).pipe(Effect.zipRight(latch.await)), handlers)
      const probes = yield* Effect.fork(Effect.all([probe, probe], { concurrency: "unbounded" }))
      while (started < 2) yield* Effect.yieldNow()
      expect(yield* breaker.state(KEY)).toBe("half-open")
      expect(yield* gauge(KEY)).toBe(1)
      const meanwhile = yield* Effect.flip(call("ok"))
      expect(meanwhile._tag === "Rejected" && meanwhile.rejection).toEqual({
        key: KEY,
        state: "half-open",
        retryAfter: undefined,
        openFor: Duration.seconds(5),
        waitLimitReached: false
      })
      yield* latch.open
      yield* Fiber.join(probes)
      expect(yield* breaker.state(KEY)).toBe("closed")
      expect(yield* gauge(KEY)).toBe(0)
      expect(ran()).toBe(2)
    }))

  it.effect("re-opens on a failed probe for a break twice as long, up to maxBreakDuration; closing resets it", () =>
    Effect.gen(function*() {
      const { breaker, call } = yield* harness({
        minimumCalls: 2,
        breakDuration: "1 second",
        maxBreakDuration: "3 seconds",
        whenOpen: "fail"
      })
      const breakNow = Effect.map(Effect.flip(call("ok")), (rejected) => rejected._tag === "Rejected" && rejected.rejection.retryAfter)
      yield* Effect.flip(call("unhealthy"))
      yield* Effect.flip(call("unhealthy"))
      expect(yield* breakNow).toEqual(Duration.seconds(1))
      const breaks: Array<Duration.Duration | false | undefined> = []
      for (let i = 0; i < 3; i++) {
        const current = yield* breakNow
        if (current === false || current === undefined) return expect.fail("the breaker should be open")
        yield* TestClock.adjust(current)
        yield* Effect.flip(call("unhealthy"))
        expect(yield* breaker.state(KEY)).toBe("open")
        breaks.push(yield* breakNow)
      }
      expect(breaks).toEqual([Duration.seconds(2), Duration.seconds(3), Duration.seconds(3)])
      yield* TestClock.adjust("3 seconds")
      yield* call("ok")
      expect(yield* breaker.state(KEY)).toBe("closed")
      yield* Effect.flip(call("unhealthy"))
      yield* Effect.flip(call("unhealthy"))
      expect(yield* breakNow).toEqual(Duration.seconds(1))
    }))

  it.effect("an interrupted probe gives its slot back", () =>
    Effect.gen(function*() {
      const { breaker, call } = yield* harness({ minimumCalls: 1, breakDuration: "1 second", whenOpen: "fail" })
      yield* Effect.flip(call("unhealthy"))
      yield* TestClock.adjust("1 second")
      let started = false
      const stuck = yield* Effect.fork(breaker.guard(KEY, Effect.zipRight(Effect.sync(() => (started = true)), Effect.never), handlers))
      while (!started) yield* Effect.yieldNow()
      expect((yield* Effect.flip(call("ok")))._tag).toBe("Rejected")
      yield* Fiber.interrupt(stuck)
      expect(yield* call("ok")).toBe("ok")
      expect(yield* breaker.state(KEY)).toBe("closed")
    }))

  it.effect("keeps each key's state apart; the disabled breaker never opens", () =>
    Effect.gen(function*() {
      const { breaker, call } = yield* harness({ minimumCalls: 1 })
      yield* Effect.flip(call("unhealthy"))
      expect(yield* breaker.state(KEY)).toBe("open")
      expect(yield* breaker.state("other")).toBe("closed")
      for (let i = 0; i < 50; i++) {
        yield* Effect.flip(CircuitBreaker.disabled.guard(KEY, Effect.fail(new Boom({ kind: "unhealthy" })), handlers))
      }
      expect(yield* CircuitBreaker.disabled.state(KEY)).toBe("closed")
    }))

  it.effect("a breaker shows on the gauge as closed from its first call", () =>
    Effect.gen(function*() {
      yield* Metric.set(Metric.tagged(CircuitBreaker.stateGauge, "key", "fresh"), 2)
      const breaker = yield* CircuitBreaker.make()
      yield* breaker.guard("fresh", Effect.void, handlers)
      expect(yield* gauge("fresh")).toBe(0)
    }))

  it("refuses options out of range", () => {
    const bad: ReadonlyArray<CircuitBreaker.Options> = [
      { failureRatio: 0 },
      { failureRatio: 1.5 },
      { minimumCalls: 0 },
      { halfOpenCalls: 1.5 },
      { window: "0 seconds" },
      { breakDuration: Infinity },
      { breakDuration: "5 seconds", maxBreakDuration: "1 second" },
      { maxBreakDuration: "0 seconds" },
      { whenOpen: "later" as CircuitBreaker.WhenOpen }
    ]
    for (const options of bad) {
      expect(Either.isLeft(CircuitBreaker.validate(options))).toBe(true)
    }
    expect(CircuitBreaker.validate()).toEqual(Either.right(CircuitBreaker.defaults))
    // A break longer than the default longest break is kept as it is.
    expect(Either.map(CircuitBreaker.validate({ breakDuration: "30 seconds" }), (valid) => valid.maxBreakDuration))
      .toEqual(Either.right(Duration.seconds(30)))
  })
})

/**
 * A dependency that is down until told otherwise and answers 100 ms after a call reaches it,
 * behind a breaker with the defaults (wait, break 500 ms doubling up to 2 s, one probe) but
 * tripping on 2 calls. `call(id)` is one call, never retried by its caller.
 */
const dependency = (options: CircuitBreaker.Options = {}) =>
  Effect.gen(function*() {
    const breaker = yield* CircuitBreaker.make({ minimumCalls: 2, ...options })
    const server = { up: false, inFlight: 0, mostInFlight: 0 }
    /** Who reached the dependency, and when. */
    const reached: Array<{ readonly id: string; readonly at: number }> = []
    const call = (id: string) =>
      breaker.guard(
        KEY,
        Effect.gen(function*() {
          reached.push({ id, at: yield* TestClock.currentTimeMillis })
          server.inFlight++
          server.mostInFlight = Math.max(server.mostInFlight, server.inFlight)
          yield* Effect.sleep("100 millis")
          return server.up ? id : yield* Effect.fail(new Boom({ kind: "unhealthy" }))
        }).pipe(Effect.ensuring(Effect.sync(() => server.inFlight--))),
        handlers
      )
    /** Two failures at t = 0 open the breaker at 100 ms, until 600 ms. */
    const trip = Effect.gen(function*() {
      const failing = yield* Effect.fork(Effect.all([Effect.flip(call("trip")), Effect.flip(call("trip"))], { concurrency: 2 }))
      yield* TestClock.adjust("100 millis")
      yield* Fiber.join(failing)
      expect(yield* breaker.state(KEY)).toBe("open")
      server.mostInFlight = 0
    })
    const callers = (count: number) =>
      Effect.forEach(Array.from({ length: count }, (_, i) => `caller-${i}`), (id) => Effect.fork(call(id)))
    const probes = () => reached.filter((entry) => entry.id !== "trip")
    return { breaker, server, call, trip, callers, probes }
  })

/** Move the clock by `step` until `until` millis, running `each` after every step. */
const stepTo = (until: number, step: Duration.DurationInput, each: Effect.Effect<void> = Effect.void) =>
  Effect.gen(function*() {
    while ((yield* TestClock.currentTimeMillis) < until) {
      yield* TestClock.adjust(step)
      yield* each
    }
  })

describe("CircuitBreaker: calls wait for an open breaker (the default)", () => {
  it.effect("during an outage calls wait instead of failing, and only one probe at a time reaches the dependency", () =>
    Effect.gen(function*() {
      const { breaker, callers, probes, server, trip } = yield* dependency()
      yield* trip
      const fibers = yield* callers(20)
      yield* TestClock.adjust("1 millis")
      expect(yield* waiting(KEY)).toBe(20)
      expect(probes()).toEqual([])

      let stillWaiting = true
      yield* stepTo(11_000, "50 millis", Effect.gen(function*() {
        for (const fiber of fibers) stillWaiting &&= Option.isNone(yield* Fiber.poll(fiber))
      }))
      // Ten seconds of outage: no call has failed, not even those whose probe failed (they wait
      // again), and the dependency saw one probe at a time: after the first break of 500 ms,
      // then 1 s, then every 2 s.
      expect(stillWaiting).toBe(true)
      expect(server.mostInFlight).toBe(1)
      expect(probes().map((probe) => probe.at)).toEqual([600, 1_700, 3_800, 5_900, 8_000, 10_100])
      // Each probe is the call that has waited longest; a call whose probe failed goes to the back.
      expect(probes().map((probe) => probe.id)).toEqual(["caller-0", "caller-1", "caller-2", "caller-3", "caller-4", "caller-5"])
      expect(yield* breaker.state(KEY)).toBe("open")
      expect(yield* waiting(KEY)).toBe(20)
      yield* Effect.forEach(fibers, Fiber.interrupt)
      expect(yield* waiting(KEY)).toBe(0)
    }))

  it.effect("when the dependency recovers, every waiting call goes through within one probe interval", () =>
    Effect.gen(function*() {
      const { breaker, callers, probes, server, trip } = yield* dependency()
      yield* trip
      const fibers = yield* callers(20)
      yield* TestClock.adjust("4900 millis")
      const probesDuringOutage = probes().length
      server.up = true
      const backAt = yield* TestClock.currentTimeMillis
      // The next probe is at 5.9 s (breaks of 0.5, 1, 2, 2 s); its success lets everyone go.
      yield* stepTo(backAt + 2_000 + 200, "50 millis")
      const answers = yield* Effect.forEach(fibers, (fiber) => Fiber.poll(fiber))
      expect(answers.map((answer) => Option.isSome(answer) && Exit.isSuccess(answer.value))).toEqual(fibers.map(() => true))
      expect(yield* breaker.state(KEY)).toBe("closed")
      expect(yield* waiting(KEY)).toBe(0)
      const reachedAfter = probes().slice(probesDuringOutage)
      expect(reachedAfter).toHaveLength(20)
      expect(Math.max(...reachedAfter.map((entry) => entry.at))).toBe(6_000)
      expect(server.mostInFlight).toBe(19)
    }))

  it.effect("a caller whose deadline or interruption comes first leaves no waiter behind", () =>
    Effect.gen(function*() {
      const { breaker, call, probes, server, trip } = yield* dependency()
      yield* trip
      // Open: one caller's own deadline ends its wait; another is interrupted.
      const withDeadline = yield* Effect.fork(Effect.timeout(call("deadline"), "200 millis"))
      const interrupted = yield* Effect.fork(call("interrupted"))
      yield* TestClock.adjust("1 millis")
      expect(yield* waiting(KEY)).toBe(2)
      yield* TestClock.adjust("200 millis")
      expect((yield* Effect.flip(Fiber.join(withDeadline)))._tag).toBe("TimeoutException")
      yield* Fiber.interrupt(interrupted)
      expect(yield* waiting(KEY)).toBe(0)

      // Half-open with the probe out: a caller waiting for its verdict is interrupted too.
      server.up = true
      const probe = yield* Effect.fork(call("probe"))
      yield* TestClock.adjust("300 millis")
      const behind = yield* Effect.fork(call("behind-the-probe"))
      yield* TestClock.adjust("1 millis")
      expect(yield* breaker.state(KEY)).toBe("half-open")
      expect(yield* waiting(KEY)).toBe(1)
      yield* Fiber.interrupt(behind)
      expect(yield* waiting(KEY)).toBe(0)

      yield* TestClock.adjust("100 millis")
      expect(yield* Fiber.join(probe)).toBe("probe")
      expect(yield* breaker.state(KEY)).toBe("closed")
      expect(probes().map((entry) => entry.id)).toEqual(["probe"])
    }))

  it.effect("an interrupted probe hands its slot to a waiting call at once", () =>
    Effect.gen(function*() {
      const { breaker, callers, probes, server, trip } = yield* dependency()
      yield* trip
      server.up = true
      const [first, second] = yield* callers(2)
      yield* TestClock.adjust("500 millis")
      expect(probes().map((entry) => entry.at)).toEqual([600])
      const [probe, waiter] = probes()[0]?.id === "caller-0" ? [first!, second!] : [second!, first!]
      yield* Fiber.interrupt(probe)
      // The waiter probes in its place straight away (same instant), and closes the breaker.
      yield* Effect.repeatN(Effect.yieldNow(), 10)
      expect(probes().map((entry) => entry.at)).toEqual([600, 600])
      yield* TestClock.adjust("100 millis")
      expect(Exit.isSuccess(yield* Fiber.await(waiter))).toBe(true)
      expect(yield* breaker.state(KEY)).toBe("closed")
    }))
})

describe("CircuitBreaker: whenOpen \"fail\"", () => {
  it.effect("fails fast with a typed rejection carrying retryAfter, and withWhenOpen overrides either way", () =>
    Effect.gen(function*() {
      const failing = yield* dependency({ whenOpen: "fail" })
      yield* failing.trip
      const rejected = yield* Effect.flip(failing.call("fast"))
      expect(rejected._tag === "Rejected" && rejected.rejection).toEqual({
        key: KEY,
        state: "open",
        retryAfter: Duration.millis(500),
        openFor: Duration.zero,
        waitLimitReached: false
      })
      // The same breaker, told to wait for this call.
      const patient = yield* Effect.fork(CircuitBreaker.withWhenOpen(failing.call("patient"), "wait"))
      yield* TestClock.adjust("1 millis")
      expect(yield* waiting(KEY)).toBe(1)
      failing.server.up = true
      yield* TestClock.adjust("600 millis")
      expect(yield* Fiber.join(patient)).toBe("patient")

      // A waiting breaker, told to fail fast for one call.
      const waitingBreaker = yield* dependency()
      yield* waitingBreaker.trip
      const fast = yield* Effect.flip(CircuitBreaker.withWhenOpen(waitingBreaker.call("fast"), "fail"))
      expect(fast._tag === "Rejected" && fast.rejection.state).toBe("open")
      expect(waitingBreaker.probes()).toEqual([])
    }))
})

const API_KEY = "xai-breaker-test-key-0123456789"
const DOWN: FaultPlan.FaultPlan = [{ model: "grok-4", fault: { kind: "status", status: 503 } }]
const hello: GrokClient.ChatRequest = { model: "grok-4", messages: [{ role: "user", content: "hello" }] }
const once: GrokClient.CallOptions = { retry: RetryPolicy.make({ maxRetries: 0 }) }

const loopback = <A, E>(body: Effect.Effect<A, E, Scope.Scope | HttpClient.HttpClient>) =>
  body.pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))

/** A limiter that lets everything through, counts the permits it gave, and how many were held at each grant. */
const countingLimiter = () => {
  let acquired = 0
  let held = 0
  const heldAtGrant: Array<number> = []
  const layer = Layer.succeed(RateLimiter.RateLimiter, {
    ...RateLimiter.unlimited,
    acquire: () =>
      Effect.sync(() => {
        acquired++
        heldAtGrant.push(++held)
        return { waited: Duration.zero, release: () => Effect.sync(() => held--) }
      })
  })
  return { layer, acquired: () => acquired, heldAtGrant: () => heldAtGrant }
}

const client = (
  faults: FaultPlan.FaultPlan,
  breaker?: Layer.Layer<CircuitBreaker.CircuitBreaker, CircuitBreaker.InvalidCircuitBreakerOptions>
) =>
  Effect.gen(function*() {
    const sim = yield* Simulator.make({ seed: 5, faults })
    const limiter = countingLimiter()
    const layers = breaker === undefined ? limiter.layer : Layer.merge(limiter.layer, breaker)
    const grok = yield* GrokClient.make(Either.getOrThrow(GrokConfig.make({ apiKey: API_KEY, baseUrl: sim.url }))).pipe(
      Effect.provide(layers)
    )
    const driven = <A, E>(program: Effect.Effect<A, E>) =>
      Effect.flatMap(Effect.fork(program), (fiber) => drive(fiber, simulatorActivity(sim)))
    const failure = (options: GrokClient.CallOptions = once) =>
      driven(Effect.flip(grok.chat(hello, options))).pipe(Effect.map((error: GrokError.GrokError) => error))
    return { sim, grok, driven, failure, acquired: limiter.acquired, heldAtGrant: limiter.heldAtGrant }
  })

describe("CircuitBreaker in the Grok pipeline", () => {
  it.effect("during an outage calls wait for the breaker, send one probe at a time, and all succeed when the model is back", () =>
    loopback(Effect.gen(function*() {
      // grok-4 answers 503 for the first 20 s of virtual time.
      const { acquired, driven, failure, grok, heldAtGrant, sim } = yield* client([
        { model: "grok-4", untilMillis: 20_000, fault: { kind: "status", status: 503 } }
      ])
      for (let i = 0; i < 10; i++) expect((yield* failure())._tag).toBe("ServerError")
      expect(yield* gauge("chat:grok-4")).toBe(2)

      // 30 calls that may not retry arrive while it is open.
      const replies = yield* driven(
        Effect.all(Array.from({ length: 30 }, () => grok.chat(hello, once)), { concurrency: "unbounded" })
      )
      expect(replies.every((reply) => reply.model === "grok-4")).toBe(true)
      const log = yield* sim.log
      const failed = log.filter((entry) => entry.status === 503)
      // 10 failures opened it; then one probe per break (0.5, 1, then every 2 s) until 20 s:
      // 11 failed probes, each sent back to wait. The 12th, at 21.5 s, succeeds and lets the
      // 29 others go.
      expect(failed).toHaveLength(10 + 11)
      expect(log.filter((entry) => entry.status === 200)).toHaveLength(30)
      expect(Math.max(...log.map((entry) => entry.startedAt))).toBe(21_500)
      // Waiting took no limiter permit: one per request sent, and a failed probe gave its
      // permit back before waiting again (each probe was the only permit out).
      expect(acquired()).toBe(log.length)
      expect(heldAtGrant().slice(0, 10 + 11 + 1)).toEqual(Array.from({ length: 22 }, () => 1))
      expect(yield* gauge("chat:grok-4")).toBe(0)
      expect(yield* waiting("chat:grok-4")).toBe(0)
    })))

  it.effect("calls queued in the limiter when the breaker opens give their permit back before waiting for it", () =>
    loopback(Effect.gen(function*() {
      const sim = yield* Simulator.make({ seed: 5, faults: [{ model: "grok-4", untilMillis: 20_000, fault: { kind: "status", status: 503 } }] })
      const limiter = yield* Effect.orDie(RateLimiterMemory.make({ limits: { maxConcurrency: 2 }, startSlow: false }))
      const grok = yield* GrokClient.make(Either.getOrThrow(GrokConfig.make({ apiKey: API_KEY, baseUrl: sim.url }))).pipe(
        Effect.provide(Layer.succeed(RateLimiter.RateLimiter, limiter))
      )
      const key = limitKey(Redacted.make(API_KEY), "grok-4")
      // Every 100 ms of virtual time that calls wait for the breaker: the permits out.
      const heldWhileWaiting: Array<number> = []
      const observer = yield* Effect.fork(Effect.forever(Effect.gen(function*() {
        if ((yield* waiting("chat:grok-4")) > 0) heldWhileWaiting.push((yield* limiter.stats(key)).inFlight)
        yield* Effect.sleep("100 millis")
      })))
      // 20 calls, two at a time: the first ten fail and open the breaker while the others queue.
      const calls = Effect.all(Array.from({ length: 20 }, () => Effect.either(grok.chat(hello, once))), { concurrency: "unbounded" })
      const results = yield* Effect.flatMap(Effect.fork(calls), (fiber) => drive(fiber, simulatorActivity(sim)))
      yield* Fiber.interrupt(observer)
      // The calls in flight when it opened failed; every call that waited got its answer.
      const failed = results.filter(Either.isLeft).map((result) => result.left._tag)
      expect(failed.length).toBeGreaterThanOrEqual(10)
      expect(failed.length).toBeLessThanOrEqual(12)
      expect(new Set(failed)).toEqual(new Set(["ServerError"]))
      expect(heldWhileWaiting.length).toBeGreaterThan(100)
      // Only a probe holds a permit while calls wait for the breaker.
      expect(Math.max(...heldWhileWaiting)).toBeLessThanOrEqual(1)
      expect(yield* limiter.stats(key)).toMatchObject({ queued: 0, inFlight: 0 })
    })))

  it.effect("whenOpen fail: trips on a model that is down, fails fast while open, and recovers through half-open", () =>
    loopback(Effect.gen(function*() {
      const { acquired, driven, failure, grok, sim } = yield* client(DOWN, CircuitBreaker.layer({ whenOpen: "fail" }))
      // Defaults: at least 10 calls, half of them failed.
      for (let i = 0; i < 10; i++) expect((yield* failure())._tag).toBe("ServerError")
      expect(yield* sim.requestCount).toBe(10)
      expect(yield* gauge("chat:grok-4")).toBe(2)

      // Open: typed, retryable, says when to come back; nothing reaches the server or the limiter.
      const permits = acquired()
      for (let i = 0; i < 5; i++) {
        const error = yield* failure()
        expect(error._tag).toBe("CircuitOpen")
        expect(error.retryable).toBe(true)
        expect(error._tag === "CircuitOpen" && error.key).toBe("chat:grok-4")
        expect(error.retryAfter).toEqual(Duration.millis(500))
      }
      expect(yield* sim.requestCount).toBe(10)
      expect(acquired()).toBe(permits)
      // Other models have their own breaker.
      expect((yield* driven(grok.chat({ ...hello, model: "grok-4-fast" }, once))).model).toBe("grok-4-fast")

      // The model comes back; after the break one probe closes the breaker.
      yield* sim.setFaults([])
      yield* TestClock.adjust("500 millis")
      expect((yield* driven(grok.chat(hello, once))).model).toBe("grok-4")
      expect(yield* gauge("chat:grok-4")).toBe(0)
      for (let i = 0; i < 5; i++) yield* driven(grok.chat(hello, once))
      expect(yield* sim.requestCount).toBe(17)
    })))

  it.effect("whenOpen fail: a retry into an open breaker fails fast, then waits for the half-open probe", () =>
    loopback(Effect.gen(function*() {
      const { driven, failure, grok, sim } = yield* client(
        DOWN,
        CircuitBreaker.layer({ minimumCalls: 2, breakDuration: "10 seconds", whenOpen: "fail" })
      )
      yield* failure()
      yield* failure()
      expect(yield* sim.requestCount).toBe(2)
      // With the default policy the call waits out the break (Retry-After) and probes.
      yield* sim.setFaults([])
      const started = yield* TestClock.currentTimeMillis
      const reply = yield* driven(grok.chat(hello))
      expect(reply.model).toBe("grok-4")
      expect((yield* TestClock.currentTimeMillis) - started).toBeGreaterThanOrEqual(10_000)
      expect(yield* sim.requestCount).toBe(3)
    })))

  it.effect("4xx the caller caused and rate limits on requests never open it; 'at capacity' does", () =>
    loopback(Effect.gen(function*() {
      const { failure, sim } = yield* client([
        { model: "grok-4", to: 15, fault: { kind: "status", status: 400 } },
        {
          model: "grok-4",
          from: 16,
          to: 30,
          fault: { kind: "status", status: 429, body: { code: "resource-exhausted", error: "Too many requests for team t and model grok-4" } }
        },
        { model: "grok-4", from: 31, fault: { kind: "status", status: 429 } }
      ], CircuitBreaker.layer({ whenOpen: "fail" }))
      for (let i = 0; i < 15; i++) expect((yield* failure())._tag).toBe("BadRequest")
      for (let i = 0; i < 15; i++) {
        const error = yield* failure()
        expect(error._tag === "RateLimited" && error.limit).toBe("requests")
      }
      expect(yield* sim.requestCount).toBe(30)
      // The default 429 body says "at capacity": the model is overloaded. 30 successes in the
      // window, so 30 more failures reach the ratio.
      for (let i = 0; i < 30; i++) expect((yield* failure())._tag).toBe("RateLimited")
      expect((yield* failure())._tag).toBe("CircuitOpen")
      expect(yield* sim.requestCount).toBe(60)
    })))

  it.effect("CircuitBreaker.layerDisabled turns it off", () =>
    loopback(Effect.gen(function*() {
      const { failure, sim } = yield* client(DOWN, CircuitBreaker.layerDisabled)
      for (let i = 0; i < 20; i++) expect((yield* failure())._tag).toBe("ServerError")
      expect(yield* sim.requestCount).toBe(20)
    })))
})

describe("CircuitBreaker: the wait for an open breaker is bounded (maxWait, 30 s by default)", () => {
  it.effect("a model that stays down: waiting calls get CircuitOpen 30 s after the breaker opened, not before", () =>
    Effect.gen(function*() {
      const { callers, probes, trip } = yield* dependency()
      yield* trip // opened at 100 ms
      const fibers = yield* callers(5)
      yield* TestClock.adjust("29999 millis") // now 30 099 ms: every call still waiting
      for (const fiber of fibers) expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* TestClock.adjust("1 millis")
      const outcomes = yield* Effect.forEach(fibers, (fiber) => Effect.flip(Fiber.join(fiber)))
      for (const outcome of outcomes) {
        expect(outcome._tag).toBe("Rejected")
        if (outcome._tag !== "Rejected") continue
        expect(outcome.rejection).toMatchObject({ key: KEY, waitLimitReached: true, openFor: Duration.seconds(30) })
      }
      // Meanwhile one probe at a time, every 2 s at most.
      const times = probes().map((probe) => probe.at)
      expect(times.length).toBeGreaterThan(10)
      expect(times.slice(1).every((at, i) => at - times[i]! >= 1_000)).toBe(true)
    }))

  it.effect("past the limit, new calls fail at once with the next probe's time; one probe at a time still goes", () =>
    Effect.gen(function*() {
      const { call, probes, trip } = yield* dependency()
      yield* trip
      yield* TestClock.adjust("31 seconds")
      const before = probes().length
      const now = yield* TestClock.currentTimeMillis
      // Every new call is answered at once: as a probe when one is due, else rejected.
      const answers = yield* Effect.forEach(Array.from({ length: 5 }), () => Effect.fork(Effect.flip(call("late"))))
      yield* TestClock.adjust("100 millis")
      const errors = yield* Effect.forEach(answers, Fiber.join)
      expect(yield* TestClock.currentTimeMillis).toBe(now + 100)
      const rejected = errors.flatMap((error) => (error._tag === "Rejected" ? [error.rejection] : []))
      expect(probes().length - before).toBeLessThanOrEqual(1)
      expect(rejected.length).toBeGreaterThanOrEqual(4)
      for (const rejection of rejected) expect(rejection.waitLimitReached).toBe(true)
    }))

  it.effect("a probe that succeeds after the limit closes the breaker: calls go through again, and wait again in the next outage", () =>
    Effect.gen(function*() {
      const { breaker, call, server, trip } = yield* dependency()
      yield* trip
      yield* TestClock.adjust("40 seconds")
      server.up = true
      // The first call to come after the break is the probe: it succeeds and closes the breaker.
      const probe = yield* Effect.fork(call("probe"))
      yield* TestClock.adjust("100 millis")
      expect(yield* Fiber.join(probe)).toBe("probe")
      expect(yield* breaker.state(KEY)).toBe("closed")
      const after = yield* Effect.fork(call("after"))
      yield* TestClock.adjust("100 millis")
      expect(yield* Fiber.join(after)).toBe("after")
      // A new outage starts a new 30 s of waiting.
      server.up = false
      yield* trip
      const waiter = yield* Effect.fork(call("waiter"))
      yield* TestClock.adjust("10 seconds")
      expect(Option.isNone(yield* Fiber.poll(waiter))).toBe(true)
      yield* Fiber.interrupt(waiter)
    }))

  it.effect("maxWait is configurable: Duration.infinity waits until the caller's deadline", () =>
    Effect.gen(function*() {
      const { callers, trip } = yield* dependency({ maxWait: Duration.infinity })
      yield* trip
      const [fiber] = yield* callers(1)
      yield* TestClock.adjust("2 minutes")
      expect(Option.isNone(yield* Fiber.poll(fiber!))).toBe(true)
      yield* Fiber.interrupt(fiber!)
      const short = yield* dependency({ maxWait: "5 seconds" })
      yield* short.trip
      const [quick] = yield* short.callers(1)
      yield* TestClock.adjust("5 seconds")
      const error = yield* Effect.flip(Fiber.join(quick!))
      expect(error._tag === "Rejected" && error.rejection.waitLimitReached).toBe(true)
      expect(Either.isLeft(CircuitBreaker.validate({ maxWait: 0 }))).toBe(true)
    }))
})
