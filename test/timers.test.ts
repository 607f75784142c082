import { describe, expect, it } from "@effect/vitest"
import { Clock, Deferred, Effect, Exit, Fiber, Scope, TestClock } from "effect"
import * as Timers from "../src/internal/timers.js"

/** A client's timers on the TestClock, and a way to note when (virtual millis) a timer fired. */
const setup = Effect.gen(function*() {
  const clock = yield* Effect.clock
  const timers = yield* Timers.make(clock)
  const fired: Array<readonly [string, number]> = []
  const note = (name: string) => () => {
    fired.push([name, clock.unsafeCurrentTimeMillis()])
  }
  return { timers, fired, note }
})

describe("Timers: one fiber fires every attempt's timer", () => {
  it.scoped("a timer fires once it is due, a disarmed one never, and none stay armed", () =>
    Effect.gen(function*() {
      const { fired, note, timers } = yield* setup
      timers.arm(1_000, note("a"))
      const b = timers.arm(2_000, note("b"))
      timers.arm(3_000, note("c"))
      timers.disarm(b)
      yield* TestClock.adjust(999)
      expect(fired).toEqual([])
      yield* TestClock.adjust(1)
      expect(fired).toEqual([["a", 1_000]])
      yield* TestClock.adjust(2_000)
      expect(fired).toEqual([["a", 1_000], ["c", 3_000]])
      expect(timers.size()).toBe(0)
    }))

  it.scoped("moving a timer earlier than the one the fiber sleeps towards wakes it", () =>
    Effect.gen(function*() {
      const { fired, note, timers } = yield* setup
      const timer = timers.arm(600_000, note("moved"))
      // Let the fiber fall asleep towards 10 minutes, then move the timer to 2 seconds.
      yield* TestClock.adjust(1)
      timers.move(timer, 2_000)
      yield* TestClock.adjust(1_998)
      expect(fired).toEqual([])
      yield* TestClock.adjust(1)
      expect(fired).toEqual([["moved", 2_000]])
    }))
})

/** The phases of the timed bodies below. */
type Phase = "waiting" | "attempt"

describe("Timers.run: an effect under a timer", () => {
  it.scoped("a body slower than its timer fails with the phase's error at the timer, its finalizers done", () =>
    Effect.gen(function*() {
      const { timers } = yield* setup
      // Completed by the body's finalizer with what `expired` said there.
      const released = yield* Deferred.make<boolean>()
      const fiber = yield* Timers.run(
        timers,
        "waiting",
        60_000,
        (control: Timers.Control<Phase>) =>
          Effect.gen(function*() {
            // Admitted at once: the attempt phase gets 2 seconds.
            control.enter("attempt", (yield* Clock.currentTimeMillis) + 2_000)
            return yield* Effect.never
          }).pipe(Effect.ensuring(Effect.suspend(() => Deferred.succeed(released, control.expired())))),
        (phase) => `expired in ${phase}`
      ).pipe(Effect.flip, Effect.fork)
      yield* TestClock.adjust(1_999)
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust(1)
      expect(yield* Fiber.join(fiber)).toBe("expired in attempt")
      // The finalizer ran, and knew the timer had fired (a timed-out attempt keeps its token charge).
      expect(yield* Deferred.isDone(released)).toBe(true)
      expect(yield* Deferred.await(released)).toBe(true)
      expect(timers.size()).toBe(0)
    }))

  it.scoped("a body that is still waiting at the deadline reports the waiting phase", () =>
    Effect.gen(function*() {
      const { timers } = yield* setup
      const fiber = yield* Timers.run(timers, "waiting", 5_000, () => Effect.never, (phase) => phase).pipe(Effect.flip, Effect.fork)
      yield* TestClock.adjust(5_000)
      expect(yield* Fiber.join(fiber)).toBe("waiting")
    }))

  it.scoped("a body that finishes first keeps its result, success or failure, and disarms its timer", () =>
    Effect.gen(function*() {
      const { timers } = yield* setup
      const ok = yield* Timers.run(timers, "waiting", 5_000, () => Effect.delay(Effect.succeed(42), 4_999), () => "late").pipe(Effect.fork)
      yield* TestClock.adjust(4_999)
      expect(yield* Fiber.join(ok)).toBe(42)
      const failed = yield* Timers.run(timers, "waiting", 5_000, () => Effect.fail("boom"), () => "late").pipe(Effect.exit)
      expect(failed).toEqual(Exit.fail("boom"))
      expect(timers.size()).toBe(0)
    }))

  it.scoped("interrupting the caller interrupts the body, runs its finalizers and disarms the timer", () =>
    Effect.gen(function*() {
      const { timers } = yield* setup
      const released = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      const fiber = yield* Timers.run(
        timers,
        "waiting",
        60_000,
        () => Effect.zipRight(Deferred.succeed(started, undefined), Effect.never).pipe(Effect.ensuring(Deferred.succeed(released, undefined))),
        () => "late"
      ).pipe(Effect.fork)
      yield* Deferred.await(started)
      yield* Fiber.interrupt(fiber)
      expect(yield* Deferred.isDone(released)).toBe(true)
      expect(timers.size()).toBe(0)
    }))
})

describe("Timers, built where interruption is off", () => {
  it.effect("a client's timers built in an uninterruptible region (a ScopedRef's acquire) still close with their scope", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      yield* Effect.uninterruptible(Scope.extend(Effect.flatMap(Effect.clock, Timers.make), scope))
      // Closing the scope interrupts the timer fiber: it must not hang on an inherited mask.
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* TestClock.adjust("1 millis")
      expect(Exit.isSuccess(yield* Fiber.await(closing))).toBe(true)
    }))
})
