/**
 * `@effect/platform`'s `HttpClient` on undici: raw (one request, the body read and parsed,
 * nothing else: the overhead baseline); checked (raw, plus the checks a typed client makes
 * on every call and nothing resilient: a lower bound for any such client's overhead); and
 * with `HttpClient.retryTransient` on an exponential schedule (0.5 s doubling, 3 retries),
 * non-2xx made errors outside it.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Context, Effect, Either, Layer, Metric, MetricLabel, Schedule, type Scope } from "effect"
import * as RateLimitHeaders from "../../src/resilience/RateLimitHeaders.js"
import * as PlainChat from "../../src/schema/internal/plainChat.js"
import * as Metrics from "../../src/telemetry/Metrics.js"
import type { BenchClient, CallOutcome, ClientOptions } from "../clients.js"
import { contentOf, failed, ok, requestBody } from "./shared.js"

const undici = Effect.map(Layer.build(NodeHttpClient.layerUndici), Context.get(HttpClient.HttpClient))

/** The chat completion POST the Effect clients send, with `body`. @since 0.1.0 */
export const chatRequest = (options: ClientOptions, body: unknown): HttpClientRequest.HttpClientRequest =>
  HttpClientRequest.post(`${options.url}/chat/completions`).pipe(
    HttpClientRequest.bearerToken(options.apiKey),
    HttpClientRequest.bodyUnsafeJson(body)
  )

/** Chat call number `index` through `http`, its answer parsed as JSON and nothing else. @since 0.1.0 */
export const rawAnswer = (http: HttpClient.HttpClient, options: ClientOptions, index: number) =>
  http.execute(chatRequest(options, requestBody(index))).pipe(Effect.flatMap((response) => response.json), Effect.scoped)

/** The raw call as a bench client sees it: a usable answer, or the failure's kind. @since 0.1.0 */
export const rawCall = (http: HttpClient.HttpClient, options: ClientOptions) => (index: number): Effect.Effect<CallOutcome> =>
  rawAnswer(http, options, index).pipe(
    Effect.map((body) => (contentOf(body) === undefined ? failed("NoContent") : ok)),
    Effect.catchAll((error) => Effect.succeed(failed(`${error._tag}:${error.reason}`)))
  )

/** @since 0.1.0 */
export const raw = (options: ClientOptions): Effect.Effect<BenchClient, never, Scope.Scope> =>
  Effect.map(undici, (http) => ({ call: rawCall(http, options) }))

const validate = PlainChat.decodeRequest
const decode = PlainChat.decodeCompletion
// Series of their own, so that the baseline adds nothing to effect-grok's metrics.
const checkedCalls = Metric.taggedWithLabels(Metrics.requests, [MetricLabel.make("gen_ai.request.model", "checked-httpclient")])
const checkedDuration = Metric.taggedWithLabels(Metrics.operationDuration, [MetricLabel.make("gen_ai.request.model", "checked-httpclient")])
const checkedTokens = Metric.taggedWithLabels(Metrics.tokens, [MetricLabel.make("gen_ai.request.model", "checked-httpclient")])

/**
 * The raw call plus what any typed client does on every call, and nothing resilient (no
 * timeout, limiter, breaker or retry): the request validated and the answer decoded as
 * effect-grok does it (plain shapes by hand, others by schema), the rate-limit headers read, and the call
 * counted in three metrics. What this adds to the raw call is a floor under the per-call
 * overhead of such a client.
 *
 * @since 0.1.0
 */
export const checked = (options: ClientOptions): Effect.Effect<BenchClient, never, Scope.Scope> =>
  Effect.map(undici, (http) => ({
    call: (index) =>
      Effect.clockWith((clock) => {
        const started = clock.unsafeCurrentTimeMillis()
        const body = validate({ ...requestBody(index), stream: false })
        if (Either.isLeft(body)) return Effect.succeed(failed("BadRequest"))
        return http.execute(chatRequest(options, body.right)).pipe(
          Effect.flatMap((response) =>
            Effect.map(response.json, (json): CallOutcome => {
              const now = clock.unsafeCurrentTimeMillis()
              RateLimitHeaders.parse(response.headers, now)
              const completion = decode(json)
              if (Either.isLeft(completion)) return failed("DecodeError")
              checkedCalls.unsafeUpdate(1, [])
              checkedDuration.unsafeUpdate((now - started) / 1000, [])
              checkedTokens.unsafeUpdate(completion.right.usage?.total_tokens ?? 0, [])
              return contentOf(json) === undefined ? failed("NoContent") : ok
            })
          ),
          Effect.scoped,
          Effect.catchAll((error) => Effect.succeed(failed(`${error._tag}:${error.reason}`)))
        )
      })
  }))

/** @since 0.1.0 */
export const retryTransient = (options: ClientOptions): Effect.Effect<BenchClient, never, Scope.Scope> =>
  Effect.map(undici, (http) => ({
    call: rawCall(
      http.pipe(
        HttpClient.retryTransient({ schedule: Schedule.exponential("500 millis"), times: 3 }),
        HttpClient.filterStatusOk
      ),
      options
    )
  }))
