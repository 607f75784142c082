/**
 * GrokLanguageModel's reading of real xAI answers: every recorded chat completion and stream
 * (test/fixtures/xai-recorded) mapped to @effect/ai parts. The text, reasoning and tool calls
 * come through whole; usage keeps xAI's counts (reasoning outside `completion_tokens`, cached
 * prompt tokens); finish reasons map; a stream gives the same answer as its accumulated
 * completion, every delta inside its start and end, the finish part last.
 */
import type * as Response from "@effect/ai/Response"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Schema, Stream } from "effect"
import * as Parts from "../src/ai/internal/response.js"
import * as StreamParts from "../src/ai/internal/stream.js"
import * as Chat from "../src/schema/Chat.js"
import * as ChatStream from "../src/schema/ChatStream.js"
import { cassetteNames, isEventStream, loadCassette } from "./support/fixtures.js"

const decodeCompletion = Schema.decodeUnknown(Chat.ChatCompletion)
const decodeChunk = Schema.decodeUnknown(ChatStream.ChatCompletionChunk)

const chunksOf = (body: string) =>
  Effect.forEach(
    body.split("\n\n").map((block) => block.trim()).filter((block) => block.startsWith("data: ") && block !== "data: [DONE]"),
    (block) => decodeChunk(JSON.parse(block.slice("data: ".length)))
  )

interface Answer {
  readonly text: string
  readonly reasoning: string
  readonly toolCalls: ReadonlyArray<readonly [string, string, unknown]>
  readonly finish: Response.FinishPartEncoded | undefined
}

const answerOf = (parts: ReadonlyArray<Response.PartEncoded | Response.StreamPartEncoded>): Answer => ({
  text: parts.map((part) => (part.type === "text" ? part.text : part.type === "text-delta" ? part.delta : "")).join(""),
  reasoning: parts.map((part) => (part.type === "reasoning" ? part.text : part.type === "reasoning-delta" ? part.delta : "")).join(""),
  toolCalls: parts.flatMap((part) => (part.type === "tool-call" ? [[part.id, part.name, part.params] as const] : [])),
  finish: parts.find((part): part is Response.FinishPartEncoded => part.type === "finish")
})

const expectedUsage = (usage: Chat.Usage | null | undefined) => ({
  inputTokens: usage?.prompt_tokens,
  // xAI counts reasoning outside completion_tokens: output is both, as the Responses API counts it.
  outputTokens: (usage?.completion_tokens ?? 0) + (usage?.completion_tokens_details?.reasoning_tokens ?? 0),
  totalTokens: usage?.total_tokens,
  reasoningTokens: usage?.completion_tokens_details?.reasoning_tokens,
  cachedInputTokens: usage?.prompt_tokens_details?.cached_tokens
})

/** Every delta between its start and its end, every started part ended, the finish part last. */
const expectWellFormed = (parts: ReadonlyArray<Response.StreamPartEncoded>) => {
  const open = new Set<string>()
  for (const part of parts) {
    switch (part.type) {
      case "text-start":
      case "reasoning-start":
      case "tool-params-start":
        open.add(`${part.type.split("-start")[0]}:${part.id}`)
        break
      case "text-delta":
      case "reasoning-delta":
      case "tool-params-delta":
        expect(open.has(`${part.type.split("-delta")[0]}:${part.id}`)).toBe(true)
        break
      case "text-end":
      case "reasoning-end":
      case "tool-params-end":
        expect(open.delete(`${part.type.split("-end")[0]}:${part.id}`)).toBe(true)
        break
    }
  }
  expect([...open]).toEqual([])
  expect(parts.at(-1)?.type).toBe("finish")
  expect(parts.filter((part) => part.type === "finish")).toHaveLength(1)
  expect(parts[0]?.type).toBe("response-metadata")
}

describe("recorded xAI answers as @effect/ai parts", () => {
  it.effect.each(cassetteNames())("%s", (name) =>
    Effect.gen(function*() {
      for (const interaction of loadCassette(name).interactions) {
        if (isEventStream(interaction)) {
          const chunks = yield* chunksOf(interaction.responseBody)
          const parts = Chunk.toReadonlyArray(yield* Stream.runCollect(StreamParts.fromChatChunks(Stream.fromIterable(chunks))))
          expectWellFormed(parts)
          // The same answer as the completion the chunks add up to.
          const completion = ChatStream.ChatStreamAccumulator.toCompletion(
            chunks.reduce(ChatStream.ChatStreamAccumulator.add, ChatStream.ChatStreamAccumulator.empty)
          )
          const whole = answerOf(yield* Parts.fromCompletion(completion))
          const streamed = answerOf(parts)
          expect({ ...streamed, finish: streamed.finish?.reason }).toEqual({ ...whole, finish: whole.finish?.reason })
          expect(streamed.finish?.usage).toEqual(expectedUsage(completion.usage))
        } else {
          const completion = yield* decodeCompletion(JSON.parse(interaction.responseBody))
          const answer = answerOf(yield* Parts.fromCompletion(completion))
          const message = completion.choices[0]!.message
          expect(answer.text).toBe(message.content ?? "")
          expect(answer.reasoning).toBe(message.reasoning_content ?? "")
          expect(answer.toolCalls).toEqual(
            (message.tool_calls ?? []).map((call) => [call.id, call.function.name, JSON.parse(call.function.arguments)])
          )
          expect(answer.finish?.reason).toBe(completion.choices[0]!.finish_reason === "tool_calls" ? "tool-calls" : "stop")
          expect(answer.finish?.usage).toEqual(expectedUsage(completion.usage))
          expect(answer.finish?.metadata?.xai?.costInUsdTicks).toBe(completion.usage?.cost_in_usd_ticks)
        }
      }
    }))
})
