/**
 * GrokSimulator's tool calls and structured outputs, over real loopback sockets: the recorded
 * xAI requests (test/fixtures/xai-recorded) replayed against the simulator get answers of the
 * recorded shapes (a function call with its arguments, the text after the tool result); JSON
 * answers fit the request's JSON Schema; and the same in the Responses vocabulary.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, type Scope } from "effect"
import * as Simulator from "../src/simulator/Simulator.js"
import { loadCassette } from "./support/fixtures.js"

const KEY = "xai-tools-test-key-0123456789"

interface WireToolCall {
  readonly id: string
  readonly function: { readonly name: string; readonly arguments: string }
}

interface ChatAnswer {
  readonly choices: ReadonlyArray<{
    readonly message: { readonly content: string; readonly tool_calls?: ReadonlyArray<WireToolCall> }
    readonly finish_reason: string
  }>
  readonly usage: { readonly completion_tokens: number }
}

interface OutputItem {
  readonly type: string
  readonly id: string
  readonly call_id: string
  readonly name: string
  readonly arguments: string
  readonly content: ReadonlyArray<{ readonly text: string }>
}

interface ResponseAnswer {
  readonly status: string
  readonly output: ReadonlyArray<OutputItem>
  readonly usage: { readonly output_tokens_details: { readonly reasoning_tokens: number } }
}

/** A chat chunk or a Responses event: the fields these tests read. */
interface StreamEvent {
  readonly choices: ReadonlyArray<{
    readonly delta: { readonly content?: string; readonly tool_calls?: ReadonlyArray<WireToolCall> }
    readonly finish_reason?: string
  }>
  readonly type: string
  readonly item: OutputItem
  readonly item_id: string
  readonly delta: string
  readonly response: ResponseAnswer
}

type Body = Record<string, unknown>

const post = (sim: Simulator.Service, path: string, body: unknown): Effect.Effect<{ readonly status: number; readonly text: string }> =>
  Effect.tryPromise(async (signal) => {
    const response = await fetch(`${sim.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${KEY}` },
      body: JSON.stringify(body),
      signal
    })
    return { status: response.status, text: await response.text() }
  }).pipe(Effect.orDie)

/** The JSON answer, as the type the test expects (the assertions check it). */
const postJson = <A>(sim: Simulator.Service, path: string, body: unknown) =>
  Effect.map(post(sim, path, body), (answer): A => {
    expect(answer.status).toBe(200)
    return JSON.parse(answer.text)
  })

const chat = (sim: Simulator.Service, body: unknown) => postJson<ChatAnswer>(sim, "/chat/completions", body)
const respond = (sim: Simulator.Service, body: unknown) => postJson<ResponseAnswer>(sim, "/responses", body)

/** The `data:` payloads of an SSE body, parsed, without `[DONE]`. */
const events = (text: string): ReadonlyArray<StreamEvent> =>
  text.split("\n\n").filter((block) => block.startsWith("data: ") && block !== "data: [DONE]").map((block): StreamEvent =>
    JSON.parse(block.slice("data: ".length))
  )

const withSimulator = <A, E>(use: (sim: Simulator.Service) => Effect.Effect<A, E, Scope.Scope>) =>
  Effect.scoped(Effect.flatMap(Effect.orDie(Simulator.make({ seed: 7 })), use))

/**
 * The keys of a JSON value, recursively (arrays by their first element), with the type of
 * every leaf: two values have the same shape when these are equal.
 */
const shapeOf = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.length === 0 ? [] : [shapeOf(value[0])]
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, shapeOf(inner)]).sort(([a], [b]) => String(a).localeCompare(String(b))))
  }
  return value === null ? "null" : typeof value
}

const recorded = (name: string, index: number) => {
  const interaction = loadCassette(name).interactions[index]!
  const request: Body = JSON.parse(interaction.requestBody)
  return { request, response: interaction.responseBody }
}

describe("GrokSimulator tool calls (chat completions)", () => {
  it.effect("the recorded tool request gets a function call of the recorded shape; the tool result, a text answer", () =>
    withSimulator((sim) =>
      Effect.gen(function*() {
        const first = recorded("TestOpenAICompatibleCommon__xai-grok-4-fast__tool.yaml", 0)
        const completion = yield* chat(sim, first.request)
        const real: ChatAnswer = JSON.parse(first.response)
        expect(shapeOf(completion.choices[0]!.message)).toEqual(shapeOf(real.choices[0]!.message))
        expect(completion.choices[0]!.finish_reason).toBe("tool_calls")
        const call = completion.choices[0]!.message.tool_calls![0]!
        expect(call.id).toMatch(/^call_\d{8}$/)
        expect(call.function.name).toBe("weather")
        // Strings are the first words of the last user message.
        expect(JSON.parse(call.function.arguments)).toEqual({ location: "What's the weather in Florence,Italy?" })
        expect(completion.usage.completion_tokens).toBeGreaterThan(0)

        const second = recorded("TestOpenAICompatibleCommon__xai-grok-4-fast__tool.yaml", 1)
        const answer = yield* chat(sim, second.request)
        expect(answer.choices[0]!.finish_reason).toBe("stop")
        expect(answer.choices[0]!.message.tool_calls).toBeUndefined()
        expect(answer.choices[0]!.message.content).toBe(
          "Simulated reply to \"What's the weather in Florence,Italy?\" with tool result 40 C."
        )
      })
    ))

  it.effect("streamed: the call comes whole in one chunk, then finish_reason tool_calls, then the usage (as recorded)", () =>
    withSimulator((sim) =>
      Effect.gen(function*() {
        const first = recorded("TestOpenAICompatibleCommon__xai-grok-4-fast__tool_streaming.yaml", 0)
        const simulated = events((yield* post(sim, "/chat/completions", first.request)).text)
        const real = events(first.response)
        expect(simulated.map((chunk) => shapeOf(chunk.choices))).toEqual(real.map((chunk) => shapeOf(chunk.choices)))
        expect(simulated.map((chunk) => chunk.choices[0]?.finish_reason ?? null)).toEqual([null, "tool_calls", null])
        expect(simulated[0]!.choices[0]!.delta.tool_calls![0]!.function.name).toBe("weather")
      })
    ))

  it.effect("the recorded object-generation request (tool_choice naming a function): that function, arguments fitting its parameters", () =>
    withSimulator((sim) =>
      Effect.gen(function*() {
        const first = recorded("TestOpenAICompatObjectGeneration__xai-grok-4-fast__complex_object.yaml", 0)
        const completion = yield* chat(sim, first.request)
        const real: ChatAnswer = JSON.parse(first.response)
        const call = completion.choices[0]!.message.tool_calls![0]!
        const realCall = real.choices[0]!.message.tool_calls![0]!
        expect(call.function.name).toBe(realCall.function.name)
        // The same keys and value types as the real model's arguments.
        expect(shapeOf(JSON.parse(call.function.arguments))).toEqual(shapeOf(JSON.parse(realCall.function.arguments)))
      })
    ))

  it.effect("tool_choice: none answers in text; required calls even after a tool result; auto only after a user message", () =>
    withSimulator((sim) =>
      Effect.gen(function*() {
        const { request } = recorded("TestOpenAICompatibleCommon__xai-grok-4-fast__tool.yaml", 1)
        const first = recorded("TestOpenAICompatibleCommon__xai-grok-4-fast__tool.yaml", 0).request
        const none = yield* chat(sim, { ...first, tool_choice: "none" })
        expect(none.choices[0]!.message.tool_calls).toBeUndefined()
        expect(none.choices[0]!.message.content).toContain("Simulated reply to")
        const required = yield* chat(sim, { ...request, tool_choice: "required" })
        expect(required.choices[0]!.finish_reason).toBe("tool_calls")
        const auto = yield* chat(sim, request)
        expect(auto.choices[0]!.finish_reason).toBe("stop")
      })
    ))
})

describe("GrokSimulator structured outputs", () => {
  const schema = {
    type: "object",
    required: ["name", "age", "tags", "kind", "home"],
    properties: {
      name: { type: "string", minLength: 1 },
      age: { type: "integer", minimum: 18 },
      score: { type: "number", maximum: 0.5 },
      tags: { type: "array", items: { type: "string" }, minItems: 2 },
      kind: { type: "string", enum: ["cat", "dog"] },
      nickname: { anyOf: [{ type: "null" }, { type: "string" }] },
      home: { $ref: "#/$defs/City" }
    },
    additionalProperties: false,
    $defs: { City: { type: "object", required: ["city"], properties: { city: { type: "string" }, sunny: { type: "boolean" } } } }
  }
  const expected = {
    name: "Describe Alice",
    age: 18,
    score: 0.5,
    tags: ["Describe Alice", "Describe Alice"],
    kind: "cat",
    nickname: "Describe Alice",
    home: { city: "Describe Alice", sunny: true }
  }

  it.effect("chat: response_format json_schema gives JSON that fits the schema; json_object, a JSON object", () =>
    withSimulator((sim) =>
      Effect.gen(function*() {
        const base = { model: "grok-4", messages: [{ role: "user", content: "Describe Alice" }] }
        const completion = yield* chat(sim, {
          ...base,
          response_format: { type: "json_schema", json_schema: { name: "Person", schema, strict: true } }
        })
        expect(JSON.parse(completion.choices[0]!.message.content)).toEqual(expected)
        const object = yield* chat(sim, { ...base, response_format: { type: "json_object" } })
        expect(JSON.parse(object.choices[0]!.message.content)).toEqual({ reply: "Simulated reply to \"Describe Alice\"." })
        const streamed = events((yield* post(sim, "/chat/completions", {
          ...base,
          stream: true,
          response_format: { type: "json_schema", json_schema: { name: "Person", schema } }
        })).text)
        const text = streamed.map((chunk) => chunk.choices[0]?.delta.content ?? "").join("")
        expect(JSON.parse(text)).toEqual(expected)
        expect(streamed.length).toBeGreaterThan(10)
      })
    ))

  it.effect("responses: text.format json_schema gives a message whose text fits the schema", () =>
    withSimulator((sim) =>
      Effect.gen(function*() {
        const response = yield* respond(sim, {
          model: "grok-4",
          input: "Describe Alice",
          text: { format: { type: "json_schema", name: "Person", schema, strict: true } }
        })
        expect(JSON.parse(response.output[0]!.content[0]!.text)).toEqual(expected)
        expect(response.status).toBe("completed")
      })
    ))
})

describe("GrokSimulator tool calls (Responses API)", () => {
  const tools = [{
    type: "function",
    name: "weather",
    description: "Get weather information for a location",
    parameters: { type: "object", properties: { location: { type: "string" } }, required: ["location"] }
  }]
  const input = [{ role: "user", content: "Weather in Florence?" }]

  it.effect("a function_call output item; its function_call_output answered in text", () =>
    withSimulator((sim) =>
      Effect.gen(function*() {
        const response = yield* respond(sim, { model: "grok-4", input, tools })
        expect(response.output).toHaveLength(1)
        const call = response.output[0]!
        expect(call).toMatchObject({ type: "function_call", name: "weather", status: "completed" })
        expect(call.call_id).toMatch(/^call_\d{8}$/)
        expect(JSON.parse(call.arguments)).toEqual({ location: "Weather in Florence?" })
        const answer = yield* respond(sim, {
          model: "grok-4",
          tools,
          input: [...input, call, { type: "function_call_output", call_id: call.call_id, output: "{\"celsius\":40}" }]
        })
        expect(answer.output.map((item) => item.type)).toEqual(["message"])
        expect(answer.output[0]!.content[0]!.text).toBe("Simulated reply to \"Weather in Florence?\" with tool result {\"celsius\":40}.")
      })
    ))

  it.effect("streamed: output_item.added, the arguments in one delta, arguments.done, output_item.done, completed", () =>
    withSimulator((sim) =>
      Effect.gen(function*() {
        const streamed = events((yield* post(sim, "/responses", { model: "grok-3-mini", input, tools, stream: true })).text)
        const types = streamed.map((event) => event.type)
        expect(types.slice(-5)).toEqual([
          "response.output_item.added",
          "response.function_call_arguments.delta",
          "response.function_call_arguments.done",
          "response.output_item.done",
          "response.completed"
        ])
        // grok-3-mini shows its reasoning first.
        expect(types).toContain("response.reasoning_summary_text.delta")
        const added = streamed.at(-5)!
        expect(added.item).toMatchObject({ type: "function_call", name: "weather", arguments: "" })
        const delta = streamed.at(-4)!
        expect(delta.item_id).toBe(added.item.id)
        expect(JSON.parse(delta.delta)).toEqual({ location: "Weather in Florence?" })
        const final = streamed.at(-1)!.response
        expect(final.output.map((item) => item.type)).toEqual(["reasoning", "function_call"])
        expect(final.usage.output_tokens_details.reasoning_tokens).toBeGreaterThan(0)
      })
    ))
})
