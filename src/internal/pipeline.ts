/**
 * The life of one call, shared by every endpoint (chat, streaming chat, embeddings, models,
 * responses): circuit breaker → limiter permit → HTTP attempt with its timeout →
 * classification → outcome reported to the limiter → retry under the policy, budget and
 * deadline → metrics, spans, logs.
 *
 * Endpoints differ only in how they read a successful response (`handle`).
 *
 * This runs once per request, so it is written for speed where that costs little clarity:
 * one timer per attempt covers both the attempt timeout and the call's deadline (see
 * `timers.ts`), the permit is held by `acquireUseRelease` rather than a scope, the attempt's
 * end is recorded in the same finalizer that releases its permit, and the retry loop costs
 * nothing until a first attempt fails (docs/architecture.md: "A call's common path is
 * short"; `npm run bench -- --only per-call` counts it). And it is written
 * for memory where calls wait: a non-streaming call asks for its first permit before it sets
 * up anything else (`call`), so that thousands of calls queued in the limiter cost little
 * more than their callers' fibers.
 *
 * @internal
 */
import type { HttpClient } from "@effect/platform"
import type { HttpClientResponse } from "@effect/platform"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Cause, Clock, Context, Duration, Effect, ExecutionStrategy, Exit, type Fiber, identity, Option, Redacted, Scope, type Tracer } from "effect"
import { createHash } from "node:crypto"
import type * as ApiKeyProvider from "../ApiKeyProvider.js"
import type { GrokConfig } from "../GrokConfig.js"
import * as GrokError from "../GrokError.js"
import * as Logging from "../Logging.js"
import type * as CircuitBreaker from "../resilience/CircuitBreaker.js"
import * as RateLimiter from "../resilience/RateLimiter.js"
import * as RateLimitHeaders from "../resilience/RateLimitHeaders.js"
import type * as RetryBudget from "../resilience/RetryBudget.js"
import { retryUntil } from "../resilience/internal/retryLoop.js"
import * as RetryPolicy from "../resilience/RetryPolicy.js"
import * as Record from "../telemetry/internal/record.js"
import { guarded, keyOf } from "./breaker.js"
import * as Timers from "./timers.js"

/** Everything a call needs, resolved once when the client is built. */
export interface ClientContext {
  readonly config: GrokConfig
  readonly http: HttpClient.HttpClient
  readonly limiter: RateLimiter.Service
  readonly keys: ApiKeyProvider.Service
  /** The retry settings in force, with the budget the call's retries draw on (`undefined`: none). */
  readonly retry: RetryPolicy.Settings & { readonly budget: RetryBudget.RetryBudget | undefined }
  /** The circuit breakers (per endpoint and model) every attempt passes before the limiter. */
  readonly breaker: CircuitBreaker.Service
  /** The attempts' timers (attempt timeout and call deadline), one fiber for the client. */
  readonly timers: Timers.Timers
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
  /** Which limit a 429 says was hit: an "at capacity" 429 is not a quota signal for the limiter. */
  refusedFor: GrokError.RateLimitKind | undefined
  /** The answer's `x-request-id`, for the attempt's span. */
  requestId: string | undefined
  /** The call this attempt belongs to: its usage goes on the call's metrics and the attempt's span. */
  readonly trace: Record.CallTrace
}

export type Operation = "chat" | "embeddings" | "models" | "responses"

/** One endpoint call, described once; every attempt replays it. `R`: what `handle` needs (a stream's scope). */
export interface CallSpec<A, R = never> {
  readonly operation: Operation
  readonly model: string
  /**
   * The request, built when an attempt is sent: a call waiting for the limiter holds its body,
   * not its encoded bytes too.
   */
  readonly request: () => HttpClientRequest.HttpClientRequest
  readonly tokens: number
  /** Read a 2xx response. Runs inside the attempt's timeout, holding its permit. */
  readonly handle: (
    response: HttpClientResponse.HttpClientResponse,
    cell: OutcomeCell
  ) => Effect.Effect<A, GrokError.GrokError, R>
  /** The error an attempt that outlives its timeout fails with (default: `Timeout`, phase "attempt"). */
  readonly onTimeout?: (after: Duration.Duration) => GrokError.GrokError
}

/** Per API key, its limiter key per model: one string shared by all the calls that use it. */
const limitKeyCache = new Map<string, Map<string, string>>()

/**
 * The limiter key: xAI limits per team and model, so the configured `rateLimitKey` (a team
 * or project id) plus the model when there is one, else a hash of the client's configured API
 * key plus the model (the configured key, not the one an attempt sends: a key provider that
 * rotates keys keeps the quota's pacing). The raw key never leaves this function (not in
 * Redis keys, metrics or logs).
 */
export const limitKey = (apiKey: Redacted.Redacted<string>, model: string, rateLimitKey?: string): string => {
  if (rateLimitKey !== undefined) return `${rateLimitKey}:${model}`
  const raw = Redacted.value(apiKey)
  let byModel = limitKeyCache.get(raw)
  if (byModel === undefined) {
    if (limitKeyCache.size > 64) limitKeyCache.clear()
    byModel = new Map()
    limitKeyCache.set(raw, byModel)
  }
  let key = byModel.get(model)
  if (key === undefined) {
    if (byModel.size > 256) byModel.clear()
    key = `${createHash("sha256").update(raw).digest("hex").slice(0, 16)}:${model}`
    byModel.set(model, key)
  }
  return key
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
): Effect.Effect<HttpClientResponse.HttpClientResponse, GrokError.GrokError> =>
  Effect.matchEffect(ctx.http.execute(request), {
    onFailure: (error) => Effect.fail(fromHttpError(error)),
    onSuccess: (response) =>
      Effect.clockWith((clock) => {
        const nowMillis = clock.unsafeCurrentTimeMillis()
        const advice = RateLimitHeaders.parse(response.headers, nowMillis)
        cell.status = response.status
        cell.requestId = advice.requestId
        cell.rateLimit = advice.rateLimit
        cell.retryAfter = advice.retryAfter
        // A 2xx is read by the endpoint's `handle`, which also spots an xAI error inside it.
        if (isSuccess(response.status)) return Effect.succeed(response)
        return Effect.flatMap(errorOf(response, nowMillis), (error) => {
          cell.rateLimited = error._tag === "RateLimited"
          cell.refusedFor = error._tag === "RateLimited" ? error.limit : undefined
          return Effect.fail(error)
        })
      })
  })

/** The GrokError a non-2xx answer stands for, its body read and classified (a body that cannot be read is a TransportError). */
export const errorOf = (
  response: HttpClientResponse.HttpClientResponse,
  nowMillis: number
): Effect.Effect<GrokError.GrokError, GrokError.GrokError> =>
  Effect.matchEffect(response.text, {
    onFailure: (error) => Effect.fail(fromHttpError(error)),
    // Never undefined for a non-2xx status.
    onSuccess: (body) => Effect.succeed(GrokError.classifyResponse({ status: response.status, headers: response.headers, body, nowMillis })!)
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
  Effect.matchEffect(response.text, {
    onFailure: (error) => Effect.fail(fromHttpError(error)),
    onSuccess: (body) =>
      Effect.clockWith((clock) => {
        const json = parseJson(body)
        // Parsed once: the check for an xAI error inside the 200 reads the parsed value.
        const error = GrokError.classifyResponse({
          status: response.status,
          headers: response.headers,
          body,
          nowMillis: clock.unsafeCurrentTimeMillis(),
          json: json === notJson ? undefined : json
        })
        if (error !== undefined) return Effect.fail(error)
        return json === notJson ? Effect.fail(decodeError("the response body is not valid JSON", body, response)) : Effect.succeed(json)
      })
  })

const notJson: unique symbol = Symbol("notJson")

const parseJson = (body: string): unknown => {
  try {
    return JSON.parse(body) as unknown
  } catch {
    return notJson
  }
}

export const decodeError = (what: string, body: string, response?: HttpClientResponse.HttpClientResponse) =>
  new GrokError.DecodeError({
    message: `${what}${response?.headers["x-request-id"] ? ` (request id ${response.headers["x-request-id"]})` : ""}`,
    status: response?.status ?? null,
    retryable: false,
    requestId: response?.headers["x-request-id"],
    body: body.length > 500 ? `${body.slice(0, 500)}…` : body
  })

/** Queue depth and permits in flight of the attempt's limiter key, on their gauges: sampled on arrival, admission and release. */
const sampleLimiter = (ctx: ClientContext, key: string, model: string) =>
  Effect.flatMap(ctx.limiter.stats(key), (stats) => Record.limiterSampled(model, stats))

/** An attempt arrives for `key`: its limiter's gauges, and a check that no other limiter paces the key. */
const arrived = (ctx: ClientContext, key: string, model: string) => {
  const check = pacedByAnother(ctx.limiter, key)
  return check === undefined ? sampleLimiter(ctx, key, model) : Effect.zipRight(check, sampleLimiter(ctx, key, model))
}

/** Per limiter key, the limiter that last paced a call of it. */
const pacedBy = new Map<string, WeakRef<RateLimiter.Service>>()
/** Keys already warned about, once per process. */
const warnedKeys = new Set<string>()

/**
 * Two limiters pacing the same quota at once do not see each other's calls, so together they
 * can send twice the quota: the trap of giving each client its own limiter (or building one
 * layer twice) when they share a key. Checked as each attempt arrives (a map lookup); when
 * another limiter paced the key last and still holds calls of it, a warning says so, once.
 * `undefined` when there is nothing to check.
 */
const pacedByAnother = (limiter: RateLimiter.Service, key: string): Effect.Effect<void> | undefined => {
  const last = pacedBy.get(key)?.deref()
  if (last === limiter) return undefined
  if (pacedBy.size > 10_000) pacedBy.clear()
  pacedBy.set(key, new WeakRef(limiter))
  if (last === undefined || warnedKeys.has(key)) return undefined
  return Effect.flatMap(last.stats(key), (stats) => {
    if (stats.inFlight + stats.queued === 0 || warnedKeys.has(key)) return Effect.void
    warnedKeys.add(key)
    return Effect.logWarning(
      "two rate limiters pace the same quota at once: they do not see each other's calls, so together they can exceed it. " +
        "Provide one limiter once, above every client of the quota (docs/rate-limiting.md), or give each its own rateLimitKey."
    ).pipe(Effect.annotateLogs({ limiterKey: key }))
  })
}

/**
 * The tracer every fiber has when the application installed none. Its spans go nowhere, so
 * the pipeline makes none with it: a call's two spans were a tenth of what it allocated.
 */
const nativeTracer: Tracer.Tracer = Effect.runSync(Effect.tracer)

/** `f` of whether spans made now would reach a tracer the application installed. */
export const tracing = <A, E, R>(
  f: (on: boolean) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> => Effect.withFiberRuntime((fiber) => f(traces(fiber)))

/** Whether spans made on `fiber` would reach a tracer the application installed. */
const traces = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean => fiber.currentTracer !== nativeTracer

/**
 * The attempt's span, a child of the call's: numbered, with the wait before it and the
 * limiter's. `undefined` when no tracer is installed.
 */
const attemptSpan = (
  spec: { readonly operation: Operation; readonly model: string },
  trace: Record.CallTrace,
  waited: Duration.Duration
): Effect.Effect<Tracer.Span | undefined> =>
  tracing((on) => on ? makeAttemptSpan(spec, trace, waited) : Effect.succeed(undefined))

const makeAttemptSpan = (
  spec: { readonly operation: Operation; readonly model: string },
  trace: Record.CallTrace,
  waited: Duration.Duration
) =>
  Effect.makeSpan("effect_grok.attempt", {
    kind: "client",
    captureStackTrace: false,
    attributes: {
      "gen_ai.operation.name": spec.operation,
      "gen_ai.request.model": spec.model,
      "effect_grok.attempt": trace.attempts,
      "effect_grok.limiter.wait_ms": Duration.toMillis(waited),
      ...(trace.attempts > 1
        ? { "effect_grok.retry.delay_ms": trace.retryDelayMillis, "effect_grok.retry.reason": trace.retryReason }
        : {})
    }
  })

/**
 * An attempt ended: its status, error and request id on its span and the call's trace; its
 * metrics; its span ended. An interrupted attempt (the deadline, a caller giving up) was
 * still sent: it counts.
 */
const attemptEnded = <A>(
  spec: { readonly model: string },
  trace: Record.CallTrace,
  cell: OutcomeCell,
  started: number,
  span: Tracer.Span | undefined,
  exit: Exit.Exit<A, GrokError.GrokError>
): Effect.Effect<void> => {
  const error = failureOf(exit)
  const errorType = Exit.isSuccess(exit)
    ? undefined
    : Option.isSome(error)
    ? error.value._tag
    : Exit.isInterrupted(exit)
    ? "interrupted"
    : "defect"
  const requestId = Option.isSome(error) ? error.value.requestId ?? cell.requestId : cell.requestId
  trace.status = cell.status
  if (span !== undefined) {
    if (cell.status !== null) span.attribute("http.response.status_code", cell.status)
    if (errorType !== undefined) span.attribute("error.type", errorType)
    if (requestId !== undefined) span.attribute("effect_grok.request_id", requestId)
  }
  const limit = cell.status === 429 ? limitLabel(error) : undefined
  // `unsafeCurrentTimeNanos`, as `Effect.useSpan` ends spans: TestClock's `currentTimeNanos`
  // throws on a fractional instant (a jittered retry delay makes one).
  return Effect.clockWith((clock) => {
    span?.end(clock.unsafeCurrentTimeNanos(), exit)
    return Record.attemptEnded(spec.model, cell.status, errorType, clock.unsafeCurrentTimeMillis() - started, limit)
  })
}

const newCell = (trace: Record.CallTrace): OutcomeCell => ({
  status: null,
  rateLimit: undefined,
  retryAfter: undefined,
  usedTokens: undefined,
  rateLimited: false,
  refusedFor: undefined,
  requestId: undefined,
  trace
})

/** What an attempt asks of the limiter: its key, token estimate and priority, and the call's deadline. */
const ticketFor = (
  spec: { readonly tokens: number },
  settings: CallSettings,
  key: string,
  deadlineAt: number
): RateLimiter.Ticket => ({ key, tokens: spec.tokens, priority: settings.priority, deadline: deadlineAt })

/**
 * The limiter's refusal as the call sees it: a `QueueRejected` saying why, with the wait the
 * limiter saw or predicted. A call refused at its deadline sent nothing and has no time left.
 */
const refusal = (rejected: RateLimiter.RateLimiterRejected, settings: CallSettings): GrokError.GrokError =>
  new GrokError.QueueRejected({
    message: rejected.reason === "deadline"
      ? `the rate limiter could not let the call go within its deadline of ${Duration.format(settings.deadline)}${
        rejected.predictedWait === undefined ? "" : `: its slot was ${Duration.format(rejected.predictedWait)} away`
      } (nothing was sent; ${rejected.message})`
      : rejected.message,
    status: null,
    retryable: rejected.reason === "deadline" ? false : rejected.retryable,
    reason: rejected.reason,
    waited: rejected.waited,
    predictedWait: rejected.predictedWait,
    deadline: settings.deadline
  })

/** A limiter failure as the call's: its refusal mapped by `refusal`, an interruption or defect as it is. */
const refused = (cause: Cause.Cause<RateLimiter.RateLimiterRejected>, settings: CallSettings): Cause.Cause<GrokError.GrokError> =>
  Cause.map(cause, (rejected) => refusal(rejected, settings))

/** A permit was granted: the wait and the key's new queue depth go on the metrics. */
const admitted = (ctx: ClientContext, key: string, model: string, permit: RateLimiter.Permit) =>
  Effect.flatMap(ctx.limiter.stats(key), (stats) => Effect.as(Record.limiterAdmitted(model, stats, Duration.toMillis(permit.waited)), permit))

/**
 * Wait for a permit until the call's deadline (the limiter enforces it: no timer, no fiber);
 * the limiter's refusal becomes the call's error; the wait goes on the metrics.
 */
const admit = (
  ctx: ClientContext,
  spec: { readonly model: string; readonly tokens: number },
  settings: CallSettings,
  key: string,
  deadlineAt: number
): Effect.Effect<RateLimiter.Permit, GrokError.GrokError> =>
  Effect.zipRight(
    arrived(ctx, key, spec.model),
    Effect.matchCauseEffect(ctx.limiter.acquire(ticketFor(spec, settings, key, deadlineAt)), {
      onFailure: (cause) => Effect.failCause(refused(cause, settings)),
      onSuccess: (permit) => admitted(ctx, key, spec.model, permit)
    })
  )

/**
 * The first attempt's admission, asked for before the call began (see `call`): a permit for
 * the call's limit key, or the refusal the attempt fails with. `taken` once an attempt holds the permit.
 */
export interface FirstAdmission {
  readonly permit: RateLimiter.Permit | undefined
  readonly refused: GrokError.GrokError | undefined
  taken: boolean
}

/**
 * Give the permit back with what the attempt learned. `unsent`: the attempt was abandoned
 * (interrupted by its caller), so its token estimate is refunded.
 */
const release = (ctx: ClientContext, key: string, model: string, permit: RateLimiter.Permit, cell: OutcomeCell, unsent: boolean) =>
  permit.release(
    unsent
      ? RateLimiter.cancelled
      : {
        status: cell.status,
        rateLimit: cell.rateLimit,
        retryAfter: cell.retryAfter,
        usedTokens: cell.usedTokens,
        rateLimited: cell.rateLimited,
        refusedFor: cell.refusedFor
      }
  ).pipe(Effect.zipRight(sampleLimiter(ctx, key, model)))

/** The authorised request, sent and classified, and a 2xx read by the endpoint's `handle`. */
const exchange = <A, R>(ctx: ClientContext, spec: CallSpec<A, R>, cell: OutcomeCell, apiKey: Redacted.Redacted<string>) =>
  send(ctx, HttpClientRequest.bearerToken(spec.request(), Redacted.value(apiKey)), cell).pipe(
    Effect.flatMap((response) => spec.handle(response, cell))
  )

const attemptTimeout = (spec: { readonly onTimeout?: ((after: Duration.Duration) => GrokError.GrokError) | undefined }, after: Duration.Duration): GrokError.GrokError =>
  spec.onTimeout?.(after) ?? new GrokError.Timeout({
    message: `attempt timed out after ${Duration.format(after)}`,
    status: null,
    retryable: true,
    phase: "attempt",
    after
  })

const deadlineExceeded = (after: Duration.Duration): GrokError.GrokError =>
  new GrokError.Timeout({
    message: `call deadline of ${Duration.format(after)} exceeded`,
    status: null,
    retryable: false,
    phase: "deadline",
    after
  })

/** What an attempt's timer is bounding: the attempt timeout, or the call's deadline when it comes first. */
type Phase = "attempt" | "deadline"

/** The error of an attempt whose bound passed: its own timeout, or the call's deadline. */
const expired = (
  spec: { readonly onTimeout?: ((after: Duration.Duration) => GrokError.GrokError) | undefined },
  settings: CallSettings,
  phase: Phase
): GrokError.GrokError => phase === "attempt" ? attemptTimeout(spec, settings.attemptTimeout) : deadlineExceeded(settings.deadline)

/** How long an attempt may wait for the breaker: until the call's deadline. */
const breakerWait = (settings: CallSettings, deadlineAt: number) =>
  deadlineAt === Infinity ? undefined : { at: deadlineAt, onExpired: () => deadlineExceeded(settings.deadline) }

/** `effect` as a child of the attempt's span, when there is one. */
const underSpan = <A, E, R>(effect: Effect.Effect<A, E, R>, span: Tracer.Span | undefined): Effect.Effect<A, E, R> =>
  span === undefined ? effect : Effect.withParentSpan(effect, span)

/**
 * One attempt of a call that must end by `deadlineAt` (epoch millis; `Infinity` for none):
 * circuit breaker → permit → authorised request → `handle`, with the permit released as it
 * ends. The limiter bounds the wait for a permit by the deadline; one timer then bounds the
 * exchange by whichever of the attempt timeout and the deadline comes first (see
 * `Timers.run`). While the breaker is open the attempt waits for it, until the deadline at
 * most (or fails at once with `CircuitOpen` in the breaker's fail mode), and takes no permit.
 *
 * `first`: the admission `call` asked for before the call began. It is this attempt's when
 * it is for the same limiter key and the breaker is closed; otherwise its permit goes back
 * unused (a permit is never held while waiting for the breaker) and the attempt asks again.
 */
const attemptWithin = <A>(
  ctx: ClientContext,
  spec: CallSpec<A>,
  settings: CallSettings,
  apiKey: Redacted.Redacted<string>,
  deadlineAt: number,
  trace: Record.CallTrace,
  first?: FirstAdmission
): Effect.Effect<A, GrokError.GrokError> => {
  const key = limitKey(ctx.config.apiKey, spec.model, ctx.config.rateLimitKey)
  return fromFirst(ctx, spec, settings, key, deadlineAt, first, (admission) =>
    attemptAdmitted(ctx, spec, settings, apiKey, key, deadlineAt, trace, admission))
}

/**
 * Run `attempt` with its admission: the first admission when the breaker is still closed (its
 * limit key is the attempt's: both come from the client's configuration), its refusal if it was refused, else a new wait for a permit (the first permit,
 * unusable, is given back before, so that none is held while waiting for the breaker).
 */
const fromFirst = <A, E, R>(
  ctx: ClientContext,
  spec: { readonly operation: Operation; readonly model: string; readonly tokens: number },
  settings: CallSettings,
  key: string,
  deadlineAt: number,
  first: FirstAdmission | undefined,
  attempt: (admission: Effect.Effect<RateLimiter.Permit, GrokError.GrokError>) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | GrokError.GrokError, R> => {
  if (first === undefined) return attempt(admit(ctx, spec, settings, key, deadlineAt))
  if (first.refused !== undefined) return Effect.fail(first.refused)
  const take = Effect.sync(() => {
    first.taken = true
    return first.permit!
  })
  return Effect.flatMap(ctx.breaker.state(keyOf(spec)), (state) =>
    state === "closed"
      ? attempt(take)
      : Effect.zipRight(
        Effect.flatMap(take, (permit) => permit.release(RateLimiter.cancelled)),
        attempt(admit(ctx, spec, settings, key, deadlineAt))
      ))
}

const attemptAdmitted = <A>(
  ctx: ClientContext,
  spec: CallSpec<A>,
  settings: CallSettings,
  apiKey: Redacted.Redacted<string>,
  key: string,
  deadlineAt: number,
  trace: Record.CallTrace,
  admission: Effect.Effect<RateLimiter.Permit, GrokError.GrokError>
): Effect.Effect<A, GrokError.GrokError> =>
  guarded(ctx.breaker, spec, Effect.suspend(() => {
    const cell = newCell(trace)
    // Set once the attempt is under way: its end is recorded with the permit's release, in
    // one finalizer rather than two (an attempt interrupted before it began records nothing).
    let began = -1
    let span: Tracer.Span | undefined
    // Whether the attempt's timer fired: its release can tell a timeout from a caller giving up.
    let control: Timers.Control<Phase> = noTimer
    const run = (now: number, attemptSpan: Tracer.Span | undefined): Effect.Effect<A, GrokError.GrokError> => {
      began = now
      span = attemptSpan
      trace.attemptSpan = attemptSpan
      const traced = underSpan(exchange(ctx, spec, cell, apiKey), attemptSpan)
      const attemptEnds = now + Duration.toMillis(settings.attemptTimeout)
      return attemptEnds === Infinity && deadlineAt === Infinity
        ? traced
        : Timers.run(
          ctx.timers,
          attemptEnds < deadlineAt ? "attempt" : "deadline",
          Math.min(attemptEnds, deadlineAt),
          (timer: Timers.Control<Phase>) => {
            control = timer
            return traced
          },
          (phase) => expired(spec, settings, phase)
        )
    }
    return Effect.acquireUseRelease(
      admission,
      (permit) =>
        Effect.clockWith((clock) => {
          trace.attempts++
          const now = clock.unsafeCurrentTimeMillis()
          // A call known to run untraced skips asking for a tracer on each attempt.
          return trace.traced === false
            ? run(now, undefined)
            : Effect.flatMap(attemptSpan(spec, trace, permit.waited), (made) => run(now, made))
        }),
      (permit, exit) => {
        // A timer that fired interrupted an attempt that was sent: the server may have counted it.
        const released = release(ctx, key, spec.model, permit, cell, Exit.isInterrupted(exit) && !control.expired())
        return began < 0 ? released : Effect.zipRight(attemptEnded(spec, trace, cell, began, span, exit), released)
      }
    )
  }), breakerWait(settings, deadlineAt))

const noTimer: Timers.Control<Phase> = { enter: () => {}, expired: () => false }

/**
 * One attempt in the current scope, for a streaming call whose response outlives the
 * attempt: the permit is released when `scope` closes. The wait for the breaker and the
 * permit ends at `deadlineAt` (epoch millis); then `settings.attemptTimeout`, or the deadline
 * when it comes first, bounds the attempt until `handle` returns (the first content, for a
 * stream).
 */
export const attempt = <A, R>(
  ctx: ClientContext,
  spec: CallSpec<A, R>,
  settings: CallSettings,
  apiKey: Redacted.Redacted<string>,
  deadlineAt: number,
  trace: Record.CallTrace,
  first?: FirstAdmission
): Effect.Effect<A, GrokError.GrokError, R | Scope.Scope> => {
  const key = limitKey(ctx.config.apiKey, spec.model, ctx.config.rateLimitKey)
  return fromFirst(ctx, spec, settings, key, deadlineAt, first, (admission) =>
    scopedAttempt(ctx, spec, settings, apiKey, key, deadlineAt, trace, admission))
}

const scopedAttempt = <A, R>(
  ctx: ClientContext,
  spec: CallSpec<A, R>,
  settings: CallSettings,
  apiKey: Redacted.Redacted<string>,
  key: string,
  deadlineAt: number,
  trace: Record.CallTrace,
  admission: Effect.Effect<RateLimiter.Permit, GrokError.GrokError>
): Effect.Effect<A, GrokError.GrokError, R | Scope.Scope> =>
  guarded(ctx.breaker, spec, ownScope(Effect.gen(function*() {
    const cell = newCell(trace)
    const permit = yield* Effect.acquireRelease(
      admission,
      (permit, exit) => release(ctx, key, spec.model, permit, cell, Exit.isInterrupted(exit))
    )
    trace.attempts++
    const started = yield* Clock.currentTimeMillis
    const span = yield* attemptSpan(spec, trace, permit.waited)
    trace.attemptSpan = span
    const traced = underSpan(exchange(ctx, spec, cell, apiKey), span)
    const attemptEnds = started + Duration.toMillis(settings.attemptTimeout)
    const endsAt = Math.min(attemptEnds, deadlineAt)
    const timed = endsAt === Infinity ? traced : Effect.timeoutFail(traced, {
      duration: Duration.millis(Math.max(0, endsAt - started)),
      onTimeout: () => expired(spec, settings, attemptEnds <= deadlineAt ? "attempt" : "deadline")
    })
    return yield* Effect.onExit(timed, (exit) => attemptEnded(spec, trace, cell, started, span, exit))
  })), breakerWait(settings, deadlineAt))

/**
 * Run `attempt` in its own scope inside the caller's, closed as soon as it fails: the breaker
 * may run a failed probe's attempt again after a wait, and its permit must go back first. A
 * success's scope lives on with the caller's (the stream is still being read).
 */
const ownScope = <A, E, R>(attempt: Effect.Effect<A, E, R | Scope.Scope>): Effect.Effect<A, E, R | Scope.Scope> =>
  Effect.flatMap(Effect.scopeWith((outer) => Scope.fork(outer, ExecutionStrategy.sequential)), (inner) =>
    Effect.provideService(attempt, Scope.Scope, inner).pipe(
      Effect.onError((cause) => Scope.close(inner, Exit.failCause(cause)))
    ))

const failureOf = <A, E>(exit: Exit.Exit<A, E>): Option.Option<E> =>
  Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()

const limitLabel = (error: Option.Option<GrokError.GrokError>): string =>
  Option.match(error, {
    onNone: () => "unknown",
    onSome: (e) => (e._tag === "RateLimited" ? e.limit : e._tag === "QuotaExhausted" ? "quota" : "unknown")
  })

/**
 * An attempt, plus one key refresh: on `AuthenticationFailed` the key provider is asked once
 * per call for a new key, and the attempt is made again with it.
 */
const attemptWithKeyRefresh = <A, R>(
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

/** The retry loop's options for a call: its policy, the client's budget, and on each retry its metrics and log. */
const retryLoop = (
  ctx: ClientContext,
  settings: CallSettings,
  spec: { readonly operation: Operation; readonly model: string },
  trace: Record.CallTrace
) => ({
  policy: settings.policy,
  budget: ctx.retry.budget,
  retryAfterCapMillis: Duration.toMillis(ctx.retry.retryAfterCap),
  onBudgetRefused: (error: GrokError.GrokError) =>
    Effect.as(Record.retryBudgetRefused(spec.model, error._tag), GrokError.budgetExhausted(error)),
  onRetry: (event: RetryPolicy.RetryEvent<GrokError.GrokError>) =>
    Effect.suspend(() => {
      trace.retryDelayMillis = Duration.toMillis(event.delay)
      trace.retryReason = event.reason
      return Effect.zipRight(
        Effect.zipRight(Record.retried(spec.model, event.reason, event.error._tag), budgetLevel(ctx)),
        Logging.log("retrying Grok call", {
          operation: spec.operation,
          model: spec.model,
          attempt: event.attempt,
          delayMs: Duration.toMillis(event.delay),
          reason: event.reason,
          error: event.error._tag,
          status: event.error.status ?? "none",
          requestId: event.error.requestId ?? "none"
        })
      )
    })
})

/**
 * Retry `effect` under the call's policy and the client's budget, never starting a wait that
 * ends past `deadlineAt`: the attempts bound themselves by it (the limiter's ticket, the
 * breaker's wait, the attempt's timer), so no race against the deadline wraps the loop.
 */
const retriesUntil = <A, R>(
  ctx: ClientContext,
  settings: CallSettings,
  spec: { readonly operation: Operation; readonly model: string },
  deadlineAt: number,
  trace: Record.CallTrace,
  effect: Effect.Effect<A, GrokError.GrokError, R>
): Effect.Effect<A, GrokError.GrokError, R> =>
  retryUntil(effect, retryLoop(ctx, settings, spec, trace), deadlineAt)

/**
 * One HTTP exchange with its retries: attempts under `attemptWithin` (the limiter and the
 * attempts' timers enforce the deadline while an attempt waits or runs), with one key
 * refresh, and no wait between attempts that would end past the deadline.
 */
export const exchangeWithRetries = <A>(
  ctx: ClientContext,
  spec: CallSpec<A>,
  settings: CallSettings,
  trace: Record.CallTrace
): Effect.Effect<A, GrokError.GrokError> =>
  Effect.flatMap(Clock.currentTimeMillis, (start) =>
    exchangeUntil(ctx, spec, settings, start + Duration.toMillis(settings.deadline), trace, undefined))

/** `exchangeWithRetries` with the deadline fixed, and the first attempt's admission if `call` asked for it. */
const exchangeUntil = <A>(
  ctx: ClientContext,
  spec: CallSpec<A>,
  settings: CallSettings,
  deadlineAt: number,
  trace: Record.CallTrace,
  first: FirstAdmission | undefined
): Effect.Effect<A, GrokError.GrokError> =>
  attemptsUntil(ctx, settings, spec, deadlineAt, trace, first, (apiKey, admission) =>
    attemptWithin(ctx, spec, settings, apiKey, deadlineAt, trace, admission))

/**
 * A call's attempts, retried until `deadlineAt`, with one key refresh: the first attempt is
 * handed the admission `admittingFirst` got (if any), the others ask for their own.
 */
export const attemptsUntil = <A, R>(
  ctx: ClientContext,
  settings: CallSettings,
  spec: { readonly operation: Operation; readonly model: string },
  deadlineAt: number,
  trace: Record.CallTrace,
  first: FirstAdmission | undefined,
  attempt: (apiKey: Redacted.Redacted<string>, first: FirstAdmission | undefined) => Effect.Effect<A, GrokError.GrokError, R>
): Effect.Effect<A, GrokError.GrokError, R> => {
  let pending = first
  const once = attemptWithKeyRefresh(ctx, (apiKey) => {
    const admission = pending
    pending = undefined
    return attempt(apiKey, admission)
  }, { done: false })
  return retriesUntil(ctx, settings, spec, deadlineAt, trace, once)
}

const budgetLevel = (ctx: ClientContext) =>
  ctx.retry.budget === undefined ? Effect.void : Effect.flatMap(ctx.retry.budget.level, Record.retryBudgetLevel)

/**
 * `budget`, with its level on the gauge after each deposit (a call's start) as after each
 * withdrawal (a retry, in `onRetry`): the gauge follows every change without a finalizer on
 * every call. The client wraps its budget once, when it is built.
 */
export const gaugedBudget = (budget: RetryBudget.RetryBudget): RetryBudget.RetryBudget => ({
  ...budget,
  deposit: Effect.zipRight(budget.deposit, Effect.flatMap(budget.level, Record.retryBudgetLevel))
})

/** The options of a call's span (client kind, GenAI attributes, no stack capture on the hot path). */
export const callSpanOptions = (spec: { readonly operation: Operation; readonly model: string }) => ({
  kind: "client" as const,
  captureStackTrace: false,
  attributes: { "gen_ai.operation.name": spec.operation, "gen_ai.request.model": spec.model, "gen_ai.provider.name": Record.provider }
})

/** The span name the GenAI conventions give a call: `{operation} {model}`, e.g. `chat grok-4`. */
export const callSpanName = (spec: { readonly operation: Operation; readonly model: string }) => `${spec.operation} ${spec.model}`

/**
 * A call ended (not interrupted): its metrics, the outcome on its span, and a log line when
 * it failed. A failure that is not a GrokError (`failure` none, `failed` true) is a defect.
 */
export const callEnded = (
  trace: Record.CallTrace,
  span: { readonly attribute: (key: string, value: unknown) => void },
  started: number,
  failure: Option.Option<{ readonly _tag: string; readonly status?: number | null; readonly requestId?: string | undefined }>,
  failed: boolean
): Effect.Effect<void> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => {
    const errorType = Option.isSome(failure) ? failure.value._tag : failed ? "defect" : undefined
    span.attribute("effect_grok.attempts", trace.attempts)
    if (trace.status !== null) span.attribute("http.response.status_code", trace.status)
    const recorded = Record.callEnded(trace, errorType, now - started)
    if (errorType === undefined) return recorded
    span.attribute("error.type", errorType)
    return Effect.zipRight(
      recorded,
      Logging.log("Grok call failed", {
        operation: trace.operation,
        model: trace.model,
        error: errorType,
        status: Option.isSome(failure) ? failure.value.status ?? "none" : "none",
        requestId: Option.isSome(failure) ? failure.value.requestId ?? "none" : "none",
        attempts: trace.attempts,
        elapsedMs: now - started
      })
    )
  })

/**
 * The call around `effect`: its span (`chat grok-4`, parent of the attempts), its trace, and
 * at the end its metrics (requests, end-to-end latency including the limiter queue) and,
 * when it failed, a log line (effect-grok's level, `Debug` by default: `Logging`).
 */
export const measured = <A, E extends GrokError.GrokError, R>(
  spec: { readonly operation: Operation; readonly model: string },
  call: (trace: Record.CallTrace) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  tracing((on) =>
    on
      ? Effect.useSpan(callSpanName(spec), callSpanOptions(spec), (span) =>
        ended(spec, (trace) => Effect.withParentSpan(call(trace), span), span, true))
      : ended(spec, call, noSpan, false))

/** The call, with its metrics and (if any) its span's outcome when it ends. */
const ended = <A, E extends GrokError.GrokError, R>(
  spec: { readonly operation: Operation; readonly model: string },
  call: (trace: Record.CallTrace) => Effect.Effect<A, E, R>,
  span: { readonly attribute: (key: string, value: unknown) => void },
  traced: boolean
): Effect.Effect<A, E, R> => Effect.clockWith((clock) => endedSince(spec, call, span, clock.unsafeCurrentTimeMillis(), traced))

/**
 * `ended`, for a call that began at `started` (epoch millis). The call's trace is handed down
 * to its retry loop and attempts as a value (not through a FiberRef, which cost 22 Effect
 * operations and 9 KB per call).
 */
const endedSince = <A, E extends GrokError.GrokError, R>(
  spec: { readonly operation: Operation; readonly model: string },
  call: (trace: Record.CallTrace) => Effect.Effect<A, E, R>,
  span: { readonly attribute: (key: string, value: unknown) => void },
  started: number,
  traced: boolean
): Effect.Effect<A, E, R> => {
  const trace = Record.makeTrace(spec.operation, spec.model, traced)
  return Effect.onExit(
    call(trace),
    (exit) => Exit.isInterrupted(exit) ? Effect.void : callEnded(trace, span, started, failureOf(exit), Exit.isFailure(exit))
  )
}

const noSpan = { attribute: () => {} }

/** Token usage as xAI reports it. */
export type UsageLike = Record.UsageLike

/** What an answer says about itself: the model that answered, the service tier granted, the usage. */
export type AnswerLike = Record.AnswerLike

/**
 * Record what a response says (usage and cost, the model that answered and a silent redirect,
 * the service tier granted) on the metrics and on the span of the attempt that got it.
 */
export const recordAnswer = (cell: OutcomeCell, answer: AnswerLike): Effect.Effect<void> =>
  Record.answerRecorded(cell.trace.model, cell.trace.operation, answer, cell.trace.attemptSpan)

/**
 * A whole non-streaming call: attempts with key refresh, retries, metrics.
 *
 * A call that must queue for the limiter waits before anything else is set up (see
 * `admittingFirst`); its latency still counts from its start.
 */
export const call = <A>(ctx: ClientContext, spec: CallSpec<A>, settings: CallSettings): Effect.Effect<A, GrokError.GrokError> =>
  admittingFirst(ctx, spec, settings, callRest)

/** The call once its first admission is settled (`undefined`: its attempts ask for their own). */
const callRest = <A>(
  ctx: ClientContext,
  spec: CallSpec<A>,
  settings: CallSettings,
  started: number,
  deadlineAt: number,
  first: FirstAdmission | undefined
): Effect.Effect<A, GrokError.GrokError> =>
  first === undefined
    ? measured(spec, (trace) => exchangeUntil(ctx, spec, settings, deadlineAt, trace, undefined))
    : endedSince(spec, (trace) => exchangeUntil(ctx, spec, settings, deadlineAt, trace, first), noSpan, started, false)

/** What a call started at `started` does once its first admission is settled: a module-level function, so that a waiting call holds no closure for it. */
export type AfterAdmission<S, T, A, E, R> = (
  ctx: ClientContext,
  spec: S,
  settings: T,
  started: number,
  deadlineAt: number,
  first: FirstAdmission | undefined
) => Effect.Effect<A, E, R>

/**
 * Ask for the first attempt's permit before anything else of the call exists, then run the
 * call (`rest`) with it: a call waiting in the limiter's queue is then little more than its
 * caller's fiber and the limiter's entry (no retry loop, no breaker, no timer, no attempt
 * fiber; docs/rate-limiting.md). The limiter ends that wait at the call's deadline.
 *
 * `rest` gets `undefined`, and its attempts ask for their own permits, when the breaker is not
 * closed (the call waits for the breaker first, holding no permit) or a tracer is installed
 * (the call's span must cover the wait). Only the wait is interruptible until an attempt holds
 * the permit: one granted is released unused if the call ends before an attempt takes it.
 */
export const admittingFirst = <S extends { readonly operation: Operation; readonly model: string; readonly tokens: number }, T extends CallSettings, A, E, R>(
  ctx: ClientContext,
  spec: S,
  settings: T,
  rest: AfterAdmission<S, T, A, E, R>
): Effect.Effect<A, E | GrokError.GrokError, R> =>
  // The start time and whether a tracer is installed, read off the fiber in one step.
  Effect.withFiberRuntime((fiber) => {
    const started = Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeMillis()
    const deadlineAt = started + Duration.toMillis(settings.deadline)
    return traces(fiber)
      ? rest(ctx, spec, settings, started, deadlineAt, undefined)
      : Effect.flatMap(ctx.breaker.state(keyOf(spec)), (state) =>
        state === "closed"
          ? waitFirst(ctx, spec, settings, started, deadlineAt, limitKey(ctx.config.apiKey, spec.model, ctx.config.rateLimitKey), rest)
          : rest(ctx, spec, settings, started, deadlineAt, undefined))
  })

const waitFirst = <S extends { readonly model: string; readonly tokens: number }, T extends CallSettings, A, E, R>(
  ctx: ClientContext,
  spec: S,
  settings: T,
  started: number,
  deadlineAt: number,
  key: string,
  rest: AfterAdmission<S, T, A, E, R>
): Effect.Effect<A, E | GrokError.GrokError, R> =>
  // Everything below stays on the heap while the call waits: keep it small (no mask closure:
  // the caller's interruptibility is read once and restored by name).
  Effect.zipRight(arrived(ctx, key, spec.model), Effect.checkInterruptible((interruptible) => {
    const restore = interruptible ? Effect.interruptible : identity
    return Effect.uninterruptible(Effect.matchCauseEffect(ctx.limiter.acquire(ticketFor(spec, settings, key, deadlineAt)), {
      onFailure: (cause): Effect.Effect<A, E | GrokError.GrokError, R> =>
        cause._tag === "Fail"
          ? restore(rest(ctx, spec, settings, started, deadlineAt, { permit: undefined, refused: refusal(cause.error, settings), taken: false }))
          : Effect.failCause(refused(cause, settings)),
      onSuccess: (permit) => {
        const first: FirstAdmission = { permit, refused: undefined, taken: false }
        return Effect.zipRight(
          admitted(ctx, key, spec.model, permit),
          Effect.onExit(restore(rest(ctx, spec, settings, started, deadlineAt, first)), () =>
            first.taken ? Effect.void : permit.release(RateLimiter.cancelled))
        )
      }
    }))
  }))
