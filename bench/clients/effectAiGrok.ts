/**
 * effect-grok as the @effect/ai provider, with its defaults: `GrokLanguageModel` on
 * `NodeGrokClient` (the in-memory limiter learning the quota, the default retry policy and
 * budget, Retry-After as a floor).
 *
 * @since 0.2.0
 */
import { Layer, type Scope, type Effect } from "effect"
import * as GrokLanguageModel from "../../src/ai/GrokLanguageModel.js"
import * as NodeGrokClient from "../../src/NodeGrokClient.js"
import type { BenchClient, ClientOptions } from "../clients.js"
import { model } from "../scenarios.js"
import { fromLayer, MAX_OUTPUT_TOKENS } from "./effectAiShared.js"

/** @since 0.2.0 */
export const make = (options: ClientOptions): Effect.Effect<BenchClient, never, Scope.Scope> =>
  fromLayer(
    GrokLanguageModel.layer({ model, config: { maxOutputTokens: MAX_OUTPUT_TOKENS } }).pipe(
      Layer.provide(NodeGrokClient.layer({ apiKey: options.apiKey, baseUrl: options.url }))
    ),
    (error) => GrokLanguageModel.grokError(error)?._tag ?? error._tag
  )
