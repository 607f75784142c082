/**
 * The Responses API through GrokClient, over real loopback sockets against the simulator,
 * on the TestClock: answers, usage as the limiter and the metrics see it, every error class,
 * retries before the first output event and partial output after it, failures reported
 * inside a 200 (`status: "failed"`, `response.failed` and `error` events), and
 * `chat --api responses`.
 */
import { describe, expect, it } from "@effect/vitest"
import type { HttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Chunk, Clock, ConfigProvider, Console, Duration, Effect, Either, type Scope, Stream } from "effect"
import { run } from "../src/cli/main.js"
import { CliOutput } from "../src/cli/output.js"
import * as GrokClient from "../src/GrokClient.js"
import * as GrokConfig from "../src/GrokConfig.js"
import type * as GrokError from "../src/GrokError.js"
import * as RateLimiter from "../src/resilience/RateLimiter.js"
import * as Responses from "../src/schema/Responses.js"
import type * as FaultPlan from "../src/simulator/FaultPlan.js"
import * as Simulator from "../src/simulator/Simulator.js"
import * as Metrics from "../src/telemetry/Metrics.js"
import { drive, simulatorActivity } from "./support/drive.js"
import { errorBodyCase } from "./support/fixtures.js"

const KEY = "xai-responses-test-key-0123456789"
const request: GrokClient.ResponsesRequest = { instructions: "You are a helpful assistant", input: "Say hi in Portuguese" }
/** The simulator's answer to {@link request}: 12 prompt tokens (47 characters), one token per word of it. */
const REPLY = "Simulated reply to \"Say hi in Portuguese\"."
/** The visible reasoning of a reasoning model, one token per word. */
const REASONING = "Reading the request and choosing a short, direct answer."

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

/** A status fault answering with the body xAI really sent for fixture `name`. */
const recorded = (name: string, headers: Record<string, string> = {}): FaultPlan.Fault => {
  const found = errorBodyCase(name)
  return { kind: "status", status: found.status, body: found.body, headers }
}

/** A 200 event stream with exactly these events (for failures the simulator does not invent). */
const sseAnswer = (events: ReadonlyArray<Record<string, unknown>>): FaultPlan.Fault => ({
  kind: "status",
  status: 200,
  body: events.map((event, i) => `data: ${JSON.stringify({ sequence_number: i, ...event })}\n\n`).join(""),
  headers: { "content-type": "text/event-stream" }
})

const created = {
  type: "response.created",
  response: { id: "resp-1", object: "response", model: "grok-4", status: "in_progress", output: [] }
}
const textDelta = (delta: string) => ({
  type: "response.output_text.delta",
  item_id: "msg-1",
  output_index: 0,
  content_index: 0,
  delta
})

const loopback = <A, E>(body: Effect.Effect<A, E, Scope.Scope | HttpClient.HttpClient>) =>
  body.pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))

interface Recorded {
  readonly tickets: Array<RateLimiter.Ticket>
  readonly outcomes: Array<RateLimiter.Outcome>
}

/** A limiter that admits everything and remembers what it was asked and told. */
const recordingLimiter = (): { readonly limiter: RateLimiter.Service; readonly seen: Recorded } => {
  const seen: Recorded = { tickets: [], outcomes: [] }
  return {
    seen,
    limiter: {
      acquire: (ticket) =>
        Effect.sync(() => {
          seen.tickets.push(ticket)
          return { waited: Duration.zero, release: (outcome) => Effect.sync(() => void seen.outcomes.push(outcome)) }
        }),
      stats: RateLimiter.unlimited.stats
    }
  }
}

interface Setup {
  readonly sim: Simulator.Service
  readonly grok: GrokClient.Service
  readonly seen: Recorded
}

const setup = (
  options: { readonly faults?: FaultPlan.FaultPlan; readonly sim?: Simulator.SimulatorOptions; readonly apiKey?: string } = {}
): Effect.Effect<Setup, never, Scope.Scope | HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const sim = yield* Effect.orDie(Simulator.make({ ...options.sim, faults: options.faults ?? [] }))
    const config = Either.getOrThrow(GrokConfig.make({ apiKey: options.apiKey ?? KEY, baseUrl: sim.url, model: "grok-4" }))
    const { limiter, seen } = recordingLimiter()
    const grok = yield* GrokClient.make(config).pipe(Effect.provideService(RateLimiter.RateLimiter, limiter))
    return { sim, grok, seen }
  })

/** Run `program` in a fiber, letting loopback I/O settle and moving the TestClock from timer to timer. */
const driven = <A, E>(sim: Simulator.Service, program: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  Effect.flatMap(Effect.fork(program), (fiber) => drive(fiber, simulatorActivity(sim)))

const failure = <A, E>(sim: Simulator.Service, program: Effect.Effect<A, E>): Effect.Effect<E> =>
  driven(sim, Effect.flip(program)).pipe(Effect.orDieWith(() => new Error("expected a failure, got a success")))

const expectTag = <T extends GrokError.Tag>(error: GrokError.GrokError, tag: T): Extract<GrokError.GrokError, { readonly _tag: T }> => {
  if (error._tag !== tag) throw new Error(`expected ${tag}, got ${error._tag}: ${error.message}`)
  return error as Extract<GrokError.GrokError, { readonly _tag: T }>
}

const collect = (stream: Stream.Stream<Responses.ResponseEvent, GrokError.GrokError>) =>
  Effect.map(Stream.runCollect(stream), Chunk.toReadonlyArray)

const textOf = (events: ReadonlyArray<Responses.ResponseEvent>) =>
  events.map((event) => (event.type === "response.output_text.delta" ? event.delta : "")).join("")

/** `effect`'s result and what it added to the token metrics, read as the CLI's summaries read them. */
const withTokens = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const before = (yield* Metrics.snapshotTotals).tokens
    const result = yield* effect
    const after = (yield* Metrics.snapshotTotals).tokens
    const tokens = {
      prompt: after.prompt - before.prompt,
      completion: after.completion - before.completion,
      reasoning: after.reasoning - before.reasoning,
      total: after.total - before.total
    }
    return [result, tokens] as const
  })

// ---------------------------------------------------------------------------
// Plain responses
// ---------------------------------------------------------------------------

describe("grok.responses", () => {
  it.effect("answers from POST /v1/responses; the limiter is charged the estimate and reconciled to the usage", () =>
    loopback(Effect.gen(function*() {
      const { grok, seen, sim } = yield* setup()
      const model = "grok-responses-plain"
      const [response, tokens] = yield* withTokens(driven(sim, grok.responses({ ...request, model, max_output_tokens: 100 })))
      expect(response.status).toBe("completed")
      expect(response.model).toBe(model)
      expect(Responses.outputText(response)).toBe(REPLY)
      expect(response.usage).toMatchObject({ input_tokens: 12, output_tokens: 7, total_tokens: 19 })
      // 47 characters of instructions and input (12 tokens) plus the whole output budget.
      expect(seen.tickets.map((ticket) => ticket.tokens)).toEqual([12 + 100])
      expect(seen.outcomes.map((outcome) => [outcome.status, outcome.usedTokens])).toEqual([[200, 19]])
      expect(tokens).toEqual({ prompt: 12, completion: 7, reasoning: 0, total: 19 })
      const log = yield* sim.log
      expect(log.map((entry) => [entry.method, entry.path, entry.model, entry.stream, entry.status])).toEqual([
        ["POST", "/v1/responses", model, false, 200]
      ])
    })))

  it.effect("reasoning counts once: inside output_tokens on the wire, as reasoning (not output) in the metrics", () =>
    loopback(Effect.gen(function*() {
      const model = "grok-responses-thinker"
      const { grok, seen, sim } = yield* setup({ sim: { models: { [model]: { reasoning: "visible" } } } })
      const [response, tokens] = yield* withTokens(driven(sim, grok.responses({ ...request, model })))
      expect(Responses.reasoningText(response)).toBe(REASONING)
      expect(response.output.map((item) => item.type)).toEqual(["reasoning", "message"])
      expect(response.usage).toMatchObject({ output_tokens: 7 + 9, output_tokens_details: { reasoning_tokens: 9 }, total_tokens: 28 })
      const usage = response.usage == null ? undefined : Responses.chatUsageOf(response.usage)
      expect(usage).toMatchObject({
        prompt_tokens: 12,
        completion_tokens: 7,
        total_tokens: 28,
        completion_tokens_details: { reasoning_tokens: 9 }
      })
      expect(tokens).toEqual({ prompt: 12, completion: 7, reasoning: 9, total: 28 })
      expect(seen.outcomes.map((outcome) => outcome.usedTokens)).toEqual([28])
    })))

  it.effect("input as message items; a malformed request is refused before anything is sent", () =>
    loopback(Effect.gen(function*() {
      const { grok, sim } = yield* setup()
      const response = yield* driven(sim, grok.responses({
        input: [
          { role: "system", content: "You are a helpful assistant" },
          { type: "message", role: "user", content: [{ type: "input_text", text: "Say hi in Portuguese" }] }
        ]
      }))
      expect(Responses.outputText(response)).toBe(REPLY)
      expect(response.model).toBe("grok-4")
      expect(response.usage?.input_tokens).toBe(12)
      for (const bad of [{ input: [] }, { input: "hi", temperature: 3 }, { input: [{ role: "robot", content: "hi" }] }]) {
        // The cast stands for a caller without types (JavaScript, JSON from elsewhere).
        const error = expectTag(yield* failure(sim, grok.responses(bad as GrokClient.ResponsesRequest)), "BadRequest")
        expect(error.status).toBeNull()
        expect(error.message).toContain("invalid request (not sent)")
      }
      expect(yield* sim.requestCount).toBe(1)
    })))

  it.effect("a 200 whose response says failed is an error: retried when transient, final when not", () =>
    loopback(Effect.gen(function*() {
      const failed = (code: string, message: string): FaultPlan.Fault => ({
        kind: "status",
        status: 200,
        body: { id: "resp-1", object: "response", model: "grok-4", status: "failed", output: [], error: { code, message } }
      })
      const transient = yield* setup({ faults: [{ nth: [1], fault: failed("server_error", "The model crashed") }] })
      expect(Responses.outputText(yield* driven(transient.sim, transient.grok.responses(request)))).toBe(REPLY)
      expect((yield* transient.sim.log).map((entry) => entry.status)).toEqual([200, 200])

      const permanent = yield* setup({ faults: [{ fault: failed("invalid_prompt", "The prompt was flagged") }] })
      const error = expectTag(yield* failure(permanent.sim, permanent.grok.responses(request)), "ErrorInBody")
      expect(error.retryable).toBe(false)
      expect(error.message).toContain("The prompt was flagged")
      expect(yield* permanent.sim.requestCount).toBe(1)
    })))
})

describe("grok.responses error classes", () => {
  /** One call under the default retry policy; the log shows how many attempts were made. */
  const outcome = (faults: FaultPlan.FaultPlan, options: { readonly apiKey?: string; readonly sim?: Simulator.SimulatorOptions } = {}) =>
    Effect.gen(function*() {
      const { grok, sim } = yield* setup({ faults, ...options })
      const started = yield* Clock.currentTimeMillis
      const result = yield* driven(sim, Effect.either(grok.responses(request)))
      const elapsed = (yield* Clock.currentTimeMillis) - started
      return { result, elapsed, log: yield* sim.log }
    })

  const failedWith = <T extends GrokError.Tag>(result: Either.Either<Responses.Response, GrokError.GrokError>, tag: T) => {
    if (Either.isRight(result)) throw new Error(`expected ${tag}, got a response`)
    return expectTag(result.left, tag)
  }

  it.effect("400: BadRequest, not retried", () =>
    loopback(Effect.gen(function*() {
      const { log, result } = yield* outcome([{ fault: { kind: "status", status: 400 } }])
      const error = failedWith(result, "BadRequest")
      expect([error.status, error.retryable, error.code]).toEqual([400, false, "invalid-argument"])
      expect(log).toHaveLength(1)
    })))

  it.effect("an incorrect key (xAI's 400) and a missing one (401): AuthenticationFailed, not retried", () =>
    loopback(Effect.gen(function*() {
      const wrongKey = yield* outcome([], { sim: { apiKeys: ["xai-the-only-key-0123456789"] } })
      const error = failedWith(wrongKey.result, "AuthenticationFailed")
      expect(error.status).toBe(400)
      expect(error.message).toContain("Incorrect API key provided")
      expect(error.message).not.toContain(KEY)
      expect(wrongKey.log).toHaveLength(1)
      const missing = yield* outcome([{ fault: { kind: "status", status: 401 } }])
      expect(failedWith(missing.result, "AuthenticationFailed").status).toBe(401)
      expect(missing.log).toHaveLength(1)
    })))

  it.effect("404: NotFound, not retried", () =>
    loopback(Effect.gen(function*() {
      const { log, result } = yield* outcome([{ fault: recorded("model-not-found") }])
      expect(failedWith(result, "NotFound").message).toContain("does not exist")
      expect(log).toHaveLength(1)
    })))

  it.effect("429 rate limit, then success: the retry waits at least Retry-After", () =>
    loopback(Effect.gen(function*() {
      const { elapsed, log, result } = yield* outcome([
        { nth: [1], fault: recorded("rate-limit-requests-per-minute", { "retry-after": "7" }) }
      ])
      expect(Either.isRight(result) && Responses.outputText(result.right)).toBe(REPLY)
      expect(log.map((entry) => entry.status)).toEqual([429, 200])
      expect(log[1]!.startedAt - log[0]!.startedAt).toBeGreaterThanOrEqual(7000)
      expect(elapsed).toBeGreaterThanOrEqual(7000)
    })))

  it.effect("429 out of credits: QuotaExhausted, not retried", () =>
    loopback(Effect.gen(function*() {
      const { log, result } = yield* outcome([{ fault: recorded("credits-exhausted-429") }])
      const error = failedWith(result, "QuotaExhausted")
      expect([error.status, error.retryable]).toEqual([429, false])
      expect(log).toHaveLength(1)
    })))

  it.effect("503, then success", () =>
    loopback(Effect.gen(function*() {
      const { log, result } = yield* outcome([{ nth: [1], fault: { kind: "status", status: 503 } }])
      expect(Either.isRight(result)).toBe(true)
      expect(log.map((entry) => entry.status)).toEqual([503, 200])
    })))

  it.effect("a connection reset, then success", () =>
    loopback(Effect.gen(function*() {
      const { log, result } = yield* outcome([{ nth: [1], fault: { kind: "reset" } }])
      expect(Either.isRight(result)).toBe(true)
      expect(log.map((entry) => [entry.status, entry.outcome])).toEqual([[null, "aborted"], [200, "completed"]])
    })))

  it.effect("a malformed body: DecodeError with the start of the body, not retried", () =>
    loopback(Effect.gen(function*() {
      const { log, result } = yield* outcome([{ fault: { kind: "malformed" } }])
      const error = failedWith(result, "DecodeError")
      expect(error.retryable).toBe(false)
      expect(error.body).toContain("\"object\":\"response\"")
      expect(error.requestId).toBe(log[0]!.requestId)
      expect(log).toHaveLength(1)
    })))
})

// ---------------------------------------------------------------------------
// Streamed responses
// ---------------------------------------------------------------------------

describe("grok.responsesStream", () => {
  it.effect("streams from response.created to response.completed; the usage reconciles the limiter and the metrics", () =>
    loopback(Effect.gen(function*() {
      const { grok, seen, sim } = yield* setup()
      const model = "grok-responses-stream"
      const [events, tokens] = yield* withTokens(driven(sim, collect(grok.responsesStream({ ...request, model }))))
      expect(events[0]?.type).toBe("response.created")
      expect(events.at(-1)?.type).toBe("response.completed")
      expect(textOf(events)).toBe(REPLY)
      const final = events.map(Responses.finalResponse).find((response) => response !== undefined)
      expect(final === undefined ? "" : Responses.outputText(final)).toBe(REPLY)
      expect(final?.usage).toMatchObject({ input_tokens: 12, output_tokens: 7, total_tokens: 19 })
      expect(seen.tickets.map((ticket) => ticket.tokens)).toEqual([12 + 1024])
      expect(seen.outcomes.map((outcome) => [outcome.status, outcome.usedTokens])).toEqual([[200, 19]])
      expect(tokens).toEqual({ prompt: 12, completion: 7, reasoning: 0, total: 19 })
      const log = yield* sim.log
      expect(log.map((entry) => [entry.path, entry.stream, entry.outcome])).toEqual([["/v1/responses", true, "completed"]])
    })))

  it.effect("a stream cut before its first output event is retried; the caller sees one response", () =>
    loopback(Effect.gen(function*() {
      // created, in_progress, output_item.added: no text yet.
      const { grok, sim } = yield* setup({ faults: [{ nth: [1], fault: { kind: "dropStream", afterChunks: 3 } }] })
      const events = yield* driven(sim, collect(grok.responsesStream(request)))
      expect(textOf(events)).toBe(REPLY)
      expect(events.filter((event) => event.type === "response.created")).toHaveLength(1)
      expect((yield* sim.log).map((entry) => entry.outcome)).toEqual(["aborted", "completed"])
    })))

  it.effect("a stream silent before its first output event is retried after the first-token timeout", () =>
    loopback(Effect.gen(function*() {
      const { grok, sim } = yield* setup({ faults: [{ nth: [1], fault: { kind: "stall" } }] })
      const started = yield* Clock.currentTimeMillis
      const events = yield* driven(sim, collect(grok.responsesStream(request, { firstTokenTimeout: "5 seconds" })))
      expect(textOf(events)).toBe(REPLY)
      expect((yield* Clock.currentTimeMillis) - started).toBeGreaterThanOrEqual(5000)
      expect((yield* sim.log).map((entry) => entry.outcome)).toEqual(["client-closed", "completed"])
    })))

  it.effect("response.failed before any output: retried when transient, final when not", () =>
    loopback(Effect.gen(function*() {
      const failedEvent = (code: string, message: string) => ({
        type: "response.failed",
        response: { id: "resp-1", status: "failed", error: { code, message } }
      })
      const transient = yield* setup({ faults: [{ nth: [1], fault: sseAnswer([created, failedEvent("server_error", "The model crashed")]) }] })
      const events = yield* driven(transient.sim, collect(transient.grok.responsesStream(request)))
      expect(textOf(events)).toBe(REPLY)
      expect(yield* transient.sim.requestCount).toBe(2)

      const permanent = yield* setup({ faults: [{ fault: sseAnswer([created, failedEvent("invalid_prompt", "The prompt was flagged")]) }] })
      const error = expectTag(yield* failure(permanent.sim, collect(permanent.grok.responsesStream(request))), "ErrorInBody")
      expect(error.retryable).toBe(false)
      expect(error.message).toContain("The prompt was flagged")
      expect(yield* permanent.sim.requestCount).toBe(1)
    })))

  it.effect("a stream cut after output started: StreamBroken with the partial text, not retried", () =>
    loopback(Effect.gen(function*() {
      // created, in_progress, output_item.added, content_part.added, then three words.
      const { grok, sim } = yield* setup({ faults: [{ fault: { kind: "dropStream", afterChunks: 7 } }] })
      const received: Array<Responses.ResponseEvent> = []
      const error = expectTag(
        yield* failure(sim, Stream.runForEach(grok.responsesStream(request), (event) => Effect.sync(() => void received.push(event)))),
        "StreamBroken"
      )
      expect(error.retryable).toBe(false)
      expect(error.partial).toEqual({ content: "Simulated reply to", reasoning: "", chunks: 7 })
      expect(textOf(received)).toBe("Simulated reply to")
      expect(yield* sim.requestCount).toBe(1)
    })))

  it.effect("an error event after output started: StreamBroken whose cause is the classified error", () =>
    loopback(Effect.gen(function*() {
      const { grok, sim } = yield* setup({
        faults: [{
          fault: sseAnswer([
            created,
            textDelta("Hello"),
            textDelta(" there"),
            { type: "error", code: "internal", message: "stream interrupted" }
          ])
        }]
      })
      const error = expectTag(yield* failure(sim, collect(grok.responsesStream(request))), "StreamBroken")
      expect(error.partial.content).toBe("Hello there")
      expect(error.message).toContain("stream interrupted")
      const cause = error.cause as GrokError.GrokError
      expect([cause._tag, cause.retryable]).toEqual(["ErrorInBody", true])
      expect(yield* sim.requestCount).toBe(1)
    })))

  it.effect("events and items of types this library does not model arrive as unknown, with what was sent", () =>
    loopback(Effect.gen(function*() {
      const search = { type: "web_search_call", id: "ws-1", status: "completed", action: { type: "search", query: "weather" } }
      const message = { type: "message", id: "msg-1", role: "assistant", status: "completed", content: [{ type: "output_text", text: "Sunny." }] }
      const done = {
        ...created,
        type: "response.completed",
        response: {
          ...created.response,
          status: "completed",
          output: [search, message],
          usage: { input_tokens: 5, output_tokens: 2, total_tokens: 7 }
        }
      }
      const { grok, sim } = yield* setup({
        faults: [{
          fault: sseAnswer([
            created,
            { type: "response.web_search_call.searching", item_id: "ws-1", output_index: 0 },
            { type: "response.output_item.done", output_index: 0, item: search },
            textDelta("Sunny."),
            done
          ])
        }]
      })
      const events = yield* driven(sim, collect(grok.responsesStream(request)))
      expect(events.map((event) => event.type)).toEqual([
        "response.created",
        "unknown",
        "response.output_item.done",
        "response.output_text.delta",
        "response.completed"
      ])
      const progress = events[1]
      expect(progress?.type === "unknown" ? progress.data : undefined).toEqual({
        sequence_number: 1,
        type: "response.web_search_call.searching",
        item_id: "ws-1",
        output_index: 0
      })
      const final = Responses.finalResponse(events[4]!)
      expect(final?.output[0]).toEqual({ type: "unknown", data: search })
      expect(final === undefined ? "" : Responses.outputText(final)).toBe("Sunny.")
    })))

  it.effect("a malformed event: DecodeError, not retried", () =>
    loopback(Effect.gen(function*() {
      const { grok, sim } = yield* setup({ faults: [{ fault: { kind: "malformed" } }] })
      const error = expectTag(yield* failure(sim, collect(grok.responsesStream(request))), "DecodeError")
      expect(error.message).toContain("a stream event was malformed")
      expect(yield* sim.requestCount).toBe(1)
    })))

  it.effect("a visible-reasoning model: reasoning deltas before the text, both in the partial output", () =>
    loopback(Effect.gen(function*() {
      const model = "grok-responses-stream-thinker"
      // created, in_progress, item added, summary part added, then the 9 reasoning words.
      const { grok, sim } = yield* setup({
        sim: { models: { [model]: { reasoning: "visible" } } },
        faults: [{ nth: [2], fault: { kind: "dropStream", afterChunks: 6 } }]
      })
      const [events, tokens] = yield* withTokens(driven(sim, collect(grok.responsesStream({ ...request, model }))))
      const reasoning = events.map((event) => (event.type === "response.reasoning_summary_text.delta" ? event.delta : "")).join("")
      expect(reasoning).toBe(REASONING)
      expect(textOf(events)).toBe(REPLY)
      expect(tokens).toEqual({ prompt: 12, completion: 7, reasoning: 9, total: 28 })
      const error = expectTag(yield* failure(sim, collect(grok.responsesStream({ ...request, model }))), "StreamBroken")
      expect(error.partial).toEqual({ content: "", reasoning: "Reading the", chunks: 6 })
    })))
})

// ---------------------------------------------------------------------------
// chat --api responses
// ---------------------------------------------------------------------------

describe("effect-grok chat --api responses", () => {
  /** `effect-grok chat --base-url <sim> <args>`: the exit code and what a user would see on each stream. */
  const cli = (sim: Simulator.Service, args: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      const out = { stdout: "", stderr: "", console: "" }
      // @effect/cli and the logger write through Console: kept apart from the command's own output.
      const base = yield* Console.consoleWith(Effect.succeed)
      const toConsole = (...parts: ReadonlyArray<unknown>) => void (out.console += `${parts.map(String).join(" ")}\n`)
      const captured: Console.Console = {
        ...base,
        log: (...parts) => Effect.sync(() => toConsole(...parts)),
        error: (...parts) => Effect.sync(() => toConsole(...parts)),
        warn: (...parts) => Effect.sync(() => toConsole(...parts)),
        unsafe: { ...base.unsafe, log: toConsole, error: toConsole, warn: toConsole, info: toConsole, debug: toConsole }
      }
      const fiber = yield* Effect.fork(run(["chat", "--base-url", sim.url, ...args]).pipe(
        Effect.provideService(CliOutput, {
          stdout: (text) => void (out.stdout += text),
          stderr: (text) => void (out.stderr += text),
          isTTY: false
        }),
        Console.withConsole(captured),
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["XAI_API_KEY", KEY]])))
      ))
      const code = yield* drive(fiber, simulatorActivity(sim))
      return { code, ...out }
    })

  const simulator = (faults: FaultPlan.FaultPlan = []) => Effect.orDie(Simulator.make({ faults }))

  it.effect("--json: the chat contract, with the Responses usage in the chat shape", () =>
    Effect.scoped(Effect.gen(function*() {
      const sim = yield* simulator()
      const viaResponses = yield* cli(sim, ["--json", "--api", "responses", "Say", "hi"])
      const viaChat = yield* cli(sim, ["--json", "Say", "hi"])
      expect([viaResponses.code, viaChat.code]).toEqual([0, 0])
      const json = JSON.parse(viaResponses.stdout) as Record<string, unknown>
      const chat = JSON.parse(viaChat.stdout) as { readonly usage: Record<string, unknown> }
      expect(Object.keys(json)).toEqual(["ok", "model", "content", "usage", "attempts"])
      expect(json).toMatchObject({ ok: true, model: "grok-4.3", content: "Simulated reply to \"Say hi\".", attempts: 1 })
      // grok-4 reasons without showing it: as in chat, completion_tokens leaves the reasoning out.
      const usage = json["usage"] as Record<string, unknown>
      for (const key of ["prompt_tokens", "completion_tokens", "total_tokens", "cost_in_usd_ticks"]) {
        expect(usage[key]).toBe(chat.usage[key])
      }
      const chatReasoning = (chat.usage["completion_tokens_details"] as Record<string, unknown>)["reasoning_tokens"]
      expect(chatReasoning).toBeGreaterThan(0)
      expect(usage["completion_tokens_details"]).toEqual({ reasoning_tokens: chatReasoning })
      expect(usage["prompt_tokens_details"]).toEqual({ cached_tokens: 0 })
      expect((yield* sim.log).map((entry) => entry.path)).toEqual(["/v1/responses", "/v1/chat/completions"])
    })))

  it.effect("--stream prints the text as it arrives, then the model, tokens and attempts", () =>
    Effect.scoped(Effect.gen(function*() {
      const sim = yield* simulator([{ nth: [1], fault: { kind: "status", status: 503 } }])
      const result = yield* cli(sim, ["--api", "responses", "--stream", "Say", "hi"])
      expect(result.code).toBe(0)
      expect(result.stdout).toBe("Simulated reply to \"Say hi\".\n")
      expect(result.stderr).toMatch(/^— grok-4\.3 · \d+ tokens · 2 attempts\n$/)
      expect((yield* sim.log).map((entry) => [entry.path, entry.stream, entry.status])).toEqual([
        ["/v1/responses", true, 503],
        ["/v1/responses", true, 200]
      ])
    })))

  it.effect("--json failure: the same error object as chat, exit code 1", () =>
    Effect.scoped(Effect.gen(function*() {
      const sim = yield* simulator([{ fault: recorded("credits-exhausted-429") }])
      const result = yield* cli(sim, ["--json", "--api", "responses", "Say", "hi"])
      expect(result.code).toBe(1)
      const json = JSON.parse(result.stdout) as { readonly ok: boolean; readonly error: Record<string, unknown>; readonly attempts: number }
      expect(json.ok).toBe(false)
      expect(json.attempts).toBe(1)
      expect(json.error).toMatchObject({ _tag: "QuotaExhausted", status: 429, retryable: false, requestId: (yield* sim.log)[0]!.requestId })
    })))

  it.effect("--api accepts only chat or responses", () =>
    Effect.scoped(Effect.gen(function*() {
      const sim = yield* simulator()
      const result = yield* cli(sim, ["--api", "completions", "Say", "hi"])
      expect(result.code).toBe(2)
      expect(result.console).toContain("chat, responses")
      expect(yield* sim.requestCount).toBe(0)
    })))
})
