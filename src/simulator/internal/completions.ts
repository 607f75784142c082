/**
 * Deterministic chat completions: the reply text (or tool call, or JSON answer), its token
 * counts and cost, and the JSON and SSE shapes of xAI's `/v1/chat/completions` (copied from
 * recorded traffic).
 *
 * @internal
 */
import { Effect, Random } from "effect"
import type { ReasoningMode, Usage } from "../Simulator.js"
import * as Structured from "./structured.js"

/** Cost per token in xAI's `cost_in_usd_ticks` (1 USD = 1e10 ticks): $0.20/M in, $0.50/M out. */
const TICKS_PER_PROMPT_TOKEN = 2_000
const TICKS_PER_OUTPUT_TOKEN = 5_000

const SYSTEM_FINGERPRINT = "fp_simulator"

/** Words of the last user message quoted back in the reply. */
const ECHOED_WORDS = 12

const REASONING = "Reading the request and choosing a short, direct answer."

/** About four characters per token, as xAI's tokenizer averages on English text. */
export const tokensForText = (chars: number): number => Math.max(1, Math.ceil(chars / 4))

const isRecord = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** The text of a message `content`: a string, or the `text` of its text parts. */
const contentText = (content: unknown): string => {
  if (typeof content === "string") return content
  if (!Array.isArray(content)) return ""
  return content
    .map((part) => (isRecord(part) && typeof part["text"] === "string" ? part["text"] : ""))
    .filter((text) => text.length > 0)
    .join(" ")
}

export interface Message {
  readonly role: string
  readonly content?: unknown
}

export const promptTokens = (messages: ReadonlyArray<Message>): number =>
  tokensForText(messages.reduce((chars, message) => chars + contentText(message.content).length, 0))

/** Splits text into stream deltas the way xAI does: a word with its leading space. */
const pieces = (text: string): ReadonlyArray<string> => text.match(/\s*\S+/g) ?? []

/** The first words of the last user message ("" when there is none). */
const userWords = (messages: ReadonlyArray<Message>): string => {
  const lastUser = [...messages].reverse().find((message) => message.role === "user")
  const words = contentText(lastUser?.content).split(/\s+/).filter((word) => word.length > 0)
  return words.slice(0, ECHOED_WORDS).join(" ") + (words.length > ECHOED_WORDS ? " ..." : "")
}

/** How much of a tool result the reply quotes. */
const QUOTED_RESULT_CHARS = 200

/**
 * `Simulated reply to "<first words of the last user message>".`, and when the last message
 * is a tool result, ` with tool result <the result>` before the full stop.
 */
const replyText = (messages: ReadonlyArray<Message>): string => {
  const quoted = userWords(messages)
  const last = messages.at(-1)
  const result = last?.role === "tool" ? contentText(last.content).slice(0, QUOTED_RESULT_CHARS) : ""
  const withResult = result === "" ? "" : ` with tool result ${result}`
  if (quoted === "") return `Simulated reply${withResult}.`
  return `Simulated reply to "${quoted}"${withResult}.`
}

/** JSON text cut into stream deltas of about one token (four characters) each. */
const jsonPieces = (json: string): ReadonlyArray<string> => json.match(/[\s\S]{1,4}/g) ?? []

/** A function call the model makes: `arguments` is JSON text. */
export interface ToolCall {
  readonly id: string
  readonly name: string
  readonly arguments: string
}

export interface Completion {
  /** Content deltas; their concatenation is the reply (nothing when the model calls a tool). */
  readonly content: ReadonlyArray<string>
  /** Reasoning deltas (empty unless the model's reasoning is visible). */
  readonly reasoning: ReadonlyArray<string>
  /** The function calls (at most one), instead of content. */
  readonly toolCalls: ReadonlyArray<ToolCall>
  readonly finishReason: "stop" | "length" | "tool_calls"
  readonly usage: Usage
}

export interface CompletionRequest {
  readonly messages: ReadonlyArray<Message>
  readonly maxTokens: number | undefined
  readonly reasoning: ReasoningMode
  /** The function tools offered. */
  readonly tools?: ReadonlyArray<Structured.FunctionTool> | undefined
  readonly toolChoice?: Structured.ToolChoice | undefined
  readonly format?: Structured.OutputFormat | undefined
}

/** A call id as xAI's look: `call_` and eight digits, from the request's seeded `Random`. */
const callId: Effect.Effect<string> = Effect.map(Random.nextIntBetween(0, 100_000_000), (n) => `call_${String(n).padStart(8, "0")}`)

/** The answer's content: the reply, or JSON when a format asks for it. */
const contentOf = (request: CompletionRequest): ReadonlyArray<string> => {
  const format = request.format ?? Structured.text
  switch (format._tag) {
    case "Text":
      return pieces(replyText(request.messages))
    case "JsonObject":
      return jsonPieces(JSON.stringify({ reply: replyText(request.messages) }))
    case "JsonSchema":
      return jsonPieces(JSON.stringify(Structured.valueOf(format.schema, userWords(request.messages) || "text")))
  }
}

/**
 * The completion for a request. A function call when {@link Structured.chooseTool} picks one
 * (its arguments count one token per four characters); otherwise one token per word of
 * {@link replyText} (or per four characters of a JSON answer), cut at `maxTokens` (then
 * `finish_reason` is `"length"`). Reasoning models add reasoning tokens. `total_tokens` counts
 * prompt, completion and reasoning, as xAI does.
 */
export const complete = (request: CompletionRequest): Effect.Effect<Completion> =>
  Effect.gen(function*() {
    const reasoning = request.reasoning === "none" ? [] : pieces(REASONING)
    const prompt = promptTokens(request.messages)
    const usage = (completionTokens: number): Usage => ({
      promptTokens: prompt,
      completionTokens,
      reasoningTokens: reasoning.length,
      totalTokens: prompt + completionTokens + reasoning.length
    })
    const visible = request.reasoning === "visible" ? reasoning : []
    const tool = Structured.chooseTool(request.tools ?? [], request.toolChoice ?? Structured.auto, request.messages.at(-1)?.role)
    if (tool !== undefined) {
      const args = JSON.stringify(Structured.valueOf(tool.parameters, userWords(request.messages) || "text"))
      return {
        content: [],
        reasoning: visible,
        toolCalls: [{ id: yield* callId, name: tool.name, arguments: args }],
        finishReason: "tool_calls",
        usage: usage(tokensForText(tool.name.length + args.length))
      }
    }
    const all = contentOf(request)
    const content = request.maxTokens === undefined ? all : all.slice(0, request.maxTokens)
    return {
      content,
      reasoning: visible,
      toolCalls: [],
      finishReason: content.length < all.length ? "length" : "stop",
      usage: usage(content.length)
    }
  })

const costInUsdTicks = (usage: Usage): number =>
  usage.promptTokens * TICKS_PER_PROMPT_TOKEN + (usage.completionTokens + usage.reasoningTokens) * TICKS_PER_OUTPUT_TOKEN

export const wireUsage = (usage: Usage) => ({
  prompt_tokens: usage.promptTokens,
  completion_tokens: usage.completionTokens,
  total_tokens: usage.totalTokens,
  prompt_tokens_details: { text_tokens: usage.promptTokens, audio_tokens: 0, image_tokens: 0, cached_tokens: 0 },
  completion_tokens_details: {
    reasoning_tokens: usage.reasoningTokens,
    audio_tokens: 0,
    accepted_prediction_tokens: 0,
    rejected_prediction_tokens: 0
  },
  num_sources_used: 0,
  cost_in_usd_ticks: costInUsdTicks(usage)
})

export interface Envelope {
  readonly id: string
  readonly created: number
  /** The model that answers (the requested one, unless the simulator redirects it). */
  readonly model: string
  /** The service tier granted, when the request asked for one. */
  readonly serviceTier?: string | undefined
}

/**
 * The tier an answer says it was served on: xAI echoes the tier granted when one was asked
 * for (`auto` is granted as `default`); nothing when none was.
 */
export const grantedTier = (requested: string | null | undefined): string | undefined =>
  requested == null ? undefined : requested === "auto" ? "default" : requested

const tierField = (envelope: Envelope) => (envelope.serviceTier === undefined ? {} : { service_tier: envelope.serviceTier })

/** A tool call as xAI writes it in a message, keys in its order. */
const wireToolCall = (call: ToolCall) => ({
  id: call.id,
  function: { name: call.name, arguments: call.arguments },
  type: "function"
})

export const chatCompletion = (envelope: Envelope, completion: Completion) => ({
  id: envelope.id,
  object: "chat.completion",
  created: envelope.created,
  model: envelope.model,
  choices: [{
    index: 0,
    message: {
      role: "assistant",
      content: completion.content.join(""),
      ...(completion.reasoning.length > 0 ? { reasoning_content: completion.reasoning.join("") } : {}),
      ...(completion.toolCalls.length > 0 ? { tool_calls: completion.toolCalls.map(wireToolCall) } : {}),
      refusal: null
    },
    finish_reason: completion.finishReason
  }],
  usage: wireUsage(completion.usage),
  system_fingerprint: SYSTEM_FINGERPRINT,
  ...tierField(envelope)
})

/**
 * The `data:` payloads of the stream, as JSON text, without the final `[DONE]`: a first
 * chunk carrying the role, one chunk per delta (a tool call comes whole, in one chunk, as
 * xAI sends it), an empty-delta chunk with the `finish_reason`, and with `includeUsage` a
 * last chunk with `choices: []` and the usage.
 */
export const chatCompletionChunks = (
  envelope: Envelope,
  completion: Completion,
  includeUsage: boolean
): ReadonlyArray<string> => {
  const chunk = (choices: ReadonlyArray<unknown>, usage?: ReturnType<typeof wireUsage>) =>
    JSON.stringify({
      id: envelope.id,
      object: "chat.completion.chunk",
      created: envelope.created,
      model: envelope.model,
      choices,
      ...(usage === undefined ? {} : { usage }),
      system_fingerprint: SYSTEM_FINGERPRINT,
      ...tierField(envelope)
    })
  const deltas: ReadonlyArray<Record<string, unknown>> = [
    ...completion.reasoning.map((text) => ({ reasoning_content: text })),
    ...completion.content.map((text) => ({ content: text })),
    ...(completion.toolCalls.length === 0
      ? []
      : [{
        tool_calls: completion.toolCalls.map((call, index) => ({
          id: call.id,
          function: { name: call.name, arguments: call.arguments },
          index,
          type: "function"
        }))
      }])
  ]
  const events = deltas.map((delta, i) =>
    chunk([{ index: 0, delta: i === 0 ? { ...delta, role: "assistant" } : delta }])
  )
  events.push(chunk([{ index: 0, delta: {}, finish_reason: completion.finishReason }]))
  if (includeUsage) events.push(chunk([], wireUsage(completion.usage)))
  return events
}
