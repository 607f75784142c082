/**
 * `effect-grok simulate [--port N] [--host H] [--rps R] [--rpm R] [--tpm T] [--burst B]
 * [--headers openai|generic|none] [--retry-after seconds|ms|http-date|none]
 * [--faults FILE|JSON] [--seed N] [--latency DURATION] [--api-key KEY]...
 * [--batch-add-limit N] [--batch-add-window DURATION] [--batch-processing MIN-MAX] [--batch-failure-rate X]`
 *
 * Serves a local xAI-compatible API until interrupted (Ctrl-C). Prints the base URL on
 * stdout, then one line per request on stderr.
 *
 * Public API: the flags are a contract.
 *
 * @internal
 */
import { Command, Options } from "@effect/cli"
import * as FileSystem from "@effect/platform/FileSystem"
import { Duration, Effect, Either, Option, Stream } from "effect"
import * as FaultPlan from "../simulator/FaultPlan.js"
import type * as Quota from "../simulator/Quota.js"
import * as Simulator from "../simulator/Simulator.js"
import { parseDuration } from "./args.js"
import { printError, printLine, UsageError } from "./output.js"

const options = {
  port: Options.integer("port").pipe(
    Options.withDescription("Port to listen on (0 picks a free port)"),
    Options.withDefault(8080)
  ),
  host: Options.text("host").pipe(Options.withDescription("Interface to bind"), Options.withDefault("127.0.0.1")),
  rps: Options.float("rps").pipe(Options.withDescription("Requests per second allowed per model"), Options.optional),
  rpm: Options.float("rpm").pipe(Options.withDescription("Requests per minute allowed per model"), Options.optional),
  tpm: Options.float("tpm").pipe(Options.withDescription("Tokens per minute allowed per model"), Options.optional),
  burst: Options.integer("burst").pipe(
    Options.withDescription("Requests that may arrive back to back (default: one window's worth)"),
    Options.optional
  ),
  headers: Options.choice("headers", ["openai", "generic", "none"]).pipe(
    Options.withDescription("Rate-limit headers: x-ratelimit-*-requests/-tokens, X-RateLimit-*, or none"),
    Options.withDefault("openai")
  ),
  retryAfter: Options.choice("retry-after", ["seconds", "ms", "http-date", "none"]).pipe(
    Options.withDescription("How a 429 says when to retry: retry-after seconds, retry-after-ms, an HTTP-date, or not"),
    Options.withDefault("seconds")
  ),
  faults: Options.text("faults").pipe(
    Options.withDescription("Fault plan: a JSON file, or inline JSON (see docs/simulator.md)"),
    Options.optional
  ),
  seed: Options.integer("seed").pipe(Options.withDescription("Seed for ids and fault probabilities"), Options.optional),
  latency: Options.text("latency").pipe(
    Options.withDescription("Delay before every answer, e.g. 200ms or 1.5s"),
    Options.optional
  ),
  apiKeys: Options.text("api-key").pipe(
    Options.withDescription("A key the server accepts (repeatable; default: any non-empty key)"),
    Options.repeated
  ),
  batchAddLimit: Options.integer("batch-add-limit").pipe(
    Options.withDescription("Batch API: add calls allowed per window over all batches, more get 429 (default 1000, as xAI)"),
    Options.optional
  ),
  batchAddWindow: Options.text("batch-add-window").pipe(
    Options.withDescription("Batch API: the add-call window, e.g. 30s (default 30s, as xAI)"),
    Options.optional
  ),
  batchProcessing: Options.text("batch-processing").pipe(
    Options.withDescription("Batch API: how long a request runs once added, MIN-MAX, e.g. 1s-10s (the default)"),
    Options.optional
  ),
  batchFailureRate: Options.float("batch-failure-rate").pipe(
    Options.withDescription("Batch API: share of requests that fail while they run, 0 to 1 (default 0)"),
    Options.optional
  )
}

/** The `--batch-*` flags as the simulator's batch options. */
const batchOptions = (flags: {
  readonly batchAddLimit: Option.Option<number>
  readonly batchAddWindow: Option.Option<string>
  readonly batchProcessing: Option.Option<string>
  readonly batchFailureRate: Option.Option<number>
}): Either.Either<Simulator.BatchOptions, UsageError> =>
  Either.gen(function*() {
    const window = Option.isNone(flags.batchAddWindow)
      ? undefined
      : yield* Either.mapLeft(parseDuration(flags.batchAddWindow.value), (message) => new UsageError({ message: `--batch-add-window: ${message}` }))
    let processing: Simulator.BatchOptions["processing"]
    if (Option.isSome(flags.batchProcessing)) {
      const [min = "", max] = flags.batchProcessing.value.split("-")
      const bad = (message: string) => new UsageError({ message: `--batch-processing: ${message} (expected MIN-MAX, e.g. 1s-10s)` })
      // Zero is a fine minimum here (parseDuration refuses it for timeouts).
      const duration = (text: string) => /^\s*0+(ms|s|m|h)?\s*$/.test(text) ? Either.right(Duration.zero) : parseDuration(text)
      processing = {
        min: yield* Either.mapLeft(duration(min), bad),
        max: yield* Either.mapLeft(duration(max ?? min), bad)
      }
    }
    return {
      addCallLimit: Option.getOrUndefined(flags.batchAddLimit),
      addCallWindow: window,
      processing,
      failureRate: Option.getOrUndefined(flags.batchFailureRate)
    }
  })

/** Inline JSON starts with `[` or `{`; anything else is a file path. */
const loadFaults = (
  source: Option.Option<string>
): Effect.Effect<FaultPlan.FaultPlan, UsageError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    if (Option.isNone(source)) return FaultPlan.none
    const raw = source.value.trim()
    const text = raw.startsWith("[") || raw.startsWith("{")
      ? raw
      : yield* Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readFileString(raw)).pipe(
        Effect.mapError((error) => new UsageError({ message: `--faults: cannot read ${raw}: ${error.message}` }))
      )
    return yield* FaultPlan.fromJson(text).pipe(
      Either.mapLeft((error) => new UsageError({ message: `--faults: ${error.message}` }))
    )
  })

const quotaOf = (flags: {
  readonly rps: Option.Option<number>
  readonly rpm: Option.Option<number>
  readonly tpm: Option.Option<number>
  readonly burst: Option.Option<number>
}): Either.Either<Quota.Quota | undefined, UsageError> => {
  const quota: Quota.Quota = {
    requestsPerSecond: Option.getOrUndefined(flags.rps),
    requestsPerMinute: Option.getOrUndefined(flags.rpm),
    tokensPerMinute: Option.getOrUndefined(flags.tpm),
    burst: Option.getOrUndefined(flags.burst)
  }
  if (quota.burst !== undefined && quota.requestsPerSecond === undefined && quota.requestsPerMinute === undefined) {
    return Either.left(new UsageError({ message: "--burst needs --rps or --rpm" }))
  }
  return Either.right(Object.values(quota).some((value) => value !== undefined) ? quota : undefined)
}

const describeRequest = (entry: Simulator.LoggedRequest): string => {
  const status = entry.status === null ? "no answer" : String(entry.status)
  const took = entry.endedAt === undefined ? "" : ` ${entry.endedAt - entry.startedAt}ms`
  return [
    `#${entry.index}`,
    entry.method,
    entry.path,
    ...(entry.model === undefined ? [] : [entry.model]),
    ...(entry.stream ? ["(stream)"] : []),
    `-> ${status}`,
    ...(entry.fault === undefined ? [] : [`[fault: ${entry.fault}]`]),
    ...(entry.outcome === "completed" ? [] : [`[${entry.outcome}]`])
  ].join(" ") + took
}

/**
 * The `simulate` subcommand.
 *
 * @since 0.1.0
 */
export const simulateCommand = Command.make("simulate", options, (flags) =>
  Effect.gen(function*() {
    const faults = yield* loadFaults(flags.faults)
    const quota = yield* quotaOf(flags)
    const batch = yield* batchOptions(flags)
    const latency = Option.isNone(flags.latency)
      ? undefined
      : yield* parseDuration(flags.latency.value).pipe(
        Either.mapLeft((message) => new UsageError({ message: `--latency: ${message}` }))
      )
    yield* Effect.scoped(Effect.gen(function*() {
      const sim = yield* Simulator.make({
        port: flags.port,
        host: flags.host,
        quota,
        headers: flags.headers,
        retryAfter: flags.retryAfter,
        faults,
        seed: Option.getOrUndefined(flags.seed),
        latency,
        apiKeys: flags.apiKeys.length > 0 ? flags.apiKeys : undefined,
        batch
      }).pipe(Effect.mapError((error) => new UsageError({ message: error.message })))
      const ended = yield* sim.subscribe
      yield* printLine(`GrokSimulator listening on ${sim.url}`)
      yield* printError(`  XAI_BASE_URL=${sim.url} XAI_API_KEY=<any key> effect-grok chat "hello"`)
      yield* printError("  Ctrl-C to stop.")
      return yield* Stream.runForEach(ended, (entry) => printError(describeRequest(entry)))
    }))
  })).pipe(Command.withDescription("Serve a local xAI-compatible API with quotas and injected faults"))
