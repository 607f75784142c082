/**
 * `effect-grok simulate [--port N] [--host H] [--rps R] [--rpm R] [--tpm T] [--burst B]
 * [--headers openai|generic|none] [--retry-after seconds|ms|http-date|none]
 * [--faults FILE|JSON] [--seed N] [--latency DURATION] [--api-key KEY]...
 * [--batch-add-limit N] [--batch-add-window DURATION] [--batch-processing MIN-MAX] [--batch-failure-rate X]`
 *
 * Serves a local xAI-compatible API until Ctrl-C (SIGINT) or SIGTERM. Prints the base URL
 * on stdout, then one line per request on stderr. What it does: `handlers/simulate.ts`.
 *
 * Public API: the flags are a contract.
 *
 * @internal
 */
import { Command, Options } from "@effect/cli"
import { lazyHandler } from "./internal/lazy.js"

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

/** The flags of `simulate`, as its handler gets them. */
export type SimulateFlags = Command.Command.ParseConfig<typeof options>

/**
 * The `simulate` subcommand.
 *
 * @since 0.1.0
 */
export const simulateCommand = Command.make("simulate", options, lazyHandler(() => import("./handlers/simulate.js"))).pipe(
  Command.withDescription("Serve a local xAI-compatible API with quotas and injected faults")
)
