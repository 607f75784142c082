import { Headers } from "@effect/platform"
import { Duration, Option } from "effect"
import { describe, expect, it } from "vitest"
import * as GrokError from "../src/GrokError.js"
import * as XaiErrorBody from "../src/schema/XaiErrorBody.js"
import { errorBodyCases } from "./support/fixtures.js"

const NOW = Date.UTC(2026, 0, 1, 0, 0, 0)

const fixtures = errorBodyCases

/** What each real body must become, decided from its documented meaning (not from the code). */
const expected: Record<string, { readonly tag: GrokError.GrokError.Tag; readonly retryable: boolean; readonly limit?: GrokError.RateLimitKind }> = {
  "incorrect-api-key-old-vocabulary": { tag: "AuthenticationFailed", retryable: false },
  "incorrect-api-key-new-vocabulary": { tag: "AuthenticationFailed", retryable: false },
  "model-not-found": { tag: "NotFound", retryable: false },
  "credits-exhausted-429": { tag: "QuotaExhausted", retryable: false },
  "credits-exhausted-403": { tag: "QuotaExhausted", retryable: false },
  "permission-denied-old-vocabulary": { tag: "PermissionDenied", retryable: false },
  "rate-limit-requests-per-minute": { tag: "RateLimited", retryable: true, limit: "requests" },
  "rate-limit-requests-per-second": { tag: "RateLimited", retryable: true, limit: "requests" },
  "rate-limit-tokens-per-minute": { tag: "RateLimited", retryable: true, limit: "tokens" },
  "model-at-capacity": { tag: "RateLimited", retryable: true, limit: "capacity" },
  "context-too-long": { tag: "ContextTooLong", retryable: false },
  "messages-endpoint-model-not-found": { tag: "BadRequest", retryable: false },
  "first-token-timeout-inside-200": { tag: "ErrorInBody", retryable: true }
}

const classify = (
  status: number,
  body: string | undefined,
  headers: GrokError.HttpAnswer["headers"] = {}
): GrokError.GrokError | undefined => GrokError.classifyResponse({ status, headers, body, nowMillis: NOW })

/** Classify an answer that must be an error. */
const failure = (status: number, body: string | undefined, headers: GrokError.HttpAnswer["headers"] = {}) => {
  const error = classify(status, body, headers)
  if (error === undefined) throw new Error(`expected an error for status ${status}`)
  return error
}

const xai = (code: string, error: string) => JSON.stringify({ code, error })

describe("real xAI error bodies", () => {
  it("covers every fixture case", () => {
    expect(fixtures.map((c) => c.name).sort()).toEqual(Object.keys(expected).sort())
  })

  it.each(fixtures.map((c) => [c.name, c] as const))("%s", (name, fixture) => {
    const want = expected[name]
    const error = failure(fixture.status, JSON.stringify(fixture.body), fixture.headers)
    expect(error._tag).toBe(want?.tag)
    expect(error.retryable).toBe(want?.retryable)
    expect(error.status).toBe(fixture.status)
    expect(error.code).toBe((fixture.body as { code: string }).code)
    if (want?.limit !== undefined) expect(error).toMatchObject({ limit: want.limit })
    expect(error.message).toContain((fixture.body as { error: string }).error)
  })
})

describe("statuses", () => {
  it.each([
    [401, "AuthenticationFailed", false],
    [403, "PermissionDenied", false],
    [404, "NotFound", false],
    [405, "BadRequest", false],
    [409, "ServerError", true],
    [413, "BadRequest", false],
    [415, "BadRequest", false],
    [422, "BadRequest", false],
    [418, "BadRequest", false],
    [301, "BadRequest", false],
    [429, "RateLimited", true],
    [500, "ServerError", true],
    [502, "ServerError", true],
    [503, "ServerError", true],
    [504, "ServerError", true],
    [599, "ServerError", true]
  ] as const)("%d gives %s (retryable: %s)", (status, tag, retryable) => {
    const error = failure(status, JSON.stringify({ error: "something" }))
    expect(error._tag).toBe(tag)
    expect(error.retryable).toBe(retryable)
  })

  it("408 is a retryable attempt timeout", () => {
    const error = failure(408, "")
    expect(error).toBeInstanceOf(GrokError.Timeout)
    expect(error).toMatchObject({ phase: "attempt", status: 408, retryable: true })
  })

  it("an unexplained 429 is a rate limit of unknown kind", () => {
    expect(failure(429, xai("resource-exhausted", "slow down"))).toMatchObject({ _tag: "RateLimited", limit: "unknown" })
  })

  it("reads the code when the message is ambiguous, in either vocabulary", () => {
    expect(failure(400, xai("unauthenticated", "no"))._tag).toBe("AuthenticationFailed")
    expect(failure(400, xai("The request does not have valid authentication credentials", "no"))._tag).toBe(
      "AuthenticationFailed"
    )
    expect(failure(422, xai("Some requested entity was not found", "no"))._tag).toBe("NotFound")
    expect(failure(400, xai("PERMISSION_DENIED", "no"))._tag).toBe("PermissionDenied")
    expect(failure(400, xai("Client specified an invalid argument", "no"))._tag).toBe("BadRequest")
  })

  it("recognises context-length messages other than xAI's", () => {
    expect(failure(400, JSON.stringify({ error: "This model's maximum context length is 8192 tokens" }))._tag).toBe(
      "ContextTooLong"
    )
    expect(failure(400, JSON.stringify({ error: "too many tokens in prompt" }))._tag).toBe("ContextTooLong")
  })

  it("reads OpenAI-shaped bodies", () => {
    const quota = failure(
      429,
      JSON.stringify({
        error: { message: "You exceeded your current quota, please check your plan.", type: "insufficient_quota", code: null }
      })
    )
    expect(quota).toMatchObject({ _tag: "QuotaExhausted", retryable: false })
    expect(quota.message).toContain("You exceeded your current quota")

    const auth = failure(401, JSON.stringify({ error: { message: "Invalid API key", code: "invalid_api_key" }, extra: 1 }))
    expect(auth).toMatchObject({ _tag: "AuthenticationFailed", code: "invalid_api_key" })
  })
})

describe("headers carried into errors", () => {
  const headers = {
    "x-request-id": "req_abc",
    "retry-after": "7",
    "x-ratelimit-limit-requests": "60",
    "x-ratelimit-remaining-requests": "0",
    "x-ratelimit-reset-tokens": "30s"
  }

  it("puts request id, Retry-After and rate limits on the error and in its message", () => {
    const error = failure(429, xai("resource-exhausted", "Too many requests for team x"), headers)
    expect(error.requestId).toBe("req_abc")
    expect(error.retryAfter && Duration.toMillis(error.retryAfter)).toBe(7_000)
    expect(error.rateLimit?.requests).toMatchObject({ limit: 60, remaining: 0 })
    expect(error).toMatchObject({ _tag: "RateLimited", resetAt: NOW + 7_000 })
    expect(error.message).toContain("HTTP 429")
    expect(error.message).toContain("request id req_abc")
    expect(error.message).toContain("Too many requests for team x")
  })

  it("reads @effect/platform Headers", () => {
    const error = failure(500, "", Headers.fromInput({ "X-Request-Id": "req_h" }))
    expect(error.requestId).toBe("req_h")
    expect(error.message).toBe("Server error (HTTP 500, request id req_h)")
  })

  it("without Retry-After, resetAt comes from the matching window's reset", () => {
    const error = failure(429, xai("resource-exhausted", "Too many tokens for team x"), {
      "x-ratelimit-reset-tokens": "30s",
      "x-ratelimit-reset-requests": "2s"
    })
    expect(error).toMatchObject({ limit: "tokens", resetAt: NOW + 30_000 })
  })

  it("without any reset information, resetAt is unknown", () => {
    expect(failure(429, xai("resource-exhausted", "Too many tokens"))).toMatchObject({ resetAt: undefined })
  })

  it("every server error carries the headers, not just RateLimited", () => {
    const error = failure(503, "", headers)
    expect(error.requestId).toBe("req_abc")
    expect(error.retryAfter && Duration.toMillis(error.retryAfter)).toBe(7_000)
    expect(error.rateLimit?.requests.limit).toBe(60)
  })
})

describe("x-should-retry", () => {
  it("false makes a 503 not retryable", () => {
    expect(failure(503, "", { "x-should-retry": "false" }).retryable).toBe(false)
  })

  it("true makes a 400 retryable", () => {
    expect(failure(400, xai("invalid-argument", "bad"), { "x-should-retry": "true" }).retryable).toBe(true)
  })

  it("applies to an error inside a 200", () => {
    const error = failure(200, xai("unavailable", "Timed out waiting for first token"), { "x-should-retry": "false" })
    expect(error).toMatchObject({ _tag: "ErrorInBody", retryable: false })
  })

  it("garbage leaves the default", () => {
    expect(failure(503, "", { "x-should-retry": "perhaps" }).retryable).toBe(true)
  })
})

describe("bodies", () => {
  it("an HTML 502 page gives a readable excerpt", () => {
    const page =
      "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"
    const error = failure(502, page, { "content-type": "text/html" })
    expect(error).toMatchObject({ _tag: "ServerError", retryable: true, code: undefined })
    expect(error.message).toBe("Server error (HTTP 502): 502 Bad Gateway 502 Bad Gateway cloudflare")
  })

  it("an empty body still gives the class and status", () => {
    expect(failure(401, "").message).toBe("Authentication failed (HTTP 401)")
    expect(failure(503, undefined)).toMatchObject({ _tag: "ServerError", message: "Server error (HTTP 503)" })
    expect(failure(429, "  ")).toMatchObject({ _tag: "RateLimited", limit: "unknown" })
  })

  it("a huge non-JSON body is cut to a 300-character excerpt", () => {
    const error = failure(500, "x".repeat(2_000_000))
    const serverPart = error.message.slice("Server error (HTTP 500): ".length)
    expect(serverPart.length).toBeLessThanOrEqual(300)
    expect(serverPart.startsWith("xxxx")).toBe(true)
  })

  it("a huge JSON message is capped too", () => {
    const error = failure(400, xai("invalid-argument", "y".repeat(50_000)))
    expect(error.message.length).toBeLessThan(1_100)
  })

  it("JSON that is not an error body is quoted as an excerpt", () => {
    const error = failure(500, JSON.stringify({ detail: "upstream died" }))
    expect(error.message).toContain("upstream died")
    expect(error.code).toBeUndefined()
  })

  it("never repeats a key or bearer token a proxy echoed back", () => {
    // A made-up key of xAI's shape, built at run time so secret scanners see no literal key.
    const fakeKey = `xai-${"AbCdEf0123456789".repeat(2)}`
    const echoed = `bad request: Authorization: Bearer ${fakeKey} was sent`
    const error = failure(400, echoed, { authorization: `Bearer ${fakeKey}` })
    expect(error.message).not.toContain("AbCdEf0123456789")
    expect(JSON.stringify(error)).not.toContain("AbCdEf0123456789")
    const json = failure(400, xai("invalid-argument", "key sk-proj-0123456789abcdef rejected"))
    expect(json.message).not.toContain("0123456789abcdef")
  })
})

describe("2xx", () => {
  const completion = JSON.stringify({
    id: "c1",
    object: "chat.completion",
    choices: [{ index: 0, message: { role: "assistant", content: "{\"code\":\"x\",\"error\":\"y\"}" }, finish_reason: "stop" }],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 }
  })

  it("a genuine success is not an error", () => {
    expect(classify(200, completion)).toBeUndefined()
    expect(classify(200, "")).toBeUndefined()
    expect(classify(200, undefined)).toBeUndefined()
    expect(classify(200, "data: {\"choices\":[]}\n\n")).toBeUndefined()
    expect(classify(202, "")).toBeUndefined()
  })

  it("an error shape next to answer fields is not an error", () => {
    expect(classify(200, JSON.stringify({ code: "x", error: "y", object: "list", data: [] }))).toBeUndefined()
    expect(classify(200, JSON.stringify({ error: "y" }))).toBeUndefined()
  })

  it("an xAI error inside a 200 is an ErrorInBody with status and request id", () => {
    const error = failure(200, xai("The service is currently unavailable", "Timed out waiting for first token"), {
      "x-request-id": "req_200"
    })
    expect(error).toBeInstanceOf(GrokError.ErrorInBody)
    expect(error).toMatchObject({ status: 200, retryable: true, requestId: "req_200" })
    expect(error.message).toContain("HTTP 200")
    expect(error.message).toContain("request id req_200")
    expect(error.message).toContain("Timed out waiting for first token")
  })

  it.each([
    ["invalid-argument", false],
    ["Client specified an invalid argument", false],
    ["permission-denied", false],
    ["not-found", false],
    ["unauthenticated", false],
    ["resource-exhausted", true],
    ["unavailable", true],
    ["internal", true]
  ] as const)("an ErrorInBody with code %s is retryable: %s", (code, retryable) => {
    expect(failure(200, xai(code, "failed")).retryable).toBe(retryable)
  })
})

describe("isGrokError", () => {
  it("recognises every class and nothing else", () => {
    const errors = [
      new GrokError.TransportError({ message: "reset", status: null, retryable: true, cause: new Error("ECONNRESET") }),
      new GrokError.CircuitOpen({ message: "open", status: null, retryable: true, key: "grok-4" }),
      new GrokError.QueueRejected({ message: "full", status: null, retryable: true, reason: "queue-full" }),
      new GrokError.IdleTimeout({
        message: "idle",
        status: 200,
        retryable: true,
        after: Duration.seconds(60),
        partial: { content: "Hel", reasoning: "", chunks: 2 }
      }),
      failure(429, "")
    ]
    for (const error of errors) expect(GrokError.isGrokError(error)).toBe(true)
    for (const other of [new Error("x"), { _tag: "BadRequest", message: "x" }, null, undefined, "BadRequest"]) {
      expect(GrokError.isGrokError(other)).toBe(false)
    }
  })

  it("constructed errors keep their fields and message", () => {
    const error = new GrokError.Timeout({
      message: "deadline of 30s passed",
      status: null,
      retryable: false,
      phase: "deadline",
      after: Duration.seconds(30)
    })
    expect(error.message).toBe("deadline of 30s passed")
    expect(error._tag).toBe("Timeout")
    expect(error).toBeInstanceOf(Error)
  })
})

describe("XaiErrorBody", () => {
  it("maps both code vocabularies to the same word", () => {
    expect(XaiErrorBody.canonicalCode("Some resource has been exhausted")).toBe("resource-exhausted")
    expect(XaiErrorBody.canonicalCode("resource-exhausted")).toBe("resource-exhausted")
    expect(XaiErrorBody.canonicalCode("RESOURCE_EXHAUSTED")).toBe("resource-exhausted")
    expect(XaiErrorBody.canonicalCode("The caller does not have permission to execute the specified operation")).toBe(
      "permission-denied"
    )
    expect(XaiErrorBody.canonicalCode("The service is currently unavailable.")).toBe("unavailable")
    expect(XaiErrorBody.canonicalCode("teapot")).toBeUndefined()
    expect(XaiErrorBody.canonicalCode(undefined)).toBeUndefined()
  })

  it("decodes both shapes and tolerates unknown fields", () => {
    expect(XaiErrorBody.fromUnknown({ code: "not-found", error: "gone", team: "t" })).toEqual(
      Option.some({ message: "gone", code: "not-found" })
    )
    expect(XaiErrorBody.fromUnknown({ error: "only a message" })).toEqual(
      Option.some({ message: "only a message", code: undefined })
    )
    expect(XaiErrorBody.fromUnknown({ error: { message: "m", type: "t", code: 42, param: null } })).toEqual(
      Option.some({ message: "m", code: "42" })
    )
    expect(Option.isNone(XaiErrorBody.fromUnknown({ message: "no error field" }))).toBe(true)
    expect(Option.isNone(XaiErrorBody.fromUnknown("text"))).toBe(true)
  })
})
