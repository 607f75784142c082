/**
 * {@link GrokClient} on Node's undici HTTP client (a keep-alive connection pool), the backend
 * that suits many concurrent calls. Its own entry point, `effect-grok/node`, so that apps that
 * bring another `HttpClient` (fetch, Bun, a test double) never load `@effect/platform-node`.
 *
 * ```ts
 * import { NodeGrokClient } from "effect-grok/node"
 * program.pipe(Effect.provide(NodeGrokClient.layerConfig()))
 * ```
 *
 * @since 0.2.0
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { type Config, type ConfigError, Layer } from "effect"
import * as GrokClient from "./GrokClient.js"
import type * as GrokConfig from "./GrokConfig.js"

/**
 * `GrokClient.layerConfig` on undici: settings from `Config` (by default the environment,
 * `XAI_API_KEY` and friends).
 *
 * @since 0.2.0
 * @category layers
 */
export const layerConfig = (
  config?: Config.Config<GrokConfig.GrokConfig>
): Layer.Layer<GrokClient.GrokClient, ConfigError.ConfigError> =>
  GrokClient.layerConfig(config).pipe(Layer.provide(NodeHttpClient.layerUndici))

/**
 * `GrokClient.layer` on undici: settings given as values.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (input: GrokConfig.GrokConfigInput): Layer.Layer<GrokClient.GrokClient, ConfigError.ConfigError> =>
  GrokClient.layer(input).pipe(Layer.provide(NodeHttpClient.layerUndici))
