/**
 * docs/observability.md: metrics, alerts, Prometheus and OTLP export. Type-checked by `npm test`.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, LogLevel, Metric, MetricState } from "effect"
import * as GrokClient from "../../src/GrokClient.js"
import * as Logging from "../../src/Logging.js"
import * as Alerts from "../../src/telemetry/Alerts.js"
import * as Metrics from "../../src/telemetry/Metrics.js"
import * as Otlp from "../../src/telemetry/Otlp.js"
import * as Prometheus from "../../src/telemetry/Prometheus.js"

// --- 1. Reading the metrics in process ------------------------------------------------------

/** Attempts answered 429 so far, over every model. */
export const status429: Effect.Effect<number> = Effect.map(Metric.snapshot, (pairs) =>
  pairs
    .filter((pair) => pair.metricKey.name === "effect_grok.rate_limited")
    .reduce((sum, pair) => sum + (MetricState.isCounterState(pair.metricState) ? Number(pair.metricState.count) : 0), 0))

/** What a batch job cost, read from the registry before and after it. */
export const measuredBatch = <A, E, R>(job: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const before = yield* Metrics.snapshotTotals
    const result = yield* job
    const totals = Metrics.diffTotals(before, yield* Metrics.snapshotTotals)
    yield* Effect.logInfo(`batch: ${totals.requests} calls, ${totals.attempts} attempts, ${totals.tokens.total} tokens`)
    return result
  })

// --- 2. Alerts --------------------------------------------------------------------------------

/** Post an alert to a webhook (Slack, PagerDuty, ...); failures are logged by GrokAlerts. */
declare const postToWebhook: (text: string) => Effect.Effect<void>

export const AlertsLive: Layer.Layer<Alerts.GrokAlerts, Alerts.InvalidAlertRule> = Alerts.layer({
  rules: [
    // More than 20% of the last 5 minutes' calls failed (at least 20 calls), for 2 minutes.
    Alerts.errorRate({ above: 0.2, window: "5 minutes", minRequests: 20, for: "2 minutes" }),
    Alerts.rateLimitedRate({ above: 0.1, window: "5 minutes" }),
    Alerts.latencyP95({ above: "20 seconds", window: "10 minutes" }),
    // At the last hour's pace, more than 50 million tokens a day.
    Alerts.tokenBurn({ budget: 50_000_000, per: "1 day", window: "1 hour" }),
    Alerts.retryBudgetExhausted({ for: "1 minute" })
  ],
  interval: "15 seconds",
  cooldown: "30 minutes",
  onAlert: (alert) => postToWebhook(`[effect-grok] ${alert.rule}: ${alert.message}`)
})

// --- 3. Export --------------------------------------------------------------------------------

/** Prometheus scrapes http://127.0.0.1:9464/metrics. */
export const PrometheusLive: Layer.Layer<Prometheus.MetricsEndpoint, Prometheus.MetricsServerError> = Prometheus.layer({
  port: 9464
})

/** Spans and metrics pushed to a local OpenTelemetry collector every 30 seconds. */
export const OtlpLive = Otlp.layer({
  url: "http://127.0.0.1:4318",
  serviceName: "support-bot",
  metricsInterval: "30 seconds"
})

// --- 4. All together ---------------------------------------------------------------------------

const program = Effect.gen(function*() {
  const grok = yield* GrokClient.GrokClient
  return yield* grok.chat({ messages: [{ role: "user", content: "Hello" }] })
})

export const main = program.pipe(
  Effect.provide(GrokClient.layerConfig().pipe(Layer.provide(NodeHttpClient.layerUndici))),
  Effect.provide(Layer.mergeAll(AlertsLive, PrometheusLive, OtlpLive))
)

// --- 5. effect-grok's own logs: Debug by default, one switch ----------------------------------

/** Retries and failed calls in the app's logs, at Info. */
export const withRetriesLogged = program.pipe(Logging.withLevel(LogLevel.Info))

/** The same for everything under a layer. */
export const RetriesLogged: Layer.Layer<Logging.CurrentLevel> = Logging.layer(LogLevel.Info)

/** effect-grok's own lines off. */
export const withoutOurLogs = program.pipe(Logging.withLevel(LogLevel.None))
