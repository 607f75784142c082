/**
 * An `@effect/ai` request (prompt, tools, tool choice, response format) in the wire shape of
 * either xAI API: `GrokClient.ResponsesRequest` or `GrokClient.ChatRequest`.
 *
 * What cannot be sent fails with `MalformedInput` (a file type the API does not take, a
 * provider-defined tool); nothing is dropped silently except reasoning parts without the
 * item id the Responses API needs to take them back (they are the model's own notes, and
 * chat takes them as `reasoning_content`).
 *
 * @internal
 */
import type * as AiError from "@effect/ai/AiError"
import type * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Prompt from "@effect/ai/Prompt"
import * as Tool from "@effect/ai/Tool"
import { Effect, Encoding } from "effect"
import type * as GrokClient from "../../GrokClient.js"
import type * as Chat from "../../schema/Chat.js"
import type * as Responses from "../../schema/Responses.js"
import type { Config } from "../GrokLanguageModel.js"
import { malformedInput } from "./errors.js"

const MODULE = "GrokLanguageModel"

/** The settings of one call: the model's, under any override in context. */
export type Settings = Config.Service & { readonly model: string }

const fail = (description: string) => Effect.fail(malformedInput(MODULE, "prepareRequest", description))

/** A tool result as the model reads it: text as is, anything else as JSON. */
const resultText = (result: unknown): string => (typeof result === "string" ? result : JSON.stringify(result) ?? "null")

const isUrlText = (data: string) => /^(https?:|data:)/i.test(data)

/** An image as a URL the APIs take: the URL itself, or a `data:` URL of its bytes (base64 text counts as bytes). */
const imageUrl = (part: Prompt.FilePart): string => {
  const mediaType = part.mediaType === "image/*" ? "image/jpeg" : part.mediaType
  if (part.data instanceof URL) return part.data.toString()
  if (typeof part.data === "string") return isUrlText(part.data) ? part.data : `data:${mediaType};base64,${part.data}`
  return `data:${mediaType};base64,${Encoding.encodeBase64(part.data)}`
}

const isImage = (part: Prompt.FilePart) => part.mediaType.startsWith("image/")

const unsupportedFile = (part: Prompt.FilePart, where: string) =>
  fail(`a ${part.mediaType} file cannot be sent ${where}: images are sent by URL or bytes${where === "to the Responses API" ? ", other files by URL" : ""}`)

/** Function tools in either API's shape; a provider-defined tool is refused. */
const functionTools = <T>(
  tools: ReadonlyArray<Tool.Any>,
  shape: (tool: { readonly name: string; readonly description: string | undefined; readonly parameters: Record<string, unknown> }) => T
): Effect.Effect<ReadonlyArray<T>, AiError.AiError> =>
  Effect.forEach(tools, (tool) =>
    Tool.isUserDefined(tool)
      ? Effect.succeed(shape({
        name: tool.name,
        // What Tool.getDescription and Tool.getJsonSchema read, for a tool of any requirements.
        description: tool.description ?? Tool.getDescriptionFromSchemaAst(tool.parametersSchema.ast),
        parameters: { ...Tool.getJsonSchemaFromSchemaAst(tool.parametersSchema.ast) }
      }))
      : fail(`provider-defined tool ${tool.name} is not supported: give the model function tools`))

const strictOf = (settings: Settings) => (settings.strict === undefined ? {} : { strict: settings.strict })

/** The JSON schema `generateObject` asks for, if it does. */
const jsonFormat = (options: LanguageModel.ProviderOptions, settings: Settings) => {
  if (options.responseFormat.type !== "json") return undefined
  const ast = options.responseFormat.schema.ast
  const description = Tool.getDescriptionFromSchemaAst(ast)
  return {
    name: options.responseFormat.objectName,
    ...(description === undefined ? {} : { description }),
    schema: { ...Tool.getJsonSchemaFromSchemaAst(ast) },
    ...strictOf(settings)
  }
}

/** `auto`, `none`, `required` as they are; one named tool; `oneOf` (the tools already filtered) by its mode. */
const toolChoiceOf = <Named>(choice: LanguageModel.ToolChoice<string>, named: (name: string) => Named) => {
  if (typeof choice === "string") return choice
  if ("tool" in choice) return named(choice.tool)
  return choice.mode ?? "auto"
}

const samplingOf = (settings: Settings) => ({
  ...(settings.temperature === undefined ? {} : { temperature: settings.temperature }),
  ...(settings.topP === undefined ? {} : { top_p: settings.topP }),
  ...(settings.user === undefined ? {} : { user: settings.user })
})

// ---------------------------------------------------------------------------
// Responses API
// ---------------------------------------------------------------------------

const responsesInput = (prompt: Prompt.Prompt): Effect.Effect<Array<Responses.InputItem>, AiError.AiError> =>
  Effect.gen(function*() {
    const input: Array<Responses.InputItem> = []
    for (const message of prompt.content) {
      switch (message.role) {
        case "system":
          input.push({ role: "system", content: message.content })
          break
        case "user": {
          const content: Array<Responses.InputContent> = []
          for (const part of message.content) {
            if (part.type === "text") content.push({ type: "input_text", text: part.text })
            else if (isImage(part)) {
              const detail = part.options.xai?.imageDetail
              content.push({ type: "input_image", image_url: imageUrl(part), ...(detail === undefined ? {} : { detail }) })
            } else if (part.data instanceof URL || (typeof part.data === "string" && isUrlText(part.data))) {
              content.push({ type: "input_file", file_url: part.data.toString(), ...(part.fileName === undefined ? {} : { filename: part.fileName }) })
            } else return yield* unsupportedFile(part, "to the Responses API")
          }
          input.push({ role: "user", content })
          break
        }
        case "assistant": {
          // Parts of one reasoning item (several summary parts) go back as that one item.
          const reasoning = new Map<string, { readonly summary: Array<{ readonly type: string; readonly text: string }> }>()
          for (const part of message.content) {
            switch (part.type) {
              case "text":
                input.push({ role: "assistant", content: part.text })
                break
              case "reasoning": {
                const itemId = part.options.xai?.itemId
                if (itemId === undefined) break
                const summary = part.text === "" ? [] : [{ type: "summary_text", text: part.text }]
                const existing = reasoning.get(itemId)
                if (existing !== undefined) {
                  existing.summary.push(...summary)
                  break
                }
                const encrypted = part.options.xai?.encryptedContent
                const item = { type: "reasoning", id: itemId, summary, ...(encrypted === undefined ? {} : { encrypted_content: encrypted }) }
                reasoning.set(itemId, item)
                input.push(item)
                break
              }
              case "tool-call": {
                if (part.providerExecuted) break
                const itemId = part.options.xai?.itemId
                input.push({
                  type: "function_call",
                  ...(itemId === undefined ? {} : { id: itemId }),
                  call_id: part.id,
                  name: part.name,
                  arguments: JSON.stringify(part.params) ?? "{}"
                })
                break
              }
              case "tool-result":
                // A server-side tool's result: the server already has it.
                break
              case "file":
                return yield* fail(`an assistant message cannot carry a file (${part.mediaType})`)
            }
          }
          break
        }
        case "tool":
          for (const part of message.content) {
            input.push({ type: "function_call_output", call_id: part.id, output: resultText(part.result) })
          }
          break
      }
    }
    return input
  })

/** The Responses request of a call. */
export const responsesRequest = (
  options: LanguageModel.ProviderOptions,
  settings: Settings
): Effect.Effect<GrokClient.ResponsesRequest, AiError.AiError> =>
  Effect.gen(function*() {
    const input = yield* responsesInput(options.prompt)
    const tools = yield* functionTools(options.tools, (tool) => ({
      type: "function",
      name: tool.name,
      ...(tool.description === undefined ? {} : { description: tool.description }),
      parameters: tool.parameters,
      ...strictOf(settings)
    }))
    const format = jsonFormat(options, settings)
    return {
      ...settings.responses,
      model: settings.model,
      input,
      ...samplingOf(settings),
      ...(settings.maxOutputTokens === undefined ? {} : { max_output_tokens: settings.maxOutputTokens }),
      ...(settings.reasoningEffort === undefined ? {} : { reasoning: { effort: settings.reasoningEffort } }),
      ...(tools.length === 0
        ? {}
        : { tools, tool_choice: toolChoiceOf(options.toolChoice, (name) => ({ type: "function", name })) }),
      ...(format === undefined ? {} : { text: { format: { type: "json_schema", ...format } } })
    }
  })

// ---------------------------------------------------------------------------
// Chat completions
// ---------------------------------------------------------------------------

const chatMessages = (prompt: Prompt.Prompt): Effect.Effect<Array<Chat.ChatMessage>, AiError.AiError> =>
  Effect.gen(function*() {
    const messages: Array<Chat.ChatMessage> = []
    for (const message of prompt.content) {
      switch (message.role) {
        case "system":
          messages.push({ role: "system", content: message.content })
          break
        case "user": {
          const content: Array<Chat.ContentPart> = []
          for (const part of message.content) {
            if (part.type === "text") content.push({ type: "text", text: part.text })
            else if (isImage(part)) {
              const detail = part.options.xai?.imageDetail
              content.push({ type: "image_url", image_url: { url: imageUrl(part), ...(detail === undefined ? {} : { detail }) } })
            } else return yield* unsupportedFile(part, "through chat completions")
          }
          messages.push({ role: "user", content })
          break
        }
        case "assistant": {
          let text = ""
          let reasoning = ""
          const toolCalls: Array<Chat.ToolCall> = []
          for (const part of message.content) {
            switch (part.type) {
              case "text":
                text += part.text
                break
              case "reasoning":
                reasoning += part.text
                break
              case "tool-call":
                if (!part.providerExecuted) {
                  toolCalls.push({ id: part.id, type: "function", function: { name: part.name, arguments: JSON.stringify(part.params) ?? "{}" } })
                }
                break
              case "tool-result":
                break
              case "file":
                return yield* fail(`an assistant message cannot carry a file (${part.mediaType})`)
            }
          }
          messages.push({
            role: "assistant",
            content: text,
            ...(reasoning === "" ? {} : { reasoning_content: reasoning }),
            ...(toolCalls.length === 0 ? {} : { tool_calls: toolCalls })
          })
          break
        }
        case "tool":
          for (const part of message.content) {
            messages.push({ role: "tool", tool_call_id: part.id, content: resultText(part.result) })
          }
          break
      }
    }
    return messages
  })

/** The chat request of a call. */
export const chatRequest = (
  options: LanguageModel.ProviderOptions,
  settings: Settings
): Effect.Effect<GrokClient.ChatRequest, AiError.AiError> =>
  Effect.gen(function*() {
    const messages = yield* chatMessages(options.prompt)
    const tools = yield* functionTools(options.tools, (tool): Chat.ChatTool => ({
      type: "function",
      function: {
        name: tool.name,
        ...(tool.description === undefined ? {} : { description: tool.description }),
        parameters: tool.parameters,
        ...strictOf(settings)
      }
    }))
    const format = jsonFormat(options, settings)
    return {
      ...settings.chat,
      model: settings.model,
      messages,
      ...samplingOf(settings),
      ...(settings.maxOutputTokens === undefined ? {} : { max_completion_tokens: settings.maxOutputTokens }),
      ...(settings.reasoningEffort === undefined ? {} : { reasoning_effort: settings.reasoningEffort }),
      ...(tools.length === 0
        ? {}
        : { tools, tool_choice: toolChoiceOf(options.toolChoice, (name) => ({ type: "function" as const, function: { name } })) }),
      ...(format === undefined ? {} : { response_format: { type: "json_schema" as const, json_schema: format } })
    }
  })
