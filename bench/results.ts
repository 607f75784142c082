/**
 * Benchmark results: what the simulator counted for a run, the JSON line of one
 * (scenario, client), and the Markdown tables, with ratios to the ideal and to effect-grok,
 * the best value of each column in bold, and a note wherever a peer beats effect-grok.
 *
 * @since 0.1.0
 */
import type * as Simulator from "../src/simulator/Simulator.js"
import type { ChildResult } from "./protocol.js"
import type { Scenario } from "./scenarios.js"

/** What the server saw of one run. @since 0.1.0 */
export interface ServerCounts {
  /** Model calls (chat completions and responses) that reached the server, retries included. */
  readonly attempts: number
  readonly status429: number
  /** Outage only: requests that arrived while the server was down. */
  readonly attemptsDuringOutage?: number | undefined
  /** Outage only: seconds from the end of the outage to the first answer served after it. */
  readonly recoverySeconds?: number | undefined
}

const isChat = (entry: Simulator.LoggedRequest) => entry.path.endsWith("/chat/completions") || entry.path.endsWith("/responses")

/**
 * Count a run from the simulator's log; `startMillis` is when the run started, on the log's clock.
 *
 * @since 0.1.0
 */
export const serverCounts = (
  log: ReadonlyArray<Simulator.LoggedRequest>,
  startMillis: number,
  outage?: Scenario["outage"]
): ServerCounts => {
  const chat = log.filter(isChat)
  const counts = { attempts: chat.length, status429: chat.filter((entry) => entry.status === 429).length }
  if (outage === undefined) return counts
  const at = (entry: Simulator.LoggedRequest) => entry.startedAt - startMillis
  const firstServed = chat
    .filter((entry) => at(entry) >= outage.untilMillis && entry.status === 200 && entry.endedAt !== undefined)
    .reduce<number | undefined>((first, entry) => Math.min(first ?? Infinity, (entry.endedAt ?? 0) - startMillis), undefined)
  return {
    ...counts,
    attemptsDuringOutage: chat.filter((entry) => at(entry) >= outage.fromMillis && at(entry) < outage.untilMillis).length,
    recoverySeconds: firstServed === undefined ? undefined : round((firstServed - outage.untilMillis) / 1000, 3)
  }
}

/**
 * One (scenario, client): the line `npm run bench -- --json` prints.
 *
 * @since 0.1.0
 */
export interface ResultLine {
  readonly scenario: string
  readonly client: string
  readonly requests: number
  readonly ok: number
  readonly failed: number
  readonly attempts: number
  readonly status429: number
  readonly seconds: number
  /** The client process's peak resident set size; `null` when it did not say. */
  readonly peakRssMB: number | null
  readonly attemptsPerRequest: number
  /** Failures by kind. */
  readonly errors: Readonly<Record<string, number>>
  /** Quota scenarios: the time at exactly the quota, and `seconds` over it. */
  readonly idealSeconds?: number | undefined
  readonly timeOverIdeal?: number | undefined
  readonly attemptsDuringOutage?: number | undefined
  readonly recoverySeconds?: number | undefined
  readonly usPerCall?: number | undefined
  readonly rawUsPerCall?: number | undefined
  /** What the client adds to a call: the median difference between a call of it and a raw call made next to it. */
  readonly overheadUs?: number | undefined
  /** Why the run gave no result (a crash, the hard timeout). */
  readonly error?: string | undefined
}

const round = (value: number, digits: number) => Number(value.toFixed(digits))

/**
 * The line of a finished child.
 *
 * @since 0.1.0
 */
export const resultLine = (
  scenario: Scenario,
  child: ChildResult,
  server: ServerCounts,
  peakRssMB: number | undefined
): ResultLine => {
  const idealSeconds = scenario.quotaPerSecond === undefined ? undefined : child.requests / scenario.quotaPerSecond
  return {
    scenario: scenario.name,
    client: child.client,
    requests: child.requests,
    ok: child.ok,
    failed: child.failed,
    attempts: server.attempts,
    status429: server.status429,
    seconds: child.seconds,
    peakRssMB: peakRssMB ?? null,
    attemptsPerRequest: round(server.attempts / Math.max(1, child.requests), 3),
    errors: child.errors,
    ...(idealSeconds === undefined ? {} : { idealSeconds, timeOverIdeal: round(child.seconds / idealSeconds, 3) }),
    ...(scenario.outage === undefined
      ? {}
      : { attemptsDuringOutage: server.attemptsDuringOutage, recoverySeconds: server.recoverySeconds }),
    ...(child.overheadUs === undefined
      ? {}
      : { usPerCall: child.usPerCall, rawUsPerCall: child.rawUsPerCall, overheadUs: child.overheadUs })
  }
}

/**
 * The line of a child that gave no result: every request counts as failed.
 *
 * @since 0.1.0
 */
export const failedLine = (
  scenario: Scenario,
  client: string,
  requests: number,
  server: ServerCounts,
  error: string,
  peakRssMB: number | undefined
): ResultLine => ({
  scenario: scenario.name,
  client,
  requests,
  ok: 0,
  failed: requests,
  attempts: server.attempts,
  status429: server.status429,
  seconds: 0,
  peakRssMB: peakRssMB ?? null,
  attemptsPerRequest: round(server.attempts / Math.max(1, requests), 3),
  errors: {},
  error
})

/** A column of a Markdown table. */
interface Column {
  readonly header: string
  readonly value: (line: ResultLine) => number | string | undefined
  /** Which way is better, for columns where one is: the best value is bold. */
  readonly better?: "higher" | "lower" | undefined
  readonly digits?: number | undefined
  /** Text, left-aligned. */
  readonly text?: boolean | undefined
  /** Only runs that completed every request compete for the best value (finishing early by giving up is not faster). */
  readonly amongComplete?: boolean | undefined
}

const referenceOf = (scenario: Scenario): string => scenario.reference ?? "effect-grok"

const ratio = (value: (line: ResultLine) => number | undefined, lines: ReadonlyArray<ResultLine>, reference: string) => (line: ResultLine) => {
  const mine = lines.find((other) => other.client === reference)
  const own = value(line)
  const base = mine === undefined ? undefined : value(mine)
  return own === undefined || base === undefined || base === 0 ? undefined : round(own / base, 2)
}

const errorKinds = (line: ResultLine) =>
  line.error ?? (Object.entries(line.errors).map(([kind, count]) => `${kind} ${count}`).join(", ") || "")

const columnsOf = (scenario: Scenario, lines: ReadonlyArray<ResultLine>): ReadonlyArray<Column> => {
  const client: Column = { header: "client", value: (line) => line.client, text: true }
  const memory: Column = { header: "peak RSS (MB)", value: (line) => line.peakRssMB ?? undefined, better: "lower" }
  const ok: Column = { header: "ok", value: (line) => line.ok, better: "higher" }
  const failed: Column = { header: "failed", value: (line) => line.failed, better: "lower" }
  const perRequest: Column = { header: "attempts / request", value: (line) => line.attemptsPerRequest, better: "lower", digits: 2 }
  const status429: Column = { header: "429s", value: (line) => line.status429, better: "lower" }
  const seconds: Column = { header: "time (s)", value: (line) => line.seconds, better: "lower", digits: 1, amongComplete: true }
  const failures: Column = { header: "failures", value: errorKinds, text: true }
  switch (scenario.workload._tag) {
    case "overhead":
      return [
        client,
        { header: "µs / call (median)", value: (line) => line.usPerCall, digits: 0 },
        { header: "raw HttpClient µs / call (same process)", value: (line) => line.rawUsPerCall, digits: 0 },
        { header: "overhead (µs)", value: (line) => line.overheadUs, better: "lower", digits: 0 },
        memory
      ]
    case "open":
      return [
        client,
        ok,
        failed,
        perRequest,
        { header: "attempts during the outage", value: (line) => line.attemptsDuringOutage, better: "lower" },
        { header: "recovery (s)", value: (line) => line.recoverySeconds, better: "lower", digits: 2 },
        // Arrivals span 25 s whatever the client does: the time says how long the stragglers took, not who is faster.
        { header: "time (s)", value: (line) => line.seconds, digits: 1 },
        failures,
        memory
      ]
    case "closed":
      return scenario.quotaPerSecond === undefined
        ? [client, ok, failed, perRequest, status429, seconds, failures, memory]
        : [
          client,
          ok,
          failed,
          perRequest,
          status429,
          seconds,
          { header: "× ideal", value: (line) => line.timeOverIdeal, digits: 2 },
          { header: `time × ${referenceOf(scenario)}`, value: ratio((line) => line.seconds, lines, referenceOf(scenario)), digits: 2 },
          { header: `attempts × ${referenceOf(scenario)}`, value: ratio((line) => line.attempts, lines, referenceOf(scenario)), digits: 2 },
          failures,
          memory
        ]
  }
}

const isComplete = (line: ResultLine) => line.error === undefined && line.failed === 0

/** The runs that compete for a column's best value. */
const competitors = (column: Column, lines: ReadonlyArray<ResultLine>): ReadonlyArray<ResultLine> => {
  const complete = lines.filter(isComplete)
  return column.amongComplete === true && complete.length > 0 ? complete : lines.filter((line) => line.error === undefined)
}

/** A column's value as the table shows it: values that print alike tie. */
const shown = (column: Column, line: ResultLine): number | string | undefined => {
  const value = column.value(line)
  return typeof value === "number" && column.digits !== undefined ? Number(value.toFixed(column.digits)) : value
}

const bestOf = (column: Column, lines: ReadonlyArray<ResultLine>): number | undefined => {
  const values = lines.map((line) => shown(column, line)).filter((v): v is number => typeof v === "number")
  if (values.length === 0 || column.better === undefined) return undefined
  return column.better === "higher" ? Math.max(...values) : Math.min(...values)
}

const show = (value: number | string | undefined, digits: number | undefined) =>
  value === undefined ? "–" : typeof value === "string" ? value : digits === undefined ? String(value) : value.toFixed(digits)

/**
 * A scenario's results as a Markdown table, then one line per column a peer wins (the
 * reference's own variants, such as `effect-grok+quota`, are not peers).
 *
 * @since 0.1.0
 */
export const scenarioTable = (scenario: Scenario, lines: ReadonlyArray<ResultLine>): string => {
  const columns = columnsOf(scenario, lines)
  const contenders = columns.map((column) => competitors(column, lines))
  const best = columns.map((column, i) => bestOf(column, contenders[i] ?? []))
  const isBest = (line: ResultLine, i: number) => {
    const column = columns[i]
    return column !== undefined && best[i] !== undefined && shown(column, line) === best[i] && (contenders[i] ?? []).includes(line)
  }
  const rows = lines.map((line) =>
    columns.map((column, i) => {
      const text = show(column.value(line), column.digits)
      return isBest(line, i) ? `**${text}**` : text
    })
  )
  const reference = referenceOf(scenario)
  const mine = lines.find((line) => line.client === reference)
  const peerWins = mine === undefined ? [] : columns.flatMap((column, i) => {
    if (isBest(mine, i)) return []
    const winners = lines.filter((line) => !line.client.startsWith(reference) && isBest(line, i)).map((line) => line.client)
    if (winners.length === 0) return []
    const among = column.amongComplete === true ? " among the runs that completed every request" : ""
    return [
      `- ${column.header}: ${winners.join(", ")} ${winners.length > 1 ? "do" : "does"} better${among} (${
        show(best[i], column.digits)
      } against ${reference}'s ${show(column.value(mine), column.digits)})`
    ]
  })
  return [
    `| ${columns.map((column) => column.header).join(" | ")} |`,
    `|${columns.map((column) => (column.text === true ? "---" : "---:")).join("|")}|`,
    ...rows.map((row) => `| ${row.join(" | ")} |`),
    ...(peerWins.length === 0 ? [] : ["", "Where a peer wins a column:", "", ...peerWins])
  ].join("\n")
}
