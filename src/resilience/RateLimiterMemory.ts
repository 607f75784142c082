/**
 * The default {@link RateLimiter}: one process, its state in memory.
 *
 * Every key (`Ticket.key`: callers with the same key share one quota) gets:
 *
 * - **pacing**: calls are spaced `1 / rate` apart (GCRA), never a minute's quota at once;
 *   tokens are drawn from a bucket holding one minute's worth;
 * - **limits from configuration and from the server**: `x-ratelimit-limit-requests` /
 *   `-tokens` on a response (per minute) teach the key its quota; the tighter of what is
 *   configured and what the server says wins;
 * - **slow start**: while a key's request rate is unknown, one call goes first, then as many
 *   at once as have succeeded (1, 2, 4, ... like TCP), instead of a flood;
 * - **one shared cooldown after a 429** until `Retry-After` (or the exhausted window's reset,
 *   also when it only says to the millisecond what a whole-second `Retry-After` rounds up),
 *   then paced again, one by one;
 * - **AIMD** when the server says nothing: the request rate is cut to 70% on a 429 and grows
 *   back (along CUBIC's curve) while calls succeed, so an unknown quota is still used well;
 * - **"at capacity" is not a quota**: a 429 whose `Outcome.refusedFor` is `"capacity"` (the
 *   server overloaded for everybody) neither pauses the key nor cuts its rate; only the refused
 *   call waits, as its retry policy says. A 429 naming no limit at all ends slow start at the
 *   rate the window was sustaining, not at 70% of the few calls sent so far;
 * - **token reconciliation**: the ticket's estimate is debited at admission and corrected with
 *   the response's real usage on release (a cancelled call is refunded);
 * - **priorities and bounds**: per key a bounded queue, `critical` before `normal` before
 *   `background`, background shed first, a maximum wait, a concurrency cap.
 *
 * `RateLimiterRedis` runs the same engine over a shared store; the options below mean the same
 * there.
 *
 * @since 0.1.0
 */
import { type Duration, Effect, Either, Layer, type Scope } from "effect"
import { makeEngine } from "./internal/limiterEngine.js"
import { type InvalidLimiterOptions, resolveOptions } from "./internal/limiterOptions.js"
import * as MemoryStore from "./internal/memoryStore.js"
import { RateLimiter, type Service } from "./RateLimiter.js"

export {
  /**
   * An option was out of range: `option` names it, `message` says what was expected.
   *
   * @since 0.1.0
   * @category errors
   */
  InvalidLimiterOptions
} from "./internal/limiterOptions.js"

/**
 * The quota of one key, as configured. Leave a field out to not limit that dimension. When
 * the server's headers also announce a limit, the tighter one wins.
 *
 * @since 0.1.0
 */
export interface ConfiguredLimits {
  /** Requests per second (> 0). */
  readonly requestsPerSecond?: number | undefined
  /** Requests per minute (> 0); paced evenly as `requestsPerMinute / 60` per second. */
  readonly requestsPerMinute?: number | undefined
  /** Tokens per minute (> 0). A ticket estimating more than this is rejected as `too-large`. */
  readonly tokensPerMinute?: number | undefined
  /**
   * Requests that may go back to back before the even pace sets in (a whole number >= 1),
   * as the server's own bucket allows. Default 1: evenly spaced from the first call.
   */
  readonly burst?: number | undefined
  /** Calls of the key in flight at once (an integer >= 1): the bulkhead. */
  readonly maxConcurrency?: number | undefined
}

/**
 * How the request rate adapts to 429s when the server does not say its quota: a multiplicative
 * decrease, then regrowth along CUBIC's curve, as in the AWS SDK's adaptive retry mode. After a
 * 429 at rate `W`, the rate is `decrease * W`, grows back to `W` in `cbrt(W * (1 - decrease) /
 * growth)` seconds (slowing down as it nears `W`), then probes beyond `W`, faster and faster,
 * until the next 429. It grows only while calls are waiting, never beyond twice the rate
 * actually sent, nor beyond a known limit.
 *
 * @since 0.1.0
 */
export interface AimdOptions {
  /** The rate is multiplied by this on a 429 (0 < decrease < 1). Default 0.7. */
  readonly decrease?: number | undefined
  /** CUBIC's scaling constant `C` (> 0): higher regrows faster. Default 0.4 (20 req/s regrows from 14 in ~2.5 s). */
  readonly growth?: number | undefined
}

/**
 * Options of the limiter engine, shared by every store (memory, Redis).
 *
 * @since 0.1.0
 */
export interface LimiterOptions {
  /**
   * Limits applied to every key, or a function giving each key its own (read when a key is
   * first seen, and again after it was evicted for idleness; `undefined` = no limit).
   */
  readonly limits?: ConfiguredLimits | ((key: string) => ConfiguredLimits | undefined) | undefined
  /** Calls waiting per key (an integer >= 0). Beyond it: `queue-full`, or a lower priority is shed. Default 10,000. */
  readonly maxQueued?: number | undefined
  /** The longest a call waits for a permit before `queue-timeout` (>= 0, may be infinite). Default 60 seconds. */
  readonly maxWait?: Duration.DurationInput | undefined
  /** Slow start while a key's request rate is unknown. Default true. */
  readonly startSlow?: boolean | undefined
  /** A key unused this long forgets its state (learned limits included). Default 10 minutes. */
  readonly idleKeyTtl?: Duration.DurationInput | undefined
  /** The fraction of every quota (configured or learned) this process may use (0 < share <= 1). Default 1. */
  readonly share?: number | undefined
  readonly aimd?: AimdOptions | undefined
}

/**
 * Options of the in-memory limiter: the engine's, nothing more.
 *
 * @since 0.1.0
 */
export type MemoryOptions = LimiterOptions

/**
 * Check options without building anything: what `make` and `layer` fail with.
 *
 * @since 0.1.0
 */
export const validate = (options: LimiterOptions): Either.Either<LimiterOptions, InvalidLimiterOptions> =>
  Either.map(resolveOptions(options), () => options)

/**
 * An in-memory limiter living as long as the scope: closing it fails the calls still queued
 * (`unavailable`) and stops its background work.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: MemoryOptions = {}): Effect.Effect<Service, InvalidLimiterOptions, Scope.Scope> =>
  Effect.flatMap(resolveOptions(options), (resolved) =>
    Effect.flatMap(
      MemoryStore.make({ idleKeyTtlMillis: resolved.idleKeyTtlMillis }),
      (store) => makeEngine(options, store)
    ))

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: MemoryOptions = {}): Layer.Layer<RateLimiter, InvalidLimiterOptions> =>
  Layer.scoped(RateLimiter, make(options))
