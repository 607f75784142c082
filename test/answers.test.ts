/**
 * What an answer says about itself, as the client records it, over real loopback sockets on
 * the TestClock: the default model (grok-4.3), a silent model redirect (counted, logged once
 * per pair, never for a dated or regional release), the service tier granted (passed
 * through, counted, on the span), and the cost from `usage.cost_in_usd_ticks` (live calls
 * and batch results alike).
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { describe, expect, it } from "@effect/vitest"
import type { HttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Chunk, Effect, Either, Logger, LogLevel, Metric, Option, type Scope, Stream } from "effect"
import * as GrokBatch from "../src/GrokBatch.js"
import * as GrokClient from "../src/GrokClient.js"
import * as GrokConfig from "../src/GrokConfig.js"
import { isRedirect } from "../src/internal/modelRedirect.js"
import * as Simulator from "../src/simulator/Simulator.js"
import * as Metrics from "../src/telemetry/Metrics.js"
import { drive, simulatorActivity } from "./support/drive.js"

const KEY = "xai-answers-test-key-0123456789"

const loopback = <A, E>(body: Effect.Effect<A, E, Scope.Scope | HttpClient.HttpClient>) =>
  body.pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))

const setup = (options: Simulator.SimulatorOptions = {}) =>
  Effect.gen(function*() {
    const sim = yield* Effect.orDie(Simulator.make({ seed: 3, ...options }))
    const config = Either.getOrThrow(GrokConfig.make({ apiKey: KEY, baseUrl: sim.url }))
    const grok = yield* GrokClient.make(config)
    const driven = <A, E>(program: Effect.Effect<A, E>) => Effect.flatMap(Effect.fork(program), (fiber) => drive(fiber, simulatorActivity(sim)))
    return { sim, grok, config, driven }
  })

const ask = (model?: string, extra: Partial<GrokClient.ChatRequest> = {}): GrokClient.ChatRequest => ({
  ...(model === undefined ? {} : { model }),
  messages: [{ role: "user", content: "Say hi" }],
  ...extra
})

const counter = (metric: Metric.Metric.Counter<number>, labels: Record<string, string>) =>
  Effect.map(
    Metric.value(Object.entries(labels).reduce((tagged, [key, value]) => Metric.tagged(tagged, key, value), metric)),
    (state) => state.count
  )

const warnings = (lines: Array<string>) =>
  Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ logLevel, message }) => {
      if (logLevel === LogLevel.Warning) lines.push(Array.isArray(message) ? message.map(String).join(" ") : String(message))
    })
  )

describe("the default model", () => {
  it.effect("is grok-4.3, in the config and on the wire", () =>
    loopback(Effect.gen(function*() {
      expect(GrokConfig.defaultModel).toBe("grok-4.3")
      const { config, driven, grok, sim } = yield* setup()
      expect(config.model).toBe("grok-4.3")
      const reply = yield* driven(grok.chat(ask()))
      expect(reply.model).toBe("grok-4.3")
      expect((yield* sim.log)[0]!.model).toBe("grok-4.3")
    })))
})

describe("silent model redirects", () => {
  it("a different model is a redirect; a dated, regional or reasoning variant of the same one is not", () => {
    expect(isRedirect("grok-4-fast-reasoning", "grok-4.3")).toBe(true)
    expect(isRedirect("grok-3", "grok-4.3")).toBe(true)
    expect(isRedirect("grok-4-0709", "grok-4.3")).toBe(true)
    expect(isRedirect("grok-4", "grok-4-fast-reasoning")).toBe(true)
    expect(isRedirect("grok-4-fast-reasoning", "grok-4-fast-non-reasoning")).toBe(true)
    expect(isRedirect("grok-4.3", "grok-4.3")).toBe(false)
    expect(isRedirect("grok-4", "grok-4-0709")).toBe(false)
    expect(isRedirect("grok-4.20-reasoning", "grok-4.20-0309-reasoning")).toBe(false)
    expect(isRedirect("grok-4-fast", "grok-4-fast-reasoning")).toBe(false)
    expect(isRedirect("grok-4-fast-reasoning", "grok-4-fast-reasoning_us-east-1")).toBe(false)
    expect(isRedirect("Grok-4.3", "grok-4.3-2026-05-01")).toBe(false)
    expect(isRedirect("grok-latest", "grok-4.3")).toBe(false)
    expect(isRedirect("grok-code-fast-1", "grok-code-fast-1")).toBe(false)
  })

  it.effect("a retired model answered by grok-4.3: counted every time, logged once per pair, on the span", () => {
    const lines: Array<string> = []
    const exporter = new InMemorySpanExporter()
    return loopback(Effect.gen(function*() {
      const { driven, grok } = yield* setup({ redirects: Simulator.retiredModels })
      const labels = { "gen_ai.request.model": "grok-4-fast-reasoning", "gen_ai.response.model": "grok-4.3" }
      const before = yield* counter(Metrics.modelRedirects, labels)
      const replies = yield* driven(Effect.all([grok.chat(ask("grok-4-fast-reasoning")), grok.chat(ask("grok-4-fast-reasoning"))], { concurrency: 1 }))
      expect(replies.map((reply) => reply.model)).toEqual(["grok-4.3", "grok-4.3"])
      expect((yield* counter(Metrics.modelRedirects, labels)) - before).toBe(2)
      // Another pair: logged too; the model asked for and served on its own is not.
      yield* driven(Stream.runDrain(grok.chatStream(ask("grok-3"))))
      yield* driven(grok.chat(ask("grok-4.3")))
      expect(lines).toEqual([
        expect.stringMatching(/^Grok answered with model grok-4\.3 for a request to grok-4-fast-reasoning: a silent redirect/),
        expect.stringMatching(/^Grok answered with model grok-4\.3 for a request to grok-3: a silent redirect/)
      ])
      const attempt = exporter.getFinishedSpans().find((span) => span.name === "effect_grok.attempt")!
      expect(attempt.attributes).toMatchObject({ "gen_ai.request.model": "grok-4-fast-reasoning", "gen_ai.response.model": "grok-4.3" })
    })).pipe(
      Effect.provide(NodeSdk.layer(() => ({ spanProcessor: new SimpleSpanProcessor(exporter) }))),
      Effect.provide(warnings(lines)),
      Logger.withMinimumLogLevel(LogLevel.All)
    )
  })

  it.effect("a dated release of the model asked for is not a redirect", () => {
    const lines: Array<string> = []
    return loopback(Effect.gen(function*() {
      const { driven, grok } = yield* setup({ redirects: { "grok-4": "grok-4-0709" } })
      const before = yield* counter(Metrics.modelRedirects, { "gen_ai.request.model": "grok-4", "gen_ai.response.model": "grok-4-0709" })
      expect((yield* driven(grok.chat(ask("grok-4")))).model).toBe("grok-4-0709")
      expect(yield* counter(Metrics.modelRedirects, { "gen_ai.request.model": "grok-4", "gen_ai.response.model": "grok-4-0709" })).toBe(before)
      expect(lines).toEqual([])
    })).pipe(Effect.provide(warnings(lines)), Logger.withMinimumLogLevel(LogLevel.All))
  })
})

describe("service_tier", () => {
  it.effect("passes through; the tier granted is counted and put on the span, for chat, streams and responses", () => {
    const exporter = new InMemorySpanExporter()
    return loopback(Effect.gen(function*() {
      const { driven, grok } = yield* setup()
      const labels = { "gen_ai.request.model": "grok-4.3", service_tier: "priority" }
      const before = yield* counter(Metrics.serviceTiers, labels)
      const reply = yield* driven(grok.chat(ask(undefined, { service_tier: "priority" })))
      expect(reply.service_tier).toBe("priority")
      const chunks = yield* driven(Stream.runCollect(grok.chatStream(ask(undefined, { service_tier: "priority" }))))
      expect(Chunk.toReadonlyArray(chunks).some((chunk) => chunk.service_tier === "priority")).toBe(true)
      const response = yield* driven(grok.responses({ input: "Say hi", service_tier: "priority" }))
      expect(response.service_tier).toBe("priority")
      expect((yield* counter(Metrics.serviceTiers, labels)) - before).toBe(3)
      // No tier asked, none granted: nothing counted.
      yield* driven(grok.chat(ask()))
      expect((yield* counter(Metrics.serviceTiers, labels)) - before).toBe(3)
      const tiers = exporter.getFinishedSpans().map((span) => span.attributes["effect_grok.response.service_tier"]).filter((tier) => tier !== undefined)
      expect(tiers).toEqual(["priority", "priority", "priority"])
    })).pipe(Effect.provide(NodeSdk.layer(() => ({ spanProcessor: new SimpleSpanProcessor(exporter) }))))
  })
})

describe("cost", () => {
  it.effect("the cost metric adds usage.cost_in_usd_ticks, from live answers and from batch results", () =>
    loopback(Effect.gen(function*() {
      const { config, driven, grok, sim } = yield* setup({ batch: { processing: { min: "1 second", max: "1 second" } } })
      const cost = counter(Metrics.costTicks, { "gen_ai.request.model": "grok-4.3" })
      const before = yield* cost
      const reply = yield* driven(grok.chat(ask()))
      const ticks = reply.usage!.cost_in_usd_ticks!
      expect(ticks).toBeGreaterThan(0)
      expect((yield* cost) - before).toBe(ticks)

      const batches = yield* GrokBatch.make(config)
      const outcomes = yield* driven(Stream.runCollect(batches.run({ name: "cost", requests: [{ id: "a", chat: ask() }, { id: "b", chat: ask() }] })))
      const batchTicks = Chunk.toReadonlyArray(outcomes)
        .map((outcome) => Option.match(GrokBatch.completionOf(outcome), { onNone: () => 0, onSome: (completion) => completion.usage?.cost_in_usd_ticks ?? 0 }))
        .reduce((sum, t) => sum + t, 0)
      // Batch prices are 20% off on grok-4.3.
      expect(batchTicks).toBe(2 * Math.round(ticks * 0.8))
      expect((yield* cost) - before).toBe(ticks + batchTicks)
      expect(yield* sim.batches).toHaveLength(1)
    })))
})
