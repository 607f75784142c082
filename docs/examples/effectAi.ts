/**
 * docs/effect-ai.md: a small agent with one tool on @effect/ai, Grok as its provider through
 * `effect-grok/ai`, run against the simulator; then structured output, streaming, per-call
 * settings, errors, a fallback plan and embeddings. Imports name the package as an app does.
 * Type-checked by `npm test`; `test/docs-effectAi.test.ts` runs the agent on the simulator.
 */
import { Chat, EmbeddingModel, LanguageModel, Tool, Toolkit } from "@effect/ai"
import { Data, Duration, Effect, ExecutionPlan, Layer, Option, Schema, Stream } from "effect"
import { GrokEmbeddingModel, GrokLanguageModel } from "effect-grok/ai"
import { NodeGrokClient } from "effect-grok/node"
import { GrokSimulator } from "effect-grok/simulator"

// --- 1. One tool, in a toolkit, with its handler ---------------------------------------------

export const Weather = Tool.make("weather", {
  description: "The current weather in a city",
  parameters: { city: Schema.String },
  success: Schema.Struct({ city: Schema.String, celsius: Schema.Number })
})

export const AgentTools = Toolkit.make(Weather)

/** The handler: here a constant, in an app a call to a weather service. */
export const AgentToolsLive = AgentTools.toLayer({
  weather: ({ city }) => Effect.succeed({ city, celsius: 21 })
})

// --- 2. The agent: ask; while the model calls tools, run them and ask again ------------------

export class AgentGaveUp extends Data.TaggedError("AgentGaveUp")<{ readonly turns: number }> {}

export const agent = (question: string, maxTurns = 4) =>
  Effect.gen(function*() {
    // A Chat keeps the history: the question, each tool call and its result, each answer.
    const chat = yield* Chat.fromPrompt([{ role: "system", content: "Answer in one sentence. Use the tools." }])
    let response = yield* chat.generateText({ prompt: question, toolkit: AgentTools })
    for (let turn = 1; response.toolCalls.length > 0; turn++) {
      if (turn >= maxTurns) return yield* new AgentGaveUp({ turns: turn })
      // The tool results are in the history already: ask again with nothing new.
      response = yield* chat.generateText({ prompt: [], toolkit: AgentTools })
    }
    return response.text
  })

// --- 3. Grok as the provider: a model over a GrokClient ---------------------------------------

/** In an app: the key and URL from the environment (XAI_API_KEY, ...), undici underneath. */
export const GrokLive = GrokLanguageModel.model("grok-4").pipe(Layer.provide(NodeGrokClient.layerConfig()))

/**
 * On the simulator: the same model, its client pointed at a local xAI (`layerClient`: the
 * simulator and a GrokClient on it). The first request gets a 503, which the client retries
 * before @effect/ai sees anything.
 */
export const GrokOnSimulator = GrokLanguageModel.model("grok-4").pipe(
  Layer.provide(GrokSimulator.layerClient({ faults: [{ nth: [1], fault: { kind: "status", status: 503 } }] }))
)

/** The agent on the simulator: `Simulated reply to "What is the weather in Lisbon?" with tool result {...}.` */
export const runOnSimulator = agent("What is the weather in Lisbon?").pipe(
  Effect.provide(AgentToolsLive),
  Effect.provide(GrokOnSimulator)
)

// --- 4. Structured output: generateObject with a Schema --------------------------------------

export class Trip extends Schema.Class<Trip>("Trip")({
  city: Schema.String,
  days: Schema.Int.pipe(Schema.between(1, 30)),
  activities: Schema.Array(Schema.String)
}) {}

export const planTrip = (request: string) =>
  Effect.map(LanguageModel.generateObject({ prompt: request, schema: Trip }), (response) => response.value)

// --- 5. Streaming: print as it comes; retried until the first part, partial after ----------

export const streamAnswer = (question: string, print: (text: string) => Effect.Effect<void>) =>
  LanguageModel.streamText({ prompt: question }).pipe(
    Stream.runForEach((part) => (part.type === "text-delta" ? print(part.delta) : Effect.void))
  )

// --- 6. Per-call settings: sampling, limiter priority, the API, a deadline --------------------

export const urgent = (question: string) =>
  LanguageModel.generateText({ prompt: question }).pipe(
    GrokLanguageModel.withConfigOverride({ temperature: 0, priority: "critical", deadline: "20 seconds", api: "chat" })
  )

// --- 7. Errors: an AiError whose cause is the GrokError ---------------------------------------

export const answerOrWait = (question: string) =>
  LanguageModel.generateText({ prompt: question }).pipe(
    Effect.map((response) => ({ text: response.text, retryAfter: Option.none<number>() })),
    Effect.catchAll((error) => {
      const cause = GrokLanguageModel.grokError(error)
      // Retries are spent (or it was never retryable): say when to come back, if xAI said.
      return cause?._tag === "RateLimited" && cause.retryAfter !== undefined
        ? Effect.succeed({ text: "", retryAfter: Option.some(Duration.toMillis(cause.retryAfter)) })
        : Effect.fail(error)
    })
  )

// --- 8. A fallback plan: another model when the first is down or refuses --------------------

export const withFallback = (question: string) =>
  LanguageModel.generateText({ prompt: question }).pipe(
    Effect.withExecutionPlan(ExecutionPlan.make(
      { provide: GrokLanguageModel.model("grok-4"), attempts: 1 },
      { provide: GrokLanguageModel.model("grok-3-mini", { reasoningEffort: "low" }) }
    ))
  )

// --- 9. Embeddings, batched: many texts, few calls --------------------------------------------

export const embedAll = (texts: ReadonlyArray<string>) =>
  Effect.flatMap(EmbeddingModel.EmbeddingModel, (model) => model.embedMany(texts)).pipe(
    Effect.provide(GrokEmbeddingModel.model("grok-embedding-small", { dimensions: 256, maxBatchSize: 64 }))
  )
