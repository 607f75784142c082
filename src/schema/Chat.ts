/**
 * Wire schemas of xAI's OpenAI-compatible `POST /v1/chat/completions` (non-streaming).
 *
 * Requests keep every key they do not name, so a field xAI adds tomorrow can be sent
 * today. Responses ignore keys they do not name (xAI adds fields often) and accept `null`
 * wherever xAI may send it.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { maybe, OtherKeys } from "../internal/wire.js"

// ---------------------------------------------------------------------------
// Shared by requests and responses
// ---------------------------------------------------------------------------

/**
 * A function call the model asked for. `arguments` is a JSON text written by the model:
 * parse it yourself, it may not be valid JSON.
 *
 * @since 0.1.0
 */
export const ToolCall = Schema.Struct({
  id: Schema.String,
  type: Schema.String,
  function: Schema.Struct({ name: Schema.String, arguments: Schema.String })
}).annotations({ identifier: "ToolCall" })

/**
 * @since 0.1.0
 */
export interface ToolCall extends Schema.Schema.Type<typeof ToolCall> {}

// ---------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------

const TextContentPart = Schema.Struct(
  { type: Schema.Literal("text"), text: Schema.String },
  OtherKeys
)

const ImageUrlContentPart = Schema.Struct(
  {
    type: Schema.Literal("image_url"),
    image_url: Schema.Struct(
      { url: Schema.String, detail: Schema.optional(Schema.Literal("auto", "low", "high")) },
      OtherKeys
    )
  },
  OtherKeys
)

/**
 * One part of a multi-part message: text, or an image by URL (`https:` or `data:`).
 *
 * @since 0.1.0
 */
export const ContentPart = Schema.Union(TextContentPart, ImageUrlContentPart).annotations({ identifier: "ContentPart" })

/**
 * @since 0.1.0
 */
export type ContentPart = typeof ContentPart.Type

const MessageContent = Schema.Union(Schema.String, Schema.Array(ContentPart))

const name = Schema.optional(Schema.String)

const SystemMessage = Schema.Struct(
  { role: Schema.Literal("system"), content: MessageContent, name },
  OtherKeys
).annotations({ identifier: "SystemMessage" })

const UserMessage = Schema.Struct(
  { role: Schema.Literal("user"), content: MessageContent, name },
  OtherKeys
).annotations({ identifier: "UserMessage" })

const AssistantMessage = Schema.Struct(
  {
    role: Schema.Literal("assistant"),
    content: maybe(MessageContent),
    name,
    tool_calls: Schema.optional(Schema.Array(Schema.Struct(ToolCall.fields, OtherKeys)))
  },
  OtherKeys
).annotations({ identifier: "AssistantMessage" })

const ToolMessage = Schema.Struct(
  { role: Schema.Literal("tool"), content: MessageContent, tool_call_id: Schema.String, name },
  OtherKeys
).annotations({ identifier: "ToolMessage" })

/**
 * A message sent to the model. The `role` decides the other fields; keys not named here
 * (`reasoning_content` of an earlier answer, for instance) are kept.
 *
 * @since 0.1.0
 */
export const ChatMessage = Schema.Union(SystemMessage, UserMessage, AssistantMessage, ToolMessage).annotations({ identifier: "ChatMessage" })

/**
 * @since 0.1.0
 */
export type ChatMessage = typeof ChatMessage.Type

/**
 * A function the model may call. `parameters` is a JSON Schema object.
 *
 * @since 0.1.0
 */
export const ChatTool = Schema.Struct(
  {
    type: Schema.Literal("function"),
    function: Schema.Struct(
      {
        name: Schema.String,
        description: Schema.optional(Schema.String),
        parameters: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
        strict: Schema.optional(Schema.Boolean)
      },
      OtherKeys
    )
  },
  OtherKeys
).annotations({ identifier: "ChatTool" })

/**
 * @since 0.1.0
 */
export type ChatTool = typeof ChatTool.Type

const ToolChoice = Schema.Union(
  Schema.Literal("none", "auto", "required"),
  Schema.Struct({ type: Schema.Literal("function"), function: Schema.Struct({ name: Schema.String }) })
)

const ResponseFormat = Schema.Union(
  Schema.Struct({ type: Schema.Literal("text") }),
  Schema.Struct({ type: Schema.Literal("json_object") }),
  Schema.Struct({
    type: Schema.Literal("json_schema"),
    json_schema: Schema.Struct(
      {
        name: Schema.String,
        description: Schema.optional(Schema.String),
        schema: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
        strict: Schema.optional(Schema.Boolean)
      },
      OtherKeys
    )
  })
)

const PositiveInt = Schema.Int.pipe(Schema.positive())

/**
 * A chat completion request. Out-of-range values (a `temperature` of 3, no messages) fail
 * here, before any request is sent. Any key not named below is sent as given.
 *
 * `reasoning_effort` is an open string (`"low"` and `"high"` on grok-3-mini today).
 * `deferred: true` asks for a deferred completion (xAI answers with a `request_id`).
 * `service_tier: "priority"` asks for priority processing; the answer's `service_tier` says
 * which tier was granted (the premium is billed only then).
 *
 * @since 0.1.0
 */
export const ChatCompletionRequest = Schema.Struct(
  {
    model: Schema.NonEmptyString,
    messages: Schema.Array(ChatMessage).pipe(Schema.minItems(1)),
    max_tokens: Schema.optional(PositiveInt),
    max_completion_tokens: Schema.optional(PositiveInt),
    temperature: Schema.optional(Schema.Number.pipe(Schema.between(0, 2))),
    top_p: Schema.optional(Schema.Number.pipe(Schema.between(0, 1))),
    n: Schema.optional(PositiveInt),
    stop: Schema.optional(Schema.Union(Schema.String, Schema.Array(Schema.String))),
    seed: Schema.optional(Schema.Int),
    stream: Schema.optional(Schema.Boolean),
    stream_options: Schema.optional(
      Schema.Struct({ include_usage: Schema.optional(Schema.Boolean) }, OtherKeys)
    ),
    tools: Schema.optional(Schema.Array(ChatTool)),
    tool_choice: Schema.optional(ToolChoice),
    response_format: Schema.optional(ResponseFormat),
    reasoning_effort: Schema.optional(Schema.String),
    user: Schema.optional(Schema.String),
    deferred: Schema.optional(Schema.Boolean),
    service_tier: Schema.optional(Schema.String)
  },
  OtherKeys
).annotations({ identifier: "ChatCompletionRequest" })

/**
 * @since 0.1.0
 */
export interface ChatCompletionRequest extends Schema.Schema.Type<typeof ChatCompletionRequest> {}

// ---------------------------------------------------------------------------
// Response
// ---------------------------------------------------------------------------

/**
 * @since 0.1.0
 */
export const PromptTokensDetails = Schema.Struct({
  text_tokens: maybe(Schema.Number),
  audio_tokens: maybe(Schema.Number),
  image_tokens: maybe(Schema.Number),
  /** Prompt tokens served from xAI's cache; they are inside `prompt_tokens`. */
  cached_tokens: maybe(Schema.Number)
}).annotations({ identifier: "PromptTokensDetails" })

/**
 * @since 0.1.0
 */
export interface PromptTokensDetails extends Schema.Schema.Type<typeof PromptTokensDetails> {}

/**
 * @since 0.1.0
 */
export const CompletionTokensDetails = Schema.Struct({
  /** Thinking tokens. At xAI they are NOT inside `completion_tokens`. */
  reasoning_tokens: maybe(Schema.Number),
  audio_tokens: maybe(Schema.Number),
  accepted_prediction_tokens: maybe(Schema.Number),
  rejected_prediction_tokens: maybe(Schema.Number)
}).annotations({ identifier: "CompletionTokensDetails" })

/**
 * @since 0.1.0
 */
export interface CompletionTokensDetails extends Schema.Schema.Type<typeof CompletionTokensDetails> {}

/**
 * Token usage. At xAI `total_tokens` = prompt + completion + reasoning tokens, and that
 * total is what rate limits count.
 *
 * @since 0.1.0
 */
export const Usage = Schema.Struct({
  prompt_tokens: Schema.Number,
  completion_tokens: Schema.Number,
  total_tokens: Schema.Number,
  prompt_tokens_details: maybe(PromptTokensDetails),
  completion_tokens_details: maybe(CompletionTokensDetails),
  num_sources_used: maybe(Schema.Number),
  /** Cost of the request: 1 USD = 10^10 ticks. */
  cost_in_usd_ticks: maybe(Schema.Number)
}).annotations({ identifier: "Usage" })

/**
 * @since 0.1.0
 */
export interface Usage extends Schema.Schema.Type<typeof Usage> {}

/**
 * The assistant's answer. `content` is `""` or `null` when the model only called tools;
 * `reasoning_content` is the thinking of reasoning models that show it (grok-3-mini,
 * grok-code-fast-1).
 *
 * @since 0.1.0
 */
export const ChatCompletionMessage = Schema.Struct({
  role: Schema.Literal("assistant"),
  content: maybe(Schema.String),
  reasoning_content: maybe(Schema.String),
  tool_calls: maybe(Schema.Array(ToolCall)),
  refusal: maybe(Schema.String)
}).annotations({ identifier: "ChatCompletionMessage" })

/**
 * @since 0.1.0
 */
export interface ChatCompletionMessage extends Schema.Schema.Type<typeof ChatCompletionMessage> {}

/**
 * `finish_reason` is an open string: `"stop"`, `"length"`, `"tool_calls"`,
 * `"content_filter"` are the usual ones.
 *
 * @since 0.1.0
 */
export const ChatCompletionChoice = Schema.Struct({
  index: Schema.Number,
  message: ChatCompletionMessage,
  finish_reason: maybe(Schema.String)
}).annotations({ identifier: "ChatCompletionChoice" })

/**
 * @since 0.1.0
 */
export interface ChatCompletionChoice extends Schema.Schema.Type<typeof ChatCompletionChoice> {}

/**
 * A chat completion. `model` is the model that answered, which may differ from the one
 * requested (`grok-4-fast` answers as `grok-4-fast-reasoning`; a retired model as
 * `grok-4.3`). `service_tier` is the tier granted, when the request asked for one.
 *
 * @since 0.1.0
 */
export const ChatCompletion = Schema.Struct({
  id: Schema.String,
  object: Schema.Literal("chat.completion"),
  created: Schema.Number,
  model: Schema.String,
  choices: Schema.Array(ChatCompletionChoice),
  usage: maybe(Usage),
  system_fingerprint: maybe(Schema.String),
  service_tier: maybe(Schema.String)
}).annotations({ identifier: "ChatCompletion" })

/**
 * @since 0.1.0
 */
export interface ChatCompletion extends Schema.Schema.Type<typeof ChatCompletion> {}

// ---------------------------------------------------------------------------
// Codecs, built once
// ---------------------------------------------------------------------------

/**
 * Checks a request and gives the JSON-ready value to send.
 *
 * @since 0.1.0
 */
export const encodeChatCompletionRequest = Schema.encode(ChatCompletionRequest)

/**
 * Decodes a parsed response body.
 *
 * @since 0.1.0
 */
export const decodeChatCompletion = Schema.decodeUnknown(ChatCompletion)

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/**
 * The text of the first choice, `""` when there is none.
 *
 * @since 0.1.0
 */
export const contentOf = (completion: ChatCompletion): string => completion.choices[0]?.message.content ?? ""

/**
 * All tokens the request used: prompt, completion and reasoning (xAI counts reasoning
 * tokens outside `completion_tokens`, so `prompt_tokens + completion_tokens` is too low).
 *
 * @since 0.1.0
 */
export const totalTokens = (usage: Usage): number => usage.total_tokens
