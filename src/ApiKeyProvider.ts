/**
 * Where the client reads its API key, once per attempt.
 *
 * The default serves the configured key. Supply your own layer to read keys from a vault or
 * rotate them: when an attempt fails with `AuthenticationFailed`, the client asks `refresh`
 * once per call for a new key and tries again before failing.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Option, type Redacted } from "effect"

/**
 * @since 0.1.0
 */
export interface Service {
  /** The key to send now. */
  readonly current: Effect.Effect<Redacted.Redacted<string>>
  /**
   * Called after an authentication failure. Answer a new key to try it once, or `None` when
   * there is nothing newer (the call then fails with the authentication error).
   */
  readonly refresh: Effect.Effect<Option.Option<Redacted.Redacted<string>>>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class ApiKeyProvider extends Context.Tag("effect-grok/ApiKeyProvider")<ApiKeyProvider, Service>() {}

/**
 * A provider that always serves the same key and cannot refresh.
 *
 * @since 0.1.0
 */
export const fixed = (key: Redacted.Redacted<string>): Service => ({
  current: Effect.succeed(key),
  refresh: Effect.succeed(Option.none())
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (service: Service): Layer.Layer<ApiKeyProvider> => Layer.succeed(ApiKeyProvider, service)
