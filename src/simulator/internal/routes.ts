/**
 * The simulator's endpoints as a table of routes. A new endpoint (`/v1/responses`,
 * deferred completions) is one more {@link Route}: a method, a path pattern with `:params`,
 * and a handler that returns a {@link Reply} (or fails with one, for errors).
 *
 * Handlers run after the fault plan, the route lookup and the key check, inside the
 * request's seeded `Random`; they charge the model's quota with `admit`.
 *
 * @internal
 */
import { Effect, Either, Schema } from "effect"
import type { ReasoningMode } from "../Simulator.js"
import { chatCompletion, chatCompletionChunks, complete, grantedTier, tokensForText } from "./completions.js"
import * as DeferredCompletions from "./deferred.js"
import { DEFAULT_DIMENSIONS, embeddingsResponse } from "./embeddings.js"
import { uuid } from "./ids.js"
import { describeIssues } from "./issues.js"
import { modelList, modelObject } from "./models.js"
import type { Headers } from "./quotaHeaders.js"
import * as Reply from "./reply.js"
import { responses } from "./responses.js"
import * as Structured from "./structured.js"
import * as XaiErrors from "./xaiErrors.js"

/** The request body: parsed JSON, or why it is not JSON. */
export type Body =
  | { readonly _tag: "Json"; readonly value: unknown }
  | { readonly _tag: "Invalid"; readonly message: string }

export interface Catalog {
  readonly ids: () => ReadonlyArray<string>
  readonly has: (model: string) => boolean
  readonly reasoningOf: (model: string) => ReasoningMode
  /** The model that answers a request for `model`: itself, unless the simulator redirects it. */
  readonly servedBy: (model: string) => string
}

export interface RouteContext {
  readonly params: Readonly<Record<string, string>>
  /** The query string's parameters. */
  readonly query: URLSearchParams
  readonly body: Body
  /** The instant the answer is computed (after any injected latency), from `Clock`. */
  readonly nowMillis: number
  readonly catalog: Catalog
  /** Charges `tokens` to the model's quota: the rate-limit headers to send, or a 429. */
  readonly admit: (model: string, tokens: number) => Effect.Effect<Headers, Reply.Reply>
  /** The deferred completions submitted and not yet fetched. */
  readonly deferred: DeferredCompletions.DeferredJobs
}

export interface Route {
  readonly method: string
  /** Segments, `:name` captures one: `/v1/models/:id`. */
  readonly path: string
  readonly handle: (context: RouteContext) => Effect.Effect<Reply.Reply, Reply.Reply>
}

export type Dispatch =
  | { readonly _tag: "Found"; readonly route: Route; readonly params: Readonly<Record<string, string>> }
  | { readonly _tag: "NotFound" }
  | { readonly _tag: "MethodNotAllowed"; readonly allow: ReadonlyArray<string> }

const matchPath = (pattern: string, path: string): Record<string, string> | undefined => {
  const expected = pattern.split("/")
  const actual = path.split("/")
  if (expected.length !== actual.length) return undefined
  const params: Record<string, string> = {}
  for (let i = 0; i < expected.length; i++) {
    const want = expected[i] ?? ""
    const got = actual[i] ?? ""
    if (want.startsWith(":")) {
      if (got.length === 0) return undefined
      try {
        params[want.slice(1)] = decodeURIComponent(got)
      } catch {
        return undefined
      }
    } else if (want !== got) {
      return undefined
    }
  }
  return params
}

export const dispatch = (routes: ReadonlyArray<Route>, method: string, path: string): Dispatch => {
  const allow: Array<string> = []
  for (const route of routes) {
    const params = matchPath(route.path, path)
    if (params === undefined) continue
    if (route.method === method) return { _tag: "Found", route, params }
    allow.push(route.method)
  }
  return allow.length > 0 ? { _tag: "MethodNotAllowed", allow } : { _tag: "NotFound" }
}

/** The body decoded with `schema`: 400 when it is not JSON, 422 when it has the wrong shape. */
export const decodeBody = <A, I>(
  context: RouteContext,
  schema: Schema.Schema<A, I>
): Effect.Effect<A, Reply.Reply> => {
  if (context.body._tag === "Invalid") {
    return Effect.fail(Reply.json(400, XaiErrors.invalidJson(context.body.message)))
  }
  return Schema.decodeUnknownEither(schema, { errors: "all" })(context.body.value).pipe(
    Either.mapLeft((error) => Reply.json(422, XaiErrors.unprocessable(describeIssues(error))))
  )
}

const PositiveInt = Schema.Int.pipe(Schema.positive())

const ChatTool = Schema.Struct({
  type: Schema.String,
  function: Schema.optional(Schema.Struct({ name: Schema.String, parameters: Schema.optional(Schema.Unknown) }))
})

const ChatResponseFormat = Schema.Struct({
  type: Schema.Literal("text", "json_object", "json_schema"),
  json_schema: Schema.optional(Schema.Struct({ name: Schema.String, schema: Schema.optional(Schema.Unknown) }))
})

const ChatRequest = Schema.Struct({
  model: Schema.String.pipe(Schema.nonEmptyString()),
  messages: Schema.Array(Schema.Struct({ role: Schema.String, content: Schema.optional(Schema.Unknown) })).pipe(
    Schema.minItems(1)
  ),
  tools: Schema.optional(Schema.NullOr(Schema.Array(ChatTool))),
  tool_choice: Schema.optional(Schema.Unknown),
  response_format: Schema.optional(Schema.NullOr(ChatResponseFormat)),
  stream: Schema.optional(Schema.NullOr(Schema.Boolean)),
  stream_options: Schema.optional(Schema.NullOr(Schema.Struct({
    include_usage: Schema.optional(Schema.NullOr(Schema.Boolean))
  }))),
  max_tokens: Schema.optional(Schema.NullOr(PositiveInt)),
  max_completion_tokens: Schema.optional(Schema.NullOr(PositiveInt)),
  deferred: Schema.optional(Schema.NullOr(Schema.Boolean)),
  service_tier: Schema.optional(Schema.NullOr(Schema.String))
})

const formatOf = (format: typeof ChatResponseFormat.Type | null | undefined): Structured.OutputFormat => {
  switch (format?.type) {
    case "json_object":
      return { _tag: "JsonObject" }
    case "json_schema":
      return { _tag: "JsonSchema", schema: format.json_schema?.schema }
    default:
      return Structured.text
  }
}

export const chatCompletions: Route = {
  method: "POST",
  path: "/v1/chat/completions",
  handle: (context) =>
    Effect.gen(function*() {
      const request = yield* decodeBody(context, ChatRequest)
      yield* DeferredCompletions.checkRequest(request)
      const served = context.catalog.servedBy(request.model)
      const completion = yield* complete({
        messages: request.messages,
        maxTokens: request.max_completion_tokens ?? request.max_tokens ?? undefined,
        reasoning: context.catalog.reasoningOf(served),
        tools: (request.tools ?? []).flatMap((tool) =>
          tool.type === "function" && tool.function !== undefined
            ? [{ name: tool.function.name, parameters: tool.function.parameters }]
            : []
        ),
        toolChoice: Structured.readToolChoice(request.tool_choice),
        format: formatOf(request.response_format)
      })
      const headers = yield* context.admit(request.model, completion.usage.totalTokens)
      const envelope = {
        id: yield* uuid,
        created: Math.floor(context.nowMillis / 1000),
        model: served,
        serviceTier: grantedTier(request.service_tier)
      }
      if (request.deferred === true) {
        return yield* DeferredCompletions.submit(context, chatCompletion(envelope, completion), headers, completion.usage)
      }
      return request.stream === true
        ? Reply.stream(
          chatCompletionChunks(envelope, completion, request.stream_options?.include_usage === true),
          headers,
          completion.usage
        )
        : Reply.json(200, chatCompletion(envelope, completion), headers, completion.usage)
    })
}

const EmbeddingsRequest = Schema.Struct({
  model: Schema.String.pipe(Schema.nonEmptyString()),
  input: Schema.Union(Schema.String, Schema.Array(Schema.String).pipe(Schema.minItems(1))),
  encoding_format: Schema.optional(Schema.NullOr(Schema.Literal("float", "base64"))),
  dimensions: Schema.optional(Schema.NullOr(PositiveInt.pipe(Schema.lessThanOrEqualTo(8192))))
})

export const embeddings: Route = {
  method: "POST",
  path: "/v1/embeddings",
  handle: (context) =>
    Effect.gen(function*() {
      const request = yield* decodeBody(context, EmbeddingsRequest)
      const inputs = typeof request.input === "string" ? [request.input] : request.input
      const tokens = inputs.reduce((sum, text) => sum + tokensForText(text.length), 0)
      const headers = yield* context.admit(request.model, tokens)
      const usage = { promptTokens: tokens, completionTokens: 0, reasoningTokens: 0, totalTokens: tokens }
      const body = embeddingsResponse({
        model: request.model,
        inputs,
        dimensions: request.dimensions ?? DEFAULT_DIMENSIONS,
        base64: request.encoding_format === "base64"
      })
      return Reply.json(200, body, headers, usage)
    })
}

export const listModels: Route = {
  method: "GET",
  path: "/v1/models",
  handle: (context) => Effect.succeed(Reply.json(200, modelList(context.catalog.ids())))
}

export const retrieveModel: Route = {
  method: "GET",
  path: "/v1/models/:id",
  handle: (context) => {
    const id = context.params["id"] ?? ""
    return context.catalog.has(id)
      ? Effect.succeed(Reply.json(200, modelObject(id)))
      : Effect.fail(Reply.json(404, XaiErrors.modelNotFound(id)))
  }
}

export const routes: ReadonlyArray<Route> = [chatCompletions, embeddings, listModels, retrieveModel, responses, DeferredCompletions.deferredCompletion]
