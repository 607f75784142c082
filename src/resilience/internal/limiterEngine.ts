/**
 * The rate limiter engine, written once for every store. In process it keeps, per key, the
 * queue (priorities, bounds, deadlines), the concurrency cap and what is known of the quota
 * (`KeyQuota`: learned limits, slow start, AIMD with CUBIC regrowth); the
 * {@link AdmissionStore} takes the one decision that must be shared: "may a call costing N
 * tokens go now?", plus token corrections and the cooldown after a 429.
 *
 * How a call gets a permit:
 *
 * - fast path: nobody is queued for the key and the concurrency cap has room, so the caller
 *   asks the store itself; admitted, it leaves at once with no fiber and no queue involved;
 * - otherwise it queues, and one dispatcher fiber per key (started by the first waiter, gone
 *   when the queue is empty) serves the queue: most urgent waiter first, one store decision at
 *   a time, sleeping until the store's `retryInMillis`, the next deadline, or a wake-up (a
 *   release that frees room, refunds tokens or changes the limits; a more urgent arrival).
 *   Waiters never poll, so a cooldown ending re-admits them one by one at the paced rate
 *   instead of all at once.
 *
 * Releasing a permit teaches the key (headers, success, 429), reconciles tokens and starts the
 * shared cooldown on a 429. Only the wait in the queue is interruptible; the bookkeeping around
 * a store decision is not (a store bounds its own calls, e.g. Redis by its command timeout).
 *
 * @internal
 */
import * as Logging from "../../Logging.js"
import { Duration, Effect, Either, Exit, FiberSet, type Scope } from "effect"
import type { LimiterOptions } from "../RateLimiterMemory.js"
import {
  cancelled,
  type KeyStats,
  type Outcome,
  type Permit,
  type Priority,
  RateLimiterRejected,
  type Service,
  type Ticket
} from "../RateLimiter.js"
import type { RateLimitInfo, RateLimitWindow } from "../RateLimitHeaders.js"
import type { AdmissionStore, Limits, StoreUnavailable } from "./admissionStore.js"
import { KeyQuota } from "./keyQuota.js"
import { resolveOptions, type ResolvedOptions, unlimited } from "./limiterOptions.js"
import { type QueueNode, WaitQueue } from "./waitQueue.js"

/** The service, plus what tests and benchmarks look at. */
export interface Engine extends Service {
  /** Keys currently holding state in the engine (idle ones are evicted). */
  readonly trackedKeys: () => number
}

type Resume = (effect: Effect.Effect<Permit, RateLimiterRejected>) => void

const ranks: Record<Priority, number> = { critical: 0, normal: 1, background: 2 }

class Waiter implements QueueNode<Waiter> {
  prev: Waiter | undefined = undefined
  next: Waiter | undefined = undefined
  queued = false
  heapIndex = -1
  /** Set when granted, so that an interruption racing the grant releases it. */
  permit: Permit | undefined = undefined

  constructor(
    readonly rank: number,
    readonly tokens: number,
    readonly enqueuedAt: number,
    /** The sooner of the queue's `maxWait` and the caller's own deadline (its ticket's). */
    readonly deadline: number,
    readonly resume: Resume
  ) {}
}

class KeyState {
  inFlight = 0
  /** Slots held while a store decision is in progress (counted against the concurrency cap). */
  reserved = 0
  queue: WaitQueue<Waiter> | undefined = undefined
  dispatching = false
  /** Resumes the sleeping dispatcher, if it is sleeping. */
  wake: (() => void) | undefined = undefined
  /** A wake-up arrived while the dispatcher was not sleeping: it must not go to sleep. */
  wakePending = false
  /** The dispatcher sleeps for lack of room (not for the store): a release frees some. */
  waitingForRoom = false
  coolingDownUntil = 0

  constructor(readonly key: string, readonly quota: KeyQuota, public lastUsed: number) {}

  get queued(): number {
    return this.queue === undefined ? 0 : this.queue.size
  }

  get hasRoom(): boolean {
    return this.inFlight + this.reserved < this.quota.maxConcurrency
  }

  get idle(): boolean {
    return !this.dispatching && this.inFlight === 0 && this.reserved === 0 && this.queued === 0
  }
}

/** A ticket's token estimate as a number the stores can use: garbage counts as nothing. */
const costOf = (tokens: number): number => (tokens >= 0 ? tokens : 0)

const rejected = (
  key: string,
  reason: RateLimiterRejected["reason"],
  message: string,
  waits?: { readonly waitedMillis: number; readonly predictedMillis: number | undefined }
) =>
  new RateLimiterRejected({
    key,
    reason,
    message,
    waited: waits === undefined ? undefined : Duration.millis(waits.waitedMillis),
    predictedWait: waits?.predictedMillis === undefined ? undefined : Duration.millis(Math.ceil(waits.predictedMillis))
  })

const isSuccess = (outcome: Outcome): boolean =>
  outcome.status !== null && outcome.status < 500 && outcome.status !== 429 && outcome.rateLimited !== true

/** A refusal for rate that says neither which limit it hit nor anything of the key's limits. */
const namesNoLimit = (outcome: Outcome): boolean =>
  outcome.refusedFor === "unknown" && !describesWindow(outcome.rateLimit?.requests) &&
  !describesWindow(outcome.rateLimit?.tokens)

const describesWindow = (window: RateLimitWindow | undefined): boolean =>
  window !== undefined &&
  (window.limit !== undefined || window.remaining !== undefined || window.resetAfter !== undefined)

/**
 * How long the server asked everybody to pause: Retry-After, else the reset of a window it
 * reports exhausted. When both are given and Retry-After is no longer than that reset rounded
 * up to whole seconds, it says the same wait at a coarser grain (a Retry-After of 1 s for a
 * slot free in 50 ms): the reset, to the millisecond, is taken. `undefined` when it said neither.
 */
const serverPauseMillis = (outcome: Outcome): number | undefined => {
  const retryAfter = outcome.retryAfter === undefined ? 0 : Math.ceil(Duration.toMillis(outcome.retryAfter))
  const reset = exhaustedWindowReset(outcome.rateLimit)
  if (!(retryAfter > 0)) return reset
  return reset !== undefined && retryAfter <= Math.max(1000, Math.ceil(reset / 1000) * 1000)
    ? Math.min(reset, retryAfter)
    : retryAfter
}

/** The longest reset among the windows the headers report exhausted. */
const exhaustedWindowReset = (info: RateLimitInfo | undefined): number | undefined => {
  let reset: number | undefined
  for (const window of [info?.requests, info?.tokens]) {
    if (window?.remaining === 0 && window.resetAfter !== undefined) {
      const millis = Duration.toMillis(window.resetAfter)
      if (millis > 0 && Number.isFinite(millis)) reset = Math.max(reset ?? 0, Math.ceil(millis))
    }
  }
  return reset
}

/**
 * The engine over `store`, living as long as the scope. Options must be valid (check them with
 * `RateLimiterMemory.validate` to get a typed error): invalid ones are a defect here.
 */
export const makeEngine = (options: LimiterOptions, store: AdmissionStore): Effect.Effect<Engine, never, Scope.Scope> =>
  Either.match(resolveOptions(options), {
    onLeft: (error) => Effect.die(error),
    onRight: (resolved) => build(resolved, store)
  })

const build = (options: ResolvedOptions, store: AdmissionStore): Effect.Effect<Engine, never, Scope.Scope> =>
  Effect.gen(function*() {
    const clock = yield* Effect.clock
    const dispatchers = yield* FiberSet.make<void, never>()
    const runDispatcher = yield* FiberSet.runtime(dispatchers)<never>()
    const keys = new Map<string, KeyState>()
    let closed = false

    const evictIdle = Effect.sync(() => {
      const now = clock.unsafeCurrentTimeMillis()
      for (const [key, state] of keys) {
        if (state.idle && now - state.lastUsed >= options.idleKeyTtlMillis && state.coolingDownUntil <= now) {
          keys.delete(key)
        }
      }
    })

    // --- settling waiters --------------------------------------------------------------------

    class GrantedPermit implements Permit {
      released = false

      constructor(
        readonly state: KeyState,
        /** Tokens debited at admission (0 when no token limit applied). */
        readonly charged: number,
        readonly admittedAt: number,
        readonly waited: Duration.Duration
      ) {}

      readonly release = (outcome: Outcome): Effect.Effect<void> => release(this, outcome)
    }

    const grant = (
      state: KeyState,
      tokens: number,
      now: number,
      waited: Duration.Duration,
      share: number | undefined
    ): Permit => {
      state.inFlight++
      state.quota.recordAdmission(now, share)
      return new GrantedPermit(state, state.quota.limits.tokensPerMinute === Infinity ? 0 : tokens, now, waited)
    }

    /** Remove `waiter` from the queue and fail it. */
    const reject = (
      state: KeyState,
      waiter: Waiter,
      reason: RateLimiterRejected["reason"],
      message: string,
      waits?: Parameters<typeof rejected>[3]
    ) => {
      state.queue?.remove(waiter)
      waiter.resume(Effect.fail(rejected(state.key, reason, message, waits)))
    }

    /** Whether the waiter's deadline is its caller's own, sooner than the queue's `maxWait`. */
    const ownDeadline = (waiter: Waiter) => waiter.deadline < waiter.enqueuedAt + options.maxWaitMillis

    const timedOut = (state: KeyState, waiter: Waiter, now: number, more = 0) => {
      const waits = { waitedMillis: now - waiter.enqueuedAt, predictedMillis: more > 0 ? now + more - waiter.enqueuedAt : undefined }
      return ownDeadline(waiter)
        ? reject(state, waiter, "deadline", deadlineMessage(state.key, waiter.deadline - waiter.enqueuedAt, more), waits)
        : reject(
          state,
          waiter,
          "queue-timeout",
          more > 0
            ? `Call for key ${state.key} would wait ${Math.ceil(now + more - waiter.enqueuedAt)} ms in all, ` +
              `more than maxWait (${options.maxWaitMillis} ms)`
            : `Call for key ${state.key} waited ${now - waiter.enqueuedAt} ms, reaching maxWait (${options.maxWaitMillis} ms)`,
          waits
        )
    }

    const expireOverdue = (state: KeyState, queue: WaitQueue<Waiter>, now: number) => {
      let waiter = queue.overdue(now)
      while (waiter !== undefined) {
        timedOut(state, waiter, now)
        waiter = queue.overdue(now)
      }
    }

    const failAll = (state: KeyState, reason: RateLimiterRejected["reason"], message: string) =>
      state.queue?.drain((waiter) => waiter.resume(Effect.fail(rejected(state.key, reason, message))))

    // --- store calls that cannot fail the caller -----------------------------------------------

    const tolerate = (what: string, effect: Effect.Effect<void, StoreUnavailable>) =>
      Effect.catchAll(effect, (error) => Logging.log(`Rate limiter store: ${what} lost (${error.message})`))

    const adjustTokens = (key: string, delta: number, limits: Limits) =>
      tolerate(`token correction of ${delta} for key ${key}`, store.adjustTokens(key, delta, limits))

    // --- the dispatcher ---------------------------------------------------------------------

    const wake = (state: KeyState) => {
      // Always leave the flag: a callback may belong to a sleep that already lost its race.
      state.wakePending = true
      const resume = state.wake
      state.wake = undefined
      resume?.()
    }

    const wakeUp = (state: KeyState) =>
      Effect.async<void>((resume) => {
        if (state.wakePending) return resume(Effect.void)
        const callback = () => resume(Effect.void)
        state.wake = callback
        return Effect.sync(() => {
          // The race's loser is interrupted late: never clear a newer sleep's callback.
          if (state.wake === callback) state.wake = undefined
        })
      })

    /** Sleep until `millis` have passed or something wakes the dispatcher, then serve again. */
    const pause = (state: KeyState, queue: WaitQueue<Waiter>, millis: number): Effect.Effect<void> => {
      if (state.wakePending || millis <= 0) return dispatch(state, queue)
      const sleeping = millis === Infinity
        ? wakeUp(state)
        : Effect.race(wakeUp(state), clock.sleep(Duration.millis(millis)))
      return Effect.zipRight(sleeping, dispatch(state, queue))
    }

    /** Serve the key's queue until it is empty. */
    const dispatch = (state: KeyState, queue: WaitQueue<Waiter>): Effect.Effect<void> =>
      Effect.suspend(() => {
        state.wakePending = false
        const now = clock.unsafeCurrentTimeMillis()
        expireOverdue(state, queue, now)
        const head = queue.peek()
        if (head === undefined) {
          state.dispatching = false
          return Effect.void
        }
        state.waitingForRoom = !state.hasRoom
        if (state.waitingForRoom) return pause(state, queue, queue.earliestDeadline() - now)
        const limits = state.quota.limits
        if (head.tokens > limits.tokensPerMinute) {
          reject(state, head, "too-large", tooLargeMessage(state.key, head.tokens, limits))
          return dispatch(state, queue)
        }
        state.reserved++
        return Effect.matchEffect(store.tryAdmit(state.key, head.tokens, limits), {
          onFailure: (error) => {
            state.reserved--
            // Only the call this decision was for: the next one asks again (at once when the
            // store refuses outright), so each call is told by its own decision, and a reply lost
            // once does not fail the whole queue.
            if (head.queued) reject(state, head, "unavailable", unavailableMessage(state.key, error))
            return dispatch(state, queue)
          },
          onSuccess: (admission) => {
            state.reserved--
            const at = clock.unsafeCurrentTimeMillis()
            if (admission._tag === "Admitted") {
              if (!head.queued) {
                // The waiter left while the store decided: give the tokens back; the slot is lost.
                const charged = limits.tokensPerMinute === Infinity ? 0 : head.tokens
                return charged > 0
                  ? Effect.zipRight(adjustTokens(state.key, -charged, limits), dispatch(state, queue))
                  : dispatch(state, queue)
              }
              queue.remove(head)
              head.permit = grant(state, head.tokens, at, Duration.millis(at - head.enqueuedAt), admission.share)
              head.resume(Effect.succeed(head.permit))
              return dispatch(state, queue)
            }
            if (head.queued && head.deadline < at + admission.retryInMillis) {
              // It cannot go before its deadline: say so now rather than at the deadline.
              timedOut(state, head, at, admission.retryInMillis)
              return dispatch(state, queue)
            }
            return pause(state, queue, Math.min(admission.retryInMillis, queue.earliestDeadline() - at))
          }
        })
      })

    const startDispatcher = (state: KeyState, queue: WaitQueue<Waiter>) => {
      state.dispatching = true
      runDispatcher(
        Effect.interruptible(dispatch(state, queue)).pipe(
          Effect.onExit((exit) =>
            Exit.isFailure(exit) && !closed
              ? Effect.zipRight(
                Effect.sync(() => {
                  state.dispatching = false
                  failAll(state, "unavailable", `The rate limiter's dispatcher for key ${state.key} stopped`)
                }),
                Effect.logError("Rate limiter dispatcher stopped", exit.cause)
              )
              : Effect.void
          )
        ),
        { immediate: false }
      )
    }

    // --- acquire -------------------------------------------------------------------------------

    /** Queue for a permit; the wait (and only the wait) is interruptible, even inside `withPermit`. */
    const awaitPermit = (state: KeyState, tokens: number, rank: number, enqueuedAt: number, until: number) =>
      Effect.interruptible(Effect.async<Permit, RateLimiterRejected>((resume) => {
        const queue = state.queue ??= new WaitQueue<Waiter>(3)
        if (queue.size >= options.maxQueued) {
          const victim = queue.newestBelow(rank)
          if (victim === undefined) {
            return resume(Effect.fail(rejected(
              state.key,
              "queue-full",
              `The queue of key ${state.key} is full (${options.maxQueued} calls waiting)`
            )))
          }
          reject(state, victim, "shed", `Shed from the queue of key ${state.key} to make room for a more urgent call`)
        }
        const best = queue.peek()
        const maxWaitEnds = enqueuedAt + options.maxWaitMillis
        // Not Math.min: a deadline that is not a number (NaN) is no deadline.
        const waiter = new Waiter(rank, tokens, enqueuedAt, until < maxWaitEnds ? until : maxWaitEnds, resume)
        queue.push(waiter)
        if (!state.dispatching) startDispatcher(state, queue)
        else if (best === undefined || rank < best.rank) wake(state)
        return Effect.suspend(() => {
          if (waiter.queued) {
            queue.remove(waiter)
            return Effect.void
          }
          return waiter.permit === undefined ? Effect.void : waiter.permit.release(cancelled)
        })
      }))

    /**
     * Give back the slot a direct caller held while the store decided, when it leaves without a
     * permit. Callers may have queued meanwhile, with a dispatcher asleep for want of that very
     * slot: no release will come to wake it (nothing may be in flight), so wake it here.
     */
    const unreserve = (state: KeyState) => {
      state.reserved--
      if (state.waitingForRoom && state.queued > 0) wake(state)
    }

    /** Nobody queued and room to run: ask the store directly. */
    const admitNow = (state: KeyState, tokens: number, rank: number, now: number, until: number) => {
      state.reserved++
      return Effect.matchEffect(store.tryAdmit(state.key, tokens, state.quota.limits), {
        onFailure: (error) => {
          unreserve(state)
          return Effect.fail(rejected(state.key, "unavailable", unavailableMessage(state.key, error)))
        },
        onSuccess: (admission): Effect.Effect<Permit, RateLimiterRejected> => {
          if (admission._tag === "Admitted") {
            state.reserved--
            return Effect.succeed(grant(state, tokens, clock.unsafeCurrentTimeMillis(), Duration.zero, admission.share))
          }
          unreserve(state)
          return awaitPermit(state, tokens, rank, now, until)
        }
      })
    }

    const admit = (state: KeyState, ticket: Ticket, now: number): Effect.Effect<Permit, RateLimiterRejected> => {
      state.lastUsed = now
      const tokens = costOf(ticket.tokens)
      const limits = state.quota.limits
      const rank = ranks[ticket.priority] ?? ranks.normal
      const until = ticket.deadline ?? Infinity
      return tokens > limits.tokensPerMinute
        ? Effect.fail(rejected(ticket.key, "too-large", tooLargeMessage(ticket.key, tokens, limits)))
        : until <= now
        ? Effect.fail(rejected(ticket.key, "deadline", deadlineMessage(ticket.key, 0, 0), { waitedMillis: 0, predictedMillis: undefined }))
        : state.queued === 0 && state.hasRoom
        ? admitNow(state, tokens, rank, now, until)
        : awaitPermit(state, tokens, rank, now, until)
    }

    const admitFirst = (ticket: Ticket, now: number): Effect.Effect<Permit, RateLimiterRejected> => {
      const limits = options.limitsFor(ticket.key)
      const state = new KeyState(ticket.key, new KeyQuota(Either.getOrElse(limits, () => unlimited), options), now)
      keys.set(ticket.key, state)
      const admission = admit(state, ticket, now)
      return Either.isLeft(limits)
        ? Effect.zipRight(
          Logging.log(`${limits.left.message}; key ${ticket.key} runs without configured limits`),
          admission
        )
        : admission
    }

    const decide = (ticket: Ticket): Effect.Effect<Permit, RateLimiterRejected> => {
      if (closed) return Effect.fail(rejected(ticket.key, "unavailable", "The rate limiter has shut down"))
      const now = clock.unsafeCurrentTimeMillis()
      const state = keys.get(ticket.key)
      return state === undefined ? admitFirst(ticket, now) : admit(state, ticket, now)
    }

    // Bookkeeping is uninterruptible; only the wait in the queue can be interrupted. A caller
    // already uninterruptible (one that must not lose the permit it gets) is not wrapped
    // again: each wrapper would stay on its stack, and on its heap, for the whole wait.
    const acquire = (ticket: Ticket): Effect.Effect<Permit, RateLimiterRejected> =>
      Effect.checkInterruptible((interruptible) => interruptible ? Effect.uninterruptible(decide(ticket)) : decide(ticket))

    // --- release -------------------------------------------------------------------------------

    const release = (permit: GrantedPermit, outcome: Outcome): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (permit.released) return Effect.void
        permit.released = true
        const state = permit.state
        const quota = state.quota
        state.inFlight--
        const now = clock.unsafeCurrentTimeMillis()
        state.lastUsed = now
        const limitsBefore = quota.limits
        quota.learn(outcome.rateLimit)
        let work: Effect.Effect<void> | undefined
        // "At capacity" is the server's trouble, not the key's quota: only the refused call waits.
        if (outcome.rateLimited === true && outcome.refusedFor !== "capacity") {
          const aimdPause = quota.rateLimited(permit.admittedAt, now, namesNoLimit(outcome))
          const millis = serverPauseMillis(outcome) ?? aimdPause
          state.coolingDownUntil = Math.max(state.coolingDownUntil, now + millis)
          work = Effect.zipRight(
            Logging.log(`Rate limited: every call of key ${state.key} pauses ${millis} ms`),
            tolerate(`cooldown of key ${state.key}`, store.startCooldown(state.key, millis))
          )
        } else if (isSuccess(outcome)) {
          quota.succeeded(state.queued > 0, permit.admittedAt, now)
        }
        const correction = tokenCorrection(permit.charged, outcome)
        if (correction !== 0 && quota.limits.tokensPerMinute !== Infinity) {
          const adjust = adjustTokens(state.key, correction, quota.limits)
          work = work === undefined ? adjust : Effect.zipRight(work, adjust)
        }
        // The dispatcher's sleep is still right unless this release freed room it waits for,
        // gave tokens back, or changed the limits. Wake it only once the store knows (refund).
        const wakeDispatcher = state.queued > 0 &&
          (state.waitingForRoom || correction < 0 || quota.limits !== limitsBefore)
        if (work === undefined) {
          if (wakeDispatcher) wake(state)
          return Effect.void
        }
        return Effect.uninterruptible(wakeDispatcher ? Effect.ensuring(work, Effect.sync(() => wake(state))) : work)
      })

    // --- stats ---------------------------------------------------------------------------------

    const stats = (key: string): Effect.Effect<KeyStats> =>
      Effect.sync(() => {
        const state = keys.get(key)
        if (state === undefined) {
          const configured = Either.getOrElse(options.limitsFor(key), () => unlimited)
          return {
            key,
            queued: 0,
            inFlight: 0,
            requestsPerSecond: configured.requestsPerSecond,
            tokensPerMinute: configured.tokensPerMinute,
            coolingDown: false
          }
        }
        return {
          key,
          queued: state.queued,
          inFlight: state.inFlight,
          requestsPerSecond: state.quota.limits.requestsPerSecond,
          tokensPerMinute: state.quota.limits.tokensPerMinute,
          coolingDown: state.coolingDownUntil > clock.unsafeCurrentTimeMillis()
        }
      })

    // --- lifetime ------------------------------------------------------------------------------

    yield* Effect.forkScoped(Effect.interruptible(Effect.forever(
      Effect.zipRight(clock.sleep(Duration.millis(options.idleKeyTtlMillis / 2)), evictIdle)
    )))
    // Runs before the dispatchers are interrupted (finalizers run in reverse order).
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        closed = true
        for (const state of keys.values()) failAll(state, "unavailable", "The rate limiter has shut down")
      })
    )

    return { acquire, stats, trackedKeys: () => keys.size }
  })

/**
 * Tokens to debit (> 0) or refund (< 0) once the call's real usage is known: usage when the
 * server reported it, nothing for a call refused for rate, else the estimate stands.
 */
const tokenCorrection = (charged: number, outcome: Outcome): number => {
  const used = outcome.usedTokens
  if (used !== undefined && used >= 0 && Number.isFinite(used)) return Number.isFinite(charged) ? used - charged : 0
  if (outcome.rateLimited === true && Number.isFinite(charged)) return -charged
  return 0
}

const tooLargeMessage = (key: string, tokens: number, limits: Limits) =>
  `A call estimated at ${tokens} tokens can never fit key ${key}'s ${limits.tokensPerMinute} tokens per minute`

const deadlineMessage = (key: string, allowedMillis: number, more: number) =>
  more > 0
    ? `Call for key ${key} cannot be admitted within its deadline (${Math.ceil(allowedMillis)} ms): the next slot is ${Math.ceil(more)} ms away`
    : `Call for key ${key} reached its deadline before a permit`

const unavailableMessage = (key: string, error: StoreUnavailable) =>
  `The rate limiter store is unavailable for key ${key}: ${error.message}`
