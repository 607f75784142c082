/**
 * Wire schemas of xAI's Responses API (`POST /v1/responses`, OpenAI-compatible): the
 * request, the response with its output items and usage, and the events of a streamed
 * response (`"stream": true`).
 *
 * Requests keep every key they do not name, so a field xAI adds tomorrow can be sent
 * today. Responses and events ignore keys they do not name and accept `null` wherever xAI
 * may send it. An output item, content part or stream event of a type this module does not
 * model (server-side tool calls, annotations, tool progress) is kept, decoded as
 * `{ type: "unknown", data }` with `data` as sent (its own `type` included), so the known
 * ones stay a discriminated union (`switch (event.type)` narrows).
 *
 * Usage differs from chat completions: here `output_tokens` INCLUDES the reasoning tokens
 * and `total_tokens = input_tokens + output_tokens`. {@link chatUsageOf} maps it to the
 * chat shape (where `completion_tokens` excludes reasoning), which is what metrics and the
 * CLI report.
 *
 * @since 0.1.0
 */
import { Either, ParseResult, Schema, Stream } from "effect"
import type { SseEvent } from "../internal/sse.js"
import { maybe, OtherKeys } from "../internal/wire.js"
import type { Usage as ChatUsage } from "./Chat.js"
import { ChunkDecodeError } from "./ChatStream.js"

// ---------------------------------------------------------------------------
// Things this module does not model, kept as sent
// ---------------------------------------------------------------------------

const Payload = Schema.Record({ key: Schema.String, value: Schema.Unknown })

/** An object as sent: its `type` and every other key. */
const Sent = Schema.Struct({ type: Schema.String }, OtherKeys)

/**
 * A JSON object whose `type` is none of `known`, decoded as `{ type: "unknown", data }`
 * where `data` is the object as sent (`data.type` is its own type), and encoded back to it.
 */
const unknownOf = (known: ReadonlyArray<string>, identifier: string) =>
  Schema.transform(
    Sent.pipe(Schema.filter((sent) => !known.includes(sent.type), { message: () => "a type without a schema of its own" })),
    Schema.Struct({ type: Schema.Literal("unknown"), data: Sent }),
    { strict: true, decode: (data) => ({ type: "unknown" as const, data }), encode: ({ data }) => data }
  ).annotations({ identifier })

// ---------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------

const InputText = Schema.Struct({ type: Schema.Literal("input_text"), text: Schema.String }, OtherKeys)

const InputImage = Schema.Struct(
  {
    type: Schema.Literal("input_image"),
    image_url: Schema.optional(Schema.String),
    file_id: Schema.optional(Schema.String),
    detail: Schema.optional(Schema.Literal("auto", "low", "high"))
  },
  OtherKeys
)

const InputFile = Schema.Struct(
  {
    type: Schema.Literal("input_file"),
    file_url: Schema.optional(Schema.String),
    file_id: Schema.optional(Schema.String),
    file_data: Schema.optional(Schema.String),
    filename: Schema.optional(Schema.String)
  },
  OtherKeys
)

/** Earlier assistant output sent back as history. */
const OutputTextPart = Schema.Struct({ type: Schema.Literal("output_text"), text: Schema.String }, OtherKeys)

const knownInputParts = ["input_text", "input_image", "input_file", "output_text"]

/** A part type newer than this library, sent as given. */
const NewerInputPart = Schema.Struct(
  { type: Schema.String.pipe(Schema.filter((type) => !knownInputParts.includes(type))) },
  OtherKeys
)

/**
 * One part of a message's content: text, an image (URL, `data:` URL or file id), a file,
 * or (in an assistant message sent back as history) earlier output text.
 *
 * @since 0.1.0
 */
export const InputContent = Schema.Union(InputText, InputImage, InputFile, OutputTextPart, NewerInputPart).annotations({
  identifier: "InputContent"
})

/**
 * @since 0.1.0
 */
export type InputContent = typeof InputContent.Type

/**
 * A message in `input`. `type: "message"` may be left out (the Vercel AI SDK does).
 *
 * @since 0.1.0
 */
export const InputMessage = Schema.Struct(
  {
    type: Schema.optional(Schema.Literal("message")),
    role: Schema.Literal("user", "system", "developer", "assistant"),
    content: Schema.Union(Schema.String, Schema.Array(InputContent))
  },
  OtherKeys
).annotations({ identifier: "InputMessage" })

/**
 * @since 0.1.0
 */
export type InputMessage = typeof InputMessage.Type

/**
 * Any other input item, sent as given: `function_call_output`, `function_call`,
 * `reasoning` (with `encrypted_content`), `item_reference`, ...
 *
 * @since 0.1.0
 */
export const OtherInputItem = Schema.Struct(
  { type: Schema.String.pipe(Schema.filter((type) => type !== "message", { message: () => "a message needs a role" })) },
  OtherKeys
).annotations({ identifier: "OtherInputItem" })

/**
 * @since 0.1.0
 */
export const InputItem = Schema.Union(InputMessage, OtherInputItem).annotations({ identifier: "InputItem" })

/**
 * @since 0.1.0
 */
export type InputItem = typeof InputItem.Type

const PositiveInt = Schema.Int.pipe(Schema.positive())

/**
 * A Responses API request. `input` is a text (one user message) or a list of items.
 * `max_output_tokens` bounds output AND reasoning tokens. Out-of-range values fail here,
 * before anything is sent; any key not named below is sent as given.
 *
 * @since 0.1.0
 */
export const ResponseRequest = Schema.Struct(
  {
    model: Schema.NonEmptyString,
    input: Schema.Union(Schema.String, Schema.Array(InputItem).pipe(Schema.minItems(1))),
    instructions: Schema.optional(Schema.String),
    max_output_tokens: Schema.optional(PositiveInt),
    temperature: Schema.optional(Schema.Number.pipe(Schema.between(0, 2))),
    top_p: Schema.optional(Schema.Number.pipe(Schema.between(0, 1))),
    stream: Schema.optional(Schema.Boolean),
    previous_response_id: Schema.optional(Schema.String),
    store: Schema.optional(Schema.Boolean),
    reasoning: Schema.optional(Schema.Struct({ effort: Schema.optional(Schema.String) }, OtherKeys)),
    tools: Schema.optional(Schema.Array(Schema.Struct({ type: Schema.String }, OtherKeys))),
    user: Schema.optional(Schema.String),
    /** `"priority"` asks for priority processing; the response's `service_tier` says which tier was granted. */
    service_tier: Schema.optional(Schema.String)
  },
  OtherKeys
).annotations({ identifier: "ResponseRequest" })

/**
 * @since 0.1.0
 */
export interface ResponseRequest extends Schema.Schema.Type<typeof ResponseRequest> {}

// ---------------------------------------------------------------------------
// Response
// ---------------------------------------------------------------------------

/**
 * Text the model wrote. `annotations` hold citations (`url_citation`) when tools searched.
 *
 * @since 0.1.0
 */
export const OutputText = Schema.Struct({
  type: Schema.Literal("output_text"),
  text: Schema.String,
  annotations: maybe(Schema.Array(Payload)),
  logprobs: maybe(Schema.Array(Schema.Unknown))
}).annotations({ identifier: "OutputText" })

/**
 * @since 0.1.0
 */
export const Refusal = Schema.Struct({ type: Schema.Literal("refusal"), refusal: Schema.String }).annotations({
  identifier: "Refusal"
})

/**
 * A content part of a type this module does not model, as sent.
 *
 * @since 0.1.0
 */
export const UnknownContent = unknownOf(["output_text", "refusal"], "UnknownContent")

/**
 * @since 0.1.0
 */
export const OutputContent = Schema.Union(OutputText, Refusal, UnknownContent).annotations({ identifier: "OutputContent" })

/**
 * @since 0.1.0
 */
export type OutputContent = typeof OutputContent.Type

/**
 * The assistant's message. `status` is `completed`, or `incomplete` when it was cut.
 *
 * @since 0.1.0
 */
export const OutputMessage = Schema.Struct({
  type: Schema.Literal("message"),
  id: Schema.String,
  role: Schema.String,
  status: maybe(Schema.String),
  content: Schema.Array(OutputContent)
}).annotations({ identifier: "OutputMessage" })

/**
 * @since 0.1.0
 */
export interface OutputMessage extends Schema.Schema.Type<typeof OutputMessage> {}

const TextPart = Schema.Struct({ type: Schema.String, text: Schema.String })

/**
 * The model's thinking: a readable `summary` (grok-3-mini, grok-code-fast-1), raw
 * `content` when shown, and `encrypted_content` to send back when `store` is false.
 *
 * @since 0.1.0
 */
export const ReasoningItem = Schema.Struct({
  type: Schema.Literal("reasoning"),
  id: Schema.String,
  summary: Schema.Array(TextPart),
  content: maybe(Schema.Array(TextPart)),
  encrypted_content: maybe(Schema.String),
  status: maybe(Schema.String)
}).annotations({ identifier: "ReasoningItem" })

/**
 * @since 0.1.0
 */
export interface ReasoningItem extends Schema.Schema.Type<typeof ReasoningItem> {}

/**
 * A call of one of the request's function tools. `arguments` is a JSON text written by the
 * model: parse it yourself, it may not be valid JSON. Answer with a `function_call_output`
 * input item carrying the same `call_id`.
 *
 * @since 0.1.0
 */
export const FunctionCallItem = Schema.Struct({
  type: Schema.Literal("function_call"),
  id: maybe(Schema.String),
  call_id: Schema.String,
  name: Schema.String,
  arguments: Schema.String,
  status: maybe(Schema.String)
}).annotations({ identifier: "FunctionCallItem" })

/**
 * @since 0.1.0
 */
export interface FunctionCallItem extends Schema.Schema.Type<typeof FunctionCallItem> {}

/**
 * An output item of a type this module does not model (`web_search_call`,
 * `x_search_call`, `code_interpreter_call`, `mcp_call`, ...), as sent.
 *
 * @since 0.1.0
 */
export const UnknownItem = unknownOf(["message", "reasoning", "function_call"], "UnknownItem")

/**
 * @since 0.1.0
 */
export const OutputItem = Schema.Union(OutputMessage, ReasoningItem, FunctionCallItem, UnknownItem).annotations({
  identifier: "OutputItem"
})

/**
 * @since 0.1.0
 */
export type OutputItem = typeof OutputItem.Type

/**
 * Token usage of a response. Cached tokens are inside `input_tokens`; reasoning tokens are
 * inside `output_tokens` (unlike chat completions); `total_tokens` is what rate limits count.
 *
 * @since 0.1.0
 */
export const ResponseUsage = Schema.Struct({
  input_tokens: Schema.Number,
  output_tokens: Schema.Number,
  total_tokens: maybe(Schema.Number),
  input_tokens_details: maybe(Schema.Struct({ cached_tokens: maybe(Schema.Number) })),
  output_tokens_details: maybe(Schema.Struct({ reasoning_tokens: maybe(Schema.Number) })),
  num_sources_used: maybe(Schema.Number),
  num_server_side_tools_used: maybe(Schema.Number),
  /** Cost of the request: 1 USD = 10^10 ticks. */
  cost_in_usd_ticks: maybe(Schema.Number)
}).annotations({ identifier: "ResponseUsage" })

/**
 * @since 0.1.0
 */
export interface ResponseUsage extends Schema.Schema.Type<typeof ResponseUsage> {}

/**
 * Why a response failed. `code` is an open string (xAI's or OpenAI's vocabulary).
 *
 * @since 0.1.0
 */
export const ResponseError = Schema.Struct({ code: maybe(Schema.String), message: Schema.String }).annotations({
  identifier: "ResponseError"
})

/**
 * @since 0.1.0
 */
export interface ResponseError extends Schema.Schema.Type<typeof ResponseError> {}

/**
 * A response. `status` is an open string: `completed`, `incomplete` (see
 * `incomplete_details.reason`, e.g. `max_output_tokens`), `in_progress` in the first
 * stream events, `failed` (see `error`). `model` is the model that answered.
 *
 * @since 0.1.0
 */
export const Response = Schema.Struct({
  id: Schema.String,
  object: Schema.Literal("response"),
  created_at: maybe(Schema.Number),
  model: Schema.String,
  status: maybe(Schema.String),
  output: Schema.Array(OutputItem),
  usage: maybe(ResponseUsage),
  error: maybe(ResponseError),
  incomplete_details: maybe(Schema.Struct({ reason: maybe(Schema.String) })),
  previous_response_id: maybe(Schema.String),
  max_output_tokens: maybe(Schema.Number),
  /** The service tier granted. */
  service_tier: maybe(Schema.String)
}).annotations({ identifier: "Response" })

/**
 * @since 0.1.0
 */
export interface Response extends Schema.Schema.Type<typeof Response> {}

// ---------------------------------------------------------------------------
// Stream events
// ---------------------------------------------------------------------------

const sequence_number = maybe(Schema.Number)

const lifecycle = <T extends string>(type: T) =>
  Schema.Struct({ type: Schema.Literal(type), sequence_number, response: Response })

/**
 * The first event: the response exists, `status: "in_progress"`, no output yet.
 *
 * @since 0.1.0
 */
export const ResponseCreated = lifecycle("response.created").annotations({ identifier: "ResponseCreated" })

/**
 * @since 0.1.0
 */
export const ResponseInProgress = lifecycle("response.in_progress").annotations({ identifier: "ResponseInProgress" })

/**
 * The last event of a complete answer: the whole response, with `usage`.
 *
 * @since 0.1.0
 */
export const ResponseCompleted = lifecycle("response.completed").annotations({ identifier: "ResponseCompleted" })

/**
 * The last event of an answer that was cut (`incomplete_details.reason`, e.g.
 * `max_output_tokens`): the whole response so far, with `usage`.
 *
 * @since 0.1.0
 */
export const ResponseIncomplete = lifecycle("response.incomplete").annotations({ identifier: "ResponseIncomplete" })

/**
 * The response failed. Only `error` is relied upon: providers send more or less of the
 * response here.
 *
 * @since 0.1.0
 */
export const ResponseFailed = Schema.Struct({
  type: Schema.Literal("response.failed"),
  sequence_number,
  response: Schema.Struct({
    id: maybe(Schema.String),
    status: maybe(Schema.String),
    error: maybe(ResponseError),
    incomplete_details: maybe(Schema.Struct({ reason: maybe(Schema.String) })),
    usage: maybe(ResponseUsage)
  })
}).annotations({ identifier: "ResponseFailed" })

/**
 * An error reported inside the stream.
 *
 * @since 0.1.0
 */
export const ErrorEvent = Schema.Struct({
  type: Schema.Literal("error"),
  sequence_number,
  code: maybe(Schema.String),
  message: Schema.String,
  param: maybe(Schema.String)
}).annotations({ identifier: "ErrorEvent" })

const itemEvent = <T extends string>(type: T) =>
  Schema.Struct({ type: Schema.Literal(type), sequence_number, output_index: Schema.Number, item: OutputItem })

/**
 * An output item starts (a message with no content yet, a reasoning item, a function call).
 *
 * @since 0.1.0
 */
export const OutputItemAdded = itemEvent("response.output_item.added").annotations({ identifier: "OutputItemAdded" })

/**
 * An output item is finished, whole.
 *
 * @since 0.1.0
 */
export const OutputItemDone = itemEvent("response.output_item.done").annotations({ identifier: "OutputItemDone" })

const partEvent = <T extends string>(type: T) =>
  Schema.Struct({
    type: Schema.Literal(type),
    sequence_number,
    item_id: Schema.String,
    output_index: Schema.Number,
    content_index: Schema.Number,
    part: OutputContent
  })

/**
 * @since 0.1.0
 */
export const ContentPartAdded = partEvent("response.content_part.added").annotations({ identifier: "ContentPartAdded" })

/**
 * @since 0.1.0
 */
export const ContentPartDone = partEvent("response.content_part.done").annotations({ identifier: "ContentPartDone" })

/**
 * A piece of the message text.
 *
 * @since 0.1.0
 */
export const OutputTextDelta = Schema.Struct({
  type: Schema.Literal("response.output_text.delta"),
  sequence_number,
  item_id: Schema.String,
  output_index: Schema.Number,
  content_index: Schema.Number,
  delta: Schema.String
}).annotations({ identifier: "OutputTextDelta" })

/**
 * The message text part is finished: `text` is all of it.
 *
 * @since 0.1.0
 */
export const OutputTextDone = Schema.Struct({
  type: Schema.Literal("response.output_text.done"),
  sequence_number,
  item_id: Schema.String,
  output_index: Schema.Number,
  content_index: Schema.Number,
  text: Schema.String
}).annotations({ identifier: "OutputTextDone" })

/**
 * A piece of the reasoning summary (how xAI streams visible reasoning).
 *
 * @since 0.1.0
 */
export const ReasoningSummaryTextDelta = Schema.Struct({
  type: Schema.Literal("response.reasoning_summary_text.delta"),
  sequence_number,
  item_id: Schema.String,
  output_index: Schema.Number,
  summary_index: Schema.Number,
  delta: Schema.String
}).annotations({ identifier: "ReasoningSummaryTextDelta" })

/**
 * A piece of raw reasoning text.
 *
 * @since 0.1.0
 */
export const ReasoningTextDelta = Schema.Struct({
  type: Schema.Literal("response.reasoning_text.delta"),
  sequence_number,
  item_id: Schema.String,
  output_index: Schema.Number,
  content_index: Schema.Number,
  delta: Schema.String
}).annotations({ identifier: "ReasoningTextDelta" })

/**
 * A piece of a function call's `arguments`.
 *
 * @since 0.1.0
 */
export const FunctionCallArgumentsDelta = Schema.Struct({
  type: Schema.Literal("response.function_call_arguments.delta"),
  sequence_number,
  item_id: Schema.String,
  output_index: Schema.Number,
  delta: Schema.String
}).annotations({ identifier: "FunctionCallArgumentsDelta" })

const knownEvents = [
  ResponseCreated,
  ResponseInProgress,
  ResponseCompleted,
  ResponseIncomplete,
  ResponseFailed,
  ErrorEvent,
  OutputItemAdded,
  OutputItemDone,
  ContentPartAdded,
  ContentPartDone,
  OutputTextDelta,
  OutputTextDone,
  ReasoningSummaryTextDelta,
  ReasoningTextDelta,
  FunctionCallArgumentsDelta
] as const

/**
 * An event of a type this module does not model (reasoning summary parts, annotations,
 * server-side tool progress such as `response.web_search_call.searching`): `data` is the
 * event as sent.
 *
 * @since 0.1.0
 */
export const UnknownEvent = unknownOf(knownEvents.map((schema) => schema.fields.type.literals[0]), "UnknownEvent")

/**
 * One event of a streamed response.
 *
 * @since 0.1.0
 */
export const ResponseEvent = Schema.Union(...knownEvents, UnknownEvent).annotations({ identifier: "ResponseEvent" })

/**
 * @since 0.1.0
 */
export type ResponseEvent = typeof ResponseEvent.Type

// ---------------------------------------------------------------------------
// SSE events to response events
// ---------------------------------------------------------------------------

const PAYLOAD_LIMIT = 512

const truncate = (text: string): string =>
  text.length <= PAYLOAD_LIMIT ? text : `${text.slice(0, PAYLOAD_LIMIT)}…(${text.length} chars)`

const decodeEventEither = Schema.decodeUnknownEither(ResponseEvent)

const decodeEvent = (event: SseEvent): Either.Either<ResponseEvent, ChunkDecodeError> => {
  let json: unknown
  try {
    json = JSON.parse(event.data)
  } catch (error) {
    return Either.left(
      new ChunkDecodeError({ message: truncate(`stream event is not JSON: ${String(error)}`), payload: truncate(event.data) })
    )
  }
  return Either.mapLeft(decodeEventEither(json), (error) =>
    new ChunkDecodeError({
      message: truncate(`stream event is not a Responses event: ${firstIssue(error)}`),
      payload: truncate(event.data)
    }))
}

/** The first issue only, as `path: problem`: the full tree would repeat every event schema. */
const firstIssue = (error: ParseResult.ParseError): string => {
  const [issue] = ParseResult.ArrayFormatter.formatErrorSync(error)
  return issue === undefined ? error.message : `${issue.path.join(".") || "(root)"}: ${issue.message}`
}

/**
 * Decodes the SSE events of a streamed response. The `event:` field is not needed (every
 * payload names its `type`); a `data: [DONE]` ends the stream, blank payloads are skipped,
 * and any other payload that is not an event fails the stream with a `ChunkDecodeError`.
 * Whether the answer finished is told by `response.completed` / `response.incomplete`.
 *
 * @since 0.1.0
 */
export const decodeEvents = <E>(
  events: Stream.Stream<SseEvent, E>
): Stream.Stream<ResponseEvent, E | ChunkDecodeError> =>
  events.pipe(
    Stream.takeWhile((event) => event.data !== "[DONE]"),
    Stream.filter((event) => event.data.trim() !== ""),
    Stream.mapEffect(decodeEvent)
  )

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/**
 * The text of every `output_text` part of every message, joined: what the model wrote.
 *
 * @since 0.1.0
 */
export const outputText = (response: Response): string =>
  response.output
    .flatMap((item) => (item.type === "message" ? item.content : []))
    .map((part) => (part.type === "output_text" ? part.text : ""))
    .join("")

/**
 * The reasoning summaries (or, without one, the raw reasoning text), joined.
 *
 * @since 0.1.0
 */
export const reasoningText = (response: Response): string =>
  response.output
    .flatMap((item) => (item.type === "reasoning" ? (item.summary.length > 0 ? item.summary : item.content ?? []) : []))
    .map((part) => part.text)
    .join("")

/**
 * The function calls the model asked for.
 *
 * @since 0.1.0
 */
export const functionCalls = (response: Response): ReadonlyArray<FunctionCallItem> =>
  response.output.filter((item): item is FunctionCallItem => item.type === "function_call")

/**
 * The response a `response.completed` or `response.incomplete` event carries, if `event`
 * is one: the last event of a stream that finished.
 *
 * @since 0.1.0
 */
export const finalResponse = (event: ResponseEvent): Response | undefined =>
  event.type === "response.completed" || event.type === "response.incomplete" ? event.response : undefined

/**
 * Responses usage in the chat completions shape, as xAI counts there:
 * `prompt_tokens` = input tokens (cached included, also in `prompt_tokens_details.cached_tokens`),
 * `completion_tokens` = output tokens WITHOUT reasoning, `completion_tokens_details.reasoning_tokens`
 * = reasoning tokens, `total_tokens` = everything. Metrics and the CLI's `--json` report this shape
 * for both APIs.
 *
 * @since 0.1.0
 */
export const chatUsageOf = (usage: ResponseUsage): ChatUsage => {
  const reasoning = usage.output_tokens_details?.reasoning_tokens ?? 0
  return {
    prompt_tokens: usage.input_tokens,
    completion_tokens: Math.max(0, usage.output_tokens - reasoning),
    total_tokens: usage.total_tokens ?? usage.input_tokens + usage.output_tokens,
    prompt_tokens_details: { cached_tokens: usage.input_tokens_details?.cached_tokens ?? 0 },
    completion_tokens_details: { reasoning_tokens: reasoning },
    ...(usage.num_sources_used == null ? {} : { num_sources_used: usage.num_sources_used }),
    ...(usage.cost_in_usd_ticks == null ? {} : { cost_in_usd_ticks: usage.cost_in_usd_ticks })
  }
}
