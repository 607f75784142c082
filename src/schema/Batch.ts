/**
 * Wire shapes of xAI's Batch API (`/v1/batches`), as captured from the live REST API: the
 * batch object, its list, request metadata and results. Decoding is tolerant: unknown fields
 * are dropped, fields xAI may leave out or send as `null` are optional, and timestamps are
 * kept as sent (over REST `create_time` and `expire_time` are dates such as `2026-08-28`).
 *
 * A batch has no status field: progress is its counters (`state`). It is done when
 * `num_pending` is 0 and it has requests, or it has ended (cancelled by the user or by xAI,
 * or expired): see {@link isFinished}.
 *
 * @since 0.2.0
 */
import { Schema } from "effect"
import { maybe } from "../internal/wire.js"

/**
 * A batch's counters. `num_requests` is every request added; the other four split them
 * (the sum may briefly differ after a cancel, while requests in flight land).
 *
 * @since 0.2.0
 * @category schemas
 */
export const BatchCounters = Schema.Struct({
  num_requests: maybe(Schema.Number),
  num_pending: maybe(Schema.Number),
  num_success: maybe(Schema.Number),
  num_error: maybe(Schema.Number),
  num_cancelled: maybe(Schema.Number)
}).annotations({ identifier: "BatchCounters" })

/**
 * @since 0.2.0
 * @category models
 */
export interface BatchCounters extends Schema.Schema.Type<typeof BatchCounters> {}

/**
 * A batch, as create, get, cancel and list return it.
 *
 * @since 0.2.0
 * @category schemas
 */
export const Batch = Schema.Struct({
  batch_id: Schema.String,
  name: maybe(Schema.String),
  create_time: maybe(Schema.Unknown),
  /** After this date the results can no longer be read. */
  expire_time: maybe(Schema.Unknown),
  create_api_key_id: maybe(Schema.String),
  /** Set once the batch was cancelled by its owner. */
  cancel_time: maybe(Schema.Unknown),
  /** Set when xAI cancelled the batch (a file that failed validation, a model not enabled for batch). */
  cancel_by_xai_message: maybe(Schema.String),
  state: maybe(BatchCounters),
  /** Present on a batch created from an uploaded JSONL file (such a batch takes no inline requests). */
  input_file_id: maybe(Schema.String)
}).annotations({ identifier: "Batch" })

/**
 * @since 0.2.0
 * @category models
 */
export interface Batch extends Schema.Schema.Type<typeof Batch> {}

/**
 * One page of `GET /v1/batches`. The token is `null` or empty on the last page.
 *
 * @since 0.2.0
 * @category schemas
 */
export const BatchList = Schema.Struct({
  batches: Schema.Array(Batch),
  pagination_token: maybe(Schema.String)
}).annotations({ identifier: "BatchList" })

/**
 * What a batch knows of one of its requests. `state` is `pending`, `succeeded`, `failed`,
 * `cancelled` or `unknown` (an open string).
 *
 * @since 0.2.0
 * @category schemas
 */
export const RequestMetadata = Schema.Struct({
  batch_request_id: Schema.String,
  endpoint: maybe(Schema.String),
  model: maybe(Schema.String),
  state: maybe(Schema.String),
  create_time: maybe(Schema.Unknown),
  finish_time: maybe(Schema.Unknown)
}).annotations({ identifier: "RequestMetadata" })

/**
 * @since 0.2.0
 * @category models
 */
export interface RequestMetadata extends Schema.Schema.Type<typeof RequestMetadata> {}

/**
 * One page of `GET /v1/batches/{id}/requests`.
 *
 * @since 0.2.0
 * @category schemas
 */
export const RequestMetadataList = Schema.Struct({
  batch_request_metadata: Schema.Array(RequestMetadata),
  pagination_token: maybe(Schema.String)
}).annotations({ identifier: "RequestMetadataList" })

/**
 * One result. A success is `batch_result.response` holding one key that names the endpoint
 * (`chat_get_completion`, `image_generation`, ...). A failure has been seen in three forms:
 * `batch_result.error` as a bare string (xAI's REST API), as `{code, message}` (the gRPC
 * form), or a top-level `error_message`.
 *
 * @since 0.2.0
 * @category schemas
 */
export const ResultLine = Schema.Struct({
  batch_request_id: Schema.String,
  batch_result: maybe(Schema.Unknown),
  error_message: maybe(Schema.String)
}).annotations({ identifier: "ResultLine" })

/**
 * @since 0.2.0
 * @category models
 */
export interface ResultLine extends Schema.Schema.Type<typeof ResultLine> {}

/**
 * One page of `GET /v1/batches/{id}/results`. Results come in no guaranteed order.
 *
 * @since 0.2.0
 * @category schemas
 */
export const ResultList = Schema.Struct({
  results: Schema.Array(ResultLine),
  pagination_token: maybe(Schema.String)
}).annotations({ identifier: "ResultList" })

/**
 * A batch's counters with 0 for any that is missing.
 *
 * @since 0.2.0
 * @category models
 */
export interface Counters {
  readonly requests: number
  readonly pending: number
  readonly succeeded: number
  readonly failed: number
  readonly cancelled: number
}

/**
 * @since 0.2.0
 * @category getters
 */
export const countersOf = (batch: Batch): Counters => ({
  requests: batch.state?.num_requests ?? 0,
  pending: batch.state?.num_pending ?? 0,
  succeeded: batch.state?.num_success ?? 0,
  failed: batch.state?.num_error ?? 0,
  cancelled: batch.state?.num_cancelled ?? 0
})

/**
 * A date or timestamp as xAI sends it (`2026-09-27`, an ISO timestamp, epoch seconds or
 * `{seconds}`) as the epoch milliseconds it starts and ends at: a date spans its day (UTC).
 */
const spanOf = (time: unknown): { readonly from: number; readonly to: number } | undefined => {
  if (typeof time === "number") return { from: time * 1000, to: time * 1000 }
  if (typeof time === "object" && time !== null && "seconds" in time) {
    const seconds = Number((time as { readonly seconds: unknown }).seconds)
    return Number.isFinite(seconds) ? { from: seconds * 1000, to: seconds * 1000 } : undefined
  }
  if (typeof time !== "string") return undefined
  const millis = Date.parse(time)
  if (!Number.isFinite(millis)) return undefined
  return { from: millis, to: /^\d{4}-\d{2}-\d{2}$/.test(time) ? millis + 86_400_000 : millis }
}

/**
 * Whether the batch was cancelled (by its owner or by xAI).
 *
 * @since 0.2.0
 * @category predicates
 */
export const isCancelled = (batch: Batch): boolean => batch.cancel_time != null || batch.cancel_by_xai_message != null

/**
 * Whether the batch's results can no longer be read at `nowMillis`.
 *
 * @since 0.2.0
 * @category predicates
 */
export const isExpired = (batch: Batch, nowMillis: number): boolean => {
  const expiry = spanOf(batch.expire_time)
  return expiry !== undefined && nowMillis >= expiry.to
}

/**
 * Whether the batch may have expired at `nowMillis`: over REST its expiry is a date, and the
 * batch expires at some time of that day.
 *
 * @since 0.2.0
 * @category predicates
 */
export const mayHaveExpired = (batch: Batch, nowMillis: number): boolean => {
  const expiry = spanOf(batch.expire_time)
  return expiry !== undefined && nowMillis >= expiry.from
}

/**
 * Whether no request of the batch will change any more: nothing pending and either some
 * requests (a batch made from a file shows 0 until the file is loaded) or an end (a cancel,
 * an expiry). After a cancel, requests that were in flight may still land as succeeded.
 *
 * @since 0.2.0
 * @category predicates
 */
export const isFinished = (batch: Batch, nowMillis: number): boolean => {
  const counters = countersOf(batch)
  return counters.pending === 0 && (counters.requests > 0 || isCancelled(batch) || isExpired(batch, nowMillis))
}
