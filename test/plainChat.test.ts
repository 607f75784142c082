/**
 * The plain-shape shortcuts in front of the chat schemas (`schema/internal/plainChat.ts`):
 * whatever they accept, the schema accepts and decodes to an equal value, so that taking the
 * shortcut never changes what a caller gets or what is sent. And they do accept what real
 * calls carry: the recorded xAI completions and requests in their plain form.
 */
import { describe, expect, it } from "@effect/vitest"
import { Either, Schema } from "effect"
import * as fc from "fast-check"
import * as Chat from "../src/schema/Chat.js"
import * as PlainChat from "../src/schema/internal/plainChat.js"
import { cassetteNames, isEventStream, loadCassette } from "./support/fixtures.js"

const decodeRequest = Schema.decodeUnknownEither(Chat.ChatCompletionRequest)
const decodeCompletion = Schema.decodeUnknownEither(Chat.ChatCompletion)

/** Values that sit on either side of every check: numbers at and past the bounds, wrong types. */
const scalar = fc.oneof(
  fc.constantFrom(0, 1, 2, 3, -1, 0.5, 1.5, 2.5, Number.NaN, Number.MAX_SAFE_INTEGER + 2, null, true, false, "", "x"),
  fc.double(),
  fc.integer({ min: -5, max: 5 }),
  fc.string({ maxLength: 3 })
)

const contentPart = fc.oneof(
  fc.record({ type: fc.constant("text"), text: fc.string({ maxLength: 3 }) }),
  fc.record({ type: fc.constant("image_url"), image_url: fc.record({ url: fc.string({ maxLength: 3 }) }) }),
  fc.record({ type: fc.constant("audio") })
)

const toolCall = fc.record({ id: fc.string({ maxLength: 3 }), type: fc.constant("function"), function: fc.record({ name: fc.string({ maxLength: 3 }), arguments: fc.constant("{}") }) })

const message = fc.record(
  {
    role: fc.constantFrom("system", "user", "assistant", "tool", "developer", 1),
    content: fc.oneof(fc.string({ maxLength: 4 }), fc.constant(null), fc.array(contentPart, { maxLength: 2 }), scalar),
    name: fc.oneof(fc.string({ maxLength: 3 }), scalar),
    tool_calls: fc.array(toolCall, { maxLength: 1 }),
    tool_call_id: fc.string({ maxLength: 3 }),
    extra: fc.jsonValue({ maxDepth: 1 })
  },
  { requiredKeys: [] }
)

const request = fc.record(
  {
    model: fc.oneof(fc.constantFrom("grok-4", ""), scalar),
    messages: fc.oneof(fc.array(message, { maxLength: 3 }), scalar),
    max_tokens: scalar,
    max_completion_tokens: scalar,
    temperature: scalar,
    top_p: scalar,
    n: scalar,
    seed: scalar,
    stream: scalar,
    reasoning_effort: scalar,
    user: scalar,
    deferred: scalar,
    service_tier: scalar,
    stop: fc.oneof(fc.string({ maxLength: 3 }), fc.array(fc.string({ maxLength: 3 }), { maxLength: 2 }), scalar),
    stream_options: fc.oneof(fc.record({ include_usage: fc.boolean() }), scalar),
    tools: fc.oneof(fc.constant([]), scalar),
    tool_choice: fc.oneof(fc.constantFrom("none", "auto", "sometimes"), scalar),
    response_format: fc.oneof(fc.record({ type: fc.constantFrom("text", "json_object", "xml") }), scalar),
    x_vendor_option: fc.jsonValue({ maxDepth: 2 })
  },
  { requiredKeys: [] }
)

/** A plain request, so that the property also runs on many accepted inputs, not only rejected ones. */
const plainRequest = fc.record(
  {
    model: fc.string({ minLength: 1, maxLength: 6 }),
    messages: fc.array(
      fc.record(
        {
          role: fc.constantFrom("system", "user", "assistant"),
          content: fc.string({ maxLength: 8 }),
          name: fc.string({ maxLength: 3 })
        },
        { requiredKeys: ["role", "content"] }
      ),
      { minLength: 1, maxLength: 4 }
    ),
    max_tokens: fc.integer({ min: 1, max: 4096 }),
    temperature: fc.double({ min: 0, max: 2, noNaN: true }),
    top_p: fc.double({ min: 0, max: 1, noNaN: true }),
    seed: fc.integer(),
    stream: fc.boolean(),
    user: fc.string({ maxLength: 4 }),
    service_tier: fc.constantFrom("default", "priority"),
    x_vendor_option: fc.jsonValue({ maxDepth: 2 })
  },
  { requiredKeys: ["model", "messages"] }
)

const counts = (keys: ReadonlyArray<string>) =>
  fc.record(Object.fromEntries(keys.map((key) => [key, fc.oneof(fc.nat(), fc.constant(null), scalar)])), { requiredKeys: [] })

const completion = fc.record(
  {
    id: fc.oneof(fc.string({ maxLength: 4 }), scalar),
    object: fc.constantFrom("chat.completion", "chat.completion.chunk", "response"),
    created: fc.oneof(fc.nat(), scalar),
    model: fc.oneof(fc.constant("grok-4"), scalar),
    choices: fc.oneof(
      fc.array(
        fc.record(
          {
            index: fc.oneof(fc.nat({ max: 3 }), scalar),
            message: fc.record(
              {
                role: fc.constantFrom("assistant", "user"),
                content: fc.oneof(fc.string({ maxLength: 4 }), fc.constant(null), scalar),
                reasoning_content: fc.oneof(fc.string({ maxLength: 4 }), fc.constant(null)),
                refusal: fc.oneof(fc.constant(null), scalar),
                tool_calls: fc.array(toolCall, { maxLength: 1 }),
                audio: fc.constant(null)
              },
              { requiredKeys: ["role"] }
            ),
            finish_reason: fc.oneof(fc.constantFrom("stop", "length"), fc.constant(null), scalar),
            logprobs: fc.constant(null)
          },
          { requiredKeys: ["index", "message"] }
        ),
        { maxLength: 2 }
      ),
      scalar
    ),
    usage: fc.oneof(
      fc.constant(null),
      fc.record(
        {
          prompt_tokens: fc.oneof(fc.nat(), scalar),
          completion_tokens: fc.nat(),
          total_tokens: fc.nat(),
          prompt_tokens_details: fc.oneof(fc.constant(null), counts(["text_tokens", "audio_tokens", "image_tokens", "cached_tokens", "video_tokens"])),
          completion_tokens_details: fc.oneof(fc.constant(null), counts(["reasoning_tokens", "audio_tokens", "accepted_prediction_tokens", "rejected_prediction_tokens"])),
          num_sources_used: fc.oneof(fc.nat(), scalar),
          cost_in_usd_ticks: fc.nat(),
          server_side_tool_usage: fc.constant({})
        },
        { requiredKeys: ["completion_tokens", "total_tokens"] }
      )
    ),
    system_fingerprint: fc.oneof(fc.string({ maxLength: 4 }), fc.constant(null), scalar),
    service_tier: fc.oneof(fc.constantFrom("default", "priority"), fc.constant(null), scalar),
    citations: fc.array(fc.string({ maxLength: 4 }), { maxLength: 1 })
  },
  { requiredKeys: ["object", "choices"] }
)

const nullableCount = fc.oneof(fc.nat(), fc.constant(null))

/** A plain completion, as xAI sends one: many accepted inputs for the property. */
const plainCompletion = fc.record(
  {
    id: fc.string({ maxLength: 8 }),
    object: fc.constant("chat.completion"),
    created: fc.nat(),
    model: fc.string({ maxLength: 6 }),
    choices: fc.array(
      fc.record(
        {
          index: fc.nat({ max: 3 }),
          message: fc.record(
            {
              role: fc.constant("assistant"),
              content: fc.oneof(fc.string({ maxLength: 8 }), fc.constant(null)),
              reasoning_content: fc.oneof(fc.string({ maxLength: 4 }), fc.constant(null)),
              refusal: fc.constant(null)
            },
            { requiredKeys: ["role"] }
          ),
          finish_reason: fc.oneof(fc.constantFrom("stop", "length"), fc.constant(null))
        },
        { requiredKeys: ["index", "message"] }
      ),
      { maxLength: 2 }
    ),
    usage: fc.oneof(
      fc.constant(null),
      fc.record(
        {
          prompt_tokens: fc.nat(),
          completion_tokens: fc.nat(),
          total_tokens: fc.nat(),
          prompt_tokens_details: fc.record({ text_tokens: nullableCount, cached_tokens: nullableCount }, { requiredKeys: [] }),
          completion_tokens_details: fc.record({ reasoning_tokens: nullableCount }, { requiredKeys: [] }),
          num_sources_used: fc.nat(),
          cost_in_usd_ticks: nullableCount
        },
        { requiredKeys: ["prompt_tokens", "completion_tokens", "total_tokens"] }
      )
    ),
    system_fingerprint: fc.oneof(fc.string({ maxLength: 4 }), fc.constant(null)),
    service_tier: fc.oneof(fc.constantFrom("default", "priority"), fc.constant(null))
  },
  { requiredKeys: ["id", "object", "created", "model", "choices"] }
)

/** A value worth trying anywhere: the edge scalars, and the shapes the schemas also know. */
const anyValue = fc.oneof(
  scalar,
  // Weighted: the values that sit right at a check's edge are the ones that catch a loose check.
  { weight: 6, arbitrary: fc.constantFrom("", 0, -1, 1.5, 2.5, null, "system", "user", "assistant", "tool", "chat.completion", "stop", "text") },
  fc.array(contentPart, { maxLength: 2 }),
  fc.array(toolCall, { minLength: 1, maxLength: 1 }),
  fc.array(fc.string({ maxLength: 2 }), { maxLength: 2 }),
  fc.record({ include_usage: fc.boolean() }),
  fc.constant({}),
  fc.constant(undefined)
)

/**
 * \`base\` with one change: the value at \`path\` set to \`value\` (a missing key is added), when
 * its parent is an object. One change at a time is how a guard that checks too little is
 * caught: it accepts the changed input, and the schema then rejects it or decodes it to
 * something else.
 */
const changed = (base: unknown, path: ReadonlyArray<string | number>, value: unknown): unknown => {
  const copy: unknown = structuredClone(base)
  let parent: unknown = copy
  for (const key of path.slice(0, -1)) {
    if (typeof parent !== "object" || parent === null) return copy
    parent = (parent as Record<string | number, unknown>)[key]
  }
  if (typeof parent === "object" && parent !== null) (parent as Record<string | number, unknown>)[path[path.length - 1]!] = value
  return copy
}

const requestPaths: ReadonlyArray<ReadonlyArray<string | number>> = [
  ...["model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "n", "seed", "stream", "stream_options", "tools", "tool_choice", "response_format", "reasoning_effort", "user", "deferred", "stop", "x_vendor_option"].map((key) => [key]),
  ...["role", "content", "name", "tool_calls", "tool_call_id"].map((key) => ["messages", 0, key]),
  ["messages", 0]
]

const completionPaths: ReadonlyArray<ReadonlyArray<string | number>> = [
  ...["id", "object", "created", "model", "choices", "usage", "system_fingerprint", "citations"].map((key) => [key]),
  ...["index", "message", "finish_reason", "logprobs"].map((key) => ["choices", 0, key]),
  ...["role", "content", "reasoning_content", "refusal", "tool_calls", "audio"].map((key) => ["choices", 0, "message", key]),
  ...["prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details", "completion_tokens_details", "num_sources_used", "cost_in_usd_ticks", "server_side_tool_usage"].map((key) => ["usage", key]),
  ...["text_tokens", "cached_tokens", "video_tokens"].map((key) => ["usage", "prompt_tokens_details", key]),
  ...["reasoning_tokens", "audio_tokens"].map((key) => ["usage", "completion_tokens_details", key]),
  ["choices", 0]
]

const oneChange = <A>(plain: fc.Arbitrary<A>, paths: ReadonlyArray<ReadonlyArray<string | number>>) =>
  fc.tuple(plain, fc.constantFrom(...paths), anyValue).map(([base, path, value]) => changed(base, path, value))

/**
 * Over `numRuns` inputs of `inputs`: each one `isPlain` accepts, `decode` accepts and decodes
 * to an equal value. Answers how many were accepted, so that a test can check the property
 * held on inputs the shortcut took, not only on ones it passed over.
 */
const agreesWithSchema = (
  inputs: fc.Arbitrary<unknown>,
  isPlain: (input: unknown) => boolean,
  decode: (input: unknown) => Either.Either<unknown, unknown>,
  numRuns: number
): number => {
  let accepted = 0
  fc.assert(
    fc.property(inputs, (input) => {
      if (!isPlain(input)) return
      accepted++
      const decoded = decode(input)
      expect(Either.isRight(decoded)).toBe(true)
      expect(Either.getOrThrow(decoded)).toEqual(input)
    }),
    { numRuns }
  )
  return accepted
}

describe("plain chat shapes", () => {
  it("a request accepted as plain is one the schema accepts, and decodes to itself", () => {
    const inputs = fc.oneof(request, plainRequest, { weight: 4, arbitrary: oneChange(plainRequest, requestPaths) })
    expect(agreesWithSchema(inputs, PlainChat.isPlainRequest, decodeRequest, 6000)).toBeGreaterThan(500)
  })

  it("a completion accepted as plain is one the schema accepts, and decodes to itself", () => {
    const inputs = fc.oneof(completion, plainCompletion, { weight: 4, arbitrary: oneChange(plainCompletion, completionPaths) })
    expect(agreesWithSchema(inputs, PlainChat.isPlainCompletion, decodeCompletion, 8000)).toBeGreaterThan(1000)
  })

  it("takes the recorded xAI completions with text answers, and their requests, as plain", () => {
    const completions: Array<unknown> = []
    const requests: Array<unknown> = []
    for (const name of cassetteNames()) {
      for (const interaction of loadCassette(name).interactions) {
        if (isEventStream(interaction)) continue
        const body: unknown = JSON.parse(interaction.responseBody)
        if (typeof body === "object" && body !== null && "object" in body && body.object === "chat.completion") {
          completions.push(body)
          requests.push(JSON.parse(interaction.requestBody))
        }
      }
    }
    // Only a tool call (not a plain text answer) sends a recorded completion through the schema.
    const hasToolCalls = (body: unknown) => JSON.stringify(body).includes("\"tool_calls\"")
    const textAnswers = completions.filter((body) => !hasToolCalls(body))
    expect(textAnswers.length).toBeGreaterThanOrEqual(4)
    for (const body of textAnswers) expect(PlainChat.isPlainCompletion(body)).toBe(true)
    for (const body of completions.filter(hasToolCalls)) {
      expect(PlainChat.isPlainCompletion(body)).toBe(false)
      expect(Either.isRight(decodeCompletion(body))).toBe(true)
    }
    // Requests without tools or a response format are plain.
    const plainRequests = requests.filter((body) => !JSON.stringify(body).match(/"(tools|response_format|tool_choice|stream_options)"/))
    expect(plainRequests.length).toBeGreaterThanOrEqual(2)
    for (const body of plainRequests) expect(PlainChat.isPlainRequest(body)).toBe(true)
  })
})
