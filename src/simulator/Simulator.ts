/**
 * A local xAI-compatible HTTP server for tests, benchmarks and demos: chat completions
 * (plain and SSE streams shaped like real xAI traffic), models and embeddings, with xAI's
 * key check, per-model quotas that answer 429 like xAI, rate-limit headers in the usual
 * dialects, and a fault plan (statuses, latency, resets, stalls, cut and slow streams).
 *
 * It runs on a raw `node:http` server bound to 127.0.0.1, as a scoped resource: closing
 * the scope destroys every socket. Each request runs as an Effect in the runtime that built
 * the simulator, so its clock is Effect's `Clock` (a `TestClock` in tests moves latency,
 * quota windows and Retry-After) and its randomness is Effect's `Random`, seeded per
 * request number when `seed` is given.
 *
 * ```ts
 * import { GrokSimulator } from "effect-grok/simulator"
 *
 * // A GrokClient on a simulator, in one line:
 * program.pipe(Effect.provide(GrokSimulator.layerClient({ rateLimit: { requestsPerSecond: 2 }, seed: 1 })))
 *
 * // Or the simulator alone, for any OpenAI-compatible client:
 * Effect.gen(function*() {
 *   const sim = yield* GrokSimulator.GrokSimulator
 *   // point the client at sim.url
 * }).pipe(Effect.provide(GrokSimulator.layer()))
 * ```
 *
 * "Rate limit" here is what xAI enforces per team and model (requests and tokens per second or
 * minute, answered with a 429 and its headers): the `Quota` module. It is not the credits a
 * `QuotaExhausted` error is about; the simulator answers that one through a fault (a 429 with
 * xAI's body about credits). The fault plan and rate-limit types are re-exported here; their
 * modules are `FaultPlan` and `Quota`.
 *
 * @since 0.1.0
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { Clock, type ConfigError, Context, Data, Duration, Effect, Either, FiberSet, Layer, Option, PubSub, Random, Redacted, ScopedRef, Stream } from "effect"
import { Scope } from "effect"
import * as GrokClient from "../GrokClient.js"
import * as GrokConfig from "../GrokConfig.js"
import * as FaultPlan from "./FaultPlan.js"
import * as Batches from "./internal/batches.js"
import * as Handler from "./internal/handler.js"
import { defaultCatalog } from "./internal/models.js"
import { serve } from "./internal/nodeServer.js"
import { retryAfterHeaders } from "./internal/quotaHeaders.js"
import type { Catalog } from "./internal/routes.js"
import * as DeferredJobs from "./internal/deferred.js"
import { routes } from "./internal/routes.js"
import * as SimulatorState from "./internal/state.js"
import * as Quota from "./Quota.js"

/** @since 0.1.0 */
export type { Fault, FaultKind, FaultPlan, FaultRule } from "./FaultPlan.js"
/** @since 0.1.0 */
export { InvalidFaultPlan } from "./FaultPlan.js"
/** @since 0.1.0 */
export type { Quota } from "./Quota.js"
/** @since 0.1.0 */
export { InvalidQuota } from "./Quota.js"

/**
 * Which rate-limit headers answers carry (successes and 429s alike, for models with a
 * quota):
 *
 * - `openai`: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`; the requests limit is
 *   per minute, resets are durations such as `1s`, `20ms`, `6m0s`.
 * - `generic`: `X-RateLimit-Limit` (requests per minute), `X-RateLimit-Remaining`,
 *   `X-RateLimit-Reset` (whole seconds until the window is full again).
 * - `none`: no rate-limit headers.
 *
 * @since 0.1.0
 */
export type HeaderMode = "openai" | "generic" | "none"

/**
 * How a quota 429 says when to come back: `retry-after: <seconds>` (rounded up),
 * `retry-after-ms: <millis>`, `retry-after: <HTTP-date>`, or not at all.
 *
 * @since 0.1.0
 */
export type RetryAfterMode = "none" | "seconds" | "ms" | "http-date"

/**
 * How a model reasons: `none`; `hidden` (usage counts reasoning tokens, as grok-4 does);
 * `visible` (also sends `reasoning_content`, as grok-3-mini does).
 *
 * @since 0.1.0
 */
export type ReasoningMode = "none" | "hidden" | "visible"

/**
 * @since 0.1.0
 */
export interface ModelOptions {
  /** This model's rate limit, instead of the simulator-wide `rateLimit`. */
  readonly rateLimit?: Quota.Quota | undefined
  /** @deprecated The old name of `rateLimit`. */
  readonly quota?: Quota.Quota | undefined
  /** Defaults: `visible` for grok-3-mini; `hidden` for grok-4.3, grok-4, grok-4-fast-reasoning, grok-code-fast-1; else `none`. */
  readonly reasoning?: ReasoningMode | undefined
}

/**
 * How the simulator's Batch API (`/v1/batches`) behaves. Times are virtual (Effect's `Clock`).
 *
 * @since 0.2.0
 */
export interface BatchOptions {
  /** Add calls allowed per `addCallWindow`, over all batches (xAI: 1000 per 30 s). One more is answered 429 with Retry-After. */
  readonly addCallLimit?: number | undefined
  /** Default 30 seconds. */
  readonly addCallWindow?: Duration.DurationInput | undefined
  /** Batches created per second (xAI: 2). One more is answered 429. */
  readonly createPerSecond?: number | undefined
  /** A request finishes between `min` and `max` after it was added (seeded). Default 1 to 10 seconds. */
  readonly processing?: { readonly min: Duration.DurationInput; readonly max: Duration.DurationInput } | undefined
  /** Share of requests that fail while they run (seeded, 0 to 1). Default 0. */
  readonly failureRate?: number | undefined
  /**
   * How a failed line's error is written: `string` (`batch_result.error` is a bare string, as
   * xAI's REST API sends it; the default), `status` (`{code, message}`, the gRPC form), or
   * `error_message` (a top-level field, as xAI's JavaScript example reads it).
   */
  readonly errorForm?: "string" | "status" | "error_message" | undefined
  /** Models batch accepts; an add call naming another is refused whole (400). Default grok-4.3 and the grok-4.20 models. */
  readonly models?: ReadonlyArray<string> | undefined
  /** Requests due within this long after a cancel still land as succeeded (the counters go backwards). Default 20 seconds. */
  readonly cancelRace?: Duration.DurationInput | undefined
  /** A batch's results can be read until it expires. Default 30 days. */
  readonly expireAfter?: Duration.DurationInput | undefined
}

/**
 * A batch on the simulator, as tests see it.
 *
 * @since 0.2.0
 */
export interface BatchSummary {
  readonly batchId: string
  readonly name: string
  /** Requests in the batch. */
  readonly requests: number
  /** Items received in accepted add calls: more than `requests` when a request was sent again. */
  readonly itemsSubmitted: number
  readonly cancelled: boolean
}

/**
 * @since 0.1.0
 */
export interface SimulatorOptions {
  /** Port to listen on; `0` (the default) picks a free one. */
  readonly port?: number | undefined
  /** Interface to bind; `127.0.0.1` by default. */
  readonly host?: string | undefined
  /**
   * Keys the server accepts as `Authorization: Bearer <key>`. Without it any non-empty key
   * is accepted. A missing key gets 401; a wrong one gets xAI's 400 "Incorrect API key
   * provided: xa***yz".
   */
  readonly apiKeys?: ReadonlyArray<string | Redacted.Redacted<string>> | undefined
  /**
   * The rate limit of every model without its own (requests and tokens per second or minute,
   * answered with 429s like xAI's). Unlimited by default.
   */
  readonly rateLimit?: Quota.Quota | undefined
  /** @deprecated The old name of `rateLimit`. */
  readonly quota?: Quota.Quota | undefined
  /**
   * Per-model settings. The keys are also listed by `GET /v1/models`, next to grok-4.3, the
   * grok-4.20 models, grok-4, grok-4-fast-reasoning, grok-4-fast-non-reasoning,
   * grok-code-fast-1, grok-3 and grok-3-mini. Chat and embeddings accept any model id.
   */
  readonly models?: Readonly<Record<string, ModelOptions>> | undefined
  /**
   * Models served by another: a request for a key is answered by its value, and the answer's
   * `model` says so, as xAI does for retired models (pass {@link retiredModels}). None by default.
   */
  readonly redirects?: Readonly<Record<string, string>> | undefined
  /** Default `openai`. */
  readonly headers?: HeaderMode | undefined
  /** Default `seconds`. */
  readonly retryAfter?: RetryAfterMode | undefined
  /** Initial fault plan (also restored by `reset`). */
  readonly faults?: FaultPlan.FaultPlan | undefined
  /**
   * Seed of ids and fault probabilities. With a seed, request number N gets the same ids
   * and draws on every run; without one, a seed is drawn from the ambient `Random`.
   */
  readonly seed?: number | string | undefined
  /** Added before every answer (time to first byte). */
  readonly latency?: Duration.DurationInput | undefined
  /** How many of the most recent requests `log` keeps. Default 100 000. */
  readonly logLimit?: number | undefined
  /**
   * How long a deferred completion (`"deferred": true`) takes: until then
   * `GET /v1/chat/deferred-completion/{id}` answers 202. Virtual time (Effect's `Clock`).
   * Default 2 seconds.
   */
  readonly deferredDelay?: Duration.DurationInput | undefined
  /** The Batch API's limits, timing and failures. */
  readonly batch?: BatchOptions | undefined
}

/**
 * Token counts of an answer: `totalTokens` = prompt + completion + reasoning, as xAI counts.
 *
 * @since 0.1.0
 */
export interface Usage {
  readonly promptTokens: number
  readonly completionTokens: number
  readonly reasoningTokens: number
  readonly totalTokens: number
}

/**
 * One request as the simulator saw it.
 *
 * @since 0.1.0
 */
export interface LoggedRequest {
  /** 1-based number among all requests since start or `reset`. */
  readonly index: number
  /** 1-based number among the requests for the same model; `undefined` without a model. */
  readonly modelIndex: number | undefined
  /** The `x-request-id` it was answered with. */
  readonly requestId: string
  readonly method: string
  /** Path without query string. */
  readonly path: string
  /** The body's `model`, when it had one. */
  readonly model: string | undefined
  /** The body asked for `stream: true`. */
  readonly stream: boolean
  /** The status sent; `null` when no status line was (a reset, a stall, a client that left first). */
  readonly status: number | null
  /** The fault the plan applied, if any. */
  readonly fault: FaultPlan.FaultKind | undefined
  /**
   * `in-flight` until it ends; `completed` when the whole answer was sent; `aborted` when
   * the simulator cut the connection (reset, dropped stream); `client-closed` when the
   * client hung up first.
   */
  readonly outcome: "in-flight" | "completed" | "aborted" | "client-closed"
  /** `Clock` millis when the request had fully arrived. */
  readonly startedAt: number
  /** `Clock` millis when it ended; `undefined` while in flight. */
  readonly endedAt: number | undefined
  /** Token usage of a chat or embeddings request that was answered (not of one refused by a quota). */
  readonly usage: Usage | undefined
}

/**
 * @since 0.1.0
 */
export interface Service {
  /** Base URL including `/v1`, e.g. `http://127.0.0.1:40123/v1`. */
  readonly url: string
  readonly port: number
  /** The most recent requests (see `logLimit`), oldest first. */
  readonly log: Effect.Effect<ReadonlyArray<LoggedRequest>>
  /** Requests that have arrived since start or `reset`. */
  readonly requestCount: Effect.Effect<number>
  /**
   * Completes once `count` requests have fully arrived (body read, numbered and timestamped:
   * every later wait of theirs is a deadline from that instant). Tests wait on it instead of
   * sleeping, then move the `TestClock`.
   */
  readonly awaitRequests: (count: number) => Effect.Effect<void>
  /** Completes once `count` requests have ended (answered, cut, or abandoned by the client). */
  readonly awaitCompleted: (count: number) => Effect.Effect<void>
  /**
   * Subscribes now (for the life of the scope) to the requests as they end: answered, cut,
   * or abandoned by the client. A subscriber more than 1024 entries behind loses the oldest.
   */
  readonly subscribe: Effect.Effect<Stream.Stream<LoggedRequest>, never, Scope.Scope>
  /** Replaces the fault plan for the requests that arrive from now on. */
  readonly setFaults: (plan: FaultPlan.FaultPlan) => Effect.Effect<void, FaultPlan.InvalidFaultPlan>
  /** Replaces one model's rate limit (`undefined`: unlimited) and refills it. */
  readonly setRateLimit: (model: string, rateLimit: Quota.Quota | undefined) => Effect.Effect<void, Quota.InvalidQuota>
  /** @deprecated The old name of `setRateLimit`. */
  readonly setQuota: (model: string, quota: Quota.Quota | undefined) => Effect.Effect<void, Quota.InvalidQuota>
  /**
   * Back to the state after start: empty log, counters at zero, full quotas, the initial
   * fault plan and quotas, no deferred completions, and time windows measured from now.
   */
  readonly reset: Effect.Effect<void>
  /** The batches created since start or `reset`, oldest first. */
  readonly batches: Effect.Effect<ReadonlyArray<BatchSummary>>
}

/**
 * @since 0.1.0
 */
export class GrokSimulator extends Context.Tag("effect-grok/GrokSimulator")<GrokSimulator, Service>() {}

/**
 * The simulator could not start: an invalid option, or the port could not be bound.
 *
 * @since 0.1.0
 */
export class SimulatorStartError extends Data.TaggedError("SimulatorStartError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * @since 0.1.0
 */
export type SimulatorError = SimulatorStartError | FaultPlan.InvalidFaultPlan | Quota.InvalidQuota

const DEFAULT_LOG_LIMIT = 100_000

/**
 * xAI's retirement of 2026-05-15: these model ids keep resolving but are served (and billed)
 * by grok-4.3, and only the answer's `model` says so. Pass as `redirects` to simulate it.
 *
 * @since 0.2.0
 * @category constants
 */
export const retiredModels: Readonly<Record<string, string>> = {
  "grok-4-1-fast-reasoning": "grok-4.3",
  "grok-4-1-fast-non-reasoning": "grok-4.3",
  "grok-4-fast-reasoning": "grok-4.3",
  "grok-4-fast-non-reasoning": "grok-4.3",
  "grok-4-0709": "grok-4.3",
  "grok-code-fast-1": "grok-4.3",
  "grok-3": "grok-4.3"
}

const startError = (message: string) => Effect.fail(new SimulatorStartError({ message }))

const latencyMillis = (input: Duration.DurationInput | undefined): Either.Either<number, SimulatorStartError> => {
  if (input === undefined) return Either.right(0)
  const millis = Option.map(Duration.decodeUnknown(input), Duration.toMillis)
  return Option.isSome(millis) && Number.isFinite(millis.value) && millis.value >= 0
    ? Either.right(millis.value)
    : Either.left(new SimulatorStartError({ message: `Invalid latency: ${String(input)}` }))
}

const durationMillis = (label: string, input: Duration.DurationInput | undefined, fallback: number): Either.Either<number, SimulatorStartError> => {
  if (input === undefined) return Either.right(fallback)
  const millis = Option.map(Duration.decodeUnknown(input), Duration.toMillis)
  return Option.isSome(millis) && Number.isFinite(millis.value) && millis.value >= 0
    ? Either.right(millis.value)
    : Either.left(new SimulatorStartError({ message: `Invalid ${label}: ${String(input)}` }))
}

const positiveInt = (label: string, value: number | undefined, fallback: number): Either.Either<number, SimulatorStartError> =>
  value === undefined
    ? Either.right(fallback)
    : Number.isInteger(value) && value > 0
    ? Either.right(value)
    : Either.left(new SimulatorStartError({ message: `Invalid ${label}: ${value} (a whole number above 0)` }))

const batchSettings = (options: BatchOptions, retryAfter: RetryAfterMode): Either.Either<Batches.Settings, SimulatorStartError> =>
  Either.gen(function*() {
    const d = Batches.defaults
    const minProcessingMillis = yield* durationMillis("batch.processing.min", options.processing?.min, d.minProcessingMillis)
    const maxProcessingMillis = yield* durationMillis("batch.processing.max", options.processing?.max, d.maxProcessingMillis)
    if (maxProcessingMillis < minProcessingMillis) {
      return yield* Either.left(new SimulatorStartError({ message: "Invalid batch.processing: max is below min" }))
    }
    const failureRate = options.failureRate ?? 0
    if (!(failureRate >= 0 && failureRate <= 1)) {
      return yield* Either.left(new SimulatorStartError({ message: `Invalid batch.failureRate: ${failureRate} (0 to 1)` }))
    }
    const addCallWindowMillis = yield* durationMillis("batch.addCallWindow", options.addCallWindow, d.addCallWindowMillis)
    if (addCallWindowMillis <= 0) return yield* Either.left(new SimulatorStartError({ message: "Invalid batch.addCallWindow: 0" }))
    return {
      addCallLimit: yield* positiveInt("batch.addCallLimit", options.addCallLimit, d.addCallLimit),
      addCallWindowMillis,
      createPerSecond: yield* positiveInt("batch.createPerSecond", options.createPerSecond, d.createPerSecond),
      minProcessingMillis,
      maxProcessingMillis,
      failureRate,
      errorForm: options.errorForm ?? "string",
      models: new Set(options.models ?? Batches.DEFAULT_MODELS),
      cancelRaceMillis: yield* durationMillis("batch.cancelRace", options.cancelRace, d.cancelRaceMillis),
      expireAfterMillis: yield* durationMillis("batch.expireAfter", options.expireAfter, d.expireAfterMillis),
      retryAfter: (waitMillis, nowMillis) => retryAfterHeaders(retryAfter, waitMillis, nowMillis)
    }
  })

const validateQuota = (label: string, quota: Quota.Quota | undefined) =>
  quota === undefined ? Either.right(undefined) : Quota.validate(quota, label)

const makeCatalog = (models: Readonly<Record<string, ModelOptions>>, redirects: Readonly<Record<string, string>>): Catalog => {
  const ids = [...new Set([...defaultCatalog.map((entry) => entry.id), ...Object.keys(models)])]
  const known = new Set(ids)
  const defaultReasoning = new Map(defaultCatalog.map((entry) => [entry.id, entry.reasoning]))
  return {
    ids: () => ids,
    has: (model) => known.has(model),
    reasoningOf: (model) => models[model]?.reasoning ?? defaultReasoning.get(model) ?? "none",
    servedBy: (model) => (Object.hasOwn(redirects, model) ? redirects[model] ?? model : model)
  }
}

const urlHost = (host: string) =>
  host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "[::1]" : host.includes(":") ? `[${host}]` : host

/**
 * Starts a simulator in the current scope; closing the scope stops it.
 *
 * @since 0.1.0
 */
export const make = (options: SimulatorOptions = {}): Effect.Effect<Service, SimulatorError, Scope.Scope> =>
  Effect.gen(function*() {
    const port = options.port ?? 0
    if (!Number.isInteger(port) || port < 0 || port > 65535) return yield* startError(`Invalid port: ${port}`)
    const logLimit = options.logLimit ?? DEFAULT_LOG_LIMIT
    if (!Number.isInteger(logLimit) || logLimit < 1) return yield* startError(`Invalid logLimit: ${logLimit}`)
    const host = options.host ?? "127.0.0.1"
    const latency = yield* latencyMillis(options.latency)
    const faults = yield* FaultPlan.validate(options.faults ?? FaultPlan.none)
    const quota = yield* validateQuota("rateLimit", options.rateLimit ?? options.quota)
    const models = options.models ?? {}
    const modelQuotas = new Map<string, Quota.Quota>()
    for (const [model, settings] of Object.entries(models)) {
      const modelQuota = yield* validateQuota(`rate limit of model ${model}`, settings.rateLimit ?? settings.quota)
      if (modelQuota !== undefined) modelQuotas.set(model, modelQuota)
    }
    const seed = options.seed === undefined ? String(yield* Random.nextInt) : String(options.seed)
    const batches = Batches.make(yield* batchSettings(options.batch ?? {}, options.retryAfter ?? "seconds"))
    const deferred = DeferredJobs.make(
      yield* Either.mapLeft(DeferredJobs.delayMillis(options.deferredDelay), (message) => new SimulatorStartError({ message }))
    )

    const state = SimulatorState.make({
      faults,
      quotas: {
        headers: options.headers ?? "openai",
        retryAfter: options.retryAfter ?? "seconds",
        quota,
        modelQuotas
      },
      startedAt: yield* Clock.currentTimeMillis,
      logLimit
    })
    const ended = yield* Effect.acquireRelease(PubSub.sliding<LoggedRequest>(1024), PubSub.shutdown)
    const handle = Handler.make(
      {
        apiKeys: options.apiKeys === undefined
          ? undefined
          : new Set(options.apiKeys.map((key) => (Redacted.isRedacted(key) ? Redacted.value(key) : key))),
        latencyMillis: latency,
        seed,
        catalog: makeCatalog(models, options.redirects ?? {}),
        routes: [...routes, ...batches.routes],
        deferred
      },
      state,
      (entry) => PubSub.publish(ended, entry).pipe(Effect.asVoid)
    )
    const run = yield* FiberSet.makeRuntime<never, void, never>()
    const listening = yield* serve({ host, port }, (request, response) => {
      run(handle(request, response))
    }).pipe(
      Effect.mapError((cause) =>
        new SimulatorStartError({ message: `Cannot listen on ${host}:${port}: ${cause.message}`, cause })
      )
    )
    const url = `http://${urlHost(host)}:${listening.port}/v1`
    const setRateLimit: Service["setRateLimit"] = (model, next) =>
      Effect.flatMap(validateQuota(`rate limit of model ${model}`, next), (valid) => Effect.sync(() => state.setQuota(model, valid)))
    yield* Effect.logDebug(`GrokSimulator listening on ${url}`)

    return {
      url,
      port: listening.port,
      log: Effect.sync(() => state.log.snapshot()),
      requestCount: Effect.sync(() => state.log.arrivedCount()),
      awaitRequests: (count) => state.log.awaitArrived(count),
      awaitCompleted: (count) => state.log.awaitEnded(count),
      subscribe: Effect.map(PubSub.subscribe(ended), (queue) => Stream.fromQueue(queue)),
      setFaults: (plan) => Effect.flatMap(FaultPlan.validate(plan), (valid) => Effect.sync(() => state.setFaults(valid))),
      setRateLimit,
      setQuota: setRateLimit,
      reset: Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.sync(() => {
          state.reset(now)
          deferred.clear()
          batches.clear()
        })),
      batches: Effect.sync(() => batches.summaries())
    } satisfies Service
  })

/**
 * The simulator as a layer: started when the layer is built, stopped when it is released.
 *
 * @since 0.1.0
 */
export const layer = (options: SimulatorOptions = {}): Layer.Layer<GrokSimulator, SimulatorError> =>
  Layer.scoped(GrokSimulator, make(options))

/**
 * Options of {@link layerClient}: the simulator's, plus the client's settings (its key, model,
 * timeouts; the URL is the simulator's).
 *
 * @since 0.2.0
 */
export interface ClientOptions extends SimulatorOptions {
  readonly client?: Omit<GrokConfig.GrokConfigInput, "apiKey" | "baseUrl"> & {
    /** Default: the first of `apiKeys`, or any key when the simulator accepts any. */
    readonly apiKey?: string | Redacted.Redacted<string> | undefined
  } | undefined
}

/**
 * A simulator and a `GrokClient` pointed at it, in one layer (on `fetch`: nothing else to
 * install). Its `reset` also gives the client a fresh start: its own rate limiter, circuit
 * breakers and retry budget are rebuilt, so that one test's faults do not slow the next. A
 * limiter, breaker or settings provided around the calls are still the ones they use.
 *
 * ```ts
 * it.effect("retries a 503", () =>
 *   Effect.gen(function*() {
 *     const grok = yield* GrokClient.GrokClient
 *     // ...
 *   }).pipe(Effect.provide(GrokSimulator.layerClient({ faults: [{ nth: [1], fault: { kind: "status", status: 503 } }] }))))
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layerClient = (
  options: ClientOptions = {}
): Layer.Layer<GrokSimulator | GrokClient.GrokClient, SimulatorError | ConfigError.ConfigError> =>
  Layer.scopedContext(Effect.gen(function*() {
    const sim = yield* make(options)
    const firstKey = options.apiKeys?.[0]
    const config = yield* GrokConfig.make({
      ...options.client,
      apiKey: options.client?.apiKey ?? firstKey ?? "simulator-key",
      baseUrl: sim.url
    })
    // Rebuilt by `reset` in the context of this layer, not of whoever calls `reset`: a
    // limiter provided around the reset is not the client's to keep.
    const context = yield* Effect.context<never>()
    const build = GrokClient.make(config).pipe(
      Effect.provide(FetchHttpClient.layer),
      Effect.mapInputContext((at: Context.Context<Scope.Scope>) => Context.add(context, Scope.Scope, Context.get(at, Scope.Scope)))
    )
    const current = yield* ScopedRef.fromAcquire(build)
    const client = GrokClient.delegating(ScopedRef.get(current), config)
    const service: Service = { ...sim, reset: Effect.zipRight(sim.reset, ScopedRef.set(current, build)) }
    return Context.make(GrokSimulator, service).pipe(Context.add(GrokClient.GrokClient, client))
  }))
