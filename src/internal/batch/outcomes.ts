/**
 * A result line read as an outcome. A success holds one key naming the endpoint; a failed
 * line's error has been seen as a bare string (xAI's REST API), as `{code, message}` (the gRPC
 * form, `code` a number) and as a top-level `error_message`: all three are read. A failure
 * whose message is xAI's "Batch cancelled" is a cancellation.
 *
 * @internal
 */
import type { Cancelled, Failed, Outcome } from "../../GrokBatch.js"
import type * as Batch from "../../schema/Batch.js"
import type { ErrorCode } from "../../schema/XaiErrorBody.js"

/** gRPC status codes by number, in xAI's kebab-case words. */
const grpcCodes: ReadonlyArray<ErrorCode> = [
  "cancelled",
  "unknown",
  "invalid-argument",
  "deadline-exceeded",
  "not-found",
  "already-exists",
  "permission-denied",
  "resource-exhausted",
  "failed-precondition",
  "aborted",
  "out-of-range",
  "unimplemented",
  "internal",
  "unavailable",
  "data-loss",
  "unauthenticated"
]

/** xAI tags some messages with a well-known error: `... [WKE=invalid_image]`. */
const WELL_KNOWN = /\[WKE=([^\]\s]+)\]/

const isRecord = (u: unknown): u is Readonly<Record<string, unknown>> => typeof u === "object" && u !== null && !Array.isArray(u)

const codeOf = (code: unknown, message: string): string | undefined => {
  if (typeof code === "number" && Number.isInteger(code)) return code === 0 ? undefined : grpcCodes[code - 1] ?? String(code)
  if (typeof code === "string" && code !== "") return code
  return WELL_KNOWN.exec(message)?.[1]
}

const failure = (id: string, batchRequestId: string, code: string | undefined, message: string): Failed | Cancelled =>
  /^batch cancelled\b/i.test(message.trim()) || code === "cancelled"
    ? { _tag: "Cancelled", id, batchRequestId, message }
    : { _tag: "Failed", id, batchRequestId, code, message }

export const outcomeOf = (line: Batch.ResultLine, id: string): Outcome => {
  const batchRequestId = line.batch_request_id
  const result = line.batch_result
  if (isRecord(result) && result["response"] != null) {
    const response = result["response"]
    const keys = isRecord(response) ? Object.keys(response) : []
    const endpoint = keys[0]
    if (isRecord(response) && keys.length === 1 && endpoint !== undefined) {
      return { _tag: "Succeeded", id, batchRequestId, endpoint, body: response[endpoint] }
    }
    return failure(id, batchRequestId, "unknown", `the result's response is not one answer: ${JSON.stringify(response).slice(0, 300)}`)
  }
  const error = isRecord(result) ? result["error"] : undefined
  if (typeof error === "string") return failure(id, batchRequestId, codeOf(undefined, error), error)
  if (isRecord(error)) {
    const message = typeof error["message"] === "string" ? error["message"] : JSON.stringify(error)
    return failure(id, batchRequestId, codeOf(error["code"], message), message)
  }
  if (typeof line.error_message === "string") return failure(id, batchRequestId, codeOf(undefined, line.error_message), line.error_message)
  return failure(id, batchRequestId, "unreadable", `the result holds neither an answer nor an error: ${JSON.stringify(line).slice(0, 300)}`)
}
