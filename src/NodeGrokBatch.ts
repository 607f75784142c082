/**
 * {@link GrokBatch} on Node's undici HTTP client. In the `effect-grok/node` entry point, with
 * `NodeGrokClient`, so that apps that bring another `HttpClient` never load
 * `@effect/platform-node`.
 *
 * ```ts
 * import { NodeGrokBatch } from "effect-grok/node"
 * program.pipe(Effect.provide(NodeGrokBatch.layerConfig()))
 * ```
 *
 * @since 0.2.0
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { type Config, type ConfigError, Layer } from "effect"
import * as GrokBatch from "./GrokBatch.js"
import type * as GrokConfig from "./GrokConfig.js"

/**
 * `GrokBatch.layerConfig` on undici: settings from `Config` (by default the environment,
 * `XAI_API_KEY` and friends).
 *
 * @since 0.2.0
 * @category layers
 */
export const layerConfig = (
  config?: Config.Config<GrokConfig.GrokConfig>
): Layer.Layer<GrokBatch.GrokBatch, ConfigError.ConfigError> =>
  GrokBatch.layerConfig(config).pipe(Layer.provide(NodeHttpClient.layerUndici))

/**
 * `GrokBatch.layer` on undici: settings given as values.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (input: GrokConfig.GrokConfigInput): Layer.Layer<GrokBatch.GrokBatch, ConfigError.ConfigError> =>
  GrokBatch.layer(input).pipe(Layer.provide(NodeHttpClient.layerUndici))
