/**
 * docs/client.md: a chat call, a streamed call and typed error handling.
 * Type-checked by `npm test` (tsc --noEmit covers docs/examples).
 */
import { Effect, Layer, Stream } from "effect"
import { NodeHttpClient } from "@effect/platform-node"
import * as GrokClient from "../../src/GrokClient.js"
import * as Chat from "../../src/schema/Chat.js"

export const summarize = (text: string) =>
  Effect.gen(function*() {
    const grok = yield* GrokClient.GrokClient
    const reply = yield* grok.chat({
      messages: [{ role: "system", content: "Summarize in one sentence." }, { role: "user", content: text }],
      max_tokens: 200
    })
    return Chat.contentOf(reply)
  }).pipe(
    // Every failure is a tagged error: handle the ones the app cares about.
    Effect.catchTags({
      QuotaExhausted: () => Effect.succeed("(out of credits: try tomorrow)"),
      ContextTooLong: (error) => Effect.succeed(`(text too long: ${error.message})`)
    })
  )

export const streamed = (prompt: string) =>
  Effect.gen(function*() {
    const grok = yield* GrokClient.GrokClient
    return yield* grok.chatStream({ messages: [{ role: "user", content: prompt }] }, { idleTimeout: "30 seconds" }).pipe(
      Stream.map((chunk) => chunk.choices[0]?.delta.content ?? ""),
      Stream.runFold("", (text, piece) => text + piece)
    )
  })

// The key comes from XAI_API_KEY; a missing key fails here, at start-up.
export const AppLive = GrokClient.layerConfig().pipe(Layer.provide(NodeHttpClient.layerUndici))

export const main = summarize("Effect is a TypeScript library for typed, composable programs.").pipe(
  Effect.provide(AppLive)
)
