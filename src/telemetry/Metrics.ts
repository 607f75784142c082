/**
 * The metrics every Grok call records. Names follow the OpenTelemetry GenAI semantic
 * conventions where one exists (`gen_ai.client.operation.duration`,
 * `gen_ai.client.token.usage`); the rest are `effect_grok.*`.
 *
 * Summaries shown by the CLI (`load --json`, `demo --json`) are read from these metrics
 * ({@link snapshotTotals}), never counted separately.
 *
 * @since 0.1.0
 */
import { Effect, Metric, MetricBoundaries, type MetricPair, MetricState } from "effect"

/**
 * Calls finished, by `gen_ai.request.model`, `gen_ai.operation.name`, `outcome`
 * (`ok` / `error`) and `error.type` (the GrokError tag).
 *
 * @since 0.1.0
 */
export const requests = Metric.counter("effect_grok.requests", {
  description: "Grok calls finished (one per call, whatever the number of attempts)",
  incremental: true
})

/**
 * HTTP attempts made, by model and `http.response.status_code` (`none` when no response).
 *
 * @since 0.1.0
 */
export const attempts = Metric.counter("effect_grok.attempts", {
  description: "HTTP attempts sent to the API, retries included",
  incremental: true
})

/**
 * Retries scheduled, by `reason` (`retry-after` / `backoff`) and `error.type`.
 *
 * @since 0.1.0
 */
export const retries = Metric.counter("effect_grok.retries", {
  description: "Retries scheduled after a failed attempt",
  incremental: true
})

/**
 * Answers with status 429, by model and `limit` (requests / tokens / capacity / quota).
 *
 * @since 0.1.0
 */
export const rateLimited = Metric.counter("effect_grok.rate_limited", {
  description: "Attempts answered with HTTP 429",
  incremental: true
})

const secondsBoundaries = MetricBoundaries.exponential({ start: 0.005, factor: 2, count: 16 })

/**
 * End-to-end duration of a call in seconds (queueing in the limiter, every attempt and wait).
 *
 * @since 0.1.0
 */
export const operationDuration = Metric.histogram(
  "gen_ai.client.operation.duration",
  secondsBoundaries,
  "Duration of a Grok call end to end, in seconds"
)

/**
 * Duration of one HTTP attempt in seconds.
 *
 * @since 0.1.0
 */
export const attemptDuration = Metric.histogram(
  "effect_grok.attempt.duration",
  secondsBoundaries,
  "Duration of one HTTP attempt, in seconds"
)

/**
 * End-to-end latency quantiles over the last 10 minutes, in milliseconds: what `--json`
 * summaries report as p50 / p99.
 *
 * @since 0.1.0
 */
export const latencyMillis = Metric.summary({
  name: "effect_grok.latency_ms",
  description: "End-to-end call latency in milliseconds (quantiles)",
  maxAge: "10 minutes",
  maxSize: 10_000,
  error: 0.001,
  quantiles: [0.5, 0.9, 0.99]
})

/**
 * Tokens used, by model and `gen_ai.token.type` (`input`, `output`, `reasoning`, `cached`, `total`).
 *
 * @since 0.1.0
 */
export const tokens = Metric.counter("gen_ai.client.token.usage", {
  description: "Tokens used by Grok calls, from the responses' usage",
  incremental: true
})

/**
 * Cost reported by xAI in USD ticks (1 USD = 10^10 ticks), by model.
 *
 * @since 0.1.0
 */
export const costTicks = Metric.counter("effect_grok.cost_usd_ticks", {
  description: "Cost of Grok calls in USD ticks (1 USD = 1e10 ticks)",
  incremental: true
})

/**
 * Time spent waiting for a rate-limiter permit, in seconds.
 *
 * @since 0.1.0
 */
export const limiterWait = Metric.histogram(
  "effect_grok.limiter.wait",
  secondsBoundaries,
  "Time a call waited in the rate limiter, in seconds"
)

/**
 * Totals over every label set, read from the metric registry.
 *
 * @since 0.1.0
 */
export interface Totals {
  readonly requests: number
  readonly attempts: number
  readonly retries: number
  readonly status429: number
  readonly tokens: { readonly prompt: number; readonly completion: number; readonly reasoning: number; readonly total: number }
  readonly latencyMs: { readonly p50: number; readonly p99: number }
}

const sumCounter = (pairs: ReadonlyArray<MetricPair.MetricPair.Untyped>, name: string, tag?: readonly [string, string]) => {
  let sum = 0
  for (const pair of pairs) {
    if (pair.metricKey.name !== name) continue
    if (tag !== undefined && !pair.metricKey.tags.some((t) => t.key === tag[0] && t.value === tag[1])) continue
    if (MetricState.isCounterState(pair.metricState)) sum += Number(pair.metricState.count)
  }
  return sum
}

const quantile = (pairs: ReadonlyArray<MetricPair.MetricPair.Untyped>, name: string, q: number): number => {
  // Summaries are tagged per model; report the widest value across them (a conservative p-q).
  let value = 0
  for (const pair of pairs) {
    if (pair.metricKey.name !== name || !MetricState.isSummaryState(pair.metricState)) continue
    for (const [quantileOf, v] of pair.metricState.quantiles) {
      if (quantileOf === q && v._tag === "Some") value = Math.max(value, v.value)
    }
  }
  return Math.round(value * 10) / 10
}

/**
 * Read the totals from the registry.
 *
 * @since 0.1.0
 */
export const snapshotTotals: Effect.Effect<Totals> = Effect.map(Metric.snapshot, (pairs) => ({
  requests: sumCounter(pairs, "effect_grok.requests"),
  attempts: sumCounter(pairs, "effect_grok.attempts"),
  retries: sumCounter(pairs, "effect_grok.retries"),
  status429: sumCounter(pairs, "effect_grok.rate_limited"),
  tokens: {
    prompt: sumCounter(pairs, "gen_ai.client.token.usage", ["gen_ai.token.type", "input"]),
    completion: sumCounter(pairs, "gen_ai.client.token.usage", ["gen_ai.token.type", "output"]),
    reasoning: sumCounter(pairs, "gen_ai.client.token.usage", ["gen_ai.token.type", "reasoning"]),
    total: sumCounter(pairs, "gen_ai.client.token.usage", ["gen_ai.token.type", "total"])
  },
  latencyMs: { p50: quantile(pairs, "effect_grok.latency_ms", 0.5), p99: quantile(pairs, "effect_grok.latency_ms", 0.99) }
}))

/**
 * The difference between two totals (what happened in between), for per-run summaries in
 * a process whose registry lives longer than one run. Latency quantiles are taken from `after`.
 *
 * @since 0.1.0
 */
export const diffTotals = (before: Totals, after: Totals): Totals => ({
  requests: after.requests - before.requests,
  attempts: after.attempts - before.attempts,
  retries: after.retries - before.retries,
  status429: after.status429 - before.status429,
  tokens: {
    prompt: after.tokens.prompt - before.tokens.prompt,
    completion: after.tokens.completion - before.tokens.completion,
    reasoning: after.tokens.reasoning - before.tokens.reasoning,
    total: after.tokens.total - before.tokens.total
  },
  latencyMs: after.latencyMs
})
