/**
 * `effect-grok/ai`: Grok as the `@effect/ai` provider. `GrokLanguageModel` for
 * `LanguageModel.generateText`, `streamText`, `generateObject` and toolkits;
 * `GrokEmbeddingModel` for `EmbeddingModel.embed`. Both run on effect-grok's `GrokClient`, so
 * every call gets its limiter, breaker, retries, budget, metrics and spans.
 *
 * Needs `@effect/ai` (an optional peer: `import "effect-grok"` never loads it).
 *
 * @since 0.2.0
 */

/** Grok as an `@effect/ai` LanguageModel. @since 0.2.0 */
export * as GrokLanguageModel from "./ai/GrokLanguageModel.js"
/** Grok embeddings as an `@effect/ai` EmbeddingModel, batched. @since 0.2.0 */
export * as GrokEmbeddingModel from "./ai/GrokEmbeddingModel.js"
