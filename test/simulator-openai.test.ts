/**
 * The official `openai` SDK (and the Vercel AI SDK's xAI provider), unchanged, against
 * GrokSimulator: the simulator is a drop-in xAI endpoint for OpenAI-compatible clients.
 */
import { createXai } from "@ai-sdk/xai"
import { describe, expect, it } from "@effect/vitest"
import { generateText, streamText } from "ai"
import { Effect } from "effect"
import OpenAI from "openai"
import type { SimulatorOptions } from "../src/simulator/Simulator.js"
import * as Simulator from "../src/simulator/Simulator.js"

const API_KEY = "xai-openai-sdk-test-key"

const withClient = <A>(options: SimulatorOptions, use: (client: OpenAI, sim: Simulator.Service) => Promise<A>) =>
  Effect.scoped(
    Effect.flatMap(Simulator.make({ apiKeys: [API_KEY], ...options }), (sim) =>
      Effect.promise(() => use(new OpenAI({ baseURL: sim.url, apiKey: API_KEY, maxRetries: 0 }), sim)))
  )

const messages = [
  { role: "system" as const, content: "You are a helpful assistant" },
  { role: "user" as const, content: "Say hi in Portuguese" }
]

describe("GrokSimulator with the openai SDK", () => {
  it.live("plain chat completion: content, model and usage", () =>
    withClient({}, async (client) => {
      const completion = await client.chat.completions.create({ model: "grok-4-fast-non-reasoning", messages })
      expect(completion.model).toBe("grok-4-fast-non-reasoning")
      expect(completion.choices[0]?.message.content).toBe("Simulated reply to \"Say hi in Portuguese\".")
      expect(completion.choices[0]?.finish_reason).toBe("stop")
      expect(completion.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 7, total_tokens: 19 })
    }))

  it.live("streaming chat completion: deltas add up to the reply, usage arrives with include_usage", () =>
    withClient({}, async (client) => {
      const stream = await client.chat.completions.create({
        model: "grok-4",
        messages,
        stream: true,
        stream_options: { include_usage: true }
      })
      let content = ""
      let chunks = 0
      let usage: OpenAI.CompletionUsage | null | undefined
      let finishReason: string | null | undefined
      for await (const chunk of stream) {
        chunks += 1
        content += chunk.choices[0]?.delta.content ?? ""
        finishReason = chunk.choices[0]?.finish_reason ?? finishReason
        if (chunk.usage) usage = chunk.usage
      }
      expect(content).toBe("Simulated reply to \"Say hi in Portuguese\".")
      expect(chunks).toBe(7 + 2)
      expect(finishReason).toBe("stop")
      expect(usage?.prompt_tokens).toBe(12)
      expect(usage?.completion_tokens).toBe(7)
      const reasoning = usage?.completion_tokens_details?.reasoning_tokens ?? 0
      expect(reasoning).toBeGreaterThan(0)
      expect(usage?.total_tokens).toBe(12 + 7 + reasoning)
    }))

  it.live("models: list and retrieve", () =>
    withClient({ models: { "grok-test-model": {} } }, async (client) => {
      const ids: Array<string> = []
      for await (const model of client.models.list()) ids.push(model.id)
      expect(ids).toEqual(expect.arrayContaining(["grok-4", "grok-3-mini", "grok-test-model"]))
      const model = await client.models.retrieve("grok-3-mini")
      expect(model).toMatchObject({ id: "grok-3-mini", object: "model", owned_by: "xai" })
      await expect(client.models.retrieve("grok-0")).rejects.toBeInstanceOf(OpenAI.NotFoundError)
    }))

  it.live("embeddings: the SDK's default base64 decodes to the same vectors as float", () =>
    withClient({}, async (client) => {
      const input = ["first text", "second text"]
      const decoded = await client.embeddings.create({ model: "grok-embed", input, dimensions: 16 })
      const floats = await client.embeddings.create({
        model: "grok-embed",
        input,
        dimensions: 16,
        encoding_format: "float"
      })
      expect(decoded.data).toHaveLength(2)
      expect(Array.from(decoded.data[0]?.embedding ?? [])).toEqual(floats.data[0]?.embedding)
      expect(decoded.data[0]?.embedding).not.toEqual(decoded.data[1]?.embedding)
      expect(decoded.usage).toEqual({ prompt_tokens: 6, total_tokens: 6 })
    }))

  it.live("a quota 429 surfaces as RateLimitError with xAI's message and the rate-limit headers", () =>
    withClient({ quota: { requestsPerMinute: 1 } }, async (client) => {
      const first = await client.chat.completions.create({ model: "grok-4", messages }).withResponse()
      expect(first.response.headers.get("x-ratelimit-remaining-requests")).toBe("0")
      const error = await client.chat.completions.create({ model: "grok-4", messages }).then(
        () => undefined,
        (e: unknown) => e
      )
      if (!(error instanceof OpenAI.RateLimitError)) throw new Error(`expected a RateLimitError, got ${String(error)}`)
      const rateLimited = error
      expect(rateLimited.status).toBe(429)
      expect(rateLimited.message).toContain("Requests per Minute (actual/limit): 2/1")
      expect(rateLimited.headers.get("retry-after")).toBe("60")
      expect(rateLimited.headers.get("x-ratelimit-limit-requests")).toBe("1")
      expect(rateLimited.headers.get("x-ratelimit-remaining-requests")).toBe("0")
      expect(rateLimited.requestID).toMatch(/^[0-9a-f-]{36}$/)
    }))

  it.live("a wrong key surfaces as BadRequestError with xAI's masked message", () =>
    Effect.scoped(
      Effect.flatMap(Simulator.make({ apiKeys: [API_KEY] }), (sim) =>
        Effect.promise(async () => {
          const client = new OpenAI({ baseURL: sim.url, apiKey: "xai-not-the-key", maxRetries: 0 })
          const error = await client.chat.completions.create({ model: "grok-4", messages }).catch((e: unknown) => e)
          if (!(error instanceof OpenAI.BadRequestError)) throw new Error(`expected a BadRequestError, got ${String(error)}`)
          expect(error.status).toBe(400)
          expect(error.message).toContain("Incorrect API key provided: xa***ey")
        }))
    ))
})

describe("GrokSimulator with the Vercel AI SDK's xAI provider", () => {
  const withXai = <A>(use: (xai: ReturnType<typeof createXai>) => Promise<A>) =>
    Effect.scoped(
      Effect.flatMap(Simulator.make({ apiKeys: [API_KEY] }), (sim) =>
        Effect.promise(() => use(createXai({ baseURL: sim.url, apiKey: API_KEY }))))
    )

  it.live("generateText and streamText read the reply and the usage", () =>
    withXai(async (xai) => {
      const generated = await generateText({ model: xai("grok-4-fast-non-reasoning"), messages, maxRetries: 0 })
      expect(generated.text).toBe("Simulated reply to \"Say hi in Portuguese\".")
      expect(generated.usage.inputTokens).toBe(12)
      expect(generated.usage.outputTokens).toBe(7)
      const streamed = streamText({ model: xai("grok-4-fast-non-reasoning"), messages, maxRetries: 0 })
      let text = ""
      for await (const delta of streamed.textStream) text += delta
      expect(text).toBe(generated.text)
      expect((await streamed.usage).outputTokens).toBe(7)
    }))
})
