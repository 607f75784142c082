/**
 * `effect-grok demo [--requests N] [--concurrency C] [--rps R] [--seed N] [--report FILE] [--metrics-port P] [--alert-error-rate X] [--json]`
 *
 * What `npm start` runs: a simulator in process, with a quota and a mix of faults, and a
 * workload of mixed priorities through the full stack (GrokClient, the in-memory limiter,
 * the default retries). Live progress while it runs (redrawn in place on a terminal, plain
 * lines otherwise), then a report: a summary, the calls by priority, and a chart of
 * throughput against the quota. No API key needed: the demo gives its simulator its own.
 * What it does: `handlers/demo.ts`.
 *
 * Public API: the flags and the `--json` fields (those of `load --json`) are a contract.
 *
 * @internal
 */
import { Command, Options } from "@effect/cli"
import { lazyHandler } from "./internal/lazy.js"
import { telemetryOptions } from "./telemetry.js"

const requests = Options.integer("requests").pipe(
  Options.withDescription("How many chat calls to make (default 300)"),
  Options.withDefault(300)
)
const concurrency = Options.integer("concurrency").pipe(
  Options.withDescription("How many calls run at once (default 50)"),
  Options.withDefault(50)
)
const rps = Options.integer("rps").pipe(
  Options.withDescription("The simulator's quota in requests per second (default 20)"),
  Options.withDefault(20)
)
const seed = Options.integer("seed").pipe(
  Options.withDescription("Seed of the simulator's faults: same seed, same faults (default 7)"),
  Options.withDefault(7)
)
const report = Options.text("report").pipe(
  Options.withDescription("Also write the chart and tables to FILE: .svg (the chart) or .html (everything)"),
  Options.optional
)
const json = Options.boolean("json").pipe(Options.withDescription("Print one JSON summary object (the fields of load --json)"))

const config = { requests, concurrency, rps, seed, report, ...telemetryOptions, json }

/** The flags of `demo`, as its handler gets them. */
export type DemoFlags = Command.Command.ParseConfig<typeof config>

export const demoCommand = Command.make("demo", config, lazyHandler(() => import("./handlers/demo.js"))).pipe(
  Command.withDescription("Run a live demo on an embedded simulator: quota, faults, retries, priorities (no API key needed)")
)
