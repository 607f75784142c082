/**
 * What `effect-grok chat` does (its flags: `../chat.ts`). Loaded when the command runs.
 *
 * On SIGINT or SIGTERM the call is cancelled (an attempt on the wire is aborted), and the
 * command says so: with `--json` its failure object, `error._tag` `"Interrupted"`, plus
 * `"interrupted": true`; then it exits 130 or 143.
 *
 * @internal
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Effect, Either, Option, Stream } from "effect"
import * as Fallback from "../../Fallback.js"
import * as GrokClient from "../../GrokClient.js"
import type * as GrokError from "../../GrokError.js"
import * as RetryPolicy from "../../resilience/RetryPolicy.js"
import * as Chat from "../../schema/Chat.js"
import * as ChatStream from "../../schema/ChatStream.js"
import * as Responses from "../../schema/Responses.js"
import * as Metrics from "../../telemetry/Metrics.js"
import { type ChatFlags, resolveConfig } from "../chat.js"
import { clientLayer } from "../internal/client.js"
import * as Signals from "../internal/signals.js"
import { CliExit, describeError, errorJson, printError, printLine, UsageError, write } from "../output.js"

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

const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? "" : "s"}`

/** The call was cancelled by `signal`: say so, with what it cost, and exit 130 or 143. */
const interrupted = (signal: Signals.Signal, attempts: number, flags: ChatFlags, streaming: boolean) =>
  Effect.gen(function*() {
    if (flags.json) {
      const error = errorJson({ _tag: "Interrupted", message: `interrupted by ${signal} before the answer was complete` })
      yield* printLine(JSON.stringify({ ok: false, error, attempts, interrupted: true }))
    } else {
      // Ends the line of tokens printed so far.
      if (streaming) yield* write("\n")
      yield* printError(`interrupted by ${signal} before the answer was complete · ${plural(attempts, "attempt")}`)
    }
    return yield* Signals.interruptedExit(signal)
  })

/** @internal */
export const handler = (flags: ChatFlags) =>
  Signals.handling(Effect.gen(function*() {
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
    const printTokens = !flags.json
    const answer = flags.api === "responses"
      ? runResponses(flags.prompt.join(" "), { retry: policy }, flags.stream, printTokens)
      : runChat(request, { retry: policy }, flags.stream, printTokens, flags.fallbackModel)
    // One call: node:http, rather than undici's pool or Node's fetch (see internal/client.ts).
    const outcome = yield* Signals.interruptOnStop(
      answer.pipe(
        Effect.provide(clientLayer(config, NodeHttpClient.layer)),
        Effect.exit
      )
    )
    const attempts = (yield* Metrics.snapshotTotals).attempts - before.attempts
    if (Either.isLeft(outcome)) return yield* interrupted(outcome.left, attempts, flags, flags.stream && printTokens)
    const exit = outcome.right
    if (exit._tag === "Success") {
      const { content, model, usage } = exit.value
      if (flags.json) {
        yield* printLine(JSON.stringify({ ok: true, model, content, usage, attempts }))
      } else {
        if (!flags.stream) yield* printLine(content)
        yield* printError(`— ${model} · ${usage?.total_tokens ?? "?"} tokens · ${plural(attempts, "attempt")}`)
      }
      return
    }
    if (exit.cause._tag !== "Fail") return yield* exit
    const error = exit.cause.error
    if (flags.json) {
      yield* printLine(JSON.stringify({ ok: false, error: errorJson(error), attempts }))
    } else {
      yield* printError(`${describeError(error)}${error.requestId ? ` (request id ${error.requestId})` : ""}`)
      yield* printError(plural(attempts, "attempt"))
    }
    return yield* new CliExit({ code: 1 })
  }))
