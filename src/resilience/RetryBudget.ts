/**
 * A retry budget: the bound that stops retries from multiplying load during an outage.
 *
 * A per-call limit (`maxRetries`) still lets every call retry, so a full outage turns N
 * requests into N * (1 + maxRetries) attempts, just when the server can least take them. A
 * budget shared by all calls of a client bounds retries to a fraction of requests instead
 * (Finagle's RetryBudget; gRPC retry throttling and the AWS SDK retry quota are variants):
 *
 * - every request deposits `ratio` tokens (default 0.1), up to `maxTokens` (default 100);
 * - every retry withdraws one token, and is refused when fewer than one is left;
 * - the bucket starts with `initialTokens` (default 10), so a cold client can still retry.
 *
 * Over N requests at most `initialTokens + ratio * N` retries happen: 1,000 requests into
 * a dead server cost at most 1,110 attempts (1.11 per request) rather than 4,000.
 *
 * Provider-agnostic: nothing here knows about Grok or HTTP.
 *
 * @since 0.1.0
 */
import { Effect, Either, Ref } from "effect"
import { invalid, type InvalidRetryOptions, orThrow, show } from "./internal/retryValidation.js"

/**
 * A budget shared by the calls of one client (or one app: share it through `RetrySettings`).
 * Safe to use from any number of fibers at once.
 *
 * @since 0.1.0
 */
export interface RetryBudget {
  /** Record a request (its first attempt): adds `ratio` tokens, up to `maxTokens`. */
  readonly deposit: Effect.Effect<void>
  /** Ask for one retry: takes a token and answers `true`, or answers `false` when fewer than one is left. */
  readonly tryWithdraw: Effect.Effect<boolean>
  /** Tokens left: a gauge for metrics (below 1, retries are refused). */
  readonly level: Effect.Effect<number>
}

/**
 * @since 0.1.0
 */
export interface Options {
  /** Tokens each request deposits: the steady-state share of requests that may be retried. Above 0. Default 0.1. */
  readonly ratio?: number | undefined
  /** The most tokens the bucket holds: the largest burst of retries after a quiet period. At least 1. Default 100. */
  readonly maxTokens?: number | undefined
  /** Tokens at creation, from 0 to `maxTokens`. Default 10. */
  readonly initialTokens?: number | undefined
}

/** @since 0.1.0 */
export interface ValidOptions {
  readonly ratio: number
  readonly maxTokens: number
  readonly initialTokens: number
}

/**
 * @since 0.1.0
 */
export const defaults: ValidOptions = { ratio: 0.1, maxTokens: 100, initialTokens: 10 }

/**
 * Check options without building anything: the typed path for options from configuration.
 *
 * @since 0.1.0
 */
export const validate = (options: Options = {}): Either.Either<ValidOptions, InvalidRetryOptions> => {
  const ratio = options.ratio ?? defaults.ratio
  const maxTokens = options.maxTokens ?? defaults.maxTokens
  const initialTokens = options.initialTokens ?? Math.min(defaults.initialTokens, maxTokens)
  if (!Number.isFinite(ratio) || ratio <= 0) {
    return invalid("ratio", `must be a finite number above 0, got ${show(ratio)}`)
  }
  if (!Number.isFinite(maxTokens) || maxTokens < 1) {
    return invalid("maxTokens", `must be a finite number >= 1, got ${show(maxTokens)}`)
  }
  if (!Number.isFinite(initialTokens) || initialTokens < 0 || initialTokens > maxTokens) {
    return invalid("initialTokens", `must be between 0 and maxTokens (${maxTokens}), got ${show(initialTokens)}`)
  }
  return Either.right({ ratio, maxTokens, initialTokens })
}

/**
 * A new budget. Dies with `InvalidRetryOptions` when an option is out of range (use
 * {@link validate} for options that are not literals in code).
 *
 * @since 0.1.0
 */
export const make = (options?: Options): Effect.Effect<RetryBudget> =>
  Effect.suspend(() => fromValid(orThrow(validate(options))))

/**
 * A new budget from options already validated.
 *
 * @since 0.1.0
 */
export const fromValid = (options: ValidOptions): Effect.Effect<RetryBudget> =>
  Effect.map(Ref.make(options.initialTokens), (tokens) => ({
    deposit: Ref.update(tokens, (level) => Math.min(options.maxTokens, level + options.ratio)),
    tryWithdraw: Ref.modify(tokens, (level) => level >= 1 - epsilon ? [true, Math.max(0, level - 1)] : [false, level]),
    level: Ref.get(tokens)
  }))

// Ten deposits of 0.1 sum to 0.9999999999999999: forgive float rounding so they buy one retry.
const epsilon = 1e-9
