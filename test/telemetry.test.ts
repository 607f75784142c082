/**
 * What every call records, checked against what the simulator saw: scripted workloads over
 * real loopback sockets on the TestClock, then the metric registry read back (as deltas:
 * the registry is per process), the spans an OpenTelemetry in-memory exporter received, and
 * the log lines a capturing logger received. The API key appears in none of them.
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { describe, expect, it } from "@effect/vitest"
import type { HttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Chunk, Effect, Either, HashMap, List, Logger, LogLevel, Metric, MetricState, type Scope, Stream } from "effect"
import * as GrokClient from "../src/GrokClient.js"
import * as Logging from "../src/Logging.js"
import * as GrokConfig from "../src/GrokConfig.js"
import * as RateLimiter from "../src/resilience/RateLimiter.js"
import * as RateLimiterMemory from "../src/resilience/RateLimiterMemory.js"
import * as RetryBudget from "../src/resilience/RetryBudget.js"
import * as RetryPolicy from "../src/resilience/RetryPolicy.js"
import type * as FaultPlan from "../src/simulator/FaultPlan.js"
import * as Simulator from "../src/simulator/Simulator.js"
import * as Metrics from "../src/telemetry/Metrics.js"
import { drive, simulatorActivity } from "./support/drive.js"

const KEY = "xai-telemetry-secret-0123456789abcdef"
const hello: GrokClient.ChatRequest = { messages: [{ role: "user", content: "Say hi" }] }

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

const loopback = <A, E>(body: Effect.Effect<A, E, Scope.Scope | HttpClient.HttpClient>) =>
  body.pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))

interface Setup {
  readonly sim: Simulator.Service
  readonly grok: GrokClient.Service
  readonly budget: RetryBudget.RetryBudget
}

const setup = (
  options: {
    readonly faults?: FaultPlan.FaultPlan
    readonly sim?: Simulator.SimulatorOptions
    readonly limiter?: RateLimiter.Service
  } = {}
): Effect.Effect<Setup, never, Scope.Scope | HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const sim = yield* Effect.orDie(Simulator.make({ ...options.sim, faults: options.faults ?? [] }))
    const budget = yield* RetryBudget.make()
    const config = Either.getOrThrow(GrokConfig.make({ apiKey: KEY, baseUrl: sim.url }))
    const grok = yield* GrokClient.make(config).pipe(
      Effect.provideService(RetryPolicy.RetrySettings, { ...RetryPolicy.defaultSettings, budget }),
      Effect.provideService(RateLimiter.RateLimiter, options.limiter ?? RateLimiter.unlimited)
    )
    return { sim, grok, budget }
  })

/** Run `program` in a fiber, letting loopback I/O settle and moving the TestClock from timer to timer. */
const driven = <A, E>(sim: Simulator.Service, program: Effect.Effect<A, E>) =>
  Effect.flatMap(Effect.fork(program), (fiber) => drive(fiber, simulatorActivity(sim)))

/** A counter's total over the label sets that carry every label in `where`. */
const counter = (name: string, where: Record<string, string> = {}): Effect.Effect<number> =>
  Effect.map(Metric.snapshot, (pairs) => {
    let sum = 0
    for (const pair of pairs) {
      if (pair.metricKey.name !== name || !MetricState.isCounterState(pair.metricState)) continue
      const matches = Object.entries(where).every(([key, value]) =>
        pair.metricKey.tags.some((label) => label.key === key && label.value === value)
      )
      if (matches) sum += Number(pair.metricState.count)
    }
    return sum
  })

/** A histogram's count and sum over the label sets that carry every label in `where`. */
const histogram = (name: string, where: Record<string, string> = {}): Effect.Effect<{ count: number; sum: number }> =>
  Effect.map(Metric.snapshot, (pairs) => {
    const total = { count: 0, sum: 0 }
    for (const pair of pairs) {
      if (pair.metricKey.name !== name || !MetricState.isHistogramState(pair.metricState)) continue
      const matches = Object.entries(where).every(([key, value]) =>
        pair.metricKey.tags.some((label) => label.key === key && label.value === value)
      )
      if (!matches) continue
      total.count += pair.metricState.count
      total.sum += pair.metricState.sum
    }
    return total
  })

const readAll = <K extends string>(measures: Record<K, Effect.Effect<number>>): Effect.Effect<Record<K, number>> =>
  Effect.map(
    Effect.forEach(Object.keys(measures) as Array<K>, (key) => Effect.map(measures[key], (value) => [key, value] as const)),
    (entries) => Object.fromEntries(entries) as Record<K, number>
  )

/** Read a set of named measures before and after `program`, and answer the differences. */
const deltas = <K extends string, A, E>(
  measures: Record<K, Effect.Effect<number>>,
  program: Effect.Effect<A, E>
): Effect.Effect<{ readonly result: A; readonly delta: Record<K, number> }, E> =>
  Effect.gen(function*() {
    const before = yield* readAll(measures)
    const result = yield* program
    const after = yield* readAll(measures)
    const delta = {} as Record<K, number>
    for (const key of Object.keys(measures) as Array<K>) delta[key] = after[key] - before[key]
    return { result, delta }
  })

const sum = (log: ReadonlyArray<Simulator.LoggedRequest>, pick: (usage: Simulator.Usage) => number) =>
  log.reduce((total, entry) => total + (entry.usage === undefined ? 0 : pick(entry.usage)), 0)

// ---------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------

describe("metrics: what the registry says equals what the simulator saw", () => {
  it.effect("a workload with 503s, 429s, streams and embeddings: attempts, 429s, retries, tokens", () =>
    loopback(Effect.gen(function*() {
      const { budget, grok, sim } = yield* setup({
        faults: [
          { nth: [1, 2], fault: { kind: "status", status: 503 } },
          { nth: [5, 6], fault: { kind: "status", status: 429, headers: { "retry-after": "2" } } },
          { nth: [9, 9], fault: { kind: "reset" } }
        ]
      })
      const calls = Effect.all([
        ...Array.from({ length: 6 }, () => Effect.either(grok.chat(hello))),
        Effect.either(Stream.runCollect(grok.chatStream(hello))),
        Effect.either(Stream.runCollect(grok.chatStream({ ...hello, model: "grok-3-mini" }))),
        Effect.either(grok.embed({ input: ["one", "two"], model: "grok-embed" }))
      ], { concurrency: 1 })
      const { delta, result } = yield* deltas({
        requests: counter("effect_grok.requests"),
        ok: counter("effect_grok.requests", { outcome: "ok", "http.response.status_code": "200" }),
        attempts: counter("effect_grok.attempts"),
        attempts503: counter("effect_grok.attempts", { "http.response.status_code": "503", "error.type": "ServerError" }),
        attemptsReset: counter("effect_grok.attempts", { "http.response.status_code": "none", "error.type": "TransportError" }),
        status429: counter("effect_grok.rate_limited"),
        retries: counter("effect_grok.retries"),
        retryAfter: counter("effect_grok.retries", { reason: "retry-after" }),
        input: counter("effect_grok.tokens", { "gen_ai.token.type": "input" }),
        output: counter("effect_grok.tokens", { "gen_ai.token.type": "output" }),
        reasoning: counter("effect_grok.tokens", { "gen_ai.token.type": "reasoning" }),
        total: counter("effect_grok.tokens", { "gen_ai.token.type": "total" }),
        semconvInput: Effect.map(histogram("gen_ai.client.token.usage", { "gen_ai.token.type": "input" }), (h) => h.sum),
        semconvOutput: Effect.map(histogram("gen_ai.client.token.usage", { "gen_ai.token.type": "output" }), (h) => h.sum),
        durations: Effect.map(histogram("gen_ai.client.operation.duration", { "gen_ai.provider.name": "x_ai" }), (h) => h.count),
        attemptDurations: Effect.map(histogram("effect_grok.attempt.duration"), (h) => h.count),
        limiterWaits: Effect.map(histogram("effect_grok.limiter.wait"), (h) => h.count),
        latencies: Effect.map(Metric.value(Metrics.latencyMillis), (s) => s.count)
      }, driven(sim, calls))
      const log = yield* sim.log

      expect(result.filter((outcome) => outcome._tag === "Left")).toEqual([])
      // 503, 503, ok | ok | 429, 429, ok | ok | reset, ok | ok | stream | stream | embeddings
      expect(log).toHaveLength(14)
      expect(delta.requests).toBe(9)
      expect(delta.ok).toBe(9)
      expect(delta.attempts).toBe(log.length)
      expect(delta.attempts503).toBe(log.filter((entry) => entry.status === 503).length)
      expect(delta.attemptsReset).toBe(1)
      expect(delta.status429).toBe(log.filter((entry) => entry.status === 429).length)
      expect(delta.status429).toBe(2)
      expect(delta.retries).toBe(log.length - 9)
      expect(delta.retryAfter).toBe(2)
      // Usage the simulator sent, summed: chat, both streams and the embeddings.
      expect(delta.input).toBe(sum(log, (u) => u.promptTokens))
      expect(delta.output).toBe(sum(log, (u) => u.completionTokens))
      expect(delta.reasoning).toBe(sum(log, (u) => u.reasoningTokens))
      expect(delta.reasoning).toBeGreaterThan(0)
      expect(delta.total).toBe(sum(log, (u) => u.totalTokens))
      expect(delta.semconvInput).toBe(delta.input)
      expect(delta.semconvOutput).toBe(delta.output + delta.reasoning)
      expect(delta.durations).toBe(9)
      expect(delta.latencies).toBe(9)
      expect(delta.attemptDurations).toBe(log.length)
      expect(delta.limiterWaits).toBe(log.length)
      // The budget gauge follows the client's budget.
      expect((yield* Metric.value(Metrics.retryBudgetLevel)).value).toBe(yield* budget.level)
    })))

  it.effect("snapshotTotals: the --json totals are read from the registry", () =>
    loopback(Effect.gen(function*() {
      const { grok, sim } = yield* setup({ faults: [{ nth: [1, 1], fault: { kind: "status", status: 429 } }] })
      const before = yield* Metrics.snapshotTotals
      yield* driven(sim, Effect.all([grok.chat(hello), grok.chat({ ...hello, model: "grok-3-mini" })]))
      const totals = Metrics.diffTotals(before, yield* Metrics.snapshotTotals)
      const log = yield* sim.log
      expect(totals).toMatchObject({
        requests: 2,
        attempts: log.length,
        retries: 1,
        status429: 1,
        tokens: {
          prompt: sum(log, (u) => u.promptTokens),
          completion: sum(log, (u) => u.completionTokens),
          reasoning: sum(log, (u) => u.reasoningTokens),
          total: sum(log, (u) => u.totalTokens)
        }
      })
    })))

  it.effect("a failed call: requests by error.type and the last status; a 429's limit", () =>
    loopback(Effect.gen(function*() {
      const { grok, sim } = yield* setup({
        faults: [{ fault: { kind: "status", status: 429, headers: { "retry-after": "3600" } } }]
      })
      const { delta, result } = yield* deltas({
        failed: counter("effect_grok.requests", {
          outcome: "error",
          "error.type": "RateLimited",
          "http.response.status_code": "429",
          "gen_ai.operation.name": "chat"
        }),
        durationsFailed: Effect.map(
          histogram("gen_ai.client.operation.duration", { "error.type": "RateLimited" }),
          (h) => h.count
        ),
        limited: counter("effect_grok.rate_limited", { "gen_ai.request.model": "grok-4.3" })
      }, driven(sim, Effect.either(grok.chat(hello))))
      expect(Either.isLeft(result)).toBe(true)
      expect(delta).toEqual({ failed: 1, durationsFailed: 1, limited: 1 })
    })))

  it.effect("the limiter's queue depth while calls wait, and zero once they are done", () =>
    loopback(Effect.gen(function*() {
      const limiter = yield* Effect.orDie(RateLimiterMemory.make({ limits: { requestsPerSecond: 1 }, startSlow: false }))
      const { grok, sim } = yield* setup({ limiter })
      const gauge = (metric: Metric.Metric.Gauge<number>) =>
        Effect.map(Metric.value(Metric.tagged(metric, "gen_ai.request.model", "grok-4.3")), (state) => state.value)
      const fiber = yield* Effect.fork(Effect.all(Array.from({ length: 5 }, () => grok.chat(hello)), { concurrency: 5 }))
      yield* sim.awaitRequests(1)
      // The first call is in flight; the other four wait for their turn.
      const waiting = yield* gauge(Metrics.limiterQueueDepth)
      expect(waiting).toBeGreaterThanOrEqual(3)
      yield* drive(fiber, simulatorActivity(sim))
      expect(yield* gauge(Metrics.limiterQueueDepth)).toBe(0)
      expect(yield* gauge(Metrics.limiterInFlight)).toBe(0)
      const waits = yield* histogram("effect_grok.limiter.wait", { "gen_ai.request.model": "grok-4.3" })
      // Paced at about one per second: the waits add up to about 1 + 2 + 3 + 4 seconds.
      expect(waits.sum).toBeGreaterThan(9)
    })))

  it.effect("one registry entry per label set, however many calls (the cause of the p50 == p99 bug)", () =>
    loopback(Effect.gen(function*() {
      const { grok, sim } = yield* setup()
      const entries = Effect.map(Metric.snapshot, (pairs) => pairs.length)
      yield* driven(sim, grok.chat(hello))
      const before = yield* entries
      yield* driven(sim, Effect.all(Array.from({ length: 20 }, () => grok.chat(hello)), { concurrency: 4 }))
      expect(yield* entries).toBe(before)
    })))
})

// ---------------------------------------------------------------------------
// Spans
// ---------------------------------------------------------------------------

const tracing = (exporter: InMemorySpanExporter) => NodeSdk.layer(() => ({ spanProcessor: new SimpleSpanProcessor(exporter) }))

const attribute = (span: ReadableSpan, key: string) => span.attributes[key]

/** Every string a span carries: name, attributes, events, links, status. */
const textsOf = (span: ReadableSpan): ReadonlyArray<string> => [
  span.name,
  span.status.message ?? "",
  ...Object.entries(span.attributes).flatMap(([key, value]) => [key, JSON.stringify(value)]),
  ...span.events.flatMap((event) => [event.name, JSON.stringify(event.attributes ?? {})]),
  ...span.links.map((link) => JSON.stringify(link.attributes ?? {}))
]

describe("spans: one per call, a child per attempt", () => {
  it.effect("a retried call: the call's span and its two attempts, with status, error, delay, request id and usage", () => {
    const exporter = new InMemorySpanExporter()
    return loopback(Effect.gen(function*() {
      const { grok, sim } = yield* setup({ faults: [{ nth: [1, 1], fault: { kind: "status", status: 503 } }] })
      yield* driven(sim, grok.chat(hello))
      const log = yield* sim.log
      const spans = exporter.getFinishedSpans()
      const call = spans.find((span) => span.name === "chat grok-4.3")!
      expect(call).toBeDefined()
      expect(call.attributes).toMatchObject({
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "grok-4.3",
        "gen_ai.provider.name": "x_ai",
        "effect_grok.attempts": 2,
        "http.response.status_code": 200
      })
      const attempts = spans
        .filter((span) => span.name === "effect_grok.attempt")
        .sort((a, b) => Number(attribute(a, "effect_grok.attempt")) - Number(attribute(b, "effect_grok.attempt")))
      expect(attempts).toHaveLength(2)
      for (const child of attempts) expect(child.parentSpanContext?.spanId).toBe(call.spanContext().spanId)
      expect(attempts[0]!.attributes).toMatchObject({
        "effect_grok.attempt": 1,
        "http.response.status_code": 503,
        "error.type": "ServerError",
        "effect_grok.request_id": log[0]!.requestId
      })
      const usage = log[1]!.usage!
      expect(attempts[1]!.attributes).toMatchObject({
        "effect_grok.attempt": 2,
        "effect_grok.retry.reason": "backoff",
        "http.response.status_code": 200,
        "effect_grok.request_id": log[1]!.requestId,
        "gen_ai.usage.input_tokens": usage.promptTokens,
        "gen_ai.usage.output_tokens": usage.completionTokens + usage.reasoningTokens,
        "gen_ai.usage.reasoning.output_tokens": usage.reasoningTokens,
        "effect_grok.usage.total_tokens": usage.totalTokens
      })
      expect(attribute(attempts[1]!, "effect_grok.retry.delay_ms")).toBeGreaterThan(0)
      // The HTTP client's own spans sit below the attempts.
      expect(spans.some((span) => span.parentSpanContext?.spanId === attempts[1]!.spanContext().spanId)).toBe(true)
    })).pipe(Effect.provide(tracing(exporter)))
  })

  it.effect("a stream's call span lasts as long as the stream and carries its usage", () => {
    const exporter = new InMemorySpanExporter()
    return loopback(Effect.gen(function*() {
      const { grok, sim } = yield* setup()
      const chunks = yield* driven(sim, Stream.runCollect(grok.chatStream(hello)))
      expect(Chunk.size(chunks)).toBeGreaterThan(1)
      const usage = (yield* sim.log)[0]!.usage!
      const call = exporter.getFinishedSpans().find((span) => span.name === "chat grok-4.3")!
      expect(call.attributes).toMatchObject({
        "effect_grok.attempts": 1,
        "gen_ai.usage.input_tokens": usage.promptTokens,
        "effect_grok.usage.total_tokens": usage.totalTokens
      })
      const attempt = exporter.getFinishedSpans().find((span) => span.name === "effect_grok.attempt")!
      expect(attempt.parentSpanContext?.spanId).toBe(call.spanContext().spanId)
    })).pipe(Effect.provide(tracing(exporter)))
  })

  it.effect("the API key appears in no span: names, attributes, events, links, status", () => {
    const exporter = new InMemorySpanExporter()
    return loopback(Effect.gen(function*() {
      const { grok, sim } = yield* setup({
        faults: [
          { nth: [1, 1], fault: { kind: "status", status: 500 } },
          { nth: [2, 2], fault: { kind: "reset" } },
          { nth: [5, 5], fault: { kind: "status", status: 401 } }
        ]
      })
      yield* driven(sim, Effect.all([
        Effect.either(grok.chat(hello)),
        Effect.either(Stream.runCollect(grok.chatStream(hello))),
        Effect.either(grok.chat(hello)),
        Effect.either(grok.embed({ input: "x", model: "grok-embed" })),
        Effect.either(grok.models())
      ], { concurrency: 1 }))
      const spans = exporter.getFinishedSpans()
      expect(spans.length).toBeGreaterThan(10)
      // The HTTP client records request headers: the authorization header is there, redacted.
      const headers = spans.map((span) => attribute(span, "http.request.header.authorization")).filter((v) => v !== undefined)
      expect(headers.length).toBeGreaterThan(0)
      const leaks = spans.flatMap((span) => textsOf(span).filter((text) => text.includes(KEY)).map((text) => `${span.name}: ${text}`))
      expect(leaks).toEqual([])
      expect(spans.flatMap(textsOf).some((text) => text.includes(KEY.slice(4, 20)))).toBe(false)
    })).pipe(Effect.provide(tracing(exporter)))
  })
})

// ---------------------------------------------------------------------------
// Logs
// ---------------------------------------------------------------------------

interface Line {
  readonly level: LogLevel.LogLevel
  readonly message: string
  readonly annotations: Readonly<Record<string, unknown>>
  readonly text: string
}

const capture = (lines: Array<Line>) =>
  Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ annotations, cause, logLevel, message, spans }) => {
      const text = [
        String(message),
        JSON.stringify(Object.fromEntries(HashMap.toEntries(annotations))),
        JSON.stringify(List.toArray(spans).map((span) => span.label)),
        String(cause)
      ].join(" ")
      lines.push({
        level: logLevel,
        message: Array.isArray(message) ? message.map(String).join(" ") : String(message),
        annotations: Object.fromEntries(HashMap.toEntries(annotations)),
        text
      })
    })
  )

describe("logs: structured, at sensible levels, never the key", () => {
  /** Two calls: one retried after a 503, one failing with a 400; the log lines they write at `level`. */
  const retryAndFailure = (lines: Array<Line>, level: LogLevel.LogLevel | undefined) =>
    loopback(Effect.gen(function*() {
      const { grok, sim } = yield* setup({
        faults: [
          { nth: [1, 1], fault: { kind: "status", status: 503 } },
          { nth: [3, 3], fault: { kind: "status", status: 400 } }
        ]
      })
      const calls = Effect.all([Effect.either(grok.chat(hello)), Effect.either(grok.chat(hello))], { concurrency: 1 })
      yield* driven(sim, level === undefined ? calls : Logging.withLevel(calls, level))
      return yield* sim.log
    })).pipe(Effect.provide(capture(lines)), Logger.withMinimumLogLevel(LogLevel.All))

  it.effect("by default a retry and a failed call are logged at Debug, with attempt, rounded delay, reason and request id", () => {
    const lines: Array<Line> = []
    return Effect.gen(function*() {
      const log = yield* retryAndFailure(lines, undefined)
      const retry = lines.find((line) => line.message === "retrying Grok call")!
      expect(retry.level).toBe(LogLevel.Debug)
      expect(retry.annotations).toMatchObject({
        operation: "chat",
        model: "grok-4.3",
        attempt: 1,
        reason: "backoff",
        error: "ServerError",
        status: 503,
        requestId: log[0]!.requestId
      })
      expect(retry.annotations["delayMs"]).toBeGreaterThan(0)
      expect(Number.isInteger(retry.annotations["delayMs"])).toBe(true)
      const failed = lines.filter((line) => line.message === "Grok call failed")
      expect(failed).toHaveLength(1)
      expect(failed[0]!.level).toBe(LogLevel.Debug)
      expect(failed[0]!.annotations).toMatchObject({
        error: "BadRequest",
        status: 400,
        requestId: log[2]!.requestId,
        attempts: 1
      })
      // Nothing above Debug: an app that handles these errors sees no warning of ours.
      expect(lines.filter((line) => line.level !== LogLevel.Debug)).toEqual([])
      expect(lines.filter((line) => line.text.includes(KEY))).toEqual([])
    })
  })

  it.effect("Logging.withLevel raises them all; LogLevel.None silences them", () => {
    const info: Array<Line> = []
    const none: Array<Line> = []
    return Effect.gen(function*() {
      yield* retryAndFailure(info, LogLevel.Info)
      const ours = info.filter((line) => line.message === "retrying Grok call" || line.message === "Grok call failed")
      expect(ours).toHaveLength(2)
      expect(ours.every((line) => line.level === LogLevel.Info)).toBe(true)
      yield* retryAndFailure(none, LogLevel.None)
      expect(none.filter((line) => line.message === "retrying Grok call" || line.message === "Grok call failed")).toEqual([])
    })
  })
})
