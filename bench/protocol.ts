/**
 * What a benchmark child process (`client.ts`) and its parent (`main.ts`) say to each other:
 * the child prints `ready` once its client is built, the parent answers `go` on stdin once
 * the simulator is reset, and the child ends with one JSON line, a {@link ChildResult}.
 * Every child is started with `peakRss.js` preloaded, which prints its peak memory on stderr
 * as it exits.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { peakRssMarker } from "./peakRssMarker.js"

/**
 * What a client child reports. Attempts and 429s are counted by the simulator, not here, so
 * every client is measured the same way.
 *
 * @since 0.1.0
 */
export const ChildResult = Schema.Struct({
  client: Schema.String,
  scenario: Schema.String,
  requests: Schema.Number,
  ok: Schema.Number,
  failed: Schema.Number,
  /** Failures by kind: an error tag or class, `HTTP 503`, `NoContent`. */
  errors: Schema.Record({ key: Schema.String, value: Schema.Number }),
  seconds: Schema.Number,
  /**
   * Overhead scenario only: median microseconds of a call of this client, of a raw
   * HttpClient call in the same process, and of the difference within a pair of them.
   */
  usPerCall: Schema.optional(Schema.Number),
  rawUsPerCall: Schema.optional(Schema.Number),
  overheadUs: Schema.optional(Schema.Number)
})

/** @since 0.1.0 */
export type ChildResult = typeof ChildResult.Type

/** The benchmark's API key: the simulator accepts any. @since 0.1.0 */
export const benchApiKey = "bench-key"

/** @since 0.1.0 */
export const readyLine = "ready"

/** @since 0.1.0 */
export const goLine = "go"

/** Starts the stderr line `peakRss.js` prints: `<marker> <megabytes>`. @since 0.1.0 */
export { peakRssMarker }

/**
 * The peak memory a child printed on stderr, in MB.
 *
 * @since 0.1.0
 */
export const peakRssOf = (stderr: string): number | undefined => {
  const match = new RegExp(`${peakRssMarker} (\\d+)`).exec(stderr)
  return match === null ? undefined : Number(match[1])
}
