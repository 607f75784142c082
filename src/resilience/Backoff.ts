/**
 * Exponential backoff as a `Schedule`, with the four jitter kinds of the AWS Architecture
 * Blog's "Exponential Backoff And Jitter".
 *
 * The schedule's output is the delay it chose, so it composes with every `Schedule`
 * operator and can be inspected in tests. Randomness comes from Effect's `Random` service:
 * `Effect.withRandom(Random.make(seed))` makes every delay reproducible.
 *
 * Provider-agnostic: nothing here knows about Grok or HTTP.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Either, Random, Schedule, ScheduleDecision, ScheduleInterval } from "effect"
import {
  decodeDuration,
  invalid,
  InvalidRetryOptions,
  orThrow,
  positiveDuration,
  show
} from "./internal/retryValidation.js"

/**
 * How a delay is spread around the exponential curve `ceiling(n) = min(cap, base * factor^n)`
 * (`n` = 0 for the first retry):
 *
 * - `none`: exactly `ceiling(n)`. Clients that failed together retry together.
 * - `full`: uniform in `[0, ceiling(n)]`. The least total work under contention.
 * - `equal`: `ceiling(n) / 2` plus uniform in `[0, ceiling(n) / 2]`: never shorter than half.
 * - `decorrelated`: `min(cap, uniform(base, previous * 3))`, starting from `previous = base`.
 *   Grows from the last delay rather than the attempt number; `factor` does not apply.
 *
 * @since 0.1.0
 */
export type Jitter = "none" | "full" | "equal" | "decorrelated"

/** @since 0.1.0 */
export const jitters: ReadonlyArray<Jitter> = ["none", "full", "equal", "decorrelated"]

/**
 * @since 0.1.0
 */
export interface BackoffOptions {
  /** The first ceiling. Must be more than zero. Default 500 millis. */
  readonly base?: Duration.DurationInput | undefined
  /** Growth per retry. At least 1. Default 2. */
  readonly factor?: number | undefined
  /** No delay is ever longer. Finite, and at least `base`. Default 30 seconds. */
  readonly cap?: Duration.DurationInput | undefined
  /** Default `"full"`. */
  readonly jitter?: Jitter | undefined
}

/**
 * Options after validation, durations decoded.
 *
 * @since 0.1.0
 */
export interface ValidBackoffOptions {
  readonly base: Duration.Duration
  readonly factor: number
  readonly cap: Duration.Duration
  readonly jitter: Jitter
}

/**
 * The defaults: 500 millis base, factor 2, 30 seconds cap, full jitter.
 *
 * @since 0.1.0
 */
export const defaults: ValidBackoffOptions = {
  base: Duration.millis(500),
  factor: 2,
  cap: Duration.seconds(30),
  jitter: "full"
}

/**
 * Raised for out-of-range options by `Backoff`, `RetryPolicy` and `RetryBudget`.
 *
 * @since 0.1.0
 * @category errors
 */
export { InvalidRetryOptions }

/**
 * Check options without building anything: the typed path for options that come from
 * configuration or user input.
 *
 * @since 0.1.0
 */
export const validate = (options: BackoffOptions = {}): Either.Either<ValidBackoffOptions, InvalidRetryOptions> =>
  Either.gen(function*() {
    const base = yield* positiveDuration("base", options.base, defaults.base)
    const cap = yield* decodeDuration("cap", options.cap, defaults.cap)
    const factor = options.factor ?? defaults.factor
    const jitter = options.jitter ?? defaults.jitter
    if (!Number.isFinite(factor) || factor < 1) {
      return yield* invalid("factor", `must be a finite number >= 1, got ${show(factor)}`)
    }
    if (!Duration.isFinite(cap) || Duration.lessThan(cap, base)) {
      return yield* invalid("cap", `must be finite and at least base (${show(base)}), got ${show(options.cap ?? cap)}`)
    }
    if (!jitters.includes(jitter)) {
      return yield* invalid("jitter", `must be one of ${jitters.join(", ")}, got ${show(jitter)}`)
    }
    return { base, factor, cap, jitter }
  })

/**
 * Exponential backoff. The output is the delay chosen for the coming retry.
 *
 * Throws {@link InvalidRetryOptions} when an option is out of range (use {@link validate}
 * for options that are not literals in code).
 *
 * @example
 * ```ts
 * import { Effect, Random } from "effect"
 * import * as Backoff from "effect-grok/resilience/Backoff"
 *
 * const schedule = Backoff.exponential({ base: "100 millis", cap: "5 seconds", jitter: "decorrelated" })
 * // deterministic in tests
 * const program = Effect.retry(Effect.fail("boom"), schedule).pipe(Effect.withRandom(Random.make(42)))
 * ```
 *
 * @since 0.1.0
 */
export const exponential = (options?: BackoffOptions): Schedule.Schedule<Duration.Duration, unknown> =>
  fromValid(orThrow(validate(options)))

/**
 * The backoff for options already validated.
 *
 * @since 0.1.0
 */
export const fromValid = (options: ValidBackoffOptions): Schedule.Schedule<Duration.Duration, unknown> => {
  const base = Duration.toMillis(options.base)
  const cap = Duration.toMillis(options.cap)
  const next = nextDelay(options.jitter, base, options.factor, cap)
  return Schedule.makeWithState<BackoffState, unknown, Duration.Duration>(
    { attempt: 0, previousMillis: base },
    (now, _input, state) =>
      Effect.map(next(state), (delayMillis) =>
        [
          { attempt: state.attempt + 1, previousMillis: delayMillis },
          Duration.millis(delayMillis),
          ScheduleDecision.continueWith(ScheduleInterval.after(now + delayMillis))
        ] as const)
  )
}

interface BackoffState {
  /** Retries scheduled so far: the `n` of `base * factor^n`. */
  readonly attempt: number
  /** The last delay (decorrelated jitter grows from it); `base` before the first. */
  readonly previousMillis: number
}

const nextDelay = (jitter: Jitter, base: number, factor: number, cap: number) => {
  // factor^n overflows to Infinity after enough retries; min() then settles on the cap.
  const ceiling = (attempt: number) => Math.min(cap, base * Math.pow(factor, attempt))
  switch (jitter) {
    case "none":
      return (state: BackoffState) => Effect.succeed(ceiling(state.attempt))
    case "full":
      return (state: BackoffState) => Random.nextRange(0, ceiling(state.attempt))
    case "equal":
      return (state: BackoffState) => {
        const half = ceiling(state.attempt) / 2
        return Effect.map(Random.nextRange(0, half), (spread) => half + spread)
      }
    case "decorrelated":
      return (state: BackoffState) =>
        Effect.map(Random.nextRange(base, state.previousMillis * 3), (delay) => Math.min(cap, delay))
  }
}
