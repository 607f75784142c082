/**
 * The {@link RateLimiter} for a fleet of processes sharing one quota through Redis.
 *
 * Everything a caller sees (queue, priorities, concurrency cap, limits learned from headers,
 * slow start, AIMD) is the same in-process engine as `RateLimiterMemory`; only the admission
 * decision, the token reconciliation and the shared cooldown go to Redis, each as one Lua script
 * run atomically on the Redis server's clock (one round trip per decision).
 *
 * When Redis cannot be reached, calls — those already waiting in the queue as well as new ones —
 * either fail with `RateLimiterRejected` (reason `"unavailable"`) or are decided locally at a
 * share of the quota, in their order, under their own deadlines; they go back to Redis as soon as
 * it answers again, handing over what each process spent alone meanwhile. A dead or hung Redis
 * never makes a call wait longer than `commandTimeout`.
 *
 * @since 0.1.0
 */
import { Data, Duration, Effect, Layer, Option, Redacted, type Scope } from "effect"
import type { Cluster, Redis } from "ioredis"
import type { AdmissionStore } from "./internal/admissionStore.js"
import { withFallback } from "./internal/fallbackStore.js"
import { makeEngine } from "./internal/limiterEngine.js"
import { type InvalidLimiterOptions, resolveOptions } from "./internal/limiterOptions.js"
import * as MemoryStore from "./internal/memoryStore.js"
import * as RedisClient from "./internal/redisClient.js"
import * as RedisStore from "./internal/redisStore.js"
import { RateLimiter, type Service } from "./RateLimiter.js"
import type { LimiterOptions } from "./RateLimiterMemory.js"

/**
 * What calls do while Redis cannot be reached (those already queued included):
 * - `"fail"`: each is rejected with `RateLimiterRejected` (reason `"unavailable"`) when its own
 *   decision cannot reach Redis;
 * - `{ fallback: { share } }`: each process decides locally with `share` (0 < share <= 1) of the
 *   quota, e.g. `1 / N` for N processes; calls wait their turn as in a memory limiter at that
 *   share, and what was spent locally is handed over to Redis when it answers again.
 *
 * @since 0.1.0
 */
export type OnUnavailable = "fail" | { readonly fallback: { readonly share: number } }

/**
 * How to reach Redis: a URL (the layer opens and closes the connection) or an ioredis client
 * you own (the layer neither connects nor closes it).
 *
 * @since 0.1.0
 */
export type RedisConnection =
  | {
    /** `redis://[user:password@]host[:port][/db]` or `rediss://`; never logged. */
    readonly url: string | Redacted.Redacted<string>
    readonly client?: undefined
  }
  | {
    readonly client: Redis | Cluster
    readonly url?: undefined
  }

/**
 * @since 0.1.0
 */
export type RedisOptions = RedisConnection & {
  /** Start of every key; no `{` or `}`. Default `"effect-grok:rl"`. */
  readonly prefix?: string | undefined
  /** Default `{ fallback: { share: 0.5 } }`. */
  readonly onUnavailable?: OnUnavailable | undefined
  /** Longest wait for any Redis command. Default 250 millis. */
  readonly commandTimeout?: Duration.DurationInput | undefined
  /** Longest wait for a connection, at start-up and on each reconnection. Default 2 seconds. */
  readonly connectTimeout?: Duration.DurationInput | undefined
}

/**
 * The Redis options and the engine's options (`RateLimiterMemory.LimiterOptions`: limits, queue
 * bounds, slow start, share, AIMD), which mean the same as in memory.
 *
 * @since 0.1.0
 */
export type Options = RedisOptions & LimiterOptions

/**
 * The options cannot work (malformed URL, prefix with braces, share or timeout out of range).
 * The message never contains the URL, which may hold a password.
 *
 * @since 0.1.0
 * @category errors
 */
export class RedisOptionsError extends Data.TaggedError("RedisOptionsError")<{
  readonly message: string
}> {}

/**
 * @since 0.1.0
 */
export const defaults = {
  prefix: "effect-grok:rl",
  onUnavailable: { fallback: { share: 0.5 } },
  commandTimeout: Duration.millis(250),
  connectTimeout: Duration.seconds(2)
} as const

interface Settings {
  readonly connection:
    | { readonly _tag: "Url"; readonly url: Redacted.Redacted<string> }
    | { readonly _tag: "Client"; readonly client: Redis | Cluster }
  readonly prefix: string
  /** The share of the quota decided locally while Redis is away; `undefined` to fail instead. */
  readonly fallbackShare: number | undefined
  readonly commandTimeout: Duration.Duration
  readonly connectTimeout: Duration.Duration
}

const invalid = (message: string) => Effect.fail(new RedisOptionsError({ message: `RateLimiterRedis: ${message}` }))

const checkUrl = (url: string | Redacted.Redacted<string>): Effect.Effect<Redacted.Redacted<string>, RedisOptionsError> => {
  const redacted = typeof url === "string" ? Redacted.make(url) : url
  let parsed: URL
  try {
    parsed = new URL(Redacted.value(redacted))
  } catch {
    return invalid("`url` is not a URL; expected redis://host:port or rediss://host:port")
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") {
    return invalid(`\`url\` must start with redis:// or rediss://, not ${parsed.protocol}//`)
  }
  if (parsed.hostname === "") return invalid("`url` has no host")
  return Effect.succeed(redacted)
}

const checkDuration = (
  name: string,
  input: Duration.DurationInput | undefined,
  fallback: Duration.Duration
): Effect.Effect<Duration.Duration, RedisOptionsError> => {
  if (input === undefined) return Effect.succeed(fallback)
  const duration = Duration.decodeUnknown(input)
  return Option.isSome(duration) && Duration.isFinite(duration.value) && Duration.toMillis(duration.value) >= 1
    ? Effect.succeed(duration.value)
    : invalid(`\`${name}\` must be a finite duration of at least 1 millisecond`)
}

const checkShare = (onUnavailable: OnUnavailable): Effect.Effect<number | undefined, RedisOptionsError> => {
  if (onUnavailable === "fail") return Effect.succeed(undefined)
  const share = onUnavailable.fallback.share
  return share > 0 && share <= 1
    ? Effect.succeed(share)
    : invalid(`\`onUnavailable.fallback.share\` must be in (0, 1], got ${share}`)
}

const checkConnection = (options: RedisConnection): Effect.Effect<Settings["connection"], RedisOptionsError> => {
  if (options.url !== undefined && options.client === undefined) {
    return Effect.map(checkUrl(options.url), (url) => ({ _tag: "Url", url }))
  }
  if (options.client !== undefined && options.url === undefined) {
    return Effect.succeed({ _tag: "Client", client: options.client })
  }
  return invalid("give exactly one of `url` and `client`")
}

const checkOptions = (options: RedisOptions): Effect.Effect<Settings, RedisOptionsError> =>
  Effect.gen(function*() {
    const connection = yield* checkConnection(options)
    const prefix = options.prefix ?? defaults.prefix
    if (/[{}]/.test(prefix)) return yield* invalid("`prefix` must not contain { or } (they would break hash tags)")
    return {
      connection,
      prefix,
      fallbackShare: yield* checkShare(options.onUnavailable ?? defaults.onUnavailable),
      commandTimeout: yield* checkDuration("commandTimeout", options.commandTimeout, defaults.commandTimeout),
      connectTimeout: yield* checkDuration("connectTimeout", options.connectTimeout, defaults.connectTimeout)
    }
  })

const makeStore = (settings: Settings, idleKeyTtlMillis: number): Effect.Effect<AdmissionStore, never, Scope.Scope> =>
  Effect.gen(function*() {
    const client = settings.connection._tag === "Client"
      ? settings.connection.client
      : yield* RedisClient.connect(settings.connection.url, settings)
    const shared = RedisStore.make({ client, prefix: settings.prefix, commandTimeout: settings.commandTimeout })
    return settings.fallbackShare === undefined
      ? shared
      : withFallback(shared, yield* MemoryStore.make({ idleKeyTtlMillis }), {
        share: settings.fallbackShare,
        // As long as the client takes to drop a connection that answers nothing (its socket timeout).
        holdOffMillis: RedisClient.silentConnectionMillis(settings.commandTimeout),
        clock: yield* Effect.clock
      })
  })

/**
 * A limiter sharing its quota through Redis, for the lifetime of the scope: closing it fails
 * the calls still queued (`unavailable`) and closes the connection the limiter opened.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<Service, RedisOptionsError | InvalidLimiterOptions, Scope.Scope> =>
  Effect.gen(function*() {
    const engineOptions = yield* resolveOptions(options)
    const settings = yield* checkOptions(options)
    return yield* makeEngine(options, yield* makeStore(settings, engineOptions.idleKeyTtlMillis))
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<RateLimiter, RedisOptionsError | InvalidLimiterOptions> =>
  Layer.scoped(RateLimiter, make(options))
