/**
 * What the limiter knows of one key's quota, and how that knowledge changes: limits learned
 * from response headers, slow start while the request rate is unknown, and AIMD after a 429
 * (a multiplicative cut, then CUBIC's regrowth).
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
 * The GCRA burst for a request rate: the configured burst (requests that may go back to back),
 * else one call at a time, evenly spaced, plus the timer slack.
 * Fractional: `(burst - 1) / rate` seconds is how early a call may go, less than a whole
 * interval unless the interval is shorter than the slack.
 */
const burstFor = (requestsPerSecond: number, configuredBurst: number): number =>
  requestsPerSecond === Infinity ? 1 : Math.max(configuredBurst, 1 + timerSlackMillis * requestsPerSecond / 1000)

/** Admissions per second over about the last second (sliding window of two 1 s buckets). */
class RateMeter {
  private windowStart: number
  private count = 0
  /** The previous full window's count, or -1 before one has passed. */
  private previous = -1

  constructor(now: number) {
    this.windowStart = now
  }

  record(now: number, weight: number): void {
    this.roll(now)
    this.count += weight
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

/** Limits a key's configuration asks for, shared by every key configured alike. */
const configuredLimits = new WeakMap<KeyLimits, Limits>()

const limitsOf = (configured: KeyLimits): Limits => {
  let limits = configuredLimits.get(configured)
  if (limits === undefined) {
    limits = {
      requestsPerSecond: configured.requestsPerSecond,
      requestBurst: burstFor(configured.requestsPerSecond, configured.burst),
      tokensPerMinute: configured.tokensPerMinute
    }
    configuredLimits.set(configured, limits)
  }
  return limits
}

/** Where AIMD stands: the adapted rate and how CUBIC regrows it. */
interface Aimd {
  readonly adaptiveRate: number
  readonly ceiling: number
  readonly recoverySeconds: number
  readonly lastDecreaseAt: number
}

const noAimd: Aimd = { adaptiveRate: Infinity, ceiling: 0, recoverySeconds: 0, lastDecreaseAt: -Infinity }

/** What a key learned from its responses; most keys never need it, so it comes on first use. */
class Learned {
  serverRequestsPerSecond = Infinity
  serverTokensPerMinute = Infinity
  /** The adapted rate, `Infinity` until a 429 arrives while no tighter limit is known. */
  adaptiveRate = Infinity
  /** The rate at which the last 429 happened (CUBIC's W_max). */
  ceiling = 0
  /** Seconds CUBIC takes to grow back to `ceiling` (its K). */
  recoverySeconds = 0
  lastDecreaseAt = -Infinity
  /** Smoothed latency of successful calls during slow start, in milliseconds (0: none yet). */
  latency = 0
  /** The sending rate, measured while the rate is unknown or adapted. */
  meter: RateMeter | undefined = undefined
}

export class KeyQuota {
  /** What the store is asked to enforce for the key. */
  limits: Limits
  /** Slow start's concurrency window; `Infinity` when slow start is off. */
  private window: number
  private learned: Learned | undefined = undefined
  /**
   * Where AIMD stood when this process began deciding alone at a share of the quota (Redis
   * unreachable); `undefined` while decisions are shared or the process is alone anyway.
   */
  private aimdBeforeLocal: Aimd | undefined = undefined

  constructor(readonly configured: KeyLimits, private readonly tuning: Tuning) {
    this.window = tuning.startSlow ? 1 : Infinity
    this.limits = limitsOf(configured)
  }

  /** Calls allowed in flight at once: the configured cap, and slow start's window while it lasts. */
  get maxConcurrency(): number {
    return this.slowStarting ? Math.min(this.configured.maxConcurrency, this.window) : this.configured.maxConcurrency
  }

  /** Slow start lasts while the request rate is unknown: no configured, learned or adapted rate. */
  private get slowStarting(): boolean {
    return this.window !== Infinity && this.limits.requestsPerSecond === Infinity
  }

  private get learning(): Learned {
    return this.learned ??= new Learned()
  }

  /**
   * A call was admitted at `now`; `share` is set when this process decided it alone at that share
   * of the quota (while Redis is unreachable). Such a call stands for `1 / share` of the quota's
   * calls, so that the rate measured, cut from and regrown towards stays the quota's.
   *
   * The cuts made while deciding alone are undone when decisions are shared again: they answered
   * the overshoot of processes deciding apart, which the shared limiter ends (and the cooldown
   * the server asked for is handed over to it), not a smaller quota.
   */
  recordAdmission(now: number, share: number | undefined): void {
    if ((share !== undefined) !== (this.aimdBeforeLocal !== undefined)) this.switchDecider(share !== undefined)
    // Paced to a known limit, there is nothing to measure.
    if (this.limits.requestsPerSecond !== Infinity && (this.learned?.adaptiveRate ?? Infinity) === Infinity) return
    const learned = this.learning
    learned.meter ??= new RateMeter(now)
    learned.meter.record(now, share === undefined ? 1 : 1 / share)
  }

  private switchDecider(local: boolean): void {
    const learned = this.learned
    if (local) {
      this.aimdBeforeLocal = learned === undefined
        ? noAimd
        : {
          adaptiveRate: learned.adaptiveRate,
          ceiling: learned.ceiling,
          recoverySeconds: learned.recoverySeconds,
          lastDecreaseAt: learned.lastDecreaseAt
        }
      return
    }
    const before = this.aimdBeforeLocal ?? noAimd
    this.aimdBeforeLocal = undefined
    if (learned === undefined) return
    learned.adaptiveRate = before.adaptiveRate
    learned.ceiling = before.ceiling
    learned.recoverySeconds = before.recoverySeconds
    learned.lastDecreaseAt = before.lastDecreaseAt
    this.refresh(learned)
  }

  /**
   * Learn the limits a response's headers announce (per minute, by convention). The latest
   * answer wins: a server may raise or lower a quota.
   */
  learn(info: RateLimitInfo | undefined): void {
    const requests = info?.requests.limit
    const tokens = info?.tokens.limit
    if (!isLimit(requests) && !isLimit(tokens)) return
    const learned = this.learning
    if (isLimit(requests)) learned.serverRequestsPerSecond = requests / 60 * this.tuning.share
    if (isLimit(tokens)) learned.serverTokensPerMinute = tokens * this.tuning.share
    this.refresh(learned)
  }

  /**
   * A call admitted at `admittedAt` succeeded at `now`. `busy` says whether calls were
   * waiting: only then was the window or the rate what held calls back, and only then is
   * growing it justified (an idle client learns nothing about how much more the server takes).
   */
  succeeded(busy: boolean, admittedAt: number, now: number): void {
    if (this.slowStarting) {
      const learned = this.learning
      const sample = Math.max(1, now - admittedAt)
      learned.latency = learned.latency === 0 ? sample : 0.8 * learned.latency + 0.2 * sample
      if (busy) this.window++
      return
    }
    const learned = this.learned
    if (!busy || learned === undefined || learned.adaptiveRate === Infinity) return
    // CUBIC: back to the ceiling in `recoverySeconds` (slowing down near it), then probing
    // beyond it faster and faster; never more than twice the rate actually sent.
    const t = (now - learned.lastDecreaseAt) / 1000 - learned.recoverySeconds
    const cubic = this.tuning.aimdGrowth * t * t * t + learned.ceiling
    const sent = learned.meter?.perSecond(now) ?? Infinity
    const next = Math.min(cubic, 2 * sent)
    if (next > learned.adaptiveRate) {
      learned.adaptiveRate = next
      this.refresh(learned)
    }
  }

  /**
   * A call admitted at `admittedAt` was refused for rate at `now`. Cuts the rate once per
   * congestion event (calls admitted before the last cut do not cut it again), and answers
   * the pause to take when the server did not say how long: one interval at the new rate.
   *
   * `ambiguous`: the refusal named no limit, neither in its message nor in headers. Ending slow
   * start, such a 429 does not cut below the rate the window was sustaining: it may well have
   * nothing to do with the key's quota, and the few calls slow start sends at first are no
   * measure of it (cutting to 70% of them would crawl for many seconds).
   */
  rateLimited(admittedAt: number, now: number, ambiguous: boolean): number {
    const learned = this.learning
    if (admittedAt > learned.lastDecreaseAt) {
      const leavingSlowStart = this.slowStarting
      // Cut from what was really sent, when that is less than the pace allowed. Leaving slow
      // start, a full window per round trip is what was sent lately (the meter, averaging over
      // the ramp-up, reads too low).
      const measured = learned.meter?.perSecond(now) ?? Infinity
      const sent = leavingSlowStart && learned.latency > 0
        ? Math.max(measured === Infinity ? 0 : measured, this.window * 1000 / learned.latency)
        : measured
      const current = Math.min(this.limits.requestsPerSecond, sent)
      const base = current === Infinity ? minimumRate : Math.max(minimumRate, current)
      const cut = Math.max(minimumRate, base * this.tuning.aimdDecrease)
      // Before any success, this call's own round trip is the only latency there is.
      const windowRate = this.window * 1000 / (learned.latency > 0 ? learned.latency : Math.max(1, now - admittedAt))
      learned.adaptiveRate = ambiguous && leavingSlowStart ? Math.max(cut, windowRate) : cut
      // Slow start's bursts meet a 429 well below the quota as often as above it: there the cut
      // rate is a floor, and the regrowth probes upwards at once instead of levelling off first.
      learned.ceiling = leavingSlowStart ? learned.adaptiveRate : base
      learned.recoverySeconds = Math.cbrt((learned.ceiling - learned.adaptiveRate) / this.tuning.aimdGrowth)
      learned.lastDecreaseAt = now
      learned.meter ??= new RateMeter(now)
      this.refresh(learned)
    }
    return Math.ceil(1000 / this.limits.requestsPerSecond)
  }

  private refresh(learned: Learned): void {
    const known = Math.min(this.configured.requestsPerSecond, learned.serverRequestsPerSecond)
    // Back to the known limit once the adapted rate has grown past it.
    if (learned.adaptiveRate >= known) learned.adaptiveRate = Infinity
    if (known !== Infinity && learned.adaptiveRate === Infinity) learned.meter = undefined
    const requestsPerSecond = Math.min(known, learned.adaptiveRate)
    const tokensPerMinute = Math.min(this.configured.tokensPerMinute, learned.serverTokensPerMinute)
    if (requestsPerSecond !== this.limits.requestsPerSecond || tokensPerMinute !== this.limits.tokensPerMinute) {
      this.limits = { requestsPerSecond, requestBurst: burstFor(requestsPerSecond, this.configured.burst), tokensPerMinute }
    }
  }
}

const isLimit = (n: number | undefined): n is number => n !== undefined && n > 0 && Number.isFinite(n)
