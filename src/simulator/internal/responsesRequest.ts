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
  content: Schema.optional(Schema.Unknown)
})

export const ResponsesRequest = Schema.Struct({
  model: Schema.String.pipe(Schema.nonEmptyString()),
  input: Schema.Union(Schema.String, Schema.Array(InputItem).pipe(Schema.minItems(1))),
  instructions: Schema.optional(Schema.NullOr(Schema.String)),
  max_output_tokens: Schema.optional(Schema.NullOr(PositiveInt)),
  stream: Schema.optional(Schema.NullOr(Schema.Boolean)),
  previous_response_id: Schema.optional(Schema.NullOr(Schema.String)),
  service_tier: Schema.optional(Schema.NullOr(Schema.String))
})

export type ResponsesRequest = typeof ResponsesRequest.Type

/** The conversation as chat messages: instructions as a system message, then every input item with a role. */
export const messagesOf = (request: ResponsesRequest): ReadonlyArray<Message> => {
  const instructions: ReadonlyArray<Message> = request.instructions == null
    ? []
    : [{ role: "system", content: request.instructions }]
  if (typeof request.input === "string") return [...instructions, { role: "user", content: request.input }]
  return [
    ...instructions,
    ...request.input.flatMap((item) => (item.role == null ? [] : [{ role: item.role, content: item.content }]))
  ]
}

