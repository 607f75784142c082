/**
 * The metrics every Grok call records. Names and labels follow the OpenTelemetry GenAI
 * semantic conventions where one exists (`gen_ai.client.operation.duration`,
 * `gen_ai.client.token.usage`, `gen_ai.request.model`, `gen_ai.operation.name`,
 * `gen_ai.provider.name`, `gen_ai.token.type`, `error.type`, `http.response.status_code`);
 * the rest are `effect_grok.*`.
 *
 * These are ordinary Effect metrics in the process-wide registry: read them with
 * `Metric.value` / `Metric.snapshot`, export them with `Prometheus.layer` or `Otlp.layer`.
 * Summaries shown by the CLI (`load --json`, `demo --json`) are read from them
 * ({@link snapshotTotals}), never counted separately.
 *
 * @since 0.1.0
 */
import { Effect, Metric, MetricBoundaries, type MetricPair, MetricState } from "effect"

/**
 * Calls finished (one per call, whatever the number of attempts), by `gen_ai.request.model`,
 * `gen_ai.operation.name`, `outcome` (`ok` / `error`), `error.type` (the GrokError tag, `none`
 * on success) and `http.response.status_code` (of the last attempt; `none` without a response).
 *
 * @since 0.1.0
 */
export const requests = Metric.counter("effect_grok.requests", {
  description: "Grok calls finished (one per call, whatever the number of attempts)",
  incremental: true
})

/**
 * HTTP attempts made, retries included, by `gen_ai.request.model`, `http.response.status_code`
 * (`none` when no response arrived) and `error.type` (`none` on success).
 *
 * @since 0.1.0
 */
export const attempts = Metric.counter("effect_grok.attempts", {
  description: "HTTP attempts sent to the API, retries included",
  incremental: true
})

/**
 * Retries scheduled, by `gen_ai.request.model`, `reason` (`retry-after` / `backoff`) and `error.type`.
 *
 * @since 0.1.0
 */
export const retries = Metric.counter("effect_grok.retries", {
  description: "Retries scheduled after a failed attempt",
  incremental: true
})

/**
 * Retries the retry budget refused, by `gen_ai.request.model` and `error.type`: each is a call
 * that failed with an error it could have retried (its error says `retryBudgetExhausted`).
 *
 * @since 0.2.0
 */
export const retryBudgetRefusals = Metric.counter("effect_grok.retry_budget.refusals", {
  description: "Retries refused because the retry budget was spent",
  incremental: true
})

/**
 * Attempts answered with HTTP 429, by `gen_ai.request.model` and `limit`
 * (`requests` / `tokens` / `capacity` / `quota` / `unknown`).
 *
 * @since 0.1.0
 */
export const rateLimited = Metric.counter("effect_grok.rate_limited", {
  description: "Attempts answered with HTTP 429",
  incremental: true
})

/**
 * Bucket boundaries the GenAI conventions advise for `gen_ai.client.operation.duration`.
 *
 * @since 0.1.0
 */
export const durationBoundaries: MetricBoundaries.MetricBoundaries = MetricBoundaries.exponential({
  start: 0.01,
  factor: 2,
  count: 14
})

/**
 * End-to-end duration of a call in seconds: time queued in the limiter, every attempt and
 * every wait between them. By `gen_ai.request.model`, `gen_ai.operation.name`,
 * `gen_ai.provider.name` (`x_ai`) and, for failed calls only, `error.type`.
 *
 * @since 0.1.0
 */
export const operationDuration = Metric.histogram(
  "gen_ai.client.operation.duration",
  durationBoundaries,
  "Duration of a Grok call end to end (limiter queue, attempts, waits), in seconds"
)

/**
 * Duration of one HTTP attempt in seconds (from the permit to the answer read), by
 * `gen_ai.request.model` and `http.response.status_code`.
 *
 * @since 0.1.0
 */
export const attemptDuration = Metric.histogram(
  "effect_grok.attempt.duration",
  durationBoundaries,
  "Duration of one HTTP attempt, in seconds"
)

/**
 * End-to-end call latency quantiles (p50, p90, p95, p99) over the last 10 minutes, in
 * milliseconds, over every model and operation: what `--json` summaries report. Per-model
 * latency is in {@link operationDuration}.
 *
 * @since 0.1.0
 */
export const latencyMillis = Metric.summary({
  name: "effect_grok.latency_ms",
  description: "End-to-end call latency in milliseconds (quantiles over the last 10 minutes)",
  maxAge: "10 minutes",
  maxSize: 10_000,
  error: 0.001,
  quantiles: [0.5, 0.9, 0.95, 0.99]
})

/**
 * Token totals, by `gen_ai.request.model` and `gen_ai.token.type`: `input` (prompt),
 * `output` (completion), `reasoning`, `cached` (prompt tokens served from cache) and
 * `total` (the responses' `usage.total_tokens`). Types overlap (`total` includes the others):
 * sum one type at a time.
 *
 * @since 0.1.0
 */
export const tokens = Metric.counter("effect_grok.tokens", {
  description: "Tokens used by Grok calls, from the responses' usage, by type",
  incremental: true
})

/**
 * Bucket boundaries the GenAI conventions advise for `gen_ai.client.token.usage`.
 *
 * @since 0.1.0
 */
export const tokenBoundaries: MetricBoundaries.MetricBoundaries = MetricBoundaries.exponential({
  start: 1,
  factor: 4,
  count: 14
})

/**
 * Tokens per response, as the GenAI conventions define it: by `gen_ai.request.model`,
 * `gen_ai.operation.name`, `gen_ai.provider.name` and `gen_ai.token.type` (`input` / `output`).
 *
 * @since 0.1.0
 */
export const tokenUsage = Metric.histogram(
  "gen_ai.client.token.usage",
  tokenBoundaries,
  "Tokens used per Grok response (input / output)"
)

/**
 * Cost reported by xAI (`usage.cost_in_usd_ticks`; 1 USD = 10^10 ticks), by `gen_ai.request.model`.
 *
 * @since 0.1.0
 */
export const costTicks = Metric.counter("effect_grok.cost_usd_ticks", {
  description: "Cost of Grok calls in USD ticks (1 USD = 1e10 ticks), from usage.cost_in_usd_ticks",
  incremental: true
})

/**
 * Answers that came from another model than the one requested (not merely a dated or
 * regional release of it), by `gen_ai.request.model` and `gen_ai.response.model`. Since
 * xAI's retirement of 2026-05-15, retired model ids are served and billed as `grok-4.3`
 * with nothing but the answer's `model` to say so (docs/errors.md, "Silent model redirects").
 *
 * @since 0.2.0
 */
export const modelRedirects = Metric.counter("effect_grok.model_redirects", {
  description: "Answers from another model than the one requested (a silent redirect)",
  incremental: true
})

/**
 * Answers by the service tier xAI says it granted (`service_tier` in the answer, e.g.
 * `default` or `priority`; the priority premium is billed only when granted), by
 * `gen_ai.request.model` and `service_tier`. Answers without the field are not counted.
 *
 * @since 0.2.0
 */
export const serviceTiers = Metric.counter("effect_grok.service_tier", {
  description: "Answers by the service tier granted",
  incremental: true
})

/**
 * Calls to xAI's Batch API, retries included, by `operation` (`create`, `list`, `get`, `add`,
 * `requests`, `results`, `cancel`) and `http.response.status_code` (`none` without an answer).
 * Add calls refused for the add-call limit show as `add` with status `429`.
 *
 * @since 0.2.0
 */
export const batchCalls = Metric.counter("effect_grok.batch.calls", {
  description: "Calls to the Batch API (retries included), by operation and status",
  incremental: true
})

/**
 * Batch results read, one per request, by `outcome` (`succeeded`, `failed`, `cancelled`).
 *
 * @since 0.2.0
 */
export const batchResults = Metric.counter("effect_grok.batch.results", {
  description: "Batch results read, by outcome",
  incremental: true
})

/**
 * Time an attempt waited for its rate-limiter permit, in seconds, by `gen_ai.request.model`.
 *
 * @since 0.1.0
 */
export const limiterWait = Metric.histogram(
  "effect_grok.limiter.wait",
  durationBoundaries,
  "Time an attempt waited in the rate limiter, in seconds"
)

/**
 * Calls waiting for a permit, by `gen_ai.request.model`: sampled from the limiter's
 * `stats` whenever an attempt arrives at the limiter and whenever one is admitted.
 *
 * @since 0.1.0
 */
export const limiterQueueDepth = Metric.gauge("effect_grok.limiter.queue_depth", {
  description: "Calls waiting for a rate-limiter permit"
})

/**
 * Permits granted and not yet released, by `gen_ai.request.model` (sampled like {@link limiterQueueDepth}).
 *
 * @since 0.1.0
 */
export const limiterInFlight = Metric.gauge("effect_grok.limiter.in_flight", {
  description: "Rate-limiter permits held by calls in flight"
})

/**
 * Tokens left in the retry budget (below 1, retries are refused): set after every retry and
 * at the end of every call. One series per process; with several budgets, the last writer wins.
 *
 * @since 0.1.0
 */
export const retryBudgetLevel = Metric.gauge("effect_grok.retry_budget.level", {
  description: "Tokens left in the retry budget (retries are refused below 1)"
})

/**
 * Alerts notified by `GrokAlerts`, by `rule`.
 *
 * @since 0.1.0
 */
export const alerts = Metric.counter("effect_grok.alerts", {
  description: "Alerts notified, by rule",
  incremental: true
})

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

const hasLabel = (pair: MetricPair.MetricPair.Untyped, key: string, value: string) =>
  pair.metricKey.tags.some((label) => label.key === key && label.value === value)

const sumCounter = (pairs: ReadonlyArray<MetricPair.MetricPair.Untyped>, name: string, label?: readonly [string, string]) => {
  let sum = 0
  for (const pair of pairs) {
    if (pair.metricKey.name !== name || !MetricState.isCounterState(pair.metricState)) continue
    if (label !== undefined && !hasLabel(pair, label[0], label[1])) continue
    sum += Number(pair.metricState.count)
  }
  return sum
}

/**
 * The latency summary's quantile `q`. The summary is recorded without labels; when the
 * application adds fiber-wide metric labels (`Effect.tagMetrics`) there is one series per
 * label set, and the busiest one speaks (quantiles cannot be merged).
 */
const quantileOf = (pairs: ReadonlyArray<MetricPair.MetricPair.Untyped>, q: number): number => {
  let best: MetricState.MetricState.Summary | undefined
  for (const pair of pairs) {
    if (pair.metricKey.name !== "effect_grok.latency_ms" || !MetricState.isSummaryState(pair.metricState)) continue
    if (best === undefined || pair.metricState.count > best.count) best = pair.metricState
  }
  const found = best?.quantiles.find(([quantile]) => quantile === q)?.[1]
  return found?._tag === "Some" ? Math.round(found.value * 10) / 10 : 0
}

/**
 * Read the totals from the registry. Latency quantiles cover the last 10 minutes of calls
 * in this process.
 *
 * @since 0.1.0
 */
export const snapshotTotals: Effect.Effect<Totals> = Effect.map(Metric.snapshot, (pairs) => ({
  requests: sumCounter(pairs, "effect_grok.requests"),
  attempts: sumCounter(pairs, "effect_grok.attempts"),
  retries: sumCounter(pairs, "effect_grok.retries"),
  status429: sumCounter(pairs, "effect_grok.rate_limited"),
  tokens: {
    prompt: sumCounter(pairs, "effect_grok.tokens", ["gen_ai.token.type", "input"]),
    completion: sumCounter(pairs, "effect_grok.tokens", ["gen_ai.token.type", "output"]),
    reasoning: sumCounter(pairs, "effect_grok.tokens", ["gen_ai.token.type", "reasoning"]),
    total: sumCounter(pairs, "effect_grok.tokens", ["gen_ai.token.type", "total"])
  },
  latencyMs: { p50: quantileOf(pairs, 0.5), p99: quantileOf(pairs, 0.99) }
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
