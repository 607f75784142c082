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
 * The client with `config`, over `http`: undici's pool (`NodeHttpClient.layerUndici`) for the
 * commands that make many calls and keep connections open between them, `node:http`
 * (`NodeHttpClient.layer`) for `chat`'s one call, where setting up undici's pool, or Node's
 * `fetch`, costs more memory than the call itself (docs/benchmarks.md, "CLI start-up").
 * `NodeHttpClient` re-exports undici whole, so its code is loaded either way.
 */
export const clientLayer = (config: GrokConfig.GrokConfig, http: Layer.Layer<HttpClient.HttpClient>) =>
  Layer.scoped(GrokClient.GrokClient, GrokClient.make(config)).pipe(Layer.provide(http))
