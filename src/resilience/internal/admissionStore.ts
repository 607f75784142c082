/**
 * Where the limiter's shared state lives. The engine (queue, priorities, concurrency cap,
 * learning limits from headers, slow start, AIMD) is written once, in process; only the
 * atomic admission decision and the shared cooldown go through a store, so that a fleet of
 * processes can share one quota (Redis) or one process can keep it in memory.
 *
 * One call to `tryAdmit` is one decision: in Redis it is one round trip running one Lua
 * script, which checks the cooldown, the request rate and the token rate, and debits both
 * together, on the store's own clock.
 *
 * @internal
 */
import { Data, type Effect } from "effect"

/** Limits for one key. `Infinity` means no limit of that kind. */
export interface Limits {
  /** Sustained request rate. Calls are spaced 1 / requestsPerSecond apart (GCRA). */
  readonly requestsPerSecond: number
  /**
   * How many requests may go at once above the sustained spacing (GCRA burst, >= 1). May be
   * fractional: the engine adds a few milliseconds of tolerance so timer jitter does not cost a slot.
   */
  readonly requestBurst: number
  /** Sustained token rate (token bucket refilling continuously, capacity = one minute's worth). */
  readonly tokensPerMinute: number
}

export type Admission =
  | {
    readonly _tag: "Admitted"
    /**
     * Set when the decision was taken by this process alone at `share` of the quota (the
     * fallback while Redis is away): the call stands for `1 / share` of the quota's calls, which
     * is how the engine measures the rate it sends (AIMD cuts from it and regrows to twice it).
     */
    readonly share?: number
  }
  /** Not now: try again in `retryInMillis` (never 0; the store rounds up). */
  | { readonly _tag: "Wait"; readonly retryInMillis: number }

/** The store could not be reached (Redis down, timed out). */
export class StoreUnavailable extends Data.TaggedError("StoreUnavailable")<{
  readonly message: string
  readonly cause?: unknown
  /** No answer came in time (a hang), rather than a refusal or an error. */
  readonly timedOut?: boolean
}> {}

export interface AdmissionStore {
  /**
   * Atomically: if a cooldown is in force, answer `Wait` until it ends; else if one request
   * costing `tokens` fits both the request rate and the token rate, debit both and answer
   * `Admitted`; else answer `Wait` with the time until it would fit. Never debits on `Wait`.
   */
  readonly tryAdmit: (key: string, tokens: number, limits: Limits) => Effect.Effect<Admission, StoreUnavailable>
  /** Debit (`delta > 0`) or refund (`delta < 0`) tokens after the response's usage is known. */
  readonly adjustTokens: (key: string, delta: number, limits: Limits) => Effect.Effect<void, StoreUnavailable>
  /** Start (or extend, never shorten) the cooldown every caller of `key` observes. */
  readonly startCooldown: (key: string, millis: number) => Effect.Effect<void, StoreUnavailable>
}

/**
 * What one process took of a key's quota while it decided alone, and the quota has not yet
 * made up for: handed to the shared store when it is reachable again, so that decisions taken
 * apart are counted together.
 */
export interface Spent {
  /** The cooldown still to run. */
  readonly cooldownMillis: number
  /** Calls admitted ahead of the steady rate (the request schedule's lead, in calls). */
  readonly requests: number
  /** Tokens the bucket has yet to refill. */
  readonly tokens: number
}

/** A store that can count, at once, what was spent elsewhere. */
export interface AbsorbingStore extends AdmissionStore {
  /**
   * Add `spent` to the key's state as if those calls had been admitted here: the cooldown is
   * extended (never shortened), the request schedule and the token bucket are debited.
   */
  readonly absorb: (key: string, spent: Spent, limits: Limits) => Effect.Effect<void, StoreUnavailable>
}
