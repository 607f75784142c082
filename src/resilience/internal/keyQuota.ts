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
  readonly aimdGrowth: number
}

/**
 * How late a timer may fire, in milliseconds. A paced call may go this much ahead of its slot
 * (the GCRA tolerance), so that a late wake-up is made up for instead of delaying every later
 * call by as much. Absolute, because timer lateness does not grow with the interval; at high
 * rates it is what lets the pacing keep up with millisecond timers.
 */
const timerSlackMillis = 4

/** AIMD never paces below this many requests per second. */
const minimumRate = 0.1

/**
 * The GCRA burst for a request rate: one call at a time, evenly spaced, plus the timer slack.
 * Fractional: `(burst - 1) / rate` is how early a call may go, less than a whole interval
 * unless the interval is shorter than the slack.
 */
export const burstFor = (requestsPerSecond: number): number =>
  requestsPerSecond === Infinity ? 1 : 1 + timerSlackMillis * requestsPerSecond / 1000

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
  /** The adapted rate, `Infinity` until a 429 arrives while no tighter limit is known. */
  private adaptiveRate = Infinity
  /** The rate at which the last 429 happened (CUBIC's W_max). */
  private ceiling = 0
  /** Seconds CUBIC takes to grow back to `ceiling` (its K). */
  private recoverySeconds = 0
  private lastDecreaseAt = -Infinity
  /** Slow start's concurrency window; `Infinity` when slow start is off. */
  private window: number
  /** Smoothed latency of successful calls during slow start, in milliseconds (0: none yet). */
  private latency = 0
  /** The sending rate, measured while the rate is unknown or adapted. */
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

  /** The quota's request rate as configured or announced by the server. */
  private get knownRate(): number {
    return Math.min(this.configured.requestsPerSecond, this.serverRequestsPerSecond)
  }

  /** A call was admitted at `now`. */
  recordAdmission(now: number): void {
    // Paced to a known limit, there is nothing to measure.
    if (this.limits.requestsPerSecond !== Infinity && this.adaptiveRate === Infinity) return
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
   * A call succeeded at `now`. `busy` says whether calls were waiting: only then was the window
   * or the rate what held calls back, and only then is growing it justified (an idle client
   * learns nothing about how much more the server would take).
   */
  succeeded(busy: boolean, admittedAt: number, now: number): void {
    if (this.slowStarting) {
      const sample = Math.max(1, now - admittedAt)
      this.latency = this.latency === 0 ? sample : 0.8 * this.latency + 0.2 * sample
    }
    if (!busy) return
    if (this.slowStarting) {
      this.window++
    } else if (this.adaptiveRate !== Infinity) {
      // CUBIC: back to the ceiling in `recoverySeconds` (slowing down near it), then probing
      // beyond it faster and faster; never more than twice the rate actually sent.
      const t = (now - this.lastDecreaseAt) / 1000 - this.recoverySeconds
      const cubic = this.tuning.aimdGrowth * t * t * t + this.ceiling
      const sent = this.meter?.perSecond(now) ?? Infinity
      const next = Math.min(cubic, 2 * sent)
      if (next > this.adaptiveRate) {
        this.adaptiveRate = next
        this.refresh()
      }
    }
  }

  /**
   * A call admitted at `admittedAt` was refused for rate at `now`. Cuts the rate once per
   * congestion event (calls admitted before the last cut do not cut it again), and answers
   * the pause to take when the server did not say how long: one interval at the new rate.
   */
  rateLimited(admittedAt: number, now: number): number {
    if (admittedAt > this.lastDecreaseAt) {
      const leavingSlowStart = this.slowStarting
      // Cut from what was really sent, when that is less than the pace allowed. Leaving slow
      // start, a full window per round trip is what was sent lately (the meter, averaging over
      // the ramp-up, reads too low).
      const measured = this.meter?.perSecond(now) ?? Infinity
      const sent = leavingSlowStart && this.latency > 0
        ? Math.max(measured === Infinity ? 0 : measured, this.window * 1000 / this.latency)
        : measured
      const current = Math.min(this.limits.requestsPerSecond, sent)
      const base = current === Infinity ? minimumRate : Math.max(minimumRate, current)
      this.adaptiveRate = Math.max(minimumRate, base * this.tuning.aimdDecrease)
      // Slow start's bursts meet a 429 well below the quota as often as above it: there the cut
      // rate is a floor, and the regrowth probes upwards at once instead of levelling off first.
      this.ceiling = leavingSlowStart ? this.adaptiveRate : base
      this.recoverySeconds = Math.cbrt((this.ceiling - this.adaptiveRate) / this.tuning.aimdGrowth)
      this.lastDecreaseAt = now
      this.meter ??= new RateMeter(now)
      this.refresh()
    }
    return Math.ceil(1000 / this.limits.requestsPerSecond)
  }

  private refresh(): void {
    const known = this.knownRate
    // Back to the known limit once the adapted rate has grown past it.
    if (this.adaptiveRate >= known) this.adaptiveRate = Infinity
    if (known !== Infinity && this.adaptiveRate === Infinity) this.meter = undefined
    const requestsPerSecond = Math.min(known, this.adaptiveRate)
    const tokensPerMinute = Math.min(this.configured.tokensPerMinute, this.serverTokensPerMinute)
    if (requestsPerSecond !== this.limits.requestsPerSecond || tokensPerMinute !== this.limits.tokensPerMinute) {
      this.limits = { requestsPerSecond, requestBurst: burstFor(requestsPerSecond), tokensPerMinute }
    }
  }
}

const isLimit = (n: number | undefined): n is number => n !== undefined && n > 0 && Number.isFinite(n)
