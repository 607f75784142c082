/**
 * Drive N chat calls through the full stack at a given concurrency and summarise what
 * happened. Shared by `load` and `demo`; the counts of attempts, retries, 429s, tokens and
 * latency are read from the metric registry, never counted here a second time.
 *
 * @internal
 */
import { Cause, Clock, Effect, Exit, Option, Ref } from "effect"
import * as Fallback from "../Fallback.js"
import * as GrokClient from "../GrokClient.js"
import type * as GrokError from "../GrokError.js"
import type * as RateLimiter from "../resilience/RateLimiter.js"
import * as RetryPolicy from "../resilience/RetryPolicy.js"
import type * as Drain from "./internal/drain.js"
import type * as Signals from "./internal/signals.js"
import { type AlertJson, firedAlerts } from "./telemetry.js"
import * as Metrics from "../telemetry/Metrics.js"

export interface WorkloadOptions {
  readonly requests: number
  readonly concurrency: number
  readonly model?: string | undefined
  /** Priority of call `index` (0-based). */
  readonly priorityOf: (index: number) => RateLimiter.Priority
  /** Models tried in order when `model` fails with a rate limit, a server error or an open breaker. */
  readonly fallbacks?: ReadonlyArray<string> | undefined
  /** The fallbacks of call `index`, when they differ by call (overrides `fallbacks`). */
  readonly fallbacksOf?: ((index: number) => ReadonlyArray<string>) | undefined
  /** Called after every finished call, for live progress. */
  readonly onProgress?: ((progress: Progress) => Effect.Effect<void>) | undefined
  /** Called after every call, finished or cancelled, with what happened to it. */
  readonly onCall?: ((call: CallOutcome) => Effect.Effect<void>) | undefined
  /**
   * Follows the calls, and stops the run on SIGINT / SIGTERM; the client must take its
   * permits from `drain.limiter` (see `internal/drain.ts`).
   */
  readonly drain: Drain.Drain
}

/** One call of the run, once it ended or was cancelled. */
export interface CallOutcome {
  readonly index: number
  readonly priority: RateLimiter.Priority
  /** The model that answered (with fallbacks, whichever did); `undefined` when none did. */
  readonly model: string | undefined
  /** Why it failed, when it did. */
  readonly error: GrokError.GrokError | undefined
  /** A stop cancelled it before its answer, or before it started. */
  readonly cancelled: boolean
  /** From its start to its end, waits in the limiter included. */
  readonly millis: number
  /** Its attempts, and who decided not to retry it. */
  readonly record: Drain.CallRecord
}

export interface Progress {
  readonly done: number
  readonly ok: number
  readonly failed: number
}

/** The `--json` summary of `load` and `demo`. Public API: keep these fields. */
export interface Summary {
  readonly requests: number
  readonly ok: number
  readonly failed: number
  readonly attempts: number
  readonly status429: number
  readonly seconds: number
  /** Failures by GrokError tag. */
  readonly errors: Readonly<Record<string, number>>
  /** Answers by the model that gave them (the response's `model`: with fallbacks, whichever answered). */
  readonly models: Readonly<Record<string, number>>
  readonly metrics: Metrics.Totals
  /** Alerts that fired during the run (with a `GrokAlerts` service; else empty). */
  readonly alerts: ReadonlyArray<AlertJson>
  /**
   * Only when SIGINT or SIGTERM stopped the run: `true`. The counts above are then what
   * happened until the stop, and `ok + failed + cancelled == requests`.
   */
  readonly interrupted?: true
  /** With `interrupted`: the requests the stop cancelled before their answer, or that never started. */
  readonly cancelled?: number
  /** With `interrupted`: which signal stopped it. */
  readonly signal?: Signals.Signal
}

const promptOf = (index: number) => `Request ${index + 1}: reply with one short sentence about resilient systems.`

export const runWorkload = (
  options: WorkloadOptions
): Effect.Effect<Summary, never, GrokClient.GrokClient> =>
  Effect.gen(function*() {
    const grok = yield* GrokClient.GrokClient
    const before = yield* Metrics.snapshotTotals
    const started = yield* Clock.currentTimeMillis
    const progress = yield* Ref.make<Progress>({ done: 0, ok: 0, failed: 0 })
    const errors: Record<string, number> = {}
    const models: Record<string, number> = {}
    const record = (outcome: { ok: true; model: string } | { ok: false; error: GrokError.GrokError }) =>
      Effect.gen(function*() {
        if (outcome.ok) models[outcome.model] = (models[outcome.model] ?? 0) + 1
        else errors[outcome.error._tag] = (errors[outcome.error._tag] ?? 0) + 1
        const now = yield* Ref.updateAndGet(progress, (p) => ({
          done: p.done + 1,
          ok: p.ok + (outcome.ok ? 1 : 0),
          failed: p.failed + (outcome.ok ? 0 : 1)
        }))
        if (options.onProgress !== undefined) yield* options.onProgress(now)
      })
    const fallbacksOf = options.fallbacksOf ?? (() => options.fallbacks ?? [])
    const { drain } = options
    // The client's own policy, made to retry nothing once the user asked to stop.
    const retry = drain.policy((yield* RetryPolicy.RetrySettings).policy)
    const ask = (index: number) => {
      const request = { model: options.model, messages: [{ role: "user" as const, content: promptOf(index) }], max_tokens: 64 }
      const callOptions = { priority: options.priorityOf(index), retry }
      const fallbacks = fallbacksOf(index)
      return fallbacks.length === 0
        ? grok.chat(request, callOptions)
        : Effect.map(Fallback.chat(request, { ...callOptions, fallbacks }), (answer) => answer.value)
    }
    yield* Effect.forEach(
      Array.from({ length: options.requests }, (_, index) => index),
      (index) =>
        Effect.gen(function*() {
          const callStarted = yield* Clock.currentTimeMillis
          const [exit, callRecord] = yield* drain.call(ask(index))
          const error = Exit.isSuccess(exit) ? Option.none() : Cause.failureOption(exit.cause)
          // Cancelled by the stop (or not started): neither an answer nor a failure.
          const cancelled = Exit.isFailure(exit) && Option.isNone(error) && Cause.isInterruptedOnly(exit.cause)
          if (Exit.isFailure(exit) && Option.isNone(error) && !cancelled) return yield* Effect.orDie(Effect.failCause(exit.cause))
          if (Exit.isSuccess(exit)) yield* record({ ok: true, model: exit.value.model })
          else if (Option.isSome(error)) yield* record({ ok: false, error: error.value })
          if (options.onCall !== undefined) {
            yield* options.onCall({
              index,
              priority: options.priorityOf(index),
              model: Exit.isSuccess(exit) ? exit.value.model : undefined,
              error: Option.getOrUndefined(error),
              cancelled,
              millis: (yield* Clock.currentTimeMillis) - callStarted,
              record: callRecord
            })
          }
        }),
      { concurrency: options.concurrency, discard: true }
    )
    const seconds = ((yield* Clock.currentTimeMillis) - started) / 1000
    const metrics = Metrics.diffTotals(before, yield* Metrics.snapshotTotals)
    const alerts = yield* firedAlerts
    const { ok, failed } = yield* Ref.get(progress)
    const stopped = yield* drain.stopped
    const summary: Summary = {
      requests: options.requests,
      ok,
      failed,
      attempts: metrics.attempts,
      status429: metrics.status429,
      seconds: Math.round(seconds * 1000) / 1000,
      errors,
      models,
      metrics,
      alerts
    }
    return Option.isNone(stopped)
      ? summary
      : { ...summary, interrupted: true, cancelled: options.requests - ok - failed, signal: stopped.value }
  })
