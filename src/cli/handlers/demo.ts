/**
 * What `effect-grok demo` does (its flags: `../demo.ts`). Loaded when the command runs.
 *
 * On SIGINT or SIGTERM no new call starts, the attempts on the wire end
 * (`internal/drain.ts`), and the report covers what happened until then (`"interrupted":
 * true` with `--json`); then it exits 130 or 143.
 *
 * @internal
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Clock, Context, Effect, Fiber, Layer, Option, Ref, Schedule } from "effect"
import * as GrokClient from "../../GrokClient.js"
import * as GrokConfig from "../../GrokConfig.js"
import { limitKey } from "../../internal/pipeline.js"
import * as RateLimiter from "../../resilience/RateLimiter.js"
import * as RateLimiterMemory from "../../resilience/RateLimiterMemory.js"
import * as RetryBudget from "../../resilience/RetryBudget.js"
import * as RetryPolicy from "../../resilience/RetryPolicy.js"
import * as Simulator from "../../simulator/Simulator.js"
import * as Metrics from "../../telemetry/Metrics.js"
import type { DemoFlags } from "../demo.js"
import { clientLayer } from "../internal/client.js"
import { type DemoResult, fileReport, type RunContext, terminalLines } from "../internal/demoReport.js"
import * as DemoScenario from "../internal/demoScenario.js"
import * as Drain from "../internal/drain.js"
import * as Live from "../internal/live.js"
import * as Report from "../internal/report.js"
import * as Signals from "../internal/signals.js"
import { fromLog, type QueueSample } from "../internal/timeline.js"
import { CliExit, CliOutput, printError, printLine, UsageError, write } from "../output.js"
import { cliLayer } from "../telemetry.js"
import { type CallOutcome, type Progress, runWorkload, type Summary } from "../workload.js"

/** The key the demo gives its own simulator: never a real one. */
const demoKey = "demo-key-for-the-local-simulator"

/** How often the live view is refreshed on a terminal, and how often a plain line is printed otherwise. */
const frameEvery = "250 millis"
const plainEveryMillis = 2000
/** Throughput shown live is measured over this window. */
const rateWindowMillis = 2000

const positive = (name: string, value: number) =>
  Number.isInteger(value) && value > 0 ? Effect.void : Effect.fail(new UsageError({ message: `--${name} must be a positive integer` }))

/** Print what went wrong and exit 1. */
const failWith = (message: string) => Effect.zipRight(printError(`effect-grok demo: ${message}`), Effect.fail(new CliExit({ code: 1 })))

const reportFormat = (path: Option.Option<string>) =>
  Option.match(path, {
    onNone: () => Effect.succeed(Option.none<readonly [string, Report.ReportFormat]>()),
    onSome: (file) => {
      const format = Report.formatOf(file)
      return format === undefined
        ? Effect.fail(new UsageError({ message: `--report: ${file} should end in .svg or .html` }))
        : Effect.succeed(Option.some([file, format] as const))
    }
  })

interface LiveSource {
  readonly startedAt: number
  readonly requests: number
  readonly quotaPerSecond: number
  readonly progress: Ref.Ref<Progress>
  readonly before: Metrics.Totals
  readonly limiter: RateLimiter.Service
  readonly key: string
  /** What the stop found under way, once SIGINT or SIGTERM came. */
  readonly stopping: () => Drain.Stopping | undefined
}

/** Samples the run for the live view and keeps the queue depth for the chart. */
const makeSampler = (source: LiveSource) => {
  const history: Array<{ readonly atMillis: number; readonly ok: number }> = []
  const queue: Array<QueueSample> = []
  const sample = Effect.gen(function*() {
    const atMillis = (yield* Clock.currentTimeMillis) - source.startedAt
    const progress = yield* Ref.get(source.progress)
    const totals = Metrics.diffTotals(source.before, yield* Metrics.snapshotTotals)
    const stats = yield* source.limiter.stats(source.key)
    history.push({ atMillis, ok: progress.ok })
    queue.push({ atMillis, queued: stats.queued })
    const since = history.find((point) => point.atMillis >= atMillis - rateWindowMillis) ?? { atMillis: 0, ok: 0 }
    const span = atMillis - since.atMillis
    const snapshot: Live.Snapshot = {
      elapsedMillis: atMillis,
      requests: source.requests,
      done: progress.done,
      ok: progress.ok,
      failed: progress.failed,
      okPerSecond: span > 0 ? ((progress.ok - since.ok) * 1000) / span : 0,
      quotaPerSecond: source.quotaPerSecond,
      pacedPerSecond: stats.requestsPerSecond,
      coolingDown: stats.coolingDown,
      attempts: totals.attempts,
      retries: totals.retries,
      status429: totals.status429,
      queued: stats.queued,
      inFlight: stats.inFlight,
      stopping: Option.getOrUndefined(Option.map(Option.fromNullable(source.stopping()), Drain.stoppingLine))
    }
    return snapshot
  })
  return { sample, queue }
}

/** Shows snapshots: a frame redrawn in place on a terminal, a plain line every few seconds otherwise. */
const makeView = (isTTY: boolean) => {
  let drawn = 0
  let lastPlain = -Infinity
  return {
    start: isTTY ? write(Live.hideCursor) : Effect.void,
    show: (snapshot: Live.Snapshot, final: boolean) => {
      if (isTTY) {
        const lines = Live.frame(snapshot)
        const text = Live.redraw(drawn, lines)
        drawn = lines.length
        return write(text)
      }
      if (!final && snapshot.elapsedMillis - lastPlain < plainEveryMillis) return Effect.void
      lastPlain = snapshot.elapsedMillis
      return printLine(Live.plainLine(snapshot))
    },
    end: isTTY ? write(Live.showCursor) : Effect.void
  }
}

const header = (options: { readonly requests: number; readonly concurrency: number; readonly scenario: DemoScenario.Scenario; readonly url: string }) => [
  `effect-grok demo: ${options.requests} chat calls, ${options.concurrency} at a time (10% critical, 60% normal, 30% background),`,
  "through GrokClient with the in-memory rate limiter and the default retries;",
  `${options.scenario.model} answers, and background calls fall back to ${options.scenario.fallbackModel} when ${options.scenario.model} keeps failing.`,
  `Simulator at ${options.url}:`,
  `  quota ${options.scenario.quota.requestsPerSecond} requests/s (burst ${options.scenario.quota.burst}) and ` +
  `${options.scenario.quota.tokensPerMinute} tokens/min, announced in OpenAI-style rate-limit headers`,
  ...options.scenario.faultLines.map((line) => `  - ${line}`),
  ""
]

/** The run itself: simulator, client and live view live in this scope and end with it. */
const runDemo = (flags: DemoFlags, scenario: DemoScenario.Scenario, isTTY: boolean) =>
  Effect.scoped(Effect.gen(function*() {
    const simulatorStartedAt = yield* Clock.currentTimeMillis
    const sim = yield* Simulator.make({
      quota: scenario.quota,
      faults: scenario.faults,
      seed: flags.seed,
      apiKeys: [demoKey],
      headers: "openai",
      retryAfter: "seconds"
    }).pipe(Effect.catchAll((error) => failWith(`the simulator did not start: ${error.message}`)))
    const config = yield* GrokConfig.make({ apiKey: demoKey, baseUrl: sim.url, model: scenario.model }).pipe(
      Effect.mapError((error) => new UsageError({ message: `configuration: ${String(error)}` }))
    )
    const limiter = yield* RateLimiterMemory.make().pipe(Effect.orDie)
    let stopping: Drain.Stopping | undefined
    const drain = yield* Drain.make((stopped) => {
      stopping = stopped
      // On a terminal the live view says it; in a pipe, a line in the progress now.
      return flags.json ? printError(Drain.stoppingLine(stopped)) : isTTY ? Effect.void : printLine(Drain.stoppingLine(stopped))
    })
    const context = yield* Layer.build(
      clientLayer(config, NodeHttpClient.layerUndici).pipe(Layer.provide(Layer.succeed(RateLimiter.RateLimiter, drain.limiter(limiter))))
    )
    const grok = Context.get(context, GrokClient.GrokClient)
    const calls: Array<CallOutcome> = []
    const keys = new Map([scenario.model, scenario.fallbackModel].map((model) => [limitKey(config.apiKey, model, config.rateLimitKey), model]))
    const runContext: RunContext = {
      simulatorStartedAt,
      brownout: scenario.brownout,
      modelOfKey: (key) => keys.get(key),
      fallbackModel: scenario.fallbackModel,
      maxRetries: RetryPolicy.defaults.maxRetries,
      budgetRatio: RetryBudget.defaults.ratio
    }

    if (!flags.json) for (const line of header({ ...flags, scenario, url: sim.url })) yield* printLine(line)
    const progress = yield* Ref.make<Progress>({ done: 0, ok: 0, failed: 0 })
    const startedAt = yield* Clock.currentTimeMillis
    const sampler = makeSampler({
      startedAt,
      requests: flags.requests,
      quotaPerSecond: flags.rps,
      progress,
      before: yield* Metrics.snapshotTotals,
      limiter,
      key: limitKey(config.apiKey, config.model, config.rateLimitKey),
      stopping: () => stopping
    })
    const view = makeView(isTTY)
    // Sampled with --json too: the queue depth goes into the report.
    const show = (final: boolean) => Effect.flatMap(sampler.sample, (snapshot) => (flags.json ? Effect.void : view.show(snapshot, final)))
    if (!flags.json) yield* Effect.acquireRelease(view.start, () => view.end)
    const ticker = yield* Effect.forkScoped(Effect.repeat(show(false), Schedule.spaced(frameEvery)))
    const summary: Summary = yield* runWorkload({
      requests: flags.requests,
      concurrency: flags.concurrency,
      model: scenario.model,
      priorityOf: DemoScenario.priorityOf,
      fallbacksOf: DemoScenario.fallbacksOf(scenario),
      onProgress: (now) => Ref.set(progress, now),
      onCall: (call) => Effect.sync(() => calls.push(call)),
      drain
    }).pipe(
      Effect.provideService(GrokClient.GrokClient, grok),
      Effect.ensuring(Fiber.interrupt(ticker))
    )
    yield* show(true)
    const timeline = fromLog(yield* sim.log, sampler.queue, startedAt, summary.seconds)
    return { summary, calls, timeline, url: sim.url, context: runContext }
  }))

export const handler = (flags: DemoFlags) =>
  Signals.handling(Effect.gen(function*() {
    yield* positive("requests", flags.requests)
    yield* positive("concurrency", flags.concurrency)
    yield* positive("rps", flags.rps)
    const reportFile = yield* reportFormat(flags.report)
    const scenario = DemoScenario.make({ requests: flags.requests, requestsPerSecond: flags.rps })
    const { isTTY } = yield* CliOutput
    const telemetry = cliLayer(flags).pipe(Layer.mapError((error) => new UsageError({ message: error.message })))
    const { calls, context, summary, timeline, url } = yield* runDemo(flags, scenario, isTTY).pipe(Effect.provide(telemetry))

    const result: DemoResult = {
      summary,
      calls,
      timeline,
      quotaPerSecond: flags.rps,
      idealSeconds: scenario.idealSeconds,
      faultLines: scenario.faultLines,
      context
    }
    if (flags.json) yield* printLine(JSON.stringify(summary))
    else for (const line of terminalLines(result)) yield* printLine(line)

    if (Option.isSome(reportFile)) {
      const [file, format] = reportFile.value
      const subtitle = `${summary.requests} chat calls against a simulator at ${url} with a quota of ${flags.rps} requests/s and injected faults.`
      const fs = yield* FileSystem.FileSystem
      yield* fs.writeFileString(file, Report.render(fileReport(result, subtitle), format)).pipe(
        Effect.catchAll((error) => failWith(`cannot write ${file}: ${error.message}`))
      )
      yield* printError(`Report written to ${file}`)
    }
    if (summary.signal !== undefined) return yield* Signals.interruptedExit(summary.signal)
    if (summary.ok + summary.failed !== summary.requests) {
      return yield* failWith(`${summary.requests - summary.ok - summary.failed} requests unaccounted for`)
    }
  }))
