import { Headers } from "@effect/platform"
import { Duration } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  emptyRateLimitInfo,
  parse,
  parseCount,
  parseGenericReset,
  parseResetDuration,
  parseRetryAfter,
  parseRetryAfterMs,
  parseShouldRetry,
  type RateLimitWindow
} from "../src/resilience/RateLimitHeaders.js"

const NOW = Date.UTC(2026, 0, 1, 0, 0, 0)
const DAY_MS = 24 * 60 * 60 * 1000

const ms = (d: Duration.Duration | undefined): number | undefined => (d === undefined ? undefined : Duration.toMillis(d))

const knownNames = [
  "retry-after",
  "retry-after-ms",
  "x-should-retry",
  "x-request-id",
  "x-ratelimit-limit-requests",
  "x-ratelimit-remaining-requests",
  "x-ratelimit-reset-requests",
  "x-ratelimit-limit-tokens",
  "x-ratelimit-remaining-tokens",
  "x-ratelimit-reset-tokens",
  "x-ratelimit-limit",
  "x-ratelimit-remaining",
  "x-ratelimit-reset"
]

/** Header names biased towards the ones the parser reads, in random letter case. */
const headerName = fc.oneof(
  fc.string(),
  fc.constantFrom("__proto__", "constructor", "toString"),
  fc.tuple(fc.constantFrom(...knownNames), fc.boolean()).map(([name, upper]) => (upper ? name.toUpperCase() : name))
)
/** Values biased towards almost-valid ones. */
const headerValue = fc.oneof(
  fc.string(),
  fc.string({ unit: "binary" }),
  fc.double().map(String),
  fc.bigInt().map(String),
  fc.constantFrom("1s", "6m0s", "-1", "NaN", "Infinity", "1e400", "true", " 42 ", "Thu, 01 Jan 2099 00:00:00 GMT")
)
const headerRecord = fc.dictionary(
  headerName,
  fc.oneof(headerValue, fc.array(headerValue), fc.constant(undefined))
)

const windowIsSane = (window: RateLimitWindow): boolean =>
  [window.limit, window.remaining].every((n) => n === undefined || (Number.isInteger(n) && n >= 0 && n <= 1e12)) &&
  durationIsSane(window.resetAfter)

const durationIsSane = (d: Duration.Duration | undefined): boolean =>
  d === undefined || (Duration.toMillis(d) >= 0 && Duration.toMillis(d) <= DAY_MS)

describe("parseRetryAfter", () => {
  it.each([
    ["2", 2_000],
    ["0", 0],
    ["1.5", 1_500],
    [" 30 ", 30_000],
    ["3600", 3_600_000],
    ["315360000", DAY_MS] // ten years
  ])("reads delta-seconds %j", (value, expected) => {
    expect(ms(parseRetryAfter(value, NOW))).toBe(expected)
  })

  it.each([
    ["Thu, 01 Jan 2026 00:00:30 GMT", 30_000], // IMF-fixdate
    ["Thursday, 01-Jan-26 00:01:00 GMT", 60_000], // RFC 850
    ["Thu Jan  1 00:00:05 2026", 5_000], // asctime, read as GMT whatever the local zone
    ["Wed, 31 Dec 2025 23:59:00 GMT", 0], // in the past
    ["Fri, 01 Jan 2100 00:00:00 GMT", DAY_MS] // far future
  ])("reads the HTTP-date %j relative to now", (value, expected) => {
    expect(ms(parseRetryAfter(value, NOW))).toBe(expected)
  })

  it.each(["", "soon", "-1", "NaN", "Infinity", "1e3", "0x10", "2 s", "Thu, 01 Jan 2026 25:00:00 GMT", "9".repeat(400)])(
    "ignores %j",
    (value) => {
      expect(parseRetryAfter(value, NOW)).toBeUndefined()
    }
  )
})

describe("parseRetryAfterMs", () => {
  it("reads milliseconds, fractions too", () => {
    expect(ms(parseRetryAfterMs("250"))).toBe(250)
    expect(ms(parseRetryAfterMs("0.5"))).toBe(0.5)
  })

  it("ignores garbage and negative values", () => {
    for (const value of ["", "-5", "abc", "Infinity", "10ms"]) expect(parseRetryAfterMs(value)).toBeUndefined()
  })
})

describe("parseShouldRetry", () => {
  it("reads true and false in any case", () => {
    expect(parseShouldRetry("true")).toBe(true)
    expect(parseShouldRetry(" FALSE ")).toBe(false)
    expect(parseShouldRetry("yes")).toBeUndefined()
    expect(parseShouldRetry("")).toBeUndefined()
  })
})

describe("parseResetDuration", () => {
  it.each([
    ["1s", 1_000],
    ["6m0s", 360_000],
    ["20ms", 20],
    ["1.5s", 1_500],
    ["2h3m", 7_380_000],
    ["1h30m15s250ms", 5_415_250],
    ["2", 2_000],
    ["0.5", 500],
    ["0s", 0],
    ["48h", DAY_MS]
  ])("reads %j", (value, expected) => {
    expect(ms(parseResetDuration(value))).toBe(expected)
  })

  it.each(["", "s", "1x", "-1s", "1s-", "1.s", "m1", "Infinity"])("ignores %j", (value) => {
    expect(parseResetDuration(value)).toBeUndefined()
  })
})

describe("parseGenericReset", () => {
  it("reads delta-seconds", () => {
    expect(ms(parseGenericReset("30", NOW))).toBe(30_000)
  })

  it("reads an epoch in seconds relative to now", () => {
    expect(ms(parseGenericReset(String(NOW / 1000 + 60), NOW))).toBe(60_000)
    expect(ms(parseGenericReset(String(NOW / 1000 - 60), NOW))).toBe(0)
  })

  it("ignores garbage", () => {
    expect(parseGenericReset("tomorrow", NOW)).toBeUndefined()
    expect(parseGenericReset("-3", NOW)).toBeUndefined()
  })
})

describe("parseCount", () => {
  it("accepts integers in [0, 1e12] only", () => {
    expect(parseCount("60")).toBe(60)
    expect(parseCount("0")).toBe(0)
    expect(parseCount("1000000000000")).toBe(1e12)
    for (const value of ["1000000000001", "-1", "12.5", "1e3", "NaN", "", "many"]) {
      expect(parseCount(value)).toBeUndefined()
    }
  })
})

describe("parse", () => {
  it("reads OpenAI-style rate-limit headers", () => {
    const advice = parse(
      {
        "x-ratelimit-limit-requests": "60",
        "x-ratelimit-remaining-requests": "59",
        "x-ratelimit-reset-requests": "1s",
        "x-ratelimit-limit-tokens": "16000",
        "x-ratelimit-remaining-tokens": "15000",
        "x-ratelimit-reset-tokens": "6m0s",
        "x-request-id": "req_123"
      },
      NOW
    )
    expect(advice.rateLimit.requests).toEqual({ limit: 60, remaining: 59, resetAfter: Duration.millis(1_000) })
    expect(advice.rateLimit.tokens).toEqual({ limit: 16_000, remaining: 15_000, resetAfter: Duration.millis(360_000) })
    expect(advice.requestId).toBe("req_123")
    expect(advice.retryAfter).toBeUndefined()
    expect(advice.shouldRetry).toBeUndefined()
  })

  it("is case-insensitive and reads the first value of a repeated header", () => {
    const advice = parse({ "Retry-After": ["3", "9"], "X-Should-Retry": "false", "X-Request-ID": "abc" }, NOW)
    expect(ms(advice.retryAfter)).toBe(3_000)
    expect(advice.shouldRetry).toBe(false)
    expect(advice.requestId).toBe("abc")
  })

  it("reads @effect/platform Headers", () => {
    const headers = Headers.fromInput({ "Retry-After": "4", "X-RateLimit-Remaining-Tokens": "10" })
    const advice = parse(headers, NOW)
    expect(ms(advice.retryAfter)).toBe(4_000)
    expect(advice.rateLimit.tokens.remaining).toBe(10)
  })

  it("prefers retry-after-ms to retry-after when both are valid", () => {
    expect(ms(parse({ "retry-after-ms": "1500", "retry-after": "30" }, NOW).retryAfter)).toBe(1_500)
    expect(ms(parse({ "retry-after-ms": "soon", "retry-after": "30" }, NOW).retryAfter)).toBe(30_000)
  })

  it("fills requests from generic X-RateLimit-* headers where the specific ones are absent", () => {
    const generic = parse({ "X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "7", "X-RateLimit-Reset": "20" }, NOW)
    expect(generic.rateLimit.requests).toEqual({ limit: 100, remaining: 7, resetAfter: Duration.millis(20_000) })
    expect(generic.rateLimit.tokens).toEqual({})

    const both = parse({ "x-ratelimit-limit-requests": "60", "x-ratelimit-limit": "100", "x-ratelimit-remaining": "7" }, NOW)
    expect(both.rateLimit.requests).toEqual({ limit: 60, remaining: 7 })
  })

  it("ignores absurd and malformed values", () => {
    const advice = parse(
      {
        "x-ratelimit-limit-requests": "10000000000000",
        "x-ratelimit-remaining-requests": "-1",
        "x-ratelimit-limit-tokens": "1.5",
        "x-ratelimit-reset-tokens": "forever",
        "retry-after": "Infinity",
        "x-should-retry": "maybe",
        "x-request-id": "   "
      },
      NOW
    )
    expect(advice).toEqual({ retryAfter: undefined, shouldRetry: undefined, rateLimit: emptyRateLimitInfo, requestId: undefined })
  })

  it("caps durations at 24 hours and keeps an hour intact", () => {
    expect(ms(parse({ "retry-after": "3600" }, NOW).retryAfter)).toBe(3_600_000)
    expect(ms(parse({ "retry-after": "315360000" }, NOW).retryAfter)).toBe(DAY_MS)
  })

  it("gives empty advice for no headers", () => {
    expect(parse({}, NOW)).toEqual({ retryAfter: undefined, shouldRetry: undefined, rateLimit: emptyRateLimitInfo, requestId: undefined })
  })
})

describe("properties", () => {
  it("parse never throws and yields only sane values", () => {
    fc.assert(
      fc.property(headerRecord, fc.integer({ min: 0, max: 4_102_444_800_000 }), (headers, now) => {
        const advice = parse(headers, now)
        expect(durationIsSane(advice.retryAfter)).toBe(true)
        expect(windowIsSane(advice.rateLimit.requests)).toBe(true)
        expect(windowIsSane(advice.rateLimit.tokens)).toBe(true)
      }),
      { numRuns: 500 }
    )
  })

  it("single-value parsers never throw and durations stay within [0, 24h]", () => {
    fc.assert(
      fc.property(headerValue, (value) => {
        expect(durationIsSane(parseRetryAfter(value, NOW))).toBe(true)
        expect(durationIsSane(parseRetryAfterMs(value))).toBe(true)
        expect(durationIsSane(parseResetDuration(value))).toBe(true)
        expect(durationIsSane(parseGenericReset(value, NOW))).toBe(true)
        expect([true, false, undefined]).toContain(parseShouldRetry(value))
        const count = parseCount(value)
        expect(count === undefined || (Number.isInteger(count) && count >= 0 && count <= 1e12)).toBe(true)
      }),
      { numRuns: 1_000 }
    )
  })

  it("round-trips XmYs durations", () => {
    fc.assert(
      fc.property(fc.nat(1_439), fc.nat(59), (minutes, seconds) => {
        expect(ms(parseResetDuration(`${minutes}m${seconds}s`))).toBe((minutes * 60 + seconds) * 1000)
      })
    )
  })

  it("round-trips Nms durations", () => {
    fc.assert(
      fc.property(fc.nat(DAY_MS), (millis) => {
        expect(ms(parseResetDuration(`${millis}ms`))).toBe(millis)
      })
    )
  })

  it("reads any non-negative integer seconds, capped at 24 hours", () => {
    fc.assert(
      fc.property(fc.oneof(fc.nat(), fc.bigInt({ min: 0n, max: 10n ** 30n })), (seconds) => {
        const expected = Math.min(Number(seconds) * 1000, DAY_MS)
        expect(ms(parseRetryAfter(String(seconds), NOW))).toBe(expected)
        expect(ms(parseResetDuration(String(seconds)))).toBe(expected)
      })
    )
  })

  it("round-trips HTTP-dates", () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date(Date.UTC(2000, 0, 1)), max: new Date(Date.UTC(2100, 0, 1)), noInvalidDate: true }),
        (date) => {
          const whole = Math.floor(date.getTime() / 1000) * 1000
          const expected = Math.min(Math.max(0, whole - NOW), DAY_MS)
          expect(ms(parseRetryAfter(date.toUTCString(), NOW))).toBe(expected)
        }
      )
    )
  })
})
