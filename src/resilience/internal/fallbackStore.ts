/**
 * An {@link AdmissionStore} that prefers a shared store (Redis) and, while it cannot be reached,
 * decides with a local one at a share of the quota: each process then keeps to its own part
 * instead of every process assuming the whole quota is its own. A call waiting in the engine's
 * queue never learns which store decided for it: losing the shared store loses no call.
 *
 * There is no separate health check: every operation tries the shared store first, so decisions
 * return to it with the first call after it is back. A dead connection costs nothing to try (the
 * Redis client refuses at once while disconnected). A hung one costs one command timeout: after
 * a timeout, operations go local without asking for `holdOffMillis` (the time the Redis client
 * takes to drop a connection that answers nothing), instead of each waiting out its own.
 *
 * Going back, what was decided locally is not forgotten: before a key's first shared operation,
 * its local state (the cooldown still to run, the calls made ahead of the steady rate, the tokens
 * not yet refilled) is handed to the shared store in one round trip and dropped locally, so the
 * fleet counts it and no process starts on the shared quota as if it had sent nothing. If the
 * shared store fails meanwhile, the state is put back and the key stays local.
 *
 * @internal
 */
import * as Logging from "../../Logging.js"
import { type Clock, Effect } from "effect"
import type { AbsorbingStore, Admission, AdmissionStore, Limits, StoreUnavailable } from "./admissionStore.js"
import type { MemoryStore } from "./memoryStore.js"

/**
 * `limits` scaled to `share` of the quota. Of the burst, the first call stays whole (a process
 * cannot send half of one) and what lies beyond it is scaled, `1 + (burst - 1) * share`: a
 * configured burst is shared out, and the engine's timer slack (a burst of `1 + 4 ms * rate`)
 * keeps its few milliseconds at the scaled rate instead of being scaled away (with a burst of
 * exactly one, every late wake-up would delay all later calls).
 */
export const scaleLimits = (limits: Limits, share: number): Limits => ({
  requestsPerSecond: limits.requestsPerSecond * share,
  requestBurst: 1 + (Math.max(1, limits.requestBurst) - 1) * share,
  tokensPerMinute: limits.tokensPerMinute * share
})

/** @internal */
export const withFallback = (
  shared: AbsorbingStore,
  local: MemoryStore,
  options: {
    readonly share: number
    /** After a timeout, how long operations go local without asking the shared store. */
    readonly holdOffMillis: number
    readonly clock: Clock.Clock
  }
): AdmissionStore => {
  const { clock, holdOffMillis, share } = options
  let degraded = false
  /** Until when the shared store is not asked (it just let an operation time out). */
  let holdOffUntil = 0
  const admittedLocally: Admission = { _tag: "Admitted", share }

  const onShared = Effect.suspend(() => {
    if (!degraded) return Effect.void
    degraded = false
    return Logging.log("Rate limiter store reachable again: decisions are shared again")
  })

  const onLocal = (error: StoreUnavailable) =>
    Effect.suspend(() => {
      if (degraded) return Effect.void
      degraded = true
      return Logging.log(
        `Rate limiter store unavailable (${error.message}): deciding locally at ${share} of the quota`
      )
    })

  const preferShared = <A>(
    sharedDecision: Effect.Effect<A, StoreUnavailable>,
    localDecision: Effect.Effect<A>
  ): Effect.Effect<A> =>
    Effect.suspend(() =>
      holdOffUntil > clock.unsafeCurrentTimeMillis()
        ? localDecision
        : sharedDecision.pipe(
          Effect.tap(() => onShared),
          Effect.catchAll((error) => {
            if (error.timedOut === true) holdOffUntil = clock.unsafeCurrentTimeMillis() + holdOffMillis
            return Effect.zipRight(onLocal(error), localDecision)
          })
        )
    )

  /** Hand the key's local state to the shared store, or keep it local if that fails. */
  const handOver = (key: string, limits: Limits): Effect.Effect<void, StoreUnavailable> => {
    const localLimits = scaleLimits(limits, share)
    return Effect.flatMap(local.take(key, localLimits), (spent) =>
      spent === undefined
        ? Effect.void
        : Effect.tapError(shared.absorb(key, spent, limits), () => local.absorb(key, spent, localLimits)))
  }

  /** `effect` on the shared store, after the key's hand-over when it still has local state. */
  const afterHandOver = <A>(key: string, limits: Limits, effect: Effect.Effect<A, StoreUnavailable>) =>
    Effect.suspend(() => local.size() === 0 ? effect : Effect.zipRight(handOver(key, limits), effect))

  return {
    tryAdmit: (key, tokens, limits) =>
      preferShared(
        afterHandOver(key, limits, shared.tryAdmit(key, tokens, limits)),
        Effect.map(
          local.tryAdmit(key, tokens, scaleLimits(limits, share)),
          (admission) => admission._tag === "Admitted" ? admittedLocally : admission
        )
      ),
    adjustTokens: (key, delta, limits) =>
      preferShared(
        afterHandOver(key, limits, shared.adjustTokens(key, delta, limits)),
        local.adjustTokens(key, delta, scaleLimits(limits, share))
      ),
    startCooldown: (key, millis) => preferShared(shared.startCooldown(key, millis), local.startCooldown(key, millis))
  }
}
