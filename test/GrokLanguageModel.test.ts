/**
 * effect-grok as the @effect/ai provider, through @effect/ai's own API (`LanguageModel`,
 * `Toolkit`, `Prompt`, `ExecutionPlan`) against the simulator over real loopback sockets, on
 * the TestClock: answers of both xAI APIs with their usage, reasoning, streams, structured
 * output, a tool-call round trip, retries before the first part and partial output after it,
 * and GrokErrors surfacing as AiErrors whose cause can still be read.
 */
import { AiError, LanguageModel, Prompt, Tool, Toolkit } from "@effect/ai"
import type * as Response from "@effect/ai/Response"
import { describe, expect, it } from "@effect/vitest"
import type { HttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Chunk, Clock, Duration, Effect, Either, ExecutionPlan, Layer, Schema, type Scope, Stream } from "effect"
import * as GrokLanguageModel from "../src/ai/GrokLanguageModel.js"
import * as GrokClient from "../src/GrokClient.js"
import * as GrokConfig from "../src/GrokConfig.js"
import type * as GrokError from "../src/GrokError.js"
import * as RateLimiter from "../src/resilience/RateLimiter.js"
import * as RetryPolicy from "../src/resilience/RetryPolicy.js"
import type * as FaultPlan from "../src/simulator/FaultPlan.js"
import * as Simulator from "../src/simulator/Simulator.js"
import { drive, simulatorActivity } from "./support/drive.js"

const KEY = "xai-effect-ai-test-key-0123456789"
const PROMPT = "Say hi in Portuguese"
/** The simulator's answer to {@link PROMPT}, one token per word. */
const REPLY = "Simulated reply to \"Say hi in Portuguese\"."
/** The visible reasoning of a reasoning model, one token per word. */
const REASONING = "Reading the request and choosing a short, direct answer."

const apis: ReadonlyArray<GrokLanguageModel.Api> = ["responses", "chat"]
const pathOf = (api: GrokLanguageModel.Api) => (api === "chat" ? "/v1/chat/completions" : "/v1/responses")

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

const loopback = <A, E>(body: Effect.Effect<A, E, Scope.Scope | HttpClient.HttpClient>) =>
  body.pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))

/** A limiter that admits everything and remembers what it was asked and told. */
const recordingLimiter = () => {
  const tickets: Array<RateLimiter.Ticket> = []
  const outcomes: Array<RateLimiter.Outcome> = []
  const limiter: RateLimiter.Service = {
    acquire: (ticket) =>
      Effect.sync(() => {
        tickets.push(ticket)
        return { waited: Duration.zero, release: (outcome) => Effect.sync(() => void outcomes.push(outcome)) }
      }),
    stats: RateLimiter.unlimited.stats
  }
  return { limiter, tickets, outcomes }
}

interface SetupOptions {
  readonly faults?: FaultPlan.FaultPlan
  readonly sim?: Simulator.SimulatorOptions
  readonly model?: string
  readonly config?: Omit<GrokLanguageModel.Config.Service, "model">
}

/**
 * The simulator, a GrokClient on it (with a recording limiter), and `run`: a program using
 * `LanguageModel` (provided by `GrokLanguageModel.layer`), driven to completion on the TestClock.
 */
const setup = (options: SetupOptions = {}) =>
  Effect.gen(function*() {
    const sim = yield* Effect.orDie(Simulator.make({ ...options.sim, faults: options.faults ?? [] }))
    const config = Either.getOrThrow(GrokConfig.make({ apiKey: KEY, baseUrl: sim.url, model: "grok-4" }))
    const recorded = recordingLimiter()
    const grok = yield* GrokClient.make(config).pipe(Effect.provideService(RateLimiter.RateLimiter, recorded.limiter))
    const client = Layer.succeed(GrokClient.GrokClient, grok)
    const model = GrokLanguageModel.layer({ model: options.model ?? "grok-4", config: options.config }).pipe(Layer.provide(client))
    const run = <A, E>(program: Effect.Effect<A, E, LanguageModel.LanguageModel | GrokClient.GrokClient>) =>
      Effect.flatMap(Effect.fork(program.pipe(Effect.provide(model), Effect.provide(client))), (fiber) =>
        drive(fiber, simulatorActivity(sim)))
    const failure = <A>(program: Effect.Effect<A, AiError.AiError, LanguageModel.LanguageModel | GrokClient.GrokClient>) =>
      run(Effect.flip(program)).pipe(Effect.orDieWith(() => new Error("expected a failure, got a success")))
    return { sim, grok, run, failure, ...recorded }
  })

const collect = <A, E, R>(stream: Stream.Stream<A, E, R>) => Effect.map(Stream.runCollect(stream), Chunk.toReadonlyArray)

const textOfParts = (parts: ReadonlyArray<{ readonly type: string }>) =>
  parts.map((part) => (part.type === "text-delta" && "delta" in part ? part.delta : "")).join("")

/** The GrokError behind an AiError, checked to be of `tag`. */
const causeOf = <T extends GrokError.Tag>(error: AiError.AiError, tag: T): Extract<GrokError.GrokError, { readonly _tag: T }> => {
  const cause = GrokLanguageModel.grokError(error)
  if (cause?._tag !== tag) throw new Error(`expected a ${tag} cause, got ${cause?._tag ?? "none"}: ${error.message}`)
  return cause as Extract<GrokError.GrokError, { readonly _tag: T }>
}

// ---------------------------------------------------------------------------
// generateText
// ---------------------------------------------------------------------------

describe("LanguageModel.generateText on GrokLanguageModel", () => {
  it.effect.each(apis)("%s: the text, finish reason, usage (reasoning counted once) and metadata; one limiter permit", (api) =>
    loopback(Effect.gen(function*() {
      const { outcomes, run, sim, tickets } = yield* setup({ config: { api } })
      const response = yield* run(LanguageModel.generateText({
        prompt: [{ role: "system", content: "You are a helpful assistant" }, { role: "user", content: PROMPT }]
      }))
      expect(response.text).toBe(REPLY)
      expect(response.finishReason).toBe("stop")
      // grok-4 reasons without showing it: 12 prompt tokens, 7 words, 9 reasoning tokens.
      expect(response.usage).toMatchObject({ inputTokens: 12, outputTokens: 7 + 9, reasoningTokens: 9, totalTokens: 28, cachedInputTokens: 0 })
      const metadata = response.content.find((part) => part.type === "response-metadata")
      expect(metadata?.type === "response-metadata" && metadata.modelId._tag === "Some" ? metadata.modelId.value : undefined).toBe("grok-4")
      const finish = response.content.find((part) => part.type === "finish")
      expect(finish?.metadata.xai?.costInUsdTicks).toBeGreaterThan(0)
      const log = yield* sim.log
      expect(log.map((entry) => [entry.path, entry.stream, entry.status])).toEqual([[pathOf(api), false, 200]])
      // The call went through the client's limiter, which learned the real usage.
      expect(tickets).toHaveLength(1)
      expect(outcomes.map((outcome) => [outcome.status, outcome.usedTokens])).toEqual([[200, 28]])
    })))

  it.effect.each(apis)("%s: a visible-reasoning model's reasoning arrives as reasoning parts", (api) =>
    loopback(Effect.gen(function*() {
      const { run } = yield* setup({ model: "grok-3-mini", config: { api } })
      const response = yield* run(LanguageModel.generateText({ prompt: PROMPT }))
      expect(response.reasoningText).toBe(REASONING)
      expect(response.text).toBe(REPLY)
      expect(response.content.map((part) => part.type)).toEqual(["response-metadata", "reasoning", "text", "finish"])
    })))

  it.effect("maxOutputTokens cuts the answer: finish reason length, on both APIs", () =>
    loopback(Effect.gen(function*() {
      for (const api of apis) {
        const { run } = yield* setup({ config: { api, maxOutputTokens: 2 } })
        const response = yield* run(LanguageModel.generateText({ prompt: PROMPT }))
        expect([api, response.text, response.finishReason]).toEqual([api, "Simulated reply", "length"])
      }
    })))

  it.effect("withConfigOverride: per-call settings over the model's (here the API and the model)", () =>
    loopback(Effect.gen(function*() {
      const { run, sim } = yield* setup()
      yield* run(LanguageModel.generateText({ prompt: PROMPT }).pipe(GrokLanguageModel.withConfigOverride({ api: "chat", model: "grok-3" })))
      yield* run(LanguageModel.generateText({ prompt: PROMPT }))
      expect((yield* sim.log).map((entry) => [entry.path, entry.model])).toEqual([
        ["/v1/chat/completions", "grok-3"],
        ["/v1/responses", "grok-4"]
      ])
    })))
})

// ---------------------------------------------------------------------------
// Failures
// ---------------------------------------------------------------------------

describe("GrokLanguageModel failures", () => {
  it.effect("a 503 chain is retried under the client's policy; the caller sees one answer", () =>
    loopback(Effect.gen(function*() {
      const { run, sim } = yield* setup({ faults: [{ nth: [1, 2], fault: { kind: "status", status: 503 } }] })
      const started = yield* Clock.currentTimeMillis
      const response = yield* run(LanguageModel.generateText({ prompt: PROMPT }))
      expect(response.text).toBe(REPLY)
      expect((yield* sim.log).map((entry) => entry.status)).toEqual([503, 503, 200])
      // Backoff between the attempts, on the TestClock.
      expect((yield* Clock.currentTimeMillis) - started).toBeGreaterThan(0)
    })))

  it.effect("a 422 surfaces as an AiError after one request, its GrokError readable as the cause", () =>
    loopback(Effect.gen(function*() {
      const { failure, sim } = yield* setup({ faults: [{ fault: { kind: "status", status: 422 } }] })
      const error = yield* failure(LanguageModel.generateText({ prompt: PROMPT }))
      expect(AiError.isAiError(error)).toBe(true)
      expect(error._tag).toBe("UnknownError")
      const cause = causeOf(error, "BadRequest")
      expect([cause.status, cause.retryable]).toEqual([422, false])
      const log = yield* sim.log
      expect(log).toHaveLength(1)
      expect(cause.requestId).toBe(log[0]!.requestId)
      expect(error.message).toContain("HTTP 422")
    })))

  it.effect("a 429 keeps its Retry-After: retried no sooner; with retries off, the cause says how long to wait", () =>
    loopback(Effect.gen(function*() {
      const faults: FaultPlan.FaultPlan = [{ nth: [1], fault: { kind: "status", status: 429, headers: { "retry-after": "7" } } }]
      const retried = yield* setup({ faults })
      const started = yield* Clock.currentTimeMillis
      expect((yield* retried.run(LanguageModel.generateText({ prompt: PROMPT }))).text).toBe(REPLY)
      const log = yield* retried.sim.log
      expect(log.map((entry) => entry.status)).toEqual([429, 200])
      expect(log[1]!.startedAt - log[0]!.startedAt).toBeGreaterThanOrEqual(7000)
      expect((yield* Clock.currentTimeMillis) - started).toBeGreaterThanOrEqual(7000)

      const once = yield* setup({ faults })
      const error = yield* once.failure(
        LanguageModel.generateText({ prompt: PROMPT }).pipe(GrokLanguageModel.withConfigOverride({ retry: RetryPolicy.make({ maxRetries: 0 }) }))
      )
      const cause = causeOf(error, "RateLimited")
      expect([cause.status, cause.retryable, cause.retryAfter === undefined ? undefined : Duration.toMillis(cause.retryAfter)]).toEqual([429, true, 7000])
      expect(yield* once.sim.requestCount).toBe(1)
    })))

  it.effect("a prompt that cannot be sent is MalformedInput, and nothing is sent", () =>
    loopback(Effect.gen(function*() {
      const { failure, sim } = yield* setup()
      const pdf = Prompt.make([{ role: "user", content: [{ type: "file", mediaType: "application/pdf", data: new Uint8Array([1, 2, 3]) }] }])
      const file = yield* failure(LanguageModel.generateText({ prompt: pdf }))
      expect(file._tag).toBe("MalformedInput")
      expect(file.message).toContain("application/pdf")
      const empty = yield* failure(LanguageModel.generateText({ prompt: Prompt.empty }))
      expect(empty._tag).toBe("MalformedInput")
      expect(causeOf(empty, "BadRequest").status).toBeNull()
      expect(yield* sim.requestCount).toBe(0)
    })))

  it.effect("in an ExecutionPlan: a model that is not found falls back to the next", () =>
    loopback(Effect.gen(function*() {
      const { run, sim } = yield* setup({ faults: [{ model: "grok-retired", fault: { kind: "status", status: 404 } }] })
      const plan = ExecutionPlan.make(
        { provide: GrokLanguageModel.model("grok-retired"), attempts: 1 },
        { provide: GrokLanguageModel.model("grok-4") }
      )
      const response = yield* run(LanguageModel.generateText({ prompt: PROMPT }).pipe(Effect.withExecutionPlan(plan)))
      expect(response.text).toBe(REPLY)
      expect((yield* sim.log).map((entry) => [entry.model, entry.status])).toEqual([["grok-retired", 404], ["grok-4", 200]])
    })))
})

// ---------------------------------------------------------------------------
// streamText
// ---------------------------------------------------------------------------

describe("LanguageModel.streamText on GrokLanguageModel", () => {
  it.effect.each(apis)("%s: metadata, text start/deltas/end, finish with the usage", (api) =>
    loopback(Effect.gen(function*() {
      const { run, sim } = yield* setup({ config: { api } })
      const parts = yield* run(collect(LanguageModel.streamText({ prompt: PROMPT })))
      const types = parts.map((part) => part.type)
      expect(types[0]).toBe("response-metadata")
      expect(types[1]).toBe("text-start")
      expect(types.slice(-2)).toEqual(["text-end", "finish"])
      expect(types.filter((type) => type === "text-delta")).toHaveLength(7)
      expect(textOfParts(parts)).toBe(REPLY)
      const finish = parts.at(-1)
      // 5 prompt tokens (20 characters), 7 words, 9 hidden reasoning tokens.
      expect(finish?.type === "finish" ? [finish.reason, finish.usage.totalTokens, finish.usage.reasoningTokens] : undefined).toEqual(["stop", 21, 9])
      expect((yield* sim.log).map((entry) => [entry.path, entry.stream, entry.outcome])).toEqual([[pathOf(api), true, "completed"]])
    })))

  it.effect.each(apis)("%s: reasoning streams as reasoning parts, closed before the text", (api) =>
    loopback(Effect.gen(function*() {
      const { run } = yield* setup({ model: "grok-3-mini", config: { api } })
      const parts = yield* run(collect(LanguageModel.streamText({ prompt: PROMPT })))
      const reasoning = parts.map((part) => (part.type === "reasoning-delta" ? part.delta : "")).join("")
      expect(reasoning).toBe(REASONING)
      const types = parts.map((part) => part.type)
      expect(types.indexOf("reasoning-end")).toBeLessThan(types.indexOf("text-start"))
      expect(types.indexOf("reasoning-start")).toBeLessThan(types.indexOf("reasoning-delta"))
    })))

  it.effect.each(apis)("%s: a stream cut before its first part is retried; the caller sees one answer", (api) =>
    loopback(Effect.gen(function*() {
      // Responses: created, in_progress, output_item.added (no text yet). Chat: nothing at all.
      const { run, sim } = yield* setup({ config: { api }, faults: [{ nth: [1], fault: { kind: "dropStream", afterChunks: api === "chat" ? 0 : 3 } }] })
      const parts = yield* run(collect(LanguageModel.streamText({ prompt: PROMPT })))
      expect(textOfParts(parts)).toBe(REPLY)
      expect(parts.filter((part) => part.type === "response-metadata")).toHaveLength(1)
      expect((yield* sim.log).map((entry) => entry.outcome)).toEqual(["aborted", "completed"])
    })))

  it.effect("a stream silent before its first part is retried after the first-token timeout", () =>
    loopback(Effect.gen(function*() {
      const { run, sim } = yield* setup({ config: { firstTokenTimeout: "5 seconds" }, faults: [{ nth: [1], fault: { kind: "stall" } }] })
      const started = yield* Clock.currentTimeMillis
      const parts = yield* run(collect(LanguageModel.streamText({ prompt: PROMPT })))
      expect(textOfParts(parts)).toBe(REPLY)
      expect((yield* Clock.currentTimeMillis) - started).toBeGreaterThanOrEqual(5000)
      expect((yield* sim.log).map((entry) => entry.outcome)).toEqual(["client-closed", "completed"])
    })))

  it.effect.each(apis)("%s: a stream cut after its first part fails with the partial output, not retried", (api) =>
    loopback(Effect.gen(function*() {
      // Responses: 4 events before the text, then three words. Chat: three words.
      const { run, sim } = yield* setup({ config: { api }, faults: [{ fault: { kind: "dropStream", afterChunks: api === "chat" ? 3 : 7 } }] })
      const received: Array<Response.StreamPart<{}>> = []
      const error = yield* run(Effect.flip(
        Stream.runForEach(LanguageModel.streamText({ prompt: PROMPT }), (part) => Effect.sync(() => void received.push(part)))
      ))
      expect(textOfParts(received)).toBe("Simulated reply to")
      expect(error._tag).toBe("UnknownError")
      const cause = causeOf(error, "StreamBroken")
      expect(cause.partial.content).toBe("Simulated reply to")
      expect(cause.retryable).toBe(false)
      expect(yield* sim.requestCount).toBe(1)
    })))
})

// ---------------------------------------------------------------------------
// generateObject
// ---------------------------------------------------------------------------

class Person extends Schema.Class<Person>("Person")({
  name: Schema.String,
  age: Schema.Int.pipe(Schema.between(18, 120)),
  languages: Schema.Array(Schema.Literal("pt", "en")),
  home: Schema.Struct({ city: Schema.String, sunny: Schema.Boolean })
}) {}

describe("LanguageModel.generateObject on GrokLanguageModel", () => {
  it.effect.each(apis)("%s: the schema goes out as json_schema; the answer decodes to the Schema's type", (api) =>
    loopback(Effect.gen(function*() {
      const { run } = yield* setup({ config: { api } })
      const response = yield* run(LanguageModel.generateObject({ prompt: "Describe Alice", schema: Person }))
      expect(response.value).toBeInstanceOf(Person)
      // The simulator fills every string with the prompt's words and every number with its lower bound.
      expect({ ...response.value }).toEqual({
        name: "Describe Alice",
        age: 18,
        languages: ["pt"],
        home: { city: "Describe Alice", sunny: true }
      })
      expect(response.finishReason).toBe("stop")
    })))

  it.effect("an answer that does not fit the schema (cut by maxOutputTokens) is MalformedOutput", () =>
    loopback(Effect.gen(function*() {
      const { failure } = yield* setup({ config: { maxOutputTokens: 3 } })
      const error = yield* failure(LanguageModel.generateObject({ prompt: "Describe Alice", schema: Person }))
      expect(error._tag).toBe("MalformedOutput")
    })))
})

// ---------------------------------------------------------------------------
// Tools
// ---------------------------------------------------------------------------

const Weather = Tool.make("weather", {
  description: "Get weather information for a location",
  parameters: { location: Schema.String },
  success: Schema.Struct({ celsius: Schema.Number })
})

const Tools = Toolkit.make(Weather)

describe("a tool-call round trip with a Toolkit", () => {
  it.effect.each(apis)("%s: the model calls the tool, the handler answers, the model answers with its result", (api) =>
    loopback(Effect.gen(function*() {
      const { run, sim } = yield* setup({ config: { api } })
      const asked: Array<string> = []
      const handlers = Tools.toLayer({
        weather: ({ location }) => Effect.sync(() => void asked.push(location)).pipe(Effect.as({ celsius: 40 }))
      })
      const prompt = Prompt.make("What is the weather in Florence?")
      const first = yield* run(LanguageModel.generateText({ prompt, toolkit: Tools }).pipe(Effect.provide(handlers)))
      expect(first.finishReason).toBe("tool-calls")
      expect(first.toolCalls.map((call) => [call.name, call.params])).toEqual([["weather", { location: "What is the weather in Florence?" }]])
      expect(first.toolResults.map((result) => [result.name, result.result])).toEqual([["weather", { celsius: 40 }]])
      expect(asked).toEqual(["What is the weather in Florence?"])

      // The call and its result go back as history; the model answers in text.
      const history = Prompt.merge(prompt, Prompt.fromResponseParts(first.content))
      const second = yield* run(LanguageModel.generateText({ prompt: history, toolkit: Tools }).pipe(Effect.provide(handlers)))
      expect(second.text).toBe("Simulated reply to \"What is the weather in Florence?\" with tool result {\"celsius\":40}.")
      expect(second.finishReason).toBe("stop")
      expect(second.toolCalls).toHaveLength(0)
      expect(asked).toHaveLength(1)
      expect((yield* sim.log).map((entry) => entry.path)).toEqual([pathOf(api), pathOf(api)])
    })))

  it.effect.each(apis)("%s: streamed, the arguments arrive as tool-params parts, then the call and its result", (api) =>
    loopback(Effect.gen(function*() {
      const { run } = yield* setup({ config: { api } })
      const handlers = Tools.toLayer({ weather: () => Effect.succeed({ celsius: 40 }) })
      const parts = yield* run(collect(LanguageModel.streamText({ prompt: "Weather in Florence?", toolkit: Tools })).pipe(Effect.provide(handlers)))
      const types = parts.map((part) => part.type)
      expect(types.filter((type) => type.startsWith("tool-"))).toEqual([
        "tool-params-start",
        "tool-params-delta",
        "tool-params-end",
        "tool-call",
        "tool-result"
      ])
      const deltas = parts.map((part) => (part.type === "tool-params-delta" ? part.delta : "")).join("")
      expect(JSON.parse(deltas)).toEqual({ location: "Weather in Florence?" })
      const result = parts.find((part) => part.type === "tool-result")
      expect(result?.type === "tool-result" ? result.result : undefined).toEqual({ celsius: 40 })
      const finish = parts.find((part) => part.type === "finish")
      expect(finish?.type === "finish" ? finish.reason : undefined).toBe("tool-calls")
    })))

  it.effect.each(apis)("%s: toolChoice none answers in text; naming the tool forces the call", (api) =>
    loopback(Effect.gen(function*() {
      const { run } = yield* setup({ config: { api } })
      const handlers = Tools.toLayer({ weather: () => Effect.succeed({ celsius: 40 }) })
      const none = yield* run(
        LanguageModel.generateText({ prompt: "Weather in Florence?", toolkit: Tools, toolChoice: "none" }).pipe(Effect.provide(handlers))
      )
      expect(none.toolCalls).toHaveLength(0)
      expect(none.text).toBe("Simulated reply to \"Weather in Florence?\".")
      // Even after a tool result, a named tool is called again.
      const history = Prompt.make([
        { role: "user", content: "Weather in Florence?" },
        { role: "assistant", content: [{ type: "tool-call", id: "call_1", name: "weather", params: { location: "Florence" } }] },
        { role: "tool", content: [{ type: "tool-result", id: "call_1", name: "weather", result: { celsius: 40 }, isFailure: false, providerExecuted: false }] }
      ])
      const forced = yield* run(
        LanguageModel.generateText({ prompt: history, toolkit: Tools, toolChoice: { tool: "weather" } }).pipe(Effect.provide(handlers))
      )
      expect(forced.toolCalls.map((call) => call.name)).toEqual(["weather"])
    })))
})
