/**
 * The `demo` command, run in process through `run(args)` on the TestClock (its simulator,
 * limiter, retries and live view all run on it; requests travel over real loopback
 * sockets): every request accounted for, the `--json` contract shared with `load`, what a
 * user sees on a terminal and in a pipe, the report files; and the renderers it draws with.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtemp, readFile, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { renderBarChart } from "../src/cli/internal/chart.js"
import { priorityOf } from "../src/cli/internal/demoScenario.js"
import { frame, plainLine, progressBar, redraw, type Snapshot } from "../src/cli/internal/live.js"
import { formatOf, renderSvg } from "../src/cli/internal/report.js"
import { renderTable } from "../src/cli/internal/table.js"
import { fromLog } from "../src/cli/internal/timeline.js"
import { run } from "../src/cli/main.js"
import { CliOutput } from "../src/cli/output.js"
import type * as Simulator from "../src/simulator/Simulator.js"
import { drive } from "./support/drive.js"

interface Captured {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** `effect-grok demo <args>` with the output captured, as a terminal (`isTTY`) or a pipe. */
const demo = (args: ReadonlyArray<string>, isTTY = false): Effect.Effect<Captured> =>
  Effect.gen(function*() {
    const out = { stdout: "", stderr: "" }
    const fiber = yield* Effect.fork(
      run(["demo", ...args]).pipe(
        Effect.provideService(CliOutput, {
          stdout: (chunk: string) => {
            out.stdout += chunk
          },
          stderr: (chunk: string) => {
            out.stderr += chunk
          },
          isTTY
        })
      )
    )
    const code = yield* drive(fiber, Effect.sync(() => `${out.stdout.length}:${out.stderr.length}`))
    return { code, ...out }
  })

/** A small, fast run: 40 calls against a quota of 50/s, faults included (seeded). */
const small = ["--requests", "40", "--concurrency", "10", "--rps", "50", "--seed", "3"]

const ansi = /\u001b\[/

describe("demo", () => {
  it.effect("--json prints one summary with every request accounted for, failures broken down by tag", () =>
    Effect.gen(function*() {
      const { code, stdout } = yield* demo([...small, "--json"])
      expect(code).toBe(0)
      const lines = stdout.trim().split("\n")
      expect(lines).toHaveLength(1)
      const summary = JSON.parse(lines[0] ?? "")
      // The fields of `load --json` (the shared `Summary`).
      for (const field of ["requests", "ok", "failed", "attempts", "status429", "seconds", "errors", "models", "metrics"]) {
        expect(summary).toHaveProperty(field)
      }
      expect(summary.requests).toBe(40)
      expect(summary.ok + summary.failed).toBe(40)
      const byTag = Object.values<number>(summary.errors).reduce((total, count) => total + count, 0)
      expect(byTag).toBe(summary.failed)
      // Faults were injected and retried: more attempts than requests, the capacity 429 among them.
      expect(summary.attempts).toBeGreaterThan(40)
      expect(summary.status429).toBeGreaterThanOrEqual(1)
      expect(summary.models["grok-4.3"]).toBe(summary.ok)
    }))

  it.effect("in a pipe: plain progress lines, then the summary, the priorities and the chart; no escape codes", () =>
    Effect.gen(function*() {
      const { code, stdout } = yield* demo(small)
      expect(code).toBe(0)
      expect(stdout).not.toMatch(ansi)
      expect(stdout).toContain("effect-grok demo: 40 chat calls, 10 at a time")
      expect(stdout).toMatch(/\[ *\d+\.\d s\] 40\/40 done \(ok \d+, failed \d+\)/)
      expect(stdout).toMatch(/requests +│ 40 = \d+ ok \+ \d+ failed/)
      for (const priority of ["critical", "normal", "background"]) expect(stdout).toMatch(new RegExp(`│ ${priority} +│`))
      expect(stdout).toContain("quota 50/s")
      expect(stdout).toContain("429s")
    }))

  it.effect("on a terminal: the live view is redrawn in place and the cursor is given back", () =>
    Effect.gen(function*() {
      const { code, stdout } = yield* demo(small, true)
      expect(code).toBe(0)
      expect(stdout).toContain("\u001b[?25l")
      expect(stdout).toContain("\u001b[4F\u001b[2K")
      expect(stdout.lastIndexOf("\u001b[?25h")).toBeGreaterThan(stdout.lastIndexOf("\u001b[4F"))
      expect(stdout).toContain("40/40  100%")
    }))

  it.effect("--report writes an SVG chart or an HTML page, chosen by the file's extension", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "effect-grok-demo-")))
      try {
        const svg = join(dir, "chart.svg")
        const html = join(dir, "report.html")
        expect((yield* demo([...small, "--json", "--report", svg])).code).toBe(0)
        const { code, stderr } = yield* demo([...small, "--report", html])
        expect(code).toBe(0)
        expect(stderr).toContain(`Report written to ${html}`)
        const svgText = yield* Effect.promise(() => readFile(svg, "utf8"))
        expect(svgText.startsWith("<svg")).toBe(true)
        expect(svgText.trim().endsWith("</svg>")).toBe(true)
        const page = yield* Effect.promise(() => readFile(html, "utf8"))
        expect(page).toContain("<svg")
        expect(page).toContain("<td>critical</td>")
        expect(page).toContain("Injected fault")
      } finally {
        yield* Effect.promise(() => rm(dir, { recursive: true, force: true }))
      }
    }))

  it.effect("bad flags exit 2 with a message, before anything runs", () =>
    Effect.gen(function*() {
      const report = yield* demo(["--requests", "5", "--report", "out.txt"])
      expect(report.code).toBe(2)
      expect(report.stderr).toContain("--report: out.txt should end in .svg or .html")
      expect(report.stdout).toBe("")
      const zero = yield* demo(["--requests", "0"])
      expect(zero.code).toBe(2)
      expect(zero.stderr).toContain("--requests must be a positive integer")
      const alert = yield* demo(["--requests", "5", "--alert-error-rate", "2"])
      expect(alert.code).toBe(2)
      expect(alert.stderr).toContain("--alert-error-rate")
      expect(alert.stdout).toBe("")
    }))
})

describe("demo rendering", () => {
  const snapshot: Snapshot = {
    elapsedMillis: 4_200,
    requests: 300,
    done: 75,
    ok: 74,
    failed: 1,
    okPerSecond: 18.5,
    quotaPerSecond: 20,
    pacedPerSecond: 20,
    coolingDown: false,
    attempts: 80,
    retries: 5,
    status429: 1,
    queued: 48,
    inFlight: 2
  }

  it("the progress bar fills in proportion and never overflows", () => {
    expect(progressBar(0, 300, 10)).toBe("░░░░░░░░░░")
    expect(progressBar(150, 300, 10)).toBe("█████░░░░░")
    expect(progressBar(400, 300, 10)).toBe("██████████")
  })

  it("a frame shows progress, rate against quota, retries, 429s and queue depth; the plain line too", () => {
    const lines = frame(snapshot).join("\n")
    expect(lines).toContain("75/300  25%  4.2 s")
    expect(lines).toContain("18.5 ok/s against a quota of 20/s")
    expect(lines).toContain("retries 5   429s 1")
    expect(lines).toContain("queued 48")
    expect(frame({ ...snapshot, coolingDown: true }).join("\n")).toContain("cooling down after a 429")
    expect(plainLine(snapshot)).toBe(
      "[ 4.2 s] 75/300 done (ok 74, failed 1) · 18.5 ok/s of 20/s · attempts 80 · retries 5 · 429s 1 · queued 48"
    )
  })

  it("redrawing moves up over the previous frame and clears each line", () => {
    expect(redraw(0, ["a", "b"])).toBe("\u001b[2Ka\n\u001b[2Kb\n")
    expect(redraw(2, ["c"])).toBe("\u001b[2F\u001b[2Kc\n")
  })

  it("tables align numbers right and size columns to their widest cell", () => {
    expect(renderTable([{ header: "name" }, { header: "n", align: "right" }], [["critical", "5"], ["x", "120"]])).toEqual([
      "┌──────────┬─────┐",
      "│ name     │ n   │",
      "├──────────┼─────┤",
      "│ critical │   5 │",
      "│ x        │ 120 │",
      "└──────────┴─────┘"
    ])
  })

  it("the chart draws bars against a dashed quota line and counts 429s under the axis", () => {
    const lines = renderBarChart({
      values: [0, 10, 20],
      bucketSeconds: 1,
      reference: { value: 20, label: "quota 20/s" },
      marks: { values: [0, 3, 12], label: "429s" },
      height: 5,
      width: 3
    })
    // A bar at the quota reaches the dashed line; half the quota, half the height.
    expect(lines).toEqual([
      "20 ┤╌╌╌  quota 20/s",
      "   ┤  █",
      "   ┤  █",
      "   ┤ ██",
      "   ┤ ██",
      " 0 └───",
      "    0s",
      "     3+  429s"
    ])
  })

  it("a long run is merged into wider buckets so that it fits", () => {
    const lines = renderBarChart({ values: Array.from({ length: 120 }, () => 10), bucketSeconds: 1, width: 60, height: 2 })
    expect(lines[2]).toBe(` 0 └${"─".repeat(60)}`)
    // Two seconds per column: the labels every ten columns read 20 s apart.
    expect(lines[3]).toBe("    0s        20s       40s       60s       80s       100s")
  })

  it("the timeline buckets what the server saw by second: served, refused, failed, queue depth", () => {
    const entry = (endedAt: number, status: number | null, fault?: Simulator.LoggedRequest["fault"]): Simulator.LoggedRequest => ({
      index: 1,
      modelIndex: 1,
      requestId: "r",
      method: "POST",
      path: "/v1/chat/completions",
      model: "grok-4.3",
      stream: false,
      status,
      fault,
      outcome: status === null ? "aborted" : "completed",
      startedAt: endedAt,
      endedAt,
      usage: undefined
    })
    const timeline = fromLog(
      [entry(1_100, 200), entry(1_500, 429), entry(1_900, 200, "errorInOk"), entry(2_100, null, "reset"), entry(2_200, 200, "latency")],
      [{ atMillis: 100, queued: 7 }, { atMillis: 900, queued: 9 }, { atMillis: 1_200, queued: 3 }],
      1_000,
      1.5
    )
    expect(timeline).toEqual({ bucketSeconds: 1, served: [1, 1], refused: [1, 0], failed: [1, 1], queued: [9, 3] })
  })

  it("priorities: 10% critical, 30% background, 60% normal", () => {
    const counts = { critical: 0, normal: 0, background: 0 }
    for (let i = 0; i < 100; i++) counts[priorityOf(i)]++
    expect(counts).toEqual({ critical: 10, normal: 60, background: 30 })
  })

  it("report files: the format comes from the extension; the SVG marks the quota", () => {
    expect(formatOf("a/b.SVG")).toBe("svg")
    expect(formatOf("r.htm")).toBe("html")
    expect(formatOf("r.png")).toBeUndefined()
    const svg = renderSvg({
      title: "t <&>",
      quotaPerSecond: 20,
      timeline: { bucketSeconds: 1, served: [20, 10], refused: [0, 2], failed: [1, 0], queued: [5, 0] }
    })
    expect(svg).toContain("t &lt;&amp;&gt;")
    expect(svg).toContain("stroke-dasharray")
    expect(svg.match(/<rect x=/g)?.length).toBeGreaterThanOrEqual(4)
  })
})
