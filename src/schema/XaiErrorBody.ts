/**
 * The body of an xAI error response, and the two vocabularies of its `code`.
 *
 * xAI answers `{"code": "<code>", "error": "<message>"}` (some endpoints send only
 * `{"error": "..."}`); OpenAI-compatible proxies in front of it may answer OpenAI's nested
 * `{"error": {"message", "type", "code"}}`. Both decode to one {@link ErrorBody}. Unknown
 * fields are ignored: xAI adds fields often.
 *
 * The `code` came as gRPC status phrases ("Some resource has been exhausted") until 2026
 * and as kebab-case words ("resource-exhausted") since; {@link canonicalCode} maps either to
 * the kebab word.
 *
 * @since 0.1.0
 */
import { Option, Schema } from "effect"

/**
 * A code as it may arrive: a string, sometimes a number, or `null` in OpenAI-shaped bodies.
 */
const WireCode = Schema.optional(Schema.NullOr(Schema.Union(Schema.String, Schema.Number)))

/**
 * xAI's own shape: `{"code"?: string, "error": string}`.
 *
 * @since 0.1.0
 */
export const XaiErrorBody = Schema.Struct({
  code: WireCode,
  error: Schema.String
})

/**
 * OpenAI's shape: `{"error": {"message": string, "type"?: string, "code"?: string}}`.
 *
 * @since 0.1.0
 */
export const OpenAiErrorBody = Schema.Struct({
  error: Schema.Struct({
    message: Schema.String,
    type: Schema.optional(Schema.NullOr(Schema.String)),
    code: WireCode
  })
})

/**
 * An error body of either shape, normalised.
 *
 * @since 0.1.0
 */
export interface ErrorBody {
  /** The server's message, as sent. */
  readonly message: string
  /** The code as sent (either vocabulary), if any. */
  readonly code: string | undefined
}

const wireCode = (code: string | number | null | undefined): string | undefined =>
  code === null || code === undefined ? undefined : String(code)

const Normalised = Schema.Struct({ message: Schema.String, code: Schema.UndefinedOr(Schema.String) })

/**
 * Decodes either shape to {@link ErrorBody}; encodes to xAI's shape.
 *
 * @since 0.1.0
 */
export const ErrorBody: Schema.Schema<
  ErrorBody,
  Schema.Schema.Encoded<typeof XaiErrorBody> | Schema.Schema.Encoded<typeof OpenAiErrorBody>
> = Schema.Union(
  Schema.transform(XaiErrorBody, Normalised, {
    strict: true,
    decode: (body) => ({ message: body.error, code: wireCode(body.code) }),
    encode: ({ code, message }) => ({ code, error: message })
  }),
  Schema.transform(OpenAiErrorBody, Normalised, {
    strict: true,
    decode: ({ error }) => ({ message: error.message, code: wireCode(error.code) }),
    encode: ({ code, message }) => ({ error: { message, code } })
  })
)

/**
 * Read an error body from a JSON value (already parsed). `None` when it has neither shape.
 *
 * @since 0.1.0
 */
export const fromUnknown: (json: unknown) => Option.Option<ErrorBody> = Schema.decodeUnknownOption(ErrorBody)

/**
 * The gRPC status codes in xAI's newer kebab-case vocabulary.
 *
 * @since 0.1.0
 */
export type ErrorCode =
  | "cancelled"
  | "unknown"
  | "invalid-argument"
  | "deadline-exceeded"
  | "not-found"
  | "already-exists"
  | "permission-denied"
  | "resource-exhausted"
  | "failed-precondition"
  | "aborted"
  | "out-of-range"
  | "unimplemented"
  | "internal"
  | "unavailable"
  | "data-loss"
  | "unauthenticated"

/**
 * Each kebab word and the phrase the older vocabulary used for it (the descriptions of
 * Rust's tonic `Code`, which xAI sent verbatim).
 *
 * @since 0.1.0
 */
export const codePhrases: Readonly<Record<ErrorCode, string>> = {
  "cancelled": "The operation was cancelled",
  "unknown": "Unknown error",
  "invalid-argument": "Client specified an invalid argument",
  "deadline-exceeded": "Deadline expired before operation could complete",
  "not-found": "Some requested entity was not found",
  "already-exists": "Some entity that we attempted to create already exists",
  "permission-denied": "The caller does not have permission to execute the specified operation",
  "resource-exhausted": "Some resource has been exhausted",
  "failed-precondition": "The system is not in a state required for the operation's execution",
  "aborted": "The operation was aborted",
  "out-of-range": "Operation was attempted past the valid range",
  "unimplemented": "Operation is not implemented or not supported",
  "internal": "Internal error",
  "unavailable": "The service is currently unavailable",
  "data-loss": "Unrecoverable data loss or corruption",
  "unauthenticated": "The request does not have valid authentication credentials"
}

/** Lower case, no trailing period, `_` and spaces as `-`: `RESOURCE_EXHAUSTED` reads as `resource-exhausted`. */
const normalise = (text: string): string => text.trim().replace(/\.$/, "").toLowerCase().replace(/[\s_]+/g, "-")

const byNormalisedForm: ReadonlyMap<string, ErrorCode> = new Map(
  (Object.entries(codePhrases) as ReadonlyArray<[ErrorCode, string]>).flatMap(([word, phrase]) => [
    [normalise(word), word],
    [normalise(phrase), word]
  ])
)

/**
 * The kebab word for a code in either vocabulary (any letter case; `_` for `-` allowed);
 * `undefined` for a code outside both.
 *
 * @since 0.1.0
 */
export const canonicalCode = (code: string | undefined): ErrorCode | undefined =>
  code === undefined ? undefined : byNormalisedForm.get(normalise(code))
