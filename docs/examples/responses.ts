/**
 * docs/responses.md: a response, a conversation continued by id, a streamed response with its
 * partial output on failure, function calls, usage in the chat shape, and the same calls
 * against the simulator.
 * Type-checked by `npm test` (tsc --noEmit covers docs/examples).
 */
import { Effect, Layer, Option, Stream } from "effect"
import * as GrokClient from "../../src/GrokClient.js"
import * as NodeGrokClient from "../../src/NodeGrokClient.js"
import * as Responses from "../../src/schema/Responses.js"
import * as GrokSimulator from "../../src/simulator/Simulator.js"

// --- 1. One response: text, usage, typed errors --------------------------------------------

export const answer = (question: string) =>
  Effect.gen(function*() {
    const grok = yield* GrokClient.GrokClient
    const response = yield* grok.responses({
      instructions: "Answer in one sentence.",
      input: question,
      max_output_tokens: 300
    })
    return {
      id: response.id,
      text: Responses.outputText(response),
      // prompt_tokens / completion_tokens (reasoning left out) / total_tokens, as chat reports them
      usage: response.usage == null ? undefined : Responses.chatUsageOf(response.usage),
      cut: response.status === "incomplete"
    }
  }).pipe(
    Effect.catchTags({
      QuotaExhausted: () => Effect.succeed(undefined),
      ContextTooLong: () => Effect.succeed(undefined)
    })
  )

// --- 2. A conversation: the server keeps the history, the next turn names the last one -----

export const followUp = Effect.gen(function*() {
  const grok = yield* GrokClient.GrokClient
  const first = yield* grok.responses({ input: "Name a prime number between 10 and 20." })
  const second = yield* grok.responses({ previous_response_id: first.id, input: "And the next one?" })
  return [Responses.outputText(first), Responses.outputText(second)]
})

// --- 3. Streaming: print text as it comes; on a broken stream keep what arrived -------------

export const streamed = (question: string, print: (text: string) => Effect.Effect<void>) =>
  Effect.gen(function*() {
    const grok = yield* GrokClient.GrokClient
    const events = grok.responsesStream(
      { input: [{ role: "user", content: [{ type: "input_text", text: question }] }] },
      { firstTokenTimeout: "20 seconds", idleTimeout: "30 seconds" }
    )
    const final = yield* events.pipe(
      Stream.tap((event) => (event.type === "response.output_text.delta" ? print(event.delta) : Effect.void)),
      Stream.filterMap((event) => Option.fromNullable(Responses.finalResponse(event))),
      Stream.runLast
    )
    return Option.match(final, { onNone: () => "", onSome: Responses.outputText })
  }).pipe(
    // Retries stop at the first output event; after it a failure keeps the text received.
    Effect.catchTags({
      StreamBroken: (error) => Effect.succeed(error.partial.content),
      IdleTimeout: (error) => Effect.succeed(error.partial.content)
    })
  )

// --- 4. Function calls: answer each with a function_call_output item ------------------------

const weather = (city: string) => ({ city, celsius: 21 })

export const withTools = Effect.gen(function*() {
  const grok = yield* GrokClient.GrokClient
  const tools = [{
    type: "function",
    name: "weather",
    description: "Current weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
  }]
  const asked = yield* grok.responses({ input: "What is the weather in Lisbon?", tools })
  const outputs = Responses.functionCalls(asked).map((call) => ({
    type: "function_call_output",
    call_id: call.call_id,
    // `arguments` is JSON written by the model: validate it before use in real code.
    output: JSON.stringify(weather(String((JSON.parse(call.arguments) as { city?: unknown }).city ?? "")))
  }))
  if (outputs.length === 0) return Responses.outputText(asked)
  const answered = yield* grok.responses({ previous_response_id: asked.id, input: outputs, tools })
  return Responses.outputText(answered)
})

// --- 5. The same calls against the local simulator ------------------------------------------

export const local = Effect.gen(function*() {
  const grok = yield* GrokClient.GrokClient
  const response = yield* grok.responses({ model: "grok-3-mini", input: "Say hi" })
  // 'Simulated reply to "Say hi".' and grok-3-mini's visible reasoning summary
  return [Responses.outputText(response), Responses.reasoningText(response)]
}).pipe(
  Effect.provide(
    Layer.unwrapEffect(
      Effect.map(GrokSimulator.GrokSimulator, (sim) => NodeGrokClient.layer({ apiKey: "any-key", baseUrl: sim.url }))
    ).pipe(Layer.provide(GrokSimulator.layer({ seed: 1 })))
  )
)
