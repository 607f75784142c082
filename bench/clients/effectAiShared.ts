/**
 * What the two @effect/ai providers of the benchmark share (`effectAiGrok.ts`,
 * `effectAiOpenAi.ts`): one `LanguageModel.generateText` per call, and how its outcome is named.
 * Imports @effect/ai only, so that each client process loads its own provider.
 *
 * @since 0.2.0
 */
import { type AiError, LanguageModel } from "@effect/ai"
import { Effect, Layer, type Scope } from "effect"
import type { BenchClient, CallOutcome } from "../clients.js"
import { promptOf } from "../scenarios.js"
import { failed, kindOf, ok } from "./shared.js"

/** Every call asks for at most this many output tokens. @since 0.2.0 */
export const MAX_OUTPUT_TOKENS = 64

/** How a provider names a failure: effect-grok by the GrokError behind the AiError. @since 0.2.0 */
export type NameFailure = (error: AiError.AiError) => string

/** What became of one generateText. @since 0.2.0 */
export const outcomeOf = (
  call: Effect.Effect<LanguageModel.GenerateTextResponse<{}>, AiError.AiError>,
  name: NameFailure = kindOf
): Effect.Effect<CallOutcome> =>
  call.pipe(
    Effect.map((response) => (response.text === "" ? failed("NoContent") : ok)),
    Effect.catchAll((error) => Effect.succeed(failed(name(error))))
  )

/** Call number `index`. @since 0.2.0 */
export const generate = (index: number) => LanguageModel.generateText({ prompt: promptOf(index) })

/** A client over a LanguageModel layer, built once. @since 0.2.0 */
export const fromLayer = (
  layer: Layer.Layer<LanguageModel.LanguageModel, unknown>,
  name?: NameFailure
): Effect.Effect<BenchClient, never, Scope.Scope> =>
  Effect.map(Layer.build(layer).pipe(Effect.orDie), (context) => ({
    call: (index) => outcomeOf(Effect.provide(generate(index), context), name)
  }))
