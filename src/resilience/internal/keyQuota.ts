/**
 * What the limiter knows of one key's quota, and how that knowledge changes: limits learned
 * from response headers, slow start while the request rate is unknown, and AIMD after a 429.
 * Plain synchronous state; the engine decides when to consult it and what to do with it.
 *
 * @internal
 */
import type { RateLimitInfo } from "../RateLimitHeaders.js"
import type { Limits } from "./admissionStore.js"
import type { KeyLimits } from "./limiterOptions.js"

export interface Tuning {
  readonly startSlow: boolean
  readonly share: number
  readonly aimdDecrease: number
  readonly aimdIncrease: number
}

/**
 * How late a timer may fire, in milliseconds. A paced call may go this much (or a quarter
 * interval, whichever is more) ahead of its slot, so that a late wake-up is made up for
 * instead of slowing every later call by as much.
 */
const timerSlackMillis = 4

/** AIMD never paces below this many requests per second. */
const minimumRate = 0.1

/**
 * The GCRA burst for a request rate: 1 (evenly spaced) plus the tolerance for late timers.
 * Fractional: `(burst - 1) / rate` is how early a call may go, never a second whole call.
 */
export const burstFor = (requestsPerSecond: number): number =>
  requestsPerSecond === Infinity ? 1 : 1 + Math.max(0.25, timerSlackMillis * requestsPerSecond / 1000)

/** Admissions per second over about the last second (sliding window of two 1 s buckets). */
class RateMeter {
  private windowStart: number
  private count = 0
  /** The previous full window's count, or -1 before one has passed. */
  private previous = -1

  constructor(now: number) {
    this.windowStart = now
  }

  record(now: number): void {
    this.roll(now)
    this.count++
  }

  perSecond(now: number): number {
    this.roll(now)
    const elapsed = now - this.windowStart
    // In the first second there is no previous window: average over the time so far (at
    // least 100 ms, so that a handful of simultaneous calls does not read as a huge rate).
    return this.previous < 0
      ? this.count * 1000 / Math.max(elapsed, 100)
      : this.previous * (1000 - elapsed) / 1000 + this.count
  }

  private roll(now: number): void {
    const elapsed = now - this.windowStart
    if (elapsed < 1000) return
    this.previous = elapsed < 2000 ? this.count : 0
    this.count = 0
    this.windowStart = now - elapsed % 1000
  }
}

export class KeyQuota {
  /** What the store is asked to enforce for the key. */
  limits: Limits
  private serverRequestsPerSecond = Infinity
  private serverTokensPerMinute = Infinity
  /** The AIMD rate, `Infinity` until a 429 without a known tighter limit. */
  private adaptiveRate = Infinity
  /** The rate at which the last 429 happened: the increase is a fraction of it. */
  private adaptiveCeiling = 0
  private lastDecreaseAt = -Infinity
  /** Slow start's concurrency window; `Infinity` when slow start is off. */
  private window: number
  /** Measures the sending rate while it is unpaced, so a first 429 knows where to cut from. */
  private meter: RateMeter | undefined = undefined

  constructor(readonly configured: KeyLimits, private readonly tuning: Tuning) {
    this.window = tuning.startSlow ? 1 : Infinity
    this.limits = {
      requestsPerSecond: configured.requestsPerSecond,
      requestBurst: burstFor(configured.requestsPerSecond),
      tokensPerMinute: configured.tokensPerMinute
    }
  }

  /** Calls allowed in flight at once: the configured cap, and slow start's window while it lasts. */
  get maxConcurrency(): number {
    return this.slowStarting ? Math.min(this.configured.maxConcurrency, this.window) : this.configured.maxConcurrency
  }

  /** Slow start lasts while the request rate is unknown: no configured, learned or adapted rate. */
  private get slowStarting(): boolean {
    return this.window !== Infinity && this.limits.requestsPerSecond === Infinity
  }

  /** A call was admitted at `now`. */
  recordAdmission(now: number): void {
    if (this.limits.requestsPerSecond !== Infinity) return
    this.meter ??= new RateMeter(now)
    this.meter.record(now)
  }

  /**
   * Learn the limits a response's headers announce (per minute, by convention). The latest
   * answer wins: a server may raise or lower a quota.
   */
  learn(info: RateLimitInfo | undefined): void {
    if (info === undefined) return
    const requests = info.requests.limit
    const tokens = info.tokens.limit
    if (isLimit(requests)) this.serverRequestsPerSecond = requests / 60 * this.tuning.share
    if (isLimit(tokens)) this.serverTokensPerMinute = tokens * this.tuning.share
    if (isLimit(requests) || isLimit(tokens)) this.refresh()
  }

  /**
   * A call succeeded. `busy` says whether calls were waiting: only then was the window or
   * the rate what held calls back, and only then is growing it justified (an idle client
   * learns nothing about how much more the server would take).
   */
  succeeded(busy: boolean): void {
    if (!busy) return
    if (this.slowStarting) {
      this.window++
    } else if (this.adaptiveRate !== Infinity) {
      // Additive increase: per second of successes (about `rate` of them), `increase` of the ceiling.
      this.adaptiveRate += this.tuning.aimdIncrease * this.adaptiveCeiling / this.adaptiveRate
      this.refresh()
    }
  }

  /**
   * A call admitted at `admittedAt` was refused for rate at `now`. Cuts the rate once per
   * congestion event (calls admitted before the last cut do not cut it again), and answers
   * the pause to take when the server did not say how long: one interval at the new rate.
   */
  rateLimited(admittedAt: number, now: number): number {
    if (admittedAt > this.lastDecreaseAt) {
      const measured = this.meter?.perSecond(now) ?? Infinity
      const current = Math.min(this.limits.requestsPerSecond, measured)
      const base = current === Infinity ? minimumRate : current
      this.adaptiveCeiling = base
      this.adaptiveRate = Math.max(minimumRate, base * this.tuning.aimdDecrease)
      this.lastDecreaseAt = now
      this.meter = undefined
      this.refresh()
    }
    return Math.ceil(1000 / this.limits.requestsPerSecond)
  }

  private refresh(): void {
    const known = Math.min(this.configured.requestsPerSecond, this.serverRequestsPerSecond)
    // Back to the known limit once AIMD has grown past it.
    if (this.adaptiveRate >= known) this.adaptiveRate = Infinity
    const requestsPerSecond = Math.min(known, this.adaptiveRate)
    const tokensPerMinute = Math.min(this.configured.tokensPerMinute, this.serverTokensPerMinute)
    if (requestsPerSecond !== this.limits.requestsPerSecond || tokensPerMinute !== this.limits.tokensPerMinute) {
      this.limits = { requestsPerSecond, requestBurst: burstFor(requestsPerSecond), tokensPerMinute }
    }
  }
}

const isLimit = (n: number | undefined): n is number => n !== undefined && n > 0 && Number.isFinite(n)
