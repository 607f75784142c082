/**
 * `@effect/platform`'s `HttpClient` on undici: raw (one request, the body read and parsed,
 * nothing else: the overhead baseline), and with `HttpClient.retryTransient` on an
 * exponential schedule (0.5 s doubling, 3 retries), non-2xx made errors outside it.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Context, Effect, Layer, Schedule, type Scope } from "effect"
import type { BenchClient, CallOutcome, ClientOptions } from "../clients.js"
import { contentOf, failed, ok, requestBody } from "./shared.js"

const undici = Effect.map(Layer.build(NodeHttpClient.layerUndici), Context.get(HttpClient.HttpClient))

const callWith = (http: HttpClient.HttpClient, options: ClientOptions) => (index: number): Effect.Effect<CallOutcome> =>
  http.execute(
    HttpClientRequest.post(`${options.url}/chat/completions`).pipe(
      HttpClientRequest.bearerToken(options.apiKey),
      HttpClientRequest.bodyUnsafeJson(requestBody(index))
    )
  ).pipe(
    Effect.flatMap((response) => response.json),
    Effect.scoped,
    Effect.map((body) => (contentOf(body) === undefined ? failed("NoContent") : ok)),
    Effect.catchAll((error) => Effect.succeed(failed(`${error._tag}:${error.reason}`)))
  )

/** @since 0.1.0 */
export const raw = (options: ClientOptions): Effect.Effect<BenchClient, never, Scope.Scope> =>
  Effect.map(undici, (http) => ({ call: callWith(http, options) }))

/** @since 0.1.0 */
export const retryTransient = (options: ClientOptions): Effect.Effect<BenchClient, never, Scope.Scope> =>
  Effect.map(undici, (http) => ({
    call: callWith(
      http.pipe(
        HttpClient.retryTransient({ schedule: Schedule.exponential("500 millis"), times: 3 }),
        HttpClient.filterStatusOk
      ),
      options
    )
  }))
