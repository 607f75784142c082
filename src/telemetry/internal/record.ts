/**
 * Recording a call's telemetry on the hot path.
 *
 * Two things keep it cheap. Each labelled series is a tagged metric built once and kept:
 * a tagged metric hands the same labels array to the registry on every update, which the
 * registry caches by identity, so an update is a map hit and an add. And each recording is
 * one `Effect` step that updates every series it touches directly.
 *
 * Labels must be real `MetricLabel`s: a plain `{ key, value }` object has no structural
 * hash, so every update made a new registry entry (this was why the latency summary
 * reported p50 == p99: each entry held one sample, and the largest won).
 *
 * @internal
 */
import { Effect, FiberRef, Metric, MetricLabel, type Tracer } from "effect"
import { isRedirect } from "../../internal/modelRedirect.js"
import type * as RateLimiter from "../../resilience/RateLimiter.js"
import * as Metrics from "../Metrics.js"

/** `gen_ai.provider.name` for xAI in the GenAI conventions. */
export const provider = "x_ai"

/**
 * What one call learns as it goes, shared by its attempts, its retries and its end: the
 * attempt count and last status label the call's metrics, span and final log.
 */
export interface CallTrace {
  readonly operation: string
  readonly model: string
  /** Attempts started so far. */
  attempts: number
  /** Status of the last answer (`null` before one arrives, or when none did). */
  status: number | null
  /** The wait before the next attempt and why: set by a retry, read by the attempt after it. */
  retryDelayMillis: number
  retryReason: string | undefined
  /** The span of the attempt running now, which the response's usage annotates. */
  attemptSpan: Tracer.Span | undefined
  /**
   * `false` when the call is known to run with no tracer installed, so that its attempts make
   * no spans without asking again; `undefined` when each attempt should ask.
   */
  readonly traced: boolean | undefined
}

export const makeTrace = (operation: string, model: string, traced?: boolean): CallTrace => ({
  operation,
  model,
  traced,
  attempts: 0,
  status: null,
  retryDelayMillis: 0,
  retryReason: undefined,
  attemptSpan: undefined
})

export const statusLabel = (status: number | null): string => (status === null ? "none" : String(status))

type Labels = ReadonlyArray<MetricLabel.MetricLabel>

/**
 * One series of `metric` per distinct label values, built on first use. Model names come
 * from callers; the cache is dropped if it ever grows past a sane number of series.
 */
const series = <Type, In, Out>(metric: Metric.Metric<Type, In, Out>, keys: ReadonlyArray<string>) => {
  const cache = new Map<string, Metric.Metric<Type, In, Out>>()
  return (...values: ReadonlyArray<string>): Metric.Metric<Type, In, Out> => {
    const id = values.join("\u0000")
    let found = cache.get(id)
    if (found === undefined) {
      found = Metric.taggedWithLabels(metric, keys.map((key, i) => MetricLabel.make(key, values[i] ?? "")))
      if (cache.size >= 4096) cache.clear()
      cache.set(id, found)
    }
    return found
  }
}

const MODEL = "gen_ai.request.model"
const OPERATION = "gen_ai.operation.name"
const PROVIDER = "gen_ai.provider.name"
const STATUS = "http.response.status_code"
const ERROR = "error.type"
const TOKEN_TYPE = "gen_ai.token.type"
const RESPONSE_MODEL = "gen_ai.response.model"

const requests = series(Metrics.requests, [MODEL, OPERATION, "outcome", ERROR, STATUS])
const durationOk = series(Metrics.operationDuration, [MODEL, OPERATION, PROVIDER])
const durationFailed = series(Metrics.operationDuration, [MODEL, OPERATION, PROVIDER, ERROR])
const attempts = series(Metrics.attempts, [MODEL, STATUS, ERROR])
const attemptDuration = series(Metrics.attemptDuration, [MODEL, STATUS])
const rateLimited = series(Metrics.rateLimited, [MODEL, "limit"])
const retries = series(Metrics.retries, [MODEL, "reason", ERROR])
const budgetRefusals = series(Metrics.retryBudgetRefusals, [MODEL, ERROR])
const tokens = series(Metrics.tokens, [MODEL, TOKEN_TYPE])
const tokenUsage = series(Metrics.tokenUsage, [MODEL, OPERATION, PROVIDER, TOKEN_TYPE])
const cost = series(Metrics.costTicks, [MODEL])
const redirects = series(Metrics.modelRedirects, [MODEL, RESPONSE_MODEL])
const tiers = series(Metrics.serviceTiers, [MODEL, "service_tier"])
const batchCalls = series(Metrics.batchCalls, ["operation", STATUS])
const batchResults = series(Metrics.batchResults, ["outcome"])
const limiterWait = series(Metrics.limiterWait, [MODEL])
const queueDepth = series(Metrics.limiterQueueDepth, [MODEL])
const inFlight = series(Metrics.limiterInFlight, [MODEL])

/** One step that updates metrics with the fiber's own metric labels (`Effect.tagMetrics`) added. */
const record = (update: (extra: Labels) => void): Effect.Effect<void> =>
  Effect.withFiberRuntime((fiber) => {
    update(fiber.getFiberRef(FiberRef.currentMetricLabels))
    return Effect.void
  })

/** A call ended (not interrupted): `errorType` is its error's tag, `undefined` on success. */
export const callEnded = (trace: CallTrace, errorType: string | undefined, elapsedMillis: number): Effect.Effect<void> =>
  record((extra) => {
    const { model, operation } = trace
    requests(model, operation, errorType === undefined ? "ok" : "error", errorType ?? "none", statusLabel(trace.status))
      .unsafeUpdate(1, extra)
    const duration = errorType === undefined
      ? durationOk(model, operation, provider)
      : durationFailed(model, operation, provider, errorType)
    duration.unsafeUpdate(elapsedMillis / 1000, extra)
    Metrics.latencyMillis.unsafeUpdate(elapsedMillis, extra)
  })

/** An HTTP attempt ended (not interrupted). `limit` is set for a 429: which limit was hit. */
export const attemptEnded = (
  model: string,
  status: number | null,
  errorType: string | undefined,
  elapsedMillis: number,
  limit: string | undefined
): Effect.Effect<void> =>
  record((extra) => {
    const code = statusLabel(status)
    attempts(model, code, errorType ?? "none").unsafeUpdate(1, extra)
    attemptDuration(model, code).unsafeUpdate(elapsedMillis / 1000, extra)
    if (limit !== undefined) rateLimited(model, limit).unsafeUpdate(1, extra)
  })

export const retried = (model: string, reason: string, errorType: string): Effect.Effect<void> =>
  record((extra) => retries(model, reason, errorType).unsafeUpdate(1, extra))

/** The retry budget refused a retry of `errorType`. */
export const retryBudgetRefused = (model: string, errorType: string): Effect.Effect<void> =>
  record((extra) => budgetRefusals(model, errorType).unsafeUpdate(1, extra))

/** The limiter's view of a key, sampled when an attempt arrives and when it is admitted. */
export const limiterSampled = (model: string, stats: RateLimiter.KeyStats): Effect.Effect<void> =>
  record((extra) => sampleLimiterGauges(model, stats, extra))

const sampleLimiterGauges = (model: string, stats: RateLimiter.KeyStats, extra: ReadonlyArray<MetricLabel.MetricLabel>) => {
  queueDepth(model).unsafeUpdate(stats.queued, extra)
  inFlight(model).unsafeUpdate(stats.inFlight, extra)
}

/** A permit was granted after `waitedMillis`: the wait, and the key's view once admitted, in one step. */
export const limiterAdmitted = (model: string, stats: RateLimiter.KeyStats, waitedMillis: number): Effect.Effect<void> =>
  record((extra) => {
    sampleLimiterGauges(model, stats, extra)
    limiterWait(model).unsafeUpdate(waitedMillis / 1000, extra)
  })

export const retryBudgetLevel = (level: number): Effect.Effect<void> =>
  record((extra) => Metrics.retryBudgetLevel.unsafeUpdate(level, extra))

/** Token usage as xAI reports it. */
export interface UsageLike {
  readonly prompt_tokens?: number | null | undefined
  readonly completion_tokens?: number | null | undefined
  readonly total_tokens?: number | null | undefined
  readonly prompt_tokens_details?: { readonly cached_tokens?: number | null | undefined } | null | undefined
  readonly completion_tokens_details?: { readonly reasoning_tokens?: number | null | undefined } | null | undefined
  readonly cost_in_usd_ticks?: number | null | undefined
}

const count = (value: number | null | undefined): number | undefined =>
  value == null || !Number.isFinite(value) || value < 0 ? undefined : value

/**
 * A response's usage on the metrics and on `span` (the attempt, or a stream's call). xAI
 * counts reasoning apart from `completion_tokens`; the GenAI conventions count it as output,
 * so `gen_ai.usage.output_tokens` and the `output` token histogram add the two.
 */
const updateUsage = (model: string, operation: string, usage: UsageLike, span: Tracer.Span | undefined, extra: Labels): void => {
  const input = count(usage.prompt_tokens)
  const completion = count(usage.completion_tokens)
  const reasoning = count(usage.completion_tokens_details?.reasoning_tokens)
  const cached = count(usage.prompt_tokens_details?.cached_tokens)
  const total = count(usage.total_tokens)
  const ticks = count(usage.cost_in_usd_ticks)
  const output = completion === undefined && reasoning === undefined ? undefined : (completion ?? 0) + (reasoning ?? 0)
  if (input !== undefined) {
    tokens(model, "input").unsafeUpdate(input, extra)
    tokenUsage(model, operation, provider, "input").unsafeUpdate(input, extra)
    span?.attribute("gen_ai.usage.input_tokens", input)
  }
  if (completion !== undefined) tokens(model, "output").unsafeUpdate(completion, extra)
  if (output !== undefined) {
    tokenUsage(model, operation, provider, "output").unsafeUpdate(output, extra)
    span?.attribute("gen_ai.usage.output_tokens", output)
  }
  if (reasoning !== undefined) {
    tokens(model, "reasoning").unsafeUpdate(reasoning, extra)
    span?.attribute("gen_ai.usage.reasoning.output_tokens", reasoning)
  }
  if (cached !== undefined) {
    tokens(model, "cached").unsafeUpdate(cached, extra)
    span?.attribute("gen_ai.usage.cache_read.input_tokens", cached)
  }
  if (total !== undefined) {
    tokens(model, "total").unsafeUpdate(total, extra)
    span?.attribute("effect_grok.usage.total_tokens", total)
  }
  if (ticks !== undefined) {
    cost(model).unsafeUpdate(ticks, extra)
    span?.attribute("effect_grok.usage.cost_usd_ticks", ticks)
  }
}

/** Record a response's usage alone (see {@link answerRecorded} for a whole answer). */
export const usageRecorded = (
  model: string,
  operation: string,
  usage: UsageLike,
  span: Tracer.Span | undefined
): Effect.Effect<void> => record((extra) => updateUsage(model, operation, usage, span, extra))

/** What an answer says about itself: the model that served it, the tier it was served on, its usage. */
export interface AnswerLike {
  readonly model?: string | null | undefined
  readonly service_tier?: string | null | undefined
  readonly usage?: UsageLike | null | undefined
}

/** Model pairs already warned about: a redirect is logged once per pair, counted every time. */
const warnedRedirects = new Set<string>()

const redirectWarning = (requested: string, answered: string, operation: string): Effect.Effect<void> => {
  const pair = `${requested}\u0000${answered}`
  if (warnedRedirects.has(pair)) return Effect.void
  if (warnedRedirects.size >= 1024) warnedRedirects.clear()
  warnedRedirects.add(pair)
  return Effect.logWarning(
    `Grok answered with model ${answered} for a request to ${requested}: a silent redirect ` +
      "(retired model ids are served and billed as their replacement; name the model you want explicitly)"
  ).pipe(Effect.annotateLogs({ operation, requestedModel: requested, responseModel: answered }))
}

/**
 * Record what an answer says on the metrics and on `span` (the attempt, or a stream's call),
 * in one step: its usage (tokens, cost); the model that answered (`gen_ai.response.model`),
 * and a redirect when it is another model than `requested` (counted, and logged once per
 * pair); the service tier granted.
 */
export const answerRecorded = (
  requested: string,
  operation: string,
  answer: AnswerLike,
  span: Tracer.Span | undefined
): Effect.Effect<void> => {
  const answered = answer.model ?? undefined
  const tier = answer.service_tier ?? undefined
  const usage = answer.usage ?? undefined
  const redirectedTo = answered !== undefined && isRedirect(requested, answered) ? answered : undefined
  const recorded = record((extra) => {
    if (usage !== undefined) updateUsage(requested, operation, usage, span, extra)
    if (answered !== undefined) span?.attribute(RESPONSE_MODEL, answered)
    if (redirectedTo !== undefined) redirects(requested, redirectedTo).unsafeUpdate(1, extra)
    if (tier !== undefined) {
      tiers(requested, tier).unsafeUpdate(1, extra)
      span?.attribute("effect_grok.response.service_tier", tier)
    }
  })
  return redirectedTo === undefined ? recorded : Effect.zipRight(recorded, redirectWarning(requested, redirectedTo, operation))
}

/** A call to the Batch API got its answer (`null`: none arrived). */
export const batchCallEnded = (operation: string, status: number | null): Effect.Effect<void> =>
  record((extra) => batchCalls(operation, statusLabel(status)).unsafeUpdate(1, extra))

/** A batch result was read. */
export const batchResultRead = (outcome: string): Effect.Effect<void> =>
  record((extra) => batchResults(outcome).unsafeUpdate(1, extra))
