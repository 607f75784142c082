/**
 * Export over real loopback sockets: `/metrics` scraped with an HTTP GET after calls to the
 * simulator (the series and their labels, in the Prometheus text format), and OTLP/HTTP
 * pushed to a collector stand-in (spans and metrics, flushed when the layer is released).
 * The API key is in neither.
 */
import { describe, expect, it } from "@effect/vitest"
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Either, Exit, type Scope } from "effect"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { gunzipSync } from "node:zlib"
import * as GrokClient from "../src/GrokClient.js"
import * as GrokConfig from "../src/GrokConfig.js"
import * as RateLimiter from "../src/resilience/RateLimiter.js"
import * as Simulator from "../src/simulator/Simulator.js"
import * as Otlp from "../src/telemetry/Otlp.js"
import * as Prometheus from "../src/telemetry/Prometheus.js"
import { drive, simulatorActivity } from "./support/drive.js"

const KEY = "xai-export-secret-0123456789abcdef"
const hello: GrokClient.ChatRequest = { messages: [{ role: "user", content: "Say hi" }] }

/** A simulator (its 2nd request answered 503), a client, and two calls through them. */
const twoCalls = Effect.gen(function*() {
  const sim = yield* Effect.orDie(Simulator.make({ faults: [{ nth: [2], fault: { kind: "status", status: 503 } }] }))
  const config = Either.getOrThrow(GrokConfig.make({ apiKey: KEY, baseUrl: sim.url }))
  const grok = yield* GrokClient.make(config).pipe(Effect.provideService(RateLimiter.RateLimiter, RateLimiter.unlimited))
  yield* Effect.flatMap(
    Effect.fork(Effect.all([grok.chat(hello), grok.chat({ ...hello, model: "grok-3-mini" })], { concurrency: 1 })),
    (fiber) => drive(fiber, simulatorActivity(sim))
  )
  return sim
})

const get = (url: string) =>
  Effect.flatMap(HttpClient.HttpClient, (client) =>
    Effect.flatMap(client.execute(HttpClientRequest.get(url)), (response) =>
      Effect.map(response.text, (body) => ({ status: response.status, contentType: response.headers["content-type"], body })))).pipe(
    Effect.scoped
  )

/** The value of the exposition line `series` (exact name and labels as printed). */
const valueOf = (text: string, series: string): number | undefined => {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

describe("Prometheus /metrics", () => {
  it.effect("a scrape over loopback HTTP returns every series with its labels", () =>
    Effect.gen(function*() {
      const endpoint = yield* Prometheus.make({ port: 0 })
      expect(endpoint.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
      yield* twoCalls
      const scrape = yield* get(endpoint.url)
      expect(scrape.status).toBe(200)
      expect(scrape.contentType).toContain("text/plain; version=0.0.4")
      const text = scrape.body

      expect(text).toContain("# TYPE effect_grok_requests_total counter")
      expect(
        valueOf(
          text,
          "effect_grok_requests_total{gen_ai_request_model=\"grok-3-mini\",gen_ai_operation_name=\"chat\",outcome=\"ok\",error_type=\"none\",http_response_status_code=\"200\"}"
        )
      ).toBe(1)
      expect(
        valueOf(text, "effect_grok_attempts_total{gen_ai_request_model=\"grok-3-mini\",http_response_status_code=\"503\",error_type=\"ServerError\"}")
      ).toBe(1)
      expect(valueOf(text, "effect_grok_retries_total{gen_ai_request_model=\"grok-3-mini\",reason=\"backoff\",error_type=\"ServerError\"}")).toBe(1)
      expect(text).toMatch(/effect_grok_tokens_total\{gen_ai_request_model="grok-4\.3",gen_ai_token_type="total"\} \d+/)
      expect(text).toContain("# TYPE gen_ai_client_operation_duration histogram")
      expect(text).toMatch(
        /gen_ai_client_operation_duration_bucket\{gen_ai_request_model="grok-4\.3",gen_ai_operation_name="chat",gen_ai_provider_name="x_ai",le="0\.01"\} \d+/
      )
      expect(text).toMatch(/gen_ai_client_operation_duration_count\{gen_ai_request_model="grok-4\.3",[^}]*\} 1/)
      expect(text).toContain("# TYPE gen_ai_client_token_usage histogram")
      expect(text).toMatch(/gen_ai_client_token_usage_sum\{[^}]*gen_ai_token_type="input"\} \d+/)
      expect(text).toMatch(/effect_grok_attempt_duration_bucket\{gen_ai_request_model="grok-4\.3",http_response_status_code="200",le="\+Inf"\} \d+/)
      expect(text).toMatch(/effect_grok_limiter_wait_count\{gen_ai_request_model="grok-4\.3"\} \d+/)
      expect(text).toMatch(/effect_grok_limiter_queue_depth\{gen_ai_request_model="grok-4\.3"\} 0/)
      expect(text).toMatch(/effect_grok_retry_budget_level [\d.]+/)
      expect(text).toMatch(/effect_grok_latency_ms_quantiles\{quantile="0\.99"\} [\d.]+/)
      expect(text).toContain("target_info{service_name=\"effect-grok\"")
      expect(text).not.toContain(KEY)

      expect((yield* get(endpoint.url.replace("/metrics", "/other"))).status).toBe(404)
    }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici)))

  it.effect("a port in use or out of range is a typed error", () =>
    Effect.gen(function*() {
      const first = yield* Prometheus.make({ port: 0 })
      const taken = yield* Effect.exit(Prometheus.make({ port: first.port }))
      expect(Exit.isFailure(taken) && String(taken.cause)).toContain("MetricsServerError")
      expect(Exit.isFailure(taken) && String(taken.cause)).toContain(`cannot serve metrics on 127.0.0.1:${first.port}`)
      const invalid = yield* Effect.exit(Prometheus.make({ port: 70_000 }))
      expect(Exit.isFailure(invalid) && String(invalid.cause)).toContain("invalid metrics port: 70000")
    }).pipe(Effect.scoped))
})

// ---------------------------------------------------------------------------
// OTLP
// ---------------------------------------------------------------------------

interface Received {
  readonly path: string
  readonly contentType: string | undefined
  readonly body: string
}

/** A stand-in OpenTelemetry collector on loopback that keeps what it is sent. */
const collector: Effect.Effect<{ readonly url: string; readonly received: Array<Received> }, never, Scope.Scope> = Effect.map(
  Effect.acquireRelease(
    Effect.async<{ readonly server: ReturnType<typeof createServer>; readonly received: Array<Received> }>((resume) => {
      const received: Array<Received> = []
      const server = createServer((request, response) => {
        const chunks: Array<Buffer> = []
        request.on("data", (chunk: Buffer) => chunks.push(chunk))
        request.on("end", () => {
          const raw = Buffer.concat(chunks)
          const body = request.headers["content-encoding"] === "gzip" ? gunzipSync(raw) : raw
          received.push({ path: request.url ?? "", contentType: request.headers["content-type"], body: body.toString("utf8") })
          response.writeHead(200, { "content-type": "application/json" }).end("{}")
        })
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, received })))
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ),
  ({ received, server }) => ({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received })
)

describe("OTLP export", () => {
  it.effect("spans and metrics reach the collector when the layer is released, without the key", () =>
    Effect.gen(function*() {
      const otel = yield* collector
      yield* twoCalls.pipe(Effect.scoped, Effect.provide(Otlp.layer({ url: otel.url, serviceName: "otlp-test" })))

      const traces = otel.received.filter((r) => r.path === "/v1/traces")
      const metrics = otel.received.filter((r) => r.path === "/v1/metrics")
      expect(traces.length).toBeGreaterThan(0)
      expect(metrics.length).toBeGreaterThan(0)
      expect(traces[0]!.contentType).toContain("application/json")
      const spanNames = traces.flatMap((r) => [...r.body.matchAll(/"name":"([^"]+)"/g)].map((m) => m[1]))
      expect(spanNames).toContain("chat grok-4.3")
      expect(spanNames).toContain("chat grok-3-mini")
      expect(spanNames.filter((name) => name === "effect_grok.attempt")).toHaveLength(3)
      expect(traces.map((r) => r.body).join("")).toContain("otlp-test")
      const metricNames = metrics.flatMap((r) => [...r.body.matchAll(/"name":"([^"]+)"/g)].map((m) => m[1]))
      expect(metricNames).toEqual(expect.arrayContaining([
        "effect_grok.requests",
        "effect_grok.attempts",
        "gen_ai.client.operation.duration",
        "gen_ai.client.token.usage"
      ]))
      expect(otel.received.some((r) => r.body.includes(KEY))).toBe(false)
    }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici)))

  it.effect("a collector URL that is not http(s) is a typed error", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Effect.void.pipe(Effect.provide(Otlp.layer({ url: "localhost:4318" }))))
      expect(Exit.isFailure(exit) && String(exit.cause)).toContain("InvalidOtlpOptions")
      const interval = yield* Effect.exit(Effect.void.pipe(Effect.provide(Otlp.layer({ url: "http://127.0.0.1:4318", metricsInterval: "0 millis" }))))
      expect(Exit.isFailure(interval) && String(interval.cause)).toContain("metricsInterval")
    }))
})
