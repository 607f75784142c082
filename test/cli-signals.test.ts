/**
 * Ctrl-C and SIGTERM, as a user or a supervisor sends them to the built CLI
 * (`node dist/cli/bin.js`) in a real child process, against a simulator this test starts on
 * 127.0.0.1. The simulator runs on the TestClock: answers it holds back (a latency fault)
 * stay in flight until the test moves its clock, so the test decides what is on the wire
 * when the signal comes. Every wait is on an event (a line the child printed, its exit, the
 * simulator's count of requests), never on time.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { connect } from "node:net"
import type * as FaultPlan from "../src/simulator/FaultPlan.js"
import * as Simulator from "../src/simulator/Simulator.js"
import { spawnCli } from "./support/cliProcess.js"

const KEY = "xai-signal-test-key-0123456789"
const env = { XAI_API_KEY: KEY }


/** Requests from number `from` on are answered only after a minute of the simulator's (test) clock. */
const heldFrom = (from: number): FaultPlan.FaultPlan => [{ from, fault: { kind: "latency", millis: 60_000 } }]

const simulator = (faults: FaultPlan.FaultPlan) => Effect.orDie(Simulator.make({ faults }))

const counts = (log: ReadonlyArray<Simulator.LoggedRequest>) => ({
  requests: log.length,
  ok: log.filter((entry) => entry.status === 200).length,
  status429: log.filter((entry) => entry.status === 429).length,
  outcomes: [...new Set(log.map((entry) => entry.outcome))]
})

/** Nothing listens on `port` any more. */
const refused = (port: number) =>
  Effect.async<boolean>((resume) => {
    const socket = connect(port, "127.0.0.1")
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(false))
    })
    socket.once("error", () => resume(Effect.succeed(true)))
  })

describe("load: SIGINT, SIGTERM", () => {
  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    it.scoped(`${signal}: no new calls, the attempts on the wire end, the --json summary counts what the server answered, exit ${code}`, () =>
      Effect.gen(function*() {
        // 6 answered at once, then every request held: at the signal, 4 are on the wire.
        const sim = yield* simulator(heldFrom(7))
        const cli = yield* spawnCli(
          ["load", "--base-url", sim.url, "--requests", "200", "--concurrency", "4", "--json"],
          env
        )
        yield* sim.awaitCompleted(6)
        yield* sim.awaitRequests(10)
        yield* cli.kill(signal)
        const stopping = yield* cli.line("stderr", (line) => line.includes("no new calls"))
        expect(stopping).toContain(`${signal}: no new calls; waiting for 4 attempts on the wire`)
        // The held answers come; the child counts them, prints its summary and exits.
        yield* TestClock.adjust("60 seconds")
        const exited = yield* cli.exited
        expect(exited).toEqual({ code, signal: null })

        const lines = cli.stdout().split("\n").filter((line) => line !== "")
        expect(lines).toHaveLength(1)
        const summary = JSON.parse(lines[0] ?? "")
        const server = counts(yield* sim.log)
        // Nothing was cut: every request the server saw was answered and counted.
        expect(server).toEqual({ requests: 10, ok: 10, status429: 0, outcomes: ["completed"] })
        expect(summary).toMatchObject({
          requests: 200,
          ok: server.ok,
          failed: 0,
          cancelled: 190,
          attempts: server.requests,
          status429: server.status429,
          models: { "grok-4.3": server.ok },
          interrupted: true,
          signal
        })
        expect(summary.ok + summary.failed + summary.cancelled).toBe(summary.requests)
        // No request started after the signal.
        expect(yield* sim.requestCount).toBe(10)
      }))
  }

  it.scoped("a second SIGINT exits at once, with attempts still on the wire", () =>
    Effect.gen(function*() {
      const sim = yield* simulator(heldFrom(3))
      const cli = yield* spawnCli(["load", "--base-url", sim.url, "--requests", "50", "--concurrency", "3", "--json"], env)
      yield* sim.awaitRequests(5)
      yield* cli.kill("SIGINT")
      yield* cli.line("stderr", (line) => line.includes("Ctrl-C again quits at once"))
      yield* cli.kill("SIGINT")
      expect(yield* cli.exited).toEqual({ code: 130, signal: null })
      expect(cli.stdout()).toBe("")
      // The held requests were never answered: the child left without them.
      yield* sim.awaitCompleted(5)
      expect(counts(yield* sim.log)).toMatchObject({ requests: 5, ok: 2, outcomes: ["completed", "client-closed"] })
    }))

  it.scoped("without --json: the summary on stderr says what the stop cancelled", () =>
    Effect.gen(function*() {
      const sim = yield* simulator(heldFrom(4))
      const cli = yield* spawnCli(["load", "--base-url", sim.url, "--requests", "20", "--concurrency", "2"], env)
      yield* sim.awaitCompleted(3)
      yield* sim.awaitRequests(5)
      yield* cli.kill("SIGTERM")
      yield* cli.line("stderr", (line) => line.includes("no new calls"))
      yield* TestClock.adjust("60 seconds")
      expect(yield* cli.exited).toEqual({ code: 143, signal: null })
      expect(cli.stdout()).toBe("")
      expect(cli.stderr()).toContain("requests  20   ok 5   failed 0   cancelled 15")
      expect(cli.stderr()).toContain("stopped   by SIGTERM: 15 requests cancelled or never started")
    }))
})

describe("chat: SIGINT, SIGTERM", () => {
  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    it.scoped(`${signal} cancels the call on the wire: the --json failure object with "interrupted": true, exit ${code}`, () =>
      Effect.gen(function*() {
        const sim = yield* simulator(heldFrom(1))
        const cli = yield* spawnCli(["chat", "--base-url", sim.url, "--json", "Say", "hi"], env)
        yield* sim.awaitRequests(1)
        yield* cli.kill(signal)
        expect(yield* cli.exited).toEqual({ code, signal: null })
        expect(JSON.parse(cli.stdout())).toEqual({
          ok: false,
          error: {
            _tag: "Interrupted",
            status: null,
            retryable: false,
            message: `interrupted by ${signal} before the answer was complete`,
            requestId: null
          },
          attempts: 1,
          interrupted: true
        })
        // The server saw one request, and the client hang up on it.
        yield* sim.awaitCompleted(1)
        expect(counts(yield* sim.log)).toEqual({ requests: 1, ok: 0, status429: 0, outcomes: ["client-closed"] })
      }))
  }

  it.scoped("streamed, without --json: the tokens so far stay, then a line says it was interrupted", () =>
    Effect.gen(function*() {
      // The role chunk at once, then one word per minute of the simulator's clock.
      const sim = yield* simulator([{ nth: [1], fault: { kind: "slowStream", firstTokenMillis: 0, chunkMillis: 60_000 } }])
      const cli = yield* spawnCli(["chat", "--base-url", sim.url, "--stream", "Say", "hi", "please"], env)
      yield* sim.awaitRequests(1)
      yield* TestClock.adjust("60 seconds")
      yield* cli.printed("stdout", "Simulated")
      yield* cli.kill("SIGINT")
      expect(yield* cli.exited).toEqual({ code: 130, signal: null })
      // Part of the answer, its line ended.
      const shown = cli.stdout()
      expect(shown.endsWith("\n")).toBe(true)
      const full = "Simulated reply to \"Say hi please\"."
      expect(full.startsWith(shown.slice(0, -1))).toBe(true)
      expect(shown.slice(0, -1).length).toBeLessThan(full.length)
      expect(cli.stderr()).toContain("interrupted by SIGINT before the answer was complete · 1 attempt")
    }))
})

describe("demo: SIGTERM", () => {
  it.scoped("stops mid-run: the report counts what its simulator answered until then, the cancelled calls included; exit 143", () =>
    Effect.gen(function*() {
      const cli = yield* spawnCli(["demo", "--requests", "100", "--rps", "20"])
      // A progress line with calls done: the run is under way.
      yield* cli.line("stdout", (line) => /\] [1-9]\d*\/100 done/.test(line))
      yield* cli.kill("SIGTERM")
      expect(yield* cli.exited).toEqual({ code: 143, signal: null })
      const report = cli.stdout()
      const counts = /requests +│ 100 = (\d+) ok \+ (\d+) failed \+ (\d+) cancelled by SIGTERM/.exec(report)
      expect(counts).not.toBeNull()
      const ok = Number(counts?.[1])
      expect(ok + Number(counts?.[2]) + Number(counts?.[3])).toBe(100)
      expect(report).toMatch(new RegExp(`server saw +│ ${ok} served`))
      expect(report).toContain("Stopped by SIGTERM: no call started after it")
    }))
})

describe("a reader of stdout that goes away (effect-grok demo | head -1)", () => {
  it.scoped("ends the CLI quietly, with 141 as for any Unix tool ended by SIGPIPE", () =>
    Effect.gen(function*() {
      const cli = yield* spawnCli(["demo", "--requests", "40", "--rps", "50"])
      yield* cli.line("stdout", (line) => line.startsWith("effect-grok demo:"))
      yield* Effect.sync(() => cli.child.stdout?.destroy())
      expect(yield* cli.exited).toEqual({ code: 141, signal: null })
      expect(cli.stderr()).toBe("")
    }))
})

describe("simulate: SIGINT, SIGTERM", () => {
  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    it.scoped(`${signal} closes the port, says what was served, exit ${code}`, () =>
      Effect.gen(function*() {
        const cli = yield* spawnCli(["simulate", "--port", "0"])
        const listening = yield* cli.line("stdout", (line) => line.startsWith("GrokSimulator listening on "))
        const url = listening.replace("GrokSimulator listening on ", "")
        const port = Number(new URL(url).port)
        const answer = yield* Effect.promise(() =>
          fetch(`${url}/chat/completions`, {
            method: "POST",
            headers: { authorization: "Bearer any", "content-type": "application/json" },
            body: JSON.stringify({ model: "grok-4.3", messages: [{ role: "user", content: "hi" }] })
          }).then((response) => response.status)
        )
        expect(answer).toBe(200)
        yield* cli.line("stderr", (line) => line.startsWith("#1 POST /v1/chat/completions"))
        yield* cli.kill(signal)
        expect(yield* cli.exited).toEqual({ code, signal: null })
        expect(cli.stderr()).toContain(`stopped by ${signal}: 1 request served, port closed`)
        expect(yield* refused(port)).toBe(true)
      }))
  }
})
