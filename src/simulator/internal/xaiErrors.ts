/**
 * The error bodies the simulator answers with, worded like xAI's real ones
 * (see test/fixtures/xai-error-bodies.json): `{"code": "<kebab-case>", "error": "<message>"}`.
 *
 * @internal
 */
import type * as Quota from "../Quota.js"

export interface XaiErrorBody {
  readonly code: string
  readonly error: string
}

/** The team id xAI quotes in its messages, masked as in the public reports. */
const TEAM_ID = "00000000-0000-0000-0000-000000000000"

const body = (code: string, error: string): XaiErrorBody => ({ code, error })

/** `xai-abc...xyz` becomes `xa***yz`, as xAI quotes a wrong key back. */
const maskKey = (key: string): string => key.length < 6 ? "***" : `${key.slice(0, 2)}***${key.slice(-2)}`

export const missingKey = body(
  "unauthenticated",
  "No API key provided. Send your key as 'Authorization: Bearer <key>'. You can obtain an API key from https://console.x.ai."
)

export const incorrectKey = (key: string) =>
  body(
    "invalid-argument",
    `Incorrect API key provided: ${maskKey(key)}. You can obtain an API key from https://console.x.ai.`
  )

export const notFound = (method: string, path: string) =>
  body("not-found", `No route matches ${method} ${path}.`)

export const methodNotAllowed = (method: string, path: string) =>
  body("method-not-allowed", `Method ${method} is not allowed on ${path}.`)

export const invalidJson = (detail: string) =>
  body("invalid-argument", `Failed to parse the request body as JSON: ${detail}`)

export const unprocessable = (detail: string) =>
  body("invalid-argument", `Failed to deserialize the JSON body into the target type: ${detail}`)

export const bodyTooLarge = (limitBytes: number) =>
  body("invalid-argument", `The request body is larger than ${limitBytes} bytes.`)

export const modelNotFound = (model: string) =>
  body(
    "not-found",
    `The model ${model} does not exist or your team ${TEAM_ID} does not have access to it. ` +
      "If you believe this is a mistake, please contact support and quote your team ID and the model name."
  )

export const rateLimited = (model: string, limit: Quota.Limit, actual: number, allowed: number) =>
  body(
    "resource-exhausted",
    `Too many ${limit === "Tokens per Minute" ? "tokens" : "requests"} for team ${TEAM_ID} and model ${model}. ` +
      `Your team's rate limit is — ${limit} (actual/limit): ${actual}/${allowed}.` +
      (limit === "Tokens per Minute" ? " You can view your team rate limits at https://console.x.ai." : "")
  )

/** The 200 that is a failure: what xAI sends when a stream never produced its first token. */
export const firstTokenTimeout = body("The service is currently unavailable", "Timed out waiting for first token")

/** A plausible body for an injected status that came without one. */
export const forStatus = (status: number): XaiErrorBody => {
  switch (status) {
    case 400:
      return body("invalid-argument", "Client specified an invalid argument.")
    case 401:
      return missingKey
    case 403:
      return body("permission-denied", "The caller does not have permission to execute the specified operation.")
    case 404:
      return body("not-found", "The requested resource was not found.")
    case 408:
      return body("deadline-exceeded", "The request timed out.")
    case 413:
      return body("invalid-argument", "The request is too large.")
    case 429:
      return body(
        "resource-exhausted",
        "The model is currently at capacity due to high demand. Please try again in a few minutes, " +
          "or use a higher service tier for priority processing."
      )
    case 500:
      return body("internal", "Internal server error.")
    case 502:
      return body("unavailable", "Bad gateway.")
    case 503:
      return body("unavailable", "The service is currently unavailable.")
    case 504:
      return body("deadline-exceeded", "Gateway timeout.")
    default:
      return body(status >= 500 ? "internal" : "unknown", `HTTP ${status}.`)
  }
}
