/**
 * effect-grok with every default: the in-memory limiter (learning the quota from the
 * headers, or by AIMD without them), the default retry policy and budget, undici. And the
 * same told the quota up front, as `p-retry+bottleneck` is.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, type Scope } from "effect"
import * as GrokClient from "../../src/GrokClient.js"
import * as NodeGrokClient from "../../src/NodeGrokClient.js"
import * as RateLimiterMemory from "../../src/resilience/RateLimiterMemory.js"
import type { BenchClient, ClientOptions } from "../clients.js"
import { failed, ok, requestBody } from "./shared.js"

const fromLayer = (layer: Layer.Layer<GrokClient.GrokClient, unknown>): Effect.Effect<BenchClient, never, Scope.Scope> =>
  Effect.map(Layer.build(layer).pipe(Effect.orDie), (context) => {
    const grok = Context.get(context, GrokClient.GrokClient)
    return {
      call: (index) =>
        grok.chat(requestBody(index)).pipe(
          Effect.as(ok),
          Effect.catchAll((error) => Effect.succeed(failed(error._tag)))
        )
    }
  })

/** @since 0.1.0 */
export const make = (options: ClientOptions): Effect.Effect<BenchClient, never, Scope.Scope> =>
  fromLayer(NodeGrokClient.layer({ apiKey: options.apiKey, baseUrl: options.url }))

/** @since 0.1.0 */
export const makeToldTheQuota = (options: ClientOptions): Effect.Effect<BenchClient, never, Scope.Scope> =>
  fromLayer(
    NodeGrokClient.layer({ apiKey: options.apiKey, baseUrl: options.url }).pipe(
      Layer.provide(RateLimiterMemory.layer({ limits: { requestsPerSecond: options.quotaPerSecond } }))
    )
  )
