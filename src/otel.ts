/**
 * `effect-grok/otel`: export of effect-grok's metrics and spans. Needs `@effect/opentelemetry`,
 * the `@opentelemetry/*` packages it names, and `@effect/platform-node` (the `/metrics` server).
 *
 * @since 0.2.0
 */

/** A `/metrics` endpoint for Prometheus scraping. @since 0.1.0 */
export * as Prometheus from "./telemetry/Prometheus.js"
/** OTLP export of metrics and spans through @effect/opentelemetry. @since 0.1.0 */
export * as Otlp from "./telemetry/Otlp.js"
