/**
 * The `effect-grok` command line: `chat`, `simulate`, `load`, `demo`, `batch`.
 *
 * `run(argv)` returns the exit code instead of exiting, so tests drive the real CLI in
 * process (with TestClock and a captured {@link CliOutput}).
 *
 * @internal
 */
import { Command, ValidationError } from "@effect/cli"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import { Cause, Effect, Exit, Layer, Logger, LogLevel, Option } from "effect"
import { batchCommand } from "./batch.js"
import { chatCommand } from "./chat.js"
import { demoCommand } from "./demo.js"
import { loadCommand } from "./load.js"
import { simulateCommand } from "./simulate.js"
import * as Logging from "../Logging.js"
import * as Completions from "./internal/completions.js"
import { CliExit, errorJson, printError, printLine, UsageError } from "./output.js"
import packageJson from "../../package.json" with { type: "json" }

/** `--version`: the package's own, bundled into the CLI when it is built. */
export const version: string = packageJson.version

const root = Command.make("effect-grok").pipe(
  Command.withDescription("Resilient calls to xAI's Grok API: chat, a local simulator, load tests and a live demo"),
  Command.withSubcommands([chatCommand, simulateCommand, loadCommand, demoCommand, batchCommand])
)

const cli = Command.run(root, { name: "effect-grok", version })

/**
 * What @effect/cli needs (files, paths, the terminal), and nothing more: `NodeContext.layer`
 * would also load `node:child_process` and `node:worker_threads`, which no command uses.
 */
const cliEnvironment = Layer.mergeAll(NodeFileSystem.layer, NodePath.layer, NodeTerminal.layer)

/**
 * Logs go to stderr, so stdout carries only results (one JSON object with `--json`). The
 * level is Error unless `EFFECT_GROK_LOG_LEVEL` (e.g. `Warning`, `Info`, `Debug`) says
 * otherwise: every command already reports its failures, retries and alerts in its own
 * output, and a warning per failed call would drown the demo's live view.
 */
const logLevel = (): LogLevel.LogLevel => {
  const wanted = (process.env["EFFECT_GROK_LOG_LEVEL"] ?? "").toLowerCase()
  return LogLevel.allLevels.find((level) => level.label.toLowerCase() === wanted) ?? LogLevel.Error
}

const cliLogger = Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.logfmtLogger))

/**
 * Run the CLI on `args` (without the `node script` prefix) and answer the exit code:
 * 0 success, 1 an API failure, 2 bad usage or configuration.
 */
export const run = (args: ReadonlyArray<string>): Effect.Effect<number> =>
  (Completions.wantsBash(args)
    ? Effect.flatMap(Completions.bash(root, "effect-grok"), printLine)
    : cli(["node", "effect-grok", ...args])).pipe(
    Effect.provide(cliEnvironment),
    Effect.provide(cliLogger),
    Logger.withMinimumLogLevel(logLevel()),
    // The library logs at Debug by default; the CLI raises its lines to Info, so that
    // EFFECT_GROK_LOG_LEVEL=Info shows retries and failed calls.
    Logging.withLevel(LogLevel.Info),
    Effect.exit,
    Effect.flatMap((exit) => {
      if (Exit.isSuccess(exit)) return Effect.succeed(0)
      const failure = Cause.failureOption(exit.cause)
      if (Option.isNone(failure)) {
        return Effect.as(printError(`effect-grok crashed: ${Cause.pretty(exit.cause)}`), 1)
      }
      const error = failure.value
      if (error instanceof CliExit) return Effect.succeed(error.code)
      if (error instanceof UsageError) {
        return Effect.as(
          args.includes("--json")
            ? printLine(JSON.stringify({ ok: false, error: errorJson({ _tag: "UsageError", message: error.message }), attempts: 0 }))
            : printError(`effect-grok: ${error.message}`),
          2
        )
      }
      // @effect/cli already printed what was wrong with the arguments.
      if (ValidationError.isValidationError(error)) return Effect.succeed(2)
      return Effect.as(printError(`effect-grok: ${String(error)}`), 1)
    })
  )
