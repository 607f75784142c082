/**
 * Grok calls as Effect programs.
 *
 * ```ts
 * const program = Effect.gen(function*() {
 *   const grok = yield* GrokClient.GrokClient
 *   const reply = yield* grok.chat({ messages: [{ role: "user", content: "Hello" }] })
 *   return Chat.contentOf(reply)
 * })
 * // any HttpClient: FetchHttpClient.layer, or NodeGrokClient.layerConfig() from "effect-grok/node"
 * program.pipe(Effect.provide(GrokClient.layerConfig()), Effect.provide(FetchHttpClient.layer))
 * ```
 *
 * Every call goes through the same pipeline: the request is validated, a rate-limiter
 * permit is taken, one HTTP attempt runs under its timeout, the answer is classified into a
 * success or a typed {@link GrokError.GrokError}, the limiter learns from the headers and
 * usage, and retryable failures are retried under the retry policy, the retry budget and the
 * call's deadline. Metrics and spans record each call and each attempt.
 *
 * @since 0.1.0
 */
// Each module by its own path: the packages' index modules load far more than this (docs/dependencies.md).
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { type Config, type ConfigError, Context, Duration, Effect, Either, Layer, ParseResult, Schedule, Schema, type Scope, Stream } from "effect"
import * as ApiKeyProvider from "./ApiKeyProvider.js"
import * as GrokConfig from "./GrokConfig.js"
import * as GrokError from "./GrokError.js"
import { decodeSse } from "./internal/sse.js"
import * as PlainChat from "./schema/internal/plainChat.js"
import * as DeferredCompletion from "./internal/deferred.js"
import * as Pipeline from "./internal/pipeline.js"
import * as ResponsesEndpoint from "./internal/responses.js"
import * as Streaming from "./internal/streaming.js"
import * as Timers from "./internal/timers.js"
import * as TokenEstimate from "./internal/tokenEstimate.js"
import * as CircuitBreaker from "./resilience/CircuitBreaker.js"
import * as RateLimiter from "./resilience/RateLimiter.js"
import * as RateLimiterMemory from "./resilience/RateLimiterMemory.js"
import * as RetryBudget from "./resilience/RetryBudget.js"
import * as RetryPolicy from "./resilience/RetryPolicy.js"
import * as Chat from "./schema/Chat.js"
import * as ChatStream from "./schema/ChatStream.js"
import * as Embeddings from "./schema/Embeddings.js"
import * as Models from "./schema/Models.js"
import type * as Responses from "./schema/Responses.js"

/**
 * A chat request. `model` defaults to the client's model; `stream` is chosen by the method.
 *
 * @since 0.1.0
 */
export type ChatRequest = Omit<Chat.ChatCompletionRequest, "model" | "stream"> & { readonly model?: string | undefined }

/**
 * An embeddings request; `model` defaults to the client's model.
 *
 * @since 0.1.0
 */
export type EmbedRequest = Omit<Embeddings.EmbeddingRequest, "model"> & { readonly model?: string | undefined }

/**
 * A Responses API request. `model` defaults to the client's model; `stream` is chosen by the method.
 *
 * @since 0.1.0
 */
export type ResponsesRequest = Omit<Responses.ResponseRequest, "model" | "stream"> & { readonly model?: string | undefined }

/**
 * Per-call settings. Anything left out comes from the client (`RetrySettings` layer, config).
 *
 * @since 0.1.0
 */
export interface CallOptions {
  /** Limiter priority: under pressure `critical` goes first and `background` is shed first. */
  readonly priority?: RateLimiter.Priority | undefined
  /** Replace the retry policy for this call (e.g. `RetryPolicy.make({ maxRetries: 0 })`). */
  readonly retry?: RetryPolicy.RetryPolicy<GrokError.GrokError> | undefined
  /** Upper bound of one HTTP attempt. */
  readonly attemptTimeout?: Duration.DurationInput | undefined
  /** Upper bound of the whole call, every attempt and wait included. */
  readonly deadline?: Duration.DurationInput | undefined
}

/**
 * Settings for streaming calls.
 *
 * @since 0.1.0
 */
export interface StreamOptions extends CallOptions {
  /** How long one attempt may wait for its first content chunk (retryable when exceeded). */
  readonly firstTokenTimeout?: Duration.DurationInput | undefined
  /** How long the stream may be silent between chunks once content flows. */
  readonly idleTimeout?: Duration.DurationInput | undefined
}

/**
 * Settings for deferred completions. `attemptTimeout`, `deadline` and `retry` apply to each
 * HTTP exchange (the submit, each poll); the poll schedule bounds the whole wait.
 *
 * @since 0.1.0
 */
export interface DeferredOptions extends CallOptions {
  /**
   * When to poll again while the completion is pending (input: nothing). When it ends, the
   * call fails with `Timeout` (phase "deadline") carrying the request id. Default
   * {@link defaultDeferredPoll}.
   */
  readonly poll?: Schedule.Schedule<unknown, void> | undefined
}

/**
 * @since 0.1.0
 */
export interface Service {
  /** The validated settings (the key stays redacted). */
  readonly config: GrokConfig.GrokConfig
  readonly chat: (request: ChatRequest, options?: CallOptions) => Effect.Effect<Chat.ChatCompletion, GrokError.GrokError>
  /**
   * A streamed chat completion. Retried transparently until the first content chunk; after
   * it, failures end the stream with `StreamBroken` or `IdleTimeout` carrying the partial output.
   * Usage arrives in the last chunk (`stream_options.include_usage` is always requested).
   */
  readonly chatStream: (
    request: ChatRequest,
    options?: StreamOptions
  ) => Stream.Stream<ChatStream.ChatCompletionChunk, GrokError.GrokError>
  readonly models: (options?: CallOptions) => Effect.Effect<Models.ModelList, GrokError.GrokError>
  readonly embed: (request: EmbedRequest, options?: CallOptions) => Effect.Effect<Embeddings.EmbeddingResponse, GrokError.GrokError>
  /**
   * A deferred chat completion, for long jobs that should not hold a connection: the request
   * is sent with `"deferred": true`, then `GET /chat/deferred-completion/{id}` is polled on
   * `options.poll` until the completion is ready. Submit and polls go through the pipeline
   * (breaker, limiter, retries, typed errors, metrics); the whole exchange is one call.
   */
  readonly chatDeferred: (request: ChatRequest, options?: DeferredOptions) => Effect.Effect<Chat.ChatCompletion, GrokError.GrokError>
  /**
   * A response from the Responses API (`POST /responses`), on the same pipeline as chat. A
   * 200 whose response has `status: "failed"` is a failure.
   */
  readonly responses: (request: ResponsesRequest, options?: CallOptions) => Effect.Effect<Responses.Response, GrokError.GrokError>
  /**
   * A streamed response from the Responses API. Retried transparently until the first
   * content event (text, reasoning, function-call arguments, a finished output item); after
   * it, failures (`response.failed` and `error` events included) end the stream with
   * `StreamBroken` or `IdleTimeout` carrying the partial output. `response.completed` (or
   * `response.incomplete`) is the last event and carries the usage.
   */
  readonly responsesStream: (
    request: ResponsesRequest,
    options?: StreamOptions
  ) => Stream.Stream<Responses.ResponseEvent, GrokError.GrokError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class GrokClient extends Context.Tag("effect-grok/GrokClient")<GrokClient, Service>() {}

/**
 * Idle timeout default: xAI's own TypeScript SDK uses 60 s between chunks.
 *
 * @since 0.1.0
 */
export const defaultIdleTimeout: Duration.Duration = Duration.seconds(60)

/**
 * Deferred completion polling by default: after 1 s, then 1.5 times longer each time up to
 * one poll every 10 s, for at most 15 minutes.
 *
 * @since 0.1.0
 */
export const defaultDeferredPoll: Schedule.Schedule<unknown, void> = Schedule.exponential("1 second", 1.5).pipe(
  Schedule.union(Schedule.spaced("10 seconds")),
  Schedule.upTo("15 minutes")
)

const badInput = (error: ParseResult.ParseError) =>
  new GrokError.BadRequest({
    message: `invalid request (not sent): ${ParseResult.TreeFormatter.formatErrorSync(error)}`,
    status: null,
    retryable: false
  })

// Decoded synchronously, as an Either (itself an Effect): these schemas have no async part,
// and a call saves the Effect steps of an effectful decode. A chat request and completion in
// their plain forms skip the schema's interpreter (60-125 µs of a call for both, against 19-29
// by hand: `schema/internal/plainChat.ts`); every other shape is decoded by the schema.
const validateChat = PlainChat.decodeRequest
const validateEmbed = Schema.decodeUnknownEither(Embeddings.EmbeddingRequest)
const decodeCompletion = PlainChat.decodeCompletion
const decodeModels = Schema.decodeUnknownEither(Models.ModelList)
const decodeEmbeddings = Schema.decodeUnknownEither(Embeddings.EmbeddingResponse)

const decodeWith = <A>(
  decode: (u: unknown) => Either.Either<A, ParseResult.ParseError>,
  what: string
) =>
(body: unknown): Either.Either<A, GrokError.GrokError> =>
  Either.mapLeft(decode(body), (error) =>
    Pipeline.decodeError(`${what} did not match the expected shape: ${ParseResult.TreeFormatter.formatErrorSync(error)}`, JSON.stringify(body)))

const readCompletion = decodeWith(decodeCompletion, "the chat completion")

const chunkIsContent = (chunk: ChatStream.ChatCompletionChunk): boolean =>
  chunk.choices.some((choice) =>
    (choice.delta.content ?? "") !== "" ||
    (choice.delta.reasoning_content ?? "") !== "" ||
    (choice.delta.tool_calls?.length ?? 0) > 0
  )

const trackChunk = (partial: Streaming.MutablePartial, chunk: ChatStream.ChatCompletionChunk): void => {
  partial.chunks++
  for (const choice of chunk.choices) {
    if (choice.index !== 0) continue
    partial.content += choice.delta.content ?? ""
    partial.reasoning += choice.delta.reasoning_content ?? ""
  }
}

/** What a call of the client runs with: the services it found, and the pipeline context and call settings they make. */
interface ClientView {
  readonly services: {
    readonly limiter: RateLimiter.Service
    readonly breaker: CircuitBreaker.Service
    readonly keys: ApiKeyProvider.Service
    readonly settings: RetryPolicy.Settings
  }
  readonly ctx: Pipeline.ClientContext
  readonly settingsOf: (options: CallOptions | undefined) => Pipeline.CallSettings
  readonly streamSettingsOf: (options: StreamOptions | undefined) => Streaming.StreamSettings
}

/**
 * `tag`'s service in `context` (where the call runs), else in `built` (where the client was
 * built), else `undefined`. A reference counts only where it was provided, not by its default.
 */
const serviceIn = <I, S>(
  context: Context.Context<never>,
  built: Context.Context<never>,
  tag: Context.Tag<I, S>
): S | undefined =>
  (context.unsafeMap.get(tag.key) ?? built.unsafeMap.get(tag.key)) as S | undefined

/**
 * Build the client over an `HttpClient`.
 *
 * Four services shape its calls, and none is required: `RateLimiter` (default: an in-memory
 * limiter owned by this client), `RetryPolicy.RetrySettings` (default policy, deadline,
 * attempt timeout; a retry budget owned by this client unless the settings bring one or
 * turn it off), `CircuitBreaker` (default: breakers owned by this client;
 * `CircuitBreaker.layerDisabled` turns them off) and `ApiKeyProvider` (default: the
 * configured key). Each is read where it takes effect: when a call is made, from the
 * context the call runs in, and otherwise from the context the client was built in. So a
 * limiter provided beside the client (`Layer.mergeAll(client, limiter)`), under it
 * (`Layer.provide`) or around the program is the one its calls use, and providing one limiter
 * (or breaker, or settings) once above several clients is how they share it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  config: GrokConfig.GrokConfig
): Effect.Effect<Service, never, HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function*() {
    const http = yield* HttpClient.HttpClient
    const built = yield* Effect.context<never>()
    // State the client owns for the calls that find no shared one: created once, here.
    const ownLimiter = yield* Effect.orDie(RateLimiterMemory.make({}))
    const ownBreaker = yield* CircuitBreaker.make()
    const ownBudget = yield* RetryBudget.make()
    const timers = yield* Timers.make(yield* Effect.clock)
    const fixedKey = ApiKeyProvider.fixed(config.apiKey)
    const url = (path: string) => `${config.baseUrl}${path}`

    /** A view of the client for one set of services: its pipeline context and call settings. */
    const viewOf = (services: ClientView["services"]): ClientView => {
      const { breaker, keys, limiter, settings } = services
      // `false`: no budget at all; absent: the client's own (a budget is state, shared by its calls).
      const budget = settings.budget === false ? undefined : gauged(settings.budget ?? ownBudget)
      const ctx: Pipeline.ClientContext = { config, http, limiter, keys, retry: { ...settings, budget }, breaker, timers }
      const settingsFor = (options: CallOptions | undefined): Pipeline.CallSettings => ({
        priority: options?.priority ?? "normal",
        policy: options?.retry ?? settings.policy,
        attemptTimeout: Duration.decode(options?.attemptTimeout ?? config.attemptTimeout ?? settings.attemptTimeout),
        deadline: Duration.decode(options?.deadline ?? config.deadline ?? settings.deadline)
      })
      // Most calls give no options: they share one settings value.
      const defaultSettings = settingsFor(undefined)
      const settingsOf = (options: CallOptions | undefined): Pipeline.CallSettings =>
        options === undefined ? defaultSettings : settingsFor(options)
      const streamSettingsOf = (options: StreamOptions | undefined): Streaming.StreamSettings => {
        const settings = settingsOf(options)
        return {
          ...settings,
          firstTokenTimeout: options?.firstTokenTimeout === undefined ? settings.attemptTimeout : Duration.decode(options.firstTokenTimeout),
          idleTimeout: options?.idleTimeout === undefined ? defaultIdleTimeout : Duration.decode(options.idleTimeout)
        }
      }
      return { services, ctx, settingsOf, streamSettingsOf }
    }

    // Budgets wrapped once each, so that the gauge follows every deposit (`Pipeline.gaugedBudget`).
    const gaugedBudgets = new WeakMap<RetryBudget.RetryBudget, RetryBudget.RetryBudget>()
    const gauged = (budget: RetryBudget.RetryBudget) => {
      let wrapped = gaugedBudgets.get(budget)
      if (wrapped === undefined) {
        wrapped = Pipeline.gaugedBudget(budget)
        gaugedBudgets.set(budget, wrapped)
      }
      return wrapped
    }

    // Most calls run where the client was built, or under the same services: one view serves
    // them all, and a call under other services builds (and keeps) one for those.
    let view = viewOf({ limiter: ownLimiter, breaker: ownBreaker, keys: fixedKey, settings: RetryPolicy.defaultSettings })
    const viewFor = (context: Context.Context<never>): ClientView => {
      // Compared one by one, so that a call under the same services allocates nothing.
      const limiter = serviceIn(context, built, RateLimiter.RateLimiter) ?? ownLimiter
      const breaker = serviceIn(context, built, CircuitBreaker.CircuitBreaker) ?? ownBreaker
      const keys = serviceIn(context, built, ApiKeyProvider.ApiKeyProvider) ?? fixedKey
      const settings = serviceIn(context, built, RetryPolicy.RetrySettings) ?? RetryPolicy.defaultSettings
      const last = view.services
      if (limiter !== last.limiter || breaker !== last.breaker || keys !== last.keys || settings !== last.settings) {
        view = viewOf({ limiter, breaker, keys, settings })
      }
      return view
    }
    // The view of the services the client was built with, which most calls run under.
    view = viewFor(built)
    /** `f` of the view for the services of the fiber the call runs on. */
    const withView = <A, E, R>(f: (view: ClientView) => Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      Effect.withFiberRuntime((fiber) => f(viewFor(fiber.currentContext)))
    const withViewStream = <A, E, R>(f: (view: ClientView) => Stream.Stream<A, E, R>): Stream.Stream<A, E, R> =>
      Stream.unwrap(Effect.withFiberRuntime((fiber) => Effect.succeed(f(viewFor(fiber.currentContext)))))

    const chatBody = (request: ChatRequest, stream: boolean) =>
      Either.mapLeft(validateChat({ ...request, model: request.model ?? config.model, stream }), badInput)

    /**
     * A chat call, as the pipeline replays it. A class, so that its request and its reading
     * of the answer are shared methods rather than two closures per call: a call waiting in
     * the limiter's queue holds this object, and little else.
     */
    class ChatCall implements Pipeline.CallSpec<Chat.ChatCompletion> {
      readonly operation = "chat"
      readonly model: string
      readonly tokens: number
      constructor(readonly body: Chat.ChatCompletionRequest) {
        this.model = body.model
        this.tokens = TokenEstimate.estimate(body.messages, body.max_completion_tokens ?? body.max_tokens ?? undefined)
      }
      request() {
        return HttpClientRequest.post(url("/chat/completions")).pipe(HttpClientRequest.bodyUnsafeJson(this.body))
      }
      handle(response: HttpClientResponse.HttpClientResponse, cell: Pipeline.OutcomeCell) {
        return Effect.flatMap(Pipeline.readJsonBody(response), (json) => {
          const decoded = readCompletion(json)
          if (Either.isLeft(decoded)) return decoded
          const completion = decoded.right
          cell.usedTokens = completion.usage?.total_tokens
          return Effect.as(Pipeline.recordAnswer(cell, completion), completion)
        })
      }
    }

    const chat: Service["chat"] = (request, options) => {
      // Validated when the call is made (a pure check, the same for every run of the effect).
      const body = chatBody(request, false)
      if (Either.isLeft(body)) return Effect.fail(body.left)
      const call = new ChatCall(body.right)
      return withView((view) => Pipeline.call(view.ctx, call, view.settingsOf(options)))
    }

    const chatStream: Service["chatStream"] = (request, options) =>
      Stream.unwrap(Effect.map(chatBody({
        ...request,
        stream_options: { ...(request.stream_options ?? {}), include_usage: true }
      }, true), (body) =>
        withViewStream((view) => Streaming.stream(view.ctx, {
          operation: "chat",
          model: body.model,
          request: HttpClientRequest.post(url("/chat/completions")).pipe(
            HttpClientRequest.bodyUnsafeJson(body),
            HttpClientRequest.setHeader("accept", "text/event-stream")
          ),
          tokens: TokenEstimate.estimate(body.messages, body.max_completion_tokens ?? body.max_tokens ?? undefined),
          events: (response) =>
            ChatStream.decodeChunks(decodeSse(Stream.mapError(response.stream, Pipeline.fromHttpError))).pipe(
              Stream.mapError((error): GrokError.GrokError =>
                GrokError.isGrokError(error)
                  ? error
                  // An xAI error sent as a stream event is that error, not a malformed chunk.
                  : GrokError.classifyResponse({ status: 200, headers: response.headers, body: error.payload, nowMillis: 0 }) ??
                    Pipeline.decodeError(`a stream chunk was malformed: ${error.message}`, error.payload, response)
              )
            ),
          isContent: chunkIsContent,
          track: trackChunk,
          // The last chunk (with `include_usage`) carries the usage; its model and tier are the answer's.
          answerOf: (chunk) => (chunk.usage == null ? undefined : chunk),
          isFinal: (chunk) => chunk.choices.some((choice) => choice.finish_reason != null),
          failureOf: () => undefined
        }, view.streamSettingsOf(options)))))

    const models: Service["models"] = (options) =>
      withView((view) => Pipeline.call(view.ctx, {
        operation: "models",
        model: "(models)",
        request: () => HttpClientRequest.get(url("/models")),
        tokens: 0,
        handle: (response) => Pipeline.readJsonBody(response).pipe(Effect.flatMap(decodeWith(decodeModels, "the model list")))
      }, view.settingsOf(options)))

    const embed: Service["embed"] = (request, options) =>
      Effect.flatMap(
        Either.mapLeft(validateEmbed({ ...request, model: request.model ?? config.model }), badInput),
        (body) =>
          withView((view) => Pipeline.call(view.ctx, {
            operation: "embeddings",
            model: body.model,
            request: () => HttpClientRequest.post(url("/embeddings")).pipe(HttpClientRequest.bodyUnsafeJson(body)),
            tokens: TokenEstimate.promptTokens(body.input),
            handle: (response, cell) =>
              Pipeline.readJsonBody(response).pipe(
                Effect.flatMap(decodeWith(decodeEmbeddings, "the embeddings response")),
                Effect.tap((result) => {
                  cell.usedTokens = result.usage?.total_tokens
                  return Pipeline.recordAnswer(cell, result)
                })
              )
          }, view.settingsOf(options)))
      )

    const chatDeferred: Service["chatDeferred"] = (request, options) =>
      Effect.flatMap(chatBody({ ...request, deferred: true }, false), (body) =>
        withView((view) => DeferredCompletion.run(view.ctx, {
          model: body.model,
          submit: HttpClientRequest.post(url("/chat/completions")).pipe(HttpClientRequest.bodyUnsafeJson(body)),
          tokens: TokenEstimate.estimate(body.messages, body.max_completion_tokens ?? body.max_tokens ?? undefined),
          poll: (id) => HttpClientRequest.get(url(`/chat/deferred-completion/${encodeURIComponent(id)}`))
        }, view.settingsOf(options), options?.poll ?? defaultDeferredPoll)))

    const responses: Service["responses"] = (request, options) =>
      withView((view) => ResponsesEndpoint.call(view.ctx, { ...request, model: request.model ?? config.model }, view.settingsOf(options)))

    const responsesStream: Service["responsesStream"] = (request, options) =>
      withViewStream((view) =>
        ResponsesEndpoint.stream(view.ctx, { ...request, model: request.model ?? config.model }, view.streamSettingsOf(options)))

    return { config, chat, chatStream, chatDeferred, models, embed, responses, responsesStream }
  })

/**
 * A client whose every call goes to the client `current` answers at that moment: for a
 * client that is rebuilt while the program runs (a fresh start in tests, a new
 * configuration).
 *
 * @since 0.2.0
 * @category constructors
 */
export const delegating = (current: Effect.Effect<Service>, config: GrokConfig.GrokConfig): Service => ({
  config,
  chat: (request, options) => Effect.flatMap(current, (client) => client.chat(request, options)),
  chatStream: (request, options) => Stream.unwrap(Effect.map(current, (client) => client.chatStream(request, options))),
  chatDeferred: (request, options) => Effect.flatMap(current, (client) => client.chatDeferred(request, options)),
  models: (options) => Effect.flatMap(current, (client) => client.models(options)),
  embed: (request, options) => Effect.flatMap(current, (client) => client.embed(request, options)),
  responses: (request, options) => Effect.flatMap(current, (client) => client.responses(request, options)),
  responsesStream: (request, options) => Stream.unwrap(Effect.map(current, (client) => client.responsesStream(request, options)))
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (input: GrokConfig.GrokConfigInput): Layer.Layer<GrokClient, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.scoped(GrokClient, Effect.flatMap(GrokConfig.make(input), make))

/**
 * Read the settings from `Config` (by default the environment: `XAI_API_KEY`, `XAI_BASE_URL`,
 * `XAI_MODEL`, `XAI_TIMEOUT`, `XAI_DEADLINE`). A missing key fails here, at start-up.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config<GrokConfig.GrokConfig> = GrokConfig.fromEnv
): Layer.Layer<GrokClient, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.scoped(GrokClient, Effect.flatMap(config, make))
