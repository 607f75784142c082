/**
 * How a batch job can fail beyond the failures of one HTTP call (`GrokError`, which every
 * Batch API call can also fail with).
 *
 * | error | when | retryable |
 * |---|---|---|
 * | {@link BatchInvalidRequest} | a request of the job is unusable (empty or duplicate id, an invalid body, over 25 MB): nothing was sent | no |
 * | {@link BatchAddRejected} | the server refused a whole add call (400, 403, 412); it names the offending id when it can | no |
 * | {@link BatchIncomplete} | reading results ended with requests that have none: the batch was cancelled or expired, or the poll schedule ended | no |
 *
 * Each carries `message`, `status` and `retryable`, as a `GrokError` does, so one handler
 * (and the retry policy) reads them all alike.
 *
 * @since 0.2.0
 */
import { Data } from "effect"
import type * as GrokError from "./GrokError.js"

/**
 * One request of a job that cannot be sent, and why.
 *
 * @since 0.2.0
 * @category models
 */
export interface RequestIssue {
  /** The caller's id of the request (its position, `#3`, when it has no usable id). */
  readonly id: string
  readonly message: string
}

/**
 * Requests of the job cannot be sent; nothing was sent.
 *
 * | yields it | retryable | why |
 * |---|---|---|
 * | client: an empty or duplicate id, a body its schema refuses, `stream` or `deferred` set, a request over 25 MB | no | the same job fails the same way |
 *
 * @since 0.2.0
 * @category errors
 */
export class BatchInvalidRequest extends Data.TaggedError("BatchInvalidRequest")<{
  readonly message: string
  readonly status: null
  readonly retryable: false
  /** Every unusable request (at most 20), in the job's order. */
  readonly issues: ReadonlyArray<RequestIssue>
}> {}

/**
 * The server refused a whole add call: none of its requests was admitted.
 *
 * | yields it | retryable | why |
 * |---|---|---|
 * | 400 (a model not enabled for batch, a malformed request), 403 (the batch was cancelled or expired), 412 (an id already added with other content; a batch made from a file), other 4xx but 429 | no | the same call fails the same way |
 *
 * `id` and `batchRequestId` name the offending request when the server's message names it
 * (or names its model); `rejected` lists every request of the refused call.
 *
 * @since 0.2.0
 * @category errors
 */
export class BatchAddRejected extends Data.TaggedError("BatchAddRejected")<{
  readonly message: string
  readonly status: number | null
  readonly retryable: false
  readonly batchId: string
  /** The caller's id of the offending request, when the server's message points at one. */
  readonly id: string | undefined
  readonly batchRequestId: string | undefined
  /** The caller's ids of every request in the refused call. */
  readonly rejected: ReadonlyArray<string>
  /** The server's answer, classified. */
  readonly cause: GrokError.GrokError
}> {}

/**
 * Why results stopped before every request had one.
 *
 * @since 0.2.0
 * @category models
 */
export type IncompleteReason = "cancelled" | "expired" | "finished" | "poll-ended"

/**
 * Reading results ended with requests that have no result.
 *
 * | yields it | retryable | why |
 * |---|---|---|
 * | client: the batch was cancelled (after the grace for requests in flight), expired, or finished without them; or the poll schedule ended first | no | run the job again: an ended batch is not resumed, and the missing requests go to a new one |
 *
 * @since 0.2.0
 * @category errors
 */
export class BatchIncomplete extends Data.TaggedError("BatchIncomplete")<{
  readonly message: string
  readonly status: null
  readonly retryable: false
  readonly batchId: string
  readonly reason: IncompleteReason
  /** The caller's ids of the requests without a result. */
  readonly missing: ReadonlyArray<string>
}> {}

/**
 * Every way a batch job can fail.
 *
 * @since 0.2.0
 * @category models
 */
export type BatchError = GrokError.GrokError | BatchInvalidRequest | BatchAddRejected | BatchIncomplete
