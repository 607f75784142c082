/**
 * Wire schemas of xAI's `POST /v1/embeddings`.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { OtherKeys } from "../internal/wire.js"

/**
 * An embeddings request. Only `encoding_format: "float"` is accepted, because
 * {@link EmbeddingResponse} decodes vectors as numbers (base64 would fail to decode after
 * the request was paid for). Any key not named here is sent as given.
 *
 * @since 0.1.0
 */
export const EmbeddingRequest = Schema.Struct(
  {
    model: Schema.NonEmptyString,
    input: Schema.Union(Schema.String, Schema.Array(Schema.String).pipe(Schema.minItems(1))),
    encoding_format: Schema.optional(Schema.Literal("float")),
    dimensions: Schema.optional(Schema.Int.pipe(Schema.positive())),
    user: Schema.optional(Schema.String)
  },
  OtherKeys
).annotations({ identifier: "EmbeddingRequest" })

/**
 * @since 0.1.0
 */
export interface EmbeddingRequest extends Schema.Schema.Type<typeof EmbeddingRequest> {}

/**
 * One vector; `index` is the position of its input in the request.
 *
 * @since 0.1.0
 */
export const Embedding = Schema.Struct({
  object: Schema.String,
  index: Schema.Number,
  embedding: Schema.Array(Schema.Number)
}).annotations({ identifier: "Embedding" })

/**
 * @since 0.1.0
 */
export interface Embedding extends Schema.Schema.Type<typeof Embedding> {}

/**
 * An embeddings response. Unknown keys are ignored.
 *
 * @since 0.1.0
 */
export const EmbeddingResponse = Schema.Struct({
  object: Schema.String,
  data: Schema.Array(Embedding),
  model: Schema.String,
  usage: Schema.Struct({ prompt_tokens: Schema.Number, total_tokens: Schema.Number })
}).annotations({ identifier: "EmbeddingResponse" })

/**
 * @since 0.1.0
 */
export interface EmbeddingResponse extends Schema.Schema.Type<typeof EmbeddingResponse> {}

/**
 * Checks a request and gives the JSON-ready value to send.
 *
 * @since 0.1.0
 */
export const encodeEmbeddingRequest = Schema.encode(EmbeddingRequest)

/**
 * Decodes a parsed response body.
 *
 * @since 0.1.0
 */
export const decodeEmbeddingResponse = Schema.decodeUnknown(EmbeddingResponse)
