/**
 * What `effect-grok load` does (its flags: `../load.ts`). Loaded when the command runs.
 *
 * On SIGINT or SIGTERM no new call starts, the attempts on the wire end (`internal/drain.ts`),
 * and the summary counts what happened until then (`"interrupted": true` with `--json`);
 * then it exits 130 or 143.
 *
 * @internal
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Context, Effect, Layer, Option } from "effect"
import * as RateLimiter from "../../resilience/RateLimiter.js"
import * as RateLimiterMemory from "../../resilience/RateLimiterMemory.js"
import { resolveConfig } from "../chat.js"
import { clientLayer } from "../internal/client.js"
import * as Drain from "../internal/drain.js"
import * as Signals from "../internal/signals.js"
import type { LoadFlags } from "../load.js"
import { CliExit, printError, printLine, UsageError } from "../output.js"
import { cliLayer } from "../telemetry.js"
import { runWorkload, type Summary } from "../workload.js"

const positive = (name: string, value: number) =>
  Number.isInteger(value) && value > 0 ? Effect.void : Effect.fail(new UsageError({ message: `--${name} must be a positive integer` }))

/** `--redis-unavailable`: `fail`, or the share each process takes locally. */
const onRedisUnavailable = (value: string): Effect.Effect<"fail" | { readonly fallback: { readonly share: number } }, UsageError> => {
  if (value.trim() === "fail") return Effect.succeed("fail")
  const share = Number(value)
  return value.trim() !== "" && share > 0 && share <= 1
    ? Effect.succeed({ fallback: { share } })
    : Effect.fail(new UsageError({ message: `--redis-unavailable must be \`fail\` or a share in (0, 1], got ${JSON.stringify(value)}` }))
}

/** The limiter layer the flags ask for. */
const limiterLayer = (flags: {
  readonly rpm: Option.Option<number>
  readonly tpm: Option.Option<number>
  readonly redis: Option.Option<string>
  readonly onUnavailable: "fail" | { readonly fallback: { readonly share: number } }
}): Layer.Layer<RateLimiter.RateLimiter, UsageError> => {
  const limits = {
    requestsPerMinute: Option.getOrUndefined(flags.rpm),
    tokensPerMinute: Option.getOrUndefined(flags.tpm)
  }
  const layer = Option.match(flags.redis, {
    onNone: () => RateLimiterMemory.layer({ limits }),
    // Loaded only with --redis: ioredis is a few MB of resident memory the memory limiter never needs.
    onSome: (url) =>
      Layer.unwrapEffect(
        Effect.map(
          Effect.promise(() => import("../../resilience/RateLimiterRedis.js")),
          (RateLimiterRedis) => RateLimiterRedis.layer({ url, limits, onUnavailable: flags.onUnavailable })
        )
      )
  })
  return Layer.mapError(layer, (error) => new UsageError({ message: `rate limiter: ${error.message}` }))
}

export const formatSummary = (summary: Summary): ReadonlyArray<string> => {
  const finished = summary.ok + summary.failed
  return [
    `requests  ${summary.requests}   ok ${summary.ok}   failed ${summary.failed}` +
    (summary.cancelled === undefined ? "" : `   cancelled ${summary.cancelled}`),
    `attempts  ${summary.attempts} (${(summary.attempts / Math.max(1, finished)).toFixed(2)} per request)   429s ${summary.status429}`,
    `time      ${summary.seconds.toFixed(2)} s   (${(finished / Math.max(0.001, summary.seconds)).toFixed(1)} requests/s)`,
    `latency   p50 ${summary.metrics.latencyMs.p50} ms   p99 ${summary.metrics.latencyMs.p99} ms`,
    `tokens    ${summary.metrics.tokens.total} (prompt ${summary.metrics.tokens.prompt}, completion ${summary.metrics.tokens.completion}, reasoning ${summary.metrics.tokens.reasoning})`,
    ...Object.entries(summary.errors).map(([tag, count]) => `error     ${tag} x ${count}`),
    ...summary.alerts.map((alert) => `alert     ${alert.rule} at ${alert.at}: ${alert.message}`),
    ...(summary.signal === undefined ? [] : [`stopped   by ${summary.signal}: ${summary.cancelled ?? 0} requests cancelled or never started`])
  ]
}

export const handler = (flags: LoadFlags) =>
  Signals.handling(Effect.gen(function*() {
    yield* positive("requests", flags.requests)
    yield* positive("concurrency", flags.concurrency)
    if (Option.isSome(flags.rpm)) yield* positive("rpm", flags.rpm.value)
    if (Option.isSome(flags.tpm)) yield* positive("tpm", flags.tpm.value)
    const onUnavailable = yield* onRedisUnavailable(flags.redisUnavailable)
    const config = yield* resolveConfig(flags)
    const summary = yield* Effect.scoped(Effect.gen(function*() {
      const drain = yield* Drain.make((stopping) => printError(Drain.stoppingLine(stopping)))
      const limiter = Layer.map(limiterLayer({ ...flags, onUnavailable }), (context) =>
        Context.make(RateLimiter.RateLimiter, drain.limiter(Context.get(context, RateLimiter.RateLimiter))))
      return yield* runWorkload({
        requests: flags.requests,
        concurrency: flags.concurrency,
        model: config.model,
        priorityOf: () => flags.priority,
        fallbacks: flags.fallbackModel,
        drain
      }).pipe(
        Effect.provide(clientLayer(config, NodeHttpClient.layerUndici).pipe(Layer.provide(limiter))),
        Effect.provide(Layer.mapError(cliLayer(flags), (error) => new UsageError({ message: error.message })))
      )
    }))
    if (flags.json) yield* printLine(JSON.stringify(summary))
    else for (const line of formatSummary(summary)) yield* printError(line)
    if (summary.signal !== undefined) return yield* Signals.interruptedExit(summary.signal)
    if (summary.failed > 0) return yield* new CliExit({ code: 1 })
  }))
