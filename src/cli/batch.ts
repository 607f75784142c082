/**
 * `effect-grok batch --input FILE.jsonl --output FILE.jsonl [--base-url URL] [--name NAME] [--json]`
 *
 * Runs an OpenAI-format batch file through xAI's Batch API and writes one result line per
 * `custom_id`, exactly once. Public API: the flags, the output lines and the `--json`
 * summary `{"batchId","requests","succeeded","failed","cancelled","seconds"}` are a contract.
 *
 * Resumable: the batch is found again by its name (`--name`, or a digest of the input), only
 * requests it lacks are added, and only results the output lacks are written; a line cut by
 * a crash is dropped first. So the same command, run again after SIGINT, SIGTERM or a crash,
 * completes the output without duplicates. On SIGINT or SIGTERM it stops polling, keeps what
 * it wrote, prints a partial summary (`"interrupted": true` with `--json`) and exits 130 or
 * 143; the batch goes on running at xAI. What it does: `handlers/batch.ts`.
 *
 * Exit codes: 0 every line has its result (failed lines included), 1 the job could not
 * complete, 2 bad usage, configuration or input (nothing is sent).
 *
 * @internal
 */
import { Command, Options } from "@effect/cli"
import { lazyHandler } from "./internal/lazy.js"

const options = {
  input: Options.text("input").pipe(
    Options.withDescription("JSONL of OpenAI batch-input lines {custom_id, method, url, body}; url /v1/chat/completions or /v1/responses")
  ),
  output: Options.text("output").pipe(
    Options.withDescription("JSONL of OpenAI batch-output lines, one per custom_id (completed, not overwritten, when run again)")
  ),
  baseUrl: Options.text("base-url").pipe(
    Options.withDescription("API base URL (default: XAI_BASE_URL or https://api.x.ai/v1)"),
    Options.optional
  ),
  name: Options.text("name").pipe(
    Options.withDescription("The batch's name, by which a run finds it again (default: a digest of the input)"),
    Options.optional
  ),
  json: Options.boolean("json").pipe(Options.withDescription("Print one JSON summary object"))
}

/** The flags of `batch`, as its handler gets them. */
export type BatchFlags = Command.Command.ParseConfig<typeof options>

/** @internal */
export const batchCommand = Command.make("batch", options, lazyHandler(() => import("./handlers/batch.js"))).pipe(
  Command.withDescription("Run a JSONL batch file through xAI's Batch API; resumable, one result per custom_id")
)
