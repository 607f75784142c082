/**
 * The timers of a client's attempts: one fiber per client sleeps until the earliest of them,
 * instead of a sleeping fiber (and a race) per attempt.
 *
 * `Effect.timeoutFail` forks the timed effect and a sleeper, and races them: on this
 * project's benchmark machine that is 50-130 µs per use, and a call used two (the attempt
 * timeout and the call's deadline), for most of the pipeline's overhead. Here arming a timer
 * is a push on a binary heap and disarming it a removal; the client's one timer fiber only
 * wakes when the earliest timer is due, or when a timer earlier than the one it sleeps
 * towards is armed. It sleeps on the client's `Clock`, so `TestClock` drives it in tests.
 *
 * {@link run} puts an attempt under a timer: the attempt runs in a child fiber, which the
 * timer interrupts when it fires; the caller gets the error for that phase instead.
 *
 * @internal
 */
import { Cause, type Clock, Duration, Effect, Exit, Fiber, FiberId, type Scope } from "effect"
import { type HeapItem, IndexedHeap } from "../resilience/internal/indexedHeap.js"

/** One armed timer. `heapIndex` is its place in the heap, -1 once it left it. */
export interface Timer extends HeapItem {
  at: number
  readonly fire: () => void
}

/** A client's timers: arm, move, disarm. Not thread-safe, as nothing in a Node process needs to be. */
export interface Timers {
  /** Call `fire` at `at` (epoch millis, the client's clock) unless disarmed first. */
  readonly arm: (at: number, fire: () => void) => Timer
  /** Fire at `at` instead. A timer that already fired stays fired. */
  readonly move: (timer: Timer, at: number) => void
  readonly disarm: (timer: Timer) => void
  /** Timers armed and not yet fired or disarmed: 0 when no call is in flight (a leak check). */
  readonly size: () => number
}

/**
 * A client's timers, served by one fiber that lives in the current scope and sleeps on
 * `clock`.
 */
export const make = (clock: Clock.Clock): Effect.Effect<Timers, never, Scope.Scope> =>
  Effect.gen(function*() {
    const heap = new IndexedHeap<Timer>((timer) => timer.at)
    // What the timer fiber sleeps towards (Infinity: nothing), and how to wake it earlier. A
    // wake asked for before the fiber listens (it starts listening in a forked race) is kept.
    let sleepingUntil = Infinity
    let wake: (() => void) | undefined
    let wakeAsked = false
    const askWake = () => {
      if (wake === undefined) wakeAsked = true
      else wake()
    }

    const fireDue = () => {
      const now = clock.unsafeCurrentTimeMillis()
      for (let next = heap.first; next !== undefined && next.at <= now; next = heap.first) {
        heap.remove(next)
        next.fire()
      }
    }

    const awaitWake = Effect.async<void>((resume) => {
      if (wakeAsked) {
        wakeAsked = false
        return resume(Effect.void)
      }
      wake = () => {
        wake = undefined
        resume(Effect.void)
      }
      return Effect.sync(() => {
        wake = undefined
      })
    })

    const serve: Effect.Effect<never> = Effect.suspend(() => {
      wakeAsked = false
      fireDue()
      const earliest = heap.first
      sleepingUntil = earliest === undefined ? Infinity : earliest.at
      const waiting = earliest === undefined
        ? awaitWake
        : Effect.raceFirst(clock.sleep(Duration.millis(earliest.at - clock.unsafeCurrentTimeMillis())), awaitWake)
      return Effect.zipRight(waiting, serve)
    })
    // Interruptible whatever the builder's region: a client built uninterruptibly (a
    // ScopedRef's acquire, an acquireRelease) would otherwise never close.
    yield* Effect.forkScoped(Effect.interruptible(serve))

    const schedule = (timer: Timer) => {
      heap.push(timer)
      // Only a timer earlier than the one the fiber sleeps towards needs it awake.
      if (timer.at < sleepingUntil) askWake()
    }
    return {
      arm: (at, fire) => {
        const timer: Timer = { at, heapIndex: -1, fire }
        schedule(timer)
        return timer
      },
      move: (timer, at) => {
        if (timer.heapIndex < 0 || timer.at === at) return
        heap.remove(timer)
        timer.at = at
        schedule(timer)
      },
      disarm: (timer) => heap.remove(timer),
      size: () => heap.size
    }
  })

/** What the timed effect can do with its timer. */
export interface Control<Phase extends string> {
  /** Move the timer to `at` for the phase that begins now (the phase a firing reports). */
  readonly enter: (phase: Phase, at: number) => void
  /** Whether the timer fired: finalizers of the interrupted body can tell a timeout from a caller giving up. */
  readonly expired: () => boolean
}

/**
 * Run `body` in a child fiber under a timer set to `at` for phase `phase`; `body` may move it
 * as it enters later phases. When the timer fires, the child is interrupted (its finalizers
 * run first: a permit is released) and the effect fails with `onExpired(phase)`. A
 * child that completes at the same instant keeps its result. Interrupting the caller
 * interrupts the child and disarms the timer.
 *
 * A timer at `Infinity` never fires until `enter` moves it; callers with no limit at all
 * should not come here (the fiber is the cost).
 */
export const run = <A, E, E2, R, Phase extends string>(
  timers: Timers,
  phase: Phase,
  at: number,
  body: (control: Control<Phase>) => Effect.Effect<A, E, R>,
  onExpired: (phase: Phase) => E2
): Effect.Effect<A, E | E2, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.suspend(() => {
      const state: { phase: Phase; expired: boolean; child: Fiber.RuntimeFiber<Exit.Exit<A, E>> | undefined; by: FiberId.FiberId } = {
        phase,
        expired: false,
        child: undefined,
        by: FiberId.none
      }
      const timer = timers.arm(at, () => {
        state.expired = true
        state.child?.unsafeInterruptAsFork(state.by)
      })
      const control: Control<Phase> = {
        enter: (next, nextAt) => {
          state.phase = next
          if (nextAt === Infinity) timers.disarm(timer)
          else timers.move(timer, nextAt)
        },
        expired: () => state.expired
      }
      // The child ends with its exit as a value: its failure is the caller's to handle, and a
      // failed fiber nobody joins would be logged by the runtime as an unhandled error.
      return Effect.flatMap(Effect.fork(Effect.exit(restore(body(control)))), (child) =>
        Effect.fiberIdWith((self) => {
          state.child = child
          state.by = self
          return restore(Fiber.await(child)).pipe(
            Effect.onInterrupt(() => {
              timers.disarm(timer)
              return Fiber.interrupt(child)
            }),
            Effect.flatMap((ended): Effect.Effect<A, E | E2> => {
              timers.disarm(timer)
              const exit: Exit.Exit<A, E> = Exit.isSuccess(ended) ? ended.value : Exit.failCause(ended.cause)
              return state.expired && Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)
                ? Effect.fail(onExpired(state.phase))
                : exit
            })
          )
        }))
    })
  )
