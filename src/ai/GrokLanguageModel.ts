/**
 * Grok as an `@effect/ai` `LanguageModel`: `LanguageModel.generateText`, `streamText`,
 * `generateObject`, tools and toolkits, on effect-grok's `GrokClient`.
 *
 * ```ts
 * import { LanguageModel } from "@effect/ai"
 * import { GrokLanguageModel } from "effect-grok/ai"
 * import { NodeGrokClient } from "effect-grok/node"
 *
 * const program = LanguageModel.generateText({ prompt: "Say hi" }).pipe(
 *   Effect.provide(GrokLanguageModel.model("grok-4")),
 *   Effect.provide(NodeGrokClient.layerConfig())
 * )
 * ```
 *
 * Every call goes through the client's pipeline: the rate limiter, the circuit breaker, the
 * retries under the retry policy and budget (Retry-After as a floor), the deadline, metrics
 * and spans. A stream is retried until its first content, as `GrokClient.chatStream` is; a
 * failure after it carries the partial output. The Responses API is used by default, chat
 * completions with `api: "chat"`.
 *
 * Failures are `AiError`s whose `cause` is the `GrokError` ({@link grokError} reads it):
 * `MalformedInput` for a request refused before it was sent, `MalformedOutput` for an answer
 * that cannot be read, `UnknownError` for everything else (a 4xx, a 5xx after the retries, a
 * timeout, an open breaker, a limiter that refused).
 *
 * @since 0.2.0
 */
import type * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as AiModel from "@effect/ai/Model"
import { Context, type Duration, Effect, Layer, Option } from "effect"
import { dual } from "effect/Function"
import * as GrokClient from "../GrokClient.js"
import type * as GrokError from "../GrokError.js"
import type * as RateLimiter from "../resilience/RateLimiter.js"
import type * as RetryPolicy from "../resilience/RetryPolicy.js"
import * as Errors from "./internal/errors.js"
import * as Provider from "./internal/provider.js"

/**
 * Which xAI API a model is called through: `responses` (`POST /responses`, the one xAI
 * recommends) or `chat` (`POST /chat/completions`).
 *
 * @since 0.2.0
 * @category models
 */
export type Api = "responses" | "chat"

/**
 * Per-call settings, in context (see {@link withConfigOverride}); a model's own come from
 * {@link layer} or {@link model}.
 *
 * @since 0.2.0
 * @category context
 */
export class Config extends Context.Tag("effect-grok/GrokLanguageModel/Config")<Config, Config.Service>() {
  /**
   * The settings in context, if any.
   *
   * @since 0.2.0
   */
  static readonly getOrUndefined: Effect.Effect<Config.Service | undefined> = Effect.map(
    Effect.serviceOption(Config),
    Option.getOrUndefined
  )
}

/**
 * @since 0.2.0
 */
export declare namespace Config {
  /**
   * Settings of the requests a model sends, and of how the client runs them. One set for
   * both APIs: the sampling settings are named once and written in each API's field
   * (`maxOutputTokens` is `max_output_tokens` on the Responses API, `max_completion_tokens`
   * on chat); anything else goes in `responses` or `chat`, sent as given.
   *
   * @since 0.2.0
   * @category models
   */
  export interface Service {
    /** The model id, e.g. `grok-4`. */
    readonly model?: string | undefined
    /** Default `responses`. */
    readonly api?: Api | undefined
    readonly temperature?: number | undefined
    readonly topP?: number | undefined
    /** Bounds the output, reasoning included. */
    readonly maxOutputTokens?: number | undefined
    /** `reasoning.effort` (Responses) or `reasoning_effort` (chat): `"low"`, `"high"` on models that take it. */
    readonly reasoningEffort?: string | undefined
    readonly user?: string | undefined
    /**
     * `strict` on function tools and on the JSON schema of `generateObject`. Left out by
     * default (xAI's default applies).
     */
    readonly strict?: boolean | undefined
    /** More fields of a Responses request (`store`, `include`, `previous_response_id`, `service_tier`, ...). */
    readonly responses?: Readonly<Record<string, unknown>> | undefined
    /** More fields of a chat request (`seed`, `stop`, `service_tier`, ...). */
    readonly chat?: Readonly<Record<string, unknown>> | undefined
    /** Limiter priority of the calls: under pressure `critical` goes first, `background` is shed first. */
    readonly priority?: RateLimiter.Priority | undefined
    /** Replaces the client's retry policy for these calls. */
    readonly retry?: RetryPolicy.RetryPolicy<GrokError.GrokError> | undefined
    /** Upper bound of one HTTP attempt. */
    readonly attemptTimeout?: Duration.DurationInput | undefined
    /** Upper bound of a whole call, every attempt and wait included. */
    readonly deadline?: Duration.DurationInput | undefined
    /** `streamText`: how long an attempt may wait for its first content (then it is retried). */
    readonly firstTokenTimeout?: Duration.DurationInput | undefined
    /** `streamText`: how long the stream may be silent once content flows. */
    readonly idleTimeout?: Duration.DurationInput | undefined
  }
}

// =============================================================================
// Provider options and metadata
// =============================================================================

declare module "@effect/ai/Prompt" {
  /** @since 0.2.0 */
  export interface FilePartOptions extends ProviderOptions {
    readonly xai?: {
      /** How closely the model looks at an image. */
      readonly imageDetail?: "auto" | "low" | "high" | undefined
    } | undefined
  }

  /** @since 0.2.0 */
  export interface ReasoningPartOptions extends ProviderOptions {
    readonly xai?: {
      /** The reasoning item this part came from (Responses API). */
      readonly itemId?: string | undefined
      /** Its `encrypted_content`, to send back when responses are not stored. */
      readonly encryptedContent?: string | undefined
    } | undefined
  }

  /** @since 0.2.0 */
  export interface ToolCallPartOptions extends ProviderOptions {
    readonly xai?: {
      /** The function-call item this part came from (Responses API). */
      readonly itemId?: string | undefined
    } | undefined
  }
}

declare module "@effect/ai/Response" {
  /** @since 0.2.0 */
  export interface TextPartMetadata extends ProviderMetadata {
    readonly xai?: {
      readonly itemId?: string | undefined
      /** A refusal arrives as an empty text part carrying the model's explanation here. */
      readonly refusal?: string | undefined
    } | undefined
  }

  /** @since 0.2.0 */
  export interface ReasoningPartMetadata extends ProviderMetadata {
    readonly xai?: {
      readonly itemId?: string | undefined
      readonly encryptedContent?: string | undefined
    } | undefined
  }

  /** @since 0.2.0 */
  export interface ReasoningEndPartMetadata extends ProviderMetadata {
    readonly xai?: {
      readonly itemId?: string | undefined
      readonly encryptedContent?: string | undefined
    } | undefined
  }

  /** @since 0.2.0 */
  export interface ToolCallPartMetadata extends ProviderMetadata {
    readonly xai?: {
      readonly itemId?: string | undefined
    } | undefined
  }

  /** @since 0.2.0 */
  export interface FinishPartMetadata extends ProviderMetadata {
    readonly xai?: {
      /** Cost of the request: 1 USD = 10^10 ticks. */
      readonly costInUsdTicks?: number | undefined
      readonly numSourcesUsed?: number | undefined
    } | undefined
  }
}

// =============================================================================
// Constructors
// =============================================================================

/**
 * A `LanguageModel` over the `GrokClient` in context.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (options: {
  readonly model: string
  readonly config?: Omit<Config.Service, "model"> | undefined
}): Effect.Effect<LanguageModel.Service, never, GrokClient.GrokClient> =>
  Effect.flatMap(GrokClient.GrokClient, (grok) =>
    LanguageModel.make(Provider.make(grok, Effect.map(Config.getOrUndefined, (override) => ({
      model: options.model,
      ...options.config,
      ...override
    })))))

/**
 * @since 0.2.0
 * @category layers
 */
export const layer = (options: {
  readonly model: string
  readonly config?: Omit<Config.Service, "model"> | undefined
}): Layer.Layer<LanguageModel.LanguageModel, never, GrokClient.GrokClient> => Layer.effect(LanguageModel.LanguageModel, make(options))

/**
 * The model as an `AiModel`: provide it (`Effect.provide(GrokLanguageModel.model("grok-4"))`)
 * or use it in an `ExecutionPlan` (a fallback to another model or provider).
 *
 * @since 0.2.0
 * @category models
 */
export const model = (
  model: string,
  config?: Omit<Config.Service, "model">
): AiModel.Model<"xai", LanguageModel.LanguageModel, GrokClient.GrokClient> => AiModel.make("xai", layer({ model, config }))

/**
 * Settings for the calls `self` makes, over the model's own (and over an enclosing override).
 *
 * ```ts
 * LanguageModel.generateText({ prompt }).pipe(GrokLanguageModel.withConfigOverride({ temperature: 0, priority: "critical" }))
 * ```
 *
 * @since 0.2.0
 * @category configuration
 */
export const withConfigOverride: {
  (overrides: Config.Service): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, overrides: Config.Service): Effect.Effect<A, E, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, overrides: Config.Service): Effect.Effect<A, E, R> =>
    Effect.flatMap(Config.getOrUndefined, (config) => Effect.provideService(self, Config, { ...config, ...overrides }))
)

/**
 * The `GrokError` behind an `AiError` from this provider (its `cause`), if there is one:
 * `retryable`, `status`, `requestId`, `retryAfter`, and `partial` for a broken stream.
 *
 * @since 0.2.0
 * @category errors
 */
export const grokError: (error: AiError.AiError) => GrokError.GrokError | undefined = Errors.grokErrorOf
