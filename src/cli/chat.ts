/**
 * `effect-grok chat [--model M] [--fallback-model M]... [--base-url URL] [--timeout DURATION] [--max-retries N] [--stream] [--json] [--api chat|responses] PROMPT`
 *
 * Public API: the flags and the `--json` output are a contract. `--api responses` sends the
 * prompt through the Responses API and reports its usage in the chat shape
 * (`Responses.chatUsageOf`), so the `--json` output is the same whichever API answered.
 *
 * @internal
 */
import { Args, Command, Options } from "@effect/cli"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Config, Effect, Either, Layer, Option, Stream } from "effect"
import * as Fallback from "../Fallback.js"
import * as GrokClient from "../GrokClient.js"
import * as GrokConfig from "../GrokConfig.js"
import type * as GrokError from "../GrokError.js"
import * as RetryPolicy from "../resilience/RetryPolicy.js"
import * as Chat from "../schema/Chat.js"
import * as ChatStream from "../schema/ChatStream.js"
import * as Responses from "../schema/Responses.js"
import * as Metrics from "../telemetry/Metrics.js"
import { parseDuration } from "./args.js"
import { CliExit, describeError, errorJson, printError, printLine, UsageError, write } from "./output.js"

/** Flags every command that talks to an API shares. */
export const connectionOptions = {
  model: Options.text("model").pipe(Options.withDescription("Model to call (default: XAI_MODEL or grok-4.3)"), Options.optional),
  baseUrl: Options.text("base-url").pipe(
    Options.withDescription("API base URL (default: XAI_BASE_URL or https://api.x.ai/v1)"),
    Options.optional
  )
}

/** `--fallback-model M`, repeatable: models tried in order when the main one is down (shared by `load`). */
export const fallbackModels = Options.text("fallback-model").pipe(
  Options.repeated,
  Options.withDescription("A model to answer when the main one is rate limited, failing or its breaker is open (repeatable, tried in order)")
)

/**
 * Resolve the client settings from flags and the environment. Bad values are a
 * {@link UsageError} (exit 2), reported before anything is sent.
 */
export const resolveConfig = (flags: {
  readonly model: Option.Option<string>
  readonly baseUrl: Option.Option<string>
  readonly timeout?: Option.Option<string>
}): Effect.Effect<GrokConfig.GrokConfig, UsageError> =>
  Effect.gen(function*() {
    const env = yield* Config.all({
      apiKey: Config.redacted("XAI_API_KEY").pipe(Config.option),
      baseUrl: Config.string("XAI_BASE_URL").pipe(Config.option),
      model: Config.string("XAI_MODEL").pipe(Config.option)
    }).pipe(Effect.orElseSucceed(() => ({ apiKey: Option.none(), baseUrl: Option.none(), model: Option.none() })))
    if (Option.isNone(env.apiKey)) {
      return yield* new UsageError({ message: "XAI_API_KEY is not set: export your xAI API key (or any key for the simulator)" })
    }
    let attemptTimeout: GrokConfig.GrokConfigInput["attemptTimeout"]
    if (flags.timeout !== undefined && Option.isSome(flags.timeout)) {
      const parsed = parseDuration(flags.timeout.value)
      if (Either.isLeft(parsed)) return yield* new UsageError({ message: `--timeout: ${parsed.left}` })
      attemptTimeout = parsed.right
    }
    const config = GrokConfig.make({
      apiKey: env.apiKey.value,
      baseUrl: Option.getOrUndefined(Option.orElse(flags.baseUrl, () => env.baseUrl)),
      model: Option.getOrUndefined(Option.orElse(flags.model, () => env.model)),
      attemptTimeout
    })
    if (Either.isLeft(config)) return yield* new UsageError({ message: `configuration: ${String(config.left)}` })
    return config.right
  })

/** The client over undici, with the settings resolved from flags. */
export const clientLayer = (config: GrokConfig.GrokConfig) =>
  Layer.scoped(GrokClient.GrokClient, GrokClient.make(config)).pipe(Layer.provide(NodeHttpClient.layerUndici))

const timeout = Options.text("timeout").pipe(
  Options.withDescription("Timeout of one HTTP attempt, e.g. 30s, 500ms, 2m"),
  Options.optional
)
const maxRetries = Options.integer("max-retries").pipe(
  Options.withDescription("Retries after the first attempt (default policy: 3)"),
  Options.optional
)
const stream = Options.boolean("stream").pipe(Options.withDescription("Stream tokens as they arrive"))
const json = Options.boolean("json").pipe(Options.withDescription("Print one JSON object (success or failure)"))
const api = Options.choice("api", ["chat", "responses"]).pipe(
  Options.withDescription("Which API answers: chat completions, or the Responses API"),
  Options.withDefault("chat")
)
const prompt = Args.text({ name: "prompt" }).pipe(Args.atLeast(1), Args.withDescription("The prompt (words are joined)"))

/** A prompt word that is exactly an option's shape (`-x`, `--name`); a quoted prompt with spaces is text. */
const optionShaped = /^--?[A-Za-z][\w-]*$/

interface ChatResult {
  readonly model: string
  readonly content: string
  readonly usage: Chat.Usage | null
}

const runChat = (
  request: GrokClient.ChatRequest,
  options: GrokClient.StreamOptions,
  streamed: boolean,
  printTokens: boolean,
  fallbacks: ReadonlyArray<string>
): Effect.Effect<ChatResult, GrokError.GrokError, GrokClient.GrokClient> =>
  Effect.gen(function*() {
    const grok = yield* GrokClient.GrokClient
    if (!streamed) {
      const completion = fallbacks.length === 0
        ? yield* grok.chat(request, options)
        : (yield* Fallback.chat(request, { ...options, fallbacks })).value
      return { model: completion.model, content: Chat.contentOf(completion), usage: completion.usage ?? null }
    }
    const chunks = fallbacks.length === 0 ? grok.chatStream(request, options) : Fallback.chatStream(request, { ...options, fallbacks })
    const completion = yield* chunks.pipe(
      Stream.tap((chunk) => {
        const text = chunk.choices[0]?.delta.content ?? ""
        return printTokens && text !== "" ? write(text) : Effect.void
      }),
      Stream.runFold(ChatStream.ChatStreamAccumulator.empty, ChatStream.ChatStreamAccumulator.add),
      Effect.map(ChatStream.ChatStreamAccumulator.toCompletion)
    )
    if (printTokens) yield* write("\n")
    return { model: completion.model, content: Chat.contentOf(completion), usage: completion.usage ?? null }
  })

const responseResult = (response: Responses.Response): ChatResult => ({
  model: response.model,
  content: Responses.outputText(response),
  usage: response.usage == null ? null : Responses.chatUsageOf(response.usage)
})

/** The same prompt through the Responses API; streamed, the text is what the deltas said. */
const runResponses = (
  input: string,
  options: GrokClient.StreamOptions,
  streamed: boolean,
  printTokens: boolean
): Effect.Effect<ChatResult, GrokError.GrokError, GrokClient.GrokClient> =>
  Effect.gen(function*() {
    const grok = yield* GrokClient.GrokClient
    if (!streamed) return responseResult(yield* grok.responses({ input }, options))
    const nothingYet: ChatResult = { model: "", content: "", usage: null }
    const result = yield* grok.responsesStream({ input }, options).pipe(
      Stream.tap((event) =>
        printTokens && event.type === "response.output_text.delta" && event.delta !== "" ? write(event.delta) : Effect.void
      ),
      Stream.runFold(nothingYet, (sofar, event): ChatResult => {
        const final = Responses.finalResponse(event)
        if (final !== undefined) return { ...responseResult(final), content: sofar.content }
        if (event.type === "response.created") return { ...sofar, model: event.response.model }
        return event.type === "response.output_text.delta" ? { ...sofar, content: sofar.content + event.delta } : sofar
      })
    )
    if (printTokens) yield* write("\n")
    return result
  })

/** @internal */
export const chatCommand = Command.make(
  "chat",
  { ...connectionOptions, fallbackModel: fallbackModels, timeout, maxRetries, stream, json, api, prompt },
  (flags) =>
    Effect.gen(function*() {
      // @effect/cli hands unknown flags over as prompt words: refuse them rather than pay
      // for a call whose prompt is a typo (`--jsn`) or a flag missing its value (`--timeout`).
      const flagLike = flags.prompt.find((word) => optionShaped.test(word))
      if (flagLike !== undefined) {
        return yield* new UsageError({
          message: `unknown option, or an option without its value: ${flagLike} (to send it as text, quote the whole prompt)`
        })
      }
      if (flags.api === "responses" && flags.fallbackModel.length > 0) {
        return yield* new UsageError({ message: "--fallback-model works with --api chat only" })
      }
      const config = yield* resolveConfig(flags)
      let policy: RetryPolicy.RetryPolicy<GrokError.GrokError> | undefined
      if (Option.isSome(flags.maxRetries)) {
        if (flags.maxRetries.value < 0) return yield* new UsageError({ message: "--max-retries must be 0 or more" })
        policy = RetryPolicy.make({ maxRetries: flags.maxRetries.value })
      }
      const request: GrokClient.ChatRequest = { messages: [{ role: "user", content: flags.prompt.join(" ") }] }
      const before = yield* Metrics.snapshotTotals
      const answer = flags.api === "responses"
        ? runResponses(flags.prompt.join(" "), { retry: policy }, flags.stream, !flags.json)
        : runChat(request, { retry: policy }, flags.stream, !flags.json, flags.fallbackModel)
      const exit = yield* answer.pipe(
        Effect.provide(clientLayer(config)),
        Effect.exit
      )
      const attempts = (yield* Metrics.snapshotTotals).attempts - before.attempts
      if (exit._tag === "Success") {
        const { content, model, usage } = exit.value
        if (flags.json) {
          yield* printLine(JSON.stringify({ ok: true, model, content, usage, attempts }))
        } else {
          if (!flags.stream) yield* printLine(content)
          yield* printError(
            `— ${model} · ${usage?.total_tokens ?? "?"} tokens · ${attempts} attempt${attempts === 1 ? "" : "s"}`
          )
        }
        return
      }
      if (exit.cause._tag !== "Fail") return yield* exit
      const error = exit.cause.error
      if (flags.json) {
        yield* printLine(JSON.stringify({ ok: false, error: errorJson(error), attempts }))
      } else {
        yield* printError(`${describeError(error)}${error.requestId ? ` (request id ${error.requestId})` : ""}`)
        yield* printError(`${attempts} attempt${attempts === 1 ? "" : "s"}`)
      }
      return yield* new CliExit({ code: 1 })
    })
).pipe(Command.withDescription("Send one chat completion and print the answer"))
