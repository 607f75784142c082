/**
 * The {@link AdmissionStore} of one process, in memory. Per key: one GCRA timestamp for the
 * request rate, a token bucket holding one minute of tokens, and the cooldown's end. A key
 * whose limits are all infinite and that has no cooldown costs nothing.
 *
 * Keys unused for `idleKeyTtlMillis` are evicted once their state is back at rest (pacing
 * caught up, bucket full, no cooldown): a missing key then means exactly what an idle one
 * did, so eviction never grants a burst that keeping the key would have refused.
 *
 * @internal
 */
import { Duration, Effect, type Scope } from "effect"
import type { Admission, AdmissionStore, Limits } from "./admissionStore.js"

export interface MemoryStoreOptions {
  readonly idleKeyTtlMillis: number
}

export interface MemoryStore extends AdmissionStore {
  /** Keys currently holding state. */
  readonly size: () => number
}

/** Float slack, so that a call arriving exactly on its slot is not refused by rounding. */
const EPSILON = 1e-6

const admitted: Admission = { _tag: "Admitted" }

const wait = (millis: number): Admission => ({ _tag: "Wait", retryInMillis: Math.max(1, Math.ceil(millis)) })

class Entry {
  /** GCRA theoretical arrival time: when the key's request schedule is caught up. */
  tat = -Infinity
  /** Bucket level; meaningful only once `capacity` is finite. */
  tokens = 0
  tokensAt = 0
  /** Tokens per minute the bucket was last used with; `Infinity` before it ever was. */
  capacity = Infinity
  cooldownUntil = -Infinity
  lastUsed: number

  constructor(now: number) {
    this.lastUsed = now
  }

  /** Refill the bucket to `now` at `tokensPerMinute` (a new bucket starts full). */
  refill(now: number, tokensPerMinute: number): void {
    this.tokens = this.capacity === Infinity
      ? tokensPerMinute
      : Math.min(tokensPerMinute, this.tokens + Math.max(0, now - this.tokensAt) * tokensPerMinute / 60_000)
    this.capacity = tokensPerMinute
    this.tokensAt = now
  }

  /** Indistinguishable from a fresh entry: evicting it changes nothing. */
  atRest(now: number): boolean {
    return this.tat <= now && this.cooldownUntil <= now &&
      (this.capacity === Infinity ||
        this.tokens + (now - this.tokensAt) * this.capacity / 60_000 >= this.capacity)
  }
}

const decide = (entry: Entry, now: number, tokens: number, limits: Limits): Admission => {
  if (entry.cooldownUntil > now) return wait(entry.cooldownUntil - now)
  let waitMillis = 0
  let tat = 0
  let interval = 0
  if (limits.requestsPerSecond !== Infinity) {
    interval = 1000 / limits.requestsPerSecond
    tat = Math.max(entry.tat, now)
    // GCRA: a call may go when the schedule is at most (burst - 1) intervals ahead of now.
    const early = tat - now - (Math.max(1, limits.requestBurst) - 1) * interval
    if (early > EPSILON) waitMillis = early
  }
  if (limits.tokensPerMinute !== Infinity) {
    entry.refill(now, limits.tokensPerMinute)
    const missing = tokens - entry.tokens
    if (missing > EPSILON) waitMillis = Math.max(waitMillis, missing * 60_000 / limits.tokensPerMinute)
  }
  if (waitMillis > 0) return wait(waitMillis)
  if (interval > 0) entry.tat = tat + interval
  if (limits.tokensPerMinute !== Infinity) entry.tokens -= tokens
  return admitted
}

/**
 * A store living as long as the scope (a background fiber evicts idle keys every half TTL).
 */
export const make = (options: MemoryStoreOptions): Effect.Effect<MemoryStore, never, Scope.Scope> =>
  Effect.gen(function*() {
    const clock = yield* Effect.clock
    const entries = new Map<string, Entry>()

    const entryOf = (key: string, now: number): Entry => {
      let entry = entries.get(key)
      if (entry === undefined) {
        entry = new Entry(now)
        entries.set(key, entry)
      } else {
        entry.lastUsed = now
      }
      return entry
    }

    const evictIdle = Effect.sync(() => {
      const now = clock.unsafeCurrentTimeMillis()
      for (const [key, entry] of entries) {
        if (now - entry.lastUsed >= options.idleKeyTtlMillis && entry.atRest(now)) entries.delete(key)
      }
    })
    yield* Effect.forkScoped(
      Effect.interruptible(Effect.forever(Effect.zipRight(clock.sleep(halfOf(options.idleKeyTtlMillis)), evictIdle)))
    )

    return {
      tryAdmit: (key, tokens, limits) =>
        Effect.sync(() => {
          const now = clock.unsafeCurrentTimeMillis()
          if (limits.requestsPerSecond === Infinity && limits.tokensPerMinute === Infinity && !entries.has(key)) {
            return admitted
          }
          return decide(entryOf(key, now), now, tokens, limits)
        }),
      adjustTokens: (key, delta, limits) =>
        Effect.sync(() => {
          if (limits.tokensPerMinute === Infinity || delta === 0 || !Number.isFinite(delta)) return
          // A refund to a key that holds no state would only top up a bucket that is already full.
          if (delta < 0 && !entries.has(key)) return
          const now = clock.unsafeCurrentTimeMillis()
          const entry = entryOf(key, now)
          entry.refill(now, limits.tokensPerMinute)
          entry.tokens = Math.min(limits.tokensPerMinute, entry.tokens - delta)
        }),
      startCooldown: (key, millis) =>
        Effect.sync(() => {
          if (!(millis > 0)) return
          const now = clock.unsafeCurrentTimeMillis()
          const entry = entryOf(key, now)
          entry.cooldownUntil = Math.max(entry.cooldownUntil, now + millis)
        }),
      size: () => entries.size
    }
  })

const halfOf = (millis: number): Duration.Duration => Duration.millis(Math.max(1, Math.floor(millis / 2)))
