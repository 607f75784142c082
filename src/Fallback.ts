/**
 * Model fallback as a declarative chain, on Effect's `ExecutionPlan`: grok-4, then
 * grok-4-fast, then (optionally) a cached or canned answer.
 *
 * ```ts
 * const answer = yield* Fallback.chat(
 *   { model: "grok-4", messages: [{ role: "user", content: "Hello" }] },
 *   { fallbacks: ["grok-4-fast"], orElse: () => Fallback.canned("We are busy, please try again.") }
 * )
 * answer.model // "grok-4-fast" when grok-4 was down; undefined when the canned answer was used
 * ```
 *
 * A model's call runs with its own retries first; the chain moves on only when the call
 * finally fails with an error another model may not have ({@link isTrigger}): a rate limit,
 * an open circuit breaker, a server error, a timeout, a broken connection. A request the
 * server refused (400, 401, 403, 404, 422, an exhausted quota) fails at once: another model
 * would refuse it too. While a later step exists, a step does not wait for an open breaker
 * to half-open: `CircuitOpen` moves the chain on at once.
 *
 * @since 0.1.0
 */
import { Clock, Context, Effect, ExecutionPlan, Layer, Schedule, Stream } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import * as GrokClient from "./GrokClient.js"
import * as GrokError from "./GrokError.js"
import * as Logging from "./Logging.js"
import * as CircuitBreaker from "./resilience/CircuitBreaker.js"
import * as RetryPolicy from "./resilience/RetryPolicy.js"
import type * as Chat from "./schema/Chat.js"
import type * as ChatStream from "./schema/ChatStream.js"

/**
 * One step of a chain: the model it calls and its position (0 for the first).
 *
 * @since 0.1.0
 */
export interface Step {
  readonly model: string
  readonly index: number
}

/**
 * The step the plan is running: what an effect under {@link plan} reads to know its model.
 *
 * @since 0.1.0
 * @category tags
 */
export class CurrentStep extends Context.Tag("effect-grok/Fallback/CurrentStep")<CurrentStep, Step>() {}

/**
 * Whether a failure moves the chain on: rate limits (any kind), an open breaker, server
 * errors, timeouts, broken connections, a retryable error inside a 200, a limiter refusal
 * that is retryable or for want of time before the deadline. Never a request the server
 * refused for what it is.
 *
 * @since 0.1.0
 */
export const isTrigger = (error: GrokError.GrokError): boolean => {
  switch (error._tag) {
    case "RateLimited":
    case "CircuitOpen":
    case "ServerError":
    case "Timeout":
    case "FirstTokenTimeout":
    case "TransportError":
      return true
    case "ErrorInBody":
      return error.retryable
    case "QueueRejected":
      // A model whose quota cannot fit the call before its deadline: another model's may.
      return error.retryable || error.reason === "deadline"
    default:
      return false
  }
}

/** Any error may reach a plan; only a GrokError that is a trigger moves it on. */
const triggers = (error: unknown): boolean => GrokError.isGrokError(error) && isTrigger(error)

/**
 * The chain as an `ExecutionPlan`: one step per model, each providing {@link CurrentStep};
 * every step after the first runs only when the previous one failed with a trigger (an
 * error that is not a GrokError never moves it on).
 *
 * ```ts
 * const program = Effect.flatMap(Fallback.CurrentStep, ({ model }) => grok.embed({ model, input: "hi" }))
 * program.pipe(Effect.withExecutionPlan(Fallback.plan(["embed-a", "embed-b"])))
 * ```
 *
 * @since 0.1.0
 */
export const plan = (
  models: NonEmptyReadonlyArray<string>
): ExecutionPlan.ExecutionPlan<{ provides: CurrentStep; input: unknown; error: never; requirements: never }> => {
  const [first, ...rest] = models
  return ExecutionPlan.make(
    { provide: Layer.succeed(CurrentStep, { model: first, index: 0 }) },
    ...rest.map((model, i) => ({ provide: Layer.succeed(CurrentStep, { model, index: i + 1 }), while: triggers }))
  )
}

/**
 * A model the chain tried, and the error that moved it on.
 *
 * @since 0.1.0
 */
export interface Failure {
  readonly model: string
  readonly error: GrokError.GrokError
}

/**
 * The answer of a chain, and who gave it.
 *
 * @since 0.1.0
 */
export interface Answer<A> {
  readonly value: A
  /** The model that answered (as requested), or `undefined` when `orElse` did. */
  readonly model: string | undefined
  /** The models tried before, in order, with their errors. */
  readonly failed: ReadonlyArray<Failure>
}

/**
 * Run `call` for each model of the chain in turn until one succeeds or fails with an error
 * that is not a trigger; `orElse` answers when the last model failed with a trigger.
 *
 * @since 0.1.0
 */
export const run = <A, R, B = never, E2 = never, R2 = never>(
  models: NonEmptyReadonlyArray<string>,
  call: (step: Step) => Effect.Effect<A, GrokError.GrokError, R>,
  options?: { readonly orElse?: ((error: GrokError.GrokError) => Effect.Effect<B, E2, R2>) | undefined }
): Effect.Effect<Answer<A | B>, GrokError.GrokError | E2, Exclude<R, CurrentStep> | R2> =>
  Effect.suspend(() => {
    const failed: Array<Failure> = []
    const chained = Effect.flatMap(CurrentStep, (step) =>
      call(step).pipe(
        Effect.tapError((error) =>
          Effect.sync(() => failed.push({ model: step.model, error })).pipe(
            Effect.zipRight(Logging.log("fallback step failed", { model: step.model, step: step.index, error: error._tag }))
          )
        ),
        Effect.map((value): Answer<A | B> => ({ value, model: step.model, failed }))
      )).pipe(Effect.withExecutionPlan(plan(models)))
    const orElse = options?.orElse
    if (orElse === undefined) return chained
    return Effect.catchIf(chained, isTrigger, (error) =>
      Effect.map(orElse(error), (value): Answer<A | B> => ({ value, model: undefined, failed })))
  })

/**
 * Options of {@link chat}: the client's per-call settings, plus the chain.
 *
 * @since 0.1.0
 */
export interface ChatOptions<E = never, R = never> extends GrokClient.CallOptions {
  /** Models tried in order after the request's own model (or the client's). */
  readonly fallbacks: ReadonlyArray<string>
  /** The last resort when every model failed with a trigger: a cached answer, or {@link canned}. */
  readonly orElse?: ((error: GrokError.GrokError) => Effect.Effect<Chat.ChatCompletion, E, R>) | undefined
}

/** A step with a later one should fail over at once rather than wait for its breaker. */
const stopAtOpenCircuit = (policy: RetryPolicy.RetryPolicy<GrokError.GrokError>) =>
  Schedule.whileInput(policy, (error) => error._tag !== "CircuitOpen")

const chainOf = (
  grok: GrokClient.Service,
  request: GrokClient.ChatRequest,
  fallbacks: ReadonlyArray<string>
): NonEmptyReadonlyArray<string> => [request.model ?? grok.config.model, ...fallbacks]

/**
 * A chat completion from the request's model, or from the fallbacks in order. The answer
 * says which model answered.
 *
 * @since 0.1.0
 */
export const chat = <E = never, R = never>(
  request: GrokClient.ChatRequest,
  options: ChatOptions<E, R>
): Effect.Effect<Answer<Chat.ChatCompletion>, GrokError.GrokError | E, GrokClient.GrokClient | R> =>
  Effect.gen(function*() {
    const grok = yield* GrokClient.GrokClient
    const { fallbacks, orElse, ...callOptions } = options
    const policy = callOptions.retry ?? (yield* RetryPolicy.RetrySettings).policy
    const chain = chainOf(grok, request, fallbacks)
    const last = orElse === undefined ? chain.length - 1 : chain.length
    return yield* run(
      chain,
      (step) =>
        step.index < last
          ? grok.chat({ ...request, model: step.model }, { ...callOptions, retry: stopAtOpenCircuit(policy) }).pipe(
            CircuitBreaker.withWhenOpen("fail")
          )
          : grok.chat({ ...request, model: step.model }, { ...callOptions, retry: policy }),
      { orElse }
    )
  })

/**
 * Options of {@link chatStream}.
 *
 * @since 0.1.0
 */
export interface ChatStreamOptions extends GrokClient.StreamOptions {
  /** Models tried in order after the request's own model (or the client's). */
  readonly fallbacks: ReadonlyArray<string>
}

/**
 * A streamed chat completion from the request's model, or from the fallbacks in order. The
 * chain moves on only before the first chunk arrives: once text has reached the caller, a
 * failure ends the stream (`StreamBroken`, `IdleTimeout`) rather than mixing two answers.
 * Each chunk's `model` says which model answered.
 *
 * @since 0.1.0
 */
export const chatStream = (
  request: GrokClient.ChatRequest,
  options: ChatStreamOptions
): Stream.Stream<ChatStream.ChatCompletionChunk, GrokError.GrokError, GrokClient.GrokClient> =>
  Stream.unwrap(Effect.gen(function*() {
    const grok = yield* GrokClient.GrokClient
    const { fallbacks, ...streamOptions } = options
    const policy = streamOptions.retry ?? (yield* RetryPolicy.RetrySettings).policy
    const chain = chainOf(grok, request, fallbacks)
    const step = Stream.unwrap(Effect.map(CurrentStep, ({ index, model }) =>
      index < chain.length - 1
        ? grok.chatStream({ ...request, model }, { ...streamOptions, retry: stopAtOpenCircuit(policy) }).pipe(
          Stream.provideService(CircuitBreaker.CurrentWhenOpen, "fail")
        )
        : grok.chatStream({ ...request, model }, { ...streamOptions, retry: policy })))
    return Stream.withExecutionPlan(step, plan(chain), { preventFallbackOnPartialStream: true })
  }))

/**
 * A fixed answer shaped like a completion (model `"canned"`), for the end of a chain.
 *
 * @since 0.1.0
 */
export const canned = (content: string): Effect.Effect<Chat.ChatCompletion> =>
  Effect.map(Clock.currentTimeMillis, (now) => ({
    id: `canned-${now}`,
    object: "chat.completion",
    created: Math.floor(now / 1000),
    model: "canned",
    choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }]
  }))
