/**
 * The life of one call, shared by every endpoint (chat, streaming chat, embeddings, models,
 * responses): limiter permit → HTTP attempt with its timeout → classification → outcome
 * reported to the limiter → retry under the policy, budget and deadline → metrics, spans, logs.
 *
 * Endpoints differ only in how they read a successful response (`handle`).
 *
 * @internal
 */
import type { HttpClient } from "@effect/platform"
import { HttpClientRequest, type HttpClientResponse } from "@effect/platform"
import { Clock, Duration, Effect, Exit, Metric, Option, Redacted, type Scope } from "effect"
import { createHash } from "node:crypto"
import type * as ApiKeyProvider from "../ApiKeyProvider.js"
import type { GrokConfig } from "../GrokConfig.js"
import * as GrokError from "../GrokError.js"
import type * as RateLimiter from "../resilience/RateLimiter.js"
import * as RateLimitHeaders from "../resilience/RateLimitHeaders.js"
import type * as RetryBudget from "../resilience/RetryBudget.js"
import * as RetryPolicy from "../resilience/RetryPolicy.js"
import * as Metrics from "../telemetry/Metrics.js"

/** Everything a call needs, resolved once when the client is built. */
export interface ClientContext {
  readonly config: GrokConfig
  readonly http: HttpClient.HttpClient
  readonly limiter: RateLimiter.Service
  readonly keys: ApiKeyProvider.Service
  /** The retry settings in force, with the budget this client shares between its calls. */
  readonly retry: RetryPolicy.Settings & { readonly budget: RetryBudget.RetryBudget }
}

/** Per-call overrides. */
export interface CallSettings {
  readonly priority: RateLimiter.Priority
  readonly policy: RetryPolicy.RetryPolicy<GrokError.GrokError>
  readonly attemptTimeout: Duration.Duration
  readonly deadline: Duration.Duration
}

/**
 * What the limiter is told when the permit is released. Filled in as the attempt learns
 * things (status and headers first, usage last), read once by the release finalizer.
 */
export interface OutcomeCell {
  status: number | null
  rateLimit: RateLimitHeaders.RateLimitInfo | undefined
  retryAfter: Duration.Duration | undefined
  usedTokens: number | undefined
  rateLimited: boolean
}

export type Operation = "chat" | "embeddings" | "models" | "responses"

/** One endpoint call, described once; every attempt replays it. */
export interface CallSpec<A> {
  readonly operation: Operation
  readonly model: string
  readonly request: HttpClientRequest.HttpClientRequest
  readonly tokens: number
  /** Read a 2xx response. Runs inside the attempt's scope and timeout. */
  readonly handle: (
    response: HttpClientResponse.HttpClientResponse,
    cell: OutcomeCell
  ) => Effect.Effect<A, GrokError.GrokError, Scope.Scope>
  /** The error an attempt that outlives its timeout fails with (default: `Timeout`, phase "attempt"). */
  readonly onTimeout?: (after: Duration.Duration) => GrokError.GrokError
}

const limitKeyCache = new Map<string, string>()

/**
 * The limiter key: a hash of the API key plus the model. The raw key never leaves this
 * function (not in Redis keys, metrics or logs).
 */
export const limitKey = (apiKey: Redacted.Redacted<string>, model: string): string => {
  const raw = Redacted.value(apiKey)
  let hashed = limitKeyCache.get(raw)
  if (hashed === undefined) {
    hashed = createHash("sha256").update(raw).digest("hex").slice(0, 16)
    if (limitKeyCache.size > 64) limitKeyCache.clear()
    limitKeyCache.set(raw, hashed)
  }
  return `${hashed}:${model}`
}

const transportError = (cause: unknown, what: string) =>
  new GrokError.TransportError({ message: `connection failed: ${what}`, status: null, retryable: true, cause })

/** Map the HTTP layer's errors to GrokError, once, at the edge. Keeps the request (and its headers) out of the error. */
export const fromHttpError = (error: { readonly _tag: string; readonly reason: string; readonly cause?: unknown; readonly message: string }): GrokError.GrokError => {
  const cause = error.cause instanceof Error ? error.cause.message : error.reason
  return transportError(error.cause, `${error.reason}: ${cause}`)
}

const isSuccess = (status: number) => status >= 200 && status < 300

/**
 * Send the request and classify the answer. A non-2xx status, or a 2xx whose body is an xAI
 * error, fails with the matching GrokError; otherwise the response is handed on unread.
 */
const send = (
  ctx: ClientContext,
  request: HttpClientRequest.HttpClientRequest,
  cell: OutcomeCell
): Effect.Effect<HttpClientResponse.HttpClientResponse, GrokError.GrokError, Scope.Scope> =>
  Effect.gen(function*() {
    const response = yield* ctx.http.execute(request).pipe(Effect.mapError(fromHttpError))
    const nowMillis = yield* Clock.currentTimeMillis
    const advice = RateLimitHeaders.parse(response.headers, nowMillis)
    cell.status = response.status
    cell.rateLimit = advice.rateLimit
    cell.retryAfter = advice.retryAfter
    // A 2xx is read by the endpoint's `handle`, which also spots an xAI error inside it.
    if (isSuccess(response.status)) return response
    const body = yield* response.text.pipe(Effect.mapError(fromHttpError))
    // Never undefined for a non-2xx status.
    const error = GrokError.classifyResponse({ status: response.status, headers: response.headers, body, nowMillis })!
    cell.rateLimited = error._tag === "RateLimited"
    return yield* Effect.fail(error)
  })

export const isJson = (response: HttpClientResponse.HttpClientResponse) =>
  (response.headers["content-type"] ?? "").includes("json")

/**
 * Read a 2xx JSON body: a body that is really an xAI error (status 200 with `{code, error}`)
 * becomes that error; malformed JSON becomes a DecodeError.
 */
export const readJsonBody = (
  response: HttpClientResponse.HttpClientResponse
): Effect.Effect<unknown, GrokError.GrokError> =>
  Effect.gen(function*() {
    const body = yield* response.text.pipe(Effect.mapError(fromHttpError))
    const nowMillis = yield* Clock.currentTimeMillis
    const error = GrokError.classifyResponse({ status: response.status, headers: response.headers, body, nowMillis })
    if (error !== undefined) return yield* Effect.fail(error)
    try {
      return JSON.parse(body) as unknown
    } catch {
      return yield* Effect.fail(decodeError("the response body is not valid JSON", body, response))
    }
  })

export const decodeError = (what: string, body: string, response?: HttpClientResponse.HttpClientResponse) =>
  new GrokError.DecodeError({
    message: `${what}${response?.headers["x-request-id"] ? ` (request id ${response.headers["x-request-id"]})` : ""}`,
    status: response?.status ?? null,
    retryable: false,
    requestId: response?.headers["x-request-id"],
    body: body.length > 500 ? `${body.slice(0, 500)}…` : body
  })

/** Tag a metric with the call's model (and more). */
const tagged = <Type, In, Out>(metric: Metric.Metric<Type, In, Out>, tags: Record<string, string>) =>
  Metric.taggedWithLabels(metric, Object.entries(tags).map(([k, v]) => ({ key: k, value: v }) as never))

const statusLabel = (status: number | null) => (status === null ? "none" : String(status))

/**
 * One attempt: permit → authorised request with the attempt timeout → `handle`. The permit
 * is released when `scope` closes, with what the attempt learned.
 */
export const attempt = <A>(
  ctx: ClientContext,
  spec: CallSpec<A>,
  settings: CallSettings,
  apiKey: Redacted.Redacted<string>
): Effect.Effect<A, GrokError.GrokError, Scope.Scope> =>
  Effect.gen(function*() {
    const cell: OutcomeCell = { status: null, rateLimit: undefined, retryAfter: undefined, usedTokens: undefined, rateLimited: false }
    const permit = yield* Effect.acquireRelease(
      ctx.limiter.acquire({ key: limitKey(apiKey, spec.model), tokens: spec.tokens, priority: settings.priority }).pipe(
        Effect.mapError((rejected) =>
          new GrokError.QueueRejected({
            message: rejected.message,
            status: null,
            retryable: rejected.retryable,
            reason: rejected.reason
          })
        )
      ),
      (permit, exit) =>
        permit.release(
          Exit.isInterrupted(exit)
            ? { status: null, usedTokens: 0 }
            : { status: cell.status, rateLimit: cell.rateLimit, retryAfter: cell.retryAfter, usedTokens: cell.usedTokens, rateLimited: cell.rateLimited }
        )
    )
    yield* Metric.update(Metrics.limiterWait, Duration.toSeconds(permit.waited))
    const started = yield* Clock.currentTimeMillis
    const request = HttpClientRequest.bearerToken(spec.request, Redacted.value(apiKey))
    return yield* send(ctx, request, cell).pipe(
      Effect.flatMap((response) => spec.handle(response, cell)),
      Effect.timeoutFail({
        duration: settings.attemptTimeout,
        onTimeout: () =>
          spec.onTimeout?.(settings.attemptTimeout) ?? new GrokError.Timeout({
            message: `attempt timed out after ${Duration.format(settings.attemptTimeout)}`,
            status: null,
            retryable: true,
            phase: "attempt",
            after: settings.attemptTimeout
          })
      }),
      Effect.onExit((exit) =>
        Effect.gen(function*() {
          if (Exit.isInterrupted(exit)) return
          const elapsed = (yield* Clock.currentTimeMillis) - started
          const tags = { "gen_ai.request.model": spec.model, "http.response.status_code": statusLabel(cell.status) }
          yield* Metric.increment(tagged(Metrics.attempts, tags))
          yield* Metric.update(tagged(Metrics.attemptDuration, tags), elapsed / 1000)
          if (cell.status === 429) {
            const limit = Exit.isFailure(exit) && Option.isSome(failureOf(exit)) ? limitLabel(failureOf(exit)) : "unknown"
            yield* Metric.increment(tagged(Metrics.rateLimited, { "gen_ai.request.model": spec.model, limit }))
          }
        })
      ),
      Effect.withSpan("effect_grok.attempt", {
        attributes: { "gen_ai.operation.name": spec.operation, "gen_ai.request.model": spec.model }
      })
    )
  })

const failureOf = <A>(exit: Exit.Exit<A, GrokError.GrokError>): Option.Option<GrokError.GrokError> =>
  Exit.isFailure(exit) ? Option.fromNullable(exit.cause._tag === "Fail" ? exit.cause.error : undefined) : Option.none()

const limitLabel = (error: Option.Option<GrokError.GrokError>): string =>
  Option.match(error, {
    onNone: () => "unknown",
    onSome: (e) => (e._tag === "RateLimited" ? e.limit : e._tag === "QuotaExhausted" ? "quota" : "unknown")
  })

/**
 * An attempt, plus one key refresh: on `AuthenticationFailed` the key provider is asked once
 * per call for a new key, and the attempt is made again with it.
 */
export const attemptWithKeyRefresh = <A, R>(
  ctx: ClientContext,
  run: (apiKey: Redacted.Redacted<string>) => Effect.Effect<A, GrokError.GrokError, R>,
  refreshed: { done: boolean }
): Effect.Effect<A, GrokError.GrokError, R> =>
  Effect.flatMap(ctx.keys.current, (apiKey) =>
    run(apiKey).pipe(
      Effect.catchTag("AuthenticationFailed", (error) => {
        if (refreshed.done) return Effect.fail(error)
        refreshed.done = true
        return Effect.flatMap(ctx.keys.refresh, Option.match({ onNone: () => Effect.fail(error), onSome: run }))
      })
    )
  )

/** Retry `effect` under the call's policy, the client's budget and the call's deadline. */
export const withRetries = <A, R>(
  ctx: ClientContext,
  settings: CallSettings,
  spec: { readonly operation: Operation; readonly model: string },
  effect: Effect.Effect<A, GrokError.GrokError, R>
): Effect.Effect<A, GrokError.GrokError, R> =>
  RetryPolicy.retry(effect, {
    policy: settings.policy,
    deadline: settings.deadline,
    budget: ctx.retry.budget,
    onRetry: (event) =>
      Effect.zipRight(
        Metric.increment(
          tagged(Metrics.retries, { "gen_ai.request.model": spec.model, reason: event.reason, "error.type": event.error._tag })
        ),
        Effect.logInfo("retrying Grok call").pipe(
          Effect.annotateLogs({
            operation: spec.operation,
            model: spec.model,
            retry: event.attempt,
            delayMs: Duration.toMillis(event.delay),
            reason: event.reason,
            error: event.error._tag,
            status: event.error.status ?? "none",
            requestId: event.error.requestId ?? "none"
          })
        )
      ),
    onDeadline: (after) =>
      new GrokError.Timeout({
        message: `call deadline of ${Duration.format(after)} exceeded`,
        status: null,
        retryable: false,
        phase: "deadline",
        after
      })
  })

/** Record the call-level metrics (requests, end-to-end latency) around `effect`. */
export const measured = <A, E extends { readonly _tag: string }, R>(
  spec: { readonly operation: Operation; readonly model: string },
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.gen(function*() {
    const started = yield* Clock.currentTimeMillis
    const exit = yield* Effect.exit(effect)
    const elapsed = (yield* Clock.currentTimeMillis) - started
    if (!Exit.isInterrupted(exit)) {
      const base = { "gen_ai.request.model": spec.model, "gen_ai.operation.name": spec.operation }
      const outcome = Exit.isSuccess(exit)
        ? { ...base, outcome: "ok", "error.type": "none" }
        : { ...base, outcome: "error", "error.type": exit.cause._tag === "Fail" ? exit.cause.error._tag : "defect" }
      yield* Metric.increment(tagged(Metrics.requests, outcome))
      yield* Metric.update(tagged(Metrics.operationDuration, base), elapsed / 1000)
      yield* Metric.update(tagged(Metrics.latencyMillis, { "gen_ai.request.model": spec.model }), elapsed)
    }
    return yield* exit
  }).pipe(
    Effect.withSpan(`gen_ai.${spec.operation}`, {
      attributes: { "gen_ai.operation.name": spec.operation, "gen_ai.request.model": spec.model, "gen_ai.system": "xai" }
    })
  )

/** Token usage as xAI reports it, recorded per model. */
export interface UsageLike {
  readonly prompt_tokens?: number | null | undefined
  readonly completion_tokens?: number | null | undefined
  readonly total_tokens?: number | null | undefined
  readonly prompt_tokens_details?: { readonly cached_tokens?: number | null | undefined } | null | undefined
  readonly completion_tokens_details?: { readonly reasoning_tokens?: number | null | undefined } | null | undefined
  readonly cost_in_usd_ticks?: number | null | undefined
}

export const recordUsage = (model: string, usage: UsageLike | null | undefined): Effect.Effect<void> =>
  usage == null
    ? Effect.void
    : Effect.forEach(
      [
        ["input", usage.prompt_tokens],
        ["output", usage.completion_tokens],
        ["reasoning", usage.completion_tokens_details?.reasoning_tokens],
        ["cached", usage.prompt_tokens_details?.cached_tokens],
        ["total", usage.total_tokens]
      ] as const,
      ([type, value]) =>
        value == null || !Number.isFinite(value)
          ? Effect.void
          : Metric.incrementBy(tagged(Metrics.tokens, { "gen_ai.request.model": model, "gen_ai.token.type": type }), value),
      { discard: true }
    ).pipe(
      Effect.zipRight(
        usage.cost_in_usd_ticks == null || !Number.isFinite(usage.cost_in_usd_ticks)
          ? Effect.void
          : Metric.incrementBy(tagged(Metrics.costTicks, { "gen_ai.request.model": model }), usage.cost_in_usd_ticks)
      )
    )

/** A whole non-streaming call: attempts with key refresh, retries, metrics. */
export const call = <A>(ctx: ClientContext, spec: CallSpec<A>, settings: CallSettings): Effect.Effect<A, GrokError.GrokError> => {
  const refreshed = { done: false }
  const once = attemptWithKeyRefresh(ctx, (apiKey) => Effect.scoped(attempt(ctx, spec, settings, apiKey)), refreshed)
  return measured(spec, withRetries(ctx, settings, spec, once))
}
