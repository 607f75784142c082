/**
 * One call to the Batch API: the authorised request, its answer classified as every answer
 * is (`pipeline.errorOf` for a non-2xx, `pipeline.readJsonBody` for a 2xx, so an xAI error
 * inside a 200 is an error here too), the body decoded, under the attempt timeout, counted in
 * `effect_grok.batch.calls`.
 *
 * Batch management calls do not go through the rate limiter or the circuit breakers: batch
 * requests do not count toward xAI's rate limits, and the add-call limit is the server's to
 * enforce (a 429 with Retry-After, which the caller's retry policy honours).
 *
 * @internal
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpRequest from "@effect/platform/HttpClientRequest"
import { Clock, Duration, Effect, Either, ParseResult, Redacted, Schema } from "effect"
import type * as ApiKeyProvider from "../../ApiKeyProvider.js"
import type { GrokConfig } from "../../GrokConfig.js"
import * as GrokError from "../../GrokError.js"
import * as RetryPolicy from "../../resilience/RetryPolicy.js"
import * as Record from "../../telemetry/internal/record.js"
import { decodeError, errorOf, fromHttpError, readJsonBody, tracing } from "../pipeline.js"

/** What the batch client needs, resolved once when it is built. */
export interface Context {
  readonly config: GrokConfig
  readonly http: HttpClient.HttpClient
  readonly keys: ApiKeyProvider.Service
  readonly retry: RetryPolicy.Settings
}

export type Operation = "create" | "list" | "get" | "add" | "requests" | "results" | "cancel"

export const url = (ctx: Context, path: string): string => `${ctx.config.baseUrl}${path}`

const attemptTimedOut = (after: Duration.Duration) =>
  new GrokError.Timeout({
    message: `attempt timed out after ${Duration.format(after)}`,
    status: null,
    retryable: true,
    phase: "attempt",
    after
  })

/** The answer's body decoded with `schema`; a body of another shape is a DecodeError. */
export const decodeWith = <A, I>(schema: Schema.Schema<A, I>, what: string) => {
  const decode = Schema.decodeUnknownEither(schema)
  return (json: unknown): Either.Either<A, GrokError.GrokError> =>
    Either.mapLeft(decode(json), (error) =>
      decodeError(`${what} did not match the expected shape: ${ParseResult.TreeFormatter.formatErrorSync(error)}`, JSON.stringify(json)))
}

/** Read a 2xx body, whatever it is (an add call answers `{}` or nothing). */
export const ignoreBody = (_json: unknown): Either.Either<void, GrokError.GrokError> => Either.void

/**
 * One attempt: send `request` with the current key and read the answer with `read`. Not
 * retried: the caller decides what may be retried (a create or an add is not idempotent).
 */
export const attempt = <A>(
  ctx: Context,
  operation: Operation,
  request: HttpClientRequest.HttpClientRequest,
  read: (json: unknown) => Either.Either<A, GrokError.GrokError>
): Effect.Effect<A, GrokError.GrokError> =>
  Effect.suspend(() => {
    // This attempt's status, for its metric (an attempt that got no answer has none).
    let status: number | null = null
    return once(ctx, operation, request, read, (received) => {
      status = received
    }).pipe(Effect.onExit(() => Record.batchCallEnded(operation, status)))
  })

const once = <A>(
  ctx: Context,
  operation: Operation,
  request: HttpClientRequest.HttpClientRequest,
  read: (json: unknown) => Either.Either<A, GrokError.GrokError>,
  answered: (status: number) => void
): Effect.Effect<A, GrokError.GrokError> => {
  const exchange = Effect.flatMap(ctx.keys.current, (key) =>
    ctx.http.execute(HttpRequest.bearerToken(request, Redacted.value(key))).pipe(
      Effect.mapError(fromHttpError),
      Effect.flatMap((response) => {
        answered(response.status)
        if (response.status >= 200 && response.status < 300) {
          // An empty 2xx body (xAI does not document what an add call answers) is read as `{}`.
          return response.status === 204 || response.headers["content-length"] === "0"
            ? Effect.flatMap(Effect.ignore(response.text), () => read({}))
            : Effect.flatMap(readJsonBody(response), read)
        }
        return Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.flatMap(errorOf(response, now), Effect.fail))
      })
    ))
  const timeout = ctx.config.attemptTimeout ?? ctx.retry.attemptTimeout
  const bounded = Duration.isFinite(timeout)
    ? Effect.timeoutFail(exchange, { duration: timeout, onTimeout: () => attemptTimedOut(timeout) })
    : exchange
  // A span only when a tracer is installed, as for calls (docs/observability.md).
  return tracing((on) => on ? Effect.withSpan(bounded, `effect_grok.batch.${operation}`, { kind: "client", captureStackTrace: false }) : bounded)
}

/**
 * An idempotent call (a read, a cancel), retried under the client's retry settings (the retry
 * loop never retries an error that cannot succeed, and never waits less than its Retry-After).
 */
export const idempotent = <A>(
  ctx: Context,
  operation: Operation,
  request: HttpClientRequest.HttpClientRequest,
  read: (json: unknown) => Either.Either<A, GrokError.GrokError>
): Effect.Effect<A, GrokError.GrokError> =>
  RetryPolicy.retry(attempt(ctx, operation, request, read), retrying(ctx))

/** The retry loop's options for a batch call under the client's retry settings (no retry budget: batch calls are few). */
export const retrying = (ctx: Context) => ({ policy: ctx.retry.policy, retryAfterCap: ctx.retry.retryAfterCap })

/**
 * Whether a failed call may have reached the server and been acted on: no answer arrived
 * (transport, timeout) or the server failed on its side. A refusal it explained (a 4xx, a
 * 429) was not acted on.
 */
export const isAmbiguous = (error: { readonly _tag: string; readonly status: number | null }): boolean =>
  error._tag !== "RateLimited" && (error.status === null || error.status >= 500)
