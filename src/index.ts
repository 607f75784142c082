/**
 * effect-grok: resilient calls to xAI's Grok API as Effect programs.
 *
 * Each module is exported as a namespace: `GrokClient.layerConfig()`, `RetryPolicy.make(...)`.
 * This entry point needs only `effect` and `@effect/platform`; the parts with heavier
 * dependencies have their own: `effect-grok/node` (undici), `effect-grok/redis` (ioredis),
 * `effect-grok/otel` (OpenTelemetry) and `effect-grok/simulator`.
 *
 * @since 0.1.0
 */

/** The client service: chat, streaming chat, models, embeddings, the Responses API. @since 0.1.0 */
export * as GrokClient from "./GrokClient.js"
/** Settings and their validation. @since 0.1.0 */
export * as GrokConfig from "./GrokConfig.js"
/** The typed error union and the classification of xAI answers. @since 0.1.0 */
export * as GrokError from "./GrokError.js"
/** Bulk work through xAI's Batch API: resumable jobs, results as a Stream. @since 0.2.0 */
export * as GrokBatch from "./GrokBatch.js"
/** How a batch job fails beyond one call's GrokError. @since 0.2.0 */
export * as BatchError from "./BatchError.js"
/** Where the API key is read, per attempt (rotation hook). @since 0.1.0 */
export * as ApiKeyProvider from "./ApiKeyProvider.js"
/** effect-grok's own logs: their level (Debug by default) and the one switch that raises them. @since 0.2.0 */
export * as Logging from "./Logging.js"
/** Model fallback chains on ExecutionPlan. @since 0.1.0 */
export * as Fallback from "./Fallback.js"
/** Concurrent one-text embeds batched into few calls. @since 0.1.0 */
export * as EmbeddingBatcher from "./EmbeddingBatcher.js"

/** Chat completion schemas. @since 0.1.0 */
export * as Chat from "./schema/Chat.js"
/** Streaming chunk schemas and the accumulator. @since 0.1.0 */
export * as ChatStream from "./schema/ChatStream.js"
/** Responses API schemas: request, response, output items, stream events, usage mapping. @since 0.1.0 */
export * as Responses from "./schema/Responses.js"
/** Batch API schemas: batch, counters, request metadata, results. @since 0.2.0 */
export * as Batch from "./schema/Batch.js"
/** Embeddings schemas. @since 0.1.0 */
export * as Embeddings from "./schema/Embeddings.js"
/** xAI error body schemas and the two code vocabularies. @since 0.1.0 */
export * as XaiErrorBody from "./schema/XaiErrorBody.js"
/** Model list schemas. @since 0.1.0 */
export * as Models from "./schema/Models.js"

/** Retry-After, x-should-retry and rate-limit header parsing. @since 0.1.0 */
export * as RateLimitHeaders from "./resilience/RateLimitHeaders.js"
/** Exponential backoff schedules with jitter. @since 0.1.0 */
export * as Backoff from "./resilience/Backoff.js"
/** Retry combinators, the default policy and the retry settings layer. @since 0.1.0 */
export * as RetryPolicy from "./resilience/RetryPolicy.js"
/** The retry budget shared by a client's calls. @since 0.1.0 */
export * as RetryBudget from "./resilience/RetryBudget.js"
/** The rate limiter service interface. @since 0.1.0 */
export * as RateLimiter from "./resilience/RateLimiter.js"
/** The in-memory rate limiter (default). @since 0.1.0 */
export * as RateLimiterMemory from "./resilience/RateLimiterMemory.js"
/** Circuit breakers per endpoint and model. @since 0.1.0 */
export * as CircuitBreaker from "./resilience/CircuitBreaker.js"

/** Metrics recorded by every call. @since 0.1.0 */
export * as Metrics from "./telemetry/Metrics.js"
/** Declarative alert rules over the metrics, with de-duplication and cooldown. @since 0.1.0 */
export * as Alerts from "./telemetry/Alerts.js"
