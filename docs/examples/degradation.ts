/**
 * docs/degradation.md: circuit breakers, model fallback, embedding batching, deferred
 * completions. Type-checked by `npm test`.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, Schedule } from "effect"
import * as EmbeddingBatcher from "../../src/EmbeddingBatcher.js"
import * as Fallback from "../../src/Fallback.js"
import * as GrokClient from "../../src/GrokClient.js"
import * as CircuitBreaker from "../../src/resilience/CircuitBreaker.js"
import * as Chat from "../../src/schema/Chat.js"

// Breakers shared by every client of the app, tuned for a low-traffic service.
export const Breakers = CircuitBreaker.layer({ minimumCalls: 5, breakDuration: "30 seconds" })

export const AppLive = GrokClient.layerConfig().pipe(
  Layer.provide(Breakers),
  Layer.provide(NodeHttpClient.layerUndici)
)

// Every client of the app fails fast while a breaker is open.
export const FailFast = CircuitBreaker.layer({ whenOpen: "fail" })

// Or one call: it fails fast, whatever the breakers' option.
export const askNow = (question: string) =>
  Effect.flatMap(GrokClient.GrokClient, (grok) =>
    grok.chat({ messages: [{ role: "user", content: question }] }).pipe(CircuitBreaker.withWhenOpen("fail")))

// Or no breaker at all: every attempt goes to the server, the retry policy alone decides.
export const NoBreaker = GrokClient.layerConfig().pipe(
  Layer.provide(CircuitBreaker.layerDisabled),
  Layer.provide(NodeHttpClient.layerUndici)
)

// grok-4, then grok-4-fast, then a canned answer; the answer says who answered.
export const answer = (question: string) =>
  Effect.gen(function*() {
    const reply = yield* Fallback.chat(
      { model: "grok-4", messages: [{ role: "user", content: question }] },
      { fallbacks: ["grok-4-fast"], orElse: () => Fallback.canned("We are busy right now, please try again in a minute.") }
    )
    if (reply.model !== "grok-4") {
      yield* Effect.logWarning("degraded answer").pipe(
        Effect.annotateLogs({ answeredBy: reply.model ?? "canned", failed: reply.failed.map((f) => `${f.model}: ${f.error._tag}`).join(", ") })
      )
    }
    return Chat.contentOf(reply.value)
  })

// A cache as the last resort: the previous answer to the same question.
const lastAnswers = new Map<string, Chat.ChatCompletion>()
export const cachedOrFresh = (question: string) =>
  Fallback.chat(
    { messages: [{ role: "user", content: question }] },
    {
      fallbacks: ["grok-4-fast", "grok-3-mini"],
      orElse: (error) => {
        const cached = lastAnswers.get(question)
        return cached === undefined ? Effect.fail(error) : Effect.succeed(cached)
      }
    }
  ).pipe(Effect.tap((reply) => Effect.sync(() => lastAnswers.set(question, reply.value))))

// The same chain on any call: read the step's model from Fallback.CurrentStep.
export const embedWithFallback = (text: string) =>
  Effect.gen(function*() {
    const grok = yield* GrokClient.GrokClient
    return yield* Effect.flatMap(Fallback.CurrentStep, ({ model }) => grok.embed({ model, input: text })).pipe(
      Effect.withExecutionPlan(Fallback.plan(["my-embedding-model", "my-backup-embedding-model"]))
    )
  })

// Many concurrent one-text embeds become a few calls of up to 64 texts.
export const EmbeddingsLive = EmbeddingBatcher.layer({ maxBatchSize: 64, window: "10 millis" }).pipe(Layer.provideMerge(AppLive))

export const embedAll = (texts: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const batcher = yield* EmbeddingBatcher.EmbeddingBatcher
    return yield* Effect.forEach(texts, (text) => batcher.embed(text), { concurrency: "unbounded" })
  })

// A long job without holding a connection: poll every 5 s, give up after 20 minutes.
export const longReport = Effect.gen(function*() {
  const grok = yield* GrokClient.GrokClient
  const completion = yield* grok.chatDeferred(
    { model: "grok-4", messages: [{ role: "user", content: "Write the quarterly report" }] },
    { poll: Schedule.spaced("5 seconds").pipe(Schedule.upTo("20 minutes")) }
  )
  return Chat.contentOf(completion)
}).pipe(
  // The schedule ended first: the id stays valid for 24 hours at xAI.
  Effect.catchTag("Timeout", (timeout) => Effect.succeed(`still running: request id ${timeout.requestId ?? "unknown"}`))
)
