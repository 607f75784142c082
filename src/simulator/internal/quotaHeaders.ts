/**
 * Rate-limit and Retry-After headers in the forms clients meet in the wild.
 *
 * @internal
 */
import type * as Quota from "../Quota.js"
import type { HeaderMode, RetryAfterMode } from "../Simulator.js"

export type Headers = Readonly<Record<string, string>>

/** Go's `time.Duration` text at millisecond precision, as OpenAI-style servers send it: `20ms`, `1.5s`, `6m0s`. */
export const goDuration = (millis: number): string => {
  const ms = Math.max(0, Math.ceil(millis))
  if (ms === 0) return "0s"
  if (ms < 1000) return `${ms}ms`
  const hours = Math.floor(ms / 3_600_000)
  const minutes = Math.floor((ms % 3_600_000) / 60_000)
  const seconds = `${(ms % 60_000) / 1000}s`
  if (hours > 0) return `${hours}h${minutes}m${seconds}`
  if (minutes > 0) return `${minutes}m${seconds}`
  return seconds
}

/**
 * `openai`: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` with the requests limit
 * per minute. `generic`: `X-RateLimit-{Limit,Remaining,Reset}` for requests, reset in whole
 * seconds.
 */
export const rateLimitHeaders = (mode: HeaderMode, status: Quota.QuotaStatus): Headers => {
  const headers: Record<string, string> = {}
  const { requests, tokens } = status
  if (mode === "openai") {
    if (requests !== undefined) {
      headers["x-ratelimit-limit-requests"] = String(requests.limitPerMinute)
      headers["x-ratelimit-remaining-requests"] = String(requests.remaining)
      headers["x-ratelimit-reset-requests"] = goDuration(requests.resetMillis)
    }
    if (tokens !== undefined) {
      headers["x-ratelimit-limit-tokens"] = String(tokens.limit)
      headers["x-ratelimit-remaining-tokens"] = String(tokens.remaining)
      headers["x-ratelimit-reset-tokens"] = goDuration(tokens.resetMillis)
    }
  } else if (mode === "generic" && requests !== undefined) {
    headers["X-RateLimit-Limit"] = String(requests.limitPerMinute)
    headers["X-RateLimit-Remaining"] = String(requests.remaining)
    headers["X-RateLimit-Reset"] = String(Math.ceil(requests.resetMillis / 1000))
  }
  return headers
}

/**
 * The wait before a retry can succeed: `retry-after` in whole seconds (rounded up),
 * `retry-after-ms`, or `retry-after` as an HTTP-date (rounded up to the next second, so a
 * client that waits until then is never early).
 */
export const retryAfterHeaders = (mode: RetryAfterMode, waitMillis: number, nowMillis: number): Headers => {
  switch (mode) {
    case "none":
      return {}
    case "seconds":
      return { "retry-after": String(Math.max(1, Math.ceil(waitMillis / 1000))) }
    case "ms":
      return { "retry-after-ms": String(Math.max(1, Math.ceil(waitMillis))) }
    case "http-date":
      return { "retry-after": new Date(Math.ceil((nowMillis + waitMillis) / 1000) * 1000).toUTCString() }
  }
}
