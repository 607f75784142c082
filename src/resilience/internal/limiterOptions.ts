/**
 * Limiter options checked once and turned into plain numbers (milliseconds, per-second
 * rates, `Infinity` for "no limit"), so the engine's hot path never re-reads or re-checks them.
 *
 * @internal
 */
import { Data, Duration, Either, Option } from "effect"
import type { ConfiguredLimits, LimiterOptions } from "../RateLimiterMemory.js"

/**
 * Limiter options were out of range. `option` names the offending field; `message` says what
 * was expected and what was given.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidLimiterOptions extends Data.TaggedError("InvalidLimiterOptions")<{
  readonly option: string
  readonly message: string
}> {}

/** A key's configured quota, already multiplied by `share`. */
export interface KeyLimits {
  /** The tighter of `requestsPerSecond` and `requestsPerMinute / 60`; `Infinity` when neither. */
  readonly requestsPerSecond: number
  readonly tokensPerMinute: number
  readonly maxConcurrency: number
  /** Requests that may go back to back before pacing (>= 1), already multiplied by `share`. */
  readonly burst: number
}

export interface ResolvedOptions {
  readonly limitsFor: (key: string) => Either.Either<KeyLimits, InvalidLimiterOptions>
  readonly maxQueued: number
  /** May be `Infinity`. */
  readonly maxWaitMillis: number
  readonly startSlow: boolean
  readonly idleKeyTtlMillis: number
  readonly share: number
  readonly aimdDecrease: number
  readonly aimdGrowth: number
}

export const defaults = {
  maxQueued: 10_000,
  maxWait: Duration.seconds(60),
  startSlow: true,
  idleKeyTtl: Duration.minutes(10),
  share: 1,
  aimdDecrease: 0.7,
  aimdGrowth: 0.4
} as const

const invalid = (option: string, problem: string, given: unknown): Either.Either<never, InvalidLimiterOptions> =>
  Either.left(new InvalidLimiterOptions({ option, message: `${option}: ${problem}, got ${show(given)}` }))

const show = (input: unknown): string =>
  Duration.isDuration(input) ? Duration.format(input) : typeof input === "string" ? JSON.stringify(input) : String(input)

const isNumber = (u: unknown): u is number => typeof u === "number" && !Number.isNaN(u)

/** A rate above zero; absent (or `Infinity`) means no limit. */
const rate = (option: string, input: unknown): Either.Either<number, InvalidLimiterOptions> =>
  input === undefined
    ? Either.right(Infinity)
    : isNumber(input) && input > 0
    ? Either.right(input)
    : invalid(option, "must be a number above 0", input)

const maxConcurrency = (option: string, input: unknown): Either.Either<number, InvalidLimiterOptions> =>
  input === undefined || input === Infinity
    ? Either.right(Infinity)
    : Number.isInteger(input) && (input as number) >= 1
    ? Either.right(input as number)
    : invalid(option, "must be an integer >= 1", input)

/** No configured limit of any kind. */
export const unlimited: KeyLimits = { requestsPerSecond: Infinity, tokensPerMinute: Infinity, maxConcurrency: Infinity, burst: 1 }

const burst = (option: string, input: unknown): Either.Either<number, InvalidLimiterOptions> =>
  input === undefined
    ? Either.right(1)
    : Number.isInteger(input) && (input as number) >= 1
    ? Either.right(input as number)
    : invalid(option, "must be an integer >= 1", input)

const resolveLimits = (
  option: string,
  input: ConfiguredLimits | undefined,
  share: number
): Either.Either<KeyLimits, InvalidLimiterOptions> => {
  if (input === undefined) return Either.right(unlimited)
  if (typeof input !== "object" || input === null) return invalid(option, "must be an object", input)
  return Either.all({
    perSecond: rate(`${option}.requestsPerSecond`, input.requestsPerSecond),
    perMinute: rate(`${option}.requestsPerMinute`, input.requestsPerMinute),
    tokensPerMinute: rate(`${option}.tokensPerMinute`, input.tokensPerMinute),
    maxConcurrency: maxConcurrency(`${option}.maxConcurrency`, input.maxConcurrency),
    burst: burst(`${option}.burst`, input.burst)
  }).pipe(Either.map((limits) => ({
    requestsPerSecond: Math.min(limits.perSecond, limits.perMinute / 60) * share,
    tokensPerMinute: limits.tokensPerMinute * share,
    maxConcurrency: limits.maxConcurrency,
    burst: Math.max(1, limits.burst * share)
  })))
}

const duration = (
  option: string,
  input: Duration.DurationInput | undefined,
  fallback: Duration.Duration
): Either.Either<Duration.Duration, InvalidLimiterOptions> =>
  input === undefined
    ? Either.right(fallback)
    // Duration reads NaN and negative numbers as zero: refuse them instead of guessing.
    : typeof input === "number" && !(input >= 0)
    ? invalid(option, "must be a duration >= 0", input)
    : Option.match(Duration.decodeUnknown(input), {
      onNone: () => invalid(option, "must be a duration", input),
      onSome: Either.right
    })

const fraction = (
  option: string,
  input: unknown,
  fallback: number,
  check: (n: number) => boolean,
  expected: string
): Either.Either<number, InvalidLimiterOptions> =>
  input === undefined
    ? Either.right(fallback)
    : isNumber(input) && check(input)
    ? Either.right(input)
    : invalid(option, expected, input)

/**
 * Check every option and fill in the defaults. Limits given as a function of the key are
 * checked each time the function is called (`limitsFor`).
 */
export const resolveOptions = (options: LimiterOptions): Either.Either<ResolvedOptions, InvalidLimiterOptions> =>
  Either.gen(function*() {
    const share = yield* fraction("share", options.share, defaults.share, (n) => n > 0 && n <= 1, "must be in (0, 1]")
    const maxQueued = options.maxQueued === undefined
      ? defaults.maxQueued
      : Number.isInteger(options.maxQueued) && options.maxQueued >= 0
      ? options.maxQueued
      : yield* invalid("maxQueued", "must be an integer >= 0", options.maxQueued)
    const maxWait = yield* duration("maxWait", options.maxWait, defaults.maxWait)
    const idleKeyTtl = yield* duration("idleKeyTtl", options.idleKeyTtl, defaults.idleKeyTtl)
    if (Duration.isZero(idleKeyTtl) || !Duration.isFinite(idleKeyTtl)) {
      return yield* invalid("idleKeyTtl", "must be a finite duration above zero", options.idleKeyTtl)
    }
    if (options.startSlow !== undefined && typeof options.startSlow !== "boolean") {
      return yield* invalid("startSlow", "must be a boolean", options.startSlow)
    }
    const aimdDecrease = yield* fraction(
      "aimd.decrease",
      options.aimd?.decrease,
      defaults.aimdDecrease,
      (n) => n > 0 && n < 1,
      "must be in (0, 1)"
    )
    const aimdGrowth = yield* fraction(
      "aimd.growth",
      options.aimd?.growth,
      defaults.aimdGrowth,
      (n) => n > 0 && Number.isFinite(n),
      "must be a finite number above 0"
    )
    const limits = options.limits
    let limitsFor: ResolvedOptions["limitsFor"]
    if (typeof limits === "function") {
      limitsFor = (key) => resolveLimits(`limits(${JSON.stringify(key)})`, limits(key), share)
    } else {
      const shared = yield* resolveLimits("limits", limits, share)
      const right = Either.right(shared)
      limitsFor = () => right
    }
    return {
      limitsFor,
      maxQueued,
      maxWaitMillis: Duration.toMillis(maxWait),
      startSlow: options.startSlow ?? defaults.startSlow,
      idleKeyTtlMillis: Duration.toMillis(idleKeyTtl),
      share,
      aimdDecrease,
      aimdGrowth
    }
  })
