/**
 * docs/client.md: configuration and layers, a chat call, a streamed call with its partial
 * output, models and embeddings, per-call options, and a key provider.
 * Type-checked by `npm test` (tsc --noEmit covers docs/examples).
 */
import { FetchHttpClient } from "@effect/platform"
import { Config, Effect, Layer, Option, Redacted, Ref, Stream } from "effect"
import * as ApiKeyProvider from "../../src/ApiKeyProvider.js"
import * as GrokClient from "../../src/GrokClient.js"
import * as NodeGrokClient from "../../src/NodeGrokClient.js"
import * as GrokConfig from "../../src/GrokConfig.js"
import * as RetryPolicy from "../../src/resilience/RetryPolicy.js"
import * as Chat from "../../src/schema/Chat.js"
import * as ChatStream from "../../src/schema/ChatStream.js"

// --- 1. Configuration and layers ---------------------------------------------------------

// From the environment (XAI_API_KEY, XAI_BASE_URL, XAI_MODEL, XAI_TIMEOUT, XAI_DEADLINE,
// XAI_RATE_LIMIT_KEY), on undici's keep-alive pool. A missing key or a plain http:// URL to a
// remote host fails here, when the layer is built, never as a 401 later.
export const FromEnv = NodeGrokClient.layerConfig()

// The same, on any HttpClient: here the fetch-based one.
export const OnFetch = GrokClient.layerConfig().pipe(Layer.provide(FetchHttpClient.layer))

// Plain values (a key from your own secret store, a local simulator, shorter timeouts).
export const Local = (apiKey: Redacted.Redacted<string>) =>
  NodeGrokClient.layer({ apiKey, baseUrl: "http://127.0.0.1:8787/v1", model: "grok-4-fast-non-reasoning", attemptTimeout: "30 seconds" })

// Your own config names: any `Config<GrokConfig>` works.
export const FromOwnNames = NodeGrokClient.layerConfig(
  Config.all({ apiKey: Config.redacted("GROK_TOKEN"), model: Config.string("GROK_MODEL").pipe(Config.withDefault("grok-4")) }).pipe(
    Config.mapOrFail(GrokConfig.make)
  )
)

// App-wide retry settings (policy, deadline, attempt timeout, one shared retry budget).
export const AppLive = FromEnv.pipe(Layer.provide(RetryPolicy.layer({ deadline: "2 minutes", attemptTimeout: "45 seconds" })))

// --- 2. Chat ----------------------------------------------------------------------------

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

// --- 3. Streaming -----------------------------------------------------------------------

export const streamed = (prompt: string) =>
  Effect.gen(function*() {
    const grok = yield* GrokClient.GrokClient
    return yield* grok.chatStream({ messages: [{ role: "user", content: prompt }] }, {
      firstTokenTimeout: "20 seconds",
      idleTimeout: "30 seconds"
    }).pipe(
      Stream.map((chunk) => chunk.choices[0]?.delta.content ?? ""),
      Stream.runFold("", (text, piece) => text + piece),
      // After the first token nothing is retried: keep what arrived.
      Effect.catchTags({
        StreamBroken: (error) => Effect.succeed(`${error.partial.content} [cut]`),
        IdleTimeout: (error) => Effect.succeed(`${error.partial.content} [stalled]`)
      })
    )
  })

/** The whole completion, usage included, as a non-streaming call would have returned it. */
export const streamedCompletion = (prompt: string) =>
  Effect.flatMap(GrokClient.GrokClient, (grok) =>
    grok.chatStream({ messages: [{ role: "user", content: prompt }] }).pipe(
      Stream.runFold(ChatStream.ChatStreamAccumulator.empty, ChatStream.ChatStreamAccumulator.add),
      Effect.map(ChatStream.ChatStreamAccumulator.toCompletion)
    ))

// --- 4. Models and embeddings -----------------------------------------------------------

export const modelIds = Effect.flatMap(GrokClient.GrokClient, (grok) =>
  Effect.map(grok.models(), (list) => list.data.map((model) => model.id)))

/** `model` names an embedding model your team can use (without it, the client's model is sent). */
export const vectors = (model: string, texts: ReadonlyArray<string>) =>
  Effect.flatMap(GrokClient.GrokClient, (grok) =>
    Effect.map(grok.embed({ model, input: texts }), (response) => response.data.map((item) => item.embedding)))

// --- 5. Per-call options ----------------------------------------------------------------

/** A user is waiting: goes first in the limiter, fails fast, never retries for long. */
export const interactive = (prompt: string) =>
  Effect.flatMap(GrokClient.GrokClient, (grok) =>
    grok.chat({ messages: [{ role: "user", content: prompt }] }, {
      priority: "critical",
      retry: RetryPolicy.make({ maxRetries: 1 }),
      attemptTimeout: "20 seconds",
      deadline: "30 seconds"
    }))

/** A nightly batch: shed first under pressure, patient. */
export const batch = (prompt: string) =>
  Effect.flatMap(GrokClient.GrokClient, (grok) =>
    grok.chat({ messages: [{ role: "user", content: prompt }] }, { priority: "background", deadline: "15 minutes" }))

// --- 6. A key provider ------------------------------------------------------------------

/** Keys from a vault: read per attempt, refreshed once per call after an auth failure. */
export const VaultKeys = (readSecret: Effect.Effect<Redacted.Redacted<string>>) =>
  Layer.effect(
    ApiKeyProvider.ApiKeyProvider,
    Effect.gen(function*() {
      const cached = yield* Ref.make(yield* readSecret)
      return {
        current: Ref.get(cached),
        refresh: Effect.gen(function*() {
          const fresh = yield* readSecret
          const old = yield* Ref.getAndSet(cached, fresh)
          return Redacted.value(fresh) === Redacted.value(old) ? Option.none() : Option.some(fresh)
        })
      }
    })
  )

// The provider is read where each call runs: here given to the client's layer (around the
// program works too). XAI_RATE_LIMIT_KEY keeps one quota in the limiter across rotated keys.
export const WithVault = (readSecret: Effect.Effect<Redacted.Redacted<string>>) =>
  NodeGrokClient.layerConfig().pipe(Layer.provide(VaultKeys(readSecret)))

export const main = summarize("Effect is a TypeScript library for typed, composable programs.").pipe(
  Effect.provide(AppLive)
)
