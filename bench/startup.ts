/**
 * Start-up costs, measured in fresh processes: what `import "effect-grok"` costs next to
 * `effect` + `@effect/platform/HttpClient` alone. Each candidate runs `runs` times, the
 * candidates alternated so that a busy moment of the machine falls on all of them; the table
 * gives the median wall time and peak resident memory.
 *
 * @since 0.2.0
 */
import { Clock, Effect } from "effect"
import { fileURLToPath } from "node:url"
import { runNode } from "./child.js"
import { peakRssOf } from "./protocol.js"

/** One thing to start: node's arguments (the peak-RSS preload is added here). @since 0.2.0 */
export interface Candidate {
  readonly name: string
  readonly args: ReadonlyArray<string>
  readonly env?: Record<string, string> | undefined
}

/** @since 0.2.0 */
export interface Measured {
  readonly name: string
  readonly runs: number
  readonly medianMs: number
  readonly minMs: number
  readonly maxMs: number
  readonly medianPeakRssMb: number | undefined
  /** Runs that did not exit 0 (their times are left out). */
  readonly failed: number
}

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length === 0 ? NaN : sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/**
 * Run every candidate `runs` times, alternating, and summarise each.
 *
 * @since 0.2.0
 */
export const measure = (candidates: ReadonlyArray<Candidate>, runs: number, preload: string) =>
  Effect.gen(function*() {
    const times = candidates.map(() => [] as Array<number>)
    const rss = candidates.map(() => [] as Array<number>)
    const failed = candidates.map(() => 0)
    for (let run = 0; run < runs; run++) {
      for (const [i, candidate] of candidates.entries()) {
        const start = yield* Clock.currentTimeMillis
        const child = yield* Effect.scoped(runNode(["--import", preload, ...candidate.args], { timeout: "60 seconds", env: candidate.env }))
        const elapsed = (yield* Clock.currentTimeMillis) - start
        if (child.code !== 0) {
          failed[i]!++
          continue
        }
        times[i]!.push(elapsed)
        const peak = peakRssOf(child.stderr)
        if (peak !== undefined) rss[i]!.push(peak)
      }
    }
    return candidates.map((candidate, i): Measured => ({
      name: candidate.name,
      runs,
      medianMs: Math.round(median(times[i]!)),
      minMs: Math.min(...times[i]!),
      maxMs: Math.max(...times[i]!),
      medianPeakRssMb: rss[i]!.length === 0 ? undefined : Math.round(median(rss[i]!)),
      failed: failed[i]!
    }))
  })

const repoFile = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url))

const importing = (name: string, ...specifiers: ReadonlyArray<string>): Candidate => ({
  name,
  args: ["--input-type=module", "-e", specifiers.map((s) => `await import(${JSON.stringify(s)})`).join(";")]
})

/**
 * `import "effect-grok"` (the built `dist/index.js`, as an app loads it) beside
 * `effect` + `@effect/platform/HttpClient`, and node doing nothing.
 *
 * @since 0.2.0
 */
export const importCandidates = (): ReadonlyArray<Candidate> => [
  importing("node, nothing imported"),
  importing("effect + @effect/platform/HttpClient", "effect", "@effect/platform/HttpClient"),
  importing("effect-grok", repoFile("dist/index.js"))
]

/**
 * The Markdown table of `measured`, with each row's time against the row named `baseline`.
 *
 * @since 0.2.0
 */
export const table = (measured: ReadonlyArray<Measured>, baseline: string): string => {
  const base = measured.find((m) => m.name === baseline)?.medianMs
  const rows = measured.map((m) =>
    `| ${m.name} | ${m.medianMs} | ${m.minMs}-${m.maxMs} | ${base === undefined ? "" : (m.medianMs / base).toFixed(2)} | ${m.medianPeakRssMb ?? ""} |${m.failed > 0 ? ` ${m.failed} failed |` : ""}`
  )
  return [`| what | median ms | range ms | x ${baseline} | peak RSS MB |`, "|---|---:|---:|---:|---:|", ...rows].join("\n")
}
