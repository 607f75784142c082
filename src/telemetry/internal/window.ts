/**
 * What the alert rules read: cumulative totals sampled from the metric registry, kept over
 * the longest rule window, and the differences between two samples.
 *
 * Reading the registry on a schedule costs the calls nothing: the hot path only updates
 * metrics, as it does anyway.
 *
 * @internal
 */
import type { MetricPair } from "effect"
import { MetricState } from "effect"

/** Cumulative totals at one instant, summed over every label set. */
export interface Sample {
  /** Clock millis. */
  readonly at: number
  readonly requests: number
  readonly failed: number
  readonly attempts: number
  readonly status429: number
  /** `usage.total_tokens` summed. */
  readonly tokens: number
  /** Upper bounds of the call duration histogram (seconds, the last is +Infinity). */
  readonly boundaries: ReadonlyArray<number>
  /** Cumulative call counts per bound, over every model and operation. */
  readonly buckets: ReadonlyArray<number>
  /** The lowest retry budget level recorded, when one was. */
  readonly budgetLevel: number | undefined
}

const labelIs = (pair: MetricPair.MetricPair.Untyped, key: string, value: string) =>
  pair.metricKey.tags.some((label) => label.key === key && label.value === value)

/** One pass over a registry snapshot. */
export const sampleOf = (pairs: ReadonlyArray<MetricPair.MetricPair.Untyped>, at: number): Sample => {
  let requests = 0
  let failed = 0
  let attempts = 0
  let status429 = 0
  let tokens = 0
  let boundaries: Array<number> = []
  let buckets: Array<number> = []
  let budgetLevel: number | undefined
  for (const pair of pairs) {
    const state = pair.metricState
    switch (pair.metricKey.name) {
      case "effect_grok.requests":
        if (!MetricState.isCounterState(state)) break
        requests += Number(state.count)
        if (labelIs(pair, "outcome", "error")) failed += Number(state.count)
        break
      case "effect_grok.attempts":
        if (MetricState.isCounterState(state)) attempts += Number(state.count)
        break
      case "effect_grok.rate_limited":
        if (MetricState.isCounterState(state)) status429 += Number(state.count)
        break
      case "effect_grok.tokens":
        if (MetricState.isCounterState(state) && labelIs(pair, "gen_ai.token.type", "total")) tokens += Number(state.count)
        break
      case "gen_ai.client.operation.duration":
        if (!MetricState.isHistogramState(state)) break
        if (boundaries.length === 0) {
          boundaries = state.buckets.map(([bound]) => bound)
          buckets = state.buckets.map(() => 0)
        }
        state.buckets.forEach(([, count], i) => {
          buckets[i] = (buckets[i] ?? 0) + count
        })
        break
      case "effect_grok.retry_budget.level":
        if (MetricState.isGaugeState(state)) {
          const level = Number(state.value)
          budgetLevel = budgetLevel === undefined ? level : Math.min(budgetLevel, level)
        }
        break
    }
  }
  return { at, requests, failed, attempts, status429, tokens, boundaries, buckets, budgetLevel }
}

/** What happened between two samples: the same counts, as differences. */
export type Delta = Omit<Sample, "at" | "budgetLevel">

export const deltaOf = (from: Sample, to: Sample): Delta => ({
  requests: to.requests - from.requests,
  failed: to.failed - from.failed,
  attempts: to.attempts - from.attempts,
  status429: to.status429 - from.status429,
  tokens: to.tokens - from.tokens,
  boundaries: to.boundaries,
  buckets: to.buckets.map((count, i) => count - (from.buckets[i] ?? 0))
})

/**
 * The sample a window ending now starts from: the newest one at or before `now - window`,
 * else the oldest kept (the window is not full yet: everything since the start counts).
 */
export const baselineOf = (samples: ReadonlyArray<Sample>, now: number, windowMillis: number): Sample | undefined => {
  let baseline: Sample | undefined = samples[0]
  for (const sample of samples) {
    if (sample.at <= now - windowMillis) baseline = sample
    else break
  }
  return baseline
}

/** Keep what the longest window still needs: the samples inside it and one before it. */
export const prune = (samples: Array<Sample>, now: number, longestWindowMillis: number): void => {
  let drop = 0
  while (drop + 1 < samples.length && samples[drop + 1]!.at <= now - longestWindowMillis) drop++
  if (drop > 0) samples.splice(0, drop)
}

/**
 * Quantile `q` of a histogram given its cumulative bucket counts, interpolated linearly
 * inside the bucket that holds it (as Prometheus' `histogram_quantile`). In the last,
 * unbounded bucket the answer is its lower bound. `undefined` when the histogram is empty.
 */
export const quantileOf = (boundaries: ReadonlyArray<number>, cumulative: ReadonlyArray<number>, q: number): number | undefined => {
  const total = cumulative[cumulative.length - 1] ?? 0
  if (total <= 0) return undefined
  const rank = q * total
  for (let i = 0; i < cumulative.length; i++) {
    const count = cumulative[i]!
    if (count < rank) continue
    const lower = i === 0 ? 0 : boundaries[i - 1]!
    const upper = boundaries[i]!
    if (!Number.isFinite(upper)) return lower
    const before = i === 0 ? 0 : cumulative[i - 1]!
    const inBucket = count - before
    return inBucket <= 0 ? upper : lower + (upper - lower) * ((rank - before) / inBucket)
  }
  return boundaries[boundaries.length - 2]
}
