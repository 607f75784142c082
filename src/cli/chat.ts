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
import { Config, Effect, Either, Option } from "effect"
import * as GrokConfig from "../GrokConfig.js"
import { parseDuration } from "./args.js"
import { lazyHandler } from "./internal/lazy.js"
import { UsageError } from "./output.js"

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

const config = { ...connectionOptions, fallbackModel: fallbackModels, timeout, maxRetries, stream, json, api, prompt }

/** The flags of `chat`, as its handler (`handlers/chat.ts`) gets them. */
export type ChatFlags = Command.Command.ParseConfig<typeof config>

/** @internal */
export const chatCommand = Command.make("chat", config, lazyHandler(() => import("./handlers/chat.js"))).pipe(
  Command.withDescription("Send one chat completion and print the answer")
)
