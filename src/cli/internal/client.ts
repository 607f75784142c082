/**
 * The GrokClient the CLI's commands call through.
 *
 * @internal
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import { Layer } from "effect"
import * as GrokClient from "../../GrokClient.js"
import type * as GrokConfig from "../../GrokConfig.js"

/**
 * The client with `config`, over `http`: undici (`NodeHttpClient.layerUndici`) for the
 * commands that make many calls and keep connections open between them, `node:http`
 * (`NodeHttpClient.layer`) for `chat`'s one call, where loading undici (or Node's `fetch`,
 * undici inside) would cost more than the call itself (docs/benchmarks.md, "CLI start-up").
 */
export const clientLayer = (config: GrokConfig.GrokConfig, http: Layer.Layer<HttpClient.HttpClient>) =>
  Layer.scoped(GrokClient.GrokClient, GrokClient.make(config)).pipe(Layer.provide(http))
