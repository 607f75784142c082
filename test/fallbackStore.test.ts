import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, TestClock } from "effect"
import type { AbsorbingStore, Admission, Limits } from "../src/resilience/internal/admissionStore.js"
import { StoreUnavailable } from "../src/resilience/internal/admissionStore.js"
import { withFallback } from "../src/resilience/internal/fallbackStore.js"
import { makeEngine } from "../src/resilience/internal/limiterEngine.js"
import * as MemoryStore from "../src/resilience/internal/memoryStore.js"
import type { Priority, RateLimiterRejected, Ticket } from "../src/resilience/RateLimiter.js"

/**
 * A shared store that can be taken away and brought back: a memory store standing for Redis
 * (its state survives, as Redis's does through a pause), refusing every operation while down.
 */
const switchableShared = Effect.gen(function*() {
  const inner = yield* MemoryStore.make({ idleKeyTtlMillis: 600_000 })
  let down = false
  let absorbed = 0
  const unlessDown = <A>(effect: Effect.Effect<A>) =>
    Effect.suspend(() => down ? Effect.fail(new StoreUnavailable({ message: "connection refused" })) : effect)
  const store: AbsorbingStore = {
    tryAdmit: (key, tokens, limits) => unlessDown(inner.tryAdmit(key, tokens, limits)),
    adjustTokens: (key, delta, limits) => unlessDown(inner.adjustTokens(key, delta, limits)),
    startCooldown: (key, millis) => unlessDown(inner.startCooldown(key, millis)),
    absorb: (key, spent, limits) =>
      unlessDown(Effect.zipRight(Effect.sync(() => absorbed++), inner.absorb(key, spent, limits)))
  }
  return {
    store,
    inner,
    absorbed: () => absorbed,
    setDown: (value: boolean) => Effect.sync(() => (down = value))
  }
})

/** After a timeout, a second without asking the shared store. */
const holdOffMillis = 1_000

const fallbackOver = (shared: AbsorbingStore, local: MemoryStore.MemoryStore, share: number) =>
  Effect.map(Effect.clock, (clock) => withFallback(shared, local, { share, holdOffMillis, clock }))

const setup = (share = 0.5) =>
  Effect.gen(function*() {
    const shared = yield* switchableShared
    const local = yield* MemoryStore.make({ idleKeyTtlMillis: 600_000 })
    return { ...shared, local, store: yield* fallbackOver(shared.store, local, share) }
  })

const limits = (overrides: Partial<Limits>): Limits => ({
  requestsPerSecond: Infinity,
  requestBurst: 1,
  tokensPerMinute: Infinity,
  ...overrides
})

const waitOf = (admission: Admission) => admission._tag === "Wait" ? admission.retryInMillis : 0

describe("fallback store", () => {
  it.effect("while the shared store is away, decides locally at its share of the quota and says so", () =>
    Effect.gen(function*() {
      const { setDown, store } = yield* setup(0.5)
      const l = limits({ requestsPerSecond: 10, requestBurst: 1.04 })
      expect(yield* store.tryAdmit("k", 0, l)).toEqual({ _tag: "Admitted" })
      yield* setDown(true)
      yield* TestClock.adjust("1 second")
      expect(yield* store.tryAdmit("k", 0, l)).toEqual({ _tag: "Admitted", share: 0.5 })
      // Half of 10 a second: the next local slot is 200 ms away (less the timer slack of 4 ms).
      const next = waitOf(yield* store.tryAdmit("k", 0, l))
      expect(next).toBeGreaterThan(190)
      expect(next).toBeLessThanOrEqual(200)
    }).pipe(Effect.scoped))

  it.effect("back, a key's local state is handed over before its first shared decision: cooldown, calls, tokens", () =>
    Effect.gen(function*() {
      const { absorbed, inner, local, setDown, store } = yield* setup(0.5)
      // 600 tokens a minute: 300 locally. One request a second: one every 2 s locally.
      const l = limits({ requestsPerSecond: 1, requestBurst: 1, tokensPerMinute: 600 })
      yield* setDown(true)
      expect((yield* store.tryAdmit("k", 200, l))._tag).toBe("Admitted")
      yield* store.startCooldown("k", 5_000)
      yield* setDown(false)
      // The first shared operation hands the local state over, once, and drops it locally.
      expect(waitOf(yield* store.tryAdmit("k", 0, l))).toBe(5_000)
      expect(absorbed()).toBe(1)
      expect(local.size()).toBe(0)
      yield* store.tryAdmit("k", 0, l)
      expect(absorbed()).toBe(1)
      // The shared store now holds what the process did alone: the cooldown it was told...
      expect(waitOf(yield* inner.tryAdmit("other-process-view", 0, l))).toBe(0)
      expect(waitOf(yield* inner.tryAdmit("k", 0, l))).toBe(5_000)
      yield* TestClock.adjust("5 seconds")
      // ...the 200 tokens it spent (600 - 200 = 400 left, refilled by 50 in 5 s)...
      expect(waitOf(yield* inner.tryAdmit("k", 451, l))).toBeGreaterThan(0)
      // ...and its call, ahead of the schedule when it was handed over (the cooldown was longer).
      expect(waitOf(yield* inner.tryAdmit("k", 450, l))).toBe(0)
    }).pipe(Effect.scoped))

  it.effect("a shared store lost again during the hand-over leaves the state local, counted once", () =>
    Effect.gen(function*() {
      const shared = yield* switchableShared
      const local = yield* MemoryStore.make({ idleKeyTtlMillis: 600_000 })
      // The shared store answers the hand-over's round trip with a failure, once.
      let failAbsorb = true
      const flaky: AbsorbingStore = {
        ...shared.store,
        absorb: (key, spent, l) =>
          Effect.suspend(() => {
            if (!failAbsorb) return shared.store.absorb(key, spent, l)
            failAbsorb = false
            return Effect.fail(new StoreUnavailable({ message: "timed out" }))
          })
      }
      const store = yield* fallbackOver(flaky, local, 0.5)
      const l = limits({ tokensPerMinute: 600 })
      yield* shared.setDown(true)
      expect((yield* store.tryAdmit("k", 300, l))._tag).toBe("Admitted")
      yield* shared.setDown(false)
      // The hand-over fails: the decision is local, on the state put back (no tokens left).
      expect(waitOf(yield* store.tryAdmit("k", 1, l))).toBeGreaterThan(0)
      expect(local.size()).toBe(1)
      // The next one hands it over and decides in the shared store: 300 spent of 600.
      expect((yield* store.tryAdmit("k", 300, l))._tag).toBe("Admitted")
      expect(shared.absorbed()).toBe(1)
      expect(waitOf(yield* shared.inner.tryAdmit("k", 1, l))).toBeGreaterThan(0)
    }).pipe(Effect.scoped))
  it.effect("a shared store that hangs costs one timeout: then operations go local without asking, for the hold-off", () =>
    Effect.gen(function*() {
      const shared = yield* switchableShared
      const local = yield* MemoryStore.make({ idleKeyTtlMillis: 600_000 })
      // A hung Redis: every operation fails after a 250 ms command timeout.
      let asked = 0
      let hung = true
      const hanging: AbsorbingStore = {
        ...shared.store,
        tryAdmit: (key, tokens, l) =>
          Effect.suspend(() => {
            asked++
            return hung
              ? Effect.zipRight(
                Effect.sleep("250 millis"),
                Effect.fail(new StoreUnavailable({ message: "did not answer", timedOut: true }))
              )
              : shared.store.tryAdmit(key, tokens, l)
          })
      }
      const store = yield* fallbackOver(hanging, local, 0.5)
      const l = limits({})
      const first = yield* Effect.fork(store.tryAdmit("k", 0, l))
      yield* TestClock.adjust("250 millis")
      expect(yield* Fiber.join(first)).toEqual({ _tag: "Admitted", share: 0.5 })
      // Within the hold-off: decided at once, locally, Redis not asked.
      for (let i = 0; i < 5; i++) expect(yield* store.tryAdmit("k", 0, l)).toEqual({ _tag: "Admitted", share: 0.5 })
      expect(asked).toBe(1)
      // After it, asked again (and back on the shared store once it answers).
      hung = false
      yield* TestClock.adjust("1 second")
      expect(yield* store.tryAdmit("k", 0, l)).toEqual({ _tag: "Admitted" })
      expect(asked).toBe(2)
      // A refusal (not a timeout) holds nothing off: the next operation asks again.
      yield* shared.setDown(true)
      hung = false
      const refusedOnce: AbsorbingStore = { ...shared.store }
      const refusing = yield* fallbackOver(refusedOnce, local, 0.5)
      expect((yield* refusing.tryAdmit("k", 0, l))._tag).toBe("Admitted")
      yield* shared.setDown(false)
      expect(yield* refusing.tryAdmit("k", 0, l)).toEqual({ _tag: "Admitted" })
    }).pipe(Effect.scoped))
})

describe("the engine over the fallback store", () => {
  const ticket = (overrides: Partial<Ticket> = {}): Ticket => ({ key: "k", tokens: 0, priority: "normal", ...overrides })

  const reasonOf = (exit: Exit.Exit<unknown, RateLimiterRejected>) =>
    Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error.reason : undefined

  it.effect("calls queued when the shared store goes away keep their place, priority and deadline", () =>
    Effect.gen(function*() {
      // On a wall clock's epoch milliseconds, where a double keeps 1/4096 ms.
      yield* TestClock.setTime(1_796_607_487_673)
      const { setDown, store } = yield* setup(0.5)
      // 14 a second shared, 7 locally: one every 143 ms.
      const limiter = yield* makeEngine({ limits: { requestsPerSecond: 14, maxConcurrency: 1 }, startSlow: false }, store)
      const holder = yield* limiter.acquire(ticket())
      const order: Array<string> = []
      const now = yield* TestClock.currentTimeMillis
      const call = (name: string, priority: Priority, deadline?: number) =>
        Effect.fork(Effect.exit(
          Effect.flatMap(limiter.acquire(ticket({ priority, deadline })), (permit) =>
            Effect.zipRight(Effect.sync(() => order.push(name)), permit.release({ status: 200 })))
        ))
      // Queued behind the held slot, while the shared store still answers.
      const calls = yield* Effect.all([
        call("background", "background"),
        call("normal-1", "normal"),
        call("normal-late", "normal", now + 300),
        call("critical", "critical"),
        call("normal-2", "normal")
      ])
      yield* TestClock.adjust("1 millis")
      yield* setDown(true)
      yield* holder.release({ status: 200 })
      // A call arriving after the loss is decided by the same policy: it queues too.
      const late = yield* call("late-arrival", "critical")
      yield* TestClock.adjust("3 seconds")
      const exits = yield* Effect.forEach([...calls, late], Fiber.join)
      // Served one every 143 ms in priority order, FIFO within one; the call whose own deadline
      // came before its turn failed for that, as it would in memory. None for the lost store.
      expect(order).toEqual(["critical", "late-arrival", "normal-1", "normal-2", "background"])
      expect(exits.map(reasonOf)).toEqual([undefined, undefined, "deadline", undefined, undefined, undefined])
    }).pipe(Effect.scoped))

  it.effect("cuts made while deciding alone are measured in the quota's calls, and undone once shared again", () =>
    Effect.gen(function*() {
      const { setDown, store } = yield* setup(0.5)
      const limiter = yield* makeEngine({ limits: { requestsPerSecond: 20 }, startSlow: false }, store)
      const callAndRelease = (outcome: { readonly status: number; readonly rateLimited?: boolean }) =>
        Effect.flatMap(limiter.acquire(ticket()), (permit) =>
          permit.release({ ...outcome, retryAfter: outcome.rateLimited === true ? Duration.millis(1) : undefined }))
      /** One call, given the time to wait for its slot. */
      const oneCall = (outcome: { readonly status: number; readonly rateLimited?: boolean }) =>
        Effect.flatMap(Effect.fork(callAndRelease(outcome)), (fiber) =>
          Effect.zipRight(TestClock.adjust("1 second"), Fiber.join(fiber)))
      const rate = Effect.map(limiter.stats("k"), (stats) => stats.requestsPerSecond)
      yield* setDown(true)
      yield* oneCall({ status: 429, rateLimited: true })
      expect(yield* rate).toBeCloseTo(14)
      // Two seconds at the local pace (7 a second here, 14 of the quota's), then another 429.
      const busy = yield* Effect.fork(Effect.forEach(Array.from({ length: 14 }), () => callAndRelease({ status: 200 })))
      yield* TestClock.adjust("2 seconds")
      yield* Fiber.join(busy)
      yield* oneCall({ status: 429, rateLimited: true })
      // 70% of the 14 a second the quota saw, not of the 7 this process sent alone.
      const cut = yield* rate
      expect(cut).toBeGreaterThan(9)
      expect(cut).toBeLessThan(11)
      yield* setDown(false)
      yield* oneCall({ status: 200 })
      expect(yield* rate).toBe(20)
    }).pipe(Effect.scoped))
})
