/**
 * The rate limiter every Grok call and every retry passes through.
 *
 * A call asks for a {@link Permit} with a {@link Ticket} (which key, how many tokens it
 * expects to use, how urgent it is). The limiter decides when it may go: it paces calls
 * evenly (GCRA-like), caps concurrency per key, queues by priority, and sheds or rejects
 * with a typed {@link RateLimiterRejected} when its queue bounds are reached. When the
 * call ends, the permit is released with what the server said ({@link Outcome}): rate-limit
 * headers teach the limiter the real quota, `usage` reconciles the token estimate, and a
 * 429 starts one cooldown shared by every caller of the key.
 *
 * This module holds only the interface and the shared vocabulary. Implementations:
 * `RateLimiterMemory` (default, in process), `RateLimiterRedis` (a fleet of processes),
 * and {@link layerUnlimited} here.
 *
 * Provider-agnostic: nothing here knows about Grok.
 *
 * @since 0.1.0
 */
import { Cause, Context, Data, Duration, Effect, Exit, Layer } from "effect"
import type { RateLimitInfo } from "./RateLimitHeaders.js"

/**
 * How urgent a call is. Under pressure `critical` goes first and `background` is shed first.
 *
 * @since 0.1.0
 */
export type Priority = "critical" | "normal" | "background"

/** @since 0.1.0 */
export const priorities: ReadonlyArray<Priority> = ["critical", "normal", "background"]

/**
 * What a call asks of the limiter.
 *
 * @since 0.1.0
 */
export interface Ticket {
  /**
   * The limit key: callers with the same key share one quota. `GrokClient` uses a hash of
   * the API key plus the model, never the raw key.
   */
  readonly key: string
  /** Estimated tokens (prompt + max completion); reconciled on release from `usage`. */
  readonly tokens: number
  readonly priority: Priority
  /**
   * When the caller gives up waiting, in epoch milliseconds of the limiter's `Clock` (absent
   * or `Infinity`: only the limiter's `maxWait` bounds the wait). A call that cannot be
   * admitted by then fails with reason `deadline`, at once when that is already known.
   */
  readonly deadline?: number | undefined
}

/**
 * What happened to the call that held a permit. Every field is optional: a transport
 * failure has no status and no headers.
 *
 * @since 0.1.0
 */
export interface Outcome {
  /** HTTP status, or `null` when no response arrived (transport failure, timeout). */
  readonly status: number | null
  /** Rate-limit headers as parsed by `RateLimitHeaders.parse`. */
  readonly rateLimit?: RateLimitInfo | undefined
  /** The server's Retry-After (already parsed from any of its forms). */
  readonly retryAfter?: Duration.Duration | undefined
  /** `usage.total_tokens` of a successful response: the real token cost. */
  readonly usedTokens?: number | undefined
  /** True when the server refused the call for rate (a 429 that is not an exhausted quota). */
  readonly rateLimited?: boolean | undefined
  /**
   * Which limit a refusal for rate (`rateLimited`) named, when the server said. A `capacity`
   * refusal (the server is overloaded for everybody) says nothing of the key's quota: the
   * limiter neither pauses the key's other callers nor slows the key down, and only the
   * refused call waits (its Retry-After, through the retry policy). Absent, a refusal is taken
   * as the key's quota (`requests`).
   */
  readonly refusedFor?: RefusalKind | undefined
}

/**
 * Which limit a 429 hit: the key's request or token quota, the server's capacity (overloaded,
 * not this key's doing), or a limit the server did not name.
 *
 * @since 0.1.0
 */
export type RefusalKind = "requests" | "tokens" | "capacity" | "unknown"

/**
 * An outcome for a call that was interrupted or never reached the server: the limiter
 * refunds its token reservation.
 *
 * @since 0.1.0
 */
export const cancelled: Outcome = { status: null, usedTokens: 0 }

/**
 * A granted slot. Release it exactly once; releasing twice is a no-op.
 *
 * @since 0.1.0
 */
export interface Permit {
  /** Time spent waiting in the limiter before the permit was granted. */
  readonly waited: Duration.Duration
  readonly release: (outcome: Outcome) => Effect.Effect<void>
}

/**
 * The limiter refused to admit a call.
 *
 * - `queue-full`: the key's queue already holds `maxQueued` waiting calls.
 * - `queue-timeout`: the call waited longer than `maxWait`.
 * - `deadline`: the call could not be admitted before its ticket's own `deadline`.
 * - `shed`: a lower-priority call was dropped to make room for a higher one.
 * - `unavailable`: the shared store (Redis) could not be reached and the layer is set to fail.
 * - `too-large`: the call's token estimate exceeds the key's whole per-minute token limit.
 *
 * @since 0.1.0
 */
export class RateLimiterRejected extends Data.TaggedError("RateLimiterRejected")<{
  readonly reason: "queue-full" | "queue-timeout" | "deadline" | "shed" | "unavailable" | "too-large"
  readonly key: string
  readonly message: string
  /** How long the call waited in the queue before it was refused (`deadline`, `queue-timeout`). */
  readonly waited?: Duration.Duration | undefined
  /**
   * The wait the limiter predicted from the call's arrival to its slot, when it refused the
   * call because that slot came too late (`deadline`, `queue-timeout`).
   */
  readonly predictedWait?: Duration.Duration | undefined
}> {
  /** Waiting longer or later may help, except for a call larger than the quota. */
  get retryable(): boolean {
    return this.reason !== "too-large"
  }
}

/**
 * A snapshot of one key's state, for metrics, tests and the demo's display.
 *
 * @since 0.1.0
 */
export interface KeyStats {
  readonly key: string
  /** Calls waiting for a permit. */
  readonly queued: number
  /** Permits granted and not released. */
  readonly inFlight: number
  /** The request rate currently paced to, per second (`Infinity` when unlimited). */
  readonly requestsPerSecond: number
  /** The token rate currently paced to, per minute (`Infinity` when unknown / unlimited). */
  readonly tokensPerMinute: number
  /** Whether a shared cooldown (after a 429) is in force. */
  readonly coolingDown: boolean
}

/**
 * The service.
 *
 * @since 0.1.0
 */
export interface Service {
  /**
   * Wait for a permit. Interruption-safe: a caller interrupted while waiting, or between
   * grant and release, leaves no reservation behind.
   */
  readonly acquire: (ticket: Ticket) => Effect.Effect<Permit, RateLimiterRejected>
  /** State of a key, for metrics and displays. */
  readonly stats: (key: string) => Effect.Effect<KeyStats>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class RateLimiter extends Context.Tag("effect-grok/RateLimiter")<RateLimiter, Service>() {}

/**
 * Run `effect` holding a permit for `ticket`; the permit is released with `toOutcome` of the
 * effect's exit (interruption releases with {@link cancelled}).
 *
 * @since 0.1.0
 */
export const withPermit = <A, E, R>(
  limiter: Service,
  ticket: Ticket,
  effect: (permit: Permit) => Effect.Effect<A, E, R>,
  toOutcome: (exit: Exit.Exit<A, E>) => Outcome
): Effect.Effect<A, E | RateLimiterRejected, R> =>
  Effect.acquireUseRelease(
    limiter.acquire(ticket),
    effect,
    // An interrupted call's cause is often Sequential(Interrupt, ...): ask Cause, not the tag.
    (permit, exit) => permit.release(Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause) ? cancelled : toOutcome(exit))
  )

/**
 * A limiter that admits everything at once: for tests, or when something else paces calls.
 *
 * @since 0.1.0
 * @category layers
 */
export const unlimited: Service = {
  acquire: () => Effect.succeed({ waited: Duration.zero, release: () => Effect.void }),
  stats: (key) =>
    Effect.succeed({
      key,
      queued: 0,
      inFlight: 0,
      requestsPerSecond: Infinity,
      tokensPerMinute: Infinity,
      coolingDown: false
    })
}

/**
 * @since 0.1.0
 * @category layers
 */
export const layerUnlimited: Layer.Layer<RateLimiter> = Layer.succeed(RateLimiter, unlimited)
