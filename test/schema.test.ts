import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, pipe, Schema, Stream } from "effect"
import { decodeSse, type SseEvent } from "../src/internal/sse.js"
import {
  ChatCompletion,
  ChatCompletionRequest,
  contentOf,
  decodeChatCompletion,
  totalTokens,
  type Usage
} from "../src/schema/Chat.js"
import {
  ChatCompletionChunk,
  ChatStreamAccumulator,
  ChunkDecodeError,
  decodeChunks
} from "../src/schema/ChatStream.js"
import { decodeEmbeddingResponse, EmbeddingRequest } from "../src/schema/Embeddings.js"
import { decodeModelList, ModelList } from "../src/schema/Models.js"
import { cassetteNames, isEventStream, loadCassette, type RecordedInteraction } from "./support/fixtures.js"

type Json = Record<string, unknown>

const utf8 = new TextEncoder()
const decodeRequest = Schema.decodeUnknownSync(ChatCompletionRequest)
const encodeRequest = Schema.encodeSync(ChatCompletionRequest)
const roundTripCompletion = (completion: ChatCompletion) =>
  Schema.decodeUnknownSync(ChatCompletion)(JSON.parse(JSON.stringify(Schema.encodeSync(ChatCompletion)(completion))))

/** The body in 7-byte network chunks: many cut a UTF-8 character ("Olá", "40°C"). */
const bytesOf = (body: string): Stream.Stream<Uint8Array> => {
  const bytes = utf8.encode(body)
  return Stream.fromIterable(Array.from({ length: Math.ceil(bytes.length / 7) }, (_, k) => bytes.slice(k * 7, k * 7 + 7))).pipe(
    Stream.rechunk(1)
  )
}

const streamedChunks = (body: string) => Stream.runCollect(decodeChunks(decodeSse(bytesOf(body)))).pipe(Effect.map(Chunk.toReadonlyArray))

/** The chunks as plain JSON, read without any of the code under test. */
const rawChunks = (body: string): ReadonlyArray<Json> =>
  body.split("\n").filter((line) => line.startsWith("data: {")).map((line) => JSON.parse(line.slice(6)))

interface RawDelta {
  readonly content?: string
  readonly reasoning_content?: string
}
const rawDeltas = (chunks: ReadonlyArray<Json>): ReadonlyArray<RawDelta> =>
  chunks.flatMap((chunk) => (chunk.choices as ReadonlyArray<{ delta: RawDelta }>).map((choice) => choice.delta))

/** xAI counts reasoning tokens outside completion_tokens; the total includes them. */
const expectXaiTotal = (usage: Usage) => {
  const reasoning = usage.completion_tokens_details?.reasoning_tokens ?? 0
  expect(totalTokens(usage)).toBe(usage.prompt_tokens + usage.completion_tokens + reasoning)
}

const toolNamesOf = (request: Json): ReadonlyArray<string> =>
  ((request.tools ?? []) as ReadonlyArray<{ function: { name: string } }>).map((tool) => tool.function.name)

/** A finished tool-calling answer has calls with ids, known names and JSON-object arguments. */
const expectValidToolCalls = (completion: ChatCompletion, request: Json) => {
  const choice = completion.choices[0]
  if (choice?.finish_reason !== "tool_calls") return
  const calls = choice.message.tool_calls ?? []
  expect(calls.length).toBeGreaterThan(0)
  for (const call of calls) {
    expect(call.id).not.toBe("")
    expect(toolNamesOf(request)).toContain(call.function.name)
    expect(typeof JSON.parse(call.function.arguments)).toBe("object")
  }
}

/** Key sets, level by level: the accumulated completion must look like a non-streamed one. */
const shapeOf = (completion: ChatCompletion) => ({
  completion: Object.keys(completion).sort(),
  choice: Object.keys(completion.choices[0] ?? {}).sort(),
  message: Object.keys(completion.choices[0]?.message ?? {}).sort(),
  usage: Object.keys(completion.usage ?? {}).sort()
})

const nonStreamingTwin = (name: string): ReadonlyArray<RecordedInteraction> | undefined => {
  const twin = name.replace(/[_-]streaming\.yaml$/, ".yaml")
  return twin !== name && cassetteNames().includes(twin) ? loadCassette(twin).interactions : undefined
}

const checkStreamed = (name: string, index: number, interaction: RecordedInteraction, request: Json) =>
  Effect.gen(function*() {
    const raw = rawChunks(interaction.responseBody)
    const chunks = yield* streamedChunks(interaction.responseBody)
    expect(chunks.length).toBe(raw.length)

    const completion = ChatStreamAccumulator.toCompletion(chunks.reduce(ChatStreamAccumulator.add, ChatStreamAccumulator.empty))
    const message = completion.choices[0]?.message
    const deltas = rawDeltas(raw)
    expect(contentOf(completion)).toBe(deltas.map((delta) => delta.content ?? "").join(""))
    expect(message?.reasoning_content ?? "").toBe(deltas.map((delta) => delta.reasoning_content ?? "").join(""))

    const lastRaw = raw.at(-1)
    expect(lastRaw?.choices).toEqual([])
    expect(completion.usage).toEqual(lastRaw?.usage)
    expect(completion).toMatchObject({ id: raw[0]?.id, model: raw[0]?.model, created: raw[0]?.created })
    expectXaiTotal(completion.usage!)
    expect(completion.choices[0]?.finish_reason).toMatch(/^(stop|tool_calls|length)$/)
    expectValidToolCalls(completion, request)
    expect(roundTripCompletion(completion)).toEqual(completion)

    const twin = nonStreamingTwin(name)?.[index]
    if (twin !== undefined) {
      expect(shapeOf(completion)).toEqual(shapeOf(yield* decodeChatCompletion(JSON.parse(twin.responseBody))))
    }
    return completion
  })

const checkNonStreamed = (interaction: RecordedInteraction, request: Json) =>
  Effect.gen(function*() {
    const raw = JSON.parse(interaction.responseBody)
    const completion = yield* decodeChatCompletion(raw)
    // Every field xAI sent is modelled: decoding dropped nothing.
    expect(completion).toEqual(raw)
    expect(contentOf(completion)).toBe(raw.choices[0].message.content ?? "")
    expectXaiTotal(completion.usage!)
    expectValidToolCalls(completion, request)
    return completion
  })

describe("recorded xAI traffic", () => {
  it.effect.each(cassetteNames())("decodes every request and response of %s", (name) =>
    Effect.gen(function*() {
      const { interactions } = loadCassette(name)
      for (const [index, interaction] of interactions.entries()) {
        const request = JSON.parse(interaction.requestBody) as Json
        // Requests decode and encode back to exactly what was sent, unknown keys included
        // (assistant messages carry `reasoning_content`, which the schema does not name).
        expect(encodeRequest(decodeRequest(request))).toEqual(request)

        const completion = isEventStream(interaction)
          ? yield* checkStreamed(name, index, interaction, request)
          : yield* checkNonStreamed(interaction, request)
        if (name.includes("grok-3-mini") && index === 0) {
          expect(completion.choices[0]?.message.reasoning_content?.length).toBeGreaterThan(100)
        }
      }
    }))
})

// ---------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------

const completionJson = (message: Json = { role: "assistant", content: "hi", refusal: null }): Json => ({
  id: "c1",
  object: "chat.completion",
  created: 1,
  model: "grok-4.5",
  choices: [{ index: 0, message, finish_reason: "stop" }],
  usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 }
})

describe("ChatCompletion", () => {
  it.effect("ignores fields xAI adds, at every level", () =>
    Effect.gen(function*() {
      const added = {
        ...completionJson(),
        service_tier: "priority",
        citations: ["https://x.ai"],
        choices: [{
          index: 0,
          message: { role: "assistant", content: "hi", refusal: null, annotations: [], audio: null },
          finish_reason: "stop",
          logprobs: null
        }],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2, server_side_tool_usage: { web_search: 1 } }
      }
      const completion = yield* decodeChatCompletion(added)
      expect(contentOf(completion)).toBe("hi")
      expect(completion).not.toHaveProperty("citations")
    }))

  it.effect("accepts null wherever xAI may send it", () =>
    Effect.gen(function*() {
      const completion = yield* decodeChatCompletion({
        ...completionJson({ role: "assistant", content: null, reasoning_content: null, tool_calls: null, refusal: null }),
        usage: null,
        system_fingerprint: null
      })
      expect(contentOf(completion)).toBe("")
    }))

  it.effect("rejects a body of another shape with a typed error", () =>
    Effect.gen(function*() {
      const errorBody = yield* Effect.flip(decodeChatCompletion({ code: "resource-exhausted", error: "Too many requests" }))
      expect(errorBody._tag).toBe("ParseError")
      const chunk = yield* Effect.flip(decodeChatCompletion({ ...completionJson(), object: "chat.completion.chunk" }))
      expect(chunk.message).toContain("chat.completion")
    }))

  it("contentOf is empty without choices; totalTokens is xAI's total", () => {
    const completion = Schema.decodeUnknownSync(ChatCompletion)({ ...completionJson(), choices: [] })
    expect(contentOf(completion)).toBe("")
    expect(totalTokens({ prompt_tokens: 10, completion_tokens: 2, total_tokens: 40 })).toBe(40)
  })
})

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

describe("ChatCompletionRequest", () => {
  const minimal = { model: "grok-4.5", messages: [{ role: "user", content: "hi" }] }

  it("keeps keys it does not name, at the top and in messages, tools and parts", () => {
    const request = {
      ...minimal,
      messages: [
        { role: "system", content: "be brief", cache_control: { type: "ephemeral" } },
        { role: "user", content: [{ type: "text", text: "what is this?" }, { type: "image_url", image_url: { url: "data:image/png;base64,AA", detail: "high" } }] },
        { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: "{}" } }], reasoning_content: "hmm" },
        { role: "tool", content: "42", tool_call_id: "c1" }
      ],
      tools: [{ type: "function", function: { name: "f", parameters: { type: "object" }, strict: true } }],
      search_parameters: { mode: "auto", sources: [{ type: "x" }] },
      parallel_tool_calls: false,
      stream_options: { include_usage: true, include_obfuscation: false }
    }
    expect(encodeRequest(decodeRequest(request))).toEqual(request)
  })

  it("accepts every field of the API it names", () => {
    const request = {
      ...minimal,
      max_tokens: 100,
      max_completion_tokens: 100,
      temperature: 0.7,
      top_p: 0.9,
      n: 2,
      stop: ["\n\n"],
      seed: 7,
      stream: true,
      stream_options: { include_usage: true },
      tool_choice: { type: "function", function: { name: "f" } },
      response_format: { type: "json_schema", json_schema: { name: "Person", schema: { type: "object" }, strict: true } },
      reasoning_effort: "high",
      user: "u1",
      deferred: true
    }
    expect(encodeRequest(decodeRequest(request))).toEqual(request)
  })

  it.each([
    ["no messages", { ...minimal, messages: [] }],
    ["an empty model", { ...minimal, model: "" }],
    ["a temperature above 2", { ...minimal, temperature: 3 }],
    ["max_tokens of 0", { ...minimal, max_tokens: 0 }],
    ["a fractional n", { ...minimal, n: 1.5 }],
    ["an unknown role", { ...minimal, messages: [{ role: "robot", content: "hi" }] }],
    ["a tool message without tool_call_id", { ...minimal, messages: [{ role: "tool", content: "42" }] }],
    ["a user message without content", { ...minimal, messages: [{ role: "user" }] }],
    ["an unknown tool_choice", { ...minimal, tool_choice: "sometimes" }],
    ["a named field of the wrong type", { ...minimal, stream: "yes" }]
  ])("rejects %s before anything is sent", (_, request) => {
    expect(Either.isLeft(Schema.decodeUnknownEither(ChatCompletionRequest)(request))).toBe(true)
  })
})

// ---------------------------------------------------------------------------
// Streaming
// ---------------------------------------------------------------------------

const event = (data: string): SseEvent => ({ event: undefined, id: undefined, data })

const chunkJson = (choices: ReadonlyArray<Json>, extra: Json = {}) =>
  JSON.stringify({ id: "s1", object: "chat.completion.chunk", created: 5, model: "grok-4.5", choices, ...extra })

const collect = <E>(events: Stream.Stream<SseEvent, E>) =>
  Stream.runCollect(decodeChunks(events)).pipe(Effect.map(Chunk.toReadonlyArray))

describe("decodeChunks", () => {
  it.effect("stops at [DONE] without reading what follows", () =>
    Effect.gen(function*() {
      const events = Stream.concat(
        Stream.make(event(chunkJson([{ index: 0, delta: { content: "a" } }])), event("[DONE]"), event("not json")),
        Stream.fail("read past [DONE]")
      )
      const chunks = yield* collect(events)
      expect(chunks.map((chunk) => chunk.choices[0]?.delta.content)).toEqual(["a"])
    }))

  it.effect("ends with the events when [DONE] never comes", () =>
    Effect.gen(function*() {
      const chunks = yield* collect(Stream.make(event(chunkJson([{ index: 0, delta: { content: "a" } }]))))
      expect(chunks.length).toBe(1)
    }))

  it.effect("reads an empty or missing delta as nothing added, and skips blank events", () =>
    Effect.gen(function*() {
      const chunks = yield* collect(
        Stream.make(
          event(chunkJson([{ index: 0, delta: {} }])),
          event(""),
          event(chunkJson([{ index: 0, finish_reason: "stop" }], { usage: null }))
        )
      )
      expect(chunks.map((chunk) => chunk.choices[0]?.delta)).toEqual([{}, {}])
      const completion = ChatStreamAccumulator.toCompletion(chunks.reduce(ChatStreamAccumulator.add, ChatStreamAccumulator.empty))
      expect(completion.choices[0]).toEqual({ index: 0, message: { role: "assistant", content: "", refusal: null }, finish_reason: "stop" })
    }))

  it.effect("fails with ChunkDecodeError on a payload that is not JSON, keeping a bounded excerpt", () =>
    Effect.gen(function*() {
      const payload = `{"id": ${"x".repeat(5_000)}`
      const error = yield* Effect.flip(collect(Stream.make(event(payload))))
      expect(error).toBeInstanceOf(ChunkDecodeError)
      expect(error.message).toMatch(/^stream event is not JSON/)
      expect(error.payload.startsWith(payload.slice(0, 500))).toBe(true)
      expect(error.payload.length).toBeLessThan(600)
    }))

  it.effect("fails with ChunkDecodeError naming the field when an xAI error body arrives mid-stream", () =>
    Effect.gen(function*() {
      const body = JSON.stringify({ code: "The service is currently unavailable", error: "Timed out waiting for first token" })
      const error = yield* Effect.flip(collect(Stream.make(event(body))))
      expect(error).toMatchObject({ _tag: "ChunkDecodeError", payload: body })
      expect(error.message).toBe("stream event is not a chat.completion.chunk: id: is missing")
    }))

  it.effect("passes upstream failures through unchanged", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(collect(Stream.fail("socket closed" as const)))
      expect(error).toBe("socket closed")
    }))
})

describe("ChatStreamAccumulator", () => {
  const decodeChunk = Schema.decodeSync(Schema.parseJson(ChatCompletionChunk))
  const chunks: ReadonlyArray<ChatCompletionChunk> = [
    chunkJson([{ index: 0, delta: { role: "assistant", reasoning_content: "think " } }]),
    chunkJson([{ index: 0, delta: { reasoning_content: "more", content: "Calling" } }]),
    chunkJson([{ index: 0, delta: { tool_calls: [{ index: 1, id: "b", type: "function", function: { name: "mul", arguments: "{\"a\":" } }] } }]),
    chunkJson([{ index: 0, delta: { tool_calls: [{ index: 0, id: "a", type: "function", function: { name: "add", arguments: "" } }] } }]),
    chunkJson([{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: "{\"a\":1}" } }, { index: 1, function: { arguments: "2}" } }] } }]),
    chunkJson([{ index: 0, delta: {}, finish_reason: "tool_calls" }]),
    chunkJson([], { usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 17 }, system_fingerprint: "fp" })
  ].map((json) => decodeChunk(json))

  it("joins tool-call pieces by index, in index order, with their arguments concatenated", () => {
    const completion = ChatStreamAccumulator.toCompletion(chunks.reduce(ChatStreamAccumulator.add, ChatStreamAccumulator.empty))
    expect(completion).toEqual({
      id: "s1",
      object: "chat.completion",
      created: 5,
      model: "grok-4.5",
      choices: [{
        index: 0,
        message: {
          role: "assistant",
          content: "Calling",
          reasoning_content: "think more",
          tool_calls: [
            { id: "a", type: "function", function: { name: "add", arguments: "{\"a\":1}" } },
            { id: "b", type: "function", function: { name: "mul", arguments: "{\"a\":2}" } }
          ],
          refusal: null
        },
        finish_reason: "tool_calls"
      }],
      usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 17 },
      system_fingerprint: "fp"
    })
  })

  it("keeps what arrived so far, for a stream that breaks", () => {
    const soFar = chunks.slice(0, 3).reduce(ChatStreamAccumulator.add, ChatStreamAccumulator.empty)
    expect(soFar.chunks).toBe(3)
    expect(soFar.choices[0]).toMatchObject({ content: "Calling", reasoning: "think more", finishReason: undefined })
    expect(ChatStreamAccumulator.toCompletion(soFar).choices[0]?.finish_reason).toBeNull()
  })

  it("keeps the choices of n > 1 apart, and works data-last in a pipe", () => {
    const [first] = chunks
    const both = decodeChunk(chunkJson([{ index: 1, delta: { content: "B" } }, { index: 0, delta: { content: "A" } }]))
    const acc = pipe(ChatStreamAccumulator.empty, ChatStreamAccumulator.add(first!), ChatStreamAccumulator.add(both))
    expect(ChatStreamAccumulator.toCompletion(acc).choices.map((choice) => choice.message.content)).toEqual(["A", "B"])
  })

  it("takes usage from the last chunk that carries one", () => {
    const running = decodeChunk(chunkJson([{ index: 0, delta: {} }], { usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 } }))
    const fold = (list: ReadonlyArray<ChatCompletionChunk>) =>
      ChatStreamAccumulator.toCompletion(list.reduce(ChatStreamAccumulator.add, ChatStreamAccumulator.empty)).usage?.total_tokens
    expect(fold([running, ...chunks])).toBe(17)
    expect(fold([...chunks, running])).toBe(4)
  })

  it("gives an empty completion for no chunks", () => {
    expect(ChatStreamAccumulator.toCompletion(ChatStreamAccumulator.empty).choices).toEqual([])
  })
})

// ---------------------------------------------------------------------------
// Embeddings and models
// ---------------------------------------------------------------------------

describe("EmbeddingRequest and EmbeddingResponse", () => {
  const decode = Schema.decodeUnknownEither(EmbeddingRequest)

  it("accepts one input or many, and keeps keys it does not name", () => {
    const request = { model: "v1", input: ["a", "b"], dimensions: 256, encoding_format: "float", user: "u", priority: 1 }
    expect(Schema.encodeSync(EmbeddingRequest)(Schema.decodeUnknownSync(EmbeddingRequest)(request))).toEqual(request)
    expect(Either.isRight(decode({ model: "v1", input: "a" }))).toBe(true)
  })

  it("rejects base64 vectors (they would not decode), empty input lists and bad dimensions", () => {
    expect(Either.isLeft(decode({ model: "v1", input: "a", encoding_format: "base64" }))).toBe(true)
    expect(Either.isLeft(decode({ model: "v1", input: [] }))).toBe(true)
    expect(Either.isLeft(decode({ model: "v1", input: "a", dimensions: 0 }))).toBe(true)
  })

  it.effect("decodes a response, ignoring added fields", () =>
    Effect.gen(function*() {
      const response = yield* decodeEmbeddingResponse({
        object: "list",
        data: [{ object: "embedding", index: 0, embedding: [0.1, -0.2] }],
        model: "v1",
        usage: { prompt_tokens: 2, total_tokens: 2 },
        id: "e1"
      })
      expect(response.data[0]?.embedding).toEqual([0.1, -0.2])
      const bad = yield* Effect.flip(decodeEmbeddingResponse({ object: "list", data: [{ object: "embedding", index: 0, embedding: "AAAA" }], model: "v1", usage: { prompt_tokens: 1, total_tokens: 1 } }))
      expect(bad._tag).toBe("ParseError")
    }))
})

describe("ModelList", () => {
  it.effect("decodes the model list with open model ids", () =>
    Effect.gen(function*() {
      const list = yield* decodeModelList({
        object: "list",
        data: [
          { id: "grok-4.6", object: "model", created: 1_780_000_000, owned_by: "xai" },
          { id: "grok-code-fast-1", object: "model", created: 1_750_000_000, owned_by: "xai", aliases: [] }
        ]
      })
      expect(list.data.map((model) => model.id)).toEqual(["grok-4.6", "grok-code-fast-1"])
      expect(Either.isLeft(Schema.decodeUnknownEither(ModelList)({ object: "list", data: [{ id: "x" }] }))).toBe(true)
    }))
})
