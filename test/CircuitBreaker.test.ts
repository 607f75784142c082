/**
 * CircuitBreaker: the state machine on any error with a classification (TestClock), then
 * the breaker in the Grok pipeline against the simulator over real loopback sockets: a
 * model that is down trips it, calls then fail fast with CircuitOpen without reaching the
 * server or the limiter, and it recovers through half-open when the model comes back.
 */
import { describe, expect, it } from "@effect/vitest"
import type { HttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Data, Duration, Effect, Either, Fiber, Layer, Metric, Option, type Scope, TestClock } from "effect"
import * as GrokClient from "../src/GrokClient.js"
import * as GrokConfig from "../src/GrokConfig.js"
import type * as GrokError from "../src/GrokError.js"
import * as CircuitBreaker from "../src/resilience/CircuitBreaker.js"
import * as RateLimiter from "../src/resilience/RateLimiter.js"
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
      const { breaker, call, ran } = yield* harness({ failureRatio: 0.5, minimumCalls: 4, breakDuration: "10 seconds" })
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
      const { breaker, call, ran } = yield* harness({ minimumCalls: 2, breakDuration: "5 seconds", halfOpenCalls: 2 })
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
      expect(meanwhile._tag === "Rejected" && meanwhile.rejection).toEqual({ key: KEY, state: "half-open", retryAfter: undefined })
      yield* latch.open
      yield* Fiber.join(probes)
      expect(yield* breaker.state(KEY)).toBe("closed")
      expect(yield* gauge(KEY)).toBe(0)
      expect(ran()).toBe(2)
    }))

  it.effect("re-opens on a failed probe, for a full break", () =>
    Effect.gen(function*() {
      const { breaker, call } = yield* harness({ minimumCalls: 2, breakDuration: "5 seconds" })
      yield* Effect.flip(call("unhealthy"))
      yield* Effect.flip(call("unhealthy"))
      yield* TestClock.adjust("5 seconds")
      yield* Effect.flip(call("unhealthy"))
      expect(yield* breaker.state(KEY)).toBe("open")
      const rejected = yield* Effect.flip(call("ok"))
      expect(rejected._tag === "Rejected" && rejected.rejection.retryAfter).toEqual(Duration.seconds(5))
    }))

  it.effect("an interrupted probe gives its slot back", () =>
    Effect.gen(function*() {
      const { breaker, call } = yield* harness({ minimumCalls: 1, breakDuration: "1 second", halfOpenCalls: 1 })
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
      { breakDuration: Infinity }
    ]
    for (const options of bad) {
      expect(Either.isLeft(CircuitBreaker.validate(options))).toBe(true)
    }
    expect(CircuitBreaker.validate()).toEqual(Either.right(CircuitBreaker.defaults))
  })
})

const API_KEY = "xai-breaker-test-key-0123456789"
const DOWN: FaultPlan.FaultPlan = [{ model: "grok-4", fault: { kind: "status", status: 503 } }]
const hello: GrokClient.ChatRequest = { model: "grok-4", messages: [{ role: "user", content: "hello" }] }
const once: GrokClient.CallOptions = { retry: RetryPolicy.make({ maxRetries: 0 }) }

const loopback = <A, E>(body: Effect.Effect<A, E, Scope.Scope | HttpClient.HttpClient>) =>
  body.pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))

/** A limiter that lets everything through and counts the permits it gave. */
const countingLimiter = () => {
  let acquired = 0
  const layer = Layer.succeed(RateLimiter.RateLimiter, {
    ...RateLimiter.unlimited,
    acquire: (ticket) => Effect.zipRight(Effect.sync(() => acquired++), RateLimiter.unlimited.acquire(ticket))
  })
  return { layer, acquired: () => acquired }
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
    return { sim, grok, driven, failure, acquired: limiter.acquired }
  })

describe("CircuitBreaker in the Grok pipeline", () => {
  it.effect("trips on a model that is down, fails fast while open, and recovers through half-open", () =>
    loopback(Effect.gen(function*() {
      const { acquired, driven, failure, grok, sim } = yield* client(DOWN)
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
        expect(error.retryAfter).toEqual(Duration.seconds(15))
      }
      expect(yield* sim.requestCount).toBe(10)
      expect(acquired()).toBe(permits)
      // Other models have their own breaker.
      expect((yield* driven(grok.chat({ ...hello, model: "grok-4-fast" }, once))).model).toBe("grok-4-fast")

      // The model comes back; after the break two probes close the breaker.
      yield* sim.setFaults([])
      yield* TestClock.adjust("15 seconds")
      expect((yield* driven(grok.chat(hello, once))).model).toBe("grok-4")
      expect(yield* gauge("chat:grok-4")).toBe(1)
      expect((yield* driven(grok.chat(hello, once))).model).toBe("grok-4")
      expect(yield* gauge("chat:grok-4")).toBe(0)
      for (let i = 0; i < 5; i++) yield* driven(grok.chat(hello, once))
      expect(yield* sim.requestCount).toBe(18)
    })))

  it.effect("a retry into an open breaker fails fast, then waits for the half-open probe", () =>
    loopback(Effect.gen(function*() {
      const { driven, failure, grok, sim } = yield* client(DOWN, CircuitBreaker.layer({ minimumCalls: 2, breakDuration: "10 seconds" }))
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
      ])
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
