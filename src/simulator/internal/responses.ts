/**
 * `POST /v1/responses`, plain and streamed, shaped like xAI's recorded Responses traffic:
 * the same deterministic completion (tool calls and JSON answers included), usage, quota
 * charge and fault plan as chat completions, in the Responses vocabulary (output items,
 * `input_tokens` / `output_tokens` with reasoning inside the output, semantic stream events
 * with `sequence_number`).
 *
 * @internal
 */
import { Effect } from "effect"
import type { Usage } from "../Simulator.js"
import { type Completion, complete, grantedTier, type ToolCall, wireUsage } from "./completions.js"
import { uuid } from "./ids.js"
import * as Reply from "./reply.js"
import { messagesOf, ResponsesRequest } from "./responsesRequest.js"
import { decodeBody, type Route } from "./routes.js"
import * as Structured from "./structured.js"

const formatOf = (request: ResponsesRequest): Structured.OutputFormat => {
  const format = request.text?.format
  switch (format?.type) {
    case "json_object":
      return { _tag: "JsonObject" }
    case "json_schema":
      return { _tag: "JsonSchema", schema: format.schema }
    default:
      return Structured.text
  }
}

/** Responses usage: reasoning tokens are inside `output_tokens`, and `total = input + output`. */
const responsesUsage = (usage: Usage) => ({
  input_tokens: usage.promptTokens,
  input_tokens_details: { cached_tokens: 0 },
  output_tokens: usage.completionTokens + usage.reasoningTokens,
  output_tokens_details: { reasoning_tokens: usage.reasoningTokens },
  total_tokens: usage.totalTokens,
  num_sources_used: 0,
  num_server_side_tools_used: 0,
  cost_in_usd_ticks: wireUsage(usage).cost_in_usd_ticks
})

interface Answer {
  readonly id: string
  readonly createdAt: number
  readonly request: ResponsesRequest
  /** The model that answers. */
  readonly model: string
  readonly completion: Completion
}

const isCut = (answer: Answer) => answer.completion.finishReason === "length"

const reasoningItem = (answer: Answer, status: string, summary: ReadonlyArray<string>) => ({
  id: `rs_${answer.id}`,
  summary: summary.map((text) => ({ text, type: "summary_text" })),
  type: "reasoning",
  status
})

const textPart = (text: string) => ({ type: "output_text", text, logprobs: [], annotations: [] })

const messageItem = (answer: Answer, status: string, content: ReadonlyArray<ReturnType<typeof textPart>>) => ({
  content,
  id: `msg_${answer.id}`,
  role: "assistant",
  type: "message",
  status
})

const functionCallItem = (call: ToolCall, status: string, args: string) => ({
  arguments: args,
  call_id: call.id,
  id: `fc_${call.id}`,
  name: call.name,
  type: "function_call",
  status
})

/** What the model wrote: a function call, or a message. */
const outputItems = (answer: Answer) =>
  answer.completion.toolCalls.length > 0
    ? answer.completion.toolCalls.map((call) => functionCallItem(call, "completed", call.arguments))
    : [messageItem(answer, isCut(answer) ? "incomplete" : "completed", [textPart(answer.completion.content.join(""))])]

const finalItems = (answer: Answer) => {
  const reasoning = answer.completion.reasoning
  const output = outputItems(answer)
  return reasoning.length === 0 ? output : [reasoningItem(answer, "completed", [reasoning.join("")]), ...output]
}

/** The response object, as xAI sends it (`in_progress` without output and usage while streaming). */
const response = (answer: Answer, done: boolean) => ({
  created_at: answer.createdAt,
  id: answer.id,
  max_output_tokens: answer.request.max_output_tokens ?? null,
  model: answer.model,
  object: "response",
  output: done ? finalItems(answer) : [],
  parallel_tool_calls: true,
  previous_response_id: answer.request.previous_response_id ?? null,
  reasoning: { effort: null, summary: null },
  temperature: null,
  text: { format: { type: "text" } },
  tool_choice: "auto",
  tools: [],
  top_p: null,
  ...(done ? { usage: responsesUsage(answer.completion.usage) } : {}),
  user: null,
  incomplete_details: done && isCut(answer) ? { reason: "max_output_tokens" } : null,
  status: done ? (isCut(answer) ? "incomplete" : "completed") : "in_progress",
  store: true,
  metadata: {},
  ...(grantedTier(answer.request.service_tier) === undefined ? {} : { service_tier: grantedTier(answer.request.service_tier) })
})

/**
 * The events of the stream, as JSON text, in xAI's order: created, in progress, the
 * reasoning item (visible reasoning only) with its summary deltas, the message with its
 * text deltas (or each function call with its arguments, whole, in one delta), then
 * `response.completed` (`response.incomplete` when cut at `max_output_tokens`).
 */
const events = (answer: Answer): ReadonlyArray<string> => {
  const out: Array<Record<string, unknown>> = []
  const emit = (type: string, fields: Record<string, unknown>) => out.push({ sequence_number: out.length, type, ...fields })
  emit("response.created", { response: response(answer, false) })
  emit("response.in_progress", { response: response(answer, false) })
  const { content, reasoning } = answer.completion
  let outputIndex = 0
  if (reasoning.length > 0) {
    const item_id = `rs_${answer.id}`
    const position = { item_id, output_index: outputIndex, summary_index: 0 }
    const summary = reasoning.join("")
    emit("response.output_item.added", { item: reasoningItem(answer, "in_progress", []), output_index: outputIndex })
    emit("response.reasoning_summary_part.added", { ...position, part: { text: "", type: "summary_text" } })
    for (const delta of reasoning) emit("response.reasoning_summary_text.delta", { delta, ...position })
    emit("response.reasoning_summary_text.done", { ...position, text: summary })
    emit("response.reasoning_summary_part.done", { ...position, part: { text: summary, type: "summary_text" } })
    emit("response.output_item.done", { item: reasoningItem(answer, "completed", [summary]), output_index: outputIndex })
    outputIndex++
  }
  const status = isCut(answer) ? "incomplete" : "completed"
  for (const call of answer.completion.toolCalls) {
    const position = { item_id: `fc_${call.id}`, output_index: outputIndex }
    emit("response.output_item.added", { item: functionCallItem(call, "in_progress", ""), output_index: outputIndex })
    emit("response.function_call_arguments.delta", { ...position, delta: call.arguments })
    emit("response.function_call_arguments.done", { ...position, arguments: call.arguments })
    emit("response.output_item.done", { item: functionCallItem(call, "completed", call.arguments), output_index: outputIndex })
    outputIndex++
  }
  if (answer.completion.toolCalls.length === 0) {
    const position = { content_index: 0, item_id: `msg_${answer.id}`, output_index: outputIndex }
    const text = content.join("")
    emit("response.output_item.added", { item: messageItem(answer, "in_progress", []), output_index: outputIndex })
    emit("response.content_part.added", { ...position, part: textPart("") })
    for (const delta of content) emit("response.output_text.delta", { ...position, delta, logprobs: [] })
    emit("response.output_text.done", { ...position, text, logprobs: [] })
    emit("response.content_part.done", { ...position, part: textPart(text) })
    emit("response.output_item.done", { item: messageItem(answer, status, [textPart(text)]), output_index: outputIndex })
  }
  emit(`response.${status}`, { response: response(answer, true) })
  return out.map((event) => JSON.stringify(event))
}

export const responses: Route = {
  method: "POST",
  path: "/v1/responses",
  handle: (context) =>
    Effect.gen(function*() {
      const request = yield* decodeBody(context, ResponsesRequest)
      const model = context.catalog.servedBy(request.model)
      const completion = yield* complete({
        messages: messagesOf(request),
        maxTokens: request.max_output_tokens ?? undefined,
        reasoning: context.catalog.reasoningOf(model),
        tools: (request.tools ?? []).flatMap((tool) =>
          tool.type === "function" && tool.name != null ? [{ name: tool.name, parameters: tool.parameters }] : []
        ),
        toolChoice: Structured.readToolChoice(request.tool_choice),
        format: formatOf(request)
      })
      const headers = yield* context.admit(request.model, completion.usage.totalTokens)
      const answer: Answer = { id: yield* uuid, createdAt: Math.floor(context.nowMillis / 1000), request, model, completion }
      return request.stream === true
        ? Reply.stream(events(answer), headers, completion.usage)
        : Reply.json(200, response(answer, true), headers, completion.usage)
    })
}
