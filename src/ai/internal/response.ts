/**
 * An xAI answer as `@effect/ai` response parts: a Responses API response or a chat
 * completion, whole. Shared with the stream mapping: finish reasons, usage, tool-call
 * arguments, metadata.
 *
 * Usage is reported the same way for both APIs: `outputTokens` counts everything the model
 * generated, reasoning included (the Responses API's `output_tokens`; chat's
 * `completion_tokens` plus its reasoning tokens, which xAI counts outside it);
 * `reasoningTokens` and `cachedInputTokens` are the parts of it; `totalTokens` is xAI's
 * total, what the rate limits count.
 *
 * @internal
 */
import type * as AiError from "@effect/ai/AiError"
import * as IdGenerator from "@effect/ai/IdGenerator"
import type * as Response from "@effect/ai/Response"
import * as Tool from "@effect/ai/Tool"
import { DateTime, Effect } from "effect"
import type * as Chat from "../../schema/Chat.js"
import type * as Responses from "../../schema/Responses.js"
import { malformedOutput } from "./errors.js"

const MODULE = "GrokLanguageModel"

export const metadataPart = (id: string, model: string, createdSeconds: number | null | undefined): Response.ResponseMetadataPartEncoded => ({
  type: "response-metadata",
  id,
  modelId: model,
  ...(createdSeconds == null ? {} : { timestamp: DateTime.formatIso(DateTime.unsafeMake(createdSeconds * 1000)) })
})

/** Tool-call arguments (JSON text written by the model), parsed without prototype pollution. */
export const parseArguments = (
  method: string,
  name: string,
  text: string
): Effect.Effect<unknown, AiError.AiError> =>
  Effect.try({
    // A function without parameters may be called with no arguments at all.
    try: () => (text.trim() === "" ? {} : Tool.unsafeSecureJsonParse(text)),
    catch: (cause) => malformedOutput(MODULE, method, `the arguments of tool ${name} are not JSON: ${text}`, cause)
  })

const finishReasons: Readonly<Record<string, Response.FinishReason>> = {
  stop: "stop",
  completed: "stop",
  length: "length",
  max_output_tokens: "length",
  max_tokens: "length",
  tool_calls: "tool-calls",
  function_call: "tool-calls",
  content_filter: "content-filter"
}

/** xAI's reason (a chat `finish_reason`, a Responses `incomplete_details.reason`) in @effect/ai's words. */
export const finishReasonOf = (reason: string | null | undefined, hasToolCalls: boolean): Response.FinishReason => {
  if (reason == null) return hasToolCalls ? "tool-calls" : "stop"
  return finishReasons[reason] ?? "other"
}

export const responsesUsage = (usage: Responses.ResponseUsage | null | undefined): typeof Response.Usage.Encoded => ({
  inputTokens: usage?.input_tokens,
  outputTokens: usage?.output_tokens,
  totalTokens: usage == null ? undefined : usage.total_tokens ?? usage.input_tokens + usage.output_tokens,
  reasoningTokens: usage?.output_tokens_details?.reasoning_tokens ?? undefined,
  cachedInputTokens: usage?.input_tokens_details?.cached_tokens ?? undefined
})

export const chatUsage = (usage: Chat.Usage | null | undefined): typeof Response.Usage.Encoded => {
  const reasoning = usage?.completion_tokens_details?.reasoning_tokens ?? undefined
  return {
    inputTokens: usage?.prompt_tokens,
    outputTokens: usage == null ? undefined : usage.completion_tokens + (reasoning ?? 0),
    totalTokens: usage?.total_tokens,
    reasoningTokens: reasoning,
    cachedInputTokens: usage?.prompt_tokens_details?.cached_tokens ?? undefined
  }
}

/** What the answer cost, as xAI reports it, on the finish part. */
export const finishMetadata = (
  usage: { readonly cost_in_usd_ticks?: number | null | undefined; readonly num_sources_used?: number | null | undefined } | null | undefined
): Response.FinishPartMetadata => ({
  xai: {
    ...(usage?.cost_in_usd_ticks == null ? {} : { costInUsdTicks: usage.cost_in_usd_ticks }),
    ...(usage?.num_sources_used == null ? {} : { numSourcesUsed: usage.num_sources_used })
  }
})

/** `url_citation` annotations of an output text as source parts. */
export const sourceParts = (
  annotations: ReadonlyArray<Readonly<Record<string, unknown>>> | null | undefined
): Effect.Effect<Array<Response.UrlSourcePartEncoded>, never, IdGenerator.IdGenerator> =>
  Effect.gen(function*() {
    const ids = yield* IdGenerator.IdGenerator
    const parts: Array<Response.UrlSourcePartEncoded> = []
    for (const annotation of annotations ?? []) {
      const url = annotation["url"]
      if (annotation["type"] !== "url_citation" || typeof url !== "string") continue
      const title = typeof annotation["title"] === "string" ? annotation["title"] : url
      parts.push({ type: "source", sourceType: "url", id: yield* ids.generateId(), url, title })
    }
    return parts
  })

/** The parts of a (non-streamed) Responses API response. Items of types not modelled here (server-side tool calls) are left out. */
export const fromResponse = (
  response: Responses.Response
): Effect.Effect<Array<Response.PartEncoded>, AiError.AiError, IdGenerator.IdGenerator> =>
  Effect.gen(function*() {
    const parts: Array<Response.PartEncoded> = [metadataPart(response.id, response.model, response.created_at)]
    let hasToolCalls = false
    for (const item of response.output) {
      switch (item.type) {
        case "message":
          for (const content of item.content) {
            if (content.type === "output_text") {
              parts.push({ type: "text", text: content.text, metadata: { xai: { itemId: item.id } } })
              parts.push(...(yield* sourceParts(content.annotations)))
            } else if (content.type === "refusal") {
              parts.push({ type: "text", text: "", metadata: { xai: { itemId: item.id, refusal: content.refusal } } })
            }
          }
          break
        case "reasoning": {
          const texts = item.summary.length > 0 ? item.summary : item.content ?? []
          const metadata = { xai: { itemId: item.id, ...(item.encrypted_content == null ? {} : { encryptedContent: item.encrypted_content }) } }
          // An item without readable text still carries its id (and encrypted content) back.
          if (texts.length === 0) parts.push({ type: "reasoning", text: "", metadata })
          for (const text of texts) parts.push({ type: "reasoning", text: text.text, metadata })
          break
        }
        case "function_call": {
          hasToolCalls = true
          parts.push({
            type: "tool-call",
            id: item.call_id,
            name: item.name,
            params: yield* parseArguments("generateText", item.name, item.arguments),
            ...(item.id == null ? {} : { metadata: { xai: { itemId: item.id } } })
          })
          break
        }
      }
    }
    parts.push({
      type: "finish",
      reason: response.status === "incomplete"
        ? finishReasonOf(response.incomplete_details?.reason ?? "length", hasToolCalls)
        : finishReasonOf(null, hasToolCalls),
      usage: responsesUsage(response.usage),
      metadata: finishMetadata(response.usage)
    })
    return parts
  })

/** The parts of a chat completion's first choice. */
export const fromCompletion = (
  completion: Chat.ChatCompletion
): Effect.Effect<Array<Response.PartEncoded>, AiError.AiError> =>
  Effect.gen(function*() {
    const parts: Array<Response.PartEncoded> = [metadataPart(completion.id, completion.model, completion.created)]
    const choice = completion.choices[0]
    const message = choice?.message
    if (message?.reasoning_content != null && message.reasoning_content !== "") {
      parts.push({ type: "reasoning", text: message.reasoning_content })
    }
    if (message?.content != null && message.content !== "") parts.push({ type: "text", text: message.content })
    if (message?.refusal != null) parts.push({ type: "text", text: "", metadata: { xai: { refusal: message.refusal } } })
    for (const call of message?.tool_calls ?? []) {
      parts.push({
        type: "tool-call",
        id: call.id,
        name: call.function.name,
        params: yield* parseArguments("generateText", call.function.name, call.function.arguments)
      })
    }
    parts.push({
      type: "finish",
      reason: choice?.finish_reason == null && (message?.tool_calls?.length ?? 0) === 0
        ? "unknown"
        : finishReasonOf(choice?.finish_reason, (message?.tool_calls?.length ?? 0) > 0),
      usage: chatUsage(completion.usage),
      metadata: finishMetadata(completion.usage)
    })
    return parts
  })
