/**
 * The Responses API request as the simulator reads it, and the conversation it holds as chat
 * messages (shared by `/v1/responses` and batched `responses` lines).
 *
 * @internal
 */
import { Schema } from "effect"
import type { Message } from "./completions.js"

const PositiveInt = Schema.Int.pipe(Schema.positive())

const InputItem = Schema.Struct({
  type: Schema.optional(Schema.NullOr(Schema.String)),
  role: Schema.optional(Schema.NullOr(Schema.String)),
  content: Schema.optional(Schema.Unknown),
  /** `function_call_output`: what the function returned. */
  output: Schema.optional(Schema.Unknown),
  /** `function_call` (sent back as history): the arguments the model wrote. */
  arguments: Schema.optional(Schema.NullOr(Schema.String))
})

const Tool = Schema.Struct({
  type: Schema.String,
  name: Schema.optional(Schema.NullOr(Schema.String)),
  parameters: Schema.optional(Schema.Unknown)
})

const TextFormat = Schema.Struct({
  format: Schema.optional(Schema.NullOr(Schema.Struct({
    type: Schema.Literal("text", "json_object", "json_schema"),
    schema: Schema.optional(Schema.Unknown)
  })))
})

export const ResponsesRequest = Schema.Struct({
  model: Schema.String.pipe(Schema.nonEmptyString()),
  input: Schema.Union(Schema.String, Schema.Array(InputItem).pipe(Schema.minItems(1))),
  instructions: Schema.optional(Schema.NullOr(Schema.String)),
  max_output_tokens: Schema.optional(Schema.NullOr(PositiveInt)),
  stream: Schema.optional(Schema.NullOr(Schema.Boolean)),
  previous_response_id: Schema.optional(Schema.NullOr(Schema.String)),
  tools: Schema.optional(Schema.NullOr(Schema.Array(Tool))),
  tool_choice: Schema.optional(Schema.Unknown),
  text: Schema.optional(Schema.NullOr(TextFormat)),
  service_tier: Schema.optional(Schema.NullOr(Schema.String))
})

export type ResponsesRequest = typeof ResponsesRequest.Type

/**
 * The conversation as chat messages: instructions as a system message, then every input item
 * with a role; a function's output is a `tool` message, a function call sent back an
 * `assistant` one.
 */
export const messagesOf = (request: ResponsesRequest): ReadonlyArray<Message> => {
  const instructions: ReadonlyArray<Message> = request.instructions == null
    ? []
    : [{ role: "system", content: request.instructions }]
  if (typeof request.input === "string") return [...instructions, { role: "user", content: request.input }]
  return [
    ...instructions,
    ...request.input.flatMap((item): ReadonlyArray<Message> => {
      if (item.role != null) return [{ role: item.role, content: item.content }]
      if (item.type === "function_call_output") return [{ role: "tool", content: item.output }]
      if (item.type === "function_call") return [{ role: "assistant", content: item.arguments ?? "" }]
      return []
    })
  ]
}
