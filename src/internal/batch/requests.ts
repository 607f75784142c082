/**
 * A job's requests made ready to add: validated against their endpoint's schema (with the
 * client's model when they name none), given a `batch_request_id` derived from the caller's
 * id, encoded once, and cut into add calls that respect the limits.
 *
 * @internal
 */
import { Either, ParseResult, Schema } from "effect"
import { createHash } from "node:crypto"
import { BatchInvalidRequest, type RequestIssue } from "../../BatchError.js"
import * as Chat from "../../schema/Chat.js"
import * as Responses from "../../schema/Responses.js"

/** A request for one endpoint; `model` defaults to the client's. */
export type Request =
  | { readonly id: string; readonly chat: object }
  | { readonly id: string; readonly responses: object }

/** One request, ready for an add call. */
export interface Encoded {
  readonly id: string
  readonly batchRequestId: string
  readonly model: string
  /** The add call's item: `{batch_request_id, batch_request: {<endpoint>: body}}`. */
  readonly item: unknown
  /** The item's size as JSON, in bytes. */
  readonly bytes: number
}

/** xAI's limit on one request of an add call. */
export const MAX_REQUEST_BYTES = 25 * 1024 * 1024

/** Ids used verbatim as `batch_request_id`: short, printable, no spaces or quotes. */
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/

/**
 * The `batch_request_id` of a caller's id: the id itself when it is short and plain (so the
 * batch reads like the job in xAI's console, as `custom_id` does in a JSONL upload), else a
 * hash of it. The same id always gives the same `batch_request_id`: that is what lets a job
 * run again resume its batch and add nothing twice.
 */
export const batchRequestId = (id: string): string =>
  SAFE_ID.test(id) ? id : `id-sha256-${createHash("sha256").update(id, "utf8").digest("hex").slice(0, 40)}`

const validateChat = Schema.decodeUnknownEither(Chat.ChatCompletionRequest)
const validateResponses = Schema.decodeUnknownEither(Responses.ResponseRequest)

const MAX_ISSUES = 20

const firstIssue = (error: ParseResult.ParseError): string => {
  const [issue] = ParseResult.ArrayFormatter.formatErrorSync(error)
  return issue === undefined ? error.message : `${issue.path.join(".") || "body"}: ${issue.message}`
}

const encodeOne = (defaultModel: string, request: Request): Either.Either<Encoded, string> => {
  const endpoint = "chat" in request ? "chat_get_completion" : "responses"
  const raw: Readonly<Record<string, unknown>> = { ...("chat" in request ? request.chat : request.responses) }
  if (raw.stream === true) return Either.left("a batch request cannot stream (`stream: true`)")
  if (raw.deferred === true) return Either.left("a batch request cannot be deferred (`deferred: true`)")
  const withModel = { ...raw, model: raw.model ?? defaultModel }
  const decoded: Either.Either<{ readonly model: string }, ParseResult.ParseError> = "chat" in request
    ? validateChat(withModel)
    : validateResponses(withModel)
  if (Either.isLeft(decoded)) return Either.left(firstIssue(decoded.left))
  const body = decoded.right
  const batchRequestIdOf = batchRequestId(request.id)
  const item = { batch_request_id: batchRequestIdOf, batch_request: { [endpoint]: body } }
  const bytes = Buffer.byteLength(JSON.stringify(item), "utf8")
  if (bytes > MAX_REQUEST_BYTES) return Either.left(`the request is ${bytes} bytes, over xAI's ${MAX_REQUEST_BYTES} per request`)
  return Either.right({ id: request.id, batchRequestId: batchRequestIdOf, model: body.model, item, bytes })
}

/** Every request validated and encoded, or every problem (up to 20) in one error; nothing is sent either way by this. */
export const encode = (
  defaultModel: string,
  requests: ReadonlyArray<Request>
): Either.Either<ReadonlyArray<Encoded>, BatchInvalidRequest> => {
  const issues: Array<RequestIssue> = []
  const encoded: Array<Encoded> = []
  const ids = new Set<string>()
  const batchRequestIds = new Map<string, string>()
  requests.forEach((request, index) => {
    if (issues.length >= MAX_ISSUES) return
    if (typeof request.id !== "string" || request.id.length === 0) {
      issues.push({ id: `#${index + 1}`, message: "the id is empty" })
      return
    }
    if (ids.has(request.id)) {
      issues.push({ id: request.id, message: "the id is used by an earlier request of the job" })
      return
    }
    ids.add(request.id)
    const result = encodeOne(defaultModel, request)
    if (Either.isLeft(result)) {
      issues.push({ id: request.id, message: result.left })
      return
    }
    const clash = batchRequestIds.get(result.right.batchRequestId)
    if (clash !== undefined) {
      issues.push({ id: request.id, message: `its batch_request_id ${result.right.batchRequestId} is also ${clash}'s` })
      return
    }
    batchRequestIds.set(result.right.batchRequestId, request.id)
    encoded.push(result.right)
  })
  if (issues.length === 0) return Either.right(encoded)
  const shown = issues.slice(0, 3).map((issue) => `${issue.id}: ${issue.message}`).join("; ")
  return Either.left(
    new BatchInvalidRequest({
      message: `${issues.length === MAX_ISSUES ? "at least " : ""}${issues.length} request${issues.length === 1 ? "" : "s"} of the job cannot be sent (nothing was sent): ${shown}${issues.length > 3 ? "; ..." : ""}`,
      status: null,
      retryable: false,
      issues
    })
  )
}

/** JSON overhead of an add call around its items: `{"batch_requests":[` ... `]}` and the commas. */
const envelopeBytes = (items: number) => 20 + Math.max(0, items - 1)

/**
 * The requests cut into add calls of at most `maxRequests` requests and `maxBytes` bytes
 * (a single request larger than `maxBytes`, but within xAI's 25 MB, goes alone), in order.
 */
export const chunks = (requests: ReadonlyArray<Encoded>, maxRequests: number, maxBytes: number): ReadonlyArray<ReadonlyArray<Encoded>> => {
  const out: Array<Array<Encoded>> = []
  let current: Array<Encoded> = []
  let bytes = 0
  for (const request of requests) {
    const grown = bytes + request.bytes
    if (current.length > 0 && (current.length >= maxRequests || grown + envelopeBytes(current.length + 1) > maxBytes)) {
      out.push(current)
      current = []
      bytes = 0
    }
    current.push(request)
    bytes += request.bytes
  }
  if (current.length > 0) out.push(current)
  return out
}
