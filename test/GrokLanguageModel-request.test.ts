/**
 * What GrokLanguageModel sends: an @effect/ai prompt, tools, tool choice and response format
 * in the wire shape of each xAI API (images by URL or bytes, files, assistant history with
 * reasoning and tool calls, tool results), the sampling settings under each API's names, and
 * what cannot be sent refused with MalformedInput.
 */
import { type LanguageModel, Prompt, Tool } from "@effect/ai"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as Request from "../src/ai/internal/request.js"

const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47])
const pngBase64 = "iVBORw=="

const conversation = Prompt.make([
  { role: "system", content: "You are terse." },
  {
    role: "user",
    content: [
      { type: "text", text: "What is in these?" },
      { type: "file", mediaType: "image/png", data: new URL("https://example.com/cat.png"), options: { xai: { imageDetail: "high" } } },
      { type: "file", mediaType: "image/png", data: png },
      { type: "file", mediaType: "image/*", data: pngBase64 }
    ]
  },
  {
    role: "assistant",
    content: [
      { type: "reasoning", text: "Looking at the images.", options: { xai: { itemId: "rs_1", encryptedContent: "enc" } } },
      { type: "reasoning", text: " Still looking.", options: { xai: { itemId: "rs_1" } } },
      { type: "reasoning", text: "Notes without an id." },
      { type: "text", text: "Let me check the weather." },
      { type: "tool-call", id: "call_1", name: "weather", params: { location: "Florence" }, options: { xai: { itemId: "fc_1" } } }
    ]
  },
  {
    role: "tool",
    content: [
      { type: "tool-result", id: "call_1", name: "weather", result: { celsius: 40 }, isFailure: false, providerExecuted: false },
      { type: "tool-result", id: "call_2", name: "weather", result: "40 C", isFailure: false, providerExecuted: false }
    ]
  }
])

const Weather = Tool.make("weather", {
  description: "Get weather information for a location",
  parameters: { location: Schema.String }
})
const Clock = Tool.make("clock", { parameters: { zone: Schema.optional(Schema.String) } })

const options = (overrides: Partial<LanguageModel.ProviderOptions> = {}) =>
  Effect.map(Effect.makeSpan("test"), (span): LanguageModel.ProviderOptions => ({
    prompt: conversation,
    tools: [],
    toolChoice: "none",
    responseFormat: { type: "text" },
    span,
    ...overrides
  }))

const settings: Request.Settings = { model: "grok-4" }

describe("the Responses request", () => {
  it.effect("messages, images (URL with detail, bytes, base64 text), reasoning with its item, tool calls and results", () =>
    Effect.gen(function*() {
      const request = yield* Request.responsesRequest(yield* options(), settings)
      expect(request).toEqual({
        model: "grok-4",
        input: [
          { role: "system", content: "You are terse." },
          {
            role: "user",
            content: [
              { type: "input_text", text: "What is in these?" },
              { type: "input_image", image_url: "https://example.com/cat.png", detail: "high" },
              { type: "input_image", image_url: `data:image/png;base64,${pngBase64}` },
              { type: "input_image", image_url: `data:image/jpeg;base64,${pngBase64}` }
            ]
          },
          // Two parts of one reasoning item become one item; the one without an id stays home.
          {
            type: "reasoning",
            id: "rs_1",
            summary: [{ type: "summary_text", text: "Looking at the images." }, { type: "summary_text", text: " Still looking." }],
            encrypted_content: "enc"
          },
          { role: "assistant", content: "Let me check the weather." },
          { type: "function_call", id: "fc_1", call_id: "call_1", name: "weather", arguments: "{\"location\":\"Florence\"}" },
          { type: "function_call_output", call_id: "call_1", output: "{\"celsius\":40}" },
          { type: "function_call_output", call_id: "call_2", output: "40 C" }
        ]
      })
    }))

  it.effect("settings under the Responses names; extra fields as given", () =>
    Effect.gen(function*() {
      const request = yield* Request.responsesRequest(yield* options({ prompt: Prompt.make("hi") }), {
        model: "grok-3-mini",
        temperature: 0.2,
        topP: 0.9,
        maxOutputTokens: 300,
        reasoningEffort: "high",
        user: "u-1",
        responses: { store: false, include: ["reasoning.encrypted_content"] }
      })
      expect(request).toEqual({
        model: "grok-3-mini",
        input: [{ role: "user", content: [{ type: "input_text", text: "hi" }] }],
        temperature: 0.2,
        top_p: 0.9,
        user: "u-1",
        max_output_tokens: 300,
        reasoning: { effort: "high" },
        store: false,
        include: ["reasoning.encrypted_content"]
      })
    }))

  it.effect("function tools and every tool choice; strict only when asked", () =>
    Effect.gen(function*() {
      const choices: ReadonlyArray<[LanguageModel.ToolChoice<string>, unknown]> = [
        ["auto", "auto"],
        ["none", "none"],
        ["required", "required"],
        [{ tool: "weather" }, { type: "function", name: "weather" }],
        [{ oneOf: ["weather"], mode: "required" }, "required"],
        [{ oneOf: ["weather"] }, "auto"]
      ]
      for (const [toolChoice, wire] of choices) {
        const request = yield* Request.responsesRequest(yield* options({ prompt: Prompt.make("hi"), tools: [Weather], toolChoice }), settings)
        expect(request["tool_choice"]).toEqual(wire)
      }
      const strict = yield* Request.responsesRequest(
        yield* options({ prompt: Prompt.make("hi"), tools: [Weather, Clock], toolChoice: "auto" }),
        { ...settings, strict: true }
      )
      expect(strict.tools).toEqual([
        {
          type: "function",
          name: "weather",
          description: "Get weather information for a location",
          parameters: {
            type: "object",
            required: ["location"],
            properties: { location: { type: "string" } },
            additionalProperties: false
          },
          strict: true
        },
        {
          type: "function",
          name: "clock",
          parameters: { type: "object", required: [], properties: { zone: { type: "string" } }, additionalProperties: false },
          strict: true
        }
      ])
    }))

  it.effect("generateObject's schema as text.format json_schema", () =>
    Effect.gen(function*() {
      const Person = Schema.Struct({ name: Schema.String }).annotations({ description: "A person" })
      const request = yield* Request.responsesRequest(
        yield* options({ prompt: Prompt.make("hi"), responseFormat: { type: "json", objectName: "Person", schema: Person } }),
        settings
      )
      expect(request["text"]).toEqual({
        format: {
          type: "json_schema",
          name: "Person",
          description: "A person",
          schema: { type: "object", required: ["name"], properties: { name: { type: "string" } }, additionalProperties: false, description: "A person" }
        }
      })
    }))

  it.effect("refused with MalformedInput: inline bytes of a non-image file, a provider-defined tool", () =>
    Effect.gen(function*() {
      const pdfUrl = yield* Request.responsesRequest(
        yield* options({
          prompt: Prompt.make([{
            role: "user",
            content: [{ type: "file", mediaType: "application/pdf", data: new URL("https://example.com/a.pdf"), fileName: "a.pdf" }]
          }])
        }),
        settings
      )
      expect(pdfUrl.input).toEqual([{ role: "user", content: [{ type: "input_file", file_url: "https://example.com/a.pdf", filename: "a.pdf" }] }])
      const pdfBytes = yield* Effect.flip(Request.responsesRequest(
        yield* options({ prompt: Prompt.make([{ role: "user", content: [{ type: "file", mediaType: "application/pdf", data: png }] }]) }),
        settings
      ))
      expect([pdfBytes._tag, pdfBytes.message]).toEqual(["MalformedInput", expect.stringContaining("application/pdf")])
      const search = Tool.providerDefined({ id: "xai.web_search", toolkitName: "WebSearch", providerName: "web_search", args: {} })
      const provider = yield* Effect.flip(Request.responsesRequest(
        yield* options({ prompt: Prompt.make("hi"), tools: [search({})], toolChoice: "auto" }),
        settings
      ))
      expect([provider._tag, provider.message]).toEqual(["MalformedInput", expect.stringContaining("WebSearch")])
    }))
})

describe("the chat request", () => {
  it.effect("messages, image parts, reasoning_content and tool_calls on the assistant message, tool messages", () =>
    Effect.gen(function*() {
      const request = yield* Request.chatRequest(yield* options(), settings)
      expect(request).toEqual({
        model: "grok-4",
        messages: [
          { role: "system", content: "You are terse." },
          {
            role: "user",
            content: [
              { type: "text", text: "What is in these?" },
              { type: "image_url", image_url: { url: "https://example.com/cat.png", detail: "high" } },
              { type: "image_url", image_url: { url: `data:image/png;base64,${pngBase64}` } },
              { type: "image_url", image_url: { url: `data:image/jpeg;base64,${pngBase64}` } }
            ]
          },
          {
            role: "assistant",
            content: "Let me check the weather.",
            reasoning_content: "Looking at the images. Still looking.Notes without an id.",
            tool_calls: [{ id: "call_1", type: "function", function: { name: "weather", arguments: "{\"location\":\"Florence\"}" } }]
          },
          { role: "tool", tool_call_id: "call_1", content: "{\"celsius\":40}" },
          { role: "tool", tool_call_id: "call_2", content: "40 C" }
        ]
      })
    }))

  it.effect("settings under the chat names; tools, tool choice and response_format in the chat shape", () =>
    Effect.gen(function*() {
      const Person = Schema.Struct({ name: Schema.String })
      const request = yield* Request.chatRequest(
        yield* options({
          prompt: Prompt.make("hi"),
          tools: [Weather],
          toolChoice: { tool: "weather" },
          responseFormat: { type: "json", objectName: "Person", schema: Person }
        }),
        { model: "grok-3-mini", maxOutputTokens: 300, reasoningEffort: "low", temperature: 0, chat: { seed: 7 } }
      )
      expect(request).toEqual({
        model: "grok-3-mini",
        seed: 7,
        messages: [{ role: "user", content: [{ type: "text", text: "hi" }] }],
        temperature: 0,
        max_completion_tokens: 300,
        reasoning_effort: "low",
        tools: [{
          type: "function",
          function: {
            name: "weather",
            description: "Get weather information for a location",
            parameters: { type: "object", required: ["location"], properties: { location: { type: "string" } }, additionalProperties: false }
          }
        }],
        tool_choice: { type: "function", function: { name: "weather" } },
        response_format: {
          type: "json_schema",
          json_schema: { name: "Person", schema: { type: "object", required: ["name"], properties: { name: { type: "string" } }, additionalProperties: false } }
        }
      })
    }))

  it.effect("a file that is not an image is refused (chat takes images only)", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Request.chatRequest(
        yield* options({
          prompt: Prompt.make([{ role: "user", content: [{ type: "file", mediaType: "text/csv", data: new URL("https://example.com/a.csv") }] }])
        }),
        settings
      ))
      expect([error._tag, error.message]).toEqual(["MalformedInput", expect.stringContaining("text/csv")])
    }))
})
