/**
 * GrokClient over real loopback sockets against the simulator, on the TestClock: every
 * error class as the caller sees it, Retry-After in each of its forms, x-should-retry,
 * retries and their bounds (attempt timeout, deadline, retry budget), key refresh,
 * streaming (retried until the first token, partial output after it), models and
 * embeddings, the key kept out of errors and logs, and permits always released.
 */
import { describe, expect, it } from "@effect/vitest"
import { FetchHttpClient, type HttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Cause, Chunk, Clock, Duration, Effect, Either, Fiber, Layer, Logger, Metric, MetricState, Option, Redacted, Ref, Schedule, type Scope, Stream } from "effect"
import * as ApiKeyProvider from "../src/ApiKeyProvider.js"
import * as GrokClient from "../src/GrokClient.js"
import * as GrokConfig from "../src/GrokConfig.js"
import type * as GrokError from "../src/GrokError.js"
import { limitKey } from "../src/internal/pipeline.js"
import * as CircuitBreaker from "../src/resilience/CircuitBreaker.js"
import * as RateLimiter from "../src/resilience/RateLimiter.js"
import * as RateLimiterMemory from "../src/resilience/RateLimiterMemory.js"
import * as RetryPolicy from "../src/resilience/RetryPolicy.js"
import * as Chat from "../src/schema/Chat.js"
import type * as ChatStream from "../src/schema/ChatStream.js"
import type * as FaultPlan from "../src/simulator/FaultPlan.js"
import * as Simulator from "../src/simulator/Simulator.js"
import * as Metrics from "../src/telemetry/Metrics.js"
import { drive, simulatorActivity } from "./support/drive.js"
import { errorBodyCase } from "./support/fixtures.js"

const KEY = "xai-test-key-0123456789abcdef"
const hello: GrokClient.ChatRequest = { messages: [{ role: "user", content: "Say hi" }] }
/** The simulator's deterministic answer to {@link hello}. */
const helloReply = "Simulated reply to \"Say hi\"."
const noRetry = RetryPolicy.make({ maxRetries: 0 })

// ---------------------------------------------------------------------------
// Fixtures: error bodies xAI really sent
// ---------------------------------------------------------------------------

/** A status fault answering with the recorded body of fixture `name`. */
const recorded = (name: string, headers?: Record<string, string>): FaultPlan.Fault => {
  const found = errorBodyCase(name)
  return { kind: "status", status: found.status, body: found.body, ...(headers === undefined ? {} : { headers }) }
}

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

/** The test body in its own scope, over undici (the dispatcher outlives the simulator and the clients). */
const loopback = <A, E>(body: Effect.Effect<A, E, Scope.Scope | HttpClient.HttpClient>) =>
  body.pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))

const configFor = (sim: Simulator.Service, input: Partial<GrokConfig.GrokConfigInput> = {}) =>
  Either.getOrThrow(GrokConfig.make({ apiKey: KEY, baseUrl: sim.url, ...input }))

interface Setup {
  readonly sim: Simulator.Service
  readonly grok: GrokClient.Service
}

const setup = (
  options: { readonly faults?: FaultPlan.FaultPlan; readonly sim?: Simulator.SimulatorOptions; readonly config?: Partial<GrokConfig.GrokConfigInput> } = {}
): Effect.Effect<Setup, never, Scope.Scope | HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const sim = yield* Effect.orDie(Simulator.make({ ...options.sim, faults: options.faults ?? options.sim?.faults }))
    const grok = yield* GrokClient.make(configFor(sim, options.config))
    return { sim, grok }
  })

/** Run `program` in a fiber, letting loopback I/O settle and moving the TestClock from timer to timer. */
const driven = <A, E>(sim: Simulator.Service, program: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  Effect.flatMap(Effect.fork(program), (fiber) => drive(fiber, simulatorActivity(sim)))

/** The error `program` fails with; a success fails the test. */
const failure = <A, E>(sim: Simulator.Service, program: Effect.Effect<A, E>): Effect.Effect<E> =>
  driven(sim, Effect.flip(program)).pipe(Effect.orDieWith(() => new Error("expected a failure, got a success")))

/** Asserts the tag and narrows to that error class. */
const expectTag = <T extends GrokError.Tag>(error: GrokError.GrokError, tag: T): Extract<GrokError.GrokError, { readonly _tag: T }> => {
  expect(error._tag).toBe(tag)
  if (error._tag !== tag) throw new Error(`expected ${tag}, got ${error._tag}: ${error.message}`)
  return error as Extract<GrokError.GrokError, { readonly _tag: T }>
}

const millis = (duration: Duration.Duration | undefined) => (duration === undefined ? undefined : Duration.toMillis(duration))

/** One chat call without retries against a simulator answering every request with `fault`. */
const firstError = (fault: FaultPlan.Fault, options: GrokClient.CallOptions = {}) =>
  Effect.gen(function*() {
    const { grok, sim } = yield* setup({ faults: [{ fault }] })
    const error = yield* failure(sim, grok.chat(hello, { retry: noRetry, ...options }))
    const log = yield* sim.log
    expect(log).toHaveLength(1)
    return { error, log, entry: log[0]! }
  })

const contentOf = (chunks: Chunk.Chunk<ChatStream.ChatCompletionChunk>) =>
  Chunk.toReadonlyArray(chunks).map((chunk) => chunk.choices[0]?.delta.content ?? "").join("")

/** The request counter by `outcome:error.type`, summed over models and operations. */
const requestOutcomes: Effect.Effect<Record<string, number>> = Effect.map(Metric.snapshot, (pairs) => {
  const counts: Record<string, number> = {}
  for (const pair of pairs) {
    if (pair.metricKey.name !== "effect_grok.requests" || !MetricState.isCounterState(pair.metricState)) continue
    const tag = (key: string) => pair.metricKey.tags.find((t) => t.key === key)?.value
    const label = `${tag("outcome")}:${tag("error.type")}`
    counts[label] = (counts[label] ?? 0) + Number(pair.metricState.count)
  }
  return counts
})

/** A counter's total over all its series. */
const counterTotal = (name: string): Effect.Effect<number> =>
  Effect.map(Metric.snapshot, (pairs) =>
    pairs.reduce(
      (total, pair) =>
        pair.metricKey.name === name && MetricState.isCounterState(pair.metricState) ? total + Number(pair.metricState.count) : total,
      0
    ))

const countsSince = (before: Record<string, number>, after: Record<string, number>) =>
  Object.fromEntries(
    Object.entries(after).map(([label, count]) => [label, count - (before[label] ?? 0)]).filter(([, count]) => count !== 0)
  )

/** A 200 event stream with these `data:` payloads (objects as JSON), sent as is. */
const eventStream = (...payloads: ReadonlyArray<unknown>): FaultPlan.Fault => ({
  kind: "status",
  status: 200,
  body: payloads.map((payload) => `data: ${typeof payload === "string" ? payload : JSON.stringify(payload)}\n\n`).join(""),
  headers: { "content-type": "text/event-stream" }
})

const chunkWith = (content: string) => ({
  id: "chunk-1",
  object: "chat.completion.chunk",
  created: 0,
  model: "grok-4",
  choices: [{ index: 0, delta: { role: "assistant", content } }]
})

/** What xAI sends when a stream never produced its first token. */
const firstTokenTimeoutBody = { code: "The service is currently unavailable", error: "Timed out waiting for first token" }

const startGaps = (log: ReadonlyArray<Simulator.LoggedRequest>) =>
  log.slice(1).map((entry, i) => entry.startedAt - log[i]!.startedAt)

// ---------------------------------------------------------------------------

describe("GrokClient errors reach the caller typed, with what the server said", () => {
  it.effect("BadRequest: a 400 and a 422, with code and request id, not retryable", () =>
    loopback(Effect.gen(function*() {
      const plain = yield* firstError({ kind: "status", status: 400 })
      const bad = expectTag(plain.error, "BadRequest")
      expect(bad).toMatchObject({ status: 400, retryable: false, code: "invalid-argument", requestId: plain.entry.requestId })
      expect(bad.message).toContain("Client specified an invalid argument")
      expect(bad.message).toContain(plain.entry.requestId)

      const unprocessable = yield* firstError({
        kind: "status",
        status: 422,
        body: { code: "Client specified an invalid argument", error: "Failed to deserialize the JSON body into the target type: messages[0]: missing field `role`" }
      })
      expect(expectTag(unprocessable.error, "BadRequest")).toMatchObject({
        status: 422,
        retryable: false,
        code: "Client specified an invalid argument",
        requestId: unprocessable.entry.requestId
      })
    })))

  it.effect("ContextTooLong: xAI's 400 about the maximum prompt length", () =>
    loopback(Effect.gen(function*() {
      const { entry, error } = yield* firstError(recorded("context-too-long"))
      const tooLong = expectTag(error, "ContextTooLong")
      expect(tooLong).toMatchObject({ status: 400, retryable: false, code: "invalid-argument", requestId: entry.requestId })
      expect(tooLong.message).toContain("maximum prompt length is 131072")
    })))

  it.effect("AuthenticationFailed: a 401, and the 400 'Incorrect API key' a wrong key gets", () =>
    loopback(Effect.gen(function*() {
      const missing = yield* firstError({ kind: "status", status: 401 })
      expect(expectTag(missing.error, "AuthenticationFailed")).toMatchObject({
        status: 401,
        retryable: false,
        code: "unauthenticated",
        requestId: missing.entry.requestId
      })

      // The simulator checks keys for real: the default retry policy applies and still sends one request.
      const { grok, sim } = yield* setup({ sim: { apiKeys: ["xai-the-right-key-000000"] } })
      const error = yield* failure(sim, grok.chat(hello))
      const wrongKey = expectTag(error, "AuthenticationFailed")
      const log = yield* sim.log
      expect(log.map((entry) => entry.status)).toEqual([400])
      expect(wrongKey).toMatchObject({ status: 400, retryable: false, code: "invalid-argument", requestId: log[0]!.requestId })
      expect(wrongKey.message).toContain("Incorrect API key provided: xa***ef")
    })))

  it.effect("PermissionDenied: a 403 that is not about credits", () =>
    loopback(Effect.gen(function*() {
      const { entry, error } = yield* firstError(recorded("permission-denied-old-vocabulary"))
      const denied = expectTag(error, "PermissionDenied")
      expect(denied).toMatchObject({
        status: 403,
        retryable: false,
        code: "The caller does not have permission to execute the specified operation",
        requestId: entry.requestId
      })
      expect(denied.message).toContain("Team is blocked.")
    })))

  it.effect("NotFound: an unknown model", () =>
    loopback(Effect.gen(function*() {
      const { entry, error } = yield* firstError(recorded("model-not-found"))
      expect(expectTag(error, "NotFound")).toMatchObject({ status: 404, retryable: false, code: "not-found", requestId: entry.requestId })
    })))

  it.effect("RateLimited (requests): retryAfter, resetAt and the rate-limit headers", () =>
    loopback(Effect.gen(function*() {
      const { entry, error } = yield* firstError(recorded("rate-limit-requests-per-minute", {
        "retry-after": "2",
        "x-ratelimit-limit-requests": "60",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "2s",
        "x-ratelimit-limit-tokens": "16000",
        "x-ratelimit-remaining-tokens": "15000",
        "x-ratelimit-reset-tokens": "500ms"
      }))
      const limited = expectTag(error, "RateLimited")
      expect(limited).toMatchObject({ status: 429, retryable: true, code: "resource-exhausted", requestId: entry.requestId, limit: "requests" })
      expect(millis(limited.retryAfter)).toBe(2000)
      expect(limited.resetAt).toBe(entry.startedAt + 2000)
      expect(limited.rateLimit?.requests).toMatchObject({ limit: 60, remaining: 0 })
      expect(millis(limited.rateLimit?.requests.resetAfter)).toBe(2000)
      expect(limited.rateLimit?.tokens).toMatchObject({ limit: 16000, remaining: 15000 })
      expect(millis(limited.rateLimit?.tokens.resetAfter)).toBe(500)
    })))

  it.effect("RateLimited (tokens, capacity): which limit was hit", () =>
    loopback(Effect.gen(function*() {
      const tokens = yield* firstError(recorded("rate-limit-tokens-per-minute", { "retry-after-ms": "1500" }))
      const byTokens = expectTag(tokens.error, "RateLimited")
      expect(byTokens).toMatchObject({ status: 429, retryable: true, limit: "tokens", code: "Some resource has been exhausted", requestId: tokens.entry.requestId })
      expect(millis(byTokens.retryAfter)).toBe(1500)

      const capacity = yield* firstError(recorded("model-at-capacity"))
      const atCapacity = expectTag(capacity.error, "RateLimited")
      expect(atCapacity).toMatchObject({ status: 429, retryable: true, limit: "capacity", requestId: capacity.entry.requestId })
      expect(atCapacity.retryAfter).toBeUndefined()
    })))

  it.effect("QuotaExhausted: the 429 and the 403 about credits are not retried (one request each)", () =>
    loopback(Effect.gen(function*() {
      for (const [name, status] of [["credits-exhausted-429", 429], ["credits-exhausted-403", 403]] as const) {
        const { grok, sim } = yield* setup({ faults: [{ fault: recorded(name, { "retry-after": "1" }) }] })
        const error = yield* failure(sim, grok.chat(hello))
        const log = yield* sim.log
        expect(log).toHaveLength(1)
        const exhausted = expectTag(error, "QuotaExhausted")
        expect(exhausted).toMatchObject({ status, retryable: false, requestId: log[0]!.requestId })
        expect(exhausted.message).toContain("purchase more credits")
      }
    })))

  it.effect("ServerError: a 503 with its code", () =>
    loopback(Effect.gen(function*() {
      const { entry, error } = yield* firstError({ kind: "status", status: 503 })
      expect(expectTag(error, "ServerError")).toMatchObject({ status: 503, retryable: true, code: "unavailable", requestId: entry.requestId })
    })))

  it.effect("ErrorInBody: a 200 whose body is xAI's 'Timed out waiting for first token'", () =>
    loopback(Effect.gen(function*() {
      const { entry, error } = yield* firstError({ kind: "errorInOk" })
      const inBody = expectTag(error, "ErrorInBody")
      expect(inBody).toMatchObject({ status: 200, retryable: true, code: "The service is currently unavailable", requestId: entry.requestId })
      expect(inBody.message).toContain("Timed out waiting for first token")
    })))

  it.effect("Timeout: an attempt slower than the attempt timeout, at the timeout", () =>
    loopback(Effect.gen(function*() {
      const started = yield* Clock.currentTimeMillis
      const { entry, error } = yield* firstError({ kind: "latency", millis: 60_000 }, { attemptTimeout: "2 seconds" })
      const timeout = expectTag(error, "Timeout")
      expect(timeout).toMatchObject({ status: null, retryable: true, phase: "attempt" })
      expect(millis(timeout.after)).toBe(2000)
      expect((yield* Clock.currentTimeMillis) - started).toBe(2000)
      // The client hung up: the connection was released, not left to answer later.
      expect(entry.outcome).toBe("client-closed")
    })))

  it.effect("TransportError: a connection reset", () =>
    loopback(Effect.gen(function*() {
      const { error } = yield* firstError({ kind: "reset" })
      const transport = expectTag(error, "TransportError")
      expect(transport).toMatchObject({ status: null, retryable: true })
      expect(transport.requestId).toBeUndefined()
    })))

  it.effect("DecodeError: a 200 whose JSON is cut, with the start of the body", () =>
    loopback(Effect.gen(function*() {
      const { entry, error } = yield* firstError({ kind: "malformed" })
      const decode = expectTag(error, "DecodeError")
      expect(decode).toMatchObject({ status: 200, retryable: false, requestId: entry.requestId })
      expect(decode.body).toMatch(/^\{"id":/)
    })))

  it.effect("BadRequest (local): invalid input is refused before anything is sent", () =>
    loopback(Effect.gen(function*() {
      const { grok, sim } = yield* setup()
      const empty = yield* failure(sim, grok.chat({ messages: [] }))
      expect(expectTag(empty, "BadRequest")).toMatchObject({ status: null, retryable: false })
      expect(empty.message).toContain("not sent")
      const hot = yield* failure(sim, grok.chat({ ...hello, temperature: 7 }))
      expect(hot._tag).toBe("BadRequest")
      const noInput = yield* failure(sim, grok.embed({ input: [] }))
      expect(noInput._tag).toBe("BadRequest")
      const streamed = yield* failure(sim, Stream.runDrain(grok.chatStream({ messages: [] })))
      expect(streamed._tag).toBe("BadRequest")
      expect(yield* sim.log).toEqual([])
    })))
})

describe("GrokClient honours Retry-After and x-should-retry", () => {
  const retryAfterForms: ReadonlyArray<readonly [string, Record<string, string>, number]> = [
    ["seconds", { "retry-after": "7" }, 7000],
    ["fractional seconds", { "retry-after": "2.5" }, 2500],
    // The simulator answers at virtual time 0: the date is 12 s after it.
    ["an HTTP-date", { "retry-after": new Date(12_000).toUTCString() }, 12_000],
    ["retry-after-ms", { "retry-after-ms": "3500", "retry-after": "1" }, 3500]
  ]
  for (const [form, headers, wait] of retryAfterForms) {
    it.effect(`a 429 with Retry-After as ${form}: the retry starts no earlier than asked, and succeeds`, () =>
      loopback(Effect.gen(function*() {
        const { grok, sim } = yield* setup({ faults: [{ nth: [1], fault: { kind: "status", status: 429, headers } }] })
        const reply = yield* driven(sim, grok.chat(hello))
        expect(Chat.contentOf(reply)).toBe(helloReply)
        const log = yield* sim.log
        expect(log.map((entry) => entry.status)).toEqual([429, 200])
        const [gap] = startGaps(log)
        expect(gap).toBeGreaterThanOrEqual(wait)
        // Backed off once, not for a whole extra backoff on top.
        expect(gap).toBeLessThan(wait + 1000)
      })))
  }

  it.effect("x-should-retry: false on a 503 stops at once", () =>
    loopback(Effect.gen(function*() {
      const { grok, sim } = yield* setup({ faults: [{ fault: { kind: "status", status: 503, headers: { "x-should-retry": "false" } } }] })
      const error = yield* failure(sim, grok.chat(hello))
      expect(expectTag(error, "ServerError")).toMatchObject({ status: 503, retryable: false })
      expect(yield* sim.requestCount).toBe(1)
    })))

  it.effect("x-should-retry: true on a 400 allows a retry", () =>
    loopback(Effect.gen(function*() {
      const { grok, sim } = yield* setup({ faults: [{ nth: [1], fault: { kind: "status", status: 400, headers: { "x-should-retry": "true" } } }] })
      const reply = yield* driven(sim, grok.chat(hello))
      expect(Chat.contentOf(reply)).toBe(helloReply)
      expect((yield* sim.log).map((entry) => entry.status)).toEqual([400, 200])
    })))
})

describe("GrokClient on any HttpClient", () => {
  it.effect("on FetchHttpClient: a chat, a 503 retried, and a stream, against the simulator", () =>
    Effect.gen(function*() {
      const { grok, sim } = yield* setup({ faults: [{ nth: [1], fault: { kind: "status", status: 503 } }] })
      expect(Chat.contentOf(yield* driven(sim, grok.chat(hello)))).toBe(helloReply)
      expect((yield* sim.log).map((entry) => entry.status)).toEqual([503, 200])
      const chunks = yield* driven(sim, Stream.runCollect(grok.chatStream(hello)))
      expect(contentOf(chunks)).toBe(helloReply)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))
})

describe("GrokClient reads its services where they take effect", () => {
  /** A client on `sim` as a layer, needing only an HttpClient, as an app builds it. */
  const clientLayer = (sim: Simulator.Service) => GrokClient.layer({ apiKey: KEY, baseUrl: sim.url })
  const fiveCalls = Effect.flatMap(GrokClient.GrokClient, (grok) =>
    Effect.forEach(Array.from({ length: 5 }), () => grok.chat(hello, { retry: noRetry }), { concurrency: "unbounded" }))

  it.effect("a limiter merged beside the client, provided under it, or around the program paces the same calls the same way", () =>
    loopback(Effect.gen(function*() {
      const startsWith = (provide: (sim: Simulator.Service) => Layer.Layer<GrokClient.GrokClient, unknown, HttpClient.HttpClient>) =>
        Effect.gen(function*() {
          const sim = yield* Effect.orDie(Simulator.make({}))
          yield* driven(sim, Effect.provide(fiveCalls, provide(sim)).pipe(Effect.orDie, Effect.provide(NodeHttpClient.layerUndici)))
          const log = yield* sim.log
          const first = log[0]!.startedAt
          return log.map((entry) => entry.startedAt - first)
        })
      const limiter = () => RateLimiterMemory.layer({ limits: { requestsPerSecond: 2 } })
      const merged = yield* startsWith((sim) => Layer.mergeAll(clientLayer(sim), limiter()))
      const under = yield* startsWith((sim) => clientLayer(sim).pipe(Layer.provide(limiter())))
      const around = yield* Effect.gen(function*() {
        const sim = yield* Effect.orDie(Simulator.make({}))
        yield* driven(sim, fiveCalls.pipe(Effect.provide(clientLayer(sim)), Effect.provide(limiter()), Effect.orDie, Effect.provide(NodeHttpClient.layerUndici)))
        const log = yield* sim.log
        return log.map((entry) => entry.startedAt - log[0]!.startedAt)
      })
      // Paced at 2 per second: the fifth starts 2 s after the first, whichever way it was provided.
      expect(merged[4]).toBeGreaterThanOrEqual(1990)
      expect(under).toEqual(merged)
      expect(around).toEqual(merged)
      // Without a limiter anywhere, the client's own (no configured limits) lets them all go at once.
      const own = yield* startsWith(clientLayer)
      expect(own[4]).toBeLessThan(100)
    })))

  it.effect("two clients with different API keys and one rateLimitKey share one quota in the limiter above them", () =>
    loopback(Effect.gen(function*() {
      const startsWith = (rateLimitKey: string | undefined) =>
        Effect.gen(function*() {
          const sim = yield* Effect.orDie(Simulator.make({}))
          const a = yield* GrokClient.make(configFor(sim, { apiKey: "key-a", rateLimitKey }))
          const b = yield* GrokClient.make(configFor(sim, { apiKey: "key-b", rateLimitKey }))
          const calls = Effect.forEach([a, b, a, b], (grok) => grok.chat(hello, { retry: noRetry }), { concurrency: "unbounded" })
          yield* driven(sim, calls.pipe(Effect.provide(Layer.orDie(RateLimiterMemory.layer({ limits: { requestsPerSecond: 2 } })))))
          const log = yield* sim.log
          return log.map((entry) => entry.startedAt - log[0]!.startedAt).sort((x, y) => x - y)
        })
      // One team: the four calls share 2 per second.
      expect((yield* startsWith("team-7"))[3]).toBeGreaterThanOrEqual(1490)
      // Two quotas: each key sends its two calls 500 ms apart, side by side.
      expect((yield* startsWith(undefined))[3]).toBeLessThan(600)
    })))

  it.effect("a call the limiter cannot fit before its deadline is refused at once, saying so and predicting its wait", () =>
    loopback(Effect.gen(function*() {
      const { grok, sim } = yield* setup()
      const calls = Effect.forEach(
        Array.from({ length: 4 }),
        () => Effect.either(grok.chat(hello, { retry: noRetry, deadline: "1200 millis" })),
        { concurrency: "unbounded" }
      )
      const results = yield* driven(sim, calls.pipe(Effect.provide(Layer.orDie(RateLimiterMemory.layer({ limits: { requestsPerSecond: 2 } })))))
      const refused = results.flatMap((result) => (Either.isLeft(result) ? [result.left] : []))
      expect(results.filter(Either.isRight)).toHaveLength(3)
      expect(refused).toHaveLength(1)
      const error = expectTag(refused[0]!, "QueueRejected")
      expect(error).toMatchObject({ reason: "deadline", retryable: false })
      expect(millis(error.predictedWait)).toBeGreaterThan(1200)
      expect(error.message).toContain("its slot was")
      expect(yield* sim.requestCount).toBe(3)
    })))

  it.effect("the wrong way is not silent: two limiters pacing one quota at once are warned about, once", () =>
    loopback(Effect.gen(function*() {
      const warnings: Array<string> = []
      const capture = Logger.replace(
        Logger.defaultLogger,
        Logger.make(({ logLevel, message }) => {
          if (logLevel._tag === "Warning") warnings.push(String(Array.isArray(message) ? message.join(" ") : message))
        })
      )
      const sim = yield* Effect.orDie(Simulator.make({ latency: "1 second" }))
      // Two clients of one key, each with its own limiter (the trap), calling at the same time.
      const a = yield* GrokClient.make(configFor(sim, { apiKey: "one-team-key" }))
      const b = yield* GrokClient.make(configFor(sim, { apiKey: "one-team-key" }))
      const calls = Effect.all([a.chat(hello), b.chat(hello), a.chat(hello), b.chat(hello)], { concurrency: "unbounded" })
      yield* driven(sim, calls.pipe(Effect.provide(capture)))
      expect(warnings.filter((w) => w.includes("two rate limiters pace the same quota"))).toHaveLength(1)

      // One limiter provided above both: nothing to warn about.
      warnings.length = 0
      const c = yield* GrokClient.make(configFor(sim, { apiKey: "another-team-key" }))
      const d = yield* GrokClient.make(configFor(sim, { apiKey: "another-team-key" }))
      const shared = Effect.all([c.chat(hello), d.chat(hello), c.chat(hello), d.chat(hello)], { concurrency: "unbounded" })
      yield* driven(sim, shared.pipe(Effect.provide(Layer.orDie(RateLimiterMemory.layer({}))), Effect.provide(capture)))
      expect(warnings).toEqual([])
    })))

  it.effect("budget: false turns the retry budget off; a call the budget stops says so and is counted", () =>
    loopback(Effect.gen(function*() {
      const run = (budget: false | undefined) =>
        Effect.gen(function*() {
          // 16 calls one after the other, each meeting one 503 then a success: requests 1, 3, 5, ... fail.
          const odd = Array.from({ length: 16 }, (_, i) => 2 * i + 1)
          const sim = yield* Effect.orDie(Simulator.make({ faults: [{ nth: odd, fault: { kind: "status", status: 503 } }] }))
          const grok = yield* GrokClient.make(configFor(sim))
          const settings = RetryPolicy.layer({ policy: RetryPolicy.make({ maxRetries: 3 }), ...(budget === false ? { budget } : {}) })
          const calls = Effect.forEach(Array.from({ length: 16 }), () => Effect.either(grok.chat(hello))).pipe(
            Effect.provide(settings),
            Effect.provide(CircuitBreaker.layerDisabled),
            Effect.orDie
          )
          return yield* driven(sim, calls)
        })
      const refusals = counterTotal("effect_grok.retry_budget.refusals")
      const before = yield* refusals
      const off = yield* run(false)
      expect(off.filter(Either.isRight)).toHaveLength(16)
      expect(yield* refusals).toBe(before)

      // A fresh budget holds 10 tokens and gains 0.1 per call: 11 retries go ahead, the 12th call's is refused.
      const on = yield* run(undefined)
      expect(on.findIndex(Either.isLeft)).toBe(11)
      const stopped = on.flatMap((result) => (Either.isLeft(result) ? [result.left] : []))
      for (const error of stopped) {
        expect(expectTag(error, "ServerError")).toMatchObject({ status: 503, retryBudgetExhausted: true })
        expect(error.message).toContain("retry budget")
      }
      expect((yield* refusals) - before).toBe(stopped.length)
    })))

  it.effect("settings, a breaker and a key provider given around the program are the ones its calls use", () =>
    loopback(Effect.gen(function*() {
      const { grok, sim } = yield* setup({ faults: [{ nth: [1, 2], fault: { kind: "status", status: 503 } }] })
      const error = yield* failure(sim, grok.chat(hello).pipe(Effect.provide(Layer.orDie(RetryPolicy.layer({ policy: noRetry })))))
      expectTag(error, "ServerError")
      expect(yield* sim.requestCount).toBe(1)

      const breaker = yield* CircuitBreaker.make({ minimumCalls: 1, failureRatio: 1 })
      yield* failure(sim, grok.chat(hello, { retry: noRetry }).pipe(Effect.provideService(CircuitBreaker.CircuitBreaker, breaker)))
      expect(yield* breaker.state(`chat:${GrokConfig.defaultModel}`)).toBe("open")

      // The simulator knows only the rotated key: the configured one is refused.
      const keyed = yield* setup({ sim: { apiKeys: ["rotated-key"] } })
      expectTag(yield* failure(keyed.sim, keyed.grok.chat(hello)), "AuthenticationFailed")
      const rotated = ApiKeyProvider.layer(ApiKeyProvider.fixed(Redacted.make("rotated-key")))
      const reply = yield* driven(keyed.sim, keyed.grok.chat(hello).pipe(Effect.provide(rotated)))
      expect(Chat.contentOf(reply)).toBe(helloReply)
    })))
})

describe("GrokClient keeps the retry contract whatever Schedule it is given", () => {
  const unprocessable: FaultPlan.Fault = {
    kind: "status",
    status: 422,
    body: { code: "Client specified an invalid argument", error: "messages[0]: missing field `role`" }
  }
  const rateLimitedFor2s: FaultPlan.FaultPlan = [{ nth: [1], fault: { kind: "status", status: 429, headers: { "retry-after": "2" } } }]

  it.effect("a plain Schedule.recurs(3) per call: a 422 is sent once", () =>
    loopback(Effect.gen(function*() {
      const { grok, sim } = yield* setup({ faults: [{ fault: unprocessable }] })
      const error = yield* failure(sim, grok.chat(hello, { retry: Schedule.recurs(3) }))
      expect(expectTag(error, "BadRequest")).toMatchObject({ status: 422, retryable: false })
      expect(yield* sim.requestCount).toBe(1)
    })))

  it.effect("a plain Schedule.recurs(3) per call: after a 429 with Retry-After: 2 the next attempt starts 2 s later or more", () =>
    loopback(Effect.gen(function*() {
      const { grok, sim } = yield* setup({ faults: rateLimitedFor2s })
      const reply = yield* driven(sim, grok.chat(hello, { retry: Schedule.recurs(3) }))
      expect(Chat.contentOf(reply)).toBe(helloReply)
      const log = yield* sim.log
      expect(log.map((entry) => entry.status)).toEqual([429, 200])
      expect(startGaps(log)[0]).toBeGreaterThanOrEqual(2000)
    })))

  it.effect("the same through RetryPolicy.layer and for a stream's opening", () =>
    loopback(Effect.gen(function*() {
      const sim = yield* Effect.orDie(Simulator.make({ faults: [{ nth: [1, 2], fault: unprocessable }, ...rateLimitedFor2s.map((f) => ({ ...f, nth: [3] }))] }))
      const grok = yield* GrokClient.make(configFor(sim)).pipe(
        Effect.provide(RetryPolicy.layer({ policy: Schedule.forever }))
      )
      expectTag(yield* failure(sim, grok.chat(hello)), "BadRequest")
      expectTag(yield* failure(sim, Stream.runDrain(grok.chatStream(hello))), "BadRequest")
      expect(yield* sim.requestCount).toBe(2)
      yield* driven(sim, Stream.runDrain(grok.chatStream(hello, { retry: Schedule.recurs(3) })))
      const log = yield* sim.log
      expect(log.map((entry) => entry.status)).toEqual([422, 422, 429, 200])
      expect(startGaps(log)[2]).toBeGreaterThanOrEqual(2000)
    })))

  it.effect("a Retry-After beyond the settings' cap fails at once, even under Schedule.forever", () =>
    loopback(Effect.gen(function*() {
      const sim = yield* Effect.orDie(Simulator.make({ faults: [{ fault: { kind: "status", status: 429, headers: { "retry-after": "90" } } }] }))
      const grok = yield* GrokClient.make(configFor(sim)).pipe(
        Effect.provide(RetryPolicy.layer({ policy: Schedule.forever, retryAfterCap: "1 minute" }))
      )
      const error = expectTag(yield* failure(sim, grok.chat(hello)), "RateLimited")
      expect(millis(error.retryAfter)).toBe(90_000)
      expect(yield* sim.requestCount).toBe(1)
    })))
})

describe("GrokClient retries", () => {
  it.effect("503, 502, 500, then success: four attempts, one answer", () =>
    loopback(Effect.gen(function*() {
      const { grok, sim } = yield* setup({
        faults: [
          { nth: [1], fault: { kind: "status", status: 503 } },
          { nth: [2], fault: { kind: "status", status: 502 } },
          { nth: [3], fault: { kind: "status", status: 500 } }
        ]
      })
      const reply = yield* driven(sim, grok.chat(hello))
      expect(Chat.contentOf(reply)).toBe(helloReply)
      expect((yield* sim.log).map((entry) => entry.status)).toEqual([503, 502, 500, 200])
    })))

  it.effect("a connection reset, then success", () =>
    loopback(Effect.gen(function*() {
      const { grok, sim } = yield* setup({ faults: [{ nth: [1], fault: { kind: "reset" } }] })
      const reply = yield* driven(sim, grok.chat(hello))
      expect(Chat.contentOf(reply)).toBe(helloReply)
      expect((yield* sim.log).map((entry) => [entry.outcome, entry.status])).toEqual([["aborted", null], ["completed", 200]])
    })))

  it.effect("a first attempt slower than the attempt timeout, then success", () =>
    loopback(Effect.gen(function*() {
      const { grok, sim } = yield* setup({
        faults: [{ nth: [1], fault: { kind: "latency", millis: 60_000 } }],
        config: { attemptTimeout: "5 seconds" }
      })
      const started = yield* Clock.currentTimeMillis
      const reply = yield* driven(sim, grok.chat(hello))
      const elapsed = (yield* Clock.currentTimeMillis) - started
      expect(Chat.contentOf(reply)).toBe(helloReply)
      const log = yield* sim.log
      expect(log.map((entry) => entry.outcome)).toEqual(["client-closed", "completed"])
      expect(log[1]!.startedAt).toBeGreaterThanOrEqual(5000)
      // Well before the slow answer would have come.
      expect(elapsed).toBeLessThan(10_000)
    })))

  it.effect("a 200 with an error body, then success", () =>
    loopback(Effect.gen(function*() {
      const { grok, sim } = yield* setup({ faults: [{ nth: [1], fault: { kind: "errorInOk" } }] })
      const reply = yield* driven(sim, grok.chat(hello))
      expect(Chat.contentOf(reply)).toBe(helloReply)
      expect(yield* sim.requestCount).toBe(2)
    })))

  it.effect("Retry-After: 3600 fails at once with RateLimited, retryAfter and resetAt", () =>
    loopback(Effect.gen(function*() {
      const { grok, sim } = yield* setup({ faults: [{ fault: { kind: "status", status: 429, headers: { "retry-after": "3600" } } }] })
      const started = yield* Clock.currentTimeMillis
      const error = yield* failure(sim, grok.chat(hello))
      const limited = expectTag(error, "RateLimited")
      expect(limited).toMatchObject({ status: 429, retryable: true })
      expect(millis(limited.retryAfter)).toBe(3_600_000)
      expect(limited.resetAt).toBe(started + 3_600_000)
      expect((yield* Clock.currentTimeMillis) - started).toBe(0)
      expect(yield* sim.requestCount).toBe(1)
    })))

  it.effect("the deadline bounds a call whose every attempt stalls: Timeout phase deadline, at the deadline", () =>
    loopback(Effect.gen(function*() {
      const { grok, sim } = yield* setup({
        faults: [{ fault: { kind: "stall" } }],
        config: { attemptTimeout: "10 seconds", deadline: "15 seconds" }
      })
      const started = yield* Clock.currentTimeMillis
      const error = yield* failure(sim, grok.chat(hello))
      const timeout = expectTag(error, "Timeout")
      expect(timeout).toMatchObject({ phase: "deadline", retryable: false, status: null })
      expect(millis(timeout.after)).toBe(15_000)
      expect((yield* Clock.currentTimeMillis) - started).toBe(15_000)
      // The first attempt timed out at 10 s; the second was cut by the deadline.
      expect(yield* sim.requestCount).toBe(2)
      // A per-call deadline overrides the client's.
      const perCall = yield* failure(sim, grok.chat(hello, { deadline: "3 seconds" }))
      expect(perCall).toMatchObject({ _tag: "Timeout", phase: "deadline" })
    })))

  it.effect("a Retry-After longer than the time left before the deadline fails at once with the server's error", () =>
    loopback(Effect.gen(function*() {
      const { grok, sim } = yield* setup({
        faults: [{ fault: { kind: "status", status: 429, headers: { "retry-after": "30" } } }],
        config: { deadline: "10 seconds" }
      })
      const started = yield* Clock.currentTimeMillis
      const error = yield* failure(sim, grok.chat(hello))
      expect(error).toMatchObject({ _tag: "RateLimited", status: 429 })
      expect((yield* Clock.currentTimeMillis) - started).toBe(0)
      expect(yield* sim.requestCount).toBe(1)
    })))

  it.effect("a total outage: the retry budget keeps attempts per call <= 1.2 once its initial tokens are spent", () =>
    loopback(Effect.gen(function*() {
      const sim = yield* Effect.orDie(Simulator.make({ faults: [{ fault: { kind: "status", status: 503 } }] }))
      // This test is about the retry budget alone: no limiter pacing (slow start), and no
      // circuit breaker cutting the outage short.
      const grok = yield* GrokClient.make(configFor(sim)).pipe(
        Effect.provide(Layer.merge(RateLimiter.layerUnlimited, CircuitBreaker.layerDisabled))
      )
      // Without jitter the retries of a wave share a few instants: fewer clock steps, same budget.
      const policy = RetryPolicy.make({ jitter: "none" })
      const wave = (calls: number) =>
        Effect.forEach(Array.from({ length: calls }), () => Effect.flip(grok.chat(hello, { retry: policy })), { concurrency: "unbounded" })

      const first = yield* driven(sim, wave(100))
      expect(first.every((error) => error._tag === "ServerError")).toBe(true)
      const afterFirst = yield* sim.requestCount
      // 10 initial tokens + 0.1 per call: at most 20 retries, and the budget is now spent.
      expect(afterFirst).toBeGreaterThan(100)
      expect(afterFirst).toBeLessThanOrEqual(120)

      const second = yield* driven(sim, wave(100))
      expect(second.every((error) => error._tag === "ServerError")).toBe(true)
      const attempts = (yield* sim.requestCount) - afterFirst
      expect(attempts / 100).toBeLessThanOrEqual(1.2)
      // Without a budget, maxRetries 3 would have made 400.
    })))
})

describe("GrokClient key refresh", () => {
  const right = "xai-the-right-key-000000"

  const keyProvider = (refreshes: Ref.Ref<number>, next: Option.Option<string>) =>
    ApiKeyProvider.layer({
      current: Effect.succeed(Redacted.make(KEY)),
      refresh: Effect.as(Ref.update(refreshes, (n) => n + 1), Option.map(next, Redacted.make))
    })

  it.effect("a wrong current key and a newer one from refresh: the call succeeds after exactly one refresh", () =>
    loopback(Effect.gen(function*() {
      const sim = yield* Effect.orDie(Simulator.make({ apiKeys: [right] }))
      const refreshes = yield* Ref.make(0)
      const grok = yield* GrokClient.make(configFor(sim)).pipe(Effect.provide(keyProvider(refreshes, Option.some(right))))
      const reply = yield* driven(sim, grok.chat(hello))
      expect(Chat.contentOf(reply)).toBe(helloReply)
      expect(yield* Ref.get(refreshes)).toBe(1)
      expect((yield* sim.log).map((entry) => entry.status)).toEqual([400, 200])
    })))

  it.effect("without a newer key the call fails with AuthenticationFailed", () =>
    loopback(Effect.gen(function*() {
      const sim = yield* Effect.orDie(Simulator.make({ apiKeys: [right] }))
      const refreshes = yield* Ref.make(0)
      const grok = yield* GrokClient.make(configFor(sim)).pipe(Effect.provide(keyProvider(refreshes, Option.none())))
      const error = yield* failure(sim, grok.chat(hello))
      expect(error).toMatchObject({ _tag: "AuthenticationFailed", status: 400 })
      expect(yield* Ref.get(refreshes)).toBe(1)
      expect(yield* sim.requestCount).toBe(1)
    })))
})

describe("GrokClient streaming", () => {
  const collect = (grok: GrokClient.Service, options?: GrokClient.StreamOptions) =>
    Stream.runCollect(grok.chatStream(hello, options))

  it.effect("streams the simulator's reply, with usage in the last chunk", () =>
    loopback(Effect.gen(function*() {
      const { grok, sim } = yield* setup()
      const plain = yield* driven(sim, grok.chat(hello))
      const chunks = yield* driven(sim, collect(grok))
      expect(contentOf(chunks)).toBe(helloReply)
      expect(Chunk.size(chunks)).toBeGreaterThan(2)
      const usage = Chunk.last(chunks).pipe(Option.flatMap((chunk) => Option.fromNullable(chunk.usage)))
      expect(Option.getOrThrow(usage)).toMatchObject({ total_tokens: plain.usage?.total_tokens, prompt_tokens: plain.usage?.prompt_tokens })
      expect((yield* sim.log)[1]).toMatchObject({ stream: true, status: 200, outcome: "completed" })
    })))

  const beforeFirstToken: ReadonlyArray<readonly [string, FaultPlan.Fault]> = [
    ["a 503", { kind: "status", status: 503 }],
    ["a 200 with xAI's error body", { kind: "errorInOk" }],
    ["a connection reset", { kind: "reset" }]
  ]
  for (const [what, fault] of beforeFirstToken) {
    it.effect(`${what} before the first token is retried transparently`, () =>
      loopback(Effect.gen(function*() {
        const { grok, sim } = yield* setup({ faults: [{ nth: [1], fault }] })
        const chunks = yield* driven(sim, collect(grok))
        expect(contentOf(chunks)).toBe(helloReply)
        expect(yield* sim.requestCount).toBe(2)
      })))
  }

  it.effect("a stream dropped after 2 chunks ends with StreamBroken carrying the partial content, not retried", () =>
    loopback(Effect.gen(function*() {
      const { grok, sim } = yield* setup({ faults: [{ fault: { kind: "dropStream", afterChunks: 2 } }] })
      const received: Array<string> = []
      const error = yield* failure(
        sim,
        Stream.runForEach(grok.chatStream(hello), (chunk) => Effect.sync(() => received.push(chunk.choices[0]?.delta.content ?? "")))
      )
      const broken = expectTag(error, "StreamBroken")
      expect(broken.retryable).toBe(false)
      expect(broken.partial.content).toBe("Simulated reply")
      expect(broken.partial.chunks).toBe(2)
      // The caller saw exactly what the error says it saw.
      expect(received.join("")).toBe(broken.partial.content)
      expect(yield* sim.requestCount).toBe(1)
    })))

  it.effect("an xAI error sent as the first stream event is retried transparently", () =>
    loopback(Effect.gen(function*() {
      const { grok, sim } = yield* setup({ faults: [{ nth: [1], fault: eventStream(firstTokenTimeoutBody) }] })
      const chunks = yield* driven(sim, collect(grok))
      expect(contentOf(chunks)).toBe(helloReply)
      expect(yield* sim.requestCount).toBe(2)
    })))

  const afterContent: ReadonlyArray<readonly [string, FaultPlan.Fault, string]> = [
    ["an xAI error event", eventStream(chunkWith("Hello"), chunkWith(" there"), firstTokenTimeoutBody), "Hello there"],
    ["a malformed chunk", { kind: "malformed" }, "Simulated"],
    ["[DONE] without a finish_reason", eventStream(chunkWith("Hello"), "[DONE]"), "Hello"]
  ]
  for (const [what, fault, partial] of afterContent) {
    it.effect(`${what} after content started ends with StreamBroken and the partial content, not retried`, () =>
      loopback(Effect.gen(function*() {
        const { grok, sim } = yield* setup({ faults: [{ fault }] })
        const error = yield* failure(sim, Stream.runDrain(grok.chatStream(hello)))
        const broken = expectTag(error, "StreamBroken")
        expect(broken.retryable).toBe(false)
        expect(broken.partial.content).toBe(partial)
        expect(yield* sim.requestCount).toBe(1)
      })))
  }

  it.effect("a first token later than the first-token timeout is retried, and a later attempt succeeds", () =>
    loopback(Effect.gen(function*() {
      const { grok, sim } = yield* setup({ faults: [{ nth: [1], fault: { kind: "slowStream", firstTokenMillis: 60_000, chunkMillis: 0 } }] })
      const started = yield* Clock.currentTimeMillis
      const chunks = yield* driven(sim, collect(grok, { firstTokenTimeout: "5 seconds" }))
      expect(contentOf(chunks)).toBe(helloReply)
      const log = yield* sim.log
      expect(log.map((entry) => entry.outcome)).toEqual(["client-closed", "completed"])
      expect(log[1]!.startedAt).toBeGreaterThanOrEqual(5000)
      expect((yield* Clock.currentTimeMillis) - started).toBeLessThan(60_000)

      // Without retries the caller sees the retryable FirstTokenTimeout itself.
      yield* Effect.orDie(sim.setFaults([{ fault: { kind: "slowStream", firstTokenMillis: 60_000, chunkMillis: 0 } }]))
      const error = yield* failure(sim, Stream.runDrain(grok.chatStream(hello, { firstTokenTimeout: "5 seconds", retry: noRetry })))
      expect(error).toMatchObject({ _tag: "FirstTokenTimeout", retryable: true, status: null })
    })))

  it.effect("a stream silent for longer than the idle timeout ends with IdleTimeout and the partial output", () =>
    loopback(Effect.gen(function*() {
      const { grok, sim } = yield* setup({ faults: [{ fault: { kind: "slowStream", firstTokenMillis: 0, chunkMillis: 60_000 } }] })
      const started = yield* Clock.currentTimeMillis
      const error = yield* failure(sim, Stream.runDrain(grok.chatStream(hello, { idleTimeout: "5 seconds" })))
      const idle = expectTag(error, "IdleTimeout")
      expect(millis(idle.after)).toBe(5000)
      expect(idle.partial).toMatchObject({ content: "Simulated", chunks: 1 })
      expect((yield* Clock.currentTimeMillis) - started).toBe(5000)
      expect(yield* sim.requestCount).toBe(1)
    })))
})

describe("GrokClient stream metrics", () => {
  it.effect("every streamed call is counted once, with its outcome, including one that never got its first token", () =>
    loopback(Effect.gen(function*() {
      const { grok, sim } = yield* setup()
      const before = yield* requestOutcomes
      yield* driven(sim, Stream.runDrain(grok.chatStream(hello)))
      yield* Effect.orDie(sim.setFaults([{ fault: { kind: "status", status: 503 } }]))
      yield* driven(sim, Effect.either(Stream.runDrain(grok.chatStream(hello, { retry: noRetry }))))
      yield* Effect.orDie(sim.setFaults([{ fault: { kind: "dropStream", afterChunks: 2 } }]))
      yield* driven(sim, Effect.either(Stream.runDrain(grok.chatStream(hello))))
      expect(countsSince(before, yield* requestOutcomes)).toEqual({ "ok:none": 1, "error:ServerError": 1, "error:StreamBroken": 1 })
    })))
})

describe("GrokClient models and embeddings", () => {
  it.effect("models() lists the simulator's models; embed() returns vectors and its usage is recorded", () =>
    loopback(Effect.gen(function*() {
      const { grok, sim } = yield* setup()
      const before = yield* Metrics.snapshotTotals
      const models = yield* driven(sim, grok.models())
      expect(models.data.map((model) => model.id)).toContain("grok-4")

      const embedded = yield* driven(sim, grok.embed({ input: ["first text", "second text"] }))
      expect(embedded.data.map((vector) => vector.index)).toEqual([0, 1])
      expect(embedded.data[0]!.embedding.length).toBeGreaterThan(0)
      const after = yield* Metrics.snapshotTotals
      const totals = Metrics.diffTotals(before, after)
      expect(totals.requests).toBe(2)
      expect(totals.attempts).toBe(2)
      expect(totals.tokens.prompt).toBe(embedded.usage.prompt_tokens)
      expect(totals.tokens.total).toBe(embedded.usage.total_tokens)
      expect((yield* sim.log).map((entry) => [entry.method, entry.path, entry.status])).toEqual([
        ["GET", "/v1/models", 200],
        ["POST", "/v1/embeddings", 200]
      ])
      expect((yield* sim.log)[1]!.usage?.totalTokens).toBe(embedded.usage.total_tokens)
    })))

  it.effect("chat usage is recorded in the token metrics", () =>
    loopback(Effect.gen(function*() {
      const { grok, sim } = yield* setup()
      const before = yield* Metrics.snapshotTotals
      const reply = yield* driven(sim, grok.chat(hello))
      const totals = Metrics.diffTotals(before, yield* Metrics.snapshotTotals)
      expect(totals.tokens.total).toBe(reply.usage?.total_tokens)
      expect(totals.tokens.prompt).toBe(reply.usage?.prompt_tokens)
      expect(totals.tokens.completion).toBe(reply.usage?.completion_tokens)
    })))
})

describe("GrokClient keeps the API key secret", () => {
  it.effect("the key appears in no error message, no String(error), no Cause, and not in the simulator log", () =>
    loopback(Effect.gen(function*() {
      const errors: Array<GrokError.GrokError> = []
      const faults: ReadonlyArray<FaultPlan.Fault> = [
        { kind: "status", status: 401 },
        { kind: "status", status: 429, headers: { "retry-after": "1" } },
        { kind: "reset" },
        { kind: "malformed" },
        { kind: "errorInOk" },
        { kind: "dropStream", afterChunks: 2 }
      ]
      for (const fault of faults) {
        const { grok, sim } = yield* setup({ faults: [{ fault }] })
        errors.push(yield* failure(sim, grok.chat(hello, { retry: noRetry })))
        errors.push(yield* failure(sim, Stream.runDrain(grok.chatStream(hello, { retry: noRetry }))))
        expect(JSON.stringify(yield* sim.log)).not.toContain(KEY)
      }
      // A wrong key, quoted back (masked) by the server.
      const { grok, sim } = yield* setup({ sim: { apiKeys: ["xai-the-right-key-000000"] } })
      errors.push(yield* failure(sim, grok.chat(hello)))
      expect(JSON.stringify(yield* sim.log)).not.toContain(KEY)

      expect(new Set(errors.map((error) => error._tag))).toEqual(
        new Set(["AuthenticationFailed", "RateLimited", "TransportError", "DecodeError", "ErrorInBody", "StreamBroken"])
      )
      for (const error of errors) {
        expect(error.message).not.toContain(KEY)
        expect(String(error)).not.toContain(KEY)
        expect(Cause.pretty(Cause.fail(error))).not.toContain(KEY)
      }
      expect(String(grok.config.apiKey)).not.toContain(KEY)
    })))
})

/**
 * A client whose limiter lets one call at a time through, and that call in flight on a server
 * that never answers it: every other call of the key queues behind it.
 */
const behindStalledCall = (options: { readonly maxQueued?: number } = {}) =>
  Effect.gen(function*() {
    const sim = yield* Effect.orDie(Simulator.make({ faults: [{ nth: [1], fault: { kind: "stall" } }] }))
    const limiter = yield* Effect.orDie(RateLimiterMemory.make({ limits: { maxConcurrency: 1 }, ...options }))
    const grok = yield* GrokClient.make(configFor(sim)).pipe(Effect.provide(Layer.succeed(RateLimiter.RateLimiter, limiter)))
    const key = limitKey(Redacted.make(KEY), GrokConfig.defaultModel)
    const holder = yield* Effect.fork(grok.chat(hello, { retry: noRetry, attemptTimeout: "1 hour", deadline: "1 hour" }))
    yield* driven(sim, sim.awaitRequests(1))
    return { sim, limiter, grok, key, holder }
  })

describe("GrokClient and the rate limiter", () => {
  it.effect("works with RateLimiter.layerUnlimited", () =>
    loopback(Effect.gen(function*() {
      const sim = yield* Effect.orDie(Simulator.make())
      const grok = yield* GrokClient.make(configFor(sim)).pipe(Effect.provide(RateLimiter.layerUnlimited))
      const reply = yield* driven(sim, grok.chat(hello))
      expect(Chat.contentOf(reply)).toBe(helloReply)
    })))

  it.effect("an 'at capacity' 429 holds back only its own call; a rate-limit 429 pauses every caller of the key", () =>
    loopback(Effect.gen(function*() {
      const noRetry = { retry: RetryPolicy.make({ maxRetries: 0 }) }
      /** Virtual millis the next call waits after the first call got `refusal`. */
      const waitAfter = (refusal: FaultPlan.Fault) =>
        Effect.gen(function*() {
          const { grok, sim } = yield* setup({ faults: [{ nth: [1], fault: refusal }] })
          const error = yield* failure(sim, grok.chat(hello, noRetry))
          const started = yield* Clock.currentTimeMillis
          yield* driven(sim, grok.chat(hello))
          return { error, waited: (yield* Clock.currentTimeMillis) - started }
        })
      const capacity = yield* waitAfter(recorded("model-at-capacity", { "retry-after": "2" }))
      expect(capacity.error).toMatchObject({ _tag: "RateLimited", limit: "capacity" })
      expect(capacity.waited).toBe(0)
      const requests = yield* waitAfter(recorded("rate-limit-requests-per-minute", { "retry-after": "2" }))
      expect(requests.error).toMatchObject({ _tag: "RateLimited", limit: "requests" })
      expect(requests.waited).toBeGreaterThanOrEqual(1900)
    })))

  it.effect("the limiter gets the call's priority, a hashed key and a token estimate, and learns what happened", () =>
    loopback(Effect.gen(function*() {
      const sim = yield* Effect.orDie(Simulator.make({ faults: [{ nth: [1], fault: { kind: "status", status: 429, headers: { "retry-after": "2" } } }] }))
      const tickets: Array<RateLimiter.Ticket> = []
      const outcomes: Array<RateLimiter.Outcome> = []
      const recording: RateLimiter.Service = {
        ...RateLimiter.unlimited,
        acquire: (ticket) =>
          Effect.sync(() => {
            tickets.push(ticket)
            return { waited: Duration.zero, release: (outcome) => Effect.sync(() => void outcomes.push(outcome)) }
          })
      }
      const grok = yield* GrokClient.make(configFor(sim)).pipe(Effect.provide(Layer.succeed(RateLimiter.RateLimiter, recording)))
      const reply = yield* driven(sim, grok.chat(hello, { priority: "critical" }))
      expect(tickets).toHaveLength(2)
      for (const ticket of tickets) {
        expect(ticket.priority).toBe("critical")
        expect(ticket.key).toBe(limitKey(Redacted.make(KEY), GrokConfig.defaultModel))
        expect(ticket.key).not.toContain(KEY)
        expect(ticket.tokens).toBeGreaterThan(0)
      }
      expect(outcomes[0]).toMatchObject({ status: 429, rateLimited: true })
      expect(millis(outcomes[0]?.retryAfter)).toBe(2000)
      expect(outcomes[1]).toMatchObject({ status: 200, rateLimited: false, usedTokens: reply.usage?.total_tokens })

      yield* driven(sim, Stream.runDrain(grok.chatStream(hello, { priority: "background" })))
      expect(tickets[2]?.priority).toBe("background")
      expect(outcomes[2]).toMatchObject({ status: 200, usedTokens: reply.usage?.total_tokens })
    })))

  it.effect("a call waiting for the limiter past its deadline fails then with the limiter's reason, sends nothing, and leaves the queue", () =>
    loopback(Effect.gen(function*() {
      const { grok, holder, key, limiter, sim } = yield* behindStalledCall()
      const started = yield* Clock.currentTimeMillis
      const error = yield* failure(sim, grok.chat(hello, { deadline: "3 seconds" }))
      const refused = expectTag(error, "QueueRejected")
      expect(refused).toMatchObject({ reason: "deadline", retryable: false })
      expect(millis(refused.deadline)).toBe(3000)
      expect(millis(refused.waited)).toBe(3000)
      expect(refused.message).toContain("rate limiter could not let the call go within its deadline of 3s")
      expect((yield* Clock.currentTimeMillis) - started).toBe(3000)
      expect(yield* sim.requestCount).toBe(1)
      expect(yield* limiter.stats(key)).toMatchObject({ queued: 0, inFlight: 1 })
      yield* Fiber.interrupt(holder)
      expect(yield* limiter.stats(key)).toMatchObject({ queued: 0, inFlight: 0 })
    })))

  it.effect("a call the limiter's full queue refuses fails with QueueRejected at once; the queued call goes on", () =>
    loopback(Effect.gen(function*() {
      const { grok, holder, key, limiter, sim } = yield* behindStalledCall({ maxQueued: 1 })
      const queued = yield* Effect.fork(grok.chat(hello, { retry: noRetry }))
      while ((yield* limiter.stats(key)).queued === 0) yield* Effect.yieldNow()
      const started = yield* Clock.currentTimeMillis
      const refused = yield* Effect.flip(grok.chat(hello, { retry: noRetry }))
      expect(refused).toMatchObject({ _tag: "QueueRejected", reason: "queue-full", retryable: true })
      expect(yield* Clock.currentTimeMillis).toBe(started)
      expect(yield* sim.requestCount).toBe(1)
      yield* Fiber.interrupt(holder)
      expect(Chat.contentOf(yield* driven(sim, Fiber.join(queued)))).toBe(helloReply)
      expect(yield* sim.requestCount).toBe(2)
    })))

  it.effect("a call interrupted while it waits for the limiter leaves the queue and holds nothing", () =>
    loopback(Effect.gen(function*() {
      const { grok, holder, key, limiter, sim } = yield* behindStalledCall()
      const queued = Effect.map(limiter.stats(key), (stats) => stats.queued)
      const waiting = yield* Effect.fork(grok.chat(hello))
      while ((yield* queued) === 0) yield* Effect.yieldNow()
      yield* Fiber.interrupt(waiting)
      expect(yield* limiter.stats(key)).toMatchObject({ queued: 0, inFlight: 1 })
      yield* Fiber.interrupt(holder)
      expect(yield* limiter.stats(key)).toMatchObject({ queued: 0, inFlight: 0 })
      // With a bulkhead of one, a permit left behind would block this call.
      const reply = yield* driven(sim, grok.chat(hello))
      expect(Chat.contentOf(reply)).toBe(helloReply)
      expect(yield* sim.requestCount).toBe(2)
    })))

  it.effect("a stream waiting for the limiter: ends at its deadline with the limiter's reason, or leaves the queue when interrupted", () =>
    loopback(Effect.gen(function*() {
      const { grok, holder, key, limiter, sim } = yield* behindStalledCall()

      const started = yield* Clock.currentTimeMillis
      const error = yield* failure(sim, Stream.runDrain(grok.chatStream(hello, { deadline: "3 seconds" })))
      expect(error).toMatchObject({ _tag: "QueueRejected", reason: "deadline" })
      expect((yield* Clock.currentTimeMillis) - started).toBe(3000)
      expect(yield* limiter.stats(key)).toMatchObject({ queued: 0, inFlight: 1 })

      const waiting = yield* Effect.fork(Stream.runDrain(grok.chatStream(hello)))
      while ((yield* limiter.stats(key)).queued === 0) yield* Effect.yieldNow()
      yield* Fiber.interrupt(waiting)
      expect(yield* limiter.stats(key)).toMatchObject({ queued: 0, inFlight: 1 })
      expect(yield* sim.requestCount).toBe(1)

      yield* Fiber.interrupt(holder)
      const chunks = yield* driven(sim, Stream.runCollect(grok.chatStream(hello)))
      expect(contentOf(chunks)).toBe(helloReply)
      expect(yield* limiter.stats(key)).toMatchObject({ queued: 0, inFlight: 0 })
    })))

  it.effect("every call releases its permit: successes, failures, timeouts, broken streams, interruption", () =>
    loopback(Effect.gen(function*() {
      const sim = yield* Effect.orDie(Simulator.make())
      const limiter = yield* Effect.orDie(RateLimiterMemory.make({ limits: { maxConcurrency: 1 } }))
      const grok = yield* GrokClient.make(configFor(sim)).pipe(Effect.provide(Layer.succeed(RateLimiter.RateLimiter, limiter)))
      const key = limitKey(Redacted.make(KEY), GrokConfig.defaultModel)
      const settled = Effect.map(limiter.stats(key), ({ inFlight, queued }) => ({ inFlight, queued }))

      const scenarios: ReadonlyArray<readonly [FaultPlan.FaultPlan, Effect.Effect<unknown, unknown>]> = [
        [[], grok.chat(hello)],
        [[{ fault: { kind: "status", status: 503 } }], grok.chat(hello, { retry: noRetry })],
        [[{ fault: { kind: "reset" } }], grok.chat(hello, { retry: noRetry })],
        [[{ fault: { kind: "latency", millis: 60_000 } }], grok.chat(hello, { retry: noRetry, attemptTimeout: "1 second" })],
        [[], Stream.runDrain(grok.chatStream(hello))],
        [[{ fault: { kind: "dropStream", afterChunks: 2 } }], Stream.runDrain(grok.chatStream(hello))],
        [[{ fault: { kind: "slowStream", firstTokenMillis: 0, chunkMillis: 60_000 } }], Stream.runDrain(grok.chatStream(hello, { idleTimeout: "1 second" }))],
        // An early exit: the caller stops reading after the first chunk.
        [[], Stream.runDrain(Stream.take(grok.chatStream(hello), 1))]
      ]
      for (const [faults, call] of scenarios) {
        yield* Effect.orDie(sim.setFaults(faults))
        yield* driven(sim, Effect.either(call))
        expect(yield* settled).toEqual({ inFlight: 0, queued: 0 })
      }

      // Interrupted while the server stalls.
      yield* Effect.orDie(sim.setFaults([{ fault: { kind: "stall" } }]))
      const before = yield* sim.requestCount
      const stalled = yield* Effect.fork(grok.chat(hello))
      yield* driven(sim, sim.awaitRequests(before + 1))
      yield* Fiber.interrupt(stalled)
      expect(yield* settled).toEqual({ inFlight: 0, queued: 0 })

      // With a bulkhead of one, a leaked permit would block this call.
      yield* Effect.orDie(sim.setFaults([]))
      const reply = yield* driven(sim, grok.chat(hello))
      expect(Chat.contentOf(reply)).toBe(helloReply)
    })))
})
