import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Either, Exit, Fiber, Layer, TestClock } from "effect"
import type { Admission, Limits } from "../src/resilience/internal/admissionStore.js"
import * as MemoryStore from "../src/resilience/internal/memoryStore.js"
import type { Outcome, Permit, Priority, Service, Ticket } from "../src/resilience/RateLimiter.js"
import * as RateLimiter from "../src/resilience/RateLimiter.js"
import * as RateLimiterMemory from "../src/resilience/RateLimiterMemory.js"

const ticket = (overrides: Partial<Ticket> = {}): Ticket => ({ key: "k", tokens: 0, priority: "normal", ...overrides })

const ok: Outcome = { status: 200 }

/** Acquire, note the (TestClock) time of the grant, release at once with `outcome`. */
const admittedAt = (limiter: Service, t: Ticket = ticket(), outcome: Outcome = ok) =>
  Effect.flatMap(limiter.acquire(t), (permit) => Effect.zipLeft(Clock.currentTimeMillis, permit.release(outcome)))

/** Acquire, hold the permit for `millis`, release with `outcome`; answers the time of the grant. */
const holding = (limiter: Service, millis: number, t: Ticket = ticket(), outcome: Outcome = ok) =>
  Effect.flatMap(limiter.acquire(t), (permit) =>
    Effect.gen(function*() {
      const at = yield* Clock.currentTimeMillis
      yield* Effect.sleep(Duration.millis(millis))
      yield* permit.release(outcome)
      return at
    }))

/** Fork `count` calls one after the other (so they queue in that order). */
const forkAll = <A, E>(count: number, call: (i: number) => Effect.Effect<A, E>) =>
  Effect.forEach(Array.from({ length: count }, (_, i) => i), (i) => Effect.fork(call(i)))

const joinAll = <A, E>(fibers: ReadonlyArray<Fiber.Fiber<A, E>>) => Effect.forEach(fibers, Fiber.join)

const gaps = (times: ReadonlyArray<number>) => times.slice(1).map((t, i) => t - times[i]!)

const rejectionOf = (exit: Exit.Exit<unknown, RateLimiter.RateLimiterRejected>) =>
  Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error.reason : undefined

describe("RateLimiterMemory", () => {
  describe("options", () => {
    it.each([
      [{ share: 0 }, "share"],
      [{ share: 1.5 }, "share"],
      [{ maxQueued: -1 }, "maxQueued"],
      [{ maxQueued: 1.5 }, "maxQueued"],
      [{ maxWait: -5 }, "maxWait"],
      [{ maxWait: "soon" as Duration.DurationInput }, "maxWait"],
      [{ idleKeyTtl: 0 }, "idleKeyTtl"],
      [{ idleKeyTtl: Duration.infinity }, "idleKeyTtl"],
      [{ limits: { requestsPerMinute: 0 } }, "limits.requestsPerMinute"],
      [{ limits: { requestsPerSecond: Number.NaN } }, "limits.requestsPerSecond"],
      [{ limits: { tokensPerMinute: -100 } }, "limits.tokensPerMinute"],
      [{ limits: { maxConcurrency: 0.5 } }, "limits.maxConcurrency"],
      [{ limits: { requestsPerSecond: 1, burst: 0 } }, "limits.burst"],
      [{ limits: { requestsPerSecond: 1, burst: 2.5 } }, "limits.burst"],
      [{ aimd: { decrease: 1 } }, "aimd.decrease"],
      [{ aimd: { growth: 0 } }, "aimd.growth"]
    ] as const)("refuses %j at start-up, naming %s", (options, option) => {
      const result = RateLimiterMemory.validate(options)
      expect(Either.isLeft(result) && result.left.option).toBe(option)
    })

    it.effect("a layer with bad options fails to build with InvalidLimiterOptions", () =>
      Effect.gen(function*() {
        const exit = yield* Effect.exit(
          Layer.build(RateLimiterMemory.layer({ share: 2 })).pipe(Effect.scoped)
        )
        expect(Exit.isFailure(exit) && exit.cause._tag === "Fail" && exit.cause.error._tag).toBe("InvalidLimiterOptions")
      }))

    it.effect("limits given as a function of the key apply per key", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiterMemory.make({
          limits: (key) => key === "slow" ? { requestsPerSecond: 1 } : undefined,
          startSlow: false
        })
        const slow = yield* forkAll(3, () => admittedAt(limiter, ticket({ key: "slow" })))
        const fast = yield* forkAll(3, () => admittedAt(limiter, ticket({ key: "fast" })))
        yield* TestClock.adjust("5 seconds")
        expect(yield* joinAll(fast)).toEqual([0, 0, 0])
        expect(yield* joinAll(slow)).toEqual([0, 996, 1996])
      }).pipe(Effect.scoped))
  })

  describe("pacing", () => {
    it.effect("spaces calls 1/R apart instead of letting them go in a burst", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiterMemory.make({ limits: { requestsPerSecond: 10 } })
        const fibers = yield* forkAll(6, () => admittedAt(limiter))
        yield* TestClock.adjust("1 second")
        const times = yield* joinAll(fibers)
        // 100 ms apart. Each may go 4 ms ahead of its slot (the slack that makes up for late
        // timers), so only the second, after an idle start, comes 96 ms after the first.
        expect(times).toEqual([0, 96, 196, 296, 396, 496])
      }).pipe(Effect.scoped))

    it.effect("a configured burst goes at once, then the even pace sets in", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiterMemory.make({ limits: { requestsPerSecond: 2, burst: 3 } })
        const fibers = yield* forkAll(6, () => admittedAt(limiter))
        yield* TestClock.adjust("3 seconds")
        expect(yield* joinAll(fibers)).toEqual([0, 0, 0, 500, 1000, 1500])
      }).pipe(Effect.scoped))

    it.effect("paces a per-minute limit evenly, not a minute's quota at once", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiterMemory.make({ limits: { requestsPerMinute: 120 } })
        const fibers = yield* forkAll(5, () => admittedAt(limiter))
        yield* TestClock.adjust("3 seconds")
        expect(gaps(yield* joinAll(fibers))).toEqual([496, 500, 500, 500])
      }).pipe(Effect.scoped))

    it.effect("paces tokens per minute, and a refund on release lets the next call go sooner", () =>
      Effect.gen(function*() {
        // 600 tokens per minute = 10 per second; the bucket starts with a minute's worth.
        const limiter = yield* RateLimiterMemory.make({ limits: { tokensPerMinute: 600 }, startSlow: false })
        const first = yield* limiter.acquire(ticket({ tokens: 600 }))
        const second = yield* Effect.fork(admittedAt(limiter, ticket({ tokens: 300 })))
        yield* TestClock.adjust("1 second")
        expect(yield* limiter.stats("k")).toMatchObject({ queued: 1 })
        // The first call really used 100 of its 600: 500 come back, and the second fits now.
        yield* first.release({ status: 200, usedTokens: 100 })
        yield* TestClock.adjust("1 millis")
        expect(yield* Fiber.join(second)).toBe(1000)
      }).pipe(Effect.scoped))

    it.effect("without a refund the same call waits for the bucket to refill", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiterMemory.make({ limits: { tokensPerMinute: 600 }, startSlow: false })
        const first = yield* limiter.acquire(ticket({ tokens: 600 }))
        const second = yield* Effect.fork(admittedAt(limiter, ticket({ tokens: 300 })))
        yield* TestClock.adjust("1 second")
        yield* first.release({ status: 200, usedTokens: 600 })
        yield* TestClock.adjust("1 minute")
        expect(yield* Fiber.join(second)).toBe(30_000)
      }).pipe(Effect.scoped))

    it.effect("usage above the estimate is debited: later calls wait for it", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiterMemory.make({ limits: { tokensPerMinute: 600 }, startSlow: false })
        const first = yield* limiter.acquire(ticket({ tokens: 300 }))
        yield* first.release({ status: 200, usedTokens: 900 })
        // The bucket is at 600 - 900 = -300: a call of 200 needs 500 tokens of refill, 50 s.
        const next = yield* Effect.fork(admittedAt(limiter, ticket({ tokens: 200 })))
        yield* TestClock.adjust("2 minutes")
        expect(yield* Fiber.join(next)).toBe(50_000)
      }).pipe(Effect.scoped))

    it.effect("a call estimated above the whole per-minute token limit is rejected as too-large", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiterMemory.make({ limits: { tokensPerMinute: 1000 } })
        const exit = yield* Effect.exit(limiter.acquire(ticket({ tokens: 1001 })))
        expect(rejectionOf(exit)).toBe("too-large")
        expect(Exit.isFailure(exit) && exit.cause._tag === "Fail" && exit.cause.error.retryable).toBe(false)
      }).pipe(Effect.scoped))
  })

  describe("limits learned from the server", () => {
    const headers = (requestsPerMinute: number, tokensPerMinute?: number): Outcome => ({
      status: 200,
      rateLimit: { requests: { limit: requestsPerMinute }, tokens: { limit: tokensPerMinute } }
    })

    it.effect("paces to x-ratelimit-limit-requests (per minute) once a response reports it", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiterMemory.make()
        expect((yield* limiter.stats("k")).requestsPerSecond).toBe(Infinity)
        yield* admittedAt(limiter, ticket(), headers(600, 90_000))
        expect(yield* limiter.stats("k")).toMatchObject({ requestsPerSecond: 10, tokensPerMinute: 90_000 })
        yield* TestClock.adjust("1 second")
        const fibers = yield* forkAll(3, () => admittedAt(limiter))
        yield* TestClock.adjust("1 second")
        expect(gaps(yield* joinAll(fibers))).toEqual([96, 100])
      }).pipe(Effect.scoped))

    it.effect("the tighter of configuration and headers wins", () =>
      Effect.gen(function*() {
        const configuredLoose = yield* RateLimiterMemory.make({ limits: { requestsPerMinute: 1200 } })
        yield* admittedAt(configuredLoose, ticket(), headers(600))
        expect((yield* configuredLoose.stats("k")).requestsPerSecond).toBe(10)

        const configuredTight = yield* RateLimiterMemory.make({ limits: { requestsPerMinute: 300 } })
        yield* admittedAt(configuredTight, ticket(), headers(600))
        expect((yield* configuredTight.stats("k")).requestsPerSecond).toBe(5)
      }).pipe(Effect.scoped))

    it.effect("share scales configured and learned limits", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiterMemory.make({ limits: { tokensPerMinute: 10_000 }, share: 0.5 })
        expect((yield* limiter.stats("k")).tokensPerMinute).toBe(5_000)
        yield* admittedAt(limiter, ticket(), headers(600))
        expect((yield* limiter.stats("k")).requestsPerSecond).toBe(5)
      }).pipe(Effect.scoped))
  })

  describe("slow start", () => {
    it.effect("sends one call first, then grows the number in flight as calls succeed", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiterMemory.make()
        const fibers = yield* forkAll(12, () => holding(limiter, 100))
        yield* TestClock.adjust("1 second")
        const times = yield* joinAll(fibers)
        const perRound = [0, 100, 200, 300].map((t) => times.filter((x) => x === t).length)
        expect(perRound).toEqual([1, 2, 4, 5])
      }).pipe(Effect.scoped))

    it.effect("is skipped when the rate is configured, or when startSlow is off", () =>
      Effect.gen(function*() {
        const off = yield* RateLimiterMemory.make({ startSlow: false })
        const fibers = yield* forkAll(5, () => holding(off, 100))
        yield* TestClock.adjust("1 second")
        expect(yield* joinAll(fibers)).toEqual([0, 0, 0, 0, 0])
      }).pipe(Effect.scoped))

    it.effect("does not grow while nobody waits (an idle key learns nothing)", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiterMemory.make()
        // Ten successes one at a time, then a burst: it still starts with one call.
        for (let i = 0; i < 10; i++) yield* admittedAt(limiter)
        const fibers = yield* forkAll(3, () => holding(limiter, 100))
        yield* TestClock.adjust("1 second")
        expect(yield* joinAll(fibers)).toEqual([0, 100, 100])
      }).pipe(Effect.scoped))
  })

  describe("429: one shared cooldown", () => {
    it.effect("pauses every caller of the key until Retry-After, then resumes them spaced out", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiterMemory.make({ limits: { requestsPerSecond: 10 } })
        const first = yield* limiter.acquire(ticket())
        const waiting = yield* forkAll(4, () => admittedAt(limiter))
        const otherKey = yield* Effect.fork(admittedAt(limiter, ticket({ key: "other" })))
        yield* first.release({ status: 429, rateLimited: true, retryAfter: Duration.seconds(2) })
        yield* TestClock.adjust("1 second")
        expect(yield* limiter.stats("k")).toMatchObject({ coolingDown: true, queued: 4 })
        expect(yield* Fiber.join(otherKey)).toBe(0)
        yield* TestClock.adjust("5 seconds")
        const times = yield* joinAll(waiting)
        expect(times[0]).toBe(2000)
        // Paced again (and slower: AIMD cut 10/s to 7/s), not all at once.
        for (const gap of gaps(times)) expect(gap).toBeGreaterThanOrEqual(100)
        expect((yield* limiter.stats("k")).coolingDown).toBe(false)
      }).pipe(Effect.scoped))

    it.effect("a 429 that names the request quota pauses every caller and cuts the rate too", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiterMemory.make({ limits: { requestsPerSecond: 10 } })
        const first = yield* limiter.acquire(ticket())
        const waiting = yield* forkAll(3, () => admittedAt(limiter))
        yield* first.release({ status: 429, rateLimited: true, refusedFor: "requests", retryAfter: Duration.seconds(1) })
        yield* TestClock.adjust("500 millis")
        expect(yield* limiter.stats("k")).toMatchObject({ coolingDown: true, queued: 3 })
        expect((yield* limiter.stats("k")).requestsPerSecond).toBeCloseTo(7)
        yield* TestClock.adjust("3 seconds")
        expect((yield* joinAll(waiting))[0]).toBe(1000)
      }).pipe(Effect.scoped))

    it.effect("an \"at capacity\" 429 holds back no other caller and leaves the rate alone", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiterMemory.make({ limits: { requestsPerSecond: 10 } })
        const first = yield* limiter.acquire(ticket())
        const waiting = yield* forkAll(3, () => admittedAt(limiter))
        yield* first.release({ status: 429, rateLimited: true, refusedFor: "capacity", retryAfter: Duration.seconds(2) })
        expect(yield* limiter.stats("k")).toMatchObject({ coolingDown: false, requestsPerSecond: 10 })
        yield* TestClock.adjust("1 second")
        // Their usual slots, not after the refused call's 2 s.
        expect(yield* joinAll(waiting)).toEqual([96, 196, 296])
      }).pipe(Effect.scoped))

    it.effect("an \"at capacity\" 429 as the first answer does not end slow start at a crawl", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiterMemory.make()
        const first = yield* limiter.acquire(ticket())
        yield* TestClock.adjust("10 millis")
        yield* first.release({ status: 429, rateLimited: true, refusedFor: "capacity", retryAfter: Duration.seconds(1) })
        expect(yield* limiter.stats("k")).toMatchObject({ coolingDown: false, requestsPerSecond: Infinity })
        // Still slow starting: one call, then two at once, then four.
        const fibers = yield* forkAll(7, () => holding(limiter, 100))
        yield* TestClock.adjust("1 second")
        const times = yield* joinAll(fibers)
        expect([10, 110, 210].map((t) => times.filter((x) => x === t).length)).toEqual([1, 2, 4])
      }).pipe(Effect.scoped))

    it.effect("a first answer that is a 429 naming no limit and no headers paces to what was sent, not 70% of it", () =>
      Effect.gen(function*() {
        const rateAfter = (refusedFor: "unknown" | "requests") =>
          Effect.gen(function*() {
            const limiter = yield* RateLimiterMemory.make()
            const first = yield* limiter.acquire(ticket())
            yield* TestClock.adjust("10 millis")
            yield* first.release({ status: 429, rateLimited: true, refusedFor })
            return (yield* limiter.stats("k")).requestsPerSecond
          }).pipe(Effect.scoped)
        // One call per 10 ms round trip was going through: 100 per second.
        expect(yield* rateAfter("unknown")).toBeCloseTo(100)
        // Told it was the request quota, the limiter cuts from the calls it measured (one in the
        // first 100 ms): 7 per second.
        expect(yield* rateAfter("requests")).toBeCloseTo(7)
      }))

    it.effect("without Retry-After, pauses until the reset of the window the server reports exhausted", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiterMemory.make({ limits: { requestsPerSecond: 10 } })
        const first = yield* limiter.acquire(ticket())
        const next = yield* Effect.fork(admittedAt(limiter))
        yield* first.release({
          status: 429,
          rateLimited: true,
          rateLimit: { requests: { limit: 600, remaining: 0, resetAfter: Duration.millis(1500) }, tokens: {} }
        })
        yield* TestClock.adjust("3 seconds")
        expect(yield* Fiber.join(next)).toBe(1500)
      }).pipe(Effect.scoped))

    it.effect("a Retry-After in whole seconds that only rounds up the exhausted window's reset: pauses until the reset", () =>
      Effect.gen(function*() {
        const pauseFor = (retryAfter: Duration.Duration) =>
          Effect.gen(function*() {
            const limiter = yield* RateLimiterMemory.make({ limits: { requestsPerSecond: 10 } })
            const first = yield* limiter.acquire(ticket())
            const start = yield* Clock.currentTimeMillis
            const next = yield* Effect.fork(admittedAt(limiter))
            yield* first.release({
              status: 429,
              rateLimited: true,
              refusedFor: "requests",
              retryAfter,
              rateLimit: { requests: { limit: 600, remaining: 0, resetAfter: Duration.millis(120) }, tokens: {} }
            })
            yield* TestClock.adjust("10 seconds")
            return (yield* Fiber.join(next)) - start
          }).pipe(Effect.scoped)
        // "retry-after: 1" for a slot free in 120 ms.
        expect(yield* pauseFor(Duration.seconds(1))).toBe(120)
        // A Retry-After longer than rounding explains is the server's word.
        expect(yield* pauseFor(Duration.seconds(5))).toBe(5000)
      }))

    it.effect("a refused call is refunded its token estimate", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiterMemory.make({ limits: { tokensPerMinute: 600 }, startSlow: false })
        const first = yield* limiter.acquire(ticket({ tokens: 600 }))
        yield* first.release({ status: 429, rateLimited: true, retryAfter: Duration.millis(10) })
        const next = yield* Effect.fork(admittedAt(limiter, ticket({ tokens: 600 })))
        yield* TestClock.adjust("1 second")
        expect(yield* Fiber.join(next)).toBe(10)
      }).pipe(Effect.scoped))
  })

  describe("AIMD without headers", () => {
    it.effect("cuts the rate on a 429 and grows it back on successes", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiterMemory.make({ limits: { requestsPerSecond: 10 } })
        const first = yield* limiter.acquire(ticket())
        const queued = yield* Effect.fork(holding(limiter, 0))
        yield* first.release({ status: 429, rateLimited: true })
        expect((yield* limiter.stats("k")).requestsPerSecond).toBeCloseTo(7)
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(queued)
        // Busy for a while: successes bring the rate back to the configured 10/s.
        const busy = yield* forkAll(60, () => admittedAt(limiter))
        yield* TestClock.adjust("10 seconds")
        yield* joinAll(busy)
        expect((yield* limiter.stats("k")).requestsPerSecond).toBe(10)
      }).pipe(Effect.scoped))

    it.effect("cuts once per congestion event, not once per 429 of calls already in flight", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiterMemory.make({ limits: { requestsPerSecond: 100 } })
        const acquiring = yield* forkAll(3, () => limiter.acquire(ticket()))
        yield* TestClock.adjust("1 second")
        for (const permit of yield* joinAll(acquiring)) yield* permit.release({ status: 429, rateLimited: true })
        expect((yield* limiter.stats("k")).requestsPerSecond).toBeCloseTo(70)
      }).pipe(Effect.scoped))
  })

  describe("priorities and bounds", () => {
    it.effect("under pressure serves critical before normal before background, FIFO within each", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiterMemory.make({ limits: { requestsPerSecond: 10 } })
        const order: Array<string> = []
        const call = (name: string, priority: Priority) =>
          Effect.flatMap(limiter.acquire(ticket({ priority })), (permit) =>
            Effect.zipRight(Effect.sync(() => order.push(name)), permit.release(ok)))
        yield* call("first", "normal")
        const fibers = yield* Effect.forEach(
          [["b1", "background"], ["n1", "normal"], ["b2", "background"], ["c1", "critical"], ["n2", "normal"], [
            "c2",
            "critical"
          ]] as const,
          ([name, priority]) => Effect.fork(call(name, priority))
        )
        yield* TestClock.adjust("2 seconds")
        yield* joinAll(fibers)
        expect(order).toEqual(["first", "c1", "c2", "n1", "n2", "b1", "b2"])
      }).pipe(Effect.scoped))

    it.effect("a full queue rejects a newcomer with queue-full", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiterMemory.make({ limits: { requestsPerSecond: 1 }, maxQueued: 2 })
        yield* admittedAt(limiter)
        const queued = yield* forkAll(2, () => admittedAt(limiter))
        yield* TestClock.adjust("1 millis")
        const exit = yield* Effect.exit(limiter.acquire(ticket()))
        expect(rejectionOf(exit)).toBe("queue-full")
        yield* TestClock.adjust("3 seconds")
        expect(yield* joinAll(queued)).toEqual([996, 1996])
      }).pipe(Effect.scoped))

    it.effect("a more urgent newcomer sheds the newest background waiter", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiterMemory.make({ limits: { requestsPerSecond: 1 }, maxQueued: 3 })
        yield* admittedAt(limiter)
        const background = yield* forkAll(2, () => Effect.exit(admittedAt(limiter, ticket({ priority: "background" }))))
        const normal = yield* Effect.fork(Effect.exit(admittedAt(limiter, ticket({ priority: "normal" }))))
        const critical = yield* Effect.fork(Effect.exit(admittedAt(limiter, ticket({ priority: "critical" }))))
        yield* TestClock.adjust("1 millis")
        // The newest background waiter made room for the critical call.
        expect(rejectionOf(yield* Fiber.join(background[1]!))).toBe("shed")
        const sameRank = yield* Effect.exit(limiter.acquire(ticket({ priority: "background" })))
        expect(rejectionOf(sameRank)).toBe("queue-full")
        yield* TestClock.adjust("5 seconds")
        expect(Exit.isSuccess(yield* Fiber.join(critical))).toBe(true)
        expect(Exit.isSuccess(yield* Fiber.join(normal))).toBe(true)
        expect(Exit.isSuccess(yield* Fiber.join(background[0]!))).toBe(true)
      }).pipe(Effect.scoped))

    it.effect("a call waiting longer than maxWait fails with queue-timeout", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiterMemory.make({ limits: { maxConcurrency: 1 }, maxWait: "2 seconds" })
        const holder = yield* limiter.acquire(ticket())
        const waiter = yield* Effect.fork(Effect.exit(limiter.acquire(ticket())))
        yield* TestClock.adjust("1999 millis")
        expect(yield* limiter.stats("k")).toMatchObject({ queued: 1 })
        yield* TestClock.adjust("1 millis")
        expect(rejectionOf(yield* Fiber.join(waiter))).toBe("queue-timeout")
        expect(yield* limiter.stats("k")).toMatchObject({ queued: 0, inFlight: 1 })
        yield* holder.release(ok)
      }).pipe(Effect.scoped))

    it.effect("a wait known to exceed maxWait (a long Retry-After) fails at once", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiterMemory.make({ limits: { requestsPerSecond: 10 }, maxWait: "10 seconds" })
        const first = yield* limiter.acquire(ticket())
        yield* first.release({ status: 429, rateLimited: true, retryAfter: Duration.minutes(5) })
        const exit = yield* Effect.fork(Effect.exit(limiter.acquire(ticket())))
        yield* TestClock.adjust("1 millis")
        const result = yield* Fiber.join(exit)
        expect(rejectionOf(result)).toBe("queue-timeout")
      }).pipe(Effect.scoped))

    it.effect("a ticket's own deadline ends its wait (reason deadline) while older calls with later deadlines wait on", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiterMemory.make({ limits: { maxConcurrency: 1 }, maxWait: "10 seconds" })
        const holder = yield* limiter.acquire(ticket())
        const now = yield* Clock.currentTimeMillis
        const patient = yield* Effect.fork(Effect.exit(limiter.acquire(ticket())))
        const later = yield* Effect.fork(Effect.exit(limiter.acquire(ticket({ deadline: now + 5000 }))))
        const hurried = yield* Effect.fork(Effect.exit(limiter.acquire(ticket({ deadline: now + 3000 }))))
        // A deadline later than maxWait changes nothing: maxWait ends it, as queue-timeout.
        const relaxed = yield* Effect.fork(Effect.exit(limiter.acquire(ticket({ deadline: now + 60_000 }))))
        yield* TestClock.adjust("2999 millis")
        expect(yield* limiter.stats("k")).toMatchObject({ queued: 4 })
        yield* TestClock.adjust("1 millis")
        expect(rejectionOf(yield* Fiber.join(hurried))).toBe("deadline")
        expect(yield* limiter.stats("k")).toMatchObject({ queued: 3 })
        yield* TestClock.adjust("2 seconds")
        expect(rejectionOf(yield* Fiber.join(later))).toBe("deadline")
        yield* TestClock.adjust("5 seconds")
        expect(rejectionOf(yield* Fiber.join(relaxed))).toBe("queue-timeout")
        expect(rejectionOf(yield* Fiber.join(patient))).toBe("queue-timeout")
        yield* holder.release(ok)
        expect(yield* limiter.stats("k")).toMatchObject({ queued: 0, inFlight: 0 })
      }).pipe(Effect.scoped))

    it.effect("a ticket that cannot be admitted by its deadline is refused at once, not at the deadline", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiterMemory.make({ limits: { requestsPerSecond: 1 }, startSlow: false })
        const now = yield* Clock.currentTimeMillis
        // Already past.
        expect(rejectionOf(yield* Effect.exit(limiter.acquire(ticket({ deadline: now }))))).toBe("deadline")
        yield* admittedAt(limiter)
        // The next slot is 1 s away, after this ticket's deadline.
        const short = yield* Effect.fork(Effect.exit(limiter.acquire(ticket({ deadline: now + 500 }))))
        yield* TestClock.adjust("1 millis")
        const refused = yield* Fiber.join(short)
        expect(rejectionOf(refused)).toBe("deadline")
        expect(yield* Clock.currentTimeMillis).toBe(now + 1)
        // One that can wait for it gets it, after the refused one's deadline.
        const long = yield* Effect.fork(admittedAt(limiter, ticket({ deadline: now + 1500 })))
        yield* TestClock.adjust("1 second")
        expect(yield* Fiber.join(long)).toBeGreaterThan(now + 500)
      }).pipe(Effect.scoped))

    it.effect("caps the calls in flight per key (bulkhead)", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiterMemory.make({ limits: { maxConcurrency: 2 }, startSlow: false })
        const fibers = yield* forkAll(5, () => holding(limiter, 100))
        yield* TestClock.adjust("10 millis")
        expect(yield* limiter.stats("k")).toMatchObject({ inFlight: 2, queued: 3 })
        yield* TestClock.adjust("1 second")
        expect(yield* joinAll(fibers)).toEqual([0, 0, 100, 100, 200])
      }).pipe(Effect.scoped))
  })

  describe("interruption", () => {
    it.effect("a queued caller interrupted leaves no trace", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiterMemory.make({ limits: { maxConcurrency: 1, tokensPerMinute: 1000 } })
        const holder = yield* limiter.acquire(ticket({ tokens: 100 }))
        const waiter = yield* Effect.fork(limiter.acquire(ticket({ tokens: 100 })))
        yield* TestClock.adjust("1 millis")
        expect(yield* limiter.stats("k")).toMatchObject({ queued: 1, inFlight: 1 })
        yield* Fiber.interrupt(waiter)
        expect(yield* limiter.stats("k")).toMatchObject({ queued: 0, inFlight: 1 })
        yield* holder.release(RateLimiter.cancelled)
        expect(yield* limiter.stats("k")).toMatchObject({ queued: 0, inFlight: 0 })
        // Both reservations are gone: a call of the whole minute's tokens fits at once.
        const whole = yield* Effect.fork(admittedAt(limiter, ticket({ tokens: 1000 })))
        yield* TestClock.adjust("1 millis")
        expect(yield* Fiber.join(whole)).toBe(1)
      }).pipe(Effect.scoped))

    it.effect("withPermit: interrupted while queued, the caller leaves the queue", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiterMemory.make({ limits: { maxConcurrency: 1 } })
        const holder = yield* limiter.acquire(ticket())
        const fiber = yield* Effect.fork(
          RateLimiter.withPermit(limiter, ticket(), () => Effect.void, () => ok)
        )
        yield* TestClock.adjust("1 millis")
        expect((yield* limiter.stats("k")).queued).toBe(1)
        yield* Fiber.interrupt(fiber)
        expect(yield* limiter.stats("k")).toMatchObject({ queued: 0, inFlight: 1 })
        yield* holder.release(ok)
      }).pipe(Effect.scoped))

    it.effect("interrupted while running, the permit released as cancelled frees its slot and refunds its tokens", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiterMemory.make({ limits: { tokensPerMinute: 1000, maxConcurrency: 1 } })
        const fiber = yield* Effect.fork(
          Effect.acquireUseRelease(
            limiter.acquire(ticket({ tokens: 1000 })),
            () => Effect.never,
            (permit) => permit.release(RateLimiter.cancelled)
          )
        )
        yield* TestClock.adjust("1 millis")
        expect((yield* limiter.stats("k")).inFlight).toBe(1)
        yield* Fiber.interrupt(fiber)
        expect((yield* limiter.stats("k")).inFlight).toBe(0)
        expect(yield* admittedAt(limiter, ticket({ tokens: 1000 }))).toBe(1)
      }).pipe(Effect.scoped))

    it.effect("releasing twice is a no-op", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiterMemory.make({ limits: { maxConcurrency: 1 } })
        const permit: Permit = yield* limiter.acquire(ticket())
        const other = yield* limiter.acquire(ticket({ key: "other" }))
        yield* permit.release(ok)
        const second = yield* limiter.acquire(ticket())
        yield* permit.release(ok)
        expect((yield* limiter.stats("k")).inFlight).toBe(1)
        yield* second.release(ok)
        yield* other.release(ok)
      }).pipe(Effect.scoped))

    it.effect("closing the limiter fails the calls still queued", () =>
      Effect.gen(function*() {
        const waiter = yield* Effect.gen(function*() {
          const limiter = yield* RateLimiterMemory.make({ limits: { maxConcurrency: 1 } })
          yield* limiter.acquire(ticket())
          const fiber = yield* Effect.fork(Effect.exit(limiter.acquire(ticket())))
          yield* TestClock.adjust("1 millis")
          return fiber
        }).pipe(Effect.scoped)
        expect(rejectionOf(yield* Fiber.join(waiter))).toBe("unavailable")
      }))
  })

  describe("idle keys", () => {
    it.effect("are evicted after idleKeyTtl, and start afresh", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiterMemory.make({ idleKeyTtl: "1 minute" })
        yield* admittedAt(limiter, ticket(), { status: 200, rateLimit: { requests: { limit: 600 }, tokens: {} } })
        expect((yield* limiter.stats("k")).requestsPerSecond).toBe(10)
        yield* TestClock.adjust("30 seconds")
        expect((yield* limiter.stats("k")).requestsPerSecond).toBe(10)
        yield* TestClock.adjust("61 seconds")
        expect((yield* limiter.stats("k")).requestsPerSecond).toBe(Infinity)
      }).pipe(Effect.scoped))
  })
})

describe("memory admission store", () => {
  const limits = (overrides: Partial<Limits>): Limits => ({
    requestsPerSecond: Infinity,
    requestBurst: 1,
    tokensPerMinute: Infinity,
    ...overrides
  })
  const waitOf = (admission: Admission) => admission._tag === "Wait" ? admission.retryInMillis : 0

  it.effect("GCRA: admits `burst` calls back to back, then one per interval", () =>
    Effect.gen(function*() {
      const store = yield* MemoryStore.make({ idleKeyTtlMillis: 60_000 })
      const l = limits({ requestsPerSecond: 10, requestBurst: 3 })
      const first = yield* Effect.forEach([1, 2, 3, 4], () => store.tryAdmit("k", 0, l))
      expect(first.map(waitOf)).toEqual([0, 0, 0, 100])
      yield* TestClock.adjust("100 millis")
      expect(waitOf(yield* store.tryAdmit("k", 0, l))).toBe(0)
      expect(waitOf(yield* store.tryAdmit("k", 0, l))).toBe(100)
      // Idle long enough, the burst is back, never more.
      yield* TestClock.adjust("10 seconds")
      const again = yield* Effect.forEach([1, 2, 3, 4], () => store.tryAdmit("k", 0, l))
      expect(again.map(waitOf)).toEqual([0, 0, 0, 100])
    }).pipe(Effect.scoped))

  it.effect("on a wall clock (epoch milliseconds), an interval that is no whole number still admits on time", () =>
    Effect.gen(function*() {
      // A real clock reads about 1.8e12 ms: a double keeps 1/4096 ms there, and 1000/7 ms is not
      // a multiple of it. Seven a second with a burst of exactly one (a share of a fleet's quota).
      yield* TestClock.setTime(1_796_607_487_673)
      const store = yield* MemoryStore.make({ idleKeyTtlMillis: 60_000 })
      const l = limits({ requestsPerSecond: 7, requestBurst: 1, tokensPerMinute: 7 * 60_000 })
      for (let call = 0; call < 20; call++) {
        expect(waitOf(yield* store.tryAdmit("k", 1000, l))).toBe(0)
        const next = waitOf(yield* store.tryAdmit("k", 1000, l))
        expect(next).toBeGreaterThan(140)
        expect(next).toBeLessThanOrEqual(143)
        yield* TestClock.adjust(Duration.millis(next))
      }
      // Idle, at rest, and now a whole minute of tokens at once: the bucket's debt is exactly full.
      yield* TestClock.adjust("2 minutes")
      expect(waitOf(yield* store.tryAdmit("k", 7 * 60_000, l))).toBe(0)
    }).pipe(Effect.scoped))

  it.effect("checks requests and tokens together and debits neither on Wait", () =>
    Effect.gen(function*() {
      const store = yield* MemoryStore.make({ idleKeyTtlMillis: 60_000 })
      const l = limits({ requestsPerSecond: 1, tokensPerMinute: 60_000 })
      expect(waitOf(yield* store.tryAdmit("k", 50_000, l))).toBe(0)
      // The request rate refuses (1 s); the token bucket (10,000 left) would too (~40 s): the longer wins.
      expect(waitOf(yield* store.tryAdmit("k", 50_000, l))).toBe(40_000)
      yield* TestClock.adjust("1 second")
      // Nothing was debited by the refusal: 11,000 tokens now, enough for 11,000.
      expect(waitOf(yield* store.tryAdmit("k", 11_000, l))).toBe(0)
    }).pipe(Effect.scoped))

  it.effect("a cooldown holds every call until it ends and is never shortened", () =>
    Effect.gen(function*() {
      const store = yield* MemoryStore.make({ idleKeyTtlMillis: 60_000 })
      yield* store.startCooldown("k", 2000)
      yield* store.startCooldown("k", 500)
      expect(waitOf(yield* store.tryAdmit("k", 0, limits({})))).toBe(2000)
      yield* TestClock.adjust("2 seconds")
      expect(waitOf(yield* store.tryAdmit("k", 0, limits({})))).toBe(0)
    }).pipe(Effect.scoped))

  it.effect("refunds never fill the bucket above one minute's worth", () =>
    Effect.gen(function*() {
      const store = yield* MemoryStore.make({ idleKeyTtlMillis: 60_000 })
      const l = limits({ tokensPerMinute: 1000 })
      yield* store.tryAdmit("k", 1000, l)
      yield* store.adjustTokens("k", -5000, l)
      expect(waitOf(yield* store.tryAdmit("k", 1000, l))).toBe(0)
      expect(waitOf(yield* store.tryAdmit("k", 1, l))).toBe(60)
    }).pipe(Effect.scoped))

  it.effect("evicts keys idle for the TTL once their state is at rest, and keeps those still in debt", () =>
    Effect.gen(function*() {
      const store = yield* MemoryStore.make({ idleKeyTtlMillis: 60_000 })
      const l = limits({ requestsPerSecond: 10, tokensPerMinute: 1000 })
      yield* store.tryAdmit("idle", 100, l)
      yield* store.tryAdmit("in-debt", 100, l)
      yield* store.adjustTokens("in-debt", 10_000, l)
      expect(store.size()).toBe(2)
      yield* TestClock.adjust("91 seconds")
      expect(store.size()).toBe(1)
      yield* TestClock.adjust("10 minutes")
      expect(store.size()).toBe(0)
      // An unlimited key never holds state.
      yield* store.tryAdmit("free", 100, limits({}))
      expect(store.size()).toBe(0)
    }).pipe(Effect.scoped))
})
