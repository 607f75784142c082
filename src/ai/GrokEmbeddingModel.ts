/**
 * Grok embeddings as an `@effect/ai` `EmbeddingModel`, on effect-grok's `EmbeddingBatcher`:
 * texts embedded at about the same time (`EmbeddingModel.embed` from many fibers, or
 * `embedMany`) are gathered within a short window and sent in few `POST /embeddings` calls of
 * at most `maxBatchSize` inputs, each through the client's pipeline (limiter, breaker,
 * retries, metrics, spans). Identical texts in one window are asked once.
 *
 * ```ts
 * const vectors = yield* Effect.flatMap(EmbeddingModel.EmbeddingModel, (model) => model.embedMany(texts)).pipe(
 *   Effect.provide(GrokEmbeddingModel.model("grok-embedding", { dimensions: 256 }))
 * )
 * ```
 *
 * A failure is an `AiError.UnknownError` whose `cause` is the `GrokError` (see
 * `GrokLanguageModel.grokError`); every text of a failed call fails with it.
 *
 * @since 0.2.0
 */
import * as EmbeddingModel from "@effect/ai/EmbeddingModel"
import * as AiModel from "@effect/ai/Model"
import { Context, type Duration, Effect, Layer, Option, type Scope } from "effect"
import { dual } from "effect/Function"
import * as EmbeddingBatcher from "../EmbeddingBatcher.js"
import type * as GrokClient from "../GrokClient.js"
import { toAiError } from "./internal/errors.js"

/**
 * Per-call settings, in context (see {@link withConfigOverride}).
 *
 * @since 0.2.0
 * @category context
 */
export class Config extends Context.Tag("effect-grok/GrokEmbeddingModel/Config")<Config, Config.Service>() {
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
   * What a text is embedded with. Texts with different settings never share a call.
   *
   * @since 0.2.0
   * @category models
   */
  export interface Service {
    /** The embedding model id. */
    readonly model?: string | undefined
    /** Length of the vectors, on models that can shorten them. */
    readonly dimensions?: number | undefined
  }

  /**
   * A model's settings: the request's, and how texts are batched.
   *
   * @since 0.2.0
   * @category models
   */
  export interface Batched extends Omit<Service, "model"> {
    /** Most inputs in one API call (a whole number >= 1). Default 64. */
    readonly maxBatchSize?: number | undefined
    /** How long the first text of a batch waits for company before it is sent. Default 10 ms. */
    readonly window?: Duration.DurationInput | undefined
  }
}

const MODULE = "GrokEmbeddingModel"

/**
 * An `EmbeddingModel` over the `GrokClient` in context, batching through an
 * `EmbeddingBatcher` that lives as long as the scope. Dies with
 * `EmbeddingBatcher.InvalidEmbeddingBatcherOptions` when `maxBatchSize` or `window` is out of
 * range (check options from configuration with `EmbeddingBatcher.validate` first).
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (options: {
  readonly model: string
  readonly config?: Config.Batched | undefined
}): Effect.Effect<EmbeddingModel.Service, never, GrokClient.GrokClient | Scope.Scope> =>
  Effect.gen(function*() {
    const { dimensions, maxBatchSize, window } = options.config ?? {}
    const batcher = yield* EmbeddingBatcher.make({ maxBatchSize, window })
    const embed = (input: string) =>
      Effect.flatMap(Config.getOrUndefined, (override) =>
        batcher.embed(input, { model: override?.model ?? options.model, dimensions: override?.dimensions ?? dimensions })).pipe(
          Effect.map((vector) => [...vector]),
          Effect.mapError(toAiError(MODULE, "embed"))
        )
    return EmbeddingModel.EmbeddingModel.of({
      embed: (input) => embed(input).pipe(Effect.withSpan("EmbeddingModel.embed", { captureStackTrace: false })),
      // All at once by default: the batcher gathers them into calls of at most `maxBatchSize`.
      embedMany: (inputs, manyOptions) =>
        Effect.forEach(inputs, embed, { concurrency: manyOptions?.concurrency ?? "unbounded" }).pipe(
          Effect.withSpan("EmbeddingModel.embedMany", { captureStackTrace: false })
        )
    })
  })

/**
 * @since 0.2.0
 * @category layers
 */
export const layer = (options: {
  readonly model: string
  readonly config?: Config.Batched | undefined
}): Layer.Layer<EmbeddingModel.EmbeddingModel, never, GrokClient.GrokClient> => Layer.scoped(EmbeddingModel.EmbeddingModel, make(options))

/**
 * The model as an `AiModel`, to provide or to use in an `ExecutionPlan`.
 *
 * @since 0.2.0
 * @category models
 */
export const model = (
  model: string,
  config?: Config.Batched
): AiModel.Model<"xai", EmbeddingModel.EmbeddingModel, GrokClient.GrokClient> => AiModel.make("xai", layer({ model, config }))

/**
 * Settings for the embeddings `self` asks for, over the model's own.
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
