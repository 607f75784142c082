/**
 * An {@link AdmissionStore} that prefers a shared store (Redis) and, while it cannot be reached,
 * decides with a local one at a share of the quota: each process then keeps to its own part
 * instead of every process assuming the whole quota is its own.
 *
 * There is no separate health check: every operation tries the shared store first, so decisions
 * return to it with the first call after it is back. A dead connection costs nothing to try (the
 * Redis client refuses at once while disconnected); a hung one costs at most its command timeout.
 *
 * @internal
 */
import { Effect } from "effect"
import type { AdmissionStore, Limits, StoreUnavailable } from "./admissionStore.js"

/** `limits` scaled to `share` of the quota (the burst too, keeping at least one request). */
export const scaleLimits = (limits: Limits, share: number): Limits => ({
  requestsPerSecond: limits.requestsPerSecond * share,
  requestBurst: Math.max(1, limits.requestBurst * share),
  tokensPerMinute: limits.tokensPerMinute * share
})

/** @internal */
export const withFallback = (shared: AdmissionStore, local: AdmissionStore, share: number): AdmissionStore => {
  let degraded = false

  const onShared = Effect.suspend(() => {
    if (!degraded) return Effect.void
    degraded = false
    return Effect.logInfo("Rate limiter store reachable again: decisions are shared again")
  })

  const onLocal = (error: StoreUnavailable) =>
    Effect.suspend(() => {
      if (degraded) return Effect.void
      degraded = true
      return Effect.logWarning(
        `Rate limiter store unavailable (${error.message}): deciding locally at ${share} of the quota`
      )
    })

  const preferShared = <A>(
    sharedDecision: Effect.Effect<A, StoreUnavailable>,
    localDecision: Effect.Effect<A>
  ): Effect.Effect<A> =>
    sharedDecision.pipe(
      Effect.tap(() => onShared),
      Effect.catchAll((error) => Effect.zipRight(onLocal(error), localDecision))
    )

  return {
    tryAdmit: (key, tokens, limits) =>
      preferShared(
        shared.tryAdmit(key, tokens, limits),
        Effect.orDie(local.tryAdmit(key, tokens, scaleLimits(limits, share)))
      ),
    adjustTokens: (key, delta, limits) =>
      preferShared(
        shared.adjustTokens(key, delta, limits),
        Effect.orDie(local.adjustTokens(key, delta, scaleLimits(limits, share)))
      ),
    startCooldown: (key, millis) =>
      preferShared(shared.startCooldown(key, millis), Effect.orDie(local.startCooldown(key, millis)))
  }
}
