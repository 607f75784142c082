/**
 * `LanguageModel.make`'s two functions over a `GrokClient`: each call reads its settings,
 * builds the request of the chosen API, runs it through the client (its pipeline: limiter,
 * breaker, retries, budget, metrics, spans), maps the answer to parts and a GrokError to an
 * AiError, and annotates the `@effect/ai` span with the GenAI attributes.
 *
 * @internal
 */
import type * as AiError from "@effect/ai/AiError"
import type * as IdGenerator from "@effect/ai/IdGenerator"
import type * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Response from "@effect/ai/Response"
import * as Telemetry from "@effect/ai/Telemetry"
import { Effect, Stream } from "effect"
import type { Span } from "effect/Tracer"
import type * as GrokClient from "../../GrokClient.js"
import { toAiError } from "./errors.js"
import * as Request from "./request.js"
import * as Parts from "./response.js"
import * as StreamParts from "./stream.js"

const MODULE = "GrokLanguageModel"

const callOptions = (settings: Request.Settings): GrokClient.CallOptions => ({
  priority: settings.priority,
  retry: settings.retry,
  attemptTimeout: settings.attemptTimeout,
  deadline: settings.deadline
})

const streamOptions = (settings: Request.Settings): GrokClient.StreamOptions => ({
  ...callOptions(settings),
  firstTokenTimeout: settings.firstTokenTimeout,
  idleTimeout: settings.idleTimeout
})

const annotateRequest = (span: Span, settings: Request.Settings) =>
  Telemetry.addGenAIAnnotations(span, {
    system: "xai",
    operation: { name: "chat" },
    request: { model: settings.model, temperature: settings.temperature, topP: settings.topP, maxTokens: settings.maxOutputTokens }
  })

const annotateParts = (span: Span, parts: ReadonlyArray<Response.PartEncoded | Response.StreamPartEncoded>) => {
  for (const part of parts) {
    if (part.type === "response-metadata") Telemetry.addGenAIAnnotations(span, { response: { id: part.id, model: part.modelId } })
    if (part.type === "finish") {
      Telemetry.addGenAIAnnotations(span, {
        response: { finishReasons: [part.reason] },
        usage: { inputTokens: part.usage.inputTokens, outputTokens: part.usage.outputTokens }
      })
    }
  }
}

export const make = (
  grok: GrokClient.Service,
  settingsOf: Effect.Effect<Request.Settings>
): LanguageModel.ConstructorParams => ({
  generateText: (options) =>
    Effect.gen(function*() {
      const settings = yield* settingsOf
      annotateRequest(options.span, settings)
      const failed = toAiError(MODULE, "generateText")
      const parts = settings.api === "chat"
        ? yield* Effect.flatMap(Request.chatRequest(options, settings), (request) =>
          Effect.flatMap(Effect.mapError(grok.chat(request, callOptions(settings)), failed), Parts.fromCompletion))
        : yield* Effect.flatMap(Request.responsesRequest(options, settings), (request) =>
          Effect.flatMap(Effect.mapError(grok.responses(request, callOptions(settings)), failed), Parts.fromResponse))
      annotateParts(options.span, parts)
      return parts
    }),
  streamText: (options) =>
    Stream.unwrap(Effect.map(settingsOf, (settings): Stream.Stream<Response.StreamPartEncoded, AiError.AiError, IdGenerator.IdGenerator> => {
      annotateRequest(options.span, settings)
      const failed = toAiError(MODULE, "streamText")
      const parts = settings.api === "chat"
        ? Stream.unwrap(Effect.map(Request.chatRequest(options, settings), (request) =>
          StreamParts.fromChatChunks(Stream.mapError(grok.chatStream(request, streamOptions(settings)), failed))))
        : Stream.unwrap(Effect.map(Request.responsesRequest(options, settings), (request) =>
          StreamParts.fromResponseEvents(Stream.mapError(grok.responsesStream(request, streamOptions(settings)), failed))))
      return Stream.tap(parts, (part) => Effect.sync(() => annotateParts(options.span, [part])))
    }))
})
