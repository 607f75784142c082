/**
 * Fallback: chains of models on ExecutionPlan against the simulator over real loopback
 * sockets, on the TestClock. A model that is down, rate limited or behind an open breaker
 * hands over to the next; a bad request never does. The real `load` and `chat` commands run
 * in process with `--fallback-model`.
 */
import { describe, expect, it } from "@effect/vitest"
import type { HttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Chunk, ConfigProvider, Console, Effect, Either, ExecutionPlan, type Scope, Stream, TestClock } from "effect"
import { run } from "../src/cli/main.js"
import { CliOutput } from "../src/cli/output.js"
import * as Fallback from "../src/Fallback.js"
import * as GrokClient from "../src/GrokClient.js"
import * as GrokConfig from "../src/GrokConfig.js"
import * as GrokError from "../src/GrokError.js"
import * as CircuitBreaker from "../src/resilience/CircuitBreaker.js"
import * as Chat from "../src/schema/Chat.js"
import type * as FaultPlan from "../src/simulator/FaultPlan.js"
import * as Simulator from "../src/simulator/Simulator.js"
import { drive, simulatorActivity } from "./support/drive.js"

const KEY = "xai-fallback-test-key-0123456789"
const hello: GrokClient.ChatRequest = { model: "grok-4", messages: [{ role: "user", content: "hello" }] }
const down = (model: string, status = 503): FaultPlan.FaultRule => ({ model, fault: { kind: "status", status } })

const loopback = <A, E>(body: Effect.Effect<A, E, Scope.Scope | HttpClient.HttpClient>) =>
  body.pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))

const setup = (faults: FaultPlan.FaultPlan, breaker: CircuitBreaker.Options = {}) =>
  Effect.gen(function*() {
    const sim = yield* Simulator.make({ seed: 11, faults })
    const grok = yield* GrokClient.make(Either.getOrThrow(GrokConfig.make({ apiKey: KEY, baseUrl: sim.url }))).pipe(
      Effect.provide(CircuitBreaker.layer(breaker))
    )
    const driven = <A, E>(program: Effect.Effect<A, E, GrokClient.GrokClient>) =>
      Effect.flatMap(Effect.fork(Effect.provideService(program, GrokClient.GrokClient, grok)), (fiber) =>
        drive(fiber, simulatorActivity(sim)))
    const requestsFor = (model: string) => Effect.map(sim.log, (log) => log.filter((entry) => entry.model === model).length)
    return { sim, grok, driven, requestsFor }
  })

describe("Fallback.chat", () => {
  it.effect("answers from the next model when the first one is down, and says which answered", () =>
    loopback(Effect.gen(function*() {
      const { driven, requestsFor } = yield* setup([down("grok-4")])
      const answer = yield* driven(Fallback.chat(hello, { fallbacks: ["grok-4-fast"] }))
      expect(answer.model).toBe("grok-4-fast")
      expect(answer.value.model).toBe("grok-4-fast")
      expect(Chat.contentOf(answer.value)).toBe("Simulated reply to \"hello\".")
      expect(answer.failed.map((failure) => [failure.model, failure.error._tag])).toEqual([["grok-4", "ServerError"]])
      // The first model had its retries (3 by default) before the chain moved on.
      expect(yield* requestsFor("grok-4")).toBe(4)
      expect(yield* requestsFor("grok-4-fast")).toBe(1)
    })))

  it.effect("answers from the first model when it is healthy, without touching the others", () =>
    loopback(Effect.gen(function*() {
      const { driven, requestsFor } = yield* setup([])
      const answer = yield* driven(Fallback.chat(hello, { fallbacks: ["grok-4-fast", "grok-3"] }))
      expect(answer).toMatchObject({ model: "grok-4", failed: [] })
      expect(yield* requestsFor("grok-4-fast")).toBe(0)
    })))

  it.effect("a bad request never falls back", () =>
    loopback(Effect.gen(function*() {
      const { driven, requestsFor } = yield* setup([down("grok-4", 400)])
      const error = yield* driven(Effect.flip(Fallback.chat(hello, { fallbacks: ["grok-4-fast"], orElse: () => Fallback.canned("busy") })))
      expect(error._tag).toBe("BadRequest")
      expect(yield* requestsFor("grok-4")).toBe(1)
      expect(yield* requestsFor("grok-4-fast")).toBe(0)
    })))

  it.effect("a rate limit falls back at once when its Retry-After is beyond the cap", () =>
    loopback(Effect.gen(function*() {
      const { driven, requestsFor } = yield* setup([
        { model: "grok-4", fault: { kind: "status", status: 429, headers: { "retry-after": "3600" } } }
      ])
      const answer = yield* driven(Fallback.chat(hello, { fallbacks: ["grok-4-fast"] }))
      expect(answer.model).toBe("grok-4-fast")
      expect(answer.failed[0]?.error._tag).toBe("RateLimited")
      expect(yield* requestsFor("grok-4")).toBe(1)
    })))

  it.effect("walks the whole chain, then takes the canned answer", () =>
    loopback(Effect.gen(function*() {
      const { driven, requestsFor } = yield* setup([down("grok-4"), down("grok-4-fast", 500)])
      const answer = yield* driven(Fallback.chat(hello, {
        fallbacks: ["grok-4-fast"],
        orElse: () => Fallback.canned("We are busy, please try again.")
      }))
      expect(answer.model).toBeUndefined()
      expect(Chat.contentOf(answer.value)).toBe("We are busy, please try again.")
      expect(answer.failed.map((failure) => failure.model)).toEqual(["grok-4", "grok-4-fast"])
      expect(yield* requestsFor("grok-4-fast")).toBe(4)
    })))

  it.effect("without orElse, the last model's error is the call's error", () =>
    loopback(Effect.gen(function*() {
      const { driven } = yield* setup([down("grok-4"), down("grok-4-fast", 502)])
      const error = yield* driven(Effect.flip(Fallback.chat(hello, { fallbacks: ["grok-4-fast"] })))
      expect(error._tag).toBe("ServerError")
      expect(error.status).toBe(502)
    })))

  it.effect("once the first model's breaker is open, calls go straight to the next model", () =>
    loopback(Effect.gen(function*() {
      // A break longer than the retries' backoff, so that no retry probes meanwhile.
      const { driven, requestsFor } = yield* setup([down("grok-4")], { breakDuration: "1 minute" })
      const calls = (count: number) =>
        driven(Effect.forEach(Array.from({ length: count }), () => Fallback.chat(hello, { fallbacks: ["grok-4-fast"] })))
      const first = yield* calls(3)
      // 10 failed attempts (two calls and their 3 retries each, two attempts of the third) open
      // the breaker.
      expect(yield* requestsFor("grok-4")).toBe(10)
      // From then on each call fails over on CircuitOpen at once, without reaching grok-4 and
      // without waiting for its breaker (which waits by default).
      const started = yield* TestClock.currentTimeMillis
      const answers = [...first, ...(yield* calls(27))]
      expect(answers.every((answer) => answer.model === "grok-4-fast")).toBe(true)
      expect(yield* requestsFor("grok-4")).toBe(10)
      expect(yield* TestClock.currentTimeMillis).toBe(started)
      expect(answers.at(-1)?.failed.map((failure) => failure.error._tag)).toEqual(["CircuitOpen"])
    })))
})

describe("Fallback.chatStream and Fallback.plan", () => {
  it.effect("a stream falls back before its first chunk", () =>
    loopback(Effect.gen(function*() {
      const { driven } = yield* setup([down("grok-4")])
      const chunks = yield* driven(Stream.runCollect(Fallback.chatStream(hello, { fallbacks: ["grok-4-fast"] })))
      const models = new Set(Chunk.toReadonlyArray(chunks).map((chunk) => chunk.model))
      expect([...models]).toEqual(["grok-4-fast"])
    })))

  it.effect("the plan works on any effect that reads the current step", () =>
    loopback(Effect.gen(function*() {
      const { driven, grok } = yield* setup([down("embed-a")])
      const response = yield* driven(
        Effect.flatMap(Fallback.CurrentStep, ({ model }) => grok.embed({ model, input: "hi" })).pipe(
          Effect.withExecutionPlan(Fallback.plan(["embed-a", "embed-b"]))
        )
      )
      expect(response.model).toBe("embed-b")
      expect(ExecutionPlan.isExecutionPlan(Fallback.plan(["a"]))).toBe(true)
    })))

  it("isTrigger: service trouble moves the chain on, refusals do not", () => {
    const fields = { message: "m", status: null, retryable: true }
    expect(Fallback.isTrigger(new GrokError.CircuitOpen({ ...fields, key: "chat:grok-4" }))).toBe(true)
    expect(Fallback.isTrigger(new GrokError.RateLimited({ ...fields, status: 429, limit: "tokens" }))).toBe(true)
    expect(Fallback.isTrigger(new GrokError.QueueRejected({ ...fields, retryable: false, reason: "too-large" }))).toBe(false)
    expect(Fallback.isTrigger(new GrokError.BadRequest({ ...fields, status: 400, retryable: false }))).toBe(false)
    expect(Fallback.isTrigger(new GrokError.QuotaExhausted({ ...fields, status: 429, retryable: false }))).toBe(false)
  })
})

interface Captured {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** The real CLI in process, its output captured, driven against `sim`. */
const cli = (sim: Simulator.Service, args: ReadonlyArray<string>): Effect.Effect<Captured> =>
  Effect.gen(function*() {
    const out = { stdout: "", stderr: "" }
    const toStderr = (...parts: ReadonlyArray<unknown>) => {
      out.stderr += `${parts.map(String).join(" ")}\n`
    }
    const base = yield* Console.consoleWith(Effect.succeed)
    const quiet: Console.Console = {
      ...base,
      log: (...parts) => Effect.sync(() => toStderr(...parts)),
      error: (...parts) => Effect.sync(() => toStderr(...parts)),
      warn: (...parts) => Effect.sync(() => toStderr(...parts)),
      info: (...parts) => Effect.sync(() => toStderr(...parts)),
      debug: (...parts) => Effect.sync(() => toStderr(...parts)),
      unsafe: { ...base.unsafe, log: toStderr, error: toStderr, warn: toStderr, info: toStderr, debug: toStderr }
    }
    const fiber = yield* Effect.fork(run(args).pipe(
      Effect.provideService(CliOutput, {
        stdout: (text: string) => {
          out.stdout += text
        },
        stderr: (text: string) => {
          out.stderr += text
        },
        isTTY: false
      }),
      Console.withConsole(quiet),
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["XAI_API_KEY", "k"]])))
    ))
    const code = yield* drive(fiber, simulatorActivity(sim))
    return { code, ...out }
  })

describe("CLI --fallback-model", () => {
  it.effect("load: 100 of 100 requests succeed while the primary is down, the primary sees at most 30", () =>
    loopback(Effect.gen(function*() {
      const sim = yield* Simulator.make({ seed: 13, faults: [down("grok-4")] })
      const result = yield* cli(sim, [
        "load", "--base-url", sim.url, "--model", "grok-4", "--fallback-model", "grok-4-fast",
        "--requests", "100", "--concurrency", "10", "--json"
      ])
      expect(result.code).toBe(0)
      const summary = JSON.parse(result.stdout) as { ok: number; failed: number; models: Record<string, number> }
      expect(summary).toMatchObject({ ok: 100, failed: 0, models: { "grok-4-fast": 100 } })
      const log = yield* sim.log
      expect(log.filter((entry) => entry.model === "grok-4-fast")).toHaveLength(100)
      expect(log.filter((entry) => entry.model === "grok-4").length).toBeLessThanOrEqual(30)
    })))

  it.effect("load: the fallbacks are tried in order", () =>
    loopback(Effect.gen(function*() {
      const sim = yield* Simulator.make({ seed: 17, faults: [down("grok-4"), down("grok-4-fast", 500)] })
      const result = yield* cli(sim, [
        "load", "--base-url", sim.url, "--model", "grok-4", "--fallback-model", "grok-4-fast", "--fallback-model", "grok-3",
        "--requests", "20", "--concurrency", "4", "--json"
      ])
      expect(result.code).toBe(0)
      expect(JSON.parse(result.stdout)).toMatchObject({ ok: 20, models: { "grok-3": 20 } })
    })))

  it.effect("chat: answers from the fallback model; a bad request does not fall back", () =>
    loopback(Effect.gen(function*() {
      const sim = yield* Simulator.make({ seed: 19, faults: [down("grok-4")] })
      const ok = yield* cli(sim, ["chat", "--base-url", sim.url, "--model", "grok-4", "--fallback-model", "grok-4-fast", "--json", "hello"])
      expect(ok.code).toBe(0)
      expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, model: "grok-4-fast", content: "Simulated reply to \"hello\"." })

      const streamed = yield* cli(sim, ["chat", "--base-url", sim.url, "--model", "grok-4", "--fallback-model", "grok-4-fast", "--stream", "--json", "hello"])
      expect(JSON.parse(streamed.stdout)).toMatchObject({ ok: true, model: "grok-4-fast" })

      yield* sim.setFaults([down("grok-4", 400)])
      const before = (yield* sim.log).filter((entry) => entry.model === "grok-4-fast").length
      const bad = yield* cli(sim, ["chat", "--base-url", sim.url, "--model", "grok-4", "--fallback-model", "grok-4-fast", "--json", "hello"])
      expect(bad.code).toBe(1)
      expect(JSON.parse(bad.stdout)).toMatchObject({ ok: false, error: { _tag: "BadRequest", status: 400 } })
      expect((yield* sim.log).filter((entry) => entry.model === "grok-4-fast")).toHaveLength(before)
    })))
})
