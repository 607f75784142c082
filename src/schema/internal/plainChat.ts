/**
 * Fast recognisers for the common shapes of a chat request and a chat completion, in front of
 * their schemas.
 *
 * Decoding with `Schema` is an interpreter walking the schema's AST: in a tight loop it costs
 * 2-4 µs, but on the call path of a real request (caches cold between I/O waits) the request's
 * validation and the answer's decoding measured 40-72 and 19-53 µs above a raw call, against
 * 13-19 and 6-10 µs for these checks (`npm run bench -- --only overhead-pieces`). These functions accept only the plain shapes nearly every call has,
 * field by field as the schema reads them, and answer `false` for anything else, which then
 * goes through the schema as before. What they accept, the schema accepts and decodes to an
 * equal value: `test/plainChat.test.ts` checks that with fast-check, so the schemas in
 * `Chat.ts` stay the single source of truth and these stay a shortcut.
 *
 * @internal
 */
import { Either, type ParseResult, Schema } from "effect"
import * as Chat from "../Chat.js"

type Fields = Readonly<Record<string, unknown>>

const isObject = (u: unknown): u is Fields => typeof u === "object" && u !== null && !Array.isArray(u)

const isPositiveInt = (u: unknown): boolean => typeof u === "number" && Number.isSafeInteger(u) && u > 0

const isBetween = (u: unknown, min: number, max: number): boolean => typeof u === "number" && u >= min && u <= max

/** `maybe(S)` in `wire.ts`: absent, `undefined`, `null`, or an `S`. */
const isMaybe = (u: unknown, is: (u: unknown) => boolean): boolean => u === undefined || u === null || is(u)

const isString = (u: unknown): boolean => typeof u === "string"

const isNumber = (u: unknown): boolean => typeof u === "number"

/** A system or user message with text content, or an assistant message with text (or no) content and no tool calls. */
const isPlainMessage = (u: unknown): boolean => {
  if (!isObject(u)) return false
  const { content, name, role } = u
  if (name !== undefined && typeof name !== "string") return false
  if (role === "system" || role === "user") return typeof content === "string"
  return role === "assistant" && u.tool_calls === undefined && (content === undefined || content === null || typeof content === "string")
}

/**
 * Request fields whose plain form this module checks. Any other field of the schema
 * (`tools`, `tool_choice`, `response_format`, `stop`, `stream_options`) sends the request
 * through the schema; keys the schema does not name are kept as they are, as it keeps them.
 */
const requestChecks: ReadonlyArray<readonly [string, (u: unknown) => boolean]> = [
  ["max_tokens", isPositiveInt],
  ["max_completion_tokens", isPositiveInt],
  ["temperature", (u) => isBetween(u, 0, 2)],
  ["top_p", (u) => isBetween(u, 0, 1)],
  ["n", isPositiveInt],
  ["seed", (u) => typeof u === "number" && Number.isSafeInteger(u)],
  ["stream", (u) => typeof u === "boolean"],
  ["reasoning_effort", isString],
  ["user", isString],
  ["deferred", (u) => typeof u === "boolean"],
  ["service_tier", isString]
]

const schemaOnly = ["tools", "tool_choice", "response_format", "stop", "stream_options"]

/**
 * A chat request in its plain form: a model, text messages, and only scalar options. Such a
 * request is its own decoding (the schema keeps unknown keys).
 */
export const isPlainRequest = (u: unknown): u is Chat.ChatCompletionRequest => {
  if (!isObject(u)) return false
  if (typeof u.model !== "string" || u.model.length === 0) return false
  const messages = u.messages
  if (!Array.isArray(messages) || messages.length === 0) return false
  for (const message of messages) if (!isPlainMessage(message)) return false
  for (const [key, check] of requestChecks) {
    const value = u[key]
    if (value !== undefined && !check(value)) return false
  }
  for (const key of schemaOnly) if (u[key] !== undefined) return false
  return true
}

/** Whether every own key of `u` is one of `keys`: the completion's schema drops other keys, so such objects go through it. */
const hasOnly = (u: Fields, keys: ReadonlySet<string>): boolean => {
  for (const key in u) if (!keys.has(key)) return false
  return true
}

const promptDetailsKeys = new Set(["text_tokens", "audio_tokens", "image_tokens", "cached_tokens"])
const completionDetailsKeys = new Set(["reasoning_tokens", "audio_tokens", "accepted_prediction_tokens", "rejected_prediction_tokens"])
const usageKeys = new Set([
  "prompt_tokens",
  "completion_tokens",
  "total_tokens",
  "prompt_tokens_details",
  "completion_tokens_details",
  "num_sources_used",
  "cost_in_usd_ticks"
])
const messageKeys = new Set(["role", "content", "reasoning_content", "refusal"])
const choiceKeys = new Set(["index", "message", "finish_reason"])
const completionKeys = new Set(["id", "object", "created", "model", "choices", "usage", "system_fingerprint", "service_tier"])

const isNumbers = (u: unknown, keys: ReadonlySet<string>): boolean => {
  if (!isObject(u) || !hasOnly(u, keys)) return false
  for (const key of keys) if (!isMaybe(u[key], isNumber)) return false
  return true
}

const isPlainUsage = (u: unknown): boolean =>
  isObject(u) && hasOnly(u, usageKeys) &&
  isNumber(u.prompt_tokens) && isNumber(u.completion_tokens) && isNumber(u.total_tokens) &&
  isMaybe(u.prompt_tokens_details, (d) => isNumbers(d, promptDetailsKeys)) &&
  isMaybe(u.completion_tokens_details, (d) => isNumbers(d, completionDetailsKeys)) &&
  isMaybe(u.num_sources_used, isNumber) && isMaybe(u.cost_in_usd_ticks, isNumber)

/** An answer with text (no tool calls). */
const isPlainChoice = (u: unknown): boolean => {
  if (!isObject(u) || !hasOnly(u, choiceKeys) || !isNumber(u.index) || !isMaybe(u.finish_reason, isString)) return false
  const message = u.message
  return isObject(message) && hasOnly(message, messageKeys) && message.role === "assistant" &&
    isMaybe(message.content, isString) && isMaybe(message.reasoning_content, isString) && isMaybe(message.refusal, isString)
}

/**
 * A chat completion in its plain form: text answers, the usage xAI reports, and no key the
 * schema does not name. Such a completion is its own decoding.
 */
export const isPlainCompletion = (u: unknown): u is Chat.ChatCompletion => {
  if (!isObject(u) || !hasOnly(u, completionKeys)) return false
  if (!isString(u.id) || u.object !== "chat.completion" || !isNumber(u.created) || !isString(u.model)) return false
  if (!isMaybe(u.usage, isPlainUsage) || !isMaybe(u.system_fingerprint, isString) || !isMaybe(u.service_tier, isString)) return false
  const choices = u.choices
  if (!Array.isArray(choices)) return false
  for (const choice of choices) if (!isPlainChoice(choice)) return false
  return true
}

const decodeRequestSchema = Schema.decodeUnknownEither(Chat.ChatCompletionRequest)
const decodeCompletionSchema = Schema.decodeUnknownEither(Chat.ChatCompletion)

/** Validate a chat request: a plain one as it is, any other through its schema. */
export const decodeRequest = (input: unknown): Either.Either<Chat.ChatCompletionRequest, ParseResult.ParseError> =>
  isPlainRequest(input) ? Either.right(input) : decodeRequestSchema(input)

/** Decode a chat completion: a plain one as it is, any other through its schema. */
export const decodeCompletion = (input: unknown): Either.Either<Chat.ChatCompletion, ParseResult.ParseError> =>
  isPlainCompletion(input) ? Either.right(input) : decodeCompletionSchema(input)
