/**
 * What `effect-grok simulate` does (its flags: `../simulate.ts`). Loaded when the command runs.
 *
 * Serves until SIGINT or SIGTERM, then closes its port (connections still open are cut),
 * says how many requests it served, and exits 130 or 143.
 *
 * @internal
 */
import * as FileSystem from "@effect/platform/FileSystem"
import { Duration, Effect, Either, Option, Stream } from "effect"
import * as FaultPlan from "../../simulator/FaultPlan.js"
import type * as Quota from "../../simulator/Quota.js"
import * as Simulator from "../../simulator/Simulator.js"
import { parseDuration } from "../args.js"
import * as Signals from "../internal/signals.js"
import { printError, printLine, UsageError } from "../output.js"
import type { SimulateFlags } from "../simulate.js"

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

export const handler = (flags: SimulateFlags) =>
  Signals.handling(Effect.gen(function*() {
    const faults = yield* loadFaults(flags.faults)
    const quota = yield* quotaOf(flags)
    const batch = yield* batchOptions(flags)
    const latency = Option.isNone(flags.latency)
      ? undefined
      : yield* parseDuration(flags.latency.value).pipe(
        Either.mapLeft((message) => new UsageError({ message: `--latency: ${message}` }))
      )
    let served = 0
    const stopped = yield* Signals.interruptOnStop(Effect.scoped(Effect.gen(function*() {
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
      return yield* Stream.runForEach(ended, (entry) => {
        served++
        return printError(describeRequest(entry))
      })
    })))
    // The simulator's scope is closed by now: its port is free.
    if (Either.isLeft(stopped)) {
      yield* printError(`stopped by ${stopped.left}: ${served} request${served === 1 ? "" : "s"} served, port closed`)
      return yield* Signals.interruptedExit(stopped.left)
    }
  }))
