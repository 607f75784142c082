/**
 * The Responses API of GrokSimulator used, unchanged, by the clients people point at xAI:
 * the Vercel AI SDK's xAI provider (`xai.responses(modelId)`, which parses every answer and
 * event with its own schemas) and the official `openai` SDK (`client.responses.create`, and
 * `client.responses.stream`, which checks the order of the events as it assembles them).
 */
import { createXai } from "@ai-sdk/xai"
import { describe, expect, it } from "@effect/vitest"
import { APICallError, generateText, streamText } from "ai"
import { Effect } from "effect"
import OpenAI from "openai"
import type { SimulatorOptions } from "../src/simulator/Simulator.js"
import * as Simulator from "../src/simulator/Simulator.js"

const API_KEY = "xai-responses-sdk-test-key"

const messages = [
  { role: "system" as const, content: "You are a helpful assistant" },
  { role: "user" as const, content: "Say hi in Portuguese" }
]
/** The same conversation as the AI SDK wants it (a system message inside `messages` earns a warning). */
const prompt = { system: "You are a helpful assistant", prompt: "Say hi in Portuguese" }
const REPLY = "Simulated reply to \"Say hi in Portuguese\"."
/** What grok-3-mini (visible reasoning) thinks, one token per word. */
const REASONING = "Reading the request and choosing a short, direct answer."

const withSimulator = <A>(options: SimulatorOptions, use: (sim: Simulator.Service) => Promise<A>) =>
  Effect.scoped(Effect.flatMap(Simulator.make({ apiKeys: [API_KEY], ...options }), (sim) => Effect.promise(() => use(sim))))

const xaiFor = (sim: Simulator.Service, apiKey = API_KEY) => createXai({ baseURL: sim.url, apiKey })

const failureOf = async (promise: Promise<unknown>): Promise<unknown> => promise.then(() => undefined, (error: unknown) => error)

describe("the Vercel AI SDK's xai.responses against GrokSimulator", () => {
  it.live("generateText reads the text, the finish reason and the usage from POST /v1/responses", () =>
    withSimulator({}, async (sim) => {
      const result = await generateText({ model: xaiFor(sim).responses("grok-4-fast-non-reasoning"), ...prompt, maxRetries: 0 })
      expect(result.text).toBe(REPLY)
      expect(result.finishReason).toBe("stop")
      expect(result.response.modelId).toBe("grok-4-fast-non-reasoning")
      expect(result.usage.inputTokens).toBe(12)
      expect(result.usage.outputTokens).toBe(7)
      expect(result.usage.outputTokenDetails.reasoningTokens).toBe(0)
      expect(result.usage.totalTokens).toBe(19)
      const log = await Effect.runPromise(sim.log)
      expect(log.map((entry) => [entry.path, entry.status, entry.stream])).toEqual([["/v1/responses", 200, false]])
    }))

  it.live("streamText streams the same text and reports the same usage", () =>
    withSimulator({}, async (sim) => {
      const result = streamText({ model: xaiFor(sim).responses("grok-4-fast-non-reasoning"), ...prompt, maxRetries: 0 })
      const deltas: Array<string> = []
      for await (const delta of result.textStream) deltas.push(delta)
      expect(deltas.join("")).toBe(REPLY)
      expect(deltas.length).toBe(7)
      expect(await result.finishReason).toBe("stop")
      const usage = await result.usage
      expect([usage.inputTokens, usage.outputTokens, usage.totalTokens]).toEqual([12, 7, 19])
      const log = await Effect.runPromise(sim.log)
      expect(log.map((entry) => [entry.path, entry.status, entry.stream, entry.outcome])).toEqual([
        ["/v1/responses", 200, true, "completed"]
      ])
    }))

  it.live("a visible-reasoning model streams its reasoning summary; reasoning tokens count inside the output", () =>
    withSimulator({}, async (sim) => {
      const result = streamText({ model: xaiFor(sim).responses("grok-3-mini"), ...prompt, maxRetries: 0 })
      let reasoning = ""
      let text = ""
      for await (const part of result.fullStream) {
        if (part.type === "reasoning-delta") reasoning += part.text
        if (part.type === "text-delta") text += part.text
      }
      expect(reasoning).toBe(REASONING)
      expect(text).toBe(REPLY)
      const usage = await result.usage
      expect(usage.outputTokens).toBe(7 + 9)
      expect(usage.outputTokenDetails).toEqual({ textTokens: 7, reasoningTokens: 9 })
      const generated = await generateText({ model: xaiFor(sim).responses("grok-3-mini"), ...prompt, maxRetries: 0 })
      expect(generated.reasoningText).toBe(REASONING)
      expect(generated.text).toBe(REPLY)
    }))

  it.live("maxOutputTokens cuts the answer: response.incomplete ends the stream with finish reason length", () =>
    withSimulator({}, async (sim) => {
      const result = streamText({
        model: xaiFor(sim).responses("grok-4-fast-non-reasoning"),
        ...prompt,
        maxOutputTokens: 3,
        maxRetries: 0
      })
      let text = ""
      for await (const delta of result.textStream) text += delta
      expect(text).toBe("Simulated reply to")
      expect(await result.finishReason).toBe("length")
      expect((await result.usage).outputTokens).toBe(3)
    }))

  it.live("xAI's error bodies surface as APICallError: a wrong key (400), a quota 429 (retryable)", () =>
    withSimulator({ quota: { requestsPerMinute: 1 } }, async (sim) => {
      const wrongKey = await failureOf(
        generateText({ model: xaiFor(sim, "xai-not-the-key").responses("grok-4"), ...prompt, maxRetries: 0 })
      )
      if (!APICallError.isInstance(wrongKey)) throw new Error(`expected an APICallError, got ${String(wrongKey)}`)
      expect(wrongKey.statusCode).toBe(400)
      expect(wrongKey.message).toContain("Incorrect API key provided: xa***ey")
      await generateText({ model: xaiFor(sim).responses("grok-4"), ...prompt, maxRetries: 0 })
      const limited = await failureOf(generateText({ model: xaiFor(sim).responses("grok-4"), ...prompt, maxRetries: 0 }))
      if (!APICallError.isInstance(limited)) throw new Error(`expected an APICallError, got ${String(limited)}`)
      expect(limited.statusCode).toBe(429)
      expect(limited.isRetryable).toBe(true)
      expect(limited.message).toContain("Too many requests")
      expect(limited.responseHeaders?.["retry-after"]).toBe("60")
    }))
})

describe("the openai SDK's client.responses against GrokSimulator", () => {
  const clientFor = (sim: Simulator.Service) => new OpenAI({ baseURL: sim.url, apiKey: API_KEY, maxRetries: 0 })

  it.live("create: output_text, status, model and usage", () =>
    withSimulator({}, async (sim) => {
      const response = await clientFor(sim).responses.create({
        model: "grok-4-fast-non-reasoning",
        instructions: "You are a helpful assistant",
        input: "Say hi in Portuguese"
      })
      expect(response.object).toBe("response")
      expect(response.status).toBe("completed")
      expect(response.model).toBe("grok-4-fast-non-reasoning")
      expect(response.output_text).toBe(REPLY)
      expect(response.usage).toMatchObject({
        input_tokens: 12,
        output_tokens: 7,
        total_tokens: 19,
        output_tokens_details: { reasoning_tokens: 0 }
      })
    }))

  it.live("create with stream: numbered events from response.created to response.completed, deltas add up to the text", () =>
    withSimulator({}, async (sim) => {
      const stream = await clientFor(sim).responses.create({ model: "grok-4", input: messages, stream: true })
      const types: Array<string> = []
      const numbers: Array<number> = []
      let text = ""
      let completed: OpenAI.Responses.Response | undefined
      for await (const event of stream) {
        types.push(event.type)
        numbers.push(event.sequence_number)
        if (event.type === "response.output_text.delta") text += event.delta
        if (event.type === "response.completed") completed = event.response
      }
      expect(text).toBe(REPLY)
      expect(types.slice(0, 4)).toEqual([
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added"
      ])
      expect(types.at(-1)).toBe("response.completed")
      expect(numbers).toEqual(types.map((_, i) => i))
      // grok-4 reasons without showing it: the tokens are counted inside output_tokens.
      const reasoning = completed?.usage?.output_tokens_details.reasoning_tokens ?? 0
      expect(reasoning).toBeGreaterThan(0)
      expect(completed?.usage).toMatchObject({ input_tokens: 12, output_tokens: 7 + reasoning, total_tokens: 19 + reasoning })
    }))

  it.live("responses.stream assembles the events into the final response (reasoning item, then message)", () =>
    withSimulator({}, async (sim) => {
      const stream = clientFor(sim).responses.stream({ model: "grok-3-mini", input: messages })
      const final = await stream.finalResponse()
      expect(final.output_text).toBe(REPLY)
      expect(final.output.map((item) => item.type)).toEqual(["reasoning", "message"])
      const [reasoning] = final.output
      expect(reasoning?.type === "reasoning" ? reasoning.summary.map((part) => part.text).join("") : "").toBe(REASONING)
    }))
})
