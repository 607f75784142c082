/**
 * Settings of a {@link GrokClient}: where to call, with which key, which model by default,
 * and how long an attempt and a whole call may take.
 *
 * Everything is validated once, when the client's layer is built: a missing key or an
 * unsafe base URL fails at start-up with a `ConfigError`, never as a 401 later.
 *
 * @since 0.1.0
 */
import { Config, ConfigError, Duration, Either, Option, Redacted } from "effect"

/**
 * @since 0.1.0
 */
export interface GrokConfig {
  /** The xAI API key. Redacted: it prints as `<redacted>` everywhere. */
  readonly apiKey: Redacted.Redacted<string>
  /** Base URL including the version path, without a trailing slash, e.g. `https://api.x.ai/v1`. */
  readonly baseUrl: string
  /** Model used when a request names none. */
  readonly model: string
  /**
   * Upper bound of one HTTP attempt (a retry gets a fresh one). When unset, the
   * `RetryPolicy.RetrySettings` in context decide (default 5 minutes).
   */
  readonly attemptTimeout: Duration.Duration | undefined
  /**
   * Upper bound of a whole call: every attempt and every wait between attempts. When unset,
   * the `RetryPolicy.RetrySettings` in context decide (default 10 minutes).
   */
  readonly deadline: Duration.Duration | undefined
  /**
   * Who the quota belongs to, for the rate limiter: xAI limits per team and model, so clients
   * with the same `rateLimitKey` (e.g. your team id), whatever their API keys, share one
   * quota in the limiter they use. When unset, each API key is its own (a hash of it, never
   * the key itself).
   */
  readonly rateLimitKey: string | undefined
}

/**
 * What a user may pass; everything but the key has a default.
 *
 * @since 0.1.0
 */
export interface GrokConfigInput {
  readonly apiKey: Redacted.Redacted<string> | string
  readonly baseUrl?: string | undefined
  readonly model?: string | undefined
  readonly attemptTimeout?: Duration.DurationInput | undefined
  readonly deadline?: Duration.DurationInput | undefined
  readonly rateLimitKey?: string | undefined
}

/** @since 0.1.0 */
export const defaultBaseUrl = "https://api.x.ai/v1"

/**
 * The model used when neither the request nor the config names one: xAI's current general
 * model. Its retirement notice of 2026-05-15 serves the retired ids (`grok-4-0709`,
 * `grok-4-fast-*`, `grok-3`, ...) as grok-4.3 anyway.
 *
 * @since 0.1.0
 */
export const defaultModel = "grok-4.3"

const loopbackHosts = new Set(["localhost", "[::1]", "::1"])

/**
 * Whether a host name is the local machine. Plain `http://` is only allowed there, so a
 * key never crosses a network in clear text.
 *
 * @since 0.1.0
 */
export const isLoopbackHost = (hostname: string): boolean =>
  loopbackHosts.has(hostname) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)

/**
 * Normalise and check a base URL: `https://` anywhere, `http://` only on loopback.
 *
 * @since 0.1.0
 */
export const validateBaseUrl = (raw: string): Either.Either<string, ConfigError.ConfigError> => {
  let url: URL
  try {
    url = new URL(raw.trim())
  } catch {
    return Either.left(ConfigError.InvalidData(["XAI_BASE_URL"], `not a URL: ${JSON.stringify(raw)}`))
  }
  if (url.protocol === "http:" && !isLoopbackHost(url.hostname)) {
    return Either.left(
      ConfigError.InvalidData(
        ["XAI_BASE_URL"],
        `plain http:// is refused for ${url.hostname}: the API key would cross the network in clear text; use https:// (http:// is allowed on loopback only)`
      )
    )
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return Either.left(ConfigError.InvalidData(["XAI_BASE_URL"], `unsupported protocol ${url.protocol}`))
  }
  if (url.username !== "" || url.password !== "") {
    return Either.left(ConfigError.InvalidData(["XAI_BASE_URL"], "credentials in the URL are refused"))
  }
  return Either.right(url.href.replace(/\/+$/, ""))
}

const shortUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/**
 * Read a duration as people write it: `30s`, `500ms`, `2m`, `1.5s`, `1h`, a bare number of
 * seconds (`30`), or Effect's own form (`30 seconds`). Zero, negative and non-finite values
 * are refused. The environment (`XAI_TIMEOUT`, `XAI_DEADLINE`) and the CLI's flags read
 * durations with it.
 *
 * @since 0.2.0
 */
export const parseDuration = (raw: string): Either.Either<Duration.Duration, string> => {
  const text = raw.trim()
  const short = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text)
  const duration = short !== null
    ? Option.some(Duration.millis(Number(short[1]) * (shortUnits[short[2] ?? "s"] ?? 1000)))
    : Duration.decodeUnknown(text)
  if (Option.isNone(duration) || !Duration.isFinite(duration.value) || Duration.toMillis(duration.value) <= 0) {
    return Either.left(`expected a positive duration such as 30s, 500ms or 2m, got ${JSON.stringify(raw)}`)
  }
  return Either.right(duration.value)
}

const validateDuration = (
  name: string,
  input: Duration.DurationInput
): Either.Either<Duration.Duration, ConfigError.ConfigError> => {
  const decoded = typeof input === "string"
    ? Either.getRight(parseDuration(input))
    : Duration.decodeUnknown(input)
  if (decoded._tag === "None" || !Duration.isFinite(decoded.value) || Duration.toMillis(decoded.value) <= 0) {
    return Either.left(ConfigError.InvalidData([name], `expected a positive duration such as 30s, 500ms or 2m, got ${String(input)}`))
  }
  return Either.right(decoded.value)
}

/** A duration variable, read with {@link parseDuration}; absent is `undefined`. */
const durationVariable = (name: string): Config.Config<Duration.Duration | undefined> =>
  Config.string(name).pipe(
    Config.mapOrFail((raw) => Either.mapLeft(parseDuration(raw), (problem) => ConfigError.InvalidData([], problem))),
    Config.option,
    Config.map(Option.getOrUndefined)
  )

/**
 * The key variable. Read as a string and redacted at once: `Config.redacted` would also
 * redact its own error, and a missing key would read `Missing data at XAI_API_KEY: "<redacted>"`.
 */
const apiKeyVariable: Config.Config<Redacted.Redacted<string>> = Config.string("XAI_API_KEY").pipe(
  Config.option,
  Config.mapOrFail(Option.match({
    onNone: () =>
      Either.left(
        ConfigError.MissingData(
          ["XAI_API_KEY"],
          "not set: export your xAI API key (console.x.ai), or run on the local simulator (GrokSimulator.layerClient, `npx effect-grok demo`)"
        )
      ),
    onSome: (key) => Either.right(Redacted.make(key))
  }))
)

/**
 * Build a validated config from plain values.
 *
 * @since 0.1.0
 */
export const make = (input: GrokConfigInput): Either.Either<GrokConfig, ConfigError.ConfigError> =>
  Either.gen(function*() {
    const apiKey = Redacted.isRedacted(input.apiKey) ? input.apiKey : Redacted.make(input.apiKey)
    if (Redacted.value(apiKey).trim() === "") {
      return yield* Either.left(ConfigError.MissingData(["XAI_API_KEY"], "the API key is empty"))
    }
    const baseUrl = yield* validateBaseUrl(input.baseUrl ?? defaultBaseUrl)
    const model = (input.model ?? defaultModel).trim()
    if (model === "") return yield* Either.left(ConfigError.InvalidData(["XAI_MODEL"], "the model name is empty"))
    const attemptTimeout = input.attemptTimeout === undefined
      ? undefined
      : yield* validateDuration("XAI_TIMEOUT", input.attemptTimeout)
    const deadline = input.deadline === undefined ? undefined : yield* validateDuration("XAI_DEADLINE", input.deadline)
    const rateLimitKey = input.rateLimitKey?.trim()
    if (rateLimitKey === "") {
      return yield* Either.left(ConfigError.InvalidData(["XAI_RATE_LIMIT_KEY"], "the rate-limit key is empty"))
    }
    return { apiKey, baseUrl, model, attemptTimeout, deadline, rateLimitKey }
  })

/**
 * Read the config from the environment (or any `ConfigProvider`): `XAI_API_KEY` (required),
 * `XAI_BASE_URL`, `XAI_MODEL`, `XAI_TIMEOUT` and `XAI_DEADLINE` (durations such as `30s` or `2m`),
 * `XAI_RATE_LIMIT_KEY`.
 *
 * @since 0.1.0
 */
export const fromEnv: Config.Config<GrokConfig> = Config.all({
  apiKey: apiKeyVariable,
  baseUrl: Config.string("XAI_BASE_URL").pipe(Config.withDefault(defaultBaseUrl)),
  model: Config.string("XAI_MODEL").pipe(Config.withDefault(defaultModel)),
  attemptTimeout: durationVariable("XAI_TIMEOUT"),
  deadline: durationVariable("XAI_DEADLINE"),
  rateLimitKey: Config.string("XAI_RATE_LIMIT_KEY").pipe(Config.option, Config.map(Option.getOrUndefined))
}).pipe(Config.mapOrFail(make))
