/**
 * Every way a Grok call can fail, as one union of tagged errors, and the classification of
 * an HTTP answer into it.
 *
 * Each error says whether retrying can help (`retryable`), and carries what the server said:
 * status, code, message, request id, rate-limit headers and Retry-After. Handle the ones that
 * matter with `Effect.catchTag(s)`; let the retry policy read `retryable`.
 *
 * Messages never contain the API key or an Authorization header: errors are built from the
 * response only (never the request), and anything that looks like a key in a server message
 * is masked.
 *
 * @since 0.1.0
 */
import { Data, Duration, Option, Predicate } from "effect"
import type { RateLimiterRejected } from "./resilience/RateLimiter.js"
import * as RateLimitHeaders from "./resilience/RateLimitHeaders.js"
import * as XaiErrorBody from "./schema/XaiErrorBody.js"

/**
 * Fields every error has.
 *
 * @since 0.1.0
 */
export interface GrokErrorFields {
  /** Human-readable: what happened, the HTTP status and the request id when known. */
  readonly message: string
  /** HTTP status, or `null` when no answer arrived (transport failure, client timeout, ...). */
  readonly status: number | null
  /** Whether the same request may succeed later. */
  readonly retryable: boolean
  /** The server's `code`, as sent (either vocabulary: see `XaiErrorBody.canonicalCode`). */
  readonly code?: string | undefined
  /** `x-request-id`: quote it to xAI support. */
  readonly requestId?: string | undefined
  readonly rateLimit?: RateLimitHeaders.RateLimitInfo | undefined
  /** How long the server asked us to wait (`retry-after-ms` / `retry-after`). */
  readonly retryAfter?: Duration.Duration | undefined
  /**
   * `true` when this error could have been retried but the retry budget was spent: the client
   * stopped retrying to shield an ailing API from a retry storm (docs/retry.md).
   */
  readonly retryBudgetExhausted?: boolean | undefined
}

/** A field value as people read it: a Duration as `2s`, an error as its message, the rest as it is. */
const readableValue = (value: unknown): unknown => {
  if (Duration.isDuration(value)) return Duration.format(value)
  if (value instanceof Error) return value.message
  if (Array.isArray(value)) return value.map(readableValue)
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, field]) => [key, readableValue(field)]))
  }
  return value
}

/**
 * `Data.TaggedError`, with a `toJSON` that reads well in logs and JSON: durations as `2s`
 * rather than `{"_id":"Duration",...}`, `resetAt` as an ISO date, a cause as its message.
 */
const TaggedError = <Tag extends string>(tag: Tag): ReturnType<typeof Data.TaggedError<Tag>> => {
  class Readable extends Data.TaggedError(tag)<Record<string, unknown>> {
    override toJSON(): unknown {
      // `message` and `cause` are Error's own, not enumerable: added by hand.
      const cause = this.cause === undefined ? {} : { cause: this.cause }
      const fields = readableValue({ ...this, _tag: this._tag, message: this.message, ...cause }) as Record<string, unknown>
      if (typeof fields["resetAt"] === "number") fields["resetAt"] = new Date(fields["resetAt"]).toISOString()
      return fields
    }
  }
  return Readable as unknown as ReturnType<typeof Data.TaggedError<Tag>>
}

/**
 * What a stream had delivered before it failed: kept so that nothing paid for is lost.
 *
 * @since 0.1.0
 */
export interface PartialOutput {
  readonly content: string
  readonly reasoning: string
  readonly chunks: number
}

/**
 * The request is malformed or not acceptable.
 *
 * | yields it | retryable | why |
 * |---|---|---|
 * | 400 (not a key or context error), 405, 413, 415, 422, other 4xx and 1xx/3xx | no | the same request fails the same way |
 *
 * @since 0.1.0
 */
export class BadRequest extends TaggedError("BadRequest")<GrokErrorFields> {}

/**
 * The prompt does not fit the model's context window.
 *
 * | yields it | retryable | why |
 * |---|---|---|
 * | 400 "maximum prompt length", "context length", "too many tokens in prompt" | no | shorten the prompt or pick a larger-context model |
 *
 * @since 0.1.0
 */
export class ContextTooLong extends TaggedError("ContextTooLong")<GrokErrorFields> {}

/**
 * The API key is missing, wrong or revoked.
 *
 * | yields it | retryable | why |
 * |---|---|---|
 * | 401; 400 "Incorrect API key"; a 4xx with code `unauthenticated` | no | a new key is needed |
 *
 * @since 0.1.0
 */
export class AuthenticationFailed extends TaggedError("AuthenticationFailed")<GrokErrorFields> {}

/**
 * The key or team may not do this (or the team is blocked).
 *
 * | yields it | retryable | why |
 * |---|---|---|
 * | 403 (not about credits); a 4xx with code `permission-denied` | no | permissions do not change by waiting |
 *
 * @since 0.1.0
 */
export class PermissionDenied extends TaggedError("PermissionDenied")<GrokErrorFields> {}

/**
 * Unknown model or URL, or no access to the model.
 *
 * | yields it | retryable | why |
 * |---|---|---|
 * | 404; a 4xx with code `not-found` | no | fix the model name or fall back to another model |
 *
 * @since 0.1.0
 */
export class NotFound extends TaggedError("NotFound")<GrokErrorFields> {}

/**
 * Which limit a 429 hit.
 *
 * @since 0.1.0
 */
export type RateLimitKind = "requests" | "tokens" | "capacity" | "unknown"

/**
 * Too much, too fast: a rate limit, or the model is at capacity.
 *
 * | yields it | retryable | why |
 * |---|---|---|
 * | 429 "Too many requests" (`limit: "requests"`), "Too many tokens" (`"tokens"`), "at capacity" (`"capacity"`), other (`"unknown"`) | yes | the window resets; wait at least `retryAfter` |
 *
 * `resetAt` (epoch ms) is when the server expects the limit to have reset.
 *
 * @since 0.1.0
 */
export class RateLimited extends TaggedError("RateLimited")<GrokErrorFields & {
  readonly limit: RateLimitKind
  readonly resetAt?: number | undefined
}> {}

/**
 * The team used all its credits or hit its monthly spending limit.
 *
 * | yields it | retryable | why |
 * |---|---|---|
 * | 429 or 403 about credits / spending limit | no | waiting does not help: buy credits or raise the limit |
 *
 * @since 0.1.0
 */
export class QuotaExhausted extends TaggedError("QuotaExhausted")<GrokErrorFields> {}

/**
 * The server failed.
 *
 * | yields it | retryable | why |
 * |---|---|---|
 * | 5xx, 409 | yes | usually transient |
 *
 * @since 0.1.0
 */
export class ServerError extends TaggedError("ServerError")<GrokErrorFields> {}

/**
 * A 2xx whose body is an xAI error (e.g. "Timed out waiting for first token" on a stream).
 *
 * | yields it | retryable | why |
 * |---|---|---|
 * | 2xx with `{code, error}` and no `choices`/`data`/`object` | yes, unless the code is invalid-argument, permission-denied, not-found or unauthenticated, or the message is about credits | it is not a success; mostly transient |
 *
 * @since 0.1.0
 */
export class ErrorInBody extends TaggedError("ErrorInBody")<GrokErrorFields> {}

/**
 * A time limit ran out.
 *
 * | yields it | retryable | why |
 * |---|---|---|
 * | client: an attempt took longer than its timeout (`phase: "attempt"`) | yes | the next attempt may be faster |
 * | client: the call's overall deadline passed (`phase: "deadline"`) | no | no time is left |
 * | server: 408 (`phase: "attempt"`, `after` zero: the server does not say) | yes | |
 *
 * @since 0.1.0
 */
export class Timeout extends TaggedError("Timeout")<GrokErrorFields & {
  readonly phase: "attempt" | "deadline"
  readonly after: Duration.Duration
}> {}

/**
 * A stream sent no first token in time.
 *
 * | yields it | retryable | why |
 * |---|---|---|
 * | client: no chunk within the first-token timeout | yes | nothing was received, so a retry loses nothing |
 *
 * @since 0.1.0
 */
export class FirstTokenTimeout extends TaggedError("FirstTokenTimeout")<GrokErrorFields & {
  readonly after: Duration.Duration
}> {}

/**
 * A stream stalled: no chunk for `after`.
 *
 * | yields it | retryable | why |
 * |---|---|---|
 * | client: the idle timeout between chunks ran out | set by the stream (usually yes) | `partial` keeps what arrived |
 *
 * @since 0.1.0
 */
export class IdleTimeout extends TaggedError("IdleTimeout")<GrokErrorFields & {
  readonly after: Duration.Duration
  readonly partial: PartialOutput
}> {}

/**
 * A stream ended abnormally (connection lost, an error event, no `[DONE]`).
 *
 * | yields it | retryable | why |
 * |---|---|---|
 * | client: the stream broke after it started | set by the stream | `partial` keeps what arrived |
 *
 * @since 0.1.0
 */
export class StreamBroken extends TaggedError("StreamBroken")<GrokErrorFields & {
  readonly partial: PartialOutput
  readonly cause?: unknown
}> {}

/**
 * No answer arrived: DNS, connect, TLS, reset.
 *
 * | yields it | retryable | why |
 * |---|---|---|
 * | client: the HTTP layer failed | yes | network failures are mostly transient |
 *
 * @since 0.1.0
 */
export class TransportError extends TaggedError("TransportError")<GrokErrorFields & {
  readonly cause?: unknown
}> {}

/**
 * A success whose body could not be read as the expected shape.
 *
 * | yields it | retryable | why |
 * |---|---|---|
 * | client: a 2xx body that is not valid JSON or not the schema | no | the same answer would come back |
 *
 * `body` holds the start of the body.
 *
 * @since 0.1.0
 */
export class DecodeError extends TaggedError("DecodeError")<GrokErrorFields & {
  readonly body?: string | undefined
}> {}

/**
 * The rate limiter did not let the call go: nothing was sent.
 *
 * | yields it | retryable | why |
 * |---|---|---|
 * | client: queue full, waited `maxWait`, shed, store unavailable | yes | later there may be room |
 * | client: `deadline`: the call's deadline came (or would come) before its slot | no | no time is left |
 * | client: `too-large` (more tokens than the whole per-minute quota) | no | it can never fit |
 *
 * `waited` is the time the call spent queued; `predictedWait`, when the limiter refused it
 * because its slot was too far, the wait it predicted; `deadline`, the call's deadline.
 *
 * @since 0.1.0
 */
export class QueueRejected extends TaggedError("QueueRejected")<GrokErrorFields & {
  readonly reason: RateLimiterRejected["reason"]
  readonly waited?: Duration.Duration | undefined
  readonly predictedWait?: Duration.Duration | undefined
  readonly deadline?: Duration.Duration | undefined
}> {}

/**
 * The circuit breaker for `key` is open: recent calls failed too often. Nothing was sent.
 *
 * | yields it | retryable | why |
 * |---|---|---|
 * | client: the breaker rejects without calling (`whenOpen: "fail"`, a fallback step) | yes | it half-opens after its cool-down |
 * | client: the breaker has held calls for its `maxWait` (30 s by default): the model looks down | no | waiting on would only stretch the caller's wait; a later call goes through once a probe succeeds |
 *
 * `retryAfter` is when the next probe is due (absent while one is under way); `openFor`,
 * how long the breaker has been holding calls back.
 *
 * @since 0.1.0
 */
export class CircuitOpen extends TaggedError("CircuitOpen")<GrokErrorFields & {
  readonly key: string
  readonly openFor?: Duration.Duration | undefined
}> {}

/**
 * Every way a Grok call can fail.
 *
 * @since 0.1.0
 */
export type GrokError =
  | BadRequest
  | ContextTooLong
  | AuthenticationFailed
  | PermissionDenied
  | NotFound
  | RateLimited
  | QuotaExhausted
  | ServerError
  | ErrorInBody
  | Timeout
  | FirstTokenTimeout
  | IdleTimeout
  | StreamBroken
  | TransportError
  | DecodeError
  | QueueRejected
  | CircuitOpen

/**
 * @since 0.1.0
 */
export declare namespace GrokError {
  /**
   * The tag of any {@link GrokError}.
   *
   * @since 0.1.0
   */
  export type Tag = GrokError["_tag"]
}

/**
 * The tag of any {@link GrokError} (also `GrokError.Tag`).
 *
 * @since 0.1.0
 */
export type Tag = GrokError.Tag

const classes = [
  BadRequest,
  ContextTooLong,
  AuthenticationFailed,
  PermissionDenied,
  NotFound,
  RateLimited,
  QuotaExhausted,
  ServerError,
  ErrorInBody,
  Timeout,
  FirstTokenTimeout,
  IdleTimeout,
  StreamBroken,
  TransportError,
  DecodeError,
  QueueRejected,
  CircuitOpen
] as const

/**
 * @since 0.1.0
 * @category refinements
 */
export const isGrokError = (u: unknown): u is GrokError => classes.some((errorClass) => u instanceof errorClass)

/**
 * `error` as a call ends with it when the retry budget refused to retry it: the same error,
 * marked `retryBudgetExhausted`, its message saying why it was not retried.
 *
 * @since 0.2.0
 */
export const budgetExhausted = <E extends GrokError>(error: E): E => {
  if (error.retryBudgetExhausted === true) return error
  const Class = error.constructor as new(fields: object) => E
  return new Class({
    ...error,
    message: `${error.message} (not retried: the retry budget is spent, shielding the API from a retry storm)`,
    retryBudgetExhausted: true
  })
}

/**
 * An HTTP answer to classify. `body` is the body's text (`""` or `undefined` when empty).
 *
 * @since 0.1.0
 */
export interface HttpAnswer {
  readonly status: number
  readonly headers: RateLimitHeaders.HeaderSource
  readonly body: string | undefined
  /** Current time (from `Clock`), to read HTTP-date and epoch headers. */
  readonly nowMillis: number
  /**
   * The body already parsed as JSON, when the caller parsed it (a 2xx it is about to decode):
   * it is not parsed a second time to look for an error inside it.
   */
  readonly json?: unknown
}

/**
 * Turn an HTTP answer into the matching {@link GrokError}, or `undefined` for a genuine
 * success. A 2xx is a success unless its body is an xAI error. `x-should-retry: true|false`
 * overrides `retryable`.
 *
 * @since 0.1.0
 */
export const classifyResponse = (answer: HttpAnswer): GrokError | undefined => {
  const isSuccess = answer.status >= 200 && answer.status < 300
  const body = isSuccess ? errorInSuccessBody(answer.body, answer.json) : readErrorBody(answer.body)
  if (body === undefined) return undefined
  const advice = RateLimitHeaders.parse(answer.headers, answer.nowMillis)
  const verdict = isSuccess ? errorInBody(body) : byStatus(answer.status, body)
  const fields: GrokErrorFields = {
    message: describe(verdict.title, answer.status, advice, body.text),
    status: answer.status,
    retryable: advice.shouldRetry ?? verdict.retryable,
    code: body.code,
    requestId: advice.requestId,
    rateLimit: advice.rateLimit,
    retryAfter: advice.retryAfter
  }
  return verdict.make(fields, advice, answer.nowMillis)
}

/** What the body said: the server's message (or an excerpt of a non-JSON body) and code. */
interface ReadBody {
  readonly text: string | undefined
  readonly code: string | undefined
}

/** Which error an answer is, before the common fields are filled in. */
interface Verdict {
  readonly title: string
  readonly retryable: boolean
  readonly make: (fields: GrokErrorFields, advice: RateLimitHeaders.ServerAdvice, nowMillis: number) => GrokError
}

const verdict = (
  title: string,
  retryable: boolean,
  make: (fields: GrokErrorFields) => GrokError
): Verdict => ({ title, retryable, make })

const badRequest = verdict("Bad request", false, (f) => new BadRequest(f))
const contextTooLong = verdict("The prompt is longer than the model's context", false, (f) => new ContextTooLong(f))
const authenticationFailed = verdict("Authentication failed", false, (f) => new AuthenticationFailed(f))
const permissionDenied = verdict("Permission denied", false, (f) => new PermissionDenied(f))
const notFound = verdict("Not found", false, (f) => new NotFound(f))
const quotaExhausted = verdict("Credits or spending limit exhausted", false, (f) => new QuotaExhausted(f))
const serverError = verdict("Server error", true, (f) => new ServerError(f))
const serverTimeout = verdict(
  "The server timed out the request",
  true,
  (f) => new Timeout({ ...f, phase: "attempt", after: Duration.zero })
)

const rateLimited = (limit: RateLimitKind): Verdict => ({
  title: `Rate limited (${limit})`,
  retryable: true,
  make: (fields, advice, nowMillis) =>
    new RateLimited({ ...fields, limit, resetAt: resetAt(limit, advice, nowMillis) })
})

/** When the limit resets: Retry-After if given, else the matching window's reset header. */
const resetAt = (
  limit: RateLimitKind,
  advice: RateLimitHeaders.ServerAdvice,
  nowMillis: number
): number | undefined => {
  const { requests, tokens } = advice.rateLimit
  const windows = limit === "tokens"
    ? [tokens.resetAfter ?? requests.resetAfter]
    : limit === "requests"
    ? [requests.resetAfter ?? tokens.resetAfter]
    : [requests.resetAfter, tokens.resetAfter] // unknown limit: the later reset is the safe one
  const wait = advice.retryAfter ?? maxDuration(windows)
  return wait === undefined ? undefined : nowMillis + Duration.toMillis(wait)
}

const maxDuration = (durations: ReadonlyArray<Duration.Duration | undefined>): Duration.Duration | undefined =>
  durations.reduce<Duration.Duration | undefined>(
    (longest, d) => (d === undefined ? longest : longest === undefined ? d : Duration.max(longest, d)),
    undefined
  )

const isCreditsMessage = (text: string): boolean =>
  /credits|spending limit|exceeded your current quota|insufficient[_ ]quota/i.test(text)
const isIncorrectKey = (text: string): boolean => /(incorrect|invalid) api key|no api key/i.test(text)
const isContextTooLong = (text: string): boolean =>
  /maximum (prompt|context) length|context length|context window|too many tokens in (the )?prompt|prompt is too long/i
    .test(text)

const byStatus = (status: number, body: ReadBody): Verdict => {
  const text = `${body.text ?? ""} ${body.code ?? ""}`
  switch (status) {
    case 401:
      return authenticationFailed
    case 403:
      return isCreditsMessage(text) ? quotaExhausted : permissionDenied
    case 404:
      return notFound
    case 408:
      return serverTimeout
    case 409:
      return serverError
    case 429:
      return tooMany(text)
  }
  return status >= 500 ? serverError : clientError(text, XaiErrorBody.canonicalCode(body.code))
}

/** A 429 (or a `resource-exhausted` code): which limit, or an exhausted quota. */
const tooMany = (text: string): Verdict => {
  if (isCreditsMessage(text)) return quotaExhausted
  if (/too many tokens|tokens per (second|minute|hour|day)/i.test(text)) return rateLimited("tokens")
  if (/too many requests|requests per (second|minute|hour|day)/i.test(text)) return rateLimited("requests")
  if (/at capacity|overloaded|high demand/i.test(text)) return rateLimited("capacity")
  return rateLimited("unknown")
}

/** 400, 405, 413, 415, 422 and any other status below 500: the message first, then the code. */
const clientError = (text: string, code: XaiErrorBody.ErrorCode | undefined): Verdict => {
  if (isIncorrectKey(text)) return authenticationFailed
  if (isContextTooLong(text)) return contextTooLong
  switch (code) {
    case "unauthenticated":
      return authenticationFailed
    case "permission-denied":
      return isCreditsMessage(text) ? quotaExhausted : permissionDenied
    case "not-found":
      return notFound
    case "resource-exhausted":
      return tooMany(text)
  }
  return badRequest
}

const permanentCodes: ReadonlySet<XaiErrorBody.ErrorCode> = new Set([
  "invalid-argument",
  "permission-denied",
  "not-found",
  "unauthenticated"
])

const errorInBody = (body: ReadBody): Verdict => {
  const code = XaiErrorBody.canonicalCode(body.code)
  const permanent = (code !== undefined && permanentCodes.has(code)) || isCreditsMessage(body.text ?? "")
  return verdict("Error inside a successful response", !permanent, (f) => new ErrorInBody(f))
}

/** Error bodies are small; a larger 2xx body is a real answer and is not parsed twice. */
const MAX_ERROR_BODY_LENGTH = 64 * 1024
const MAX_MESSAGE_LENGTH = 1000
const MAX_EXCERPT_LENGTH = 300

const parseJsonObject = (text: string): { readonly [key: string]: unknown } | undefined => {
  if (!text.trimStart().startsWith("{")) return undefined
  try {
    const json: unknown = JSON.parse(text)
    return Predicate.isRecord(json) ? json : undefined
  } catch {
    return undefined
  }
}

/** A 2xx body that is an xAI error: `error` string and a `code`, and nothing of a real answer. */
const errorInSuccessBody = (text: string | undefined, parsed: unknown): ReadBody | undefined => {
  if (text === undefined || text.length > MAX_ERROR_BODY_LENGTH) return undefined
  const json = parsed === undefined ? parseJsonObject(text) : Predicate.isRecord(parsed) ? parsed : undefined
  if (json === undefined || "choices" in json || "data" in json || "object" in json) return undefined
  if (typeof json.error !== "string" || json.code === undefined || json.code === null) return undefined
  return Option.getOrUndefined(Option.map(XaiErrorBody.fromUnknown(json), toReadBody))
}

/** A non-2xx body: the error body if it is one, else an excerpt of whatever came. */
const readErrorBody = (text: string | undefined): ReadBody => {
  if (text === undefined || text.trim().length === 0) return { text: undefined, code: undefined }
  const json = text.length > MAX_ERROR_BODY_LENGTH ? undefined : parseJsonObject(text)
  return Option.match(XaiErrorBody.fromUnknown(json), {
    onNone: () => ({ text: excerpt(text), code: undefined }),
    onSome: toReadBody
  })
}

const toReadBody = (body: XaiErrorBody.ErrorBody): ReadBody => ({
  text: truncate(maskSecrets(body.message.trim()), MAX_MESSAGE_LENGTH) || undefined,
  code: body.code
})

/** The readable start of a body that is not an error body: tags dropped, whitespace folded. */
const excerpt = (text: string): string => {
  const head = text.slice(0, MAX_ERROR_BODY_LENGTH).replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim()
  return truncate(maskSecrets(head), MAX_EXCERPT_LENGTH)
}

const truncate = (text: string, max: number): string => (text.length <= max ? text : `${text.slice(0, max - 1)}…`)

/** Defence in depth: a proxy might echo the request; keep keys and bearer tokens out. */
const maskSecrets = (text: string): string =>
  text
    .replace(/\bBearer\s+[^\s"',;]+/gi, "Bearer ***")
    .replace(/\b(xai|sk)-[A-Za-z0-9_-]{8,}/g, "$1-***")

const describe = (
  title: string,
  status: number,
  advice: RateLimitHeaders.ServerAdvice,
  serverMessage: string | undefined
): string => {
  const context = [
    `HTTP ${status}`,
    advice.requestId === undefined ? undefined : `request id ${advice.requestId}`,
    advice.retryAfter === undefined ? undefined : `retry after ${Duration.format(advice.retryAfter)}`
  ].filter((part) => part !== undefined)
  return `${title} (${context.join(", ")})${serverMessage === undefined ? "" : `: ${serverMessage}`}`
}
