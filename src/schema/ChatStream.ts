/**
 * Streamed chat completions (`"stream": true`): the chunk schema, the SSE-events-to-chunks
 * decoder, and an accumulator that folds chunks back into the non-streaming
 * {@link ChatCompletion}.
 *
 * @since 0.1.0
 */
import { Data, Either, ParseResult, Schema, Stream } from "effect"
import { dual } from "effect/Function"
import type { SseEvent } from "../internal/sse.js"
import { maybe } from "../internal/wire.js"
import { type ChatCompletion, type ChatCompletionChoice, type ToolCall, Usage } from "./Chat.js"

// ---------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------

/**
 * A piece of one tool call. Pieces with the same `index` belong to the same call: the
 * first carries `id` and the name, `arguments` arrive in fragments to concatenate.
 *
 * @since 0.1.0
 */
export const ToolCallDelta = Schema.Struct({
  index: Schema.Number,
  id: maybe(Schema.String),
  type: maybe(Schema.String),
  function: maybe(Schema.Struct({ name: maybe(Schema.String), arguments: maybe(Schema.String) }))
}).annotations({ identifier: "ToolCallDelta" })

/**
 * @since 0.1.0
 */
export interface ToolCallDelta extends Schema.Schema.Type<typeof ToolCallDelta> {}

/**
 * What one chunk adds to a choice. Often empty (`{}`), for instance beside `finish_reason`.
 *
 * @since 0.1.0
 */
export const ChunkDelta = Schema.Struct({
  role: maybe(Schema.String),
  content: maybe(Schema.String),
  reasoning_content: maybe(Schema.String),
  refusal: maybe(Schema.String),
  tool_calls: maybe(Schema.Array(ToolCallDelta))
}).annotations({ identifier: "ChunkDelta" })

/**
 * @since 0.1.0
 */
export interface ChunkDelta extends Schema.Schema.Type<typeof ChunkDelta> {}

/**
 * @since 0.1.0
 */
export const ChatCompletionChunkChoice = Schema.Struct({
  index: Schema.Number,
  delta: Schema.optionalWith(ChunkDelta, { default: () => ({}) }),
  finish_reason: maybe(Schema.String)
}).annotations({ identifier: "ChatCompletionChunkChoice" })

/**
 * @since 0.1.0
 */
export interface ChatCompletionChunkChoice extends Schema.Schema.Type<typeof ChatCompletionChunkChoice> {}

/**
 * One `data:` payload of a streamed completion. With `stream_options.include_usage` the
 * last chunk has `choices: []` and the `usage` of the whole request.
 *
 * @since 0.1.0
 */
export const ChatCompletionChunk = Schema.Struct({
  id: Schema.String,
  object: Schema.Literal("chat.completion.chunk"),
  created: Schema.Number,
  model: Schema.String,
  choices: Schema.Array(ChatCompletionChunkChoice),
  usage: maybe(Usage),
  system_fingerprint: maybe(Schema.String),
  /** The service tier granted. */
  service_tier: maybe(Schema.String)
}).annotations({ identifier: "ChatCompletionChunk" })

/**
 * @since 0.1.0
 */
export interface ChatCompletionChunk extends Schema.Schema.Type<typeof ChatCompletionChunk> {}

// ---------------------------------------------------------------------------
// SSE events to chunks
// ---------------------------------------------------------------------------

const PAYLOAD_LIMIT = 512

/**
 * A `data:` payload that is not a valid chunk: not JSON, or JSON of another shape (an
 * xAI error body sent mid-stream, for instance). `payload` is cut to 512 characters.
 *
 * @since 0.1.0
 */
export class ChunkDecodeError extends Data.TaggedError("ChunkDecodeError")<{
  readonly message: string
  readonly payload: string
}> {}

const truncate = (text: string): string =>
  text.length <= PAYLOAD_LIMIT ? text : `${text.slice(0, PAYLOAD_LIMIT)}…(${text.length} chars)`

const decodeChunk = Schema.decodeUnknownEither(ChatCompletionChunk)

const chunkDecodeError = (message: string, payload: string) =>
  new ChunkDecodeError({ message: truncate(message), payload: truncate(payload) })

/** The first issue only, as `path: problem`: the full tree would repeat the whole schema. */
const firstIssue = (error: ParseResult.ParseError): string => {
  const [issue] = ParseResult.ArrayFormatter.formatErrorSync(error)
  return issue === undefined ? error.message : `${issue.path.join(".") || "(root)"}: ${issue.message}`
}

const decodeEvent = (event: SseEvent): Either.Either<ChatCompletionChunk, ChunkDecodeError> => {
  let json: unknown
  try {
    json = JSON.parse(event.data)
  } catch (error) {
    return Either.left(chunkDecodeError(`stream event is not JSON: ${String(error)}`, event.data))
  }
  return Either.mapLeft(decodeChunk(json), (error) =>
    chunkDecodeError(`stream event is not a chat.completion.chunk: ${firstIssue(error)}`, event.data))
}

/**
 * Decodes the events of a streamed completion into chunks. Ends at `data: [DONE]`
 * without reading further, or when the events end (a stream without `[DONE]` is not an
 * error here: whether it finished is told by `finish_reason`). Events whose data is blank
 * are skipped; any other payload that is not a chunk fails the stream.
 *
 * @since 0.1.0
 */
export const decodeChunks = <E>(
  events: Stream.Stream<SseEvent, E>
): Stream.Stream<ChatCompletionChunk, E | ChunkDecodeError> =>
  events.pipe(
    Stream.takeWhile((event) => event.data !== "[DONE]"),
    Stream.filter((event) => event.data.trim() !== ""),
    Stream.mapEffect(decodeEvent)
  )

// ---------------------------------------------------------------------------
// Accumulator
// ---------------------------------------------------------------------------

/**
 * A tool call assembled so far.
 *
 * @since 0.1.0
 */
export interface ToolCallSoFar {
  readonly index: number
  readonly id: string | undefined
  readonly type: string | undefined
  readonly name: string | undefined
  readonly arguments: string
}

/**
 * One choice assembled so far.
 *
 * @since 0.1.0
 */
export interface ChoiceSoFar {
  readonly index: number
  readonly content: string
  readonly reasoning: string
  readonly refusal: string | undefined
  readonly toolCalls: ReadonlyArray<ToolCallSoFar>
  readonly finishReason: string | undefined
}

/**
 * Everything received so far on one stream: what a caller still has when the stream
 * breaks, and the non-streaming completion once it ends ({@link ChatStreamAccumulator.toCompletion}).
 *
 * @since 0.1.0
 */
export interface ChatStreamAccumulator {
  readonly chunks: number
  readonly id: string
  readonly created: number
  readonly model: string
  readonly systemFingerprint: string | undefined
  readonly usage: Usage | undefined
  /** Sorted by `index`. */
  readonly choices: ReadonlyArray<ChoiceSoFar>
}

const empty: ChatStreamAccumulator = {
  chunks: 0,
  id: "",
  created: 0,
  model: "",
  systemFingerprint: undefined,
  usage: undefined,
  choices: []
}

const emptyChoice = (index: number): ChoiceSoFar => ({
  index,
  content: "",
  reasoning: "",
  refusal: undefined,
  toolCalls: [],
  finishReason: undefined
})

/** Replaces (or inserts, keeping the order by `index`) the element with `index`. */
const upsertByIndex = <A extends { readonly index: number }>(
  items: ReadonlyArray<A>,
  index: number,
  update: (current: A | undefined) => A
): ReadonlyArray<A> => {
  const at = items.findIndex((item) => item.index >= index)
  if (at === -1) return [...items, update(undefined)]
  const found = items[at]
  const replaced = found !== undefined && found.index === index
  return [...items.slice(0, at), update(replaced ? found : undefined), ...items.slice(replaced ? at + 1 : at)]
}

const addToolCallDelta = (calls: ReadonlyArray<ToolCallSoFar>, delta: ToolCallDelta) =>
  upsertByIndex(calls, delta.index, (call) => ({
    index: delta.index,
    id: call?.id ?? delta.id ?? undefined,
    type: call?.type ?? delta.type ?? undefined,
    name: call?.name ?? delta.function?.name ?? undefined,
    arguments: (call?.arguments ?? "") + (delta.function?.arguments ?? "")
  }))

const addChoice = (choice: ChoiceSoFar, update: ChatCompletionChunkChoice): ChoiceSoFar => {
  const delta = update.delta
  return {
    index: choice.index,
    content: choice.content + (delta.content ?? ""),
    reasoning: choice.reasoning + (delta.reasoning_content ?? ""),
    refusal: delta.refusal != null ? (choice.refusal ?? "") + delta.refusal : choice.refusal,
    toolCalls: delta.tool_calls ? delta.tool_calls.reduce(addToolCallDelta, choice.toolCalls) : choice.toolCalls,
    finishReason: update.finish_reason ?? choice.finishReason
  }
}

const add: {
  (chunk: ChatCompletionChunk): (self: ChatStreamAccumulator) => ChatStreamAccumulator
  (self: ChatStreamAccumulator, chunk: ChatCompletionChunk): ChatStreamAccumulator
} = dual(2, (self: ChatStreamAccumulator, chunk: ChatCompletionChunk): ChatStreamAccumulator => ({
  chunks: self.chunks + 1,
  id: self.id === "" ? chunk.id : self.id,
  created: self.created === 0 ? chunk.created : self.created,
  model: self.model === "" ? chunk.model : self.model,
  systemFingerprint: chunk.system_fingerprint ?? self.systemFingerprint,
  usage: chunk.usage ?? self.usage,
  choices: chunk.choices.reduce(
    (choices, update) =>
      upsertByIndex(choices, update.index, (choice) => addChoice(choice ?? emptyChoice(update.index), update)),
    self.choices
  )
}))

const toToolCall = (call: ToolCallSoFar): ToolCall => ({
  id: call.id ?? "",
  type: call.type ?? "function",
  function: { name: call.name ?? "", arguments: call.arguments }
})

const toChoice = (choice: ChoiceSoFar): ChatCompletionChoice => ({
  index: choice.index,
  message: {
    role: "assistant",
    content: choice.content,
    ...(choice.reasoning === "" ? {} : { reasoning_content: choice.reasoning }),
    ...(choice.toolCalls.length === 0 ? {} : { tool_calls: choice.toolCalls.map(toToolCall) }),
    refusal: choice.refusal ?? null
  },
  finish_reason: choice.finishReason ?? null
})

const toCompletion = (self: ChatStreamAccumulator): ChatCompletion => ({
  id: self.id,
  object: "chat.completion",
  created: self.created,
  model: self.model,
  choices: self.choices.map(toChoice),
  ...(self.usage === undefined ? {} : { usage: self.usage }),
  ...(self.systemFingerprint === undefined ? {} : { system_fingerprint: self.systemFingerprint })
})

/**
 * Folds chunks into the completion a non-streaming request would have returned: text and
 * reasoning concatenated, tool-call pieces joined by `index`, the last `finish_reason`
 * and `usage` seen. Pure: `Stream.runFold(chunks, ChatStreamAccumulator.empty, ChatStreamAccumulator.add)`.
 *
 * @since 0.1.0
 */
export const ChatStreamAccumulator: {
  readonly empty: ChatStreamAccumulator
  readonly add: typeof add
  readonly toCompletion: (self: ChatStreamAccumulator) => ChatCompletion
} = { empty, add, toCompletion }
