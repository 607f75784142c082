/**
 * `effect-grok load --base-url URL --model M [--fallback-model M]... --requests N --concurrency C [--rpm R] [--tpm T] [--redis URL] [--redis-unavailable SHARE|fail] [--priority P] [--metrics-port P] [--alert-error-rate X] [--json]`
 *
 * Public API: the flags and the `--json` fields are a contract. Exit 0 only when every
 * request succeeded. What it does: `handlers/load.ts`.
 *
 * @internal
 */
import { Command, Options } from "@effect/cli"
import * as RateLimiter from "../resilience/RateLimiter.js"
import { connectionOptions, fallbackModels } from "./chat.js"
import { lazyHandler } from "./internal/lazy.js"
import { telemetryOptions } from "./telemetry.js"

const requests = Options.integer("requests").pipe(Options.withDescription("How many chat calls to make"))
const concurrency = Options.integer("concurrency").pipe(Options.withDescription("How many calls run at once"))
const rpm = Options.integer("rpm").pipe(Options.withDescription("Requests per minute allowed (else learned from headers)"), Options.optional)
const tpm = Options.integer("tpm").pipe(Options.withDescription("Tokens per minute allowed (else learned from headers)"), Options.optional)
const redis = Options.text("redis").pipe(Options.withDescription("Share the quota through Redis, e.g. redis://127.0.0.1:6379"), Options.optional)
const redisUnavailable = Options.text("redis-unavailable").pipe(
  Options.withDescription(
    "While Redis cannot be reached: a share of the quota each process then takes locally (0 < share <= 1), or `fail` to refuse calls"
  ),
  Options.withDefault("0.5")
)
const priority = Options.choice("priority", RateLimiter.priorities).pipe(
  Options.withDescription("Limiter priority of every call"),
  Options.withDefault("normal" as const)
)
const json = Options.boolean("json").pipe(Options.withDescription("Print one JSON summary object"))

const config = {
  ...connectionOptions,
  fallbackModel: fallbackModels,
  requests,
  concurrency,
  rpm,
  tpm,
  redis,
  redisUnavailable,
  priority,
  ...telemetryOptions,
  json
}

/** The flags of `load`, as its handler gets them. */
export type LoadFlags = Command.Command.ParseConfig<typeof config>

export const loadCommand = Command.make("load", config, lazyHandler(() => import("./handlers/load.js"))).pipe(
  Command.withDescription("Drive N chat calls through the full stack (limiter, retries) and summarise")
)
