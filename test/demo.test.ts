/**
 * The `demo` command, run in process through `run(args)` on the TestClock (its simulator,
 * limiter, retries and live view all run on it; requests travel over real loopback
 * sockets): every request accounted for, the `--json` contract shared with `load`, what a
 * user sees on a terminal and in a pipe, the report files; and the renderers it draws with.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { mkdtemp, readFile, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { renderBarChart } from "../src/cli/internal/chart.js"
import { type DemoResult, outcomeLines, type RunContext, serverAnswers, whoGaveUp } from "../src/cli/internal/demoReport.js"
import * as Signals from "../src/cli/internal/signals.js"
import { priorityOf } from "../src/cli/internal/demoScenario.js"
import { frame, plainLine, progressBar, redraw, type Snapshot } from "../src/cli/internal/live.js"
import { formatOf, renderSvg } from "../src/cli/internal/report.js"
import { renderTable } from "../src/cli/internal/table.js"
import { fromLog } from "../src/cli/internal/timeline.js"
import { run } from "../src/cli/main.js"
import type { CallOutcome, Summary } from "../src/cli/workload.js"
import * as GrokError from "../src/GrokError.js"
import { CliOutput } from "../src/cli/output.js"
import type * as Simulator from "../src/simulator/Simulator.js"
import { drive } from "./support/drive.js"

interface Captured {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** A signal the test sends once what the demo printed satisfies `when`. */
interface StopWhen {
  readonly signal: Signals.Signal
  readonly when: (stdout: string) => boolean
}

/** `effect-grok demo <args>` with the output captured, as a terminal (`isTTY`) or a pipe. */
const demo = (args: ReadonlyArray<string>, isTTY = false, stopWhen?: StopWhen): Effect.Effect<Captured> =>
  Effect.gen(function*() {
    const out = { stdout: "", stderr: "" }
    const stop = yield* Signals.make
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
        }),
        Effect.provideService(Signals.Stop, stop)
      )
    )
    const activity = Effect.sync(() => `${out.stdout.length}:${out.stderr.length}`)
    if (stopWhen !== undefined) {
      // Event-loop turns (the clock moves only as `drive` moves it) until the output says so.
      const printed = Effect.gen(function*() {
        while (!stopWhen.when(out.stdout)) yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
      })
      yield* drive(yield* Effect.fork(printed), activity)
      yield* stop.request(stopWhen.signal)
    }
    const code = yield* drive(fiber, activity)
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
      // Answers by the model that gave them: grok-4.3, or for background calls its fallback.
      expect(Object.keys(summary.models).every((model) => model === "grok-4.3" || model === "grok-3-mini")).toBe(true)
      expect(Object.values<number>(summary.models).reduce((total, count) => total + count, 0)).toBe(summary.ok)
    }))

  it.effect("every call that failed is explained: what the server answered, and which protection stopped retrying it, and why", () =>
    Effect.gen(function*() {
      // A brownout larger than the retry budget: some calls fail.
      const { code, stdout } = yield* demo(["--requests", "60", "--concurrency", "20", "--rps", "20", "--seed", "2"])
      expect(code).toBe(0)
      const counts = /requests +│ 60 = (\d+) ok \+ (\d+) failed \(each failure explained below\)/.exec(stdout)
      expect(counts).not.toBeNull()
      const failed = Number(counts?.[2])
      expect(failed).toBeGreaterThan(0)
      expect(stdout).toContain(`Why ${failed} call${failed === 1 ? "" : "s"} failed (`)
      const rows = stdout.split("\n").filter((line) => /^│ #\d+ +│/.test(line))
      expect(rows).toHaveLength(failed)
      for (const row of rows) {
        expect(row).toMatch(/│ (critical|normal|background) +│ .*\d, at \d+\.\d/)
        expect(row).toMatch(/the retry budget: spent|the retry policy: 3 retries, all used|the call's deadline|cannot succeed on a retry|over the cap/)
      }
      if (rows.some((row) => row.includes("the retry budget"))) expect(stdout).toContain("The retry budget is shared by all calls")
      // The answers by model: grok-4.3, and its fallback for the background calls it could not answer.
      expect(stdout).toMatch(/answered by +│ grok-4\.3 \d+/)
    }))

  it.effect("stopped by SIGINT: the report counts what happened until then, the cancelled calls included; exit 130", () =>
    Effect.gen(function*() {
      const { code, stdout } = yield* demo(["--requests", "200", "--concurrency", "20", "--rps", "20", "--seed", "4"], false, {
        signal: "SIGINT",
        when: (printed) => /\] ([1-9]\d+)\/200 done/.test(printed)
      })
      expect(code).toBe(130)
      expect(stdout).toContain("effect-grok: SIGINT: no new calls")
      const counts = /requests +│ 200 = (\d+) ok \+ (\d+) failed \+ (\d+) cancelled by SIGINT/.exec(stdout)
      expect(counts).not.toBeNull()
      const [ok, failed, cancelled] = [Number(counts?.[1]), Number(counts?.[2]), Number(counts?.[3])]
      expect(ok + failed + cancelled).toBe(200)
      expect(cancelled).toBeGreaterThan(0)
      // What the server answered is what the client counted.
      expect(stdout).toMatch(new RegExp(`server saw +│ ${ok} served`))
      expect(stdout).toContain(`Stopped by SIGINT: no call started after it`)
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

describe("demo: why a call failed", () => {
  const context: RunContext = {
    simulatorStartedAt: 1_000,
    brownout: { fromMillis: 8_000, untilMillis: 9_500 },
    modelOfKey: (key) => ({ k4: "grok-4.3", k3: "grok-3-mini" })[key],
    fallbackModel: "grok-3-mini",
    maxRetries: 3,
    budgetRatio: 0.1
  }
  const attempt = (status: number | null, sentMillis: number, key = "k4") => ({
    status,
    sentMillis: context.simulatorStartedAt + sentMillis,
    atMillis: context.simulatorStartedAt + sentMillis + 50,
    key
  })
  const serverError = new GrokError.ServerError({ message: "503", status: 503, retryable: true })
  /** The error a call ends with when the retry budget refused its retry. */
  const refusedByBudget = GrokError.budgetExhausted(serverError)
  const failed = (fields: Partial<CallOutcome> & Pick<CallOutcome, "record">): CallOutcome => ({
    index: 41,
    priority: "normal",
    model: undefined,
    error: serverError,
    cancelled: false,
    millis: 900,
    ...fields
  })

  it("names what the server answered to each attempt, and the brownout when they fell in it", () => {
    const inBrownout = failed({ record: { attempts: [attempt(503, 8_400), attempt(503, 8_900), attempt(503, 9_300)], gaveUp: "refused" } })
    expect(serverAnswers(inBrownout, context)).toBe("503 ×3, at 8.4-9.3 s (brownout)")
    const mixed = failed({ record: { attempts: [attempt(429, 2_000), attempt(null, 4_500), attempt(200, 5_000)], gaveUp: "policy" } })
    expect(serverAnswers(mixed, context)).toBe("429, no answer (connection cut), error in a 200, at 2.0-5.0 s")
    const fellBack = failed({
      priority: "background",
      record: { attempts: [attempt(503, 8_100), attempt(503, 8_300), attempt(null, 8_600, "k3")], gaveUp: "refused" }
    })
    expect(serverAnswers(fellBack, context)).toBe("grok-4.3: 503 ×2; then grok-3-mini: no answer (connection cut), at 8.1-8.6 s (brownout)")
    expect(serverAnswers(failed({ record: { attempts: [], gaveUp: "not-retryable" } }), context)).toBe("nothing: no attempt was sent")
  })

  it("names the protection that stopped retrying: the budget, the policy, the deadline, the retry loop, or none", () => {
    expect(whoGaveUp(failed({ error: refusedByBudget, record: { attempts: [attempt(503, 1)], gaveUp: "refused" } }), context)).toBe(
      "the retry budget: spent (see below)"
    )
    // The policy said yes and the loop refused, not for the budget: the deadline was too near.
    expect(whoGaveUp(failed({ record: { attempts: [attempt(503, 1)], gaveUp: "refused" } }), context)).toBe(
      "the call's deadline: no time left to retry"
    )
    expect(whoGaveUp(failed({ record: { attempts: [attempt(503, 1)], gaveUp: "policy" } }), context)).toBe(
      "the retry policy: 3 retries, all used"
    )
    const badRequest = new GrokError.BadRequest({ message: "bad", status: 400, retryable: false })
    expect(whoGaveUp(failed({ error: badRequest, record: { attempts: [attempt(400, 1)], gaveUp: "not-retryable" } }), context)).toBe(
      "none: BadRequest (HTTP 400) cannot succeed on a retry"
    )
    const tooLong = new GrokError.RateLimited({ message: "429", status: 429, retryable: true, limit: "requests", retryAfter: Duration.seconds(120) })
    expect(whoGaveUp(failed({ error: tooLong, record: { attempts: [attempt(429, 1)], gaveUp: "not-retryable" } }), context)).toBe(
      "the retry loop: asked to wait 120.0 s, over the cap"
    )
  })

  const result = (calls: ReadonlyArray<CallOutcome>, summary: Partial<Summary> = {}): DemoResult => ({
    summary: {
      requests: calls.length,
      ok: calls.filter((call) => call.model !== undefined).length,
      failed: calls.filter((call) => call.model === undefined && !call.cancelled).length,
      attempts: 0,
      status429: 0,
      seconds: 1,
      errors: {},
      models: { "grok-4.3": 1, "grok-3-mini": 1 },
      metrics: { requests: 0, attempts: 0, retries: 0, status429: 0, tokens: { prompt: 0, completion: 0, reasoning: 0, total: 0 }, latencyMs: { p50: 0, p99: 0 } },
      alerts: [],
      ...summary
    },
    calls,
    timeline: { bucketSeconds: 1, served: [], refused: [], failed: [], queued: [] },
    quotaPerSecond: 20,
    idealSeconds: 1,
    faultLines: [],
    context
  })
  const answered = (model: string, attempts: number): CallOutcome =>
    failed({ model, error: undefined, record: { attempts: Array.from({ length: attempts }, (_, i) => attempt(i === attempts - 1 ? 200 : 503, i)), gaveUp: undefined } })

  it("with no failure, one line says every call was answered, and how", () => {
    expect(outcomeLines(result([answered("grok-4.3", 1), answered("grok-4.3", 3), answered("grok-3-mini", 2)]))).toEqual([
      "",
      "Every call was answered: 2 calls answered after retries, 1 background call by the fallback model grok-3-mini."
    ])
  })

  it("with failures, a table of them and what each protection named does; after a stop, what it cancelled", () => {
    const lines = outcomeLines(result(
      [answered("grok-4.3", 1), failed({ index: 7, error: refusedByBudget, record: { attempts: [attempt(503, 8_200), attempt(503, 8_600)], gaveUp: "refused" } })],
      { signal: "SIGTERM", cancelled: 3, interrupted: true }
    ))
    expect(lines[1]).toBe("Why 1 call failed (0 calls answered after retries, 1 background call by the fallback model grok-3-mini)")
    expect(lines.some((line) => /^│ #8 +│ normal +│ 503 ×2, at 8\.2-8\.6 s \(brownout\) │ the retry budget: spent/.test(line))).toBe(true)
    const prose = lines.map((line) => line.trim()).join(" ")
    expect(prose).toContain("retries are held to about 10% of calls")
    expect(prose).toContain("Stopped by SIGTERM: no call started after it")
    expect(prose).toContain("3 calls were cancelled before an answer")
    expect(Math.max(...lines.map((line) => line.length))).toBeLessThanOrEqual(110)
  })
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
