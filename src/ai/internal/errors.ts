/**
 * GrokError to AiError, once, at the edge of the provider.
 *
 * `AiError.HttpResponseError` has no field for a cause, so a failure xAI answered (or the
 * pipeline raised: a timeout, an open breaker, a limiter that refused) becomes an
 * `AiError.UnknownError` whose `cause` is the GrokError, with its message as description:
 * `retryable`, `status`, `requestId`, `retryAfter` and a stream's `partial` stay readable. A
 * request refused before it was sent is `MalformedInput`, an answer that cannot be read
 * `MalformedOutput`; both keep the GrokError as cause too.
 *
 * @internal
 */
import * as AiError from "@effect/ai/AiError"
import { Predicate } from "effect"
import * as GrokError from "../../GrokError.js"

export const toAiError = (module: string, method: string) => (error: GrokError.GrokError): AiError.AiError => {
  const fields = { module, method, description: error.message, cause: error }
  if (error._tag === "BadRequest" && error.status === null) return new AiError.MalformedInput(fields)
  if (error._tag === "DecodeError") return new AiError.MalformedOutput(fields)
  return new AiError.UnknownError(fields)
}

export const grokErrorOf = (error: AiError.AiError): GrokError.GrokError | undefined =>
  Predicate.hasProperty(error, "cause") && GrokError.isGrokError(error.cause) ? error.cause : undefined

export const malformedInput = (module: string, method: string, description: string): AiError.AiError =>
  new AiError.MalformedInput({ module, method, description })

export const malformedOutput = (module: string, method: string, description: string, cause?: unknown): AiError.AiError =>
  new AiError.MalformedOutput({ module, method, description, cause })
