/**
 * Identifiers drawn from Effect's `Random`, so a seeded simulator repeats them exactly.
 *
 * @internal
 */
import { Effect, Random } from "effect"

/** A UUID-shaped id, like xAI's completion and request ids. */
export const uuid: Effect.Effect<string> = Effect.gen(function*() {
  let hex = ""
  for (let i = 0; i < 8; i++) {
    hex += (yield* Random.nextIntBetween(0, 0x10000)).toString(16).padStart(4, "0")
  }
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
})
