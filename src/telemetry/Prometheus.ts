/**
 * The metric registry in the Prometheus text format, served on `/metrics` for scraping.
 *
 * ```ts
 * // http://127.0.0.1:9464/metrics while the program runs
 * program.pipe(Effect.provide(Prometheus.layer({ port: 9464 })))
 * ```
 *
 * The text comes from the same pipeline as OTLP export: `@effect/opentelemetry` turns the
 * Effect registry into OpenTelemetry metric data, and `@opentelemetry/exporter-prometheus`'s
 * serializer writes it (names with `.` become `_`, counters end in `_total`, histograms get
 * `_bucket{le=...}`, `_sum`, `_count`). The HTTP server is `@effect/platform`'s, bound to
 * 127.0.0.1 by default; scrapes are not traced.
 *
 * @since 0.1.0
 */
import * as OtelMetrics from "@effect/opentelemetry/Metrics"
import * as OtelResource from "@effect/opentelemetry/Resource"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { PrometheusSerializer } from "@opentelemetry/exporter-prometheus"
import type { MetricProducer } from "@opentelemetry/sdk-metrics"
import { Context, Data, Effect, Layer, type Scope } from "effect"
import { createServer } from "node:http"

/**
 * @since 0.1.0
 */
export interface Options {
  /** Port to listen on; `0` picks a free one (read it from {@link MetricsEndpoint}). */
  readonly port: number
  /** Interface to bind. Default `127.0.0.1`: metrics stay on the machine unless asked. */
  readonly host?: string | undefined
  /** Default `/metrics`. */
  readonly path?: string | undefined
  /** `service.name` on the `target_info` series. Default `effect-grok`. */
  readonly serviceName?: string | undefined
}

/**
 * Where the metrics are served.
 *
 * @since 0.1.0
 */
export interface Endpoint {
  /** e.g. `http://127.0.0.1:9464/metrics` */
  readonly url: string
  readonly port: number
}

/**
 * @since 0.1.0
 * @category tags
 */
export class MetricsEndpoint extends Context.Tag("effect-grok/MetricsEndpoint")<MetricsEndpoint, Endpoint>() {}

/**
 * The endpoint could not be served (an invalid port, a port in use).
 *
 * @since 0.1.0
 */
export class MetricsServerError extends Data.TaggedError("MetricsServerError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/** Content type of the Prometheus text exposition format. */
const contentType = "text/plain; version=0.0.4; charset=utf-8"

const serializer = new PrometheusSerializer(undefined, false, undefined, false, true)

const producerFor = (serviceName: string): Effect.Effect<MetricProducer> =>
  OtelMetrics.makeProducer.pipe(Effect.provide(OtelResource.layer({ serviceName })))

const exposition = (producer: MetricProducer): Effect.Effect<string> =>
  Effect.map(
    Effect.promise(() => producer.collect()),
    (collected) => serializer.serialize(collected.resourceMetrics)
  )

/**
 * The registry in the Prometheus text format, now: for tests, or to serve it from your own
 * HTTP server.
 *
 * @since 0.1.0
 */
export const scrape = (options: { readonly serviceName?: string | undefined } = {}): Effect.Effect<string> =>
  Effect.flatMap(producerFor(options.serviceName ?? "effect-grok"), exposition)

/**
 * Serve `/metrics` for the life of the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Endpoint, MetricsServerError, Scope.Scope> =>
  Effect.gen(function*() {
    const { port } = options
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      return yield* new MetricsServerError({ message: `invalid metrics port: ${port} (an integer from 0 to 65535)` })
    }
    const host = options.host ?? "127.0.0.1"
    const path = options.path ?? "/metrics"
    const producer = yield* producerFor(options.serviceName ?? "effect-grok")
    const server = yield* NodeHttpServer.make(() => createServer(), { port, host }).pipe(
      Effect.mapError((error) =>
        new MetricsServerError({
          message: `cannot serve metrics on ${host}:${port}: ${error.cause instanceof Error ? error.cause.message : String(error.cause)}`,
          cause: error.cause
        })
      )
    )
    const app = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
      request.method === "GET" && request.url.split("?")[0] === path
        ? Effect.map(exposition(producer), (text) => HttpServerResponse.text(text, { contentType }))
        : Effect.succeed(HttpServerResponse.empty({ status: 404 })))
    yield* HttpMiddleware.withTracerDisabledWhenEffect(server.serve(app), () => true)
    const bound = server.address._tag === "TcpAddress" ? server.address.port : port
    const urlHost = host.includes(":") ? `[${host}]` : host
    return { url: `http://${urlHost}:${bound}${path}`, port: bound }
  })

/**
 * Serve `/metrics` on `host:port` (default `127.0.0.1`) while the layer lives.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<MetricsEndpoint, MetricsServerError> =>
  Layer.scoped(MetricsEndpoint, make(options))
