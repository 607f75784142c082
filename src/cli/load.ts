/**
 * `effect-grok load --base-url URL --model M [--fallback-model M]... --requests N --concurrency C [--rpm R] [--tpm T] [--redis URL] [--priority P] [--metrics-port P] [--alert-error-rate X] [--json]`
 *
 * Public API: the flags and the `--json` fields are a contract. Exit 0 only when every
 * request succeeded.
 *
 * @internal
 */
import { Command, Options } from "@effect/cli"
import { Effect, Layer, Option } from "effect"
import * as RateLimiter from "../resilience/RateLimiter.js"
import * as RateLimiterMemory from "../resilience/RateLimiterMemory.js"
import { cliLayer, telemetryOptions } from "./telemetry.js"
import { clientLayer, connectionOptions, fallbackModels, resolveConfig } from "./chat.js"
import { CliExit, printError, printLine, UsageError } from "./output.js"
import { runWorkload, type Summary } from "./workload.js"

const requests = Options.integer("requests").pipe(Options.withDescription("How many chat calls to make"))
const concurrency = Options.integer("concurrency").pipe(Options.withDescription("How many calls run at once"))
const rpm = Options.integer("rpm").pipe(Options.withDescription("Requests per minute allowed (else learned from headers)"), Options.optional)
const tpm = Options.integer("tpm").pipe(Options.withDescription("Tokens per minute allowed (else learned from headers)"), Options.optional)
const redis = Options.text("redis").pipe(Options.withDescription("Share the quota through Redis, e.g. redis://127.0.0.1:6379"), Options.optional)
const priority = Options.choice("priority", RateLimiter.priorities).pipe(
  Options.withDescription("Limiter priority of every call"),
  Options.withDefault("normal" as const)
)
const json = Options.boolean("json").pipe(Options.withDescription("Print one JSON summary object"))

const positive = (name: string, value: number) =>
  Number.isInteger(value) && value > 0 ? Effect.void : Effect.fail(new UsageError({ message: `--${name} must be a positive integer` }))

/** The limiter layer the flags ask for. */
const limiterLayer = (flags: {
  readonly rpm: Option.Option<number>
  readonly tpm: Option.Option<number>
  readonly redis: Option.Option<string>
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
          Effect.promise(() => import("../resilience/RateLimiterRedis.js")),
          (RateLimiterRedis) => RateLimiterRedis.layer({ url, limits, onUnavailable: "fail" })
        )
      )
  })
  return Layer.mapError(layer, (error) => new UsageError({ message: `rate limiter: ${error.message}` }))
}

export const formatSummary = (summary: Summary): ReadonlyArray<string> => [
  `requests  ${summary.requests}   ok ${summary.ok}   failed ${summary.failed}`,
  `attempts  ${summary.attempts} (${(summary.attempts / Math.max(1, summary.requests)).toFixed(2)} per request)   429s ${summary.status429}`,
  `time      ${summary.seconds.toFixed(2)} s   (${(summary.requests / Math.max(0.001, summary.seconds)).toFixed(1)} requests/s)`,
  `latency   p50 ${summary.metrics.latencyMs.p50} ms   p99 ${summary.metrics.latencyMs.p99} ms`,
  `tokens    ${summary.metrics.tokens.total} (prompt ${summary.metrics.tokens.prompt}, completion ${summary.metrics.tokens.completion}, reasoning ${summary.metrics.tokens.reasoning})`,
  ...Object.entries(summary.errors).map(([tag, count]) => `error     ${tag} x ${count}`),
  ...summary.alerts.map((alert) => `alert     ${alert.rule} at ${alert.at}: ${alert.message}`)
]

export const loadCommand = Command.make(
  "load",
  { ...connectionOptions, fallbackModel: fallbackModels, requests, concurrency, rpm, tpm, redis, priority, ...telemetryOptions, json },
  (flags) =>
    Effect.gen(function*() {
      yield* positive("requests", flags.requests)
      yield* positive("concurrency", flags.concurrency)
      if (Option.isSome(flags.rpm)) yield* positive("rpm", flags.rpm.value)
      if (Option.isSome(flags.tpm)) yield* positive("tpm", flags.tpm.value)
      const config = yield* resolveConfig(flags)
      const summary = yield* runWorkload({
        requests: flags.requests,
        concurrency: flags.concurrency,
        model: config.model,
        priorityOf: () => flags.priority,
        fallbacks: flags.fallbackModel
      }).pipe(
        Effect.provide(clientLayer(config).pipe(Layer.provide(limiterLayer(flags)))),
        Effect.provide(Layer.mapError(cliLayer(flags), (error) => new UsageError({ message: error.message })))
      )
      if (flags.json) yield* printLine(JSON.stringify(summary))
      else for (const line of formatSummary(summary)) yield* printError(line)
      if (summary.failed > 0) return yield* new CliExit({ code: 1 })
    })
).pipe(Command.withDescription("Drive N chat calls through the full stack (limiter, retries) and summarise"))
