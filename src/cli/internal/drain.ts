/**
 * The calls of a run (`load`, `demo`), followed one by one: where each stands, so that a stop
 * (`signals.ts`) leaves a summary that counts exactly what the server answered; and what
 * happened to each (its attempts, and who decided not to retry), so that the demo can say
 * why a call failed.
 *
 * On the stop, no call starts, and no attempt either: a call waiting for the limiter or the
 * breaker, or sleeping before a retry, is cancelled where it stands (nothing of it is on the
 * wire); an attempt already holding its permit (sent, or about to be) runs to its end, and
 * its call ends with it: its answer is counted, and a failure is not retried. Cancelling an
 * attempt on the wire instead would lose answers the server had already sent (and billed).
 *
 * How it follows a call: the run's client takes its permits from {@link Drain.limiter}, so
 * the drain sees each attempt begin (permit granted) and end (permit released, with what the
 * server said); the calls retry under {@link Drain.policy}, which sees each retry decision
 * (and refuses a retry once stopping); each call runs through {@link Drain.call}, which
 * holds its record.
 *
 * @internal
 */
import { Effect, Exit, Fiber, FiberId, FiberRef, Option, Schedule, ScheduleDecision, type Scope } from "effect"
import type * as GrokError from "../../GrokError.js"
import * as RateLimiter from "../../resilience/RateLimiter.js"
import type * as RetryPolicy from "../../resilience/RetryPolicy.js"
import * as Signals from "./signals.js"

/**
 * Where one call stands. `waiting` (for the limiter or the breaker) and `backoff` (before a
 * retry) can be cancelled: nothing of the call is on the wire. `attempt` holds a permit;
 * `after` has just released it and is deciding whether to retry or returning its answer.
 */
type Phase = "waiting" | "attempt" | "after" | "backoff"

/** One attempt of a call, as the limiter saw it end. */
export interface Attempt {
  /** The HTTP status, `null` when no answer came (a reset connection, a timeout). */
  readonly status: number | null
  /** The limiter key it ran under: one per model. */
  readonly key: string
  /** When it was sent (`Clock` millis of its permit): about when the server decided its fate. */
  readonly sentMillis: number
  /** When it ended (`Clock` millis). */
  readonly atMillis: number
}

/**
 * Who decided, after the call's last failed attempt, that it would not be retried:
 *
 * - `not-retryable`: the retry loop, before asking the policy (the error cannot be fixed by
 *   retrying, or the server asked to wait longer than the retry-after cap);
 * - `policy`: the retry policy (its limit of retries);
 * - `refused`: the policy allowed a retry and the retry loop refused it: the client's retry
 *   budget was spent (the error says so: `retryBudgetExhausted`), or the wait would have
 *   ended past the call's deadline.
 */
export type GaveUp = "not-retryable" | "policy" | "refused"

/** What happened to one call. */
export interface CallRecord {
  readonly attempts: ReadonlyArray<Attempt>
  /** After a failure: who decided not to retry. */
  readonly gaveUp: GaveUp | undefined
}

interface CallState {
  phase: Phase
  readonly attempts: Array<Attempt>
  /** The retry decision after the latest attempt, as far as it got. */
  decision: GaveUp | "retry"
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
  stopping.finishing === 0
    ? `effect-grok: ${stopping.signal}: no new calls, and none on the wire`
    : `effect-grok: ${stopping.signal}: no new calls; waiting for ${stopping.finishing} attempt${stopping.finishing === 1 ? "" : "s"} on the wire ` +
      `(${stopping.signal === "SIGINT" ? "Ctrl-C again" : "a second SIGTERM"} quits at once)`

export interface Drain {
  /** The limiter the run's client must take its permits from. */
  readonly limiter: (limiter: RateLimiter.Service) => RateLimiter.Service
  /** `policy`, followed decision by decision, and retrying nothing once a stop was requested. */
  readonly policy: (policy: RetryPolicy.RetryPolicy<GrokError.GrokError>) => RetryPolicy.RetryPolicy<GrokError.GrokError>
  /**
   * Run one call of the run: its exit, and its record. The exit is interrupted when the stop
   * cancelled the call, or when the call came after the stop (not started).
   */
  readonly call: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<readonly [Exit.Exit<A, E>, CallRecord], never, R>
  /** The stop, once requested. */
  readonly stopped: Effect.Effect<Option.Option<Signals.Signal>>
}

interface Running {
  readonly state: CallState
  readonly fiber: Fiber.RuntimeFiber<unknown, unknown>
}

const cancellable = (phase: Phase) => phase === "waiting" || phase === "backoff"

const recordOf = (state: CallState, exit: Exit.Exit<unknown, unknown>): CallRecord => ({
  attempts: state.attempts,
  // The policy said yes and no attempt followed: the retry loop refused the retry.
  gaveUp: Exit.isSuccess(exit) ? undefined : state.decision === "retry" ? "refused" : state.decision
})

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
          // A new attempt: until the retry loop asks the policy after it, the loop decides.
          state.decision = "not-retryable"
          return Effect.flatMap(limiter.acquire(ticket), (permit) => Effect.clockWith((clock) => {
            state.phase = "attempt"
            const sentMillis = clock.unsafeCurrentTimeMillis()
            return Effect.succeed<RateLimiter.Permit>({
              waited: permit.waited,
              release: (outcome) =>
                Effect.clockWith((clock) => {
                  state.phase = "after"
                  // A permit given back unused (the attempt never began) is no attempt.
                  if (outcome !== RateLimiter.cancelled) {
                    state.attempts.push({ status: outcome.status, key: ticket.key, sentMillis, atMillis: clock.unsafeCurrentTimeMillis() })
                  }
                  return permit.release(outcome)
                })
            })
          }))
        })
    })

    const policy = (policy: RetryPolicy.RetryPolicy<GrokError.GrokError>): RetryPolicy.RetryPolicy<GrokError.GrokError> =>
      Schedule.makeWithState(policy.initial, (now, error: GrokError.GrokError, state) =>
        Effect.flatMap(policy.step(now, error, state), (step) =>
          Effect.flatMap(FiberRef.get(currentCall), (call) => {
            if (call === undefined) return Effect.succeed(step)
            if (ScheduleDecision.isDone(step[2])) {
              call.decision = "policy"
              return Effect.succeed(step)
            }
            // The policy would retry: not once the user asked to stop.
            if (signal !== undefined) return Effect.interrupt
            call.decision = "retry"
            call.phase = "backoff"
            return Effect.succeed(step)
          })))

    const call = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<readonly [Exit.Exit<A, E>, CallRecord], never, R> =>
      Effect.suspend(() => {
        const state: CallState = { phase: "waiting", attempts: [], decision: "not-retryable" }
        if (signal !== undefined) return Effect.succeed([Exit.interrupt(FiberId.none), recordOf(state, Exit.void)] as const)
        return Effect.flatMap(Effect.fork(Effect.locally(effect, currentCall, state)), (fiber) => {
          // A stop that comes before this call is registered finds it at the limiter's gate.
          const entry: Running = { state, fiber }
          running.add(entry)
          return Fiber.await(fiber).pipe(
            Effect.ensuring(Effect.sync(() => running.delete(entry))),
            Effect.map((exit) => [exit, recordOf(state, exit)] as const)
          )
        })
      })

    return { limiter, policy, call, stopped: Effect.sync(() => Option.fromNullable(signal)) }
  })
