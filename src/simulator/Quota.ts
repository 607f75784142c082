/**
 * The rate limits the simulator enforces per model, the way xAI does: requests per second
 * and/or per minute, and tokens per minute.
 *
 * Requests are paced by GCRA (the generic cell rate algorithm: one "theoretical arrival
 * time" per window, no timers): each window admits `burst` requests back to back, then one
 * request per `1/rate`. Tokens use a token bucket holding one minute of tokens that refills
 * continuously. A request is admitted only when every configured window has room for it,
 * and only an admitted request is charged.
 *
 * Everything here is pure arithmetic on millisecond timestamps, so the simulator can drive
 * it from Effect's `Clock` (and tests from `TestClock`).
 *
 * @since 0.1.0
 */
import { Data, Either, Schema } from "effect"
import { describeIssues } from "./internal/issues.js"

const Rate = Schema.Number.pipe(Schema.finite(), Schema.positive())

/**
 * A quota as JSON-serialisable data. Leave a field out to not limit that dimension.
 *
 * `burst` is how many requests may arrive back to back; it defaults to one window's worth
 * (`requestsPerSecond` rounded up for the per-second window, `requestsPerMinute` for the
 * per-minute one).
 *
 * @since 0.1.0
 */
export const Quota = Schema.Struct({
  requestsPerSecond: Schema.optional(Rate),
  requestsPerMinute: Schema.optional(Rate),
  tokensPerMinute: Schema.optional(Rate),
  burst: Schema.optional(Schema.Int.pipe(Schema.positive()))
})

/**
 * @since 0.1.0
 */
export interface Quota extends Schema.Schema.Type<typeof Quota> {}

/**
 * A quota with a non-positive, non-finite or unknown field.
 *
 * @since 0.1.0
 */
export class InvalidQuota extends Data.TaggedError("InvalidQuota")<{ readonly message: string }> {}

/**
 * Checks a quota (typed or raw JSON); unknown fields are refused so that a typo such as
 * `requestPerMinute` is not silently ignored. `label` names it in the message.
 *
 * @since 0.1.0
 */
export const validate = (input: unknown, label = "quota"): Either.Either<Quota, InvalidQuota> =>
  Schema.decodeUnknownEither(Quota, { onExcessProperty: "error", errors: "all" })(input).pipe(
    Either.mapLeft((error) => new InvalidQuota({ message: `Invalid ${label}: ${describeIssues(error)}` }))
  )

/**
 * True when the quota limits nothing.
 *
 * @since 0.1.0
 */
export const isUnlimited = (quota: Quota): boolean =>
  quota.requestsPerSecond === undefined && quota.requestsPerMinute === undefined &&
  quota.tokensPerMinute === undefined

/**
 * Which limit refused a request; the names follow xAI's 429 messages.
 *
 * @since 0.1.0
 */
export type Limit = "Requests per Second" | "Requests per Minute" | "Tokens per Minute"

/**
 * Where a model stands against its quota, for rate-limit headers.
 *
 * `requests.limitPerMinute` is always per minute (a per-second quota is reported times 60),
 * `remaining` and `resetMillis` come from the tighter window; `resetMillis` is the time
 * until that window is full again.
 *
 * @since 0.1.0
 */
export interface QuotaStatus {
  readonly requests:
    | { readonly limitPerMinute: number; readonly remaining: number; readonly resetMillis: number }
    | undefined
  readonly tokens:
    | { readonly limit: number; readonly remaining: number; readonly resetMillis: number }
    | undefined
}

/**
 * The (immutable) state of one model's quota: a theoretical arrival time per request
 * window, and the bucket level with the time it was last refilled.
 *
 * @since 0.1.0
 */
export interface QuotaState {
  readonly perSecondTat: number
  readonly perMinuteTat: number
  readonly tokens: number
  readonly tokensAt: number
}

/**
 * The outcome of {@link admit}. A rejection carries what xAI's 429 message quotes
 * (`actual/allowed` for the first limit that refused) and the time until the request
 * would fit every limit.
 *
 * @since 0.1.0
 */
export type Decision =
  | { readonly _tag: "Admitted"; readonly state: QuotaState; readonly status: QuotaStatus }
  | {
    readonly _tag: "Rejected"
    readonly limit: Limit
    readonly actual: number
    readonly allowed: number
    readonly retryAfterMillis: number
    readonly status: QuotaStatus
  }

/**
 * A full quota at `nowMillis`.
 *
 * @since 0.1.0
 */
export const initialState = (quota: Quota, nowMillis: number): QuotaState => ({
  perSecondTat: nowMillis,
  perMinuteTat: nowMillis,
  tokens: quota.tokensPerMinute ?? 0,
  tokensAt: nowMillis
})

/** Float slack so that exactly-full windows are not refused by rounding. */
const EPSILON = 1e-6

interface Window {
  readonly limit: Limit
  readonly rate: number
  /** Milliseconds of debt one request adds. */
  readonly interval: number
  readonly burst: number
  readonly tat: number
}

const requestWindows = (quota: Quota, state: QuotaState): ReadonlyArray<Window> => {
  const windows: Array<Window> = []
  if (quota.requestsPerSecond !== undefined) {
    windows.push({
      limit: "Requests per Second",
      rate: quota.requestsPerSecond,
      interval: 1000 / quota.requestsPerSecond,
      burst: quota.burst ?? Math.ceil(quota.requestsPerSecond),
      tat: state.perSecondTat
    })
  }
  if (quota.requestsPerMinute !== undefined) {
    windows.push({
      limit: "Requests per Minute",
      rate: quota.requestsPerMinute,
      interval: 60_000 / quota.requestsPerMinute,
      burst: quota.burst ?? Math.ceil(quota.requestsPerMinute),
      tat: state.perMinuteTat
    })
  }
  return windows
}

const debtOf = (window: Window, nowMillis: number) => Math.max(0, window.tat - nowMillis)

const remainingOf = (window: Window, debt: number) =>
  Math.max(0, Math.floor((window.burst * window.interval - debt) / window.interval + EPSILON))

const requestsStatus = (
  quota: Quota,
  windows: ReadonlyArray<Window>,
  debts: ReadonlyArray<number>
): QuotaStatus["requests"] => {
  let tightest: { remaining: number; resetMillis: number } | undefined
  windows.forEach((window, i) => {
    const debt = debts[i] ?? 0
    const candidate = { remaining: remainingOf(window, debt), resetMillis: Math.ceil(debt) }
    if (
      tightest === undefined || candidate.remaining < tightest.remaining ||
      (candidate.remaining === tightest.remaining && candidate.resetMillis > tightest.resetMillis)
    ) {
      tightest = candidate
    }
  })
  if (tightest === undefined) return undefined
  const limitPerMinute = quota.requestsPerMinute ?? (quota.requestsPerSecond ?? 0) * 60
  return { limitPerMinute: Math.floor(limitPerMinute), ...tightest }
}

const refilledTokens = (quota: Quota, state: QuotaState, nowMillis: number) => {
  const capacity = quota.tokensPerMinute ?? 0
  const elapsed = Math.max(0, nowMillis - state.tokensAt)
  return {
    level: Math.min(capacity, state.tokens + elapsed * capacity / 60_000),
    at: Math.max(state.tokensAt, nowMillis)
  }
}

const tokensStatus = (quota: Quota, level: number): QuotaStatus["tokens"] => {
  if (quota.tokensPerMinute === undefined) return undefined
  const capacity = quota.tokensPerMinute
  return {
    limit: Math.floor(capacity),
    remaining: Math.max(0, Math.floor(level + EPSILON)),
    resetMillis: Math.ceil((capacity - level) * 60_000 / capacity)
  }
}

/**
 * Admits one request costing `tokens` at `nowMillis`, or says which limit refuses it and
 * how long until it would fit. A token cost above `tokensPerMinute` never fits (xAI
 * refuses such requests too); its `retryAfterMillis` is the time until the bucket is full.
 *
 * @since 0.1.0
 */
export const admit = (quota: Quota, state: QuotaState, nowMillis: number, tokens: number): Decision => {
  const windows = requestWindows(quota, state)
  const debts = windows.map((window) => debtOf(window, nowMillis))
  const bucket = refilledTokens(quota, state, nowMillis)

  let refusal: { limit: Limit; actual: number; allowed: number } | undefined
  let waitMillis = 0
  windows.forEach((window, i) => {
    const debt = debts[i] ?? 0
    const excess = debt + window.interval - window.burst * window.interval
    if (excess > EPSILON) {
      waitMillis = Math.max(waitMillis, excess)
      refusal ??= {
        limit: window.limit,
        actual: Math.ceil(debt / window.interval - EPSILON) + 1,
        allowed: window.rate
      }
    }
  })
  if (quota.tokensPerMinute !== undefined && tokens > bucket.level + EPSILON) {
    const capacity = quota.tokensPerMinute
    const perMilli = capacity / 60_000
    const missing = Math.min(tokens, capacity) - bucket.level
    waitMillis = Math.max(waitMillis, missing / perMilli)
    refusal ??= {
      limit: "Tokens per Minute",
      actual: Math.ceil(capacity - bucket.level + tokens - EPSILON),
      allowed: capacity
    }
  }

  if (refusal !== undefined) {
    return {
      _tag: "Rejected",
      ...refusal,
      retryAfterMillis: Math.max(1, Math.ceil(waitMillis)),
      status: { requests: requestsStatus(quota, windows, debts), tokens: tokensStatus(quota, bucket.level) }
    }
  }

  const newDebts = windows.map((window, i) => (debts[i] ?? 0) + window.interval)
  const level = quota.tokensPerMinute === undefined ? 0 : bucket.level - tokens
  const tatOf = (limit: Limit, previous: number) => {
    const i = windows.findIndex((window) => window.limit === limit)
    return i === -1 ? previous : nowMillis + (newDebts[i] ?? 0)
  }
  return {
    _tag: "Admitted",
    state: {
      perSecondTat: tatOf("Requests per Second", state.perSecondTat),
      perMinuteTat: tatOf("Requests per Minute", state.perMinuteTat),
      tokens: level,
      tokensAt: bucket.at
    },
    status: { requests: requestsStatus(quota, windows, newDebts), tokens: tokensStatus(quota, level) }
  }
}
