/**
 * What `effect-grok batch` does (its flags: `../batch.ts`). Loaded when the command runs.
 *
 * On SIGINT or SIGTERM it stops polling (the batch goes on at xAI), keeps what it wrote,
 * prints a partial summary (`"interrupted": true` with `--json`), and exits 130 or 143.
 *
 * @internal
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Clock, Effect, Either, Layer, Metric, MetricState, Option, Stream } from "effect"
import type * as BatchError from "../../BatchError.js"
import * as GrokBatch from "../../GrokBatch.js"
import type * as GrokConfig from "../../GrokConfig.js"
import * as Requests from "../../internal/batch/requests.js"
import * as Batch from "../../schema/Batch.js"
import type { BatchFlags } from "../batch.js"
import { resolveConfig } from "../chat.js"
import * as Files from "../internal/batchFiles.js"
import * as Live from "../internal/live.js"
import * as Signals from "../internal/signals.js"
import { CliExit, CliOutput, printError, printLine, UsageError } from "../output.js"

/** Lines named in an error message, at most this many. */
const MAX_NAMED = 10

const listIssues = (file: string, issues: ReadonlyArray<Files.LineIssue>, hint = ""): string =>
  [
    ...issues.slice(0, MAX_NAMED).map((issue) => `${file} line ${issue.line}: ${issue.message}`),
    ...(issues.length > MAX_NAMED ? [`... and ${issues.length - MAX_NAMED} more`] : []),
    ...(hint === "" ? [] : [hint])
  ].join("\n")

/** The input's requests, every one usable, or a UsageError naming the bad lines. */
const readInput = (path: string, model: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(path).pipe(
      Effect.mapError((error) => new UsageError({ message: `--input: cannot read ${path}: ${error.message}` }))
    )
    const { issues, lines } = Files.parseInput(text)
    if (issues.length > 0) return yield* new UsageError({ message: `--input: nothing was sent\n${listIssues(path, issues)}` })
    if (lines.length === 0) return yield* new UsageError({ message: `--input: ${path} holds no requests` })
    // The bodies, checked as the batch client checks them before it sends anything.
    const checked = Requests.encode(model, lines.map((line) => line.request))
    if (Either.isLeft(checked)) {
      const lineOf = new Map(lines.map((line) => [line.request.id, line.line]))
      const named = checked.left.issues.map((issue) => ({ line: lineOf.get(issue.id) ?? 0, message: `custom_id ${JSON.stringify(issue.id)}: ${issue.message}` }))
      return yield* new UsageError({ message: `--input: nothing was sent\n${listIssues(path, named)}` })
    }
    return lines
  })

/** What an earlier run wrote, with a line cut by a crash removed from the file. */
const readOutput = (path: string, inputIds: ReadonlySet<string>) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const cannot = (what: string) => (error: { readonly message: string }) => new UsageError({ message: `--output: cannot ${what} ${path}: ${error.message}` })
    if (!(yield* fs.exists(path).pipe(Effect.mapError(cannot("check"))))) return new Map<string, Files.Kind>()
    const existing = Files.readOutput(yield* fs.readFile(path).pipe(Effect.mapError(cannot("read"))), inputIds)
    if (existing.issues.length > 0) {
      return yield* new UsageError({
        message: `--output: ${path} is not this job's output\n${listIssues(path, existing.issues, "Give another --output, or remove the file to start over.")}`
      })
    }
    if (existing.partial) yield* fs.truncate(path, existing.keepBytes).pipe(Effect.mapError(cannot("repair")))
    return existing.done
  })

/** Add calls made and add calls answered 429, from the metrics. */
const addCalls = Effect.map(Metric.snapshot, (pairs) => {
  let calls = 0
  let throttled = 0
  for (const pair of pairs) {
    if (pair.metricKey.name !== "effect_grok.batch.calls" || !MetricState.isCounterState(pair.metricState)) continue
    const tag = (key: string) => pair.metricKey.tags.find((label) => label.key === key)?.value
    if (tag("operation") !== "add") continue
    calls += Number(pair.metricState.count)
    if (tag("http.response.status_code") === "429") throttled += Number(pair.metricState.count)
  }
  return { calls, throttled }
})

const batchLayer = (config: GrokConfig.GrokConfig) =>
  Layer.effect(GrokBatch.GrokBatch, GrokBatch.make(config)).pipe(Layer.provide(NodeHttpClient.layerUndici))

interface Progress {
  batchId: string | null
  name: string
  requests: number
  /** Requests this run has to add, and has added. */
  toAdd: number
  added: number
  server: Batch.Counters | undefined
  written: number
  readonly tally: Record<Files.Kind, number>
}

const seconds = (millis: number) => `${(millis / 1000).toFixed(1)} s`

const counters = (server: Batch.Counters | undefined) =>
  server === undefined
    ? "waiting for the batch"
    : `pending ${server.pending} · succeeded ${server.succeeded} · failed ${server.failed} · cancelled ${server.cancelled}`

/** How often the terminal's frame is redrawn while results are written, at most. */
const REDRAW_MILLIS = 100

/**
 * The live view on stderr (stdout keeps the result): on a terminal, a frame redrawn in place;
 * otherwise a line after each add call and each look at the batch that changed something.
 * `written` redraws the frame only (results can come by the thousand).
 */
const makeView = (isTTY: boolean, started: number) => {
  let drawn = 0
  let drawnAt = -Infinity
  let lastPlain = ""
  const frame = (p: Progress, elapsed: number) => [
    `  batch    ${p.batchId ?? "(finding or creating)"}  ${p.name}  ${seconds(elapsed)}`,
    `  added    ${p.added}/${p.toAdd} requests this run`,
    `  server   ${counters(p.server)}`,
    `  output   ${p.written}/${p.requests} lines`
  ]
  const plain = (p: Progress) =>
    `${p.batchId ?? p.name}: added ${p.added}/${p.toAdd} · ${counters(p.server)} · written ${p.written}/${p.requests}`
  return {
    show: (p: Progress, written = false) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.flatMap(CliOutput, (out) =>
          Effect.sync(() => {
            if (isTTY) {
              if (written && now - drawnAt < REDRAW_MILLIS) return
              drawnAt = now
              const lines = frame(p, now - started)
              out.stderr((drawn === 0 ? Live.hideCursor : "") + Live.redraw(drawn, lines))
              drawn = lines.length
              return
            }
            if (written) return
            const line = plain(p)
            if (line === lastPlain) return
            lastPlain = line
            out.stderr(`[${seconds(now - started).padStart(8)}] ${line}\n`)
          }))),
    /** The last frame, complete, and the cursor back. */
    end: (p: Progress) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.flatMap(CliOutput, (out) =>
          Effect.sync(() => {
            if (!isTTY || drawn === 0) return
            out.stderr(Live.redraw(drawn, frame(p, now - started)) + Live.showCursor)
            drawn = 0
          })))
  }
}

const summaryJson = (p: Progress, elapsedMillis: number, interrupted: boolean) =>
  JSON.stringify({
    batchId: p.batchId,
    requests: p.requests,
    succeeded: p.tally.succeeded,
    failed: p.tally.failed,
    cancelled: p.tally.cancelled,
    seconds: Math.round(elapsedMillis / 10) / 100,
    ...(interrupted ? { interrupted: true } : {})
  })

const summaryLines = (p: Progress, elapsedMillis: number, adds: { readonly calls: number; readonly throttled: number }) => [
  `batch     ${p.batchId ?? "(none needed)"}  (name ${p.name})`,
  `requests  ${p.requests}   succeeded ${p.tally.succeeded}   failed ${p.tally.failed}   cancelled ${p.tally.cancelled}   missing ${p.requests - p.written}`,
  `adds      ${p.added} requests in ${adds.calls} add call${adds.calls === 1 ? "" : "s"} (${adds.throttled} answered 429 and waited out)`,
  `time      ${(elapsedMillis / 1000).toFixed(2)} s`
]

const describe = (error: BatchError.BatchError): string =>
  `${error._tag}${error.status === null ? "" : ` (HTTP ${error.status})`}: ${error.message}`

/** @internal */
export const handler = (flags: BatchFlags) =>
  Signals.handling(Effect.scoped(Effect.gen(function*() {
    const started = yield* Clock.currentTimeMillis
    const config = yield* resolveConfig({ model: Option.none(), baseUrl: flags.baseUrl })
    const lines = yield* readInput(flags.input, config.model)
    const done = yield* readOutput(flags.output, new Set(lines.map((line) => line.request.id)))
    const progress: Progress = {
      batchId: null,
      name: Option.getOrElse(flags.name, () => Files.defaultName(lines)),
      requests: lines.length,
      toAdd: 0,
      added: 0,
      server: undefined,
      written: done.size,
      tally: { succeeded: 0, failed: 0, cancelled: 0 }
    }
    for (const kind of done.values()) progress.tally[kind]++
    const missing = lines.filter((line) => !done.has(line.request.id))
    const before = yield* addCalls

    const finish = (interrupted: boolean) =>
      Effect.gen(function*() {
        const elapsed = (yield* Clock.currentTimeMillis) - started
        const adds = yield* addCalls
        if (flags.json) return yield* printLine(summaryJson(progress, elapsed, interrupted))
        if (interrupted) {
          yield* printError(`interrupted: ${progress.written}/${progress.requests} results written; the batch goes on at xAI. Run the same command again to resume.`)
        }
        for (const line of summaryLines(progress, elapsed, { calls: adds.calls - before.calls, throttled: adds.throttled - before.throttled })) {
          yield* printError(line)
        }
      })

    if (missing.length === 0) return yield* finish(false)

    const fs = yield* FileSystem.FileSystem
    const file = yield* fs.open(flags.output, { flag: "a" }).pipe(
      Effect.mapError((error) => new UsageError({ message: `--output: cannot write ${flags.output}: ${error.message}` }))
    )
    const view = makeView((yield* CliOutput).isTTY, started)
    const encoder = new TextEncoder()
    const job: GrokBatch.Job = { name: progress.name, requests: missing.map((line) => line.request) }

    const work = Effect.flatMap(GrokBatch.GrokBatch, (batches) =>
      batches.run(job, {
        onAdded: (added, toAdd) =>
          Effect.suspend(() => {
            progress.added = added
            progress.toAdd = toAdd
            return view.show(progress)
          }),
        onProgress: (batch) =>
          Effect.suspend(() => {
            progress.batchId = batch.batch_id
            progress.server = Batch.countersOf(batch)
            return view.show(progress)
          })
      }).pipe(
        Stream.runForEach((outcome) =>
          Effect.flatMap(file.writeAll(encoder.encode(`${Files.outputLine(outcome)}\n`)), () =>
            Effect.suspend(() => {
              progress.written++
              progress.tally[Files.kindOf(outcome)]++
              return view.show(progress, true)
            }))
        )
      )).pipe(Effect.provide(batchLayer(config)))

    // A stop interrupts the polling; what was written stays, and the batch goes on at xAI.
    const stopped = yield* Signals.interruptOnStop(Effect.either(work))
    yield* view.end(progress)
    if (Either.isLeft(stopped)) {
      yield* finish(true)
      return yield* Signals.interruptedExit(stopped.left)
    }
    const outcome = stopped.right
    if (Either.isLeft(outcome)) {
      const error = outcome.left
      yield* printError(error._tag === "SystemError" || error._tag === "BadArgument" ? `cannot write ${flags.output}: ${error.message}` : describe(error))
      yield* finish(false)
      return yield* new CliExit({ code: 1 })
    }
    yield* finish(false)
    if (progress.written < progress.requests) return yield* new CliExit({ code: 1 })
  })))
