/**
 * A streamed xAI answer as `@effect/ai` stream parts: Responses API events, or chat
 * completion chunks.
 *
 * Each mapping keeps a little state per stream (which text, reasoning and tool-call parts are
 * open), made fresh each time the stream runs. Parts open before their first delta and close
 * when their item (or, in chat, the choice) ends, so every `*-delta` sits between a `*-start`
 * and a `*-end`; a tool call's arguments stream as `tool-params-delta` and end in one
 * `tool-call` part. The `finish` part comes last, with the usage.
 *
 * @internal
 */
import type * as AiError from "@effect/ai/AiError"
import type * as IdGenerator from "@effect/ai/IdGenerator"
import type * as Response from "@effect/ai/Response"
import { Effect, Stream } from "effect"
import type * as ChatStream from "../../schema/ChatStream.js"
import type * as Responses from "../../schema/Responses.js"
import {
  chatUsage,
  finishMetadata,
  finishReasonOf,
  metadataPart,
  parseArguments,
  responsesUsage,
  sourceParts
} from "./response.js"

type Part = Response.StreamPartEncoded

/** Run `map` on every element with state made fresh per run, then emit what `end` adds. */
const statefully = <A, S, E, E2, R>(
  stream: Stream.Stream<A, E>,
  initial: () => S,
  map: (state: S, element: A) => Effect.Effect<ReadonlyArray<Part>, E2, R>,
  end: (state: S) => ReadonlyArray<Part>
): Stream.Stream<Part, E | E2, R> =>
  Stream.suspend(() => {
    const state = initial()
    return stream.pipe(
      Stream.mapEffect((element) => map(state, element)),
      Stream.flattenIterables,
      Stream.concat(Stream.suspend(() => Stream.fromIterable(end(state))))
    )
  })

// ---------------------------------------------------------------------------
// Responses API
// ---------------------------------------------------------------------------

interface ResponsesState {
  /** Text and reasoning parts started and not ended, by item id. */
  readonly open: Map<string, "text" | "reasoning">
  /** Function calls whose arguments stream, by output index. */
  readonly calls: Map<number, { readonly callId: string; readonly name: string }>
  hasToolCalls: boolean
}

const opening = (state: ResponsesState, kind: "text" | "reasoning", id: string, parts: Array<Part>): void => {
  if (state.open.has(id)) return
  state.open.set(id, kind)
  parts.push(kind === "text" ? { type: "text-start", id } : { type: "reasoning-start", id })
}

const responseEvent = (
  state: ResponsesState,
  event: Responses.ResponseEvent
): Effect.Effect<ReadonlyArray<Part>, AiError.AiError, IdGenerator.IdGenerator> =>
  Effect.gen(function*() {
    const parts: Array<Part> = []
    switch (event.type) {
      case "response.created":
        parts.push(metadataPart(event.response.id, event.response.model, event.response.created_at))
        break
      case "response.output_item.added": {
        const item = event.item
        if (item.type === "message") opening(state, "text", item.id, parts)
        else if (item.type === "reasoning") opening(state, "reasoning", item.id, parts)
        else if (item.type === "function_call") {
          state.calls.set(event.output_index, { callId: item.call_id, name: item.name })
          parts.push({ type: "tool-params-start", id: item.call_id, name: item.name })
        }
        break
      }
      case "response.output_text.delta":
        opening(state, "text", event.item_id, parts)
        parts.push({ type: "text-delta", id: event.item_id, delta: event.delta })
        break
      case "response.reasoning_summary_text.delta":
      case "response.reasoning_text.delta":
        opening(state, "reasoning", event.item_id, parts)
        parts.push({ type: "reasoning-delta", id: event.item_id, delta: event.delta })
        break
      case "response.function_call_arguments.delta": {
        const call = state.calls.get(event.output_index)
        if (call !== undefined) parts.push({ type: "tool-params-delta", id: call.callId, delta: event.delta })
        break
      }
      case "response.output_item.done": {
        const item = event.item
        if (item.type === "message") {
          for (const content of item.content) {
            if (content.type === "output_text") parts.push(...(yield* sourceParts(content.annotations)))
            if (content.type === "refusal") {
              opening(state, "text", item.id, parts)
              parts.push({ type: "text-delta", id: item.id, delta: "", metadata: { xai: { refusal: content.refusal } } })
            }
          }
          if (state.open.delete(item.id)) parts.push({ type: "text-end", id: item.id })
        } else if (item.type === "reasoning") {
          opening(state, "reasoning", item.id, parts)
          state.open.delete(item.id)
          parts.push({
            type: "reasoning-end",
            id: item.id,
            metadata: { xai: { itemId: item.id, ...(item.encrypted_content == null ? {} : { encryptedContent: item.encrypted_content }) } }
          })
        } else if (item.type === "function_call") {
          state.hasToolCalls = true
          if (state.calls.delete(event.output_index)) parts.push({ type: "tool-params-end", id: item.call_id })
          parts.push({
            type: "tool-call",
            id: item.call_id,
            name: item.name,
            params: yield* parseArguments("streamText", item.name, item.arguments),
            ...(item.id == null ? {} : { metadata: { xai: { itemId: item.id } } })
          })
        }
        break
      }
      case "response.completed":
      case "response.incomplete": {
        for (const [id, kind] of state.open) parts.push(kind === "text" ? { type: "text-end", id } : { type: "reasoning-end", id })
        state.open.clear()
        const response = event.response
        parts.push({
          type: "finish",
          reason: event.type === "response.incomplete"
            ? finishReasonOf(response.incomplete_details?.reason ?? "length", state.hasToolCalls)
            : finishReasonOf(null, state.hasToolCalls),
          usage: responsesUsage(response.usage),
          metadata: finishMetadata(response.usage)
        })
        break
      }
    }
    return parts
  })

/**
 * The parts of a streamed Responses API answer. `response.failed` and `error` events never
 * arrive here: the client turns them into failures (retried before the first content).
 */
export const fromResponseEvents = <E>(
  events: Stream.Stream<Responses.ResponseEvent, E>
): Stream.Stream<Part, E | AiError.AiError, IdGenerator.IdGenerator> =>
  statefully(
    events,
    (): ResponsesState => ({ open: new Map(), calls: new Map(), hasToolCalls: false }),
    responseEvent,
    () => []
  )

// ---------------------------------------------------------------------------
// Chat completions
// ---------------------------------------------------------------------------

const TEXT_ID = "text-0"
const REASONING_ID = "reasoning-0"

interface ChatState {
  started: boolean
  text: boolean
  reasoning: boolean
  /** Tool calls assembled so far, by `index`. */
  readonly calls: Map<number, { readonly id: string; readonly name: string; arguments: string }>
  finishReason: string | undefined
  finished: boolean
}

const closeReasoning = (state: ChatState, parts: Array<Part>) => {
  if (!state.reasoning) return
  state.reasoning = false
  parts.push({ type: "reasoning-end", id: REASONING_ID })
}

const closeText = (state: ChatState, parts: Array<Part>) => {
  if (!state.text) return
  state.text = false
  parts.push({ type: "text-end", id: TEXT_ID })
}

/** Close what is open and emit the tool calls, once the choice has finished. */
const endChoice = (state: ChatState): Effect.Effect<Array<Part>, AiError.AiError> =>
  Effect.gen(function*() {
    const parts: Array<Part> = []
    closeReasoning(state, parts)
    closeText(state, parts)
    for (const call of state.calls.values()) {
      parts.push({ type: "tool-params-end", id: call.id })
      parts.push({ type: "tool-call", id: call.id, name: call.name, params: yield* parseArguments("streamText", call.name, call.arguments) })
    }
    state.calls.clear()
    return parts
  })

const finishPart = (state: ChatState, usage: ChatStream.ChatCompletionChunk["usage"]): Part => {
  state.finished = true
  return {
    type: "finish",
    reason: state.finishReason === undefined ? "unknown" : finishReasonOf(state.finishReason, false),
    usage: chatUsage(usage),
    metadata: finishMetadata(usage)
  }
}

const chatChunk = (state: ChatState, chunk: ChatStream.ChatCompletionChunk): Effect.Effect<ReadonlyArray<Part>, AiError.AiError> =>
  Effect.gen(function*() {
    const parts: Array<Part> = []
    if (!state.started) {
      state.started = true
      parts.push(metadataPart(chunk.id, chunk.model, chunk.created))
    }
    for (const choice of chunk.choices) {
      if (choice.index !== 0) continue
      const delta = choice.delta
      if (delta.reasoning_content != null && delta.reasoning_content !== "") {
        if (!state.reasoning) parts.push({ type: "reasoning-start", id: REASONING_ID })
        state.reasoning = true
        parts.push({ type: "reasoning-delta", id: REASONING_ID, delta: delta.reasoning_content })
      }
      if (delta.content != null && delta.content !== "") {
        closeReasoning(state, parts)
        if (!state.text) parts.push({ type: "text-start", id: TEXT_ID })
        state.text = true
        parts.push({ type: "text-delta", id: TEXT_ID, delta: delta.content })
      }
      for (const piece of delta.tool_calls ?? []) {
        closeReasoning(state, parts)
        const call = state.calls.get(piece.index)
        if (call === undefined) {
          const id = piece.id ?? `call-${piece.index}`
          const name = piece.function?.name ?? ""
          state.calls.set(piece.index, { id, name, arguments: piece.function?.arguments ?? "" })
          parts.push({ type: "tool-params-start", id, name })
          if ((piece.function?.arguments ?? "") !== "") parts.push({ type: "tool-params-delta", id, delta: piece.function?.arguments ?? "" })
        } else if ((piece.function?.arguments ?? "") !== "") {
          call.arguments += piece.function?.arguments ?? ""
          parts.push({ type: "tool-params-delta", id: call.id, delta: piece.function?.arguments ?? "" })
        }
      }
      if (choice.finish_reason != null) {
        state.finishReason = choice.finish_reason
        parts.push(...(yield* endChoice(state)))
      }
    }
    // With `include_usage` (the client always asks for it) the last chunk carries the usage.
    if (chunk.usage != null && !state.finished) parts.push(finishPart(state, chunk.usage))
    return parts
  })

/**
 * The parts of a streamed chat completion (its first choice). The finish part comes with the
 * usage chunk, or at the end of the stream when none came.
 */
export const fromChatChunks = <E>(
  chunks: Stream.Stream<ChatStream.ChatCompletionChunk, E>
): Stream.Stream<Part, E | AiError.AiError> =>
  statefully(
    chunks,
    (): ChatState => ({ started: false, text: false, reasoning: false, calls: new Map(), finishReason: undefined, finished: false }),
    chatChunk,
    (state) => (state.finished ? [] : [finishPart(state, undefined)])
  )
