/**
 * Range checks shared by Backoff, RetryPolicy and RetryBudget.
 *
 * @internal
 */
import { Data, Duration, Either, Option } from "effect"

/**
 * Options for a backoff, a retry policy or a retry budget were out of range. `option` names
 * the offending field; `message` says what was expected and what was given.
 *
 * The constructors (`Backoff.exponential`, `RetryPolicy.make`, `RetryBudget.make`) treat this
 * as a defect: they are meant for options written in code. Options read from configuration
 * go through the modules' `validate` functions first, which return it as a typed error.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidRetryOptions extends Data.TaggedError("InvalidRetryOptions")<{
  readonly option: string
  readonly message: string
}> {}

export const invalid = (option: string, problem: string): Either.Either<never, InvalidRetryOptions> =>
  Either.left(new InvalidRetryOptions({ option, message: `${option}: ${problem}` }))

/** Decode an optional duration option, falling back to its default. */
export const decodeDuration = (
  option: string,
  input: Duration.DurationInput | undefined,
  fallback: Duration.Duration
): Either.Either<Duration.Duration, InvalidRetryOptions> =>
  input === undefined
    ? Either.right(fallback)
    : Option.match(Duration.decodeUnknown(input), {
      onNone: () => invalid(option, `not a duration: ${show(input)}`),
      onSome: Either.right
    })

/** A finite duration above zero. */
export const positiveDuration = (
  option: string,
  input: Duration.DurationInput | undefined,
  fallback: Duration.Duration
): Either.Either<Duration.Duration, InvalidRetryOptions> =>
  Either.flatMap(decodeDuration(option, input, fallback), (duration) =>
    Duration.isZero(duration) || !Duration.isFinite(duration)
      ? invalid(option, `must be a finite duration above zero, got ${show(input ?? duration)}`)
      : Either.right(duration))

/** Unwrap validated options in a constructor meant for literals: a bad literal is a defect. */
export const orThrow = <A>(result: Either.Either<A, InvalidRetryOptions>): A =>
  Either.getOrThrowWith(result, (error) => error)

/** How a rejected option is quoted in a message. */
export const show = (input: unknown): string =>
  Duration.isDuration(input) ? Duration.format(input) : typeof input === "string" ? JSON.stringify(input) : String(input)
