/**
 * Stopping a run of many GrokClient calls (`load`, `demo`) when the user asks
 * (`signals.ts`), so that its summary counts exactly what the server answered.
 *
 * On the stop, no call starts, and no attempt either: a call waiting for the limiter or the
 * breaker, or sleeping before a retry, is cancelled where it stands (nothing of it is on the
 * wire); an attempt already holding its permit (sent, or about to be) runs to its end, and
 * its call ends with it: its answer is counted, and a failure is not retried. Cancelling an
 * attempt on the wire instead would lose answers the server had already sent (and billed).
 *
 * How it knows where each call stands: the run's client asks {@link Drain.limiter} for its
 * permits, so the drain sees each attempt begin (permit granted) and end (permit released);
 * the calls retry under {@link Drain.policy}, which refuses a retry once stopping; and each
 * call runs through {@link Drain.call}, which tells the two apart call by call.
 *
 * @internal
 */
import { Effect, Exit, Fiber, FiberId, FiberRef, Option, Schedule, type Scope } from "effect"
import type * as GrokError from "../../GrokError.js"
import type * as RateLimiter from "../../resilience/RateLimiter.js"
import type * as RetryPolicy from "../../resilience/RetryPolicy.js"
import * as Signals from "./signals.js"

/**
 * Where one call stands. `waiting` (for the limiter or the breaker) and `backoff` (before a
 * retry) can be cancelled: nothing of the call is on the wire. `attempt` holds a permit;
 * `after` has just released it and is deciding whether to retry or returning its answer.
 */
type Phase = "waiting" | "attempt" | "after" | "backoff"

interface CallState {
  phase: Phase
}

/** The call the current fiber runs for, if it runs under {@link Drain.call}. */
const currentCall = FiberRef.unsafeMake<CallState | undefined>(undefined)

/** What a stop found under way. */
export interface Stopping {
  readonly signal: Signals.Signal
  /** Calls cancelled where they stood. */
  readonly cancelled: number
  /** Calls left to finish their attempt on the wire. */
  readonly finishing: number
}

/** What the user is told when the stop comes: what is left to finish, and how to quit at once. */
export const stoppingLine = (stopping: Stopping): string =>
  `effect-grok: ${stopping.signal}: no new calls; waiting for ${stopping.finishing} attempt${stopping.finishing === 1 ? "" : "s"} on the wire ` +
  `(${stopping.signal === "SIGINT" ? "Ctrl-C again" : "a second SIGTERM"} quits at once)`

export interface Drain {
  /** The limiter the run's client must take its permits from. */
  readonly limiter: (limiter: RateLimiter.Service) => RateLimiter.Service
  /** `policy`, retrying nothing once a stop was requested. */
  readonly policy: (policy: RetryPolicy.RetryPolicy<GrokError.GrokError>) => RetryPolicy.RetryPolicy<GrokError.GrokError>
  /**
   * Run one call of the run. Its exit is interrupted when the stop cancelled it, or when it
   * came after the stop (not started).
   */
  readonly call: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<Exit.Exit<A, E>, never, R>
  /** The stop, once requested. */
  readonly stopped: Effect.Effect<Option.Option<Signals.Signal>>
}

interface Running {
  readonly state: CallState
  readonly fiber: Fiber.RuntimeFiber<unknown, unknown>
}

const cancellable = (phase: Phase) => phase === "waiting" || phase === "backoff"

/**
 * A drain watching the current {@link Signals.Stop} for the life of the scope; `onStop` runs
 * once, when the stop comes (to tell the user what is left to finish).
 */
export const make = (onStop: (stopping: Stopping) => Effect.Effect<void> = () => Effect.void): Effect.Effect<Drain, never, Scope.Scope> =>
  Effect.gen(function*() {
    const running = new Set<Running>()
    let signal: Signals.Signal | undefined

    yield* Effect.forkScoped(Effect.flatMap(Signals.requested, (received) => {
      signal = received
      let cancelled = 0
      for (const call of running) {
        if (!cancellable(call.state.phase)) continue
        cancelled++
        call.fiber.unsafeInterruptAsFork(FiberId.none)
      }
      return onStop({ signal: received, cancelled, finishing: running.size - cancelled })
    }))

    const limiter = (limiter: RateLimiter.Service): RateLimiter.Service => ({
      ...limiter,
      acquire: (ticket) =>
        Effect.flatMap(FiberRef.get(currentCall), (state) => {
          if (state === undefined) return limiter.acquire(ticket)
          // No attempt begins after the stop: a fallback model's first one, say.
          if (signal !== undefined) return Effect.interrupt
          state.phase = "waiting"
          return Effect.map(limiter.acquire(ticket), (permit): RateLimiter.Permit => {
            state.phase = "attempt"
            return {
              waited: permit.waited,
              release: (outcome) =>
                Effect.suspend(() => {
                  state.phase = "after"
                  return permit.release(outcome)
                })
            }
          })
        })
    })

    const policy = (policy: RetryPolicy.RetryPolicy<GrokError.GrokError>): RetryPolicy.RetryPolicy<GrokError.GrokError> =>
      // Stepped only when the policy retries: a call whose retries are over keeps its failure.
      Schedule.tapOutput(policy, () =>
        Effect.flatMap(FiberRef.get(currentCall), (state) => {
          if (state === undefined) return Effect.void
          if (signal !== undefined) return Effect.interrupt
          return Effect.sync(() => {
            state.phase = "backoff"
          })
        }))

    const call = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<Exit.Exit<A, E>, never, R> =>
      Effect.suspend(() => {
        if (signal !== undefined) return Effect.succeed(Exit.interrupt(FiberId.none))
        const state: CallState = { phase: "waiting" }
        return Effect.flatMap(Effect.fork(Effect.locally(effect, currentCall, state)), (fiber) => {
          // A stop that comes before this call is registered finds it at the limiter's gate.
          const entry: Running = { state, fiber }
          running.add(entry)
          return Effect.ensuring(Fiber.await(fiber), Effect.sync(() => running.delete(entry)))
        })
      })

    return { limiter, policy, call, stopped: Effect.sync(() => Option.fromNullable(signal)) }
  })
