/**
 * What a server says about rate limits and retrying, read from its response headers.
 *
 * Reads `retry-after` (delta-seconds or an HTTP-date), `retry-after-ms`, `x-should-retry`,
 * the OpenAI-style `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, the generic
 * `X-RateLimit-{Limit,Remaining,Reset}`, and `x-request-id`.
 *
 * Headers come from servers we do not control, so nothing here throws: a value that is
 * garbage, negative, not finite or absurd is ignored (reads as `undefined`). Durations are
 * capped at {@link maxDuration} (24 hours) so a broken header can never make a client sleep
 * for years; counts must be integers in [0, 1e12]. Pure functions: the current time is an
 * argument, so callers pass `Clock` time and tests pass a constant.
 *
 * Provider-agnostic: nothing here knows about Grok.
 *
 * @since 0.1.0
 */
import type { Headers } from "@effect/platform"
import { Duration } from "effect"

/**
 * One rate-limit window as the server describes it. Each field is present only when its
 * header was present and valid.
 *
 * @since 0.1.0
 */
export interface RateLimitWindow {
  /** The window's allowance (requests or tokens per minute, by convention). */
  readonly limit?: number | undefined
  /** What is left of the allowance in the current window. */
  readonly remaining?: number | undefined
  /** Time until the window resets. */
  readonly resetAfter?: Duration.Duration | undefined
}

/**
 * Rate-limit state for requests and for tokens.
 *
 * Convention: `x-ratelimit-limit-requests` is requests per minute and
 * `x-ratelimit-limit-tokens` tokens per minute; the generic `X-RateLimit-*` headers describe
 * requests and fill `requests` wherever the specific headers are absent or invalid.
 *
 * @since 0.1.0
 */
export interface RateLimitInfo {
  readonly requests: RateLimitWindow
  readonly tokens: RateLimitWindow
}

/**
 * No rate-limit information at all.
 *
 * @since 0.1.0
 */
export const emptyRateLimitInfo: RateLimitInfo = { requests: {}, tokens: {} }

/**
 * Everything a response's headers say about retrying.
 *
 * @since 0.1.0
 */
export interface ServerAdvice {
  /** How long the server asks us to wait; `retry-after-ms` wins over `retry-after`. */
  readonly retryAfter: Duration.Duration | undefined
  /** `x-should-retry`: the server's explicit yes/no, which overrides our own judgement. */
  readonly shouldRetry: boolean | undefined
  readonly rateLimit: RateLimitInfo
  /** `x-request-id`: quote it in errors, logs and support tickets. */
  readonly requestId: string | undefined
}

/**
 * Headers as @effect/platform hands them over, or a plain record (any letter case; for an
 * array value the first element is read).
 *
 * @since 0.1.0
 */
export type HeaderSource =
  | Headers.Headers
  | Readonly<Record<string, string | ReadonlyArray<string> | undefined>>

/**
 * The longest duration any header can yield. A longer one is capped to this.
 *
 * @since 0.1.0
 */
export const maxDuration: Duration.Duration = Duration.hours(24)

const MAX_MILLIS = Duration.toMillis(maxDuration)
const MAX_COUNT = 1e12
/** Real header values are short; a longer one is garbage and not worth a regex. */
const MAX_VALUE_LENGTH = 128
const MAX_REQUEST_ID_LENGTH = 256

const DECIMAL = /^\d+(?:\.\d+)?$/
const INTEGER = /^\d+$/
const GO_DURATION = /^(?:\d+(?:\.\d+)?(?:ms|us|µs|ns|h|m|s))+$/
const GO_DURATION_PART = /(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)/g

const UNIT_MILLIS: Readonly<Record<string, number>> = {
  h: 3_600_000,
  m: 60_000,
  s: 1_000,
  ms: 1,
  us: 0.001,
  "µs": 0.001,
  ns: 0.000_001
}

const cleaned = (value: string): string | undefined => {
  const trimmed = value.trim()
  return trimmed.length > 0 && trimmed.length <= MAX_VALUE_LENGTH ? trimmed : undefined
}

/** A non-negative finite millisecond count, capped at 24 hours; anything else is ignored. */
const cappedMillis = (millis: number): Duration.Duration | undefined =>
  Number.isFinite(millis) && millis >= 0 ? Duration.millis(Math.min(millis, MAX_MILLIS)) : undefined

const decimal = (value: string): number | undefined => {
  const text = cleaned(value)
  return text !== undefined && DECIMAL.test(text) ? Number(text) : undefined
}

/**
 * A count header (`x-ratelimit-limit-*`, `x-ratelimit-remaining-*`): an integer in [0, 1e12].
 *
 * @since 0.1.0
 */
export const parseCount = (value: string): number | undefined => {
  const text = cleaned(value)
  if (text === undefined || !INTEGER.test(text)) return undefined
  const count = Number(text)
  return count <= MAX_COUNT ? count : undefined
}

/**
 * `retry-after-ms`: a non-negative number of milliseconds (fractions allowed).
 *
 * @since 0.1.0
 */
export const parseRetryAfterMs = (value: string): Duration.Duration | undefined => {
  const millis = decimal(value)
  return millis === undefined ? undefined : cappedMillis(millis)
}

/**
 * `retry-after`: delta-seconds (fractions tolerated) or an HTTP-date, relative to
 * `nowMillis`. A date in the past means "now" (zero).
 *
 * @since 0.1.0
 */
export const parseRetryAfter = (value: string, nowMillis: number): Duration.Duration | undefined => {
  const seconds = decimal(value)
  if (seconds !== undefined) return cappedMillis(seconds * 1000)
  const text = cleaned(value)
  const at = text === undefined ? undefined : parseHttpDate(text)
  return at === undefined ? undefined : cappedMillis(Math.max(0, at - nowMillis))
}

/**
 * `x-should-retry`: `true` or `false` (any letter case).
 *
 * @since 0.1.0
 */
export const parseShouldRetry = (value: string): boolean | undefined => {
  const text = value.trim().toLowerCase()
  return text === "true" ? true : text === "false" ? false : undefined
}

/**
 * `x-ratelimit-reset-*`: a Go-style duration (`1s`, `6m0s`, `20ms`, `1.5s`, `2h3m`) or bare
 * seconds (`2`, `0.5`).
 *
 * @since 0.1.0
 */
export const parseResetDuration = (value: string): Duration.Duration | undefined => {
  const text = cleaned(value)
  if (text === undefined) return undefined
  if (DECIMAL.test(text)) return cappedMillis(Number(text) * 1000)
  if (!GO_DURATION.test(text)) return undefined
  let millis = 0
  for (const [, amount, unit] of text.matchAll(GO_DURATION_PART)) {
    millis += Number(amount) * (UNIT_MILLIS[unit ?? ""] ?? Number.NaN)
  }
  return cappedMillis(millis)
}

/**
 * Generic `X-RateLimit-Reset`: delta-seconds, or (for values above 1e9) an epoch in seconds,
 * made relative to `nowMillis`. A past epoch means zero.
 *
 * @since 0.1.0
 */
export const parseGenericReset = (value: string, nowMillis: number): Duration.Duration | undefined => {
  const seconds = decimal(value)
  if (seconds === undefined) return undefined
  return cappedMillis(seconds > 1e9 ? Math.max(0, seconds * 1000 - nowMillis) : seconds * 1000)
}

/**
 * Read every header this module knows. Never fails; unknown or invalid headers are ignored.
 *
 * @since 0.1.0
 */
export const parse = (headers: HeaderSource, nowMillis: number): ServerAdvice => {
  const get = lookup(headers)
  const read = <A>(name: string, parser: (value: string) => A | undefined): A | undefined => {
    const value = get(name)
    return value === undefined ? undefined : parser(value)
  }
  const retryAfter = read("retry-after-ms", parseRetryAfterMs) ??
    read("retry-after", (value) => parseRetryAfter(value, nowMillis))
  const requests = window({
    limit: read("x-ratelimit-limit-requests", parseCount) ?? read("x-ratelimit-limit", parseCount),
    remaining: read("x-ratelimit-remaining-requests", parseCount) ?? read("x-ratelimit-remaining", parseCount),
    resetAfter: read("x-ratelimit-reset-requests", parseResetDuration) ??
      read("x-ratelimit-reset", (value) => parseGenericReset(value, nowMillis))
  })
  const tokens = window({
    limit: read("x-ratelimit-limit-tokens", parseCount),
    remaining: read("x-ratelimit-remaining-tokens", parseCount),
    resetAfter: read("x-ratelimit-reset-tokens", parseResetDuration)
  })
  return {
    retryAfter,
    shouldRetry: read("x-should-retry", parseShouldRetry),
    rateLimit: { requests, tokens },
    requestId: read("x-request-id", parseRequestId)
  }
}

const parseRequestId = (value: string): string | undefined => {
  const text = value.trim()
  return text.length > 0 && text.length <= MAX_REQUEST_ID_LENGTH ? text : undefined
}

/** A window without `undefined` fields, so that equal headers give equal values. */
const window = (fields: RateLimitWindow): RateLimitWindow =>
  Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined))

/** Case-insensitive lookup; for a repeated header the first value is read. */
const lookup = (headers: HeaderSource): (name: string) => string | undefined => {
  const byName = new Map<string, string>()
  for (const [name, value] of Object.entries(headers)) {
    const first: unknown = Array.isArray(value) ? value[0] : value
    const key = name.toLowerCase()
    if (typeof first === "string" && !byName.has(key)) byName.set(key, first)
  }
  return (name) => byName.get(name)
}

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

/** `Sun, 06 Nov 1994 08:49:37 GMT` (the preferred form). */
const IMF_FIXDATE = /^[a-z]{3}, (\d{2}) ([a-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) gmt$/i
/** `Sunday, 06-Nov-94 08:49:37 GMT` (obsolete). */
const RFC_850 = /^[a-z]{6,9}, (\d{2})-([a-z]{3})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) gmt$/i
/** `Sun Nov  6 08:49:37 1994` (obsolete; always GMT). */
const ASCTIME = /^[a-z]{3} ([a-z]{3}) ( ?\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/i

/**
 * The three HTTP-date forms of RFC 9110, read as UTC epoch milliseconds. Parsed by hand
 * because `Date.parse` reads the asctime form in the local time zone and accepts much that
 * is not an HTTP-date.
 */
const parseHttpDate = (text: string): number | undefined => {
  const imf = IMF_FIXDATE.exec(text)
  if (imf) return utc(imf[3], imf[2], imf[1], imf[4], imf[5], imf[6])
  const rfc850 = RFC_850.exec(text)
  if (rfc850) {
    const yy = Number(rfc850[3])
    return utc(String(yy < 70 ? 2000 + yy : 1900 + yy), rfc850[2], rfc850[1], rfc850[4], rfc850[5], rfc850[6])
  }
  const asctime = ASCTIME.exec(text)
  if (asctime) return utc(asctime[6], asctime[1], asctime[2], asctime[3], asctime[4], asctime[5])
  return undefined
}

const utc = (
  year: string | undefined,
  monthName: string | undefined,
  day: string | undefined,
  hour: string | undefined,
  minute: string | undefined,
  second: string | undefined
): number | undefined => {
  const month = MONTHS.indexOf((monthName ?? "").toLowerCase())
  const d = Number(day)
  const h = Number(hour)
  const m = Number(minute)
  const s = Number(second)
  if (month < 0 || !(d >= 1 && d <= 31 && h <= 23 && m <= 59 && s <= 60)) return undefined
  return Date.UTC(Number(year), month, d, h, m, s)
}
