/**
 * How commands end: a printed result and an exit code (0 success, 1 API failure, 2 bad usage
 * or config). Expected failures print a message, never a stack trace.
 *
 * @internal
 */
import { Context, Data, Effect } from "effect"
import type * as GrokError from "../GrokError.js"

/** Ends the command with `code` once its output is printed. */
export class CliExit extends Data.TaggedError("CliExit")<{ readonly code: number }> {}

/** Bad usage or configuration: print `message` and exit 2. */
export class UsageError extends Data.TaggedError("UsageError")<{ readonly message: string }> {}

/**
 * Where the CLI writes. The CLI is the one place that writes to the terminal; tests swap
 * this for a buffer to read what a user would see.
 */
export class CliOutput extends Context.Reference<CliOutput>()("effect-grok/CliOutput", {
  defaultValue: () => ({
    stdout: (text: string): void => void process.stdout.write(text),
    stderr: (text: string): void => void process.stderr.write(text),
    isTTY: process.stdout.isTTY === true
  })
}) {}

/** Print one line to stdout. */
export const printLine = (line: string) => Effect.map(CliOutput, (out) => out.stdout(`${line}\n`))

/** Print to stderr (progress, notes), keeping stdout for the result. */
export const printError = (line: string) => Effect.map(CliOutput, (out) => out.stderr(`${line}\n`))

/** Write text without a newline (streamed tokens). */
export const write = (text: string) => Effect.map(CliOutput, (out) => out.stdout(text))

/** The `error` object of a `--json` failure: public API, keep the fields exactly. */
export const errorJson = (error: {
  readonly _tag: string
  readonly status?: number | null | undefined
  readonly retryable?: boolean | undefined
  readonly message: string
  readonly requestId?: string | undefined
}) => ({
  _tag: error._tag,
  status: error.status ?? null,
  retryable: error.retryable ?? false,
  message: error.message,
  requestId: error.requestId ?? null
})

/** One line describing a failure for humans. */
export const describeError = (error: GrokError.GrokError): string =>
  `${error._tag}${error.status === null ? "" : ` (HTTP ${error.status})`}: ${error.message}` +
  (error.retryable ? "" : " [not retryable]")
