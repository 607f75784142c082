/**
 * docs/retry.md: retrying any effect whose errors say `retryable` / `retryAfter`, app-wide
 * settings as a Layer, per-call overrides, custom policies, options from configuration.
 */
import { Config, Data, Duration, Effect, Layer, Schedule } from "effect"
import * as Backoff from "../../src/resilience/Backoff.js"
import * as RetryBudget from "../../src/resilience/RetryBudget.js"
import * as RetryPolicy from "../../src/resilience/RetryPolicy.js"

// Any error type works: it only needs `retryable` and, optionally, `retryAfter`.
class UpstreamFailed extends Data.TaggedError("UpstreamFailed")<{
  readonly status: number
  readonly retryable: boolean
  readonly retryAfter?: Duration.Duration | undefined
}> {}

class AttemptTimedOut extends Data.TaggedError("AttemptTimedOut")<{ readonly retryable: true }> {}

class DeadlineExceeded extends Data.TaggedError("DeadlineExceeded")<{ readonly after: Duration.Duration }> {}

declare const fetchReport: Effect.Effect<string, UpstreamFailed>

// --- 1. One call: policy, attempt timeout inside, deadline and budget outside ---------------

export const report = (
  budget: RetryBudget.RetryBudget
): Effect.Effect<string, UpstreamFailed | AttemptTimedOut | DeadlineExceeded> =>
  fetchReport.pipe(
    // the attempt timeout goes inside the retried effect, so each attempt gets its own
    Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => new AttemptTimedOut({ retryable: true }) }),
    RetryPolicy.retry({
      policy: RetryPolicy.defaultPolicy,
      deadline: "2 minutes",
      onDeadline: (after) => new DeadlineExceeded({ after }),
      budget,
      onRetry: (event) =>
        Effect.logWarning(`retry ${event.attempt} in ${Duration.format(event.delay)} (${event.reason})`)
    })
  )

// --- 2. App-wide settings as a Layer, read where calls are made ------------------------------

/** What a client does: read the settings once, apply them to every call. */
export const withAppRetries = <A, E extends RetryPolicy.Retryable, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(RetryPolicy.RetrySettings, (settings) =>
    effect.pipe(
      Effect.timeoutFail({ duration: settings.attemptTimeout, onTimeout: () => new AttemptTimedOut({ retryable: true }) }),
      RetryPolicy.retry({
        policy: settings.policy,
        deadline: settings.deadline,
        onDeadline: (after) => new DeadlineExceeded({ after }),
        budget: settings.budget
      })
    ))

/** Patient batch jobs: more retries, decorrelated jitter, a longer deadline, one shared budget. */
export const BatchRetries: Layer.Layer<RetryPolicy.RetrySettings, Backoff.InvalidRetryOptions> = RetryPolicy.layer({
  policy: RetryPolicy.make({ maxRetries: 6, jitter: "decorrelated", cap: "1 minute", retryAfterCap: "2 minutes" }),
  deadline: "30 minutes",
  budget: { ratio: 0.2 },
  retryAfterCap: "2 minutes"
})

export const nightlyReport: Effect.Effect<
  string,
  UpstreamFailed | AttemptTimedOut | DeadlineExceeded | Backoff.InvalidRetryOptions
> = withAppRetries(fetchReport).pipe(Effect.provide(BatchRetries))

// --- 3. Per-call override: the app's settings with one field replaced -------------------------

/** An interactive request: fail fast rather than keep a user waiting. */
export const interactive = <A, E extends RetryPolicy.Retryable, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(RetryPolicy.RetrySettings, (settings) =>
    RetryPolicy.retry(effect, {
      ...settings,
      policy: RetryPolicy.make({ maxRetries: 1, cap: "2 seconds", retryAfterCap: "5 seconds" }),
      deadline: Duration.seconds(10),
      onDeadline: (after) => new DeadlineExceeded({ after })
    }))

// --- 4. Custom policies from the combinators and plain Schedule operators --------------------

/** Per-error rules: never retry a 409, and give up after 45 seconds of retrying. */
export const careful: RetryPolicy.RetryPolicy<UpstreamFailed> = Backoff.exponential({ base: "250 millis", jitter: "equal" })
  .pipe(
    RetryPolicy.retryAfterFloor, // after the jitter: jitter never pulls a wait below Retry-After
    RetryPolicy.whileRetryable,
    RetryPolicy.retryAfterCap("90 seconds"),
    Schedule.whileInput((error: UpstreamFailed) => error.status !== 409),
    Schedule.upTo("45 seconds"),
    RetryPolicy.maxRetries(8)
  )

/** A constant pace for a polling job, still honouring the server's Retry-After. */
export const steady = Schedule.spaced("5 seconds").pipe(
  RetryPolicy.retryAfterFloor,
  RetryPolicy.whileRetryable,
  RetryPolicy.retryAfterCap(),
  RetryPolicy.maxRetries(10)
)

// --- 5. Options from configuration: a typed error at start-up, never a crash ------------------

export const policyFromConfig = Effect.gen(function*() {
  const maxRetries = yield* Config.integer("RETRY_MAX").pipe(Config.withDefault(3))
  const base = yield* Config.duration("RETRY_BASE").pipe(Config.withDefault(Duration.millis(500)))
  // InvalidRetryOptions (e.g. RETRY_MAX=-1) fails the program with a message naming the option
  const options = yield* RetryPolicy.validate({ maxRetries, base })
  return RetryPolicy.fromValid(options)
})
