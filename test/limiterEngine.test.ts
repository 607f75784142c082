import { describe, expect, it } from "@effect/vitest"
import { Cause, Clock, Duration, Effect, Either, Exit, FastCheck as fc, Fiber, Option, TestClock } from "effect"
import type { AdmissionStore, Limits } from "../src/resilience/internal/admissionStore.js"
import { StoreUnavailable } from "../src/resilience/internal/admissionStore.js"
import { makeEngine } from "../src/resilience/internal/limiterEngine.js"
import * as MemoryStore from "../src/resilience/internal/memoryStore.js"
import type { Outcome, Priority, Ticket } from "../src/resilience/RateLimiter.js"
import { cancelled, RateLimiterRejected } from "../src/resilience/RateLimiter.js"
import type { LimiterOptions } from "../src/resilience/RateLimiterMemory.js"

const ticket = (overrides: Partial<Ticket> = {}): Ticket => ({ key: "k", tokens: 0, priority: "normal", ...overrides })

type Call =
  | { readonly op: "tryAdmit"; readonly key: string; readonly tokens: number; readonly limits: Limits }
  | { readonly op: "adjustTokens"; readonly key: string; readonly delta: number }
  | { readonly op: "startCooldown"; readonly key: string; readonly millis: number }

/** The memory store, with every call recorded and, optionally, each decision taking `delayMillis` (like a round trip). */
const recordingStore = (delayMillis = 0) =>
  Effect.gen(function*() {
    const inner = yield* MemoryStore.make({ idleKeyTtlMillis: 600_000 })
    const calls: Array<Call> = []
    const delayed = <A, E>(effect: Effect.Effect<A, E>) =>
      delayMillis === 0 ? effect : Effect.zipRight(Effect.sleep(Duration.millis(delayMillis)), effect)
    const store: AdmissionStore = {
      tryAdmit: (key, tokens, limits) =>
        Effect.suspend(() => {
          calls.push({ op: "tryAdmit", key, tokens, limits })
          return delayed(inner.tryAdmit(key, tokens, limits))
        }),
      adjustTokens: (key, delta, limits) =>
        Effect.suspend(() => {
          calls.push({ op: "adjustTokens", key, delta })
          return inner.adjustTokens(key, delta, limits)
        }),
      startCooldown: (key, millis) =>
        Effect.suspend(() => {
          calls.push({ op: "startCooldown", key, millis })
          return inner.startCooldown(key, millis)
        })
    }
    return { store, calls }
  })

const unavailable = new StoreUnavailable({ message: "connection refused" })

const deadStore: AdmissionStore = {
  tryAdmit: () => Effect.fail(unavailable),
  adjustTokens: () => Effect.fail(unavailable),
  startCooldown: () => Effect.fail(unavailable)
}

const reasonOf = (exit: Exit.Exit<unknown, RateLimiterRejected>) =>
  Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error.reason : undefined

describe("limiter engine", () => {
  describe("how it uses the store", () => {
    it.effect("asks for one decision per call with the key's limits: paced, a burst under 2, tokens per minute", () =>
      Effect.gen(function*() {
        const { calls, store } = yield* recordingStore()
        const limiter = yield* makeEngine({ limits: { requestsPerMinute: 1200, tokensPerMinute: 50_000 } }, store)
        const permit = yield* limiter.acquire(ticket({ tokens: 700 }))
        yield* permit.release({ status: 200, usedTokens: 700 })
        expect(calls).toHaveLength(1)
        const call = calls[0]!
        expect(call).toMatchObject({ op: "tryAdmit", key: "k", tokens: 700 })
        if (call.op !== "tryAdmit") return
        expect(call.limits.requestsPerSecond).toBe(20)
        expect(call.limits.tokensPerMinute).toBe(50_000)
        expect(call.limits.requestBurst).toBeGreaterThanOrEqual(1)
        expect(call.limits.requestBurst).toBeLessThan(2)
      }).pipe(Effect.scoped))

    it.effect("reconciles tokens on release: debits the excess, refunds the rest, refunds all of a cancelled call", () =>
      Effect.gen(function*() {
        const { calls, store } = yield* recordingStore()
        const limiter = yield* makeEngine({ limits: { tokensPerMinute: 100_000 }, startSlow: false }, store)
        const outcomes: ReadonlyArray<Outcome> = [
          { status: 200, usedTokens: 1200 },
          { status: 200, usedTokens: 700 },
          { status: 200, usedTokens: 1000 },
          cancelled,
          { status: 429, rateLimited: true, retryAfter: Duration.millis(1) },
          { status: 500 }
        ]
        for (const outcome of outcomes) {
          const permit = yield* limiter.acquire(ticket({ tokens: 1000 }))
          yield* permit.release(outcome)
          yield* TestClock.adjust("1 second")
        }
        const deltas = calls.flatMap((call) => call.op === "adjustTokens" ? [call.delta] : [])
        // Exact estimate: nothing to correct. A 429 never spent its tokens. A 500 without usage: the estimate stands.
        expect(deltas).toEqual([200, -300, -1000, -1000])
      }).pipe(Effect.scoped))

    it.effect("a 429 starts one cooldown in the store, as long as Retry-After", () =>
      Effect.gen(function*() {
        const { calls, store } = yield* recordingStore()
        const limiter = yield* makeEngine({ limits: { requestsPerSecond: 10 } }, store)
        const permit = yield* limiter.acquire(ticket())
        yield* permit.release({ status: 429, rateLimited: true, retryAfter: Duration.seconds(3) })
        expect(calls.filter((call) => call.op === "startCooldown")).toEqual([
          { op: "startCooldown", key: "k", millis: 3000 }
        ])
      }).pipe(Effect.scoped))

    it.effect("an \"at capacity\" 429 starts no cooldown in the store and gives the tokens back", () =>
      Effect.gen(function*() {
        const { calls, store } = yield* recordingStore()
        const limiter = yield* makeEngine({ limits: { requestsPerSecond: 10, tokensPerMinute: 60_000 } }, store)
        const permit = yield* limiter.acquire(ticket({ tokens: 500 }))
        yield* permit.release({ status: 429, rateLimited: true, refusedFor: "capacity", retryAfter: Duration.seconds(3) })
        expect(calls.filter((call) => call.op !== "tryAdmit")).toEqual([{ op: "adjustTokens", key: "k", delta: -500 }])
      }).pipe(Effect.scoped))

    it.effect("serves a queue one decision at a time: waiters never poll the store", () =>
      Effect.gen(function*() {
        const { calls, store } = yield* recordingStore()
        const limiter = yield* makeEngine({ limits: { requestsPerSecond: 10 } }, store)
        const fibers = yield* Effect.forEach(
          Array.from({ length: 20 }),
          () => Effect.fork(Effect.flatMap(limiter.acquire(ticket()), (permit) => permit.release({ status: 200 })))
        )
        yield* TestClock.adjust("3 seconds")
        yield* Effect.forEach(fibers, Fiber.join)
        const decisions = calls.filter((call) => call.op === "tryAdmit").length
        // Each call is refused once (the slot is not due yet) and admitted once: 20 waiters
        // polling in a loop would ask far more often.
        expect(decisions).toBeLessThanOrEqual(2 * 20)
      }).pipe(Effect.scoped))

    it.effect("a waiter that leaves while the store is deciding for it gets its tokens back", () =>
      Effect.gen(function*() {
        const { calls, store } = yield* recordingStore(50)
        const limiter = yield* makeEngine({ limits: { tokensPerMinute: 10_000, maxConcurrency: 1 } }, store)
        const holder = yield* Effect.fork(limiter.acquire(ticket({ tokens: 100 })))
        yield* TestClock.adjust("50 millis")
        const permit = yield* Fiber.join(holder)
        const waiter = yield* Effect.fork(limiter.acquire(ticket({ tokens: 400 })))
        yield* TestClock.adjust("1 millis")
        yield* permit.release({ status: 200, usedTokens: 100 })
        // The dispatcher is now asking the store for the waiter (50 ms); the waiter gives up.
        yield* TestClock.adjust("10 millis")
        yield* Fiber.interrupt(waiter)
        yield* TestClock.adjust("100 millis")
        expect(calls.filter((call) => call.op === "adjustTokens")).toEqual([{ op: "adjustTokens", key: "k", delta: -400 }])
        expect(yield* limiter.stats("k")).toMatchObject({ queued: 0, inFlight: 0 })
      }).pipe(Effect.scoped))

    it.effect("a caller told to wait by the store hands its slot to the queue: no waiter sleeps until maxWait", () =>
      Effect.gen(function*() {
        // A shared store answering after a round trip, in which another process has just started
        // a cooldown; this process is still slow starting (one call at a time).
        const { store } = yield* recordingStore(50)
        yield* store.startCooldown("k", 1000)
        const limiter = yield* makeEngine({}, store)
        const granted = Effect.flatMap(limiter.acquire(ticket()), (permit) =>
          Effect.zipLeft(Clock.currentTimeMillis, permit.release({ status: 200 })))
        // The first asks the store and holds the only slot meanwhile; the second queues behind it.
        const fibers = yield* Effect.forEach([1, 2], () => Effect.fork(granted))
        yield* TestClock.adjust("2 minutes")
        const times = yield* Effect.forEach(fibers, (fiber) => Effect.either(Fiber.join(fiber)))
        // Both go once the cooldown is over, not when the first deadline (60 s) comes.
        for (const time of times) expect(time).toEqual(Either.right(expect.any(Number)))
        for (const time of times) if (Either.isRight(time)) expect(time.right).toBeLessThan(1200)
      }).pipe(Effect.scoped))

    it.effect("a store that cannot be reached fails calls with unavailable, queued ones included", () =>
      Effect.gen(function*() {
        const limiter = yield* makeEngine({ limits: { maxConcurrency: 1 } }, deadStore)
        expect(reasonOf(yield* Effect.exit(limiter.acquire(ticket())))).toBe("unavailable")
        const { store } = yield* recordingStore()
        let alive = true
        const flaky: AdmissionStore = {
          ...store,
          tryAdmit: (key, tokens, limits) => alive ? store.tryAdmit(key, tokens, limits) : Effect.fail(unavailable)
        }
        const limiter2 = yield* makeEngine({ limits: { maxConcurrency: 1 } }, flaky)
        const holder = yield* limiter2.acquire(ticket())
        const waiters = yield* Effect.forEach([1, 2], () => Effect.fork(Effect.exit(limiter2.acquire(ticket()))))
        yield* TestClock.adjust("1 millis")
        alive = false
        yield* holder.release({ status: 200 })
        yield* TestClock.adjust("1 millis")
        for (const waiter of waiters) expect(reasonOf(yield* Fiber.join(waiter))).toBe("unavailable")
      }).pipe(Effect.scoped))

    it.effect("a decision that fails fails only the call it was for: the queue behind it is still served", () =>
      Effect.gen(function*() {
        const { store } = yield* recordingStore()
        let failures = 0
        const flaky: AdmissionStore = {
          ...store,
          tryAdmit: (key, tokens, limits) =>
            Effect.suspend(() => failures-- > 0 ? Effect.fail(unavailable) : store.tryAdmit(key, tokens, limits))
        }
        const limiter = yield* makeEngine({ limits: { maxConcurrency: 1 } }, flaky)
        const holder = yield* limiter.acquire(ticket())
        // Held, the only slot keeps them queued: the next decision is the dispatcher's.
        const waiters = yield* Effect.forEach(
          ["critical", "normal", "background"] as const,
          (priority) =>
            Effect.fork(Effect.exit(Effect.flatMap(limiter.acquire(ticket({ priority })), (permit) => permit.release({ status: 200 }))))
        )
        yield* TestClock.adjust("1 millis")
        // One reply lost (a timeout), then the store answers again.
        failures = 1
        yield* holder.release({ status: 200 })
        yield* TestClock.adjust("1 millis")
        const exits = yield* Effect.forEach(waiters, Fiber.join)
        expect(exits.map(reasonOf)).toEqual(["unavailable", undefined, undefined])
        expect(exits.slice(1).every(Exit.isSuccess)).toBe(true)
      }).pipe(Effect.scoped))

    it.effect("store failures on release are logged, never the caller's problem", () =>
      Effect.gen(function*() {
        let admitted = false
        const store: AdmissionStore = {
          ...deadStore,
          tryAdmit: () => Effect.sync(() => {
            admitted = true
            return { _tag: "Admitted" } as const
          })
        }
        const limiter = yield* makeEngine({ limits: { tokensPerMinute: 1000 } }, store)
        const permit = yield* limiter.acquire(ticket({ tokens: 10 }))
        const exit = yield* Effect.exit(permit.release({ status: 429, rateLimited: true, usedTokens: 5 }))
        expect(admitted).toBe(true)
        expect(Exit.isSuccess(exit)).toBe(true)
      }).pipe(Effect.scoped))

    it.effect("options the engine is given unchecked are a defect naming the option", () =>
      Effect.gen(function*() {
        const exit = yield* Effect.exit(makeEngine({ share: 0 }, deadStore))
        expect(Exit.isFailure(exit) && Cause.pretty(exit.cause)).toContain("share")
      }).pipe(Effect.scoped))

    it.effect("forgets keys idle for idleKeyTtl", () =>
      Effect.gen(function*() {
        const { store } = yield* recordingStore()
        const limiter = yield* makeEngine({ idleKeyTtl: "1 minute" }, store)
        for (const key of ["a", "b", "c"]) {
          const permit = yield* limiter.acquire(ticket({ key }))
          yield* permit.release({ status: 200 })
        }
        expect(limiter.trackedKeys()).toBe(3)
        yield* TestClock.adjust("2 minutes")
        expect(limiter.trackedKeys()).toBe(0)
      }).pipe(Effect.scoped))
  })

  describe("every acquire ends in one permit or one typed failure", () => {
    const call = fc.record({
      arrival: fc.integer({ min: 0, max: 300 }),
      priority: fc.constantFrom<Priority>("critical", "normal", "background"),
      tokens: fc.integer({ min: 0, max: 7000 }),
      hold: fc.integer({ min: 0, max: 1500 }),
      interruptAt: fc.option(fc.integer({ min: 0, max: 3000 }), { nil: undefined }),
      outcome: fc.constantFrom<Outcome>(
        { status: 200 },
        { status: 200, usedTokens: 3000 },
        { status: 429, rateLimited: true },
        { status: 429, rateLimited: true, retryAfter: Duration.millis(300) },
        { status: 200, rateLimit: { requests: { limit: 1800 }, tokens: { limit: 50_000 } } },
        { status: null }
      )
    })

    const options: LimiterOptions = {
      limits: { requestsPerSecond: 40, tokensPerMinute: 60_000, maxConcurrency: 3 },
      maxQueued: 6,
      maxWait: "1500 millis"
    }

    it.effect.prop(
      "under random arrivals, holds, outcomes and interruptions: no lost wake-up, no leak, the cap holds",
      [fc.array(call, { minLength: 5, maxLength: 40 })],
      ([calls]) =>
        Effect.gen(function*() {
          const { store } = yield* recordingStore()
          const limiter = yield* makeEngine(options, store)
          let inFlight = 0
          let maxInFlight = 0
          // As `RateLimiter.withPermit` does it: an interrupted call is released as cancelled.
          const run = (c: (typeof calls)[number]) =>
            Effect.zipRight(
              Effect.sleep(Duration.millis(c.arrival)),
              Effect.acquireUseRelease(
                limiter.acquire(ticket({ tokens: c.tokens, priority: c.priority })),
                () =>
                  Effect.sync(() => {
                    inFlight++
                    maxInFlight = Math.max(maxInFlight, inFlight)
                  }).pipe(
                    Effect.zipRight(Effect.sleep(Duration.millis(c.hold))),
                    Effect.ensuring(Effect.sync(() => inFlight--))
                  ),
                (permit, exit) =>
                  permit.release(Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause) ? cancelled : c.outcome)
              )
            )
          const fibers = yield* Effect.forEach(calls, (c) =>
            Effect.gen(function*() {
              const fiber = yield* Effect.fork(run(c))
              if (c.interruptAt !== undefined) {
                yield* Effect.fork(Effect.zipRight(Effect.sleep(Duration.millis(c.interruptAt)), Fiber.interrupt(fiber)))
              }
              return fiber
            }))
          yield* TestClock.adjust("1 minute")
          for (const [i, fiber] of fibers.entries()) {
            const exit = yield* Fiber.poll(fiber)
            // Still running after a minute would be a lost wake-up.
            expect(Option.isSome(exit)).toBe(true)
            if (Option.isNone(exit) || Exit.isSuccess(exit.value)) continue
            const cause = exit.value.cause
            if (Cause.isInterruptedOnly(cause)) {
              expect(calls[i]!.interruptAt).toBeDefined()
            } else {
              expect(Cause.failureOption(cause).pipe(Option.getOrUndefined)).toBeInstanceOf(RateLimiterRejected)
            }
          }
          expect(maxInFlight).toBeLessThanOrEqual(3)
          expect(yield* limiter.stats("k")).toMatchObject({ queued: 0, inFlight: 0 })
          // Nothing was left reserved: once refilled, the whole bucket is available again.
          yield* TestClock.adjust("5 minutes")
          const permit = yield* Effect.fork(limiter.acquire(ticket({ tokens: 50_000, priority: "critical" })))
          yield* TestClock.adjust("1 second")
          expect(Option.isSome(yield* Fiber.poll(permit))).toBe(true)
        }).pipe(Effect.scoped),
      { fastCheck: { numRuns: 25 } }
    )
  })

  describe("using a quota well (server: 20 req/s, burst 2, 100 ms latency; 200 calls, 50 at once)", () => {
    /** A GCRA server: 20 requests per second, 2 back to back. */
    const server = () => {
      const interval = 50
      let tat = -Infinity
      return (now: number): number | undefined => {
        const at = Math.max(tat, now)
        if (at - now + interval > 2 * interval) return undefined
        tat = at + interval
        return tat - now
      }
    }

    /** Each call retries its 429s through the limiter until it succeeds. */
    const run = (options: LimiterOptions, headers: boolean) =>
      Effect.gen(function*() {
        const limiter = yield* makeEngine(options, (yield* recordingStore()).store)
        const admit = server()
        let rateLimited = 0
        const call = Effect.gen(function*() {
          while (true) {
            const permit = yield* limiter.acquire(ticket({ key: "model" }))
            const debt = admit(yield* Clock.currentTimeMillis)
            yield* Effect.sleep("100 millis")
            const rateLimit = headers
              ? { requests: { limit: 1200, resetAfter: Duration.millis(Math.ceil(debt ?? 50)) }, tokens: {} }
              : undefined
            if (debt !== undefined) return yield* permit.release({ status: 200, rateLimit })
            rateLimited++
            yield* permit.release({ status: 429, rateLimited: true, rateLimit })
          }
        })
        const fiber = yield* Effect.fork(
          Effect.zipRight(Effect.forEach(Array.from({ length: 200 }), () => call, { concurrency: 50 }), Clock.currentTimeMillis)
        )
        yield* TestClock.adjust("1 minute")
        return { seconds: (yield* Fiber.join(fiber)) / 1000, rateLimited }
      }).pipe(Effect.scoped)

    it.effect("no headers, no Retry-After: AIMD finds the rate", () =>
      Effect.gen(function*() {
        const { rateLimited, seconds } = yield* run({}, false)
        expect(rateLimited).toBeLessThanOrEqual(50)
        expect(seconds).toBeLessThanOrEqual(15)
      }))

    it.effect("with x-ratelimit headers: paced to the announced limit after the first call", () =>
      Effect.gen(function*() {
        const { rateLimited, seconds } = yield* run({}, true)
        expect(rateLimited).toBeLessThanOrEqual(4)
        expect(seconds).toBeLessThanOrEqual(11.5)
      }))

    it.effect("with requestsPerMinute configured: paced from the first call", () =>
      Effect.gen(function*() {
        const { rateLimited, seconds } = yield* run({ limits: { requestsPerMinute: 1200 } }, false)
        expect(rateLimited).toBeLessThanOrEqual(2)
        expect(seconds).toBeLessThanOrEqual(11)
      }))
  })
})
