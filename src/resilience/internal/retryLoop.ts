/**
 * The loop behind `RetryPolicy.retry`. It steps the policy by hand instead of using
 * `Effect.retry`, because it must know each delay before sleeping: a wait that would cross
 * the deadline is not taken, and the budget is asked before a wait, not after.
 *
 * The loop, not the policy, owns the retry contract, so that it holds for any `Schedule` a
 * caller passes (as `HttpClient.retryTransient` applies its transient check itself): an error
 * that is not retryable is never retried, a Retry-After longer than the cap ends the retries
 * at once, and no wait is shorter than the server's Retry-After.
 *
 * @internal
 */
import { Clock, Duration, Effect, Option } from "effect"
import * as Logging from "../../Logging.js"
import type { RetryBudget } from "../RetryBudget.js"
import type { Retryable, RetryEvent, RetryPolicy } from "../RetryPolicy.js"
import { step } from "./retrySchedule.js"

export interface LoopOptions<E extends Retryable> {
  readonly policy: RetryPolicy<E>
  readonly budget: RetryBudget | undefined
  readonly onRetry: ((event: RetryEvent<E>) => Effect.Effect<void>) | undefined
  /** The longest Retry-After waited for (millis); a longer one ends the retries. */
  readonly retryAfterCapMillis: number
  /** The error a call fails with when the budget refuses to retry `error` (default: `error` itself). */
  readonly onBudgetRefused?: ((error: E) => Effect.Effect<E>) | undefined
}

/** Whether the contract forbids retrying `error`, whatever the policy says. */
const mustNotRetry = (error: Retryable, capMillis: number): boolean =>
  !error.retryable || (error.retryAfter !== undefined && Duration.toMillis(error.retryAfter) > capMillis)

/** The policy's delay, never shorter than the server's Retry-After. */
const atLeastRetryAfter = (error: Retryable, delayMillis: number): number =>
  error.retryAfter === undefined ? delayMillis : Math.max(delayMillis, Duration.toMillis(error.retryAfter))

/**
 * Retry `self` under `options`, never starting a wait that ends at or after `deadlineAt` (epoch
 * millis). The first attempt is only `self` with a failure handler: most calls succeed at
 * once, and the loop (a generator, the policy's state) is set up when one fails.
 */
export const retryUntil = <A, E extends Retryable, R>(
  self: Effect.Effect<A, E, R>,
  options: LoopOptions<E>,
  deadlineAt: number
): Effect.Effect<A, E, R> => {
  const first = Effect.catchAll(self, (error) => retriesAfter(self, options, deadlineAt, error))
  return options.budget === undefined ? first : Effect.zipRight(options.budget.deposit, first)
}

/** The retries of `self` after its first attempt failed with `firstError`. */
const retriesAfter = <A, E extends Retryable, R>(
  self: Effect.Effect<A, E, R>,
  options: LoopOptions<E>,
  deadlineAt: number,
  firstError: E
): Effect.Effect<A, E, R> =>
  Effect.gen(function*() {
    const { budget, onRetry, policy, retryAfterCapMillis } = options
    let state: unknown = policy.initial
    let error = firstError
    // `retry` is the number the next retry will carry: 1 after the first attempt fails.
    for (let retry = 1;; retry++) {
      // Checked before the policy is stepped: a policy with side effects never sees an error
      // that cannot be retried.
      if (mustNotRetry(error, retryAfterCapMillis)) return yield* Effect.fail(error)
      const now = yield* Clock.currentTimeMillis
      const next = yield* step(policy, now, error, state)
      if (Option.isNone(next)) return yield* Effect.fail(error)
      const delayMillis = atLeastRetryAfter(error, next.value.delayMillis)
      if (now + delayMillis >= deadlineAt) return yield* Effect.fail(error)
      if (budget !== undefined && !(yield* budget.tryWithdraw)) {
        return yield* Effect.fail(options.onBudgetRefused === undefined ? error : yield* options.onBudgetRefused(error))
      }
      const event: RetryEvent<E> = { attempt: retry, delay: Duration.millis(delayMillis), reason: reasonFor(error, delayMillis), error }
      // Logged here only for callers who watch no retries themselves (the client logs its own).
      if (onRetry === undefined) {
        yield* Logging.log("retrying", { attempt: retry, delayMillis, reason: event.reason, error: tagOf(error) })
      }
      if (onRetry !== undefined) yield* onRetry(event)
      if (delayMillis > 0) yield* Effect.sleep(event.delay)
      state = next.value.state
      const outcome = yield* Effect.either(self)
      if (outcome._tag === "Right") return outcome.right
      error = outcome.left
    }
  })

/**
 * The server's Retry-After decided the wait when the wait is exactly it (the floor lifted a
 * shorter backoff to it). The 1 ms slack absorbs float rounding of epoch arithmetic.
 */
const reasonFor = (error: Retryable, delayMillis: number): RetryEvent<Retryable>["reason"] =>
  error.retryAfter !== undefined && Math.abs(delayMillis - Duration.toMillis(error.retryAfter)) <= 1
    ? "retry-after"
    : "backoff"

const tagOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "_tag" in error && typeof error._tag === "string"
    ? error._tag
    : "error"
