/**
 * Start-up costs, measured in fresh processes: what `import "effect-grok"` costs next to
 * `effect` + `@effect/platform/HttpClient` alone; and what the CLI costs a user who calls it
 * from a shell: one `effect-grok chat --json` against a simulator, next to a one-call script
 * on the `openai` SDK against the same simulator, and `effect-grok --help`. Each candidate
 * runs `runs` times, the candidates alternated so that a busy moment of the machine falls on
 * all of them; the table gives the median wall time and peak resident memory.
 *
 * @since 0.2.0
 */
import { Clock, Effect } from "effect"
import { fileURLToPath } from "node:url"
import { runNode } from "./child.js"
import { cpuTimeMarker } from "./cpuTimeMarker.js"
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
  /** User + system CPU time: on a busy machine, what wall time is without the waits for a core. */
  readonly medianCpuMs: number | undefined
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
    const cpu = candidates.map(() => [] as Array<number>)
    const failed = candidates.map(() => 0)
    for (let run = 0; run < runs; run++) {
      for (const [i, candidate] of candidates.entries()) {
        const start = yield* Clock.currentTimeMillis
        const child = yield* Effect.scoped(
          runNode(["--import", preload, "--import", cpuPreload, ...candidate.args], { timeout: "60 seconds", env: candidate.env })
        )
        const elapsed = (yield* Clock.currentTimeMillis) - start
        if (child.code !== 0) {
          failed[i]!++
          continue
        }
        times[i]!.push(elapsed)
        const peak = peakRssOf(child.stderr)
        if (peak !== undefined) rss[i]!.push(peak)
        const used = cpuTimeOf(child.stderr)
        if (used !== undefined) cpu[i]!.push(used)
      }
    }
    return candidates.map((candidate, i): Measured => ({
      name: candidate.name,
      runs,
      medianMs: Math.round(median(times[i]!)),
      minMs: Math.min(...times[i]!),
      maxMs: Math.max(...times[i]!),
      medianPeakRssMb: rss[i]!.length === 0 ? undefined : Math.round(median(rss[i]!)),
      medianCpuMs: cpu[i]!.length === 0 ? undefined : Math.round(median(cpu[i]!)),
      failed: failed[i]!
    }))
  })

const cpuPreload = new URL("./cpuTime.js", import.meta.url).href

const cpuTimeOf = (stderr: string): number | undefined => {
  const match = new RegExp(`${cpuTimeMarker} (\\d+)`).exec(stderr)
  return match === null ? undefined : Number(match[1])
}

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

/** The benchmark's API key: the simulator accepts any. */
const cliKey = "bench-key"

/**
 * The CLI as a shell user meets it, against the simulator at `url`: `effect-grok chat --json`
 * (the built `dist/cli/bin.js`), the same call as a script on the `openai` SDK, and
 * `effect-grok --help`, beside node doing nothing.
 *
 * @since 0.2.0
 */
export const cliCandidates = (url: string): ReadonlyArray<Candidate> => [
  { name: "node, nothing imported", args: ["-e", "0"] },
  { name: "openai SDK, one chat call (script)", args: [fileURLToPath(new URL("./openaiOneCall.js", import.meta.url)), url] },
  { name: "effect-grok chat --json", args: [repoFile("dist/cli/bin.js"), "chat", "--json", "--base-url", url, "Say", "hi"], env: { XAI_API_KEY: cliKey } },
  { name: "effect-grok --help", args: [repoFile("dist/cli/bin.js"), "--help"] }
]

/** The targets of the CLI's start-up (issue 19). @since 0.2.0 */
export const cliTargets = { chatOverOpenai: 2, chatPeakRssMb: 110, helpMs: 500 } as const

/**
 * Whether `measured` (from {@link cliCandidates}) meets {@link cliTargets}, one line each.
 *
 * @since 0.2.0
 */
export const cliVerdicts = (measured: ReadonlyArray<Measured>): ReadonlyArray<string> => {
  const find = (prefix: string) => measured.find((m) => m.name.startsWith(prefix))
  const chat = find("effect-grok chat")
  const openai = find("openai SDK")
  const help = find("effect-grok --help")
  if (chat === undefined || openai === undefined || help === undefined) return []
  const ratio = chat.medianMs / openai.medianMs
  const verdict = (ok: boolean) => (ok ? "met" : "MISSED")
  return [
    `- chat --json: ${ratio.toFixed(2)}x the openai one-call script (target at most ${cliTargets.chatOverOpenai}x): ${verdict(ratio <= cliTargets.chatOverOpenai)}`,
    `- chat --json: peak RSS ${chat.medianPeakRssMb ?? "?"} MB (target at most ${cliTargets.chatPeakRssMb} MB): ${
      verdict((chat.medianPeakRssMb ?? Infinity) <= cliTargets.chatPeakRssMb)
    }`,
    `- --help: ${help.medianMs} ms (target at most ${cliTargets.helpMs} ms): ${verdict(help.medianMs <= cliTargets.helpMs)}`
  ]
}

/**
 * The Markdown table of `measured`, with each row's time against the row named `baseline`.
 *
 * @since 0.2.0
 */
export const table = (measured: ReadonlyArray<Measured>, baseline: string): string => {
  const base = measured.find((m) => m.name === baseline)?.medianMs
  const baseCpu = measured.find((m) => m.name === baseline)?.medianCpuMs
  const rows = measured.map((m) =>
    `| ${m.name} | ${m.medianMs} | ${m.minMs}-${m.maxMs} | ${base === undefined ? "" : (m.medianMs / base).toFixed(2)} | ${m.medianCpuMs ?? ""} | ${
      baseCpu === undefined || m.medianCpuMs === undefined ? "" : (m.medianCpuMs / baseCpu).toFixed(2)
    } | ${m.medianPeakRssMb ?? ""} |${m.failed > 0 ? ` ${m.failed} failed |` : ""}`
  )
  return [
    `| what | median ms | range ms | x ${baseline} | CPU ms | CPU x | peak RSS MB |`,
    "|---|---:|---:|---:|---:|---:|---:|",
    ...rows
  ].join("\n")
}
