/**
 * Schema building blocks shared by the wire schemas in `src/schema/`.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * A response field xAI may leave out or send as `null`. Kept as it came (no null-to-
 * undefined transformation) so decoding stays cheap and re-encoding gives the same JSON.
 *
 * @since 0.1.0
 */
export const maybe = <S extends Schema.Schema.All>(schema: S): Schema.optional<Schema.NullOr<S>> =>
  Schema.optional(Schema.NullOr(schema))

/**
 * Index signature that keeps the keys a request schema does not name, so callers can use
 * API fields newer than this library and they reach xAI untouched.
 *
 * @since 0.1.0
 */
export const OtherKeys = Schema.Record({ key: Schema.String, value: Schema.Unknown })
