/**
 * The {@link AdmissionStore} of one process, in memory. Per key, three timestamps: GCRA's
 * theoretical arrival time for the request rate; the same for the token bucket (the time it is
 * full again, so that its debt is kept as milliseconds of refill); and the cooldown's end. A key
 * whose limits are all infinite and that has no cooldown holds no state at all.
 *
 * A key is evicted once all three times are at least `idleKeyTtlMillis` in the past: its state
 * is then exactly that of a fresh key, so eviction never grants what keeping it would refuse.
 *
 * @internal
 */
import { Duration, Effect, type Scope } from "effect"
import type { AbsorbingStore, Admission, Limits, Spent } from "./admissionStore.js"

export interface MemoryStoreOptions {
  readonly idleKeyTtlMillis: number
}

/** Every operation is synchronous and never fails. */
export interface MemoryStore extends AbsorbingStore {
  readonly tryAdmit: (key: string, tokens: number, limits: Limits) => Effect.Effect<Admission>
  readonly adjustTokens: (key: string, delta: number, limits: Limits) => Effect.Effect<void>
  readonly startCooldown: (key: string, millis: number) => Effect.Effect<void>
  readonly absorb: (key: string, spent: Spent, limits: Limits) => Effect.Effect<void>
  /** Keys currently holding state. */
  readonly size: () => number
  /**
   * Forget the key, answering what its state still holds against the quota (measured with
   * `limits`), or `undefined` when it held nothing: how the fallback hands its local decisions
   * over to the shared store.
   */
  readonly take: (key: string, limits: Limits) => Effect.Effect<Spent | undefined>
}

/** Float slack, so that a call arriving exactly on its slot is not refused by rounding. */
const EPSILON = 1e-6

/** A bucket holds one minute of tokens. */
const bucketMillis = 60_000

const admitted: Admission = { _tag: "Admitted" }

const wait = (millis: number): Admission => ({ _tag: "Wait", retryInMillis: Math.max(1, Math.ceil(millis)) })

class Entry {
  /** When the request schedule is caught up (GCRA's theoretical arrival time). */
  requestsAt = -Infinity
  /** When the token bucket is full again. */
  tokensFullAt = -Infinity
  cooldownUntil = -Infinity

  /** The latest of the three: once that is `ttl` in the past, the key is idle and at rest. */
  get settledAt(): number {
    return Math.max(this.requestsAt, this.tokensFullAt, this.cooldownUntil)
  }
}

/** How far `at` is ahead of `now`, in milliseconds (0 when it has passed). */
const aheadOf = (at: number, now: number): number => (at > now ? at - now : 0)

/*
 * The checks below are on durations relative to `now`, never on `now + interval - now`: at
 * epoch-millisecond magnitudes a double keeps only about 1/4096 ms, so that difference would
 * carry a rounding error larger than EPSILON. As `now` is a whole number of milliseconds, the
 * error would be the same at every `now`, and an idle key would answer "wait 1 ms" forever.
 */
const decide = (entry: Entry, now: number, tokens: number, limits: Limits): Admission => {
  if (entry.cooldownUntil > now) return wait(entry.cooldownUntil - now)
  let waitMillis = 0
  let requestsAt = entry.requestsAt
  let tokensFullAt = entry.tokensFullAt
  if (limits.requestsPerSecond !== Infinity) {
    const interval = 1000 / limits.requestsPerSecond
    const ahead = aheadOf(entry.requestsAt, now)
    requestsAt = Math.max(entry.requestsAt, now) + interval
    // A call may go while the schedule, itself included, is at most `burst` intervals ahead.
    const early = ahead - (Math.max(1, limits.requestBurst) - 1) * interval
    if (early > EPSILON) waitMillis = early
  }
  if (limits.tokensPerMinute !== Infinity) {
    const debt = aheadOf(entry.tokensFullAt, now) + tokens * bucketMillis / limits.tokensPerMinute
    tokensFullAt = Math.max(entry.tokensFullAt, now) + tokens * bucketMillis / limits.tokensPerMinute
    // It fits while the bucket's debt, this call included, is at most one minute of refill.
    const short = debt - bucketMillis
    if (short > EPSILON) waitMillis = Math.max(waitMillis, short)
  }
  if (waitMillis > 0) return wait(waitMillis)
  entry.requestsAt = requestsAt
  entry.tokensFullAt = tokensFullAt
  return admitted
}

/**
 * A store living as long as the scope (a background fiber evicts idle keys every half TTL).
 */
export const make = (options: MemoryStoreOptions): Effect.Effect<MemoryStore, never, Scope.Scope> =>
  Effect.gen(function*() {
    const clock = yield* Effect.clock
    const entries = new Map<string, Entry>()

    const entryOf = (key: string): Entry => {
      let entry = entries.get(key)
      if (entry === undefined) {
        entry = new Entry()
        entries.set(key, entry)
      }
      return entry
    }

    const evictIdle = Effect.sync(() => {
      const idleSince = clock.unsafeCurrentTimeMillis() - options.idleKeyTtlMillis
      for (const [key, entry] of entries) {
        if (entry.settledAt <= idleSince) entries.delete(key)
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
          return decide(entryOf(key), now, tokens, limits)
        }),
      adjustTokens: (key, delta, limits) =>
        Effect.sync(() => {
          if (limits.tokensPerMinute === Infinity || delta === 0 || !Number.isFinite(delta)) return
          // A refund to a key that holds no state would only top up a bucket that is already full.
          if (delta < 0 && !entries.has(key)) return
          const entry = entryOf(key)
          // Any time up to now means full: a refund never fills the bucket beyond one minute's worth.
          entry.tokensFullAt = Math.max(entry.tokensFullAt, clock.unsafeCurrentTimeMillis()) +
            delta * bucketMillis / limits.tokensPerMinute
        }),
      startCooldown: (key, millis) =>
        Effect.sync(() => {
          if (!(millis > 0)) return
          const entry = entryOf(key)
          entry.cooldownUntil = Math.max(entry.cooldownUntil, clock.unsafeCurrentTimeMillis() + millis)
        }),
      absorb: (key, spent, limits) =>
        Effect.sync(() => {
          const now = clock.unsafeCurrentTimeMillis()
          if (spent.cooldownMillis > 0) {
            const entry = entryOf(key)
            entry.cooldownUntil = Math.max(entry.cooldownUntil, now + spent.cooldownMillis)
          }
          if (spent.requests > 0 && limits.requestsPerSecond !== Infinity) {
            const entry = entryOf(key)
            entry.requestsAt = Math.max(entry.requestsAt, now) + spent.requests * 1000 / limits.requestsPerSecond
          }
          if (spent.tokens > 0 && limits.tokensPerMinute !== Infinity) {
            const entry = entryOf(key)
            entry.tokensFullAt = Math.max(entry.tokensFullAt, now) + spent.tokens * bucketMillis / limits.tokensPerMinute
          }
        }),
      take: (key, limits) =>
        Effect.sync(() => {
          const entry = entries.get(key)
          if (entry === undefined) return undefined
          entries.delete(key)
          const now = clock.unsafeCurrentTimeMillis()
          const spent: Spent = {
            cooldownMillis: aheadOf(entry.cooldownUntil, now),
            requests: limits.requestsPerSecond === Infinity
              ? 0
              : aheadOf(entry.requestsAt, now) * limits.requestsPerSecond / 1000,
            tokens: limits.tokensPerMinute === Infinity
              ? 0
              : aheadOf(entry.tokensFullAt, now) * limits.tokensPerMinute / bucketMillis
          }
          return spent.cooldownMillis > 0 || spent.requests > 0 || spent.tokens > 0 ? spent : undefined
        }),
      size: () => entries.size
    }
  })

const halfOf = (millis: number): Duration.Duration => Duration.millis(Math.max(1, Math.floor(millis / 2)))
