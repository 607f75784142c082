/**
 * What the simulator does wrong, and when: an ordered list of rules, each pairing a match
 * (model, path, request number, time window, probability) with a fault. For each request
 * the first matching rule wins; a request no rule matches is answered normally.
 *
 * Plans are plain JSON-serialisable data so the CLI can read them from a file, and are
 * validated with Schema: an unknown field, an unknown fault kind or an impossible range is
 * refused with an {@link InvalidFaultPlan} that says where.
 *
 * ```json
 * [
 *   { "nth": [1, 2], "fault": { "kind": "status", "status": 503 } },
 *   { "model": "grok-4", "afterMillis": 10000, "untilMillis": 20000, "fault": { "kind": "reset" } },
 *   { "probability": 0.1, "fault": { "kind": "dropStream", "afterChunks": 3 } }
 * ]
 * ```
 *
 * @since 0.1.0
 */
import { Data, Effect, Either, Random, Schema } from "effect"
import { describeIssues } from "./internal/issues.js"

const Millis = Schema.Number.pipe(Schema.finite(), Schema.nonNegative())
const Count = Schema.Int.pipe(Schema.nonNegative())
const RequestNumber = Schema.Int.pipe(Schema.positive())

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/

const Headers = Schema.Record({ key: Schema.String, value: Schema.String }).pipe(
  Schema.filter((headers) => {
    for (const [name, value] of Object.entries(headers)) {
      if (!HEADER_NAME.test(name)) return `invalid header name ${JSON.stringify(name)}`
      if (!HEADER_VALUE.test(value)) return `invalid value for header ${name}`
    }
    return true
  })
)

const isSerialisable = (value: unknown): boolean => {
  try {
    return typeof value === "string" || JSON.stringify(value) !== undefined
  } catch {
    return false
  }
}

/**
 * Answer with any status, body and headers: a 503, a 429 with `retry-after: 3600`, a 403
 * "credits exhausted", a proxy's HTML 502. A string `body` is sent as is (`text/plain`
 * unless `headers` say otherwise); any other value is sent as JSON. Without a body, an
 * xAI-shaped body matching the status is sent.
 *
 * @since 0.1.0
 */
export const StatusFault = Schema.Struct({
  kind: Schema.Literal("status"),
  status: Schema.Int.pipe(Schema.between(200, 599)),
  body: Schema.optional(Schema.Unknown.pipe(Schema.filter(isSerialisable, { message: () => "not JSON-serialisable" }))),
  headers: Schema.optional(Headers)
})

/**
 * Wait `millis`, then answer normally.
 *
 * @since 0.1.0
 */
export const LatencyFault = Schema.Struct({ kind: Schema.Literal("latency"), millis: Millis })

/**
 * Destroy the connection without answering (the client sees a reset / "socket hang up").
 *
 * @since 0.1.0
 */
export const ResetFault = Schema.Struct({ kind: Schema.Literal("reset") })

/**
 * Accept and never answer, until the client gives up. A streaming request gets its 200
 * and SSE headers, then nothing.
 *
 * @since 0.1.0
 */
export const StallFault = Schema.Struct({ kind: Schema.Literal("stall") })

/**
 * Answer a successful request with a body cut in the middle (invalid JSON); in a stream,
 * one chunk is cut. A request that fails anyway (bad key, quota) gets its error unchanged.
 *
 * @since 0.1.0
 */
export const MalformedFault = Schema.Struct({ kind: Schema.Literal("malformed") })

/**
 * Answer 200 `application/json` with xAI's
 * `{"code":"The service is currently unavailable","error":"Timed out waiting for first token"}`,
 * the failure xAI really delivers with a success status.
 *
 * @since 0.1.0
 */
export const ErrorInOkFault = Schema.Struct({ kind: Schema.Literal("errorInOk") })

/**
 * Send `afterChunks` SSE chunks of a stream, then destroy the connection. A non-streaming
 * answer is cut after its headers and half of its body.
 *
 * @since 0.1.0
 */
export const DropStreamFault = Schema.Struct({ kind: Schema.Literal("dropStream"), afterChunks: Count })

/**
 * Stream slowly: the first chunk after `firstTokenMillis`, each next one `chunkMillis`
 * later. A non-streaming answer is delayed by `firstTokenMillis`.
 *
 * @since 0.1.0
 */
export const SlowStreamFault = Schema.Struct({
  kind: Schema.Literal("slowStream"),
  firstTokenMillis: Millis,
  chunkMillis: Millis
})

/**
 * @since 0.1.0
 */
export const Fault = Schema.Union(
  StatusFault,
  LatencyFault,
  ResetFault,
  StallFault,
  MalformedFault,
  ErrorInOkFault,
  DropStreamFault,
  SlowStreamFault
).annotations({ identifier: "Fault" })

/**
 * @since 0.1.0
 */
export type Fault = typeof Fault.Type

/**
 * @since 0.1.0
 */
export type FaultKind = Fault["kind"]

/**
 * One rule. Every match field is optional and all given ones must hold:
 *
 * - `model`: the request's `model`.
 * - `path`: the request path, e.g. `/v1/chat/completions` (`/v1` may be left out).
 * - `nth` and/or `from`/`to` (inclusive): 1-based request numbers. `countOf: "all"` counts
 *   every request the simulator received; `countOf: "model"` counts only the requests for
 *   the same model. The default is `"model"` when the rule names a `model`, else `"all"`.
 * - `afterMillis` (inclusive) / `untilMillis` (exclusive): time since the simulator started
 *   (or was reset), for outages.
 * - `probability`: 0..1, drawn from the simulator's seeded `Random`.
 *
 * @since 0.1.0
 */
export const FaultRule = Schema.Struct({
  model: Schema.optional(Schema.String),
  path: Schema.optional(Schema.String.pipe(Schema.nonEmptyString())),
  nth: Schema.optional(Schema.Array(RequestNumber).pipe(Schema.minItems(1))),
  from: Schema.optional(RequestNumber),
  to: Schema.optional(RequestNumber),
  countOf: Schema.optional(Schema.Literal("all", "model")),
  afterMillis: Schema.optional(Millis),
  untilMillis: Schema.optional(Millis),
  probability: Schema.optional(Schema.Number.pipe(Schema.between(0, 1))),
  fault: Fault
}).pipe(
  Schema.filter((rule) => {
    if (rule.from !== undefined && rule.to !== undefined && rule.from > rule.to) {
      return `from (${rule.from}) is after to (${rule.to})`
    }
    if (rule.afterMillis !== undefined && rule.untilMillis !== undefined && rule.afterMillis >= rule.untilMillis) {
      return `afterMillis (${rule.afterMillis}) must be before untilMillis (${rule.untilMillis})`
    }
    return true
  }),
  Schema.annotations({ identifier: "FaultRule" })
)

/**
 * @since 0.1.0
 */
export type FaultRule = typeof FaultRule.Type

/**
 * @since 0.1.0
 */
export const FaultPlan = Schema.Array(FaultRule).annotations({ identifier: "FaultPlan (an array of rules)" })

/**
 * @since 0.1.0
 */
export type FaultPlan = ReadonlyArray<FaultRule>

/**
 * The empty plan: every request is answered normally.
 *
 * @since 0.1.0
 */
export const none: FaultPlan = []

/**
 * A plan that does not decode; `message` names the offending rule and field.
 *
 * @since 0.1.0
 */
export class InvalidFaultPlan extends Data.TaggedError("InvalidFaultPlan")<{ readonly message: string }> {}

const decodePlan = Schema.decodeUnknownEither(FaultPlan, { onExcessProperty: "error", errors: "all" })

/**
 * Checks a plan given as data (typed, or parsed JSON).
 *
 * @since 0.1.0
 */
export const validate = (input: unknown): Either.Either<FaultPlan, InvalidFaultPlan> =>
  decodePlan(input).pipe(
    Either.mapLeft((error) =>
      new InvalidFaultPlan({ message: `Invalid fault plan: ${describeIssues(error, ruleAndField)}` })
    )
  )

/** `rule 2, fault.afterChunks` for the path `[1, "fault", "afterChunks"]`. */
const ruleAndField = (path: ReadonlyArray<PropertyKey>): string => {
  const [rule, ...fields] = path
  if (typeof rule !== "number") return "the plan"
  return [`rule ${rule + 1}`, ...(fields.length > 0 ? [fields.join(".")] : [])].join(", ")
}

/**
 * Reads a plan from JSON text (the CLI's `--faults`).
 *
 * @since 0.1.0
 */
export const fromJson = (text: string): Either.Either<FaultPlan, InvalidFaultPlan> =>
  Either.try({
    try: (): unknown => JSON.parse(text),
    catch: (error) =>
      new InvalidFaultPlan({
        message: `Invalid fault plan: not JSON (${error instanceof Error ? error.message : String(error)})`
      })
  }).pipe(Either.flatMap(validate))

/**
 * What a rule can match a request on.
 *
 * @since 0.1.0
 */
export interface RequestFacts {
  /** Path without query string, e.g. `/v1/chat/completions`. */
  readonly path: string
  readonly model: string | undefined
  /** 1-based number among all requests. */
  readonly index: number
  /** 1-based number among the requests for the same model (equal to `index` without a model). */
  readonly modelIndex: number
  /** Milliseconds since the simulator started or was reset. */
  readonly elapsedMillis: number
}

const normalizePath = (path: string): string => {
  const trimmed = path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path
  const absolute = trimmed.startsWith("/") ? trimmed : `/${trimmed}`
  return absolute === "/v1" || absolute.startsWith("/v1/") ? absolute : `/v1${absolute}`
}

/**
 * True when every match field of `rule` but `probability` holds for the request.
 *
 * @since 0.1.0
 */
export const matches = (rule: FaultRule, request: RequestFacts): boolean => {
  if (rule.model !== undefined && rule.model !== request.model) return false
  if (rule.path !== undefined && normalizePath(rule.path) !== request.path) return false
  const countOf = rule.countOf ?? (rule.model === undefined ? "all" : "model")
  const number = countOf === "all" ? request.index : request.modelIndex
  if (rule.nth !== undefined && !rule.nth.includes(number)) return false
  if (rule.from !== undefined && number < rule.from) return false
  if (rule.to !== undefined && number > rule.to) return false
  if (rule.afterMillis !== undefined && request.elapsedMillis < rule.afterMillis) return false
  if (rule.untilMillis !== undefined && request.elapsedMillis >= rule.untilMillis) return false
  return true
}

/**
 * The first rule that matches the request, drawing from `Random` for rules with a
 * `probability` (only when their other conditions hold, so unrelated rules consume no
 * randomness).
 *
 * @since 0.1.0
 */
export const select = (plan: FaultPlan, request: RequestFacts): Effect.Effect<FaultRule | undefined> =>
  Effect.gen(function*() {
    for (const rule of plan) {
      if (!matches(rule, request)) continue
      if (rule.probability === undefined) return rule
      if ((yield* Random.next) < rule.probability) return rule
    }
    return undefined
  })
