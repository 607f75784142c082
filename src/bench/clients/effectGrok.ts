/**
 * effect-grok with every default: the in-memory limiter, the default retry policy and
 * budget, undici.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, type Scope } from "effect"
import * as GrokClient from "../../GrokClient.js"
import type { BenchClient, ClientOptions } from "../clients.js"
import { failed, ok, requestBody } from "./shared.js"

/** @since 0.1.0 */
export const make = (options: ClientOptions): Effect.Effect<BenchClient, never, Scope.Scope> =>
  Effect.map(
    Layer.build(GrokClient.layerNode({ apiKey: options.apiKey, baseUrl: options.url })).pipe(Effect.orDie),
    (context) => {
      const grok = Context.get(context, GrokClient.GrokClient)
      return {
        call: (index) =>
          grok.chat(requestBody(index)).pipe(
            Effect.as(ok),
            Effect.catchAll((error) => Effect.succeed(failed(error._tag)))
          )
      }
    }
  )
