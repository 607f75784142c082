/**
 * Alerts on Grok traffic: declarative rules evaluated on a schedule against the metric
 * registry, with a handler for notifications, de-duplication and a cooldown.
 *
 * ```ts
 * const alerts = Alerts.layer({
 *   rules: [
 *     Alerts.errorRate({ above: 0.2, window: "5 minutes", minRequests: 20 }),
 *     Alerts.rateLimitedRate({ above: 0.1 }),
 *     Alerts.latencyP95({ above: "8 seconds" }),
 *     Alerts.tokenBurn({ budget: 5_000_000, per: "1 day", window: "1 hour" }),
 *     Alerts.retryBudgetExhausted()
 *   ],
 *   onAlert: (alert) => notifySlack(alert.message)
 * })
 * ```
 *
 * How it works. Every `interval` (Clock-driven, so a `TestClock` drives it in tests) the
 * service reads the registry once and keeps the cumulative totals; a rule looks at what
 * changed over its window. The calls themselves do nothing extra: they update their
 * metrics, as they do anyway.
 *
 * - A rule **holds** when its condition is true over its window (and the window saw at
 *   least `minRequests` calls, so one failure among three calls is not a 33% error rate).
 * - It **fires** once it has held for `for` (default 0: at the first evaluation that sees it).
 * - **De-duplication**: a firing rule is notified once; it is notified again only after it
 *   has stopped holding and fires anew.
 * - **Cooldown**: a rule is never notified twice within `cooldown` (default 5 minutes); a
 *   rule that fires again sooner is notified when the cooldown ends, if it still holds.
 *
 * The registry is process-wide: rules see every client of the process.
 *
 * @since 0.1.0
 */
import { Clock, Context, Data, Duration, Effect, Either, Layer, Metric, MetricLabel, type Scope } from "effect"
import * as Window from "./internal/window.js"
import * as Metrics from "./Metrics.js"

interface RuleBase {
  /** Names the rule in notifications, in `fired` and on the `effect_grok.alerts` counter. */
  readonly name: string
  /** How long the condition must hold before the rule fires. */
  readonly for: Duration.Duration
}

/**
 * Failed calls over calls finished in `window` is above `above` (0 to 1).
 *
 * @since 0.1.0
 */
export interface ErrorRate extends RuleBase {
  readonly _tag: "ErrorRate"
  readonly above: number
  readonly window: Duration.Duration
  readonly minRequests: number
}

/**
 * Attempts answered 429 over attempts made in `window` is above `above` (0 to 1).
 *
 * @since 0.1.0
 */
export interface RateLimitedRate extends RuleBase {
  readonly _tag: "RateLimitedRate"
  readonly above: number
  readonly window: Duration.Duration
  readonly minAttempts: number
}

/**
 * The 95th percentile of end-to-end call duration in `window` is above `above`. Estimated
 * from `gen_ai.client.operation.duration`'s buckets (linear inside the bucket).
 *
 * @since 0.1.0
 */
export interface LatencyP95 extends RuleBase {
  readonly _tag: "LatencyP95"
  readonly above: Duration.Duration
  readonly window: Duration.Duration
  readonly minRequests: number
}

/**
 * Tokens (`usage.total_tokens`) used in `window`, at that pace, would spend more than
 * `budget` tokens per `per`.
 *
 * @since 0.1.0
 */
export interface TokenBurn extends RuleBase {
  readonly _tag: "TokenBurn"
  readonly budget: number
  readonly per: Duration.Duration
  readonly window: Duration.Duration
}

/**
 * The retry budget holds less than one token: retries are being refused.
 *
 * @since 0.1.0
 */
export interface RetryBudgetExhausted extends RuleBase {
  readonly _tag: "RetryBudgetExhausted"
}

/**
 * @since 0.1.0
 */
export type Rule = ErrorRate | RateLimitedRate | LatencyP95 | TokenBurn | RetryBudgetExhausted

/**
 * One notification.
 *
 * @since 0.1.0
 */
export interface Alert {
  /** The rule's name. */
  readonly rule: string
  /** What happened, for people: the value, the window and the threshold. */
  readonly message: string
  /** When it fired, in `Clock` epoch millis. */
  readonly at: number
  /** The value the rule measured (a rate, seconds, tokens per `per`, budget tokens). */
  readonly value: number
  /** The threshold it crossed, in the same unit. */
  readonly threshold: number
}

/**
 * A rule or an option is out of range.
 *
 * @since 0.1.0
 */
export class InvalidAlertRule extends Data.TaggedError("InvalidAlertRule")<{
  readonly rule: string
  readonly message: string
}> {}

const decode = (input: Duration.DurationInput | undefined, fallback: Duration.Duration): Duration.Duration =>
  input === undefined ? fallback : Duration.decode(input)

const defaultWindow = Duration.minutes(5)

/**
 * Fires when the share of failed calls over `window` (default 5 minutes) is above `above`,
 * once the window holds at least `minRequests` calls (default 20).
 *
 * @since 0.1.0
 */
export const errorRate = (options: {
  readonly above: number
  readonly window?: Duration.DurationInput | undefined
  readonly minRequests?: number | undefined
  readonly for?: Duration.DurationInput | undefined
  readonly name?: string | undefined
}): ErrorRate => ({
  _tag: "ErrorRate",
  name: options.name ?? "error-rate",
  above: options.above,
  window: decode(options.window, defaultWindow),
  minRequests: options.minRequests ?? 20,
  for: decode(options.for, Duration.zero)
})

/**
 * Fires when the share of attempts answered 429 over `window` (default 5 minutes) is above
 * `above`, once the window holds at least `minAttempts` attempts (default 20).
 *
 * @since 0.1.0
 */
export const rateLimitedRate = (options: {
  readonly above: number
  readonly window?: Duration.DurationInput | undefined
  readonly minAttempts?: number | undefined
  readonly for?: Duration.DurationInput | undefined
  readonly name?: string | undefined
}): RateLimitedRate => ({
  _tag: "RateLimitedRate",
  name: options.name ?? "rate-limited-rate",
  above: options.above,
  window: decode(options.window, defaultWindow),
  minAttempts: options.minAttempts ?? 20,
  for: decode(options.for, Duration.zero)
})

/**
 * Fires when the p95 of end-to-end call duration over `window` (default 5 minutes) is above
 * `above`, once the window holds at least `minRequests` calls (default 20).
 *
 * @since 0.1.0
 */
export const latencyP95 = (options: {
  readonly above: Duration.DurationInput
  readonly window?: Duration.DurationInput | undefined
  readonly minRequests?: number | undefined
  readonly for?: Duration.DurationInput | undefined
  readonly name?: string | undefined
}): LatencyP95 => ({
  _tag: "LatencyP95",
  name: options.name ?? "latency-p95",
  above: Duration.decode(options.above),
  window: decode(options.window, defaultWindow),
  minRequests: options.minRequests ?? 20,
  for: decode(options.for, Duration.zero)
})

/**
 * Fires when the tokens used over `window` (default 1 hour), at that pace, would exceed
 * `budget` tokens per `per` (e.g. 5 million per day).
 *
 * @since 0.1.0
 */
export const tokenBurn = (options: {
  readonly budget: number
  readonly per: Duration.DurationInput
  readonly window?: Duration.DurationInput | undefined
  readonly for?: Duration.DurationInput | undefined
  readonly name?: string | undefined
}): TokenBurn => ({
  _tag: "TokenBurn",
  name: options.name ?? "token-burn",
  budget: options.budget,
  per: Duration.decode(options.per),
  window: decode(options.window, Duration.hours(1)),
  for: decode(options.for, Duration.zero)
})

/**
 * Fires when the retry budget has less than one token left (retries are refused).
 *
 * @since 0.1.0
 */
export const retryBudgetExhausted = (options: {
  readonly for?: Duration.DurationInput | undefined
  readonly name?: string | undefined
} = {}): RetryBudgetExhausted => ({
  _tag: "RetryBudgetExhausted",
  name: options.name ?? "retry-budget-exhausted",
  for: decode(options.for, Duration.zero)
})

const positiveDuration = (rule: Rule, field: string, value: Duration.Duration) =>
  Duration.isFinite(value) && Duration.greaterThan(value, Duration.zero)
    ? Either.void
    : Either.left(new InvalidAlertRule({ rule: rule.name, message: `${field} must be a finite duration above zero` }))

const check = (rule: Rule, ok: boolean, message: string) =>
  ok ? Either.void : Either.left(new InvalidAlertRule({ rule: rule.name, message }))

const isRatio = (value: number) => Number.isFinite(value) && value > 0 && value <= 1
const isCount = (value: number) => Number.isInteger(value) && value >= 1

/**
 * Check a rule: rates in (0, 1], counts at least 1, windows and budgets above zero, `for`
 * finite and not negative, a non-empty name.
 *
 * @since 0.1.0
 */
export const validate = (rule: Rule): Either.Either<Rule, InvalidAlertRule> =>
  Either.gen(function*() {
    yield* check(rule, rule.name.trim() !== "", "the name is empty")
    yield* check(rule, Duration.isFinite(rule.for), "for must be finite")
    switch (rule._tag) {
      case "ErrorRate":
        yield* check(rule, isRatio(rule.above), `above must be a rate in (0, 1], got ${rule.above}`)
        yield* check(rule, isCount(rule.minRequests), `minRequests must be an integer >= 1, got ${rule.minRequests}`)
        yield* positiveDuration(rule, "window", rule.window)
        break
      case "RateLimitedRate":
        yield* check(rule, isRatio(rule.above), `above must be a rate in (0, 1], got ${rule.above}`)
        yield* check(rule, isCount(rule.minAttempts), `minAttempts must be an integer >= 1, got ${rule.minAttempts}`)
        yield* positiveDuration(rule, "window", rule.window)
        break
      case "LatencyP95":
        yield* positiveDuration(rule, "above", rule.above)
        yield* check(rule, isCount(rule.minRequests), `minRequests must be an integer >= 1, got ${rule.minRequests}`)
        yield* positiveDuration(rule, "window", rule.window)
        break
      case "TokenBurn":
        yield* check(rule, Number.isFinite(rule.budget) && rule.budget > 0, `budget must be a number above 0, got ${rule.budget}`)
        yield* positiveDuration(rule, "per", rule.per)
        yield* positiveDuration(rule, "window", rule.window)
        break
    }
    return rule
  })

/**
 * The default handler: a warning in the log, annotated with the rule, value and threshold.
 *
 * @since 0.1.0
 */
export const logWarning = (alert: Alert): Effect.Effect<void> =>
  Effect.logWarning(`alert ${alert.rule}: ${alert.message}`).pipe(
    Effect.annotateLogs({ alert: alert.rule, value: alert.value, threshold: alert.threshold })
  )

/**
 * @since 0.1.0
 */
export interface Options {
  readonly rules: ReadonlyArray<Rule>
  /** How often the rules are evaluated. Default 15 seconds. */
  readonly interval?: Duration.DurationInput | undefined
  /** The least time between two notifications of one rule. Default 5 minutes. */
  readonly cooldown?: Duration.DurationInput | undefined
  /** Where notifications go. Default {@link logWarning}. Its failures are logged, never fatal. */
  readonly onAlert?: ((alert: Alert) => Effect.Effect<void>) | undefined
}

/**
 * @since 0.1.0
 */
export interface Service {
  readonly rules: ReadonlyArray<Rule>
  /** Evaluate every rule now (the schedule does this every `interval`); answers what it notified. */
  readonly evaluate: Effect.Effect<ReadonlyArray<Alert>>
  /** Every notification so far, oldest first (the last 1000). */
  readonly fired: Effect.Effect<ReadonlyArray<Alert>>
  /** Names of the rules firing now. */
  readonly firing: Effect.Effect<ReadonlyArray<string>>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class GrokAlerts extends Context.Tag("effect-grok/GrokAlerts")<GrokAlerts, Service>() {}

interface RuleState {
  pendingSince: number | undefined
  firing: boolean
  notifiedAt: number | undefined
}

const percent = (rate: number) => `${(rate * 100).toFixed(1)}%`
const seconds = (value: number) => `${value.toFixed(2)} s`
const whole = (value: number) => Math.round(value).toLocaleString("en-US")

/** What a rule measures now, or `undefined` when the window is too thin to say. */
const measure = (
  rule: Rule,
  samples: ReadonlyArray<Window.Sample>,
  now: Window.Sample
): { readonly holds: boolean; readonly value: number; readonly threshold: number; readonly message: string } | undefined => {
  if (rule._tag === "RetryBudgetExhausted") {
    if (now.budgetLevel === undefined) return undefined
    return {
      holds: now.budgetLevel < 1,
      value: now.budgetLevel,
      threshold: 1,
      message: `retry budget exhausted: ${now.budgetLevel.toFixed(2)} tokens left, retries are refused`
    }
  }
  const windowMillis = Duration.toMillis(rule.window)
  const baseline = Window.baselineOf(samples, now.at, windowMillis)
  if (baseline === undefined) return undefined
  const delta = Window.deltaOf(baseline, now)
  const over = Duration.format(rule.window)
  switch (rule._tag) {
    case "ErrorRate": {
      if (delta.requests < rule.minRequests) return undefined
      const rate = delta.failed / delta.requests
      return {
        holds: rate > rule.above,
        value: rate,
        threshold: rule.above,
        message: `error rate ${percent(rate)} over ${over} (${delta.failed} of ${delta.requests} calls failed), above ${percent(rule.above)}`
      }
    }
    case "RateLimitedRate": {
      if (delta.attempts < rule.minAttempts) return undefined
      const rate = delta.status429 / delta.attempts
      return {
        holds: rate > rule.above,
        value: rate,
        threshold: rule.above,
        message: `429 rate ${percent(rate)} over ${over} (${delta.status429} of ${delta.attempts} attempts), above ${percent(rule.above)}`
      }
    }
    case "LatencyP95": {
      const calls = delta.buckets[delta.buckets.length - 1] ?? 0
      if (calls < rule.minRequests) return undefined
      const p95 = Window.quantileOf(delta.boundaries, delta.buckets, 0.95)
      if (p95 === undefined) return undefined
      const limit = Duration.toSeconds(rule.above)
      return {
        holds: p95 > limit,
        value: p95,
        threshold: limit,
        message: `p95 latency ${seconds(p95)} over ${over} (${calls} calls), above ${seconds(limit)}`
      }
    }
    case "TokenBurn": {
      const pace = (delta.tokens / windowMillis) * Duration.toMillis(rule.per)
      return {
        holds: pace > rule.budget,
        value: pace,
        threshold: rule.budget,
        message: `token burn ${whole(pace)} per ${Duration.format(rule.per)} at the pace of the last ${over} (${
          whole(delta.tokens)
        } tokens), above the budget of ${whole(rule.budget)}`
      }
    }
  }
}

const historyLimit = 1000

/**
 * Start evaluating `options.rules` every `interval` for the life of the scope. Fails with
 * {@link InvalidAlertRule} when a rule or option is out of range.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Service, InvalidAlertRule, Scope.Scope> =>
  Effect.gen(function*() {
    for (const rule of options.rules) yield* validate(rule)
    const names = new Set<string>()
    for (const rule of options.rules) {
      if (names.has(rule.name)) return yield* new InvalidAlertRule({ rule: rule.name, message: "two rules have this name" })
      names.add(rule.name)
    }
    const interval = decode(options.interval, Duration.seconds(15))
    const cooldown = decode(options.cooldown, Duration.minutes(5))
    if (!Duration.isFinite(interval) || !Duration.greaterThan(interval, Duration.zero)) {
      return yield* new InvalidAlertRule({ rule: "(options)", message: "interval must be a finite duration above zero" })
    }
    if (!Duration.isFinite(cooldown)) {
      return yield* new InvalidAlertRule({ rule: "(options)", message: "cooldown must be finite" })
    }
    const onAlert = options.onAlert ?? logWarning
    const rules = options.rules
    const longestWindow = Math.max(0, ...rules.map((rule) => ("window" in rule ? Duration.toMillis(rule.window) : 0)))
    const states = new Map<string, RuleState>(
      rules.map((rule) => [rule.name, { pendingSince: undefined, firing: false, notifiedAt: undefined }])
    )
    const counters = new Map(rules.map((rule) => [rule.name, Metric.taggedWithLabels(Metrics.alerts, [MetricLabel.make("rule", rule.name)])]))
    const samples: Array<Window.Sample> = []
    const fired: Array<Alert> = []
    const lock = yield* Effect.makeSemaphore(1)

    const notify = (alert: Alert) =>
      Effect.zipRight(
        Metric.increment(counters.get(alert.rule)!),
        Effect.catchAllCause(onAlert(alert), (cause) =>
          Effect.logError(`alert handler failed for ${alert.rule}`, cause))
      )

    const evaluate: Effect.Effect<ReadonlyArray<Alert>> = lock.withPermits(1)(Effect.gen(function*() {
      const at = yield* Clock.currentTimeMillis
      const now = Window.sampleOf(yield* Metric.snapshot, at)
      samples.push(now)
      Window.prune(samples, at, longestWindow)
      const notified: Array<Alert> = []
      for (const rule of rules) {
        const state = states.get(rule.name)!
        const measured = measure(rule, samples, now)
        if (measured === undefined || !measured.holds) {
          state.pendingSince = undefined
          state.firing = false
          continue
        }
        state.pendingSince ??= at
        if (state.firing || at - state.pendingSince < Duration.toMillis(rule.for)) continue
        if (state.notifiedAt !== undefined && at - state.notifiedAt < Duration.toMillis(cooldown)) continue
        state.firing = true
        state.notifiedAt = at
        notified.push({ rule: rule.name, message: measured.message, at, value: measured.value, threshold: measured.threshold })
      }
      for (const alert of notified) {
        fired.push(alert)
        if (fired.length > historyLimit) fired.shift()
        yield* notify(alert)
      }
      return notified
    }))

    // The first sample is the baseline: what happened before the service started is not judged.
    // Without rules nothing is judged, so the registry (whose latency summary costs a sort and
    // a copy per distinct value to read) is never read on a schedule.
    if (rules.length > 0) {
      yield* evaluate
      yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep(interval), evaluate)))
    }

    return {
      rules,
      evaluate,
      fired: Effect.sync(() => fired.slice()),
      firing: Effect.sync(() => rules.filter((rule) => states.get(rule.name)!.firing).map((rule) => rule.name))
    }
  })

/**
 * The service as a layer: evaluation starts when the layer is built and stops when it is released.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<GrokAlerts, InvalidAlertRule> => Layer.scoped(GrokAlerts, make(options))
