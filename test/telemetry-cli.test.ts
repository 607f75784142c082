/**
 * `load --json` run in process through `run(args)` against the simulator over loopback, on
 * the TestClock: its `metrics` come from the registry and match the simulator's log, its
 * `alerts` list what `--alert-error-rate` fired, and `--metrics-port` serves `/metrics`
 * while the command runs. And `load --redis` with no Redis to reach: `--redis-unavailable`.
 */
import { describe, expect, it } from "@effect/vitest"
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Clock, ConfigProvider, Console, Effect, type Scope } from "effect"
import { createServer } from "node:net"
import { run } from "../src/cli/main.js"
import { CliOutput } from "../src/cli/output.js"
import type * as FaultPlan from "../src/simulator/FaultPlan.js"
import * as Simulator from "../src/simulator/Simulator.js"
import { drive, simulatorActivity } from "./support/drive.js"

interface Captured {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** `effect-grok <args>` with a key in the environment; what a user would see. */
const cli = (args: ReadonlyArray<string>): Effect.Effect<Captured> =>
  Effect.gen(function*() {
    const out = { stdout: "", stderr: "" }
    const base = yield* Console.consoleWith(Effect.succeed)
    const sink = (into: "stdout" | "stderr") => (...parts: ReadonlyArray<unknown>) => {
      out[into] += `${parts.map(String).join(" ")}\n`
    }
    const console: Console.Console = {
      ...base,
      log: (...parts) => Effect.sync(() => sink("stdout")(...parts)),
      error: (...parts) => Effect.sync(() => sink("stderr")(...parts)),
      warn: (...parts) => Effect.sync(() => sink("stderr")(...parts)),
      unsafe: { ...base.unsafe, log: sink("stdout"), error: sink("stderr"), warn: sink("stderr"), info: sink("stderr"), debug: sink("stderr") }
    }
    const code = yield* run(args).pipe(
      Effect.provideService(CliOutput, {
        stdout: (chunk: string) => {
          out.stdout += chunk
        },
        stderr: (chunk: string) => {
          out.stderr += chunk
        },
        isTTY: false
      }),
      Console.withConsole(console),
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["XAI_API_KEY", "k"]])))
    )
    return { code, ...out }
  })

interface LoadJson {
  readonly requests: number
  readonly ok: number
  readonly failed: number
  readonly attempts: number
  readonly status429: number
  readonly metrics: {
    readonly requests: number
    readonly attempts: number
    readonly retries: number
    readonly status429: number
    readonly tokens: { readonly prompt: number; readonly completion: number; readonly reasoning: number; readonly total: number }
    readonly latencyMs: { readonly p50: number; readonly p99: number }
  }
  readonly alerts: ReadonlyArray<{ readonly rule: string; readonly message: string; readonly at: string }>
}

const loadJson = (captured: Captured): LoadJson => {
  const lines = captured.stdout.split("\n").filter((line) => line !== "")
  expect(lines).toHaveLength(1)
  return JSON.parse(lines[0]!) as LoadJson
}

const simulator = (faults: FaultPlan.FaultPlan = [], options: Simulator.SimulatorOptions = {}): Effect.Effect<Simulator.Service, never, Scope.Scope> =>
  Effect.orDie(Simulator.make({ ...options, faults }))

const load = (sim: Simulator.Service, flags: ReadonlyArray<string>) =>
  Effect.flatMap(Effect.fork(cli(["load", "--base-url", sim.url, ...flags, "--json"])), (fiber) =>
    drive(fiber, simulatorActivity(sim)))

const sum = (log: ReadonlyArray<Simulator.LoggedRequest>, pick: (usage: Simulator.Usage) => number) =>
  log.reduce((total, entry) => total + (entry.usage === undefined ? 0 : pick(entry.usage)), 0)

/** A port nothing listens on right now. */
const freePort = Effect.async<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

describe("load --json: metrics and alerts", () => {
  it.scoped("metrics.attempts, status429 and tokens equal what the simulator logged", () =>
    Effect.gen(function*() {
      const sim = yield* simulator([
        { nth: [2, 3], fault: { kind: "status", status: 503 } },
        { nth: [6], fault: { kind: "status", status: 429, headers: { "retry-after": "1" } } },
        { nth: [9], fault: { kind: "reset" } }
      ])
      const captured = yield* load(sim, ["--requests", "12", "--concurrency", "3"])
      expect(captured.code).toBe(0)
      const json = loadJson(captured)
      const log = yield* sim.log
      expect(json.requests).toBe(12)
      expect(json.ok).toBe(12)
      expect(json.metrics.requests).toBe(12)
      expect(json.metrics.attempts).toBe(log.length)
      expect(json.attempts).toBe(log.length)
      expect(log.length).toBe(16)
      expect(json.metrics.retries).toBe(4)
      expect(json.metrics.status429).toBe(1)
      expect(json.status429).toBe(1)
      expect(json.metrics.tokens).toEqual({
        prompt: sum(log, (u) => u.promptTokens),
        completion: sum(log, (u) => u.completionTokens),
        reasoning: sum(log, (u) => u.reasoningTokens),
        total: sum(log, (u) => u.totalTokens)
      })
      expect(json.metrics.latencyMs.p99).toBeGreaterThanOrEqual(json.metrics.latencyMs.p50)
      expect(json.alerts).toEqual([])
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("--alert-error-rate: a run whose calls mostly fail lists the alert", () =>
    Effect.gen(function*() {
      // Every request is refused with a 400 (not retried), except the first two.
      const sim = yield* simulator([{ from: 3, fault: { kind: "status", status: 400 } }])
      const captured = yield* load(sim, ["--requests", "12", "--concurrency", "2", "--alert-error-rate", "0.5"])
      expect(captured.code).toBe(1)
      const json = loadJson(captured)
      expect(json.failed).toBe(10)
      expect(json.alerts).toHaveLength(1)
      const [alert] = json.alerts
      expect(alert!.rule).toBe("error-rate")
      expect(alert!.message).toBe("error rate 83.3% over 1m (10 of 12 calls failed), above 50.0%")
      expect(alert!.at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("--alert-error-rate: a healthy run fires nothing", () =>
    Effect.gen(function*() {
      const sim = yield* simulator([{ nth: [1], fault: { kind: "status", status: 400 } }])
      const json = loadJson(yield* load(sim, ["--requests", "12", "--concurrency", "4", "--alert-error-rate", "0.2"]))
      expect(json.failed).toBe(1)
      expect(json.alerts).toEqual([])
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("--metrics-port serves /metrics while the command runs, with the run's series", () =>
    Effect.gen(function*() {
      // Slow answers keep the run going while /metrics is scraped.
      const sim = yield* simulator([], { latency: "5 seconds" })
      const port = yield* freePort
      const fiber = yield* Effect.fork(cli(["load", "--base-url", sim.url, "--requests", "4", "--concurrency", "1", "--metrics-port", String(port), "--json"]))
      yield* sim.awaitRequests(1)
      const client = yield* HttpClient.HttpClient
      const response = yield* client.execute(HttpClientRequest.get(`http://127.0.0.1:${port}/metrics`))
      expect(response.status).toBe(200)
      const text = yield* response.text
      expect(text).toContain("# TYPE effect_grok_requests_total counter")
      expect(text).toMatch(/effect_grok_limiter_in_flight\{gen_ai_request_model="grok-4\.3"\} 1/)
      const captured = yield* drive(fiber, simulatorActivity(sim))
      expect(captured.code).toBe(0)
      expect(loadJson(captured).metrics.attempts).toBe(4)
      // Gone once the command has ended.
      const after = yield* Effect.either(client.execute(HttpClientRequest.get(`http://127.0.0.1:${port}/metrics`)))
      expect(after._tag).toBe("Left")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("out-of-range flags are usage errors (exit 2), nothing is sent", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      for (const flags of [["--alert-error-rate", "1.5"], ["--alert-error-rate", "0"], ["--metrics-port", "70000"]]) {
        const captured = yield* load(sim, ["--requests", "1", "--concurrency", "1", ...flags])
        expect(captured.code).toBe(2)
        const json = JSON.parse(captured.stdout) as { ok: boolean; error: { _tag: string; message: string } }
        expect(json.ok).toBe(false)
        expect(json.error._tag).toBe("UsageError")
        expect(json.error.message).toContain(flags[0]!)
      }
      expect(yield* sim.requestCount).toBe(0)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})

describe("load --redis, with no Redis to reach", () => {
  it.scoped("decides locally by default and serves every call; `--redis-unavailable fail` refuses them; a bad value is a usage error", () =>
    Effect.gen(function*() {
      const sim = yield* simulator([], { quota: { requestsPerSecond: 20, burst: 2 } })
      const redis = ["--redis", `redis://127.0.0.1:${yield* freePort}`]
      const flags = ["--requests", "6", "--concurrency", "3", "--rpm", "1200", ...redis]

      const local = yield* load(sim, flags)
      expect(local.code).toBe(0)
      expect(loadJson(local)).toMatchObject({ ok: 6, failed: 0, status429: 0 })

      const refused = yield* load(sim, [...flags, "--redis-unavailable", "fail"])
      expect(refused.code).toBe(1)
      expect(loadJson(refused)).toMatchObject({ ok: 0, failed: 6, errors: { QueueRejected: 6 } })

      for (const value of ["0", "1.5", "half"]) {
        const bad = yield* cli(["load", "--base-url", sim.url, ...flags, "--redis-unavailable", value])
        expect(bad.code).toBe(2)
        expect(bad.stderr).toContain("--redis-unavailable")
      }
    }))
})

describe("a model that stays down, through the CLI (docs/degradation.md)", () => {
  it.scoped("load --requests 1000 --concurrency 50 against an always-503 model ends within 90 s, every request counted, alert raised meanwhile", () =>
    Effect.gen(function*() {
      const sim = yield* simulator([{ fault: { kind: "status", status: 503 } }])
      const started = yield* Clock.currentTimeMillis
      const captured = yield* load(sim, ["--requests", "1000", "--concurrency", "50", "--alert-error-rate", "0.5"])
      const elapsed = (yield* Clock.currentTimeMillis) - started
      expect(captured.code).toBe(1)
      const json = loadJson(captured)
      expect(json.ok + json.failed).toBe(1000)
      expect(json.failed).toBe(1000)
      expect(elapsed).toBeLessThanOrEqual(90_000)
      expect((yield* sim.requestCount) / 1000).toBeLessThanOrEqual(1.2)
      expect(json.alerts.length).toBeGreaterThan(0)
      // Raised while the outage went on, within the minute it is computed over.
      expect(Date.parse(json.alerts[0]!.at) - started).toBeLessThanOrEqual(60_000)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("chat --json against it ends within 35 s with exit 1", () =>
    Effect.gen(function*() {
      const sim = yield* simulator([{ fault: { kind: "status", status: 503 } }])
      const started = yield* Clock.currentTimeMillis
      const captured = yield* drive(yield* Effect.fork(cli(["chat", "--base-url", sim.url, "--json", "Say hi"])), simulatorActivity(sim))
      expect(captured.code).toBe(1)
      expect((yield* Clock.currentTimeMillis) - started).toBeLessThanOrEqual(35_000)
      expect(JSON.parse(captured.stdout)).toMatchObject({ ok: false, error: { _tag: "ServerError", status: 503 } })
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("a 10 s outage, then healthy: load --requests 100 --concurrency 20 serves 100 of 100 at <= 1.3 attempts per request", () =>
    Effect.gen(function*() {
      const sim = yield* simulator([{ untilMillis: 10_000, fault: { kind: "status", status: 503 } }])
      const captured = yield* load(sim, ["--requests", "100", "--concurrency", "20"])
      expect(captured.code).toBe(0)
      const json = loadJson(captured)
      expect(json.ok).toBe(100)
      expect((yield* sim.requestCount) / 100).toBeLessThanOrEqual(1.3)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})
