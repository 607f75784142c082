/**
 * Spans and metrics pushed to an OpenTelemetry collector over OTLP/HTTP (JSON), through
 * `@effect/opentelemetry`'s `NodeSdk`.
 *
 * ```ts
 * program.pipe(Effect.provide(Otlp.layer({ url: "http://127.0.0.1:4318", serviceName: "my-app" })))
 * ```
 *
 * Every Effect span becomes an OpenTelemetry span (a call's `chat grok-4` span with one
 * `effect_grok.attempt` child per attempt, and the HTTP client's spans below them, whose
 * `authorization` header is redacted), and the whole metric registry is pushed every
 * `metricsInterval` and once more when the layer is released.
 *
 * @since 0.1.0
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import type * as OtelResource from "@effect/opentelemetry/Resource"
import { OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-http"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import { PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics"
import { BatchSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Data, Duration, Effect, type Layer } from "effect"

/**
 * @since 0.1.0
 */
export interface Options {
  /** The collector's OTLP/HTTP base URL, e.g. `http://127.0.0.1:4318`: spans go to `/v1/traces`, metrics to `/v1/metrics`. */
  readonly url: string
  /** `service.name`. Default `effect-grok` (`OTEL_SERVICE_NAME` wins when set). */
  readonly serviceName?: string | undefined
  readonly serviceVersion?: string | undefined
  /** Headers for the collector (e.g. its own auth token). */
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** How often metrics are pushed. Default 60 seconds. */
  readonly metricsInterval?: Duration.DurationInput | undefined
}

/**
 * An option is out of range: a URL that is not http(s), an interval that is not a positive
 * finite duration.
 *
 * @since 0.1.0
 */
export class InvalidOtlpOptions extends Data.TaggedError("InvalidOtlpOptions")<{ readonly message: string }> {}

const endpoint = (base: string, signal: string) => `${base.replace(/\/+$/, "")}/v1/${signal}`

const isHttpUrl = (url: string) => {
  try {
    const protocol = new URL(url).protocol
    return protocol === "http:" || protocol === "https:"
  } catch {
    return false
  }
}

const configuration = (options: Options): Effect.Effect<NodeSdk.Configuration, InvalidOtlpOptions> =>
  Effect.suspend(() => {
    if (!isHttpUrl(options.url)) {
      return Effect.fail(new InvalidOtlpOptions({ message: `the collector URL must be http(s)://..., got ${JSON.stringify(options.url)}` }))
    }
    const interval = Duration.decodeUnknown(options.metricsInterval ?? "60 seconds")
    if (interval._tag === "None" || !Duration.isFinite(interval.value) || Duration.toMillis(interval.value) < 1) {
      return Effect.fail(new InvalidOtlpOptions({ message: "metricsInterval must be a finite duration of at least 1 ms" }))
    }
    const headers = options.headers === undefined ? undefined : { ...options.headers }
    return Effect.succeed({
      resource: {
        serviceName: options.serviceName ?? "effect-grok",
        ...(options.serviceVersion === undefined ? {} : { serviceVersion: options.serviceVersion })
      },
      spanProcessor: new BatchSpanProcessor(new OTLPTraceExporter({ url: endpoint(options.url, "traces"), headers })),
      metricReader: new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter({ url: endpoint(options.url, "metrics"), headers }),
        exportIntervalMillis: Duration.toMillis(interval.value)
      })
    })
  })

/**
 * Export spans and metrics over OTLP/HTTP while the layer lives; on release, what is
 * buffered is flushed. Fails with {@link InvalidOtlpOptions} when an option is out of range.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<OtelResource.Resource, InvalidOtlpOptions> =>
  NodeSdk.layer(configuration(options))
