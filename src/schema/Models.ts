/**
 * Wire schemas of xAI's `GET /v1/models` and `GET /v1/models/{id}`.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * A model the API key can use. `id` is an open string: xAI adds models often.
 *
 * @since 0.1.0
 */
export const Model = Schema.Struct({
  id: Schema.String,
  object: Schema.String,
  /** Unix seconds. */
  created: Schema.Number,
  owned_by: Schema.String
}).annotations({ identifier: "Model" })

/**
 * @since 0.1.0
 */
export interface Model extends Schema.Schema.Type<typeof Model> {}

/**
 * @since 0.1.0
 */
export const ModelList = Schema.Struct({
  object: Schema.Literal("list"),
  data: Schema.Array(Model)
}).annotations({ identifier: "ModelList" })

/**
 * @since 0.1.0
 */
export interface ModelList extends Schema.Schema.Type<typeof ModelList> {}

/**
 * Decodes a parsed `GET /v1/models/{id}` body.
 *
 * @since 0.1.0
 */
export const decodeModel = Schema.decodeUnknown(Model)

/**
 * Decodes a parsed `GET /v1/models` body.
 *
 * @since 0.1.0
 */
export const decodeModelList = Schema.decodeUnknown(ModelList)
