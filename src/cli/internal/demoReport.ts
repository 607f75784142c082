/**
 * The demo's closing report: the summary, why each call that failed failed, the calls by
 * priority, and the chart of throughput against the quota, for the terminal and for a file.
 *
 * Every request is accounted for, and none is left unexplained: a failed call is listed with
 * what the server answered to each of its attempts and which protection decided to stop
 * retrying it, and why.
 *
 * @internal
 */
import { Duration } from "effect"
import type { GaveUp } from "./drain.js"
import type { CallOutcome, Summary } from "../workload.js"
import { renderBarChart } from "./chart.js"
import type * as Report from "./report.js"
import { renderTable } from "./table.js"
import type { Timeline } from "./timeline.js"

/** What the explanations need to know of the run. */
export interface RunContext {
  /** When the simulator started (`Clock` millis): its fault windows are measured from it. */
  readonly simulatorStartedAt: number
  /** The main model's brownout, in millis since the simulator started. */
  readonly brownout: { readonly fromMillis: number; readonly untilMillis: number }
  /** The model of a limiter key (one key per model). */
  readonly modelOfKey: (key: string) => string | undefined
  readonly fallbackModel: string
  /** Retries the retry policy allows a call. */
  readonly maxRetries: number
  /** The retry budget's share of calls that may be retried once its reserve is spent. */
  readonly budgetRatio: number
}

export interface DemoResult {
  readonly summary: Summary
  readonly calls: ReadonlyArray<CallOutcome>
  readonly timeline: Timeline
  readonly quotaPerSecond: number
  readonly idealSeconds: number
  readonly faultLines: ReadonlyArray<string>
  readonly context: RunContext
}

const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * p) - 1)] ?? 0

const sum = (values: ReadonlyArray<number>) => values.reduce((total, value) => total + value, 0)

const plural = (count: number, word: string) =>
  `${count} ${count === 1 ? word : word.endsWith("y") ? `${word.slice(0, -1)}ies` : `${word}s`}`

const byTag = (errors: Summary["errors"]) =>
  Object.entries(errors).length === 0
    ? "none"
    : Object.entries(errors).map(([tag, count]) => `${tag} ${count}`).join(", ")

const answered = (call: CallOutcome) => call.model !== undefined

const latencyOf = (calls: ReadonlyArray<CallOutcome>) => {
  const sorted = calls.map((call) => call.millis).sort((a, b) => a - b)
  return `p50 ${Math.round(percentile(sorted, 0.5))} ms, p99 ${Math.round(percentile(sorted, 0.99))} ms (waits in the limiter included)`
}

const requestsLine = (summary: Summary) =>
  `${summary.requests} = ${summary.ok} ok + ${summary.failed} failed` +
  (summary.cancelled === undefined ? "" : ` + ${summary.cancelled} cancelled by ${summary.signal ?? "a signal"}`) +
  (summary.failed > 0 ? " (each failure explained below)" : "")

const modelsLine = (summary: Summary, context: RunContext) =>
  Object.entries(summary.models).length === 0
    ? "none"
    : Object.entries(summary.models)
      .map(([model, count]) => `${model} ${count}${model === context.fallbackModel ? " (background calls falling back)" : ""}`)
      .join(", ")

/** The summary as (label, value) rows. */
export const summaryRows = (result: DemoResult): ReadonlyArray<readonly [string, string]> => {
  const { summary, timeline } = result
  const seconds = Math.max(0.001, summary.seconds)
  const okPerSecond = summary.ok / seconds
  return [
    ["requests", requestsLine(summary)],
    ["failures by tag", byTag(summary.errors)],
    ["answered by", modelsLine(summary, result.context)],
    ["attempts", `${summary.attempts} (${(summary.attempts / Math.max(1, summary.ok + summary.failed)).toFixed(2)} per request)`],
    ["retries", String(summary.metrics.retries)],
    ["429s", String(summary.status429)],
    [
      "server saw",
      `${sum(timeline.served)} served, ${sum(timeline.refused)} refused (429), ${sum(timeline.failed)} failed by injected faults`
    ],
    ["time", `${summary.seconds.toFixed(1)} s (ideal ${result.idealSeconds.toFixed(1)} s: ${(summary.seconds / result.idealSeconds).toFixed(2)}x)`],
    ["throughput", `${okPerSecond.toFixed(1)} ok/s (quota ${result.quotaPerSecond}/s: ${Math.round((okPerSecond / result.quotaPerSecond) * 100)}%)`],
    ["latency", latencyOf(result.calls.filter((call) => !call.cancelled))],
    ["tokens", `${summary.metrics.tokens.total} (prompt ${summary.metrics.tokens.prompt}, completion ${summary.metrics.tokens.completion}, reasoning ${summary.metrics.tokens.reasoning})`],
    ...summary.alerts.map((alert) => ["alert", `${alert.rule} at ${alert.at}: ${alert.message}`] as const)
  ]
}

/** What the server's answer to one attempt was, in a word or two. */
const answerOf = (status: number | null) =>
  status === null ? "no answer (connection cut)" : status === 200 ? "error in a 200" : String(status)

/** `503 ×3, 429`: consecutive equal answers counted. */
const answersOf = (statuses: ReadonlyArray<number | null>): string => {
  const runs: Array<{ readonly text: string; count: number }> = []
  for (const status of statuses) {
    const text = answerOf(status)
    const last = runs[runs.length - 1]
    if (last !== undefined && last.text === text) last.count++
    else runs.push({ text, count: 1 })
  }
  return runs.map((run) => (run.count === 1 ? run.text : `${run.text} ×${run.count}`)).join(", ")
}

/** `text` in lines of at most `width` characters, broken between words. */
export const wrap = (text: string, width: number): ReadonlyArray<string> => {
  const lines: Array<string> = []
  let line = ""
  for (const word of text.split(" ")) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line)
      line = word
    } else line = line === "" ? word : `${line} ${word}`
  }
  return line === "" ? lines : [...lines, line]
}

const seconds = (millis: number) => `${(millis / 1000).toFixed(1)} s`

/**
 * What the server answered to a call's attempts, model by model when it fell back, and when
 * they were sent (seconds into the run, with the brownout named when one was sent during it:
 * the server picks a fault as a request arrives).
 */
export const serverAnswers = (call: CallOutcome, context: RunContext): string => {
  const { attempts } = call.record
  if (attempts.length === 0) return "nothing: no attempt was sent"
  const models: Array<{ readonly model: string; readonly statuses: Array<number | null> }> = []
  for (const attempt of attempts) {
    const model = context.modelOfKey(attempt.key) ?? "?"
    const last = models[models.length - 1]
    if (last !== undefined && last.model === model) last.statuses.push(attempt.status)
    else models.push({ model, statuses: [attempt.status] })
  }
  const what = models.length === 1
    ? answersOf(models[0]?.statuses ?? [])
    : models.map((entry) => `${entry.model}: ${answersOf(entry.statuses)}`).join("; then ")
  const times = attempts.map((attempt) => attempt.sentMillis - context.simulatorStartedAt)
  const first = Math.min(...times)
  const last = Math.max(...times)
  const inBrownout = attempts.some((attempt, i) =>
    context.modelOfKey(attempt.key) !== context.fallbackModel &&
    (times[i] ?? 0) >= context.brownout.fromMillis &&
    (times[i] ?? 0) <= context.brownout.untilMillis
  )
  const when = first === last ? seconds(first) : `${(first / 1000).toFixed(1)}-${seconds(last)}`
  return `${what}, at ${when}${inBrownout ? " (brownout)" : ""}`
}

/** Which protection stopped retrying a failed call, and why, in a few words. */
export const whoGaveUp = (call: CallOutcome, context: RunContext): string => {
  const error = call.error
  if (error?.retryBudgetExhausted === true) return "the retry budget: spent (see below)"
  const gaveUp: GaveUp = call.record.gaveUp ?? "not-retryable"
  switch (gaveUp) {
    case "refused":
      return "the call's deadline: no time left to retry"
    case "policy":
      return `the retry policy: ${plural(context.maxRetries, "retry")}, all used`
    case "not-retryable":
      if (error !== undefined && error.retryable) {
        return `the retry loop: asked to wait ${error.retryAfter === undefined ? "too long" : seconds(Duration.toMillis(error.retryAfter))}, over the cap`
      }
      return `none: ${error?._tag ?? "the error"}${error?.status == null ? "" : ` (HTTP ${error.status})`} cannot succeed on a retry`
  }
}

/** Why `call` failed, as {@link protectionNotes} groups the reasons. */
const reasonOf = (call: CallOutcome): "budget" | GaveUp =>
  call.error?.retryBudgetExhausted === true ? "budget" : call.record.gaveUp ?? "not-retryable"

const failureHeaders = ["call", "priority", "what the server answered", "who stopped retrying, and why"]

/** One row per failed call. */
export const failureRows = (result: DemoResult): ReadonlyArray<ReadonlyArray<string>> =>
  result.calls
    .filter((call) => !call.cancelled && !answered(call))
    .sort((a, b) => a.index - b.index)
    .map((call) => [`#${call.index + 1}`, call.priority, serverAnswers(call, result.context), whoGaveUp(call, result.context)])

/** What each protection named in the failures does, once each. */
export const protectionNotes = (result: DemoResult): ReadonlyArray<string> => {
  const reasons = new Set(result.calls.filter((call) => !call.cancelled && !answered(call)).map(reasonOf))
  const { budgetRatio, maxRetries } = result.context
  return [
    ...(reasons.has("budget")
      ? [
        `The retry budget is shared by all calls: while failures go on, retries are held to about ${Math.round(budgetRatio * 100)}% of ` +
        `calls, so that a brownout is not met with up to ${maxRetries + 1} attempts per call just when the API can least take them. ` +
        "A call refused a retry fails with its last error."
      ]
      : []),
    ...(reasons.has("policy")
      ? [`The retry policy gives each call ${plural(maxRetries, "retry")}, spaced by jittered backoff; then the call fails with its last error.`]
      : [])
  ]
}

/** How the calls that succeeded got there: after retries, or by the fallback model. */
const savedBy = (result: DemoResult) => {
  const retried = result.calls.filter((call) => answered(call) && call.record.attempts.length > 1).length
  const fellBack = result.summary.models[result.context.fallbackModel] ?? 0
  return `${plural(retried, "call")} answered after retries, ${fellBack} background ${fellBack === 1 ? "call" : "calls"} by the fallback model ${result.context.fallbackModel}`
}

/** With no failure, the one line that says so; else the title of the failures' table. */
export const outcomeHeadline = (result: DemoResult): string => {
  const failed = failureRows(result).length
  if (failed > 0) return `Why ${plural(failed, "call")} failed (${savedBy(result)})`
  return result.summary.signal === undefined ? `Every call was answered: ${savedBy(result)}.` : `No call failed: ${savedBy(result)}.`
}

/** After a stop: what it did to the calls under way. */
export const stoppedNote = (summary: Summary): ReadonlyArray<string> =>
  summary.signal === undefined
    ? []
    : [
      `Stopped by ${summary.signal}: no call started after it, and the attempts then on the wire were answered and are counted above; ` +
      `${plural(summary.cancelled ?? 0, "call")} ${summary.cancelled === 1 ? "was" : "were"} cancelled before an answer, with no attempt on the wire.`
    ]

/** What became of the calls that did not succeed: the lines under the summary. */
export const outcomeLines = (result: DemoResult): ReadonlyArray<string> => {
  const rows = failureRows(result)
  const stopped = stoppedNote(result.summary)
  return [
    "",
    outcomeHeadline(result),
    ...(rows.length === 0 ? [] : renderTable(failureHeaders.map((header) => ({ header })), rows)),
    ...protectionNotes(result).flatMap((note) => wrap(note, 96).map((line) => `  ${line}`)),
    ...(stopped.length === 0 ? [] : ["", ...stopped.flatMap((note) => wrap(note, 98))])
  ]
}

const priorityHeaders = ["priority", "requests", "ok", "failed", "p50 ms", "p99 ms"]

/** Calls by priority: under pressure the limiter serves `critical` first. */
export const priorityRows = (calls: ReadonlyArray<CallOutcome>): ReadonlyArray<ReadonlyArray<string>> =>
  (["critical", "normal", "background"] as const).flatMap((priority) => {
    const mine = calls.filter((call) => call.priority === priority && !call.cancelled)
    if (mine.length === 0) return []
    const ok = mine.filter(answered).length
    const sorted = mine.map((call) => call.millis).sort((a, b) => a - b)
    return [[priority, String(mine.length), String(ok), String(mine.length - ok), String(Math.round(percentile(sorted, 0.5))), String(
      Math.round(percentile(sorted, 0.99))
    )]]
  })

/** The report for the terminal. */
export const terminalLines = (result: DemoResult): ReadonlyArray<string> => [
  "",
  "Summary",
  ...renderTable([{ header: "" }, { header: "" }], summaryRows(result), { header: false }),
  ...outcomeLines(result),
  "",
  "By priority",
  ...renderTable(priorityHeaders.map((header, i) => ({ header, align: i === 0 ? "left" : "right" })), priorityRows(result.calls)),
  "",
  `Throughput against the quota: answers served per second (quota ${result.quotaPerSecond}/s)`,
  "",
  ...renderBarChart({
    values: result.timeline.served,
    bucketSeconds: result.timeline.bucketSeconds,
    reference: { value: result.quotaPerSecond, label: `quota ${result.quotaPerSecond}/s` },
    marks: { values: result.timeline.refused, label: "429s" }
  }).map((line) => `  ${line}`)
]

/** The report for a file (`--report`). */
export const fileReport = (result: DemoResult, subtitle: string): Report.Report => {
  const failures = failureRows(result)
  return {
    title: "effect-grok demo: throughput against the quota",
    subtitle,
    timeline: result.timeline,
    quotaPerSecond: result.quotaPerSecond,
    tables: [
      { title: "Summary", headers: ["", ""], rows: summaryRows(result) },
      ...(failures.length === 0 ? [] : [{ title: outcomeHeadline(result), headers: failureHeaders, rows: failures }]),
      { title: "By priority", headers: priorityHeaders, rows: priorityRows(result.calls) }
    ],
    notes: [
      ...(failures.length === 0 ? [outcomeHeadline(result)] : []),
      ...protectionNotes(result),
      ...stoppedNote(result.summary),
      ...result.faultLines.map((line) => `Injected fault: ${line}`)
    ]
  }
}
