/**
 * The Responses API (`POST /responses`, plain and streamed) on the shared pipeline: the
 * same limiter permit, attempt timeout, classification, retries, key refresh and metrics as
 * chat completions. Only what is particular to this endpoint lives here: the request
 * validation, the token estimate, how a response and its events are read, and how a
 * failure the server reports inside a 2xx answer becomes a GrokError.
 *
 * @internal
 */
import type { HttpClientResponse } from "@effect/platform"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Effect, ParseResult, Schema, Stream } from "effect"
import * as GrokError from "../GrokError.js"
import * as Responses from "../schema/Responses.js"
import * as Pipeline from "./pipeline.js"
import { decodeSse } from "./sse.js"
import * as Streaming from "./streaming.js"
import * as TokenEstimate from "./tokenEstimate.js"

/** A request with its model chosen; `stream` is set by the endpoint. */
export type Request = Omit<Responses.ResponseRequest, "stream">

const validate = Schema.decodeUnknown(Responses.ResponseRequest)
const decodeResponse = Schema.decodeUnknown(Responses.Response)

const firstIssue = (error: ParseResult.ParseError): string => {
  const [issue] = ParseResult.ArrayFormatter.formatErrorSync(error)
  return issue === undefined ? error.message : `${issue.path.join(".") || "(root)"}: ${issue.message}`
}

const bodyOf = (request: Request, stream: boolean): Effect.Effect<Responses.ResponseRequest, GrokError.GrokError> =>
  validate({ ...request, stream }).pipe(
    Effect.mapError((error) =>
      new GrokError.BadRequest({
        message: `invalid request (not sent): ${ParseResult.TreeFormatter.formatErrorSync(error)}`,
        status: null,
        retryable: false
      })
    )
  )

/** Instructions and input, plus the output budget (which covers reasoning too). */
const tokensOf = (body: Responses.ResponseRequest): number =>
  TokenEstimate.estimate([body.instructions ?? "", body.input], body.max_output_tokens)

const post = (ctx: Pipeline.ClientContext, body: Responses.ResponseRequest) =>
  HttpClientRequest.post(`${ctx.config.baseUrl}/responses`).pipe(HttpClientRequest.bodyUnsafeJson(body))

/**
 * OpenAI's `response.failed` codes in xAI's vocabulary, so that a failure is judged
 * retryable or not the same way whichever vocabulary the server used.
 */
const xaiCode = (code: string | null | undefined): string => {
  if (code == null || code === "") return "unknown"
  if (code === "server_error") return "internal"
  if (code === "rate_limit_exceeded") return "resource-exhausted"
  if (code === "vector_store_timeout") return "deadline-exceeded"
  if (code.startsWith("invalid_") || code.includes("image")) return "invalid-argument"
  return code
}

/**
 * A failure the server reports inside a 2xx answer (a `response.failed` or `error` event, a
 * response with `status: "failed"`): classified as an xAI error body in a 200, as chat
 * classifies an error event. Transient unless the code or message says otherwise.
 */
export const reportedFailure = (
  code: string | null | undefined,
  message: string,
  response?: HttpClientResponse.HttpClientResponse
): GrokError.GrokError =>
  // Never undefined: a 2xx body with a string `error` and a `code` is always an error body.
  GrokError.classifyResponse({
    status: response?.status ?? 200,
    headers: response?.headers ?? {},
    body: JSON.stringify({ code: xaiCode(code), error: message }),
    nowMillis: 0
  })!

const failureOfResponse = (
  response: Pick<Responses.Response, "error" | "incomplete_details">,
  http?: HttpClientResponse.HttpClientResponse
): GrokError.GrokError => {
  const reason = response.incomplete_details?.reason
  return reportedFailure(
    response.error?.code,
    response.error?.message ?? `the response failed${reason == null ? "" : ` (${reason})`}`,
    http
  )
}

const usageOf = (usage: Responses.ResponseUsage | null | undefined): Pipeline.UsageLike | undefined =>
  usage == null ? undefined : Responses.chatUsageOf(usage)

/** A plain (non-streamed) response. A 200 whose response says `status: "failed"` is a failure. */
export const call = (
  ctx: Pipeline.ClientContext,
  request: Request,
  settings: Pipeline.CallSettings
): Effect.Effect<Responses.Response, GrokError.GrokError> =>
  Effect.flatMap(bodyOf(request, false), (body) =>
    Pipeline.call(ctx, {
      operation: "responses",
      model: body.model,
      request: () => post(ctx, body),
      tokens: tokensOf(body),
      handle: (response, cell) =>
        Pipeline.readJsonBody(response).pipe(
          Effect.flatMap((json) =>
            Effect.mapError(decodeResponse(json), (error) =>
              Pipeline.decodeError(
                `the response did not match the expected shape: ${firstIssue(error)}`,
                JSON.stringify(json),
                response
              ))
          ),
          Effect.filterOrFail((result) => result.status !== "failed", (result) => failureOfResponse(result, response)),
          Effect.tap((result) => {
            const usage = usageOf(result.usage)
            cell.usedTokens = usage?.total_tokens ?? undefined
            return Pipeline.recordAnswer(cell, { model: result.model, service_tier: result.service_tier, usage })
          })
        )
    }, settings))

/** What the caller would see: text, reasoning, function-call arguments, a finished output item. */
const isContent = (event: Responses.ResponseEvent): boolean => {
  switch (event.type) {
    case "response.output_text.delta":
    case "response.reasoning_summary_text.delta":
    case "response.reasoning_text.delta":
    case "response.function_call_arguments.delta":
      return event.delta !== ""
    case "response.output_item.done":
      return true
    default:
      return false
  }
}

const track = (partial: Streaming.MutablePartial, event: Responses.ResponseEvent): void => {
  partial.chunks++
  switch (event.type) {
    case "response.output_text.delta":
      partial.content += event.delta
      return
    case "response.reasoning_summary_text.delta":
    case "response.reasoning_text.delta":
      partial.reasoning += event.delta
      return
  }
}

const failureOf = (event: Responses.ResponseEvent): GrokError.GrokError | undefined => {
  switch (event.type) {
    case "response.failed":
      return failureOfResponse(event.response)
    case "error":
      return reportedFailure(event.code, event.message)
    default:
      return undefined
  }
}

const events = (response: HttpClientResponse.HttpClientResponse): Stream.Stream<Responses.ResponseEvent, GrokError.GrokError> =>
  Responses.decodeEvents(decodeSse(Stream.mapError(response.stream, Pipeline.fromHttpError))).pipe(
    Stream.mapError((error): GrokError.GrokError =>
      GrokError.isGrokError(error)
        ? error
        // An xAI error body sent as a stream event is that error, not a malformed event.
        : GrokError.classifyResponse({ status: 200, headers: response.headers, body: error.payload, nowMillis: 0 }) ??
          Pipeline.decodeError(`a stream event was malformed: ${error.message}`, error.payload, response)
    )
  )

/**
 * A streamed response. Retried until the first content event; `response.completed` or
 * `response.incomplete` ends a complete answer and carries the usage.
 */
export const stream = (
  ctx: Pipeline.ClientContext,
  request: Request,
  settings: Streaming.StreamSettings
): Stream.Stream<Responses.ResponseEvent, GrokError.GrokError> =>
  Stream.unwrap(Effect.map(bodyOf(request, true), (body) =>
    Streaming.stream(ctx, {
      operation: "responses",
      model: body.model,
      request: post(ctx, body).pipe(HttpClientRequest.setHeader("accept", "text/event-stream")),
      tokens: tokensOf(body),
      events,
      isContent,
      track,
      answerOf: (event) => {
        const final = Responses.finalResponse(event)
        return final === undefined ? undefined : { model: final.model, service_tier: final.service_tier, usage: usageOf(final.usage) }
      },
      isFinal: (event) => Responses.finalResponse(event) !== undefined,
      failureOf
    }, settings)))
