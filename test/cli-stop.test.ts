/**
 * What a stop (the first SIGINT or SIGTERM) does to a run of calls, command by command, in
 * process on the TestClock: `run(args)` with a `Signals.Stop` the test requests itself,
 * against the simulator over real loopback sockets. The real-process side (exit codes,
 * second signal, nothing left running) is `cli-signals.test.ts`.
 */
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Either, Fiber, Option, type Scope } from "effect"
import * as Signals from "../src/cli/internal/signals.js"
import { run } from "../src/cli/main.js"
import { CliOutput } from "../src/cli/output.js"
import type * as FaultPlan from "../src/simulator/FaultPlan.js"
import * as Simulator from "../src/simulator/Simulator.js"
import * as Metrics from "../src/telemetry/Metrics.js"
import { drive, simulatorActivity } from "./support/drive.js"

interface Captured {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** `effect-grok <args>` forked, with its output captured and `stop` as its signals. */
const start = (args: ReadonlyArray<string>, stop: Signals.Service) =>
  Effect.gen(function*() {
    const out = { stdout: "", stderr: "" }
    const fiber = yield* Effect.fork(
      run(args).pipe(
        Effect.provideService(CliOutput, {
          stdout: (chunk: string) => {
            out.stdout += chunk
          },
          stderr: (chunk: string) => {
            out.stderr += chunk
          },
          isTTY: false
        }),
        Effect.provideService(Signals.Stop, stop),
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["XAI_API_KEY", "xai-stop-test-key"]])))
      )
    )
    return { fiber, out }
  })

const finish = (started: { readonly fiber: Fiber.RuntimeFiber<number>; readonly out: { stdout: string; stderr: string } }, sim: Simulator.Service) =>
  Effect.map(drive(started.fiber, simulatorActivity(sim)), (code): Captured => ({ code, ...started.out }))

const simulator = (faults: FaultPlan.FaultPlan, options: Simulator.SimulatorOptions = {}): Effect.Effect<Simulator.Service, never, Scope.Scope> =>
  Effect.orDie(Simulator.make({ ...options, faults }))

/** Event-loop turns (no time passes) until the client has started waiting before a retry. */
const retryWaiting = (before: Metrics.Totals) =>
  Effect.gen(function*() {
    while ((yield* Metrics.snapshotTotals).retries === before.retries) {
      yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
    }
  })

const summaryOf = (captured: Captured) => {
  const lines = captured.stdout.split("\n").filter((line) => line !== "")
  expect(lines).toHaveLength(1)
  return JSON.parse(lines[0] ?? "")
}

describe("Signals.Stop", () => {
  it.effect("the first request completes `requested`; it says whether a command handles it", () =>
    Effect.gen(function*() {
      const stop = yield* Signals.make
      expect(yield* stop.received).toEqual(Option.none())
      const waiting = yield* Effect.fork(stop.requested)
      const handled = yield* stop.handling(stop.request("SIGTERM"))
      expect(handled).toBe(true)
      expect(yield* Fiber.join(waiting)).toBe("SIGTERM")
      expect(yield* stop.received).toEqual(Option.some("SIGTERM"))
      // The first signal is the one that counts; outside `handling`, nobody handles it.
      expect(yield* stop.request("SIGINT")).toBe(false)
      expect(yield* stop.received).toEqual(Option.some("SIGTERM"))
    }))

  it.effect("interruptOnStop: the work's result, or the signal with the work interrupted", () =>
    Effect.gen(function*() {
      const stop = yield* Signals.make
      const done = yield* Signals.interruptOnStop(Effect.succeed(1)).pipe(Effect.provideService(Signals.Stop, stop))
      expect(done).toEqual(Either.right(1))
      let finalized = false
      const racing = yield* Effect.fork(
        Signals.interruptOnStop(Effect.never.pipe(Effect.ensuring(Effect.sync(() => (finalized = true))))).pipe(
          Effect.provideService(Signals.Stop, stop)
        )
      )
      yield* Effect.yieldNow()
      expect(yield* stop.request("SIGINT")).toBe(true)
      expect(yield* Fiber.join(racing)).toEqual(Either.left("SIGINT"))
      expect(finalized).toBe(true)
    }))
})

describe("load: what a stop does to each call", () => {
  it.scoped("an attempt on the wire ends and is counted; a failure after the stop is not retried", () =>
    Effect.gen(function*() {
      // Every answer takes 10 s; the first is a 503 (retryable).
      const sim = yield* simulator([{ nth: [1], fault: { kind: "status", status: 503 } }], { latency: "10 seconds" })
      const stop = yield* Signals.make
      const started = yield* start(["load", "--base-url", sim.url, "--requests", "5", "--concurrency", "1", "--json"], stop)
      yield* sim.awaitRequests(1)
      yield* stop.request("SIGINT")
      const captured = yield* finish(started, sim)
      expect(captured.code).toBe(130)
      const log = yield* sim.log
      expect(log.map((entry) => [entry.status, entry.outcome])).toEqual([[503, "completed"]])
      expect(summaryOf(captured)).toMatchObject({
        requests: 5,
        ok: 0,
        failed: 0,
        cancelled: 5,
        attempts: 1,
        errors: {},
        interrupted: true,
        metrics: { retries: 0 }
      })
      expect(captured.stderr).toContain("SIGINT: no new calls; waiting for 1 attempt on the wire")
    }))

  it.scoped("a call waiting for the limiter is cancelled before anything of it is sent", () =>
    Effect.gen(function*() {
      const sim = yield* simulator([], { latency: "10 seconds" })
      const stop = yield* Signals.make
      // One request a minute: the first goes, the other two wait in the limiter's queue.
      const started = yield* start(["load", "--base-url", sim.url, "--requests", "3", "--concurrency", "3", "--rpm", "1", "--json"], stop)
      yield* sim.awaitRequests(1)
      yield* stop.request("SIGTERM")
      const captured = yield* finish(started, sim)
      expect(captured.code).toBe(143)
      expect((yield* sim.log).map((entry) => [entry.status, entry.outcome])).toEqual([[200, "completed"]])
      expect(summaryOf(captured)).toMatchObject({ requests: 3, ok: 1, failed: 0, cancelled: 2, attempts: 1, signal: "SIGTERM" })
    }))

  it.scoped("a call sleeping before its retry is cancelled where it stands", () =>
    Effect.gen(function*() {
      // The first request is refused with a 429 asking for 30 s: its call waits 30 s to retry.
      const sim = yield* simulator([{ nth: [1], fault: { kind: "status", status: 429, headers: { "retry-after": "30" } } }])
      const stop = yield* Signals.make
      const before = yield* Metrics.snapshotTotals
      const started = yield* start(["load", "--base-url", sim.url, "--requests", "1", "--concurrency", "1", "--json"], stop)
      yield* retryWaiting(before)
      yield* stop.request("SIGINT")
      const captured = yield* finish(started, sim)
      expect(captured.code).toBe(130)
      expect((yield* sim.log).map((entry) => entry.status)).toEqual([429])
      const summary = summaryOf(captured)
      expect(summary).toMatchObject({ requests: 1, ok: 0, failed: 0, cancelled: 1, attempts: 1, status429: 1, metrics: { retries: 1 } })
      // Cancelled at once, not when its wait was over.
      expect(summary.seconds).toBeLessThan(30)
    }))

  it.scoped("a stop that never comes changes nothing: the summary has no interrupted field", () =>
    Effect.gen(function*() {
      const sim = yield* simulator([])
      const stop = yield* Signals.make
      const captured = yield* finish(yield* start(["load", "--base-url", sim.url, "--requests", "4", "--concurrency", "2", "--json"], stop), sim)
      expect(captured.code).toBe(0)
      const summary = summaryOf(captured)
      expect(summary).toMatchObject({ requests: 4, ok: 4, failed: 0 })
      expect(summary).not.toHaveProperty("interrupted")
      expect(summary).not.toHaveProperty("cancelled")
    }))
})
