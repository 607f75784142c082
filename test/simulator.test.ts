/**
 * GrokSimulator over real loopback sockets: responses shaped like xAI's, the key check,
 * quotas and their headers on the TestClock, every fault kind, the fault plan's matching,
 * the request log, and determinism under a seed.
 */
import { describe, expect, it } from "@effect/vitest"
import { Command } from "@effect/cli"
import { NodeContext } from "@effect/platform-node"
import { Chunk, Clock, Effect, Either, Exit, Fiber, Layer, Option, Queue, Scope, Stream, TestClock } from "effect"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { CliOutput } from "../src/cli/output.js"
import { simulateCommand } from "../src/cli/simulate.js"
import type { FaultPlan } from "../src/simulator/FaultPlan.js"
import { goDuration } from "../src/simulator/internal/quotaHeaders.js"
import * as Quota from "../src/simulator/Quota.js"
import type { SimulatorOptions } from "../src/simulator/Simulator.js"
import * as Simulator from "../src/simulator/Simulator.js"
import * as GrokClient from "../src/GrokClient.js"
import * as RetryPolicy from "../src/resilience/RetryPolicy.js"
import * as RateLimiterMemory from "../src/resilience/RateLimiterMemory.js"
import * as Chat from "../src/schema/Chat.js"
import { drive, simulatorActivity } from "./support/drive.js"

const KEY = "xai-test-key-0123456789"

interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly text: string
}

const request = (
  url: string,
  init: { readonly method?: string; readonly body?: unknown; readonly key?: string | null; readonly raw?: string } = {}
): Effect.Effect<Answer> =>
  Effect.tryPromise(async (signal) => {
    const headers: Record<string, string> = { "content-type": "application/json" }
    if (init.key !== null) headers["authorization"] = `Bearer ${init.key ?? KEY}`
    const response = await fetch(url, {
      method: init.method ?? (init.body === undefined && init.raw === undefined ? "GET" : "POST"),
      headers,
      body: init.raw ?? (init.body === undefined ? undefined : JSON.stringify(init.body)),
      signal
    })
    return { status: response.status, headers: response.headers, text: await response.text() }
  }).pipe(Effect.orDie)

const chat = (content: string, extra: Record<string, unknown> = {}) => ({
  model: "grok-4",
  messages: [{ role: "system", content: "You are a helpful assistant" }, { role: "user", content }],
  ...extra
})

const post = (sim: Simulator.Service, body: unknown, key?: string | null) =>
  request(`${sim.url}/chat/completions`, { body, key })

interface WireUsage {
  readonly prompt_tokens: number
  readonly completion_tokens: number
  readonly total_tokens: number
  readonly prompt_tokens_details: unknown
  readonly completion_tokens_details: { readonly reasoning_tokens: number }
  readonly cost_in_usd_ticks: number
}

interface Completion {
  readonly object: string
  readonly model: string
  readonly choices: ReadonlyArray<{
    readonly message: { readonly content: string; readonly reasoning_content?: string }
    readonly finish_reason: string
  }>
  readonly usage: WireUsage
}

interface Chunk {
  readonly id: string
  readonly object: string
  readonly model: string
  readonly choices: ReadonlyArray<{
    readonly delta: { readonly role?: string; readonly content?: string; readonly reasoning_content?: string }
    readonly finish_reason?: string
  }>
  readonly usage?: WireUsage
}

interface ErrorBody {
  readonly code: string
  readonly error: string
}

interface ModelList {
  readonly object: string
  readonly data: ReadonlyArray<{ readonly id: string }>
}

interface Embeddings {
  readonly object: string
  readonly data: ReadonlyArray<{ readonly index: number; readonly embedding: ReadonlyArray<number> }>
  readonly usage: unknown
}

interface Base64Embeddings {
  readonly data: ReadonlyArray<{ readonly embedding: string }>
}

/** The body as the JSON type the test expects (the assertions check it). */
const json = <A = ErrorBody>(answer: Answer): A => JSON.parse(answer.text)

const chunksOf = (text: string): ReadonlyArray<Chunk> =>
  sseEvents(text).slice(0, -1).map((event): Chunk => JSON.parse(event))

/** The `data:` payloads of an SSE body, in order (`[DONE]` included). */
const sseEvents = (text: string): ReadonlyArray<string> =>
  text.split("\n\n").filter((block) => block.length > 0).map((block) => {
    expect(block.startsWith("data: ")).toBe(true)
    return block.slice("data: ".length)
  })

const withSimulator = <A, E>(
  options: SimulatorOptions,
  use: (sim: Simulator.Service) => Effect.Effect<A, E, Scope.Scope>
) => Effect.scoped(Effect.flatMap(Simulator.make(options), use))

describe("GrokSimulator responses", () => {
  it.effect("answers a chat completion shaped like xAI's, echoing the model, with deterministic usage", () =>
    withSimulator({}, (sim) =>
      Effect.gen(function*() {
        const answer = yield* post(sim, chat("Say hi in Portuguese"))
        expect(answer.status).toBe(200)
        expect(answer.headers.get("content-type")).toBe("application/json")
        expect(answer.headers.get("x-request-id")).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
        const body = json<Completion>(answer)
        expect(body.object).toBe("chat.completion")
        expect(body.model).toBe("grok-4")
        expect(body.choices).toEqual([{
          index: 0,
          message: { role: "assistant", content: "Simulated reply to \"Say hi in Portuguese\".", refusal: null },
          finish_reason: "stop"
        }])
        // "You are a helpful assistant" + "Say hi in Portuguese" = 47 chars -> 12 tokens; one token
        // per reply word (7); grok-4 counts (hidden) reasoning tokens on top, as xAI does.
        const usage = body.usage
        expect(usage.prompt_tokens).toBe(12)
        expect(usage.completion_tokens).toBe(7)
        expect(usage.completion_tokens_details.reasoning_tokens).toBeGreaterThan(0)
        expect(usage.total_tokens).toBe(12 + 7 + usage.completion_tokens_details.reasoning_tokens)
        expect(usage.cost_in_usd_ticks).toBe(12 * 2000 + (7 + usage.completion_tokens_details.reasoning_tokens) * 5000)
        expect(usage.prompt_tokens_details).toEqual({ text_tokens: 12, audio_tokens: 0, image_tokens: 0, cached_tokens: 0 })
        expect(answer.headers.get("x-ratelimit-limit-requests")).toBeNull()
      })
    ))

  it.effect("streams SSE like the recordings: role first, one delta per word, empty finish delta, usage, [DONE]", () =>
    withSimulator({}, (sim) =>
      Effect.gen(function*() {
        const plain = json<Completion>(yield* post(sim, chat("Say hi in Portuguese")))
        const answer = yield* post(
          sim,
          chat("Say hi in Portuguese", { stream: true, stream_options: { include_usage: true } })
        )
        expect(answer.status).toBe(200)
        expect(answer.headers.get("content-type")).toBe("text/event-stream")
        const events = sseEvents(answer.text)
        expect(events.at(-1)).toBe("[DONE]")
        const chunks = chunksOf(answer.text)
        expect(chunks.every((chunk) => chunk.object === "chat.completion.chunk" && chunk.model === "grok-4")).toBe(true)
        expect(new Set(chunks.map((chunk) => chunk.id)).size).toBe(1)
        expect(chunks[0]?.choices[0]?.delta).toEqual({ content: "Simulated", role: "assistant" })
        const content = chunks.flatMap((chunk) => chunk.choices.map((choice) => choice.delta.content ?? ""))
        expect(content.filter((piece: string) => piece.length > 0).length).toBe(7)
        expect(content.join("")).toBe(plain.choices[0]?.message.content)
        expect(chunks.at(-2)?.choices).toEqual([{ index: 0, delta: {}, finish_reason: "stop" }])
        expect(chunks.at(-1)?.choices).toEqual([])
        expect(chunks.at(-1)?.usage).toEqual(plain.usage)

        const withoutUsage = sseEvents((yield* post(sim, chat("Say hi in Portuguese", { stream: true }))).text)
        expect(withoutUsage.some((event) => event.includes("\"usage\""))).toBe(false)
        expect(withoutUsage.at(-1)).toBe("[DONE]")
      })
    ))

  it.effect("streams reasoning_content first for a visible-reasoning model", () =>
    withSimulator({}, (sim) =>
      Effect.gen(function*() {
        const answer = yield* post(sim, chat("Why is the sky blue?", { model: "grok-3-mini", stream: true }))
        const chunks = chunksOf(answer.text)
        expect(chunks[0]?.choices[0]?.delta.role).toBe("assistant")
        expect(chunks[0]?.choices[0]?.delta.reasoning_content).toBeTypeOf("string")
        const kinds = chunks.flatMap((chunk) =>
          chunk.choices.flatMap((choice) =>
            "reasoning_content" in choice.delta ? ["reasoning"] : "content" in choice.delta ? ["content"] : []
          )
        )
        expect(kinds.indexOf("content")).toBeGreaterThan(kinds.lastIndexOf("reasoning"))
        const plain = json<Completion>(yield* post(sim, chat("Why is the sky blue?", { model: "grok-3-mini" })))
        expect(plain.choices[0]?.message.reasoning_content).toBeTypeOf("string")
      })
    ))

  it.effect("cuts the reply at max_tokens with finish_reason length", () =>
    withSimulator({}, (sim) =>
      Effect.gen(function*() {
        const body = json<Completion>(yield* post(sim, chat("Say hi in Portuguese", { model: "grok-3", max_tokens: 2 })))
        expect(body.choices[0]?.message.content).toBe("Simulated reply")
        expect(body.choices[0]?.finish_reason).toBe("length")
        expect(body.usage.completion_tokens).toBe(2)
        expect(body.usage.total_tokens).toBe(body.usage.prompt_tokens + 2)
      })
    ))

  it.effect("lists and retrieves models; an unknown id is xAI's 404", () =>
    withSimulator({ models: { "grok-9-test": {} } }, (sim) =>
      Effect.gen(function*() {
        const list = json<ModelList>(yield* request(`${sim.url}/models`))
        expect(list.object).toBe("list")
        expect(list.data.map((model) => model.id)).toEqual(expect.arrayContaining(["grok-4", "grok-9-test"]))
        expect(json<unknown>(yield* request(`${sim.url}/models/grok-3-mini`))).toEqual({
          id: "grok-3-mini",
          created: 1_735_689_600,
          object: "model",
          owned_by: "xai"
        })
        const missing = yield* request(`${sim.url}/models/grok-0`)
        expect(missing.status).toBe(404)
        expect(json(missing).code).toBe("not-found")
        expect(json(missing).error).toContain("The model grok-0 does not exist")
      })
    ))

  it.effect("embeds deterministically: one unit vector per input, base64 equal to float, usage", () =>
    withSimulator({}, (sim) =>
      Effect.gen(function*() {
        const embed = (extra: Record<string, unknown>) =>
          request(`${sim.url}/embeddings`, { body: { model: "grok-embed", input: ["alpha", "beta gamma"], ...extra } })
        const floats = json<Embeddings>(yield* embed({ dimensions: 8 }))
        expect(floats.object).toBe("list")
        expect(floats.data.map((item) => item.index)).toEqual([0, 1])
        const [first = [], second] = floats.data.map((item) => item.embedding)
        expect(first).toHaveLength(8)
        expect(Math.hypot(...first)).toBeCloseTo(1, 5)
        expect(first).not.toEqual(second)
        expect(json<Embeddings>(yield* embed({ dimensions: 8 })).data[0]?.embedding).toEqual(first)
        expect(floats.usage).toEqual({ prompt_tokens: 2 + 3, total_tokens: 5 })
        const base64 = json<Base64Embeddings>(yield* embed({ dimensions: 8, encoding_format: "base64" })).data[0]?.embedding
        const decoded = Array.from(new Float32Array(new Uint8Array(Buffer.from(base64 ?? "", "base64")).buffer))
        expect(decoded).toEqual(first)
        const defaultSize = json<Embeddings>(yield* request(`${sim.url}/embeddings`, { body: { model: "m", input: "x" } }))
        expect(defaultSize.data[0]?.embedding).toHaveLength(1024)
      })
    ))

  it.effect("answers protocol errors with xAI bodies: 404, 405, 400 bad JSON, 422 missing field", () =>
    withSimulator({}, (sim) =>
      Effect.gen(function*() {
        const unknown = yield* request(`${sim.url}/nothing-here`, { body: {} })
        expect(unknown.status).toBe(404)
        expect(json(unknown).code).toBe("not-found")
        const wrongMethod = yield* request(`${sim.url}/chat/completions`)
        expect(wrongMethod.status).toBe(405)
        expect(wrongMethod.headers.get("allow")).toBe("POST")
        const badJson = yield* request(`${sim.url}/chat/completions`, { raw: "{\"model\": " })
        expect(badJson.status).toBe(400)
        expect(json(badJson).code).toBe("invalid-argument")
        expect(json(badJson).error).toContain("Failed to parse the request body as JSON")
        const missing = yield* post(sim, { model: "grok-4" })
        expect(missing.status).toBe(422)
        expect(json(missing).error).toBe("Failed to deserialize the JSON body into the target type: messages: is missing")
        expect(json(missing).code).toBe("invalid-argument")
        for (const answer of [unknown, wrongMethod, badJson, missing]) {
          expect(answer.headers.get("x-request-id")).not.toBeNull()
        }
      })
    ))
})

describe("GrokSimulator key check", () => {
  it.effect("401 without a key, xAI's masked 400 for a wrong one, 200 for a listed one", () =>
    withSimulator({ apiKeys: [KEY] }, (sim) =>
      Effect.gen(function*() {
        const missing = yield* post(sim, chat("hi"), null)
        expect(missing.status).toBe(401)
        const wrong = yield* post(sim, chat("hi"), "xai-wrong-key-sf")
        expect(wrong.status).toBe(400)
        expect(json(wrong)).toEqual({
          code: "invalid-argument",
          error: "Incorrect API key provided: xa***sf. You can obtain an API key from https://console.x.ai."
        })
        expect((yield* post(sim, chat("hi"))).status).toBe(200)
        const log = yield* sim.log
        expect(log.map((entry) => entry.status)).toEqual([401, 400, 200])
        expect(JSON.stringify(log)).not.toContain("xai-wrong-key-sf")
      })
    ))

  it.effect("accepts any non-empty key when apiKeys is not set", () =>
    withSimulator({}, (sim) =>
      Effect.gen(function*() {
        expect((yield* post(sim, chat("hi"), "anything")).status).toBe(200)
        expect((yield* post(sim, chat("hi"), null)).status).toBe(401)
      })
    ))
})

describe("GrokSimulator quotas", () => {
  const quotaOf = (options: SimulatorOptions) =>
    withSimulator({ quota: { requestsPerSecond: 2 }, ...options }, (sim) =>
      Effect.gen(function*() {
        const first = yield* post(sim, chat("hi"))
        const second = yield* post(sim, chat("hi"))
        const third = yield* post(sim, chat("hi"))
        yield* TestClock.adjust("500 millis")
        const fourth = yield* post(sim, chat("hi"))
        return { first, second, third, fourth }
      })
    )

  it.effect("admits a burst, then 429s with xAI's body, openai headers and Retry-After, and refills with the clock", () =>
    Effect.gen(function*() {
      const { first, second, third, fourth } = yield* quotaOf({})
      expect([first.status, second.status, third.status, fourth.status]).toEqual([200, 200, 429, 200])
      expect(first.headers.get("x-ratelimit-limit-requests")).toBe("120")
      expect(first.headers.get("x-ratelimit-remaining-requests")).toBe("1")
      expect(first.headers.get("x-ratelimit-reset-requests")).toBe("500ms")
      expect(second.headers.get("x-ratelimit-remaining-requests")).toBe("0")
      expect(second.headers.get("x-ratelimit-reset-requests")).toBe("1s")
      expect(json(third)).toEqual({
        code: "resource-exhausted",
        error: "Too many requests for team 00000000-0000-0000-0000-000000000000 and model grok-4. " +
          "Your team's rate limit is — Requests per Second (actual/limit): 3/2."
      })
      expect(third.headers.get("retry-after")).toBe("1")
      expect(third.headers.get("x-ratelimit-remaining-requests")).toBe("0")
      expect(third.headers.get("x-request-id")).not.toBeNull()
      expect(fourth.headers.get("x-ratelimit-remaining-requests")).toBe("0")
    }))

  it.effect("sends Retry-After as milliseconds, as an HTTP-date, or not at all", () =>
    Effect.gen(function*() {
      const ms = (yield* quotaOf({ retryAfter: "ms" })).third
      expect(ms.headers.get("retry-after-ms")).toBe("500")
      expect(ms.headers.get("retry-after")).toBeNull()
      const date = (yield* quotaOf({ retryAfter: "http-date" })).third
      // TestClock is at 0; the request fits at 500 ms, rounded up to the next whole second
      expect(date.headers.get("retry-after")).toBe("Thu, 01 Jan 1970 00:00:01 GMT")
      const none = (yield* quotaOf({ retryAfter: "none" })).third
      expect(none.status).toBe(429)
      expect(none.headers.get("retry-after")).toBeNull()
      expect(none.headers.get("retry-after-ms")).toBeNull()
    }))

  it.effect("sends generic X-RateLimit-* headers, or none", () =>
    Effect.gen(function*() {
      const generic = yield* quotaOf({ headers: "generic" })
      expect(generic.first.headers.get("x-ratelimit-limit")).toBe("120")
      expect(generic.first.headers.get("x-ratelimit-remaining")).toBe("1")
      expect(generic.third.headers.get("x-ratelimit-reset")).toBe("1")
      expect(generic.first.headers.get("x-ratelimit-limit-requests")).toBeNull()
      const none = yield* quotaOf({ headers: "none" })
      expect([...none.first.headers.keys()].filter((name) => name.includes("ratelimit"))).toEqual([])
      expect(none.third.headers.get("retry-after")).toBe("1")
    }))

  it.effect("per-minute quotas with a burst pace one request per interval", () =>
    withSimulator({ quota: { requestsPerMinute: 60, burst: 1 } }, (sim) =>
      Effect.gen(function*() {
        expect((yield* post(sim, chat("hi"))).status).toBe(200)
        const refused = yield* post(sim, chat("hi"))
        expect(refused.status).toBe(429)
        expect(json(refused).error).toContain("Requests per Minute (actual/limit): 2/60.")
        expect(refused.headers.get("retry-after")).toBe("1")
        expect(refused.headers.get("x-ratelimit-limit-requests")).toBe("60")
        yield* TestClock.adjust("999 millis")
        expect((yield* post(sim, chat("hi"))).status).toBe(429)
        yield* TestClock.adjust("1 millis")
        expect((yield* post(sim, chat("hi"))).status).toBe(200)
      })
    ))

  it.effect("tokens per minute: charges usage.total_tokens, 429s with the tokens message", () =>
    Effect.gen(function*() {
      const cost = yield* withSimulator({}, (sim) =>
        Effect.map(post(sim, chat("hi")), (answer) => json<Completion>(answer).usage.total_tokens))
      yield* withSimulator({ models: { "grok-4": { quota: { tokensPerMinute: 2 * cost + 1 } } } }, (sim) =>
        Effect.gen(function*() {
          const first = yield* post(sim, chat("hi"))
          expect(first.headers.get("x-ratelimit-limit-tokens")).toBe(String(2 * cost + 1))
          expect(first.headers.get("x-ratelimit-remaining-tokens")).toBe(String(cost + 1))
          expect(first.headers.get("x-ratelimit-limit-requests")).toBeNull()
          expect((yield* post(sim, chat("hi"))).status).toBe(200)
          const refused = yield* post(sim, chat("hi"))
          expect(refused.status).toBe(429)
          expect(json(refused).error).toBe(
            "Too many tokens for team 00000000-0000-0000-0000-000000000000 and model grok-4. Your team's rate limit is — " +
              `Tokens per Minute (actual/limit): ${3 * cost}/${2 * cost + 1}. You can view your team rate limits at https://console.x.ai.`
          )
          // other models are not limited
          expect((yield* post(sim, chat("hi", { model: "grok-3" }))).status).toBe(200)
          // cost - 1 tokens missing at (2 cost + 1) per minute
          const waitMillis = Math.ceil(((cost - 1) * 60_000) / (2 * cost + 1))
          expect(refused.headers.get("retry-after")).toBe(String(Math.ceil(waitMillis / 1000)))
          yield* TestClock.adjust(waitMillis)
          expect((yield* post(sim, chat("hi"))).status).toBe(200)
        })
      )
    }))

  it.effect("setQuota replaces a model's quota at runtime; reset restores the initial state", () =>
    withSimulator({}, (sim) =>
      Effect.gen(function*() {
        yield* sim.setQuota("grok-4", { requestsPerSecond: 1 })
        expect((yield* post(sim, chat("hi"))).status).toBe(200)
        expect((yield* post(sim, chat("hi"))).status).toBe(429)
        const invalid = yield* Effect.either(sim.setQuota("grok-4", { requestsPerSecond: -1 }))
        expect(Either.isLeft(invalid) && invalid.left._tag).toBe("InvalidQuota")
        yield* sim.reset
        expect(yield* sim.requestCount).toBe(0)
        expect(yield* sim.log).toEqual([])
        expect((yield* post(sim, chat("hi"))).status).toBe(200)
        expect((yield* post(sim, chat("hi"))).status).toBe(200)
      })
    ))
})

describe("GrokSimulator faults", () => {
  it.effect("status: any status, body and headers for chosen request numbers", () =>
    withSimulator({
      faults: [
        { nth: [1], fault: { kind: "status", status: 503 } },
        {
          nth: [2],
          fault: {
            kind: "status",
            status: 429,
            headers: { "retry-after": "3600" },
            body: { code: "Some resource has been exhausted", error: "Your team has used all available credits." }
          }
        },
        { nth: [3], fault: { kind: "status", status: 502, body: "<html>Bad Gateway</html>" } }
      ]
    }, (sim) =>
      Effect.gen(function*() {
        const unavailable = yield* post(sim, chat("hi"))
        expect(unavailable.status).toBe(503)
        expect(json(unavailable)).toEqual({ code: "unavailable", error: "The service is currently unavailable." })
        const exhausted = yield* post(sim, chat("hi"))
        expect(exhausted.status).toBe(429)
        expect(exhausted.headers.get("retry-after")).toBe("3600")
        expect(json(exhausted).code).toBe("Some resource has been exhausted")
        const proxy = yield* post(sim, chat("hi"))
        expect(proxy.status).toBe(502)
        expect(proxy.headers.get("content-type")).toContain("text/plain")
        expect(proxy.text).toBe("<html>Bad Gateway</html>")
        expect((yield* post(sim, chat("hi"))).status).toBe(200)
        expect((yield* sim.log).map((entry) => entry.fault)).toEqual(["status", "status", "status", undefined])
      })
    ))

  it.effect("latency: answers normally once the clock has moved past the delay", () =>
    withSimulator({ faults: [{ fault: { kind: "latency", millis: 5000 } }] }, (sim) =>
      Effect.gen(function*() {
        const pending = yield* Effect.fork(post(sim, chat("hi")))
        yield* sim.awaitRequests(1)
        yield* TestClock.adjust("4999 millis")
        expect((yield* sim.log)[0]?.outcome).toBe("in-flight")
        yield* TestClock.adjust("1 millis")
        const answer = yield* Fiber.join(pending)
        expect(answer.status).toBe(200)
        const [entry] = yield* sim.log
        expect(entry?.fault).toBe("latency")
        expect(entry?.startedAt).toBe(0)
        expect(entry?.endedAt).toBe(5000)
      })
    ))

  it.effect("the latency option delays every answer", () =>
    withSimulator({ latency: "2 seconds" }, (sim) =>
      Effect.gen(function*() {
        const pending = yield* Effect.fork(request(`${sim.url}/models`))
        yield* sim.awaitRequests(1)
        yield* TestClock.adjust("2 seconds")
        expect((yield* Fiber.join(pending)).status).toBe(200)
        expect((yield* sim.log)[0]?.endedAt).toBe(2000)
      })
    ))

  it.effect("reset: destroys the connection without answering", () =>
    withSimulator({ faults: [{ nth: [1], fault: { kind: "reset" } }] }, (sim) =>
      Effect.gen(function*() {
        const failed = yield* Effect.exit(
          Effect.tryPromise(() => fetch(`${sim.url}/chat/completions`, { method: "POST", body: JSON.stringify(chat("hi")) }))
        )
        expect(Exit.isFailure(failed)).toBe(true)
        yield* sim.awaitCompleted(1)
        expect((yield* sim.log)[0]).toMatchObject({ status: null, fault: "reset", outcome: "aborted" })
        expect((yield* post(sim, chat("hi"))).status).toBe(200)
      })
    ))

  it.effect("stall: a stream gets its headers and then nothing until the client leaves", () =>
    withSimulator({ faults: [{ fault: { kind: "stall" } }] }, (sim) =>
      Effect.gen(function*() {
        const received = yield* Queue.unbounded<string>()
        const client = yield* Effect.fork(Effect.tryPromise(async (signal) => {
          const response = await fetch(`${sim.url}/chat/completions`, {
            method: "POST",
            headers: { authorization: `Bearer ${KEY}` },
            body: JSON.stringify(chat("hi", { stream: true })),
            signal
          })
          await Effect.runPromise(Queue.offer(received, `status ${response.status}`))
          const reader = response.body!.getReader()
          for (;;) {
            const { done, value } = await reader.read()
            if (done) break
            await Effect.runPromise(Queue.offer(received, Buffer.from(value).toString()))
          }
        }))
        expect(yield* Queue.take(received)).toBe("status 200")
        yield* TestClock.adjust("1 hour")
        expect((yield* sim.log)[0]).toMatchObject({ status: 200, fault: "stall", outcome: "in-flight" })
        yield* Fiber.interrupt(client)
        yield* sim.awaitCompleted(1)
        expect((yield* sim.log)[0]?.outcome).toBe("client-closed")
        expect(yield* Queue.size(received)).toBe(0)
      })
    ))

  it.effect("stall: a plain request gets no status line at all", () =>
    withSimulator({ faults: [{ nth: [1], fault: { kind: "stall" } }] }, (sim) =>
      Effect.gen(function*() {
        const client = yield* Effect.fork(post(sim, chat("hi")))
        yield* sim.awaitRequests(1)
        yield* TestClock.adjust("1 hour")
        yield* Fiber.interrupt(client)
        yield* sim.awaitCompleted(1)
        expect((yield* sim.log)[0]).toMatchObject({ status: null, fault: "stall", outcome: "client-closed" })
        expect((yield* post(sim, chat("hi"))).status).toBe(200)
      })
    ))

  it.effect("malformed: a 200 whose JSON is cut; in a stream one chunk is cut", () =>
    withSimulator({ faults: [{ fault: { kind: "malformed" } }] }, (sim) =>
      Effect.gen(function*() {
        const plain = yield* post(sim, chat("hi"))
        expect(plain.status).toBe(200)
        expect(plain.headers.get("content-type")).toBe("application/json")
        expect(() => JSON.parse(plain.text)).toThrow()
        expect(plain.text.startsWith("{\"id\":")).toBe(true)
        const stream = yield* post(sim, chat("hi", { stream: true }))
        const events = sseEvents(stream.text)
        expect(events.at(-1)).toBe("[DONE]")
        const broken = events.slice(0, -1).filter((event) => {
          try {
            JSON.parse(event)
            return false
          } catch {
            return true
          }
        })
        expect(broken).toHaveLength(1)
        // a request that fails anyway keeps its real error
        expect((yield* post(sim, chat("hi"), null)).status).toBe(401)
      })
    ))

  it.effect("errorInOk: 200 application/json carrying xAI's first-token timeout", () =>
    withSimulator({ faults: [{ fault: { kind: "errorInOk" } }] }, (sim) =>
      Effect.gen(function*() {
        const answer = yield* post(sim, chat("hi", { stream: true }))
        expect(answer.status).toBe(200)
        expect(answer.headers.get("content-type")).toBe("application/json")
        expect(json(answer)).toEqual({
          code: "The service is currently unavailable",
          error: "Timed out waiting for first token"
        })
      })
    ))

  it.effect("dropStream: sends N chunks then cuts the connection", () =>
    withSimulator({ faults: [{ fault: { kind: "dropStream", afterChunks: 2 } }] }, (sim) =>
      Effect.gen(function*() {
        const result = yield* Effect.promise(async () => {
          const response = await fetch(`${sim.url}/chat/completions`, {
            method: "POST",
            headers: { authorization: `Bearer ${KEY}` },
            body: JSON.stringify(chat("Say hi in Portuguese", { stream: true }))
          })
          let text = ""
          const reader = response.body!.getReader()
          try {
            for (;;) {
              const { done, value } = await reader.read()
              if (done) return { status: response.status, text, broken: false }
              text += Buffer.from(value).toString()
            }
          } catch {
            return { status: response.status, text, broken: true }
          }
        })
        expect(result.status).toBe(200)
        expect(result.broken).toBe(true)
        expect(sseEvents(result.text)).toHaveLength(2)
        expect(result.text).not.toContain("[DONE]")
        yield* sim.awaitCompleted(1)
        expect((yield* sim.log)[0]).toMatchObject({ status: 200, fault: "dropStream", outcome: "aborted" })
      })
    ))

  it.effect("slowStream: first chunk after the first-token delay, then one chunk per interval", () =>
    withSimulator({ faults: [{ fault: { kind: "slowStream", firstTokenMillis: 1000, chunkMillis: 200 } }] }, (sim) =>
      Effect.gen(function*() {
        const arrivals = yield* Queue.unbounded<{ readonly at: number; readonly text: string }>()
        const client = yield* Effect.fork(Effect.gen(function*() {
          const response = yield* Effect.promise(() =>
            fetch(`${sim.url}/chat/completions`, {
              method: "POST",
              headers: { authorization: `Bearer ${KEY}` },
              body: JSON.stringify(chat("Say hi in Portuguese", { stream: true }))
            })
          )
          const reader = response.body!.getReader()
          for (;;) {
            const { done, value } = yield* Effect.promise(() => reader.read())
            if (done) return
            const at = yield* TestClock.currentTimeMillis
            yield* Queue.offer(arrivals, { at, text: Buffer.from(value).toString() })
          }
        }))
        yield* sim.awaitRequests(1)
        yield* TestClock.adjust("1000 millis")
        const first = yield* Queue.take(arrivals)
        expect(first.at).toBe(1000)
        expect(first.text).toContain("\"role\":\"assistant\"")
        yield* TestClock.adjust("200 millis")
        const second = yield* Queue.take(arrivals)
        expect(second.at).toBe(1200)
        expect(second.text).toContain("\"content\":\" reply\"")
        yield* TestClock.adjust("1 minute")
        yield* Fiber.join(client)
        const rest = yield* Queue.takeAll(arrivals)
        expect([...rest].map((arrival) => arrival.text).join("")).toContain("data: [DONE]")
      })
    ))
})

describe("GrokSimulator fault matching", () => {
  it.effect("counts request numbers among all requests or among one model's", () =>
    withSimulator({
      faults: [
        { model: "grok-3", nth: [2], fault: { kind: "status", status: 500 } },
        { countOf: "all", from: 4, to: 5, fault: { kind: "status", status: 503 } }
      ]
    }, (sim) =>
      Effect.gen(function*() {
        const statuses: Array<number> = []
        for (const model of ["grok-4", "grok-3", "grok-4", "grok-3", "grok-4", "grok-4"]) {
          statuses.push((yield* post(sim, chat("hi", { model }))).status)
        }
        // request 2 is grok-3's first, request 4 its second (500); requests 4-5 overall are 503
        // but the first rule wins for request 4
        expect(statuses).toEqual([200, 200, 200, 500, 503, 200])
        expect((yield* sim.log).map((entry) => [entry.index, entry.modelIndex])).toEqual([
          [1, 1],
          [2, 1],
          [3, 2],
          [4, 2],
          [5, 3],
          [6, 4]
        ])
      })
    ))

  it.effect("a time window makes an outage, measured from start on the clock", () =>
    withSimulator({
      faults: [{ path: "/chat/completions", afterMillis: 1000, untilMillis: 2000, fault: { kind: "status", status: 503 } }]
    }, (sim) =>
      Effect.gen(function*() {
        expect((yield* post(sim, chat("hi"))).status).toBe(200)
        yield* TestClock.adjust("1 second")
        expect((yield* post(sim, chat("hi"))).status).toBe(503)
        expect((yield* request(`${sim.url}/models`)).status).toBe(200)
        yield* TestClock.adjust("999 millis")
        expect((yield* post(sim, chat("hi"))).status).toBe(503)
        yield* TestClock.adjust("1 millis")
        expect((yield* post(sim, chat("hi"))).status).toBe(200)
      })
    ))

  it.effect("setFaults replaces the plan at runtime", () =>
    withSimulator({}, (sim) =>
      Effect.gen(function*() {
        expect((yield* post(sim, chat("hi"))).status).toBe(200)
        yield* sim.setFaults([{ fault: { kind: "status", status: 500 } }])
        expect((yield* post(sim, chat("hi"))).status).toBe(500)
        yield* sim.setFaults([])
        expect((yield* post(sim, chat("hi"))).status).toBe(200)
      })
    ))

  it.effect("rejects bad plans with a message naming the problem", () =>
    Effect.gen(function*() {
      const rejected = (plan: unknown) =>
        Effect.flip(Effect.scoped(Simulator.make({ faults: plan as FaultPlan }))).pipe(
          Effect.map((error) => error.message)
        )
      expect(yield* rejected([{ fault: { kind: "reset" } }, { fault: { kind: "explode" } }])).toContain(
        "Invalid fault plan: rule 2, fault.kind: Expected \"status\" | \"latency\""
      )
      expect(yield* rejected([{ nht: [1], fault: { kind: "reset" } }])).toContain(
        "Invalid fault plan: rule 1, nht: is unexpected"
      )
      expect(yield* rejected([{ from: 5, to: 2, fault: { kind: "reset" } }])).toBe(
        "Invalid fault plan: rule 1: from (5) is after to (2)"
      )
      expect(yield* rejected([{ probability: 2, fault: { kind: "reset" } }])).toBe(
        "Invalid fault plan: rule 1, probability: Expected a number between 0 and 1, actual 2"
      )
      expect(yield* rejected([{ fault: { kind: "dropStream" } }])).toBe(
        "Invalid fault plan: rule 1, fault.afterChunks: is missing"
      )
      expect(yield* rejected([{ fault: { kind: "status", status: 503, headers: { "bad header": "x" } } }])).toBe(
        "Invalid fault plan: rule 1, fault.headers: invalid header name \"bad header\""
      )
      expect(yield* rejected({ fault: { kind: "reset" } })).toContain("Invalid fault plan: the plan: Expected FaultPlan")
      yield* withSimulator({}, (sim) =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(sim.setFaults([{ nth: [0], fault: { kind: "reset" } }] as FaultPlan))
          expect(error._tag).toBe("InvalidFaultPlan")
          expect(error.message).toContain("nth")
          expect((yield* post(sim, chat("hi"))).status).toBe(200)
        })
      )
    }))
})

describe("GrokSimulator log and determinism", () => {
  it.effect("logs every request with its number, model, stream flag, status, fault, times and usage", () =>
    withSimulator({ faults: [{ nth: [3], fault: { kind: "status", status: 503 } }] }, (sim) =>
      Effect.gen(function*() {
        yield* post(sim, chat("Say hi in Portuguese"))
        yield* TestClock.adjust("10 millis")
        yield* post(sim, chat("hi", { model: "grok-3", stream: true }))
        yield* post(sim, chat("hi"))
        yield* request(`${sim.url}/models`)
        expect(yield* sim.requestCount).toBe(4)
        const log = yield* sim.log
        expect(log.map(({ endedAt: _, requestId: __, usage: ___, ...rest }) => rest)).toEqual([
          {
            index: 1,
            modelIndex: 1,
            method: "POST",
            path: "/v1/chat/completions",
            model: "grok-4",
            stream: false,
            status: 200,
            fault: undefined,
            outcome: "completed",
            startedAt: 0
          },
          {
            index: 2,
            modelIndex: 1,
            method: "POST",
            path: "/v1/chat/completions",
            model: "grok-3",
            stream: true,
            status: 200,
            fault: undefined,
            outcome: "completed",
            startedAt: 10
          },
          {
            index: 3,
            modelIndex: 2,
            method: "POST",
            path: "/v1/chat/completions",
            model: "grok-4",
            stream: false,
            status: 503,
            fault: "status",
            outcome: "completed",
            startedAt: 10
          },
          {
            index: 4,
            modelIndex: undefined,
            method: "GET",
            path: "/v1/models",
            model: undefined,
            stream: false,
            status: 200,
            fault: undefined,
            outcome: "completed",
            startedAt: 10
          }
        ])
        expect(log[0]?.usage?.promptTokens).toBe(12)
        expect(log[0]?.usage?.completionTokens).toBe(7)
        expect(log[1]?.usage?.reasoningTokens).toBe(0)
        expect(log[2]?.usage).toBeUndefined()
        expect(new Set(log.map((entry) => entry.requestId)).size).toBe(4)
      })
    ))

  it.effect("the same seed gives identical bodies, ids and fault draws; another seed does not", () =>
    Effect.gen(function*() {
      const run = (seed: number) =>
        withSimulator({ seed, faults: [{ probability: 0.5, fault: { kind: "status", status: 503 } }] }, (sim) =>
          Effect.gen(function*() {
            const answers: Array<string> = []
            for (let i = 0; i < 12; i++) {
              const answer = yield* post(sim, chat("hi", { stream: i % 2 === 0 }))
              answers.push(`${answer.status} ${answer.headers.get("x-request-id")} ${answer.text}`)
            }
            return answers
          })
        )
      const first = yield* run(7)
      expect(yield* run(7)).toEqual(first)
      const statuses = first.map((answer) => answer.slice(0, 3))
      expect(statuses).toContain("503")
      expect(statuses).toContain("200")
      expect(yield* run(8)).not.toEqual(first)
    }))

  it.effect("awaitRequests completes once n requests arrived; subscribe reports each request as it ends", () =>
    withSimulator({}, (sim) =>
      Effect.gen(function*() {
        const ended = yield* sim.subscribe
        const seen = yield* Effect.fork(Stream.runCollect(Stream.take(ended, 2)))
        const waiting = yield* Effect.fork(sim.awaitRequests(2))
        yield* post(sim, chat("one"))
        expect(Option.isNone(yield* Fiber.poll(waiting))).toBe(true)
        yield* request(`${sim.url}/models`)
        yield* Fiber.join(waiting)
        expect(yield* sim.requestCount).toBe(2)
        const entries = Chunk.toReadonlyArray(yield* Fiber.join(seen))
        expect(entries.map((entry) => [entry.index, entry.path, entry.outcome])).toEqual([
          [1, "/v1/chat/completions", "completed"],
          [2, "/v1/models", "completed"]
        ])
      })
    ))

  it.effect("closing the scope stops the server", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const sim = yield* Scope.extend(Simulator.make({}), scope)
      expect((yield* request(`${sim.url}/models`)).status).toBe(200)
      yield* Scope.close(scope, Exit.void)
      const after = yield* Effect.exit(Effect.tryPromise(() => fetch(`${sim.url}/models`)))
      expect(Exit.isFailure(after)).toBe(true)
    }))
})

describe("Quota arithmetic", () => {
  it("with two request windows the tighter one refuses, and the wait is until both fit", () => {
    const quota: Quota.Quota = { requestsPerSecond: 2, requestsPerMinute: 3 }
    let state = Quota.initialState(quota, 0)
    const admit = (now: number) => {
      const decision = Quota.admit(quota, state, now, 1)
      if (decision._tag === "Admitted") state = decision.state
      return decision
    }
    expect(admit(0)).toMatchObject({ _tag: "Admitted", status: { requests: { limitPerMinute: 3, remaining: 1 } } })
    expect(admit(0)).toMatchObject({ _tag: "Admitted", status: { requests: { remaining: 0 } } })
    expect(admit(0)).toMatchObject({ _tag: "Rejected", limit: "Requests per Second", actual: 3, allowed: 2 })
    expect(admit(1000)._tag).toBe("Admitted")
    // three requests in the minute: the per-minute window needs 60 s - 1 s + 20 s - 60 s = 19 s more
    expect(admit(1000)).toMatchObject({ _tag: "Rejected", limit: "Requests per Minute", retryAfterMillis: 19_000 })
    expect(admit(20_000)._tag).toBe("Admitted")
  })

  it("formats resets as Go durations, the way OpenAI-style servers send them", () => {
    expect([0, 0.2, 20, 999, 1000, 1500, 59_999, 60_000, 90_500, 360_000, 3_723_000].map(goDuration)).toEqual([
      "0s",
      "1ms",
      "20ms",
      "999ms",
      "1s",
      "1.5s",
      "59.999s",
      "1m0s",
      "1m30.5s",
      "6m0s",
      "1h2m3s"
    ])
  })

  it("refuses unknown or non-positive fields", () => {
    expect(Either.isLeft(Quota.validate({ requestPerMinute: 5 }))).toBe(true)
    expect(Either.isLeft(Quota.validate({ tokensPerMinute: 0 }))).toBe(true)
    expect(Either.isLeft(Quota.validate({ requestsPerSecond: 1, burst: 1.5 }))).toBe(true)
    expect(Quota.validate({ requestsPerSecond: 0.5 })).toEqual(Either.right({ requestsPerSecond: 0.5 }))
  })
})

describe("effect-grok simulate", () => {
  const runCli = (args: ReadonlyArray<string>, stdout: Queue.Queue<string>, stderr: Queue.Queue<string>) =>
    Command.run(simulateCommand, { name: "simulate", version: "0.0.0" })(["node", "simulate", ...args]).pipe(
      Effect.provide(NodeContext.layer),
      Effect.provideService(CliOutput, {
        stdout: (text) => void Queue.unsafeOffer(stdout, text),
        stderr: (text) => void Queue.unsafeOffer(stderr, text),
        isTTY: false
      })
    )

  it.effect("serves on the printed URL with the flags' quota and fault file until interrupted", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "simulate-")))
      const faults = join(dir, "faults.json")
      yield* Effect.promise(() => writeFile(faults, JSON.stringify([{ nth: [1], fault: { kind: "status", status: 503 } }])))
      const stdout = yield* Queue.unbounded<string>()
      const stderr = yield* Queue.unbounded<string>()
      const cli = yield* Effect.fork(runCli(
        ["--port", "0", "--rps", "1", "--retry-after", "ms", "--faults", faults, "--seed", "1", "--api-key", KEY],
        stdout,
        stderr
      ))
      const printed = yield* Queue.take(stdout)
      const url = /listening on (http:\/\/127\.0\.0\.1:\d+\/v1)/.exec(printed)?.[1] ?? ""
      expect(url).not.toBe("")
      const statuses: Array<number> = []
      for (let i = 0; i < 3; i++) statuses.push((yield* request(`${url}/chat/completions`, { body: chat("hi") })).status)
      expect(statuses).toEqual([503, 200, 429])
      const refused = yield* request(`${url}/chat/completions`, { body: chat("hi") })
      expect(refused.headers.get("retry-after-ms")).toBe("1000")
      expect((yield* request(`${url}/chat/completions`, { body: chat("hi"), key: "xai-other-key" })).status).toBe(400)
      yield* Fiber.interrupt(cli)
      const after = yield* Effect.exit(Effect.tryPromise(() => fetch(`${url}/models`)))
      expect(Exit.isFailure(after)).toBe(true)
      const progress = Chunk.toReadonlyArray(yield* Queue.takeAll(stderr)).join("")
      expect(progress).toContain("#1 POST /v1/chat/completions grok-4 -> 503 [fault: status]")
      yield* Effect.promise(() => rm(dir, { recursive: true }))
    }))

  it.effect("a bad --faults, --latency or --burst is a usage error, before anything listens", () =>
    Effect.gen(function*() {
      const stdout = yield* Queue.unbounded<string>()
      const stderr = yield* Queue.unbounded<string>()
      const failure = (args: ReadonlyArray<string>) =>
        Effect.flip(runCli(["--port", "0", ...args], stdout, stderr)).pipe(
          Effect.map((error) => (error._tag === "UsageError" ? error.message : `unexpected ${error._tag}`))
        )
      expect(yield* failure(["--faults", "[{\"fault\":{\"kind\":\"explode\"}}]"])).toContain("explode")
      expect(yield* failure(["--faults", "[{\"fault\":"])).toContain("not JSON")
      expect(yield* failure(["--faults", "/nonexistent/plan.json"])).toContain("cannot read /nonexistent/plan.json")
      expect(yield* failure(["--latency", "soon"])).toContain("--latency")
      expect(yield* failure(["--burst", "3"])).toBe("--burst needs --rps or --rpm")
      expect(yield* failure(["--rps", "-1"])).toContain("requestsPerSecond")
      expect(yield* Queue.size(stdout)).toBe(0)
    }))
})

describe("GrokSimulator.layerClient", () => {
  const hello: GrokClient.ChatRequest = { messages: [{ role: "user", content: "Say hi" }] }

  it.effect("gives a GrokClient on the simulator in one layer; reset also gives the client a fresh start", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.GrokSimulator
      const grok = yield* GrokClient.GrokClient
      const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.flatMap(Effect.fork(effect), (fiber) => drive(fiber, simulatorActivity(sim)))
      expect(Chat.contentOf(yield* run(grok.chat(hello)))).toBe("Simulated reply to \"Say hi\".")

      // An outage opens the client's own breaker...
      yield* sim.setFaults([{ fault: { kind: "status", status: 503 } }])
      // (nine failures of ten calls in the window open it)
      for (let i = 0; i < 9; i++) yield* run(Effect.either(grok.chat(hello, { retry: RetryPolicy.make({ maxRetries: 0 }) })))
      yield* sim.setFaults([])
      // ...so that a call now waits for the breaker's probe before it is sent.
      const before = yield* Clock.currentTimeMillis
      yield* run(grok.chat(hello))
      expect((yield* Clock.currentTimeMillis) - before).toBeGreaterThan(0)
      yield* sim.setFaults([{ fault: { kind: "status", status: 503 } }])
      for (let i = 0; i < 10; i++) yield* run(Effect.either(grok.chat(hello, { retry: RetryPolicy.make({ maxRetries: 0 }) })))

      // After reset: the initial fault plan (none), and a client with a closed breaker.
      yield* sim.reset
      const resetAt = yield* Clock.currentTimeMillis
      yield* run(grok.chat(hello))
      expect(yield* Clock.currentTimeMillis).toBe(resetAt)
      expect((yield* sim.log).map((entry) => entry.status)).toEqual([200])

      // A reset run under a limiter of its own does not hand that limiter (gone with its
      // provide) to the rebuilt client.
      yield* sim.reset.pipe(Effect.provide(Layer.orDie(RateLimiterMemory.layer({ limits: { requestsPerSecond: 1 } }))))
      expect(Chat.contentOf(yield* run(grok.chat(hello)))).toBe("Simulated reply to \"Say hi\".")
    }).pipe(Effect.provide(Simulator.layerClient({ seed: 1 }))))
})
