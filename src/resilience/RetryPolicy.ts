/**
 * Retries as declarative `Schedule`s, for any error that says whether it is worth retrying.
 *
 * A {@link RetryPolicy} is a plain `Schedule` whose input is the failed error. The combinators
 * here add what an HTTP API client needs on top of a {@link Backoff} curve: stop on errors
 * that cannot succeed ({@link whileRetryable}), wait at least as long as the server asked
 * ({@link retryAfterFloor}), fail fast when it asks for too long ({@link retryAfterCap}),
 * and count ({@link maxRetries}). {@link retry} runs an effect under a policy, an overall
 * deadline and a shared {@link RetryBudget}; every caller retries through it.
 *
 * Provider-agnostic: nothing here knows about Grok or HTTP. Callers fold protocol details
 * (status codes, `x-should-retry`, `Retry-After` in any of its forms) into {@link Retryable}.
 *
 * @since 0.1.0
 */
import { Clock, Context, Duration, Effect, Either, Layer, Schedule } from "effect"
import { dual } from "effect/Function"
import * as Backoff from "./Backoff.js"
import {
  decodeDuration,
  invalid,
  type InvalidRetryOptions,
  orThrow,
  positiveDuration,
  show
} from "./internal/retryValidation.js"
import { retryUntil } from "./internal/retryLoop.js"
import * as RetryBudget from "./RetryBudget.js"

/**
 * What the retry machinery needs to know about a failure. `GrokError` is one; any error
 * with these fields works.
 *
 * @since 0.1.0
 */
export interface Retryable {
  /** Whether trying again may succeed. `false` stops retrying at once. */
  readonly retryable: boolean
  /** How long the server asked the client to wait (Retry-After, already parsed). */
  readonly retryAfter?: Duration.Duration | undefined
}

/**
 * A schedule fed with each failure: it decides whether to retry and after how long.
 * Any `Schedule` over `E` is one, so plain `Schedule` operators compose with it.
 *
 * @since 0.1.0
 */
export type RetryPolicy<E extends Retryable = Retryable> = Schedule.Schedule<unknown, E>

/** A schedule over `In` also accepts any narrower input (schedules are contravariant in their input). */
const widen = <Out, In, R>(self: Schedule.Schedule<Out, In, R>): Schedule.Schedule<Out, In & Retryable, R> => self

/**
 * Stop as soon as an error says it is not retryable.
 *
 * @since 0.1.0
 */
export const whileRetryable = <Out, In, R>(self: Schedule.Schedule<Out, In, R>): Schedule.Schedule<Out, In & Retryable, R> =>
  Schedule.whileInput(widen(self), (error) => error.retryable)

/**
 * Never wait less than the server's Retry-After: a shorter delay from `self` is lifted to it.
 * Apply it after any jitter, so that jitter can never pull a wait below the server's ask.
 *
 * @since 0.1.0
 */
export const retryAfterFloor = <Out, In, R>(self: Schedule.Schedule<Out, In, R>): Schedule.Schedule<Out, In & Retryable, R> =>
  Schedule.identity<In & Retryable>().pipe(
    Schedule.intersect(self),
    Schedule.modifyDelay(([error], delay) =>
      error.retryAfter !== undefined && Duration.greaterThan(error.retryAfter, delay) ? error.retryAfter : delay
    ),
    Schedule.map(([, out]) => out)
  )

/**
 * The default {@link retryAfterCap}: 60 seconds, as the Vercel AI SDK and xAI's own SDK.
 *
 * @since 0.1.0
 */
export const defaultRetryAfterCap: Duration.Duration = Duration.seconds(60)

/**
 * Stop at once when the server asks to wait longer than `cap` (default 60 seconds): the
 * caller gets that error straight away, with its Retry-After, instead of a sleep of an hour.
 *
 * @since 0.1.0
 */
export const retryAfterCap: {
  (cap?: Duration.DurationInput): <Out, In, R>(self: Schedule.Schedule<Out, In, R>) => Schedule.Schedule<Out, In & Retryable, R>
  <Out, In, R>(self: Schedule.Schedule<Out, In, R>, cap?: Duration.DurationInput): Schedule.Schedule<Out, In & Retryable, R>
} = dual(
  (args) => Schedule.isSchedule(args[0]),
  <Out, In, R>(self: Schedule.Schedule<Out, In, R>, cap: Duration.DurationInput = defaultRetryAfterCap) => {
    const limit = Duration.decode(cap)
    return Schedule.whileInput(
      widen(self),
      (error) => error.retryAfter === undefined || Duration.lessThanOrEqualTo(error.retryAfter, limit)
    )
  }
)

/**
 * At most `n` retries (`n + 1` attempts).
 *
 * @since 0.1.0
 */
export const maxRetries: {
  (n: number): <Out, In, R>(self: Schedule.Schedule<Out, In, R>) => Schedule.Schedule<Out, In, R>
  <Out, In, R>(self: Schedule.Schedule<Out, In, R>, n: number): Schedule.Schedule<Out, In, R>
} = dual(2, <Out, In, R>(self: Schedule.Schedule<Out, In, R>, n: number) => Schedule.zipLeft(self, Schedule.recurs(n)))

/**
 * Options of the standard policy: a {@link Backoff} curve plus the retry limits.
 *
 * @since 0.1.0
 */
export interface Options extends Backoff.BackoffOptions {
  /** Retries after the first attempt. A whole number >= 0. Default 3. */
  readonly maxRetries?: number | undefined
  /** Longest Retry-After honoured; a longer ask fails at once. Finite, above zero. Default 60 seconds. */
  readonly retryAfterCap?: Duration.DurationInput | undefined
}

/** @since 0.1.0 */
export interface ValidOptions extends Backoff.ValidBackoffOptions {
  readonly maxRetries: number
  readonly retryAfterCap: Duration.Duration
}

/**
 * The default options: 0.5 s base, factor 2, 30 s cap, full jitter, 3 retries, 60 s
 * Retry-After cap. `docs/retry.md` explains each number.
 *
 * @since 0.1.0
 */
export const defaults: ValidOptions = { ...Backoff.defaults, maxRetries: 3, retryAfterCap: defaultRetryAfterCap }

/**
 * Check options without building anything: the typed path for options from configuration.
 *
 * @since 0.1.0
 */
export const validate = (options: Options = {}): Either.Either<ValidOptions, InvalidRetryOptions> =>
  Either.gen(function*() {
    const backoff = yield* Backoff.validate(options)
    const retries = options.maxRetries ?? defaults.maxRetries
    if (!Number.isInteger(retries) || retries < 0) {
      return yield* invalid("maxRetries", `must be a whole number >= 0, got ${show(retries)}`)
    }
    const cap = yield* positiveDuration("retryAfterCap", options.retryAfterCap, defaults.retryAfterCap)
    return { ...backoff, maxRetries: retries, retryAfterCap: cap }
  })

/**
 * The standard composition, from the inside out: exponential backoff with jitter, the
 * Retry-After floor over it, no retry for errors that are not retryable or whose Retry-After
 * exceeds the cap, and at most `maxRetries`.
 *
 * Throws `InvalidRetryOptions` when an option is out of range (use {@link validate} for
 * options that are not literals in code).
 *
 * @since 0.1.0
 */
export const make = (options?: Options): RetryPolicy => fromValid(orThrow(validate(options)))

/**
 * The standard composition for options already validated.
 *
 * @since 0.1.0
 */
export const fromValid = (options: ValidOptions): RetryPolicy =>
  Backoff.fromValid(options).pipe(
    retryAfterFloor,
    whileRetryable,
    retryAfterCap(options.retryAfterCap),
    maxRetries(options.maxRetries)
  )

/**
 * `make()` with the {@link defaults}.
 *
 * @since 0.1.0
 */
export const defaultPolicy: RetryPolicy = fromValid(defaults)

/**
 * One retry about to happen, as seen by `onRetry`.
 *
 * @since 0.1.0
 */
export interface RetryEvent<E> {
  /** Which retry this is: 1 for the first (the second attempt). */
  readonly attempt: number
  /** The wait before it. */
  readonly delay: Duration.Duration
  /** `retry-after` when the server's Retry-After set the wait, `backoff` when the curve did. */
  readonly reason: "retry-after" | "backoff"
  /** The failure that is being retried. */
  readonly error: E
}

/**
 * Options of {@link retry}. A `deadline` needs `onDeadline`, the error an attempt still
 * running at the deadline fails with.
 *
 * @since 0.1.0
 */
export type RetryOptions<E extends Retryable, E2 = never> =
  & {
    readonly policy: RetryPolicy<E>
    /** Asked before each retry; when it refuses, the last error surfaces at once. Each call deposits once. `false`: none. */
    readonly budget?: RetryBudget.RetryBudget | false | undefined
    /** Runs before each wait: logs, metrics. */
    readonly onRetry?: ((event: RetryEvent<E>) => Effect.Effect<void>) | undefined
    /** The longest Retry-After waited for; a longer one surfaces the error at once. Default 60 seconds. */
    readonly retryAfterCap?: Duration.DurationInput | undefined
    /** The error the call fails with when the budget refuses a retry of `error` (default: `error`). */
    readonly onBudgetRefused?: ((error: E) => Effect.Effect<E>) | undefined
  }
  & (
    | {
      /** Covers every attempt and every wait. `Duration.infinity` for none. */
      readonly deadline: Duration.DurationInput
      readonly onDeadline: (after: Duration.Duration) => E2
    }
    | { readonly deadline?: undefined; readonly onDeadline?: undefined }
  )

/**
 * Run `self`, retrying its failures under `options.policy`.
 *
 * - Whatever the policy, an error whose `retryable` is false is never retried, a Retry-After
 *   longer than `retryAfterCap` surfaces the error at once, and no wait is shorter than the
 *   error's Retry-After: the policy only decides when and how often among the rest.
 * - The deadline covers attempts and waits. A wait that would end at or past it is not
 *   taken: the last error surfaces at once. An attempt still running at the deadline is
 *   interrupted and the call fails with `onDeadline(deadline)`.
 * - The budget (if any) receives one deposit per call and is asked before every retry; a
 *   refusal surfaces the last error at once, without waiting.
 * - `onRetry` sees each retry before its wait. Without one, each retry is logged at
 *   effect-grok's log level (`Logging`, Debug by default).
 * - Defects and interruptions are never retried.
 *
 * A per-attempt timeout belongs inside `self` (e.g. `Effect.timeoutFail`), so each attempt
 * gets its own.
 *
 * @since 0.1.0
 */
export const retry: {
  <E extends Retryable, E2 = never>(
    options: RetryOptions<E, E2>
  ): <A, E1 extends E, R>(self: Effect.Effect<A, E1, R>) => Effect.Effect<A, E1 | E2, R>
  <A, E extends Retryable, R, E2 = never>(
    self: Effect.Effect<A, E, R>,
    options: RetryOptions<NoInfer<E>, E2>
  ): Effect.Effect<A, E | E2, R>
} = dual(2, <A, E extends Retryable, R, E2>(
  self: Effect.Effect<A, E, R>,
  options: RetryOptions<E, E2>
): Effect.Effect<A, E | E2, R> => {
  const loop = {
    policy: options.policy,
    budget: options.budget === false ? undefined : options.budget,
    onRetry: options.onRetry,
    onBudgetRefused: options.onBudgetRefused,
    retryAfterCapMillis: Duration.toMillis(options.retryAfterCap ?? defaultRetryAfterCap)
  }
  if (options.deadline === undefined) return retryUntil(self, loop, Infinity)
  const deadline = Duration.decode(options.deadline)
  if (!Duration.isFinite(deadline)) return retryUntil(self, loop, Infinity)
  const onDeadline = options.onDeadline
  return Effect.flatMap(Clock.currentTimeMillis, (start) =>
    retryUntil(self, loop, start + Duration.toMillis(deadline)).pipe(
      Effect.timeoutFail({ duration: deadline, onTimeout: () => onDeadline(deadline) })
    ))
})

/**
 * What {@link RetrySettings} holds.
 *
 * @since 0.1.0
 */
export interface Settings {
  readonly policy: RetryPolicy
  /** Covers all attempts and waits of one call. */
  readonly deadline: Duration.Duration
  /** Bounds one attempt (the caller applies it inside the retried effect). */
  readonly attemptTimeout: Duration.Duration
  /**
   * The retry budget: one shared by every call that reads these settings, `false` for none at
   * all, or `undefined` for the caller's own (a `GrokClient` then keeps one for its calls).
   */
  readonly budget: RetryBudget.RetryBudget | false | undefined
  /**
   * The longest Retry-After a call waits for, whatever its policy: a longer one fails the call
   * at once with the server's error (and its `retryAfter`).
   */
  readonly retryAfterCap: Duration.Duration
}

/**
 * The settings used when no {@link layer} is provided: the {@link defaultPolicy}, a
 * 10-minute deadline, 5-minute attempts, a 60-second Retry-After cap, and no shared budget
 * (a budget is state; a default must not share it between unrelated clients, so each
 * `GrokClient` keeps its own). `docs/retry.md` explains each number.
 *
 * @since 0.1.0
 */
export const defaultSettings: Settings = {
  policy: defaultPolicy,
  deadline: Duration.minutes(10),
  attemptTimeout: Duration.minutes(5),
  budget: undefined,
  retryAfterCap: defaultRetryAfterCap
}

/**
 * The retry settings of an app. A `Context.Reference`: reading it without a layer gives
 * {@link defaultSettings}; {@link layer} replaces them for everything it is provided to.
 *
 * @since 0.1.0
 * @category tags
 */
export class RetrySettings extends Context.Reference<RetrySettings>()("effect-grok/RetrySettings", {
  defaultValue: (): Settings => defaultSettings
}) {}

/**
 * Options of {@link layer}; anything left out keeps its default.
 *
 * @since 0.1.0
 */
export interface LayerOptions {
  readonly policy?: RetryPolicy | undefined
  /** Above zero; `Duration.infinity` for none. Default 10 minutes. */
  readonly deadline?: Duration.DurationInput | undefined
  /** Above zero; `Duration.infinity` for none. Default 5 minutes. */
  readonly attemptTimeout?: Duration.DurationInput | undefined
  /** Options of the budget the layer creates and shares, or `false` for none. Default: a budget with its defaults. */
  readonly budget?: RetryBudget.Options | false | undefined
  /** The longest Retry-After waited for, whatever the policy. Above zero. Default 60 seconds. */
  readonly retryAfterCap?: Duration.DurationInput | undefined
}

/**
 * Settings for everything under this layer, with one {@link RetryBudget} shared by all
 * their calls (created when the layer is built).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: LayerOptions = {}): Layer.Layer<RetrySettings, InvalidRetryOptions> =>
  Layer.effect(
    RetrySettings,
    Effect.gen(function*() {
      const deadline = yield* nonZeroDuration("deadline", options.deadline, defaultSettings.deadline)
      const attemptTimeout = yield* nonZeroDuration("attemptTimeout", options.attemptTimeout, defaultSettings.attemptTimeout)
      const retryAfterCap = yield* positiveDuration("retryAfterCap", options.retryAfterCap, defaultSettings.retryAfterCap)
      const budget = options.budget === false
        ? false as const
        : yield* RetryBudget.fromValid(yield* RetryBudget.validate(options.budget))
      return { policy: options.policy ?? defaultSettings.policy, deadline, attemptTimeout, budget, retryAfterCap }
    })
  )

const nonZeroDuration = (option: string, input: Duration.DurationInput | undefined, fallback: Duration.Duration) =>
  Either.flatMap(decodeDuration(option, input, fallback), (duration) =>
    Duration.isZero(duration) ? invalid(option, `must be above zero, got ${show(input)}`) : Either.right(duration))
