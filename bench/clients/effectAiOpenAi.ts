/**
 * `@effect/ai-openai` pointed at xAI (the simulator), with its defaults: `OpenAiLanguageModel`
 * on `OpenAiClient`, undici underneath. It calls the Responses API and retries nothing. Its
 * decoder requires `error` and `instructions` in every response, which xAI's Responses answers
 * (and the simulator's) leave out: `shapeFix` adds them as `null`, the shim a user would have to
 * write. `plan` adds the retry recipe of Effect's "Execution Planning" guide: 3 attempts,
 * exponential from 100 ms.
 *
 * @since 0.2.0
 */
import { OpenAiClient, OpenAiLanguageModel } from "@effect/ai-openai"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Effect, ExecutionPlan, Layer, Predicate, Redacted, Schedule, type Scope } from "effect"
import type { BenchClient, ClientOptions } from "../clients.js"
import { model } from "../scenarios.js"
import { fromLayer, generate, MAX_OUTPUT_TOKENS, outcomeOf } from "./effectAiShared.js"

/** Adds the response fields `@effect/ai-openai` requires and xAI leaves out, as `null`. */
const addMissingFields = (client: HttpClient.HttpClient): HttpClient.HttpClient =>
  HttpClient.transformResponse(client, (response) =>
    Effect.flatMap(response, (answer) =>
      answer.status !== 200 || !(answer.headers["content-type"] ?? "").includes("application/json")
        ? Effect.succeed(answer)
        : Effect.map(answer.json, (json) =>
          HttpClientResponse.fromWeb(
            answer.request,
            new Response(JSON.stringify(Predicate.isRecord(json) ? { error: null, instructions: null, ...json } : json), {
              status: answer.status,
              headers: { "content-type": "application/json" }
            })
          ))
    ))

/** @since 0.2.0 */
export const make = (
  options: ClientOptions,
  variant: { readonly shapeFix: boolean; readonly plan: boolean }
): Effect.Effect<BenchClient, never, Scope.Scope> => {
  const client = OpenAiClient.layer({
    apiKey: Redacted.make(options.apiKey),
    apiUrl: options.url,
    ...(variant.shapeFix ? { transformClient: addMissingFields } : {})
  }).pipe(Layer.provide(NodeHttpClient.layerUndici))
  const languageModel = OpenAiLanguageModel.layer({ model, config: { max_output_tokens: MAX_OUTPUT_TOKENS } })
  if (!variant.plan) return fromLayer(languageModel.pipe(Layer.provide(client)))
  // The plan provides the model to each attempt; the client under it is built once and shared.
  return Effect.map(Layer.build(client).pipe(Effect.orDie), (clientContext): BenchClient => {
    const plan = ExecutionPlan.make({
      provide: languageModel.pipe(Layer.provide(Layer.succeedContext(clientContext))),
      attempts: 3,
      schedule: Schedule.exponential("100 millis", 1.5)
    })
    return { call: (index) => outcomeOf(Effect.withExecutionPlan(generate(index), plan)) }
  })
}
