/**
 * effect-grok's own logs: a retry, a failed call, a fallback step, a circuit breaker changing
 * state, the rate limiter's store lost and found. They go through the application's logger at
 * {@link CurrentLevel}, `Debug` by default: a library must not fill an app's logs with lines
 * about errors the app handles itself (its `catchTag`s), and Effect's default logger hides
 * `Debug`. Metrics and spans record the same events whatever the level.
 *
 * One switch raises them all:
 *
 * ```ts
 * program.pipe(Logging.withLevel(LogLevel.Info))   // or Effect.provide(Logging.layer(LogLevel.Info))
 * ```
 *
 * Three kinds of line keep `Warning`, because they exist to be seen: alerts (`Alerts`), a
 * silent model redirect (a call served and billed as another model), and two rate limiters
 * pacing one quota (a configuration that can exceed it). Numbers in log annotations are
 * rounded to whole units.
 *
 * @since 0.2.0
 */
import { Context, Effect, Layer, LogLevel } from "effect"
import { dual } from "effect/Function"

/**
 * The level effect-grok logs at. A `Context.Reference`: `Debug` unless provided.
 *
 * @since 0.2.0
 * @category tags
 */
export class CurrentLevel extends Context.Reference<CurrentLevel>()("effect-grok/Logging/CurrentLevel", {
  defaultValue: (): LogLevel.LogLevel => LogLevel.Debug
}) {}

/**
 * Run `self` with effect-grok's logs at `level` (`LogLevel.None` turns them off).
 *
 * @since 0.2.0
 */
export const withLevel: {
  (level: LogLevel.LogLevel): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, level: LogLevel.LogLevel): Effect.Effect<A, E, R>
} = dual(2, <A, E, R>(self: Effect.Effect<A, E, R>, level: LogLevel.LogLevel) => Effect.provideService(self, CurrentLevel, level))

/**
 * effect-grok's logs at `level` for everything the layer is provided to.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (level: LogLevel.LogLevel): Layer.Layer<CurrentLevel> => Layer.succeed(CurrentLevel, level)

/**
 * Log `message` at the current level, with `annotations` (numbers rounded).
 *
 * @since 0.2.0
 */
export const log = (message: string, annotations: Record<string, unknown> = {}): Effect.Effect<void> =>
  Effect.flatMap(CurrentLevel, (level) =>
    level._tag === "None" ? Effect.void : Effect.logWithLevel(level, message).pipe(Effect.annotateLogs(rounded(annotations))))

const rounded = (annotations: Record<string, unknown>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const key in annotations) {
    const value = annotations[key]
    out[key] = typeof value === "number" && Number.isFinite(value) ? Math.round(value) : value
  }
  return out
}
