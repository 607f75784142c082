/**
 * The demo's closing report: the summary, the calls by priority, and the chart of
 * throughput against the quota, for the terminal and for a file.
 *
 * @internal
 */
import type * as RateLimiter from "../../resilience/RateLimiter.js"
import type { Summary } from "../workload.js"
import { renderBarChart } from "./chart.js"
import type * as Report from "./report.js"
import { renderTable } from "./table.js"
import type { Timeline } from "./timeline.js"

/** One finished call, as the demo's client wrapper saw it. */
export interface CallRecord {
  readonly priority: RateLimiter.Priority
  readonly ok: boolean
  readonly millis: number
}

export interface DemoResult {
  readonly summary: Summary
  readonly calls: ReadonlyArray<CallRecord>
  readonly timeline: Timeline
  readonly quotaPerSecond: number
  readonly idealSeconds: number
  readonly faultLines: ReadonlyArray<string>
}

const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * p) - 1)] ?? 0

const sum = (values: ReadonlyArray<number>) => values.reduce((total, value) => total + value, 0)

const byTag = (errors: Summary["errors"]) =>
  Object.entries(errors).length === 0
    ? "none"
    : Object.entries(errors).map(([tag, count]) => `${tag} ${count}`).join(", ")

const latencyOf = (calls: ReadonlyArray<CallRecord>) => {
  const sorted = calls.map((call) => call.millis).sort((a, b) => a - b)
  return `p50 ${Math.round(percentile(sorted, 0.5))} ms, p99 ${Math.round(percentile(sorted, 0.99))} ms (waits in the limiter included)`
}

/** The summary as (label, value) rows. */
export const summaryRows = (result: DemoResult): ReadonlyArray<readonly [string, string]> => {
  const { summary, timeline } = result
  const seconds = Math.max(0.001, summary.seconds)
  const okPerSecond = summary.ok / seconds
  return [
    ["requests", `${summary.requests} = ${summary.ok} ok + ${summary.failed} failed`],
    ["failures by tag", byTag(summary.errors)],
    ["attempts", `${summary.attempts} (${(summary.attempts / Math.max(1, summary.requests)).toFixed(2)} per request)`],
    ["retries", String(summary.metrics.retries)],
    ["429s", String(summary.status429)],
    [
      "server saw",
      `${sum(timeline.served)} served, ${sum(timeline.refused)} refused (429), ${sum(timeline.failed)} failed by injected faults`
    ],
    ["time", `${summary.seconds.toFixed(1)} s (ideal ${result.idealSeconds.toFixed(1)} s: ${(summary.seconds / result.idealSeconds).toFixed(2)}x)`],
    ["throughput", `${okPerSecond.toFixed(1)} ok/s (quota ${result.quotaPerSecond}/s: ${Math.round((okPerSecond / result.quotaPerSecond) * 100)}%)`],
    ["latency", latencyOf(result.calls)],
    ["tokens", `${summary.metrics.tokens.total} (prompt ${summary.metrics.tokens.prompt}, completion ${summary.metrics.tokens.completion}, reasoning ${summary.metrics.tokens.reasoning})`],
    ...summary.alerts.map((alert) => ["alert", `${alert.rule} at ${alert.at}: ${alert.message}`] as const)
  ]
}

const priorityHeaders = ["priority", "requests", "ok", "failed", "p50 ms", "p99 ms"]

/** Calls by priority: under pressure the limiter serves `critical` first. */
export const priorityRows = (calls: ReadonlyArray<CallRecord>): ReadonlyArray<ReadonlyArray<string>> =>
  (["critical", "normal", "background"] as const).flatMap((priority) => {
    const mine = calls.filter((call) => call.priority === priority)
    if (mine.length === 0) return []
    const ok = mine.filter((call) => call.ok).length
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
export const fileReport = (result: DemoResult, subtitle: string): Report.Report => ({
  title: "effect-grok demo: throughput against the quota",
  subtitle,
  timeline: result.timeline,
  quotaPerSecond: result.quotaPerSecond,
  tables: [
    { title: "Summary", headers: ["", ""], rows: summaryRows(result) },
    { title: "By priority", headers: priorityHeaders, rows: priorityRows(result.calls) }
  ],
  notes: result.faultLines.map((line) => `Injected fault: ${line}`)
})
