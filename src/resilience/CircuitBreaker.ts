/**
 * A circuit breaker per key: while a dependency is down, calls to it are held back instead of
 * each running into timeouts and errors and adding load to a server that is trying to recover.
 *
 * - **closed**: calls go through; their outcomes fill a sliding window. When the window holds
 *   at least `minimumCalls` outcomes and at least `failureRatio` of them are failures, the
 *   breaker opens.
 * - **open**: calls do not run. With `whenOpen: "wait"` (the default) they wait for the
 *   breaker, for `maxWait` at most counted from when it opened: a short outage is ridden out,
 *   and once the breaker has held calls for `maxWait` they fail at once (a probe at a time
 *   still goes through) until a probe succeeds. With `"fail"` they fail at once with the
 *   caller's `onOpen` error, carrying the time until the breaker half-opens. The break lasts
 *   `breakDuration`, doubles with each failed probe, and never exceeds `maxBreakDuration`.
 * - **half-open**: up to `halfOpenCalls` probes go through; one failure opens the breaker
 *   again, `halfOpenCalls` successes close it and let every waiting call go.
 *
 * A waiting call is not an attempt: it sends nothing and holds no resource until it is let
 * through, and it ends whenever the caller gives up (an interruption, a deadline).
 *
 * Provider-agnostic: the caller says which errors count ({@link Verdict}): for an HTTP API,
 * 5xx, timeouts and transport failures are failures, while a 4xx the caller caused proves
 * the server is answering. State lives in this process; its changes are logged and exported
 * as the {@link stateGauge}. Time is Effect's `Clock`.
 *
 * `docs/degradation.md` explains the defaults.
 *
 * @since 0.1.0
 */
import { Clock, Context, Data, Deferred, Duration, Effect, Either, Exit, FiberId, Layer, Metric } from "effect"
import { dual } from "effect/Function"
import * as Logging from "../Logging.js"
import * as Circuit from "./internal/circuit.js"

/**
 * @since 0.1.0
 */
export type State = Circuit.StateName

/**
 * How a finished call counts: `failure` (the dependency looks unhealthy), `success` (it
 * answered, even with an error the caller caused), or `ignore` (the call says nothing about
 * it, e.g. it never left this process).
 *
 * @since 0.1.0
 */
export type Verdict = Circuit.Verdict

/**
 * What a call does while its breaker is open or its probes are out: `wait` until the breaker
 * lets it through (the next probe's verdict), or `fail` at once with a {@link Rejection}.
 *
 * @since 0.1.0
 */
export type WhenOpen = "wait" | "fail"

/**
 * Why a call was not let through.
 *
 * @since 0.1.0
 */
export interface Rejection {
  readonly key: string
  readonly state: "open" | "half-open"
  /** Time until the breaker half-opens; `undefined` when it is half-open and its probes are all out. */
  readonly retryAfter: Duration.Duration | undefined
  /** How long the breaker has been holding calls back (since it opened). */
  readonly openFor: Duration.Duration
  /**
   * `true` when a waiting call gave up because the breaker has held calls for `maxWait`: the
   * outage is not a short one, and waiting on would only stretch the caller's wait.
   */
  readonly waitLimitReached: boolean
}

/**
 * @since 0.1.0
 */
export interface Options {
  /** Share of failures in the window that opens the breaker, in (0, 1]. Default 0.5. */
  readonly failureRatio?: number | undefined
  /** The sliding window the ratio is measured over (finite, above zero). Default 30 seconds. */
  readonly window?: Duration.DurationInput | undefined
  /** Outcomes the window must hold before the breaker may open (a whole number >= 1). Default 10. */
  readonly minimumCalls?: number | undefined
  /** The first break: how long the breaker stays open before its first probe (finite, above zero). Default 500 ms. */
  readonly breakDuration?: Duration.DurationInput | undefined
  /**
   * The longest break: each failed probe doubles the break up to this (finite, at least
   * `breakDuration`). Default 2 seconds, or `breakDuration` when that is longer.
   */
  readonly maxBreakDuration?: Duration.DurationInput | undefined
  /** Probes let through at once while half-open, and successes needed to close (a whole number >= 1). Default 1. */
  readonly halfOpenCalls?: number | undefined
  /** What calls do while the breaker holds them back. Default `"wait"`. */
  readonly whenOpen?: WhenOpen | undefined
  /**
   * In `wait` mode, the longest time calls wait for the breaker, counted from when it opened
   * (above zero; `Duration.infinity` to wait until each call's own deadline). Once the
   * breaker has held calls this long they fail at once, until a probe succeeds. Default 30 seconds.
   */
  readonly maxWait?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 */
export interface ValidOptions {
  readonly failureRatio: number
  readonly window: Duration.Duration
  readonly minimumCalls: number
  readonly breakDuration: Duration.Duration
  readonly maxBreakDuration: Duration.Duration
  readonly halfOpenCalls: number
  readonly whenOpen: WhenOpen
  readonly maxWait: Duration.Duration
}

/**
 * The defaults, adapted to LLM traffic: 0.5 over 30 seconds, at least 10 calls, a break of
 * 500 ms doubling up to 2 seconds, 1 probe at a time, calls wait, for 30 seconds at most.
 * `docs/degradation.md` explains each number.
 *
 * @since 0.1.0
 */
export const defaults: ValidOptions = {
  failureRatio: 0.5,
  window: Duration.seconds(30),
  minimumCalls: 10,
  breakDuration: Duration.millis(500),
  maxBreakDuration: Duration.seconds(2),
  halfOpenCalls: 1,
  whenOpen: "wait",
  maxWait: Duration.seconds(30)
}

/**
 * An option was out of range: `option` names it, `message` says what was expected.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidCircuitBreakerOptions extends Data.TaggedError("InvalidCircuitBreakerOptions")<{
  readonly option: string
  readonly message: string
}> {}

const invalid = (option: string, problem: string) =>
  Either.left(new InvalidCircuitBreakerOptions({ option, message: `${option}: ${problem}` }))

const positiveDuration = (option: string, input: Duration.DurationInput | undefined, fallback: Duration.Duration) => {
  if (input === undefined) return Either.right(fallback)
  const decoded = Duration.decodeUnknown(input)
  return decoded._tag === "Some" && Duration.isFinite(decoded.value) && !Duration.isZero(decoded.value)
    ? Either.right(decoded.value)
    : invalid(option, `must be a finite duration above zero, got ${String(input)}`)
}

/** A duration above zero, `Duration.infinity` allowed. */
const aboveZero = (option: string, input: Duration.DurationInput | undefined, fallback: Duration.Duration) => {
  if (input === undefined) return Either.right(fallback)
  const decoded = Duration.decodeUnknown(input)
  return decoded._tag === "Some" && !Duration.isZero(decoded.value)
    ? Either.right(decoded.value)
    : invalid(option, `must be a duration above zero (or Duration.infinity), got ${String(input)}`)
}

const wholeAtLeastOne = (option: string, input: number | undefined, fallback: number) => {
  const value = input ?? fallback
  return Number.isInteger(value) && value >= 1
    ? Either.right(value)
    : invalid(option, `must be a whole number >= 1, got ${value}`)
}

/**
 * Check options without building anything: the typed path for options from configuration.
 *
 * @since 0.1.0
 */
export const validate = (options: Options = {}): Either.Either<ValidOptions, InvalidCircuitBreakerOptions> =>
  Either.gen(function*() {
    const failureRatio = options.failureRatio ?? defaults.failureRatio
    if (!(failureRatio > 0 && failureRatio <= 1)) {
      return yield* invalid("failureRatio", `must be above 0 and at most 1, got ${failureRatio}`)
    }
    const whenOpen = options.whenOpen ?? defaults.whenOpen
    if (whenOpen !== "wait" && whenOpen !== "fail") {
      return yield* invalid("whenOpen", `must be "wait" or "fail", got ${String(whenOpen)}`)
    }
    const breakDuration = yield* positiveDuration("breakDuration", options.breakDuration, defaults.breakDuration)
    const maxBreakDuration = yield* positiveDuration(
      "maxBreakDuration",
      options.maxBreakDuration,
      Duration.max(defaults.maxBreakDuration, breakDuration)
    )
    if (Duration.lessThan(maxBreakDuration, breakDuration)) {
      return yield* invalid("maxBreakDuration", `must be at least breakDuration (${Duration.format(breakDuration)})`)
    }
    return {
      failureRatio,
      window: yield* positiveDuration("window", options.window, defaults.window),
      minimumCalls: yield* wholeAtLeastOne("minimumCalls", options.minimumCalls, defaults.minimumCalls),
      breakDuration,
      maxBreakDuration,
      halfOpenCalls: yield* wholeAtLeastOne("halfOpenCalls", options.halfOpenCalls, defaults.halfOpenCalls),
      whenOpen,
      maxWait: yield* aboveZero("maxWait", options.maxWait, defaults.maxWait)
    }
  })

/**
 * What {@link Service.guard} needs to know about the protected call's errors.
 *
 * @since 0.1.0
 */
export interface Handlers<E, E2> {
  /** How a failure of the call counts. A success always counts as a success. */
  readonly classify: (error: E) => Verdict
  /** The error a call rejected in `fail` mode fails with instead of running. */
  readonly onOpen: (rejection: Rejection) => E2
  /**
   * When a waiting call must give up (epoch millis on the `Clock`), and the error it then
   * fails with: the call's own deadline. Without it, a call waits until interrupted.
   */
  readonly waitUntil?: { readonly at: number; readonly onExpired: () => E2 } | undefined
}

/**
 * @since 0.1.0
 */
export interface Service {
  /**
   * Run `effect` under the breaker of `key`. While the breaker holds calls back, wait until it
   * lets this one through, or (in `fail` mode) fail with `handlers.onOpen` without running it.
   * Interruptions and defects are not counted.
   */
  readonly guard: <A, E, R, E2>(
    key: string,
    effect: Effect.Effect<A, E, R>,
    handlers: Handlers<E, E2>
  ) => Effect.Effect<A, E | E2, R>
  /**
   * The state of `key`'s breaker (`closed` for a key never seen). An open breaker whose break
   * is over stays `open` until the next call half-opens it.
   */
  readonly state: (key: string) => Effect.Effect<State>
}

/**
 * The breakers of a client (or of an app, when provided as a layer to several clients).
 *
 * @since 0.1.0
 * @category tags
 */
export class CircuitBreaker extends Context.Tag("effect-grok/CircuitBreaker")<CircuitBreaker, Service>() {}

/**
 * Overrides the breakers' `whenOpen` for everything it is provided to (`undefined`: each
 * breaker's own option). See {@link withWhenOpen}.
 *
 * @since 0.1.0
 * @category tags
 */
export class CurrentWhenOpen extends Context.Reference<CurrentWhenOpen>()("effect-grok/CircuitBreaker/CurrentWhenOpen", {
  defaultValue: (): WhenOpen | undefined => undefined
}) {}

/**
 * Run `self` with every breaker it meets set to `mode`: e.g. `"fail"` for a step of a
 * fallback chain that should move on at once rather than wait for its model.
 *
 * @since 0.1.0
 */
export const withWhenOpen: {
  (mode: WhenOpen): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, mode: WhenOpen): Effect.Effect<A, E, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, mode: WhenOpen): Effect.Effect<A, E, R> =>
    Effect.provideService(self, CurrentWhenOpen, mode)
)

/**
 * The state of every breaker, tagged by `key`: 0 closed, 1 half-open, 2 open.
 *
 * @since 0.1.0
 */
export const stateGauge = Metric.gauge("effect_grok.circuit.state", {
  description: "Circuit breaker state by key: 0 closed, 1 half-open, 2 open"
})

/**
 * Calls waiting for each breaker to let them through, tagged by `key`.
 *
 * @since 0.1.0
 */
export const waitingGauge = Metric.gauge("effect_grok.circuit.waiting", {
  description: "Calls waiting for an open or half-open circuit breaker, by key"
})

const gaugeValue: Record<State, number> = { closed: 0, "half-open": 1, open: 2 }

const report = (key: string, transition: Circuit.Transition): Effect.Effect<void> => {
  if (transition === undefined) return Effect.void
  const gauge = Metric.set(Metric.tagged(stateGauge, "key", key), gaugeValue[transition.to])
  const log = transition.to === "open"
    ? Logging.log("circuit breaker opened", {
      circuit: key,
      ...(transition.calls === undefined ? {} : { failures: transition.failures, calls: transition.calls })
    })
    : Logging.log(`circuit breaker ${transition.to}`, { circuit: key })
  return Effect.zipRight(gauge, log)
}

const outcomeOf = <A, E>(exit: Exit.Exit<A, E>, classify: (error: E) => Verdict): Verdict => {
  if (Exit.isSuccess(exit)) return "success"
  return exit.cause._tag === "Fail" ? classify(exit.cause.error) : "ignore"
}

/** One key's circuit, and the signal its waiting calls wait on. */
interface Breaker {
  readonly key: string
  readonly circuit: Circuit.Circuit
  /** Completed, and replaced, whenever something happens that a waiting call may act on. */
  changed: Deferred.Deferred<void>
}

const freshSignal = () => Deferred.unsafeMake<void>(FiberId.none)

/**
 * Wake the calls waiting on the circuit. Runs in the same synchronous step as the change, so
 * a waiting call never holds a signal older than the state it read.
 */
const signal = (breaker: Breaker): void => {
  const woken = breaker.changed
  breaker.changed = freshSignal()
  Deferred.unsafeDone(woken, Exit.void)
}

const rejectionOf = (breaker: Breaker, admission: Circuit.Rejected, now: number, waitLimitReached: boolean): Rejection => ({
  key: breaker.key,
  state: admission.state,
  retryAfter: admission.retryAfterMillis === undefined ? undefined : Duration.millis(admission.retryAfterMillis),
  openFor: Duration.millis(Math.max(0, now - (breaker.circuit.openedAt ?? now))),
  waitLimitReached
})

/** The breaker's state as a rejection, for a call that stops waiting for it at `now`. */
const rejectionNow = (breaker: Breaker, now: number): Rejection => {
  const phase = breaker.circuit.phase
  return rejectionOf(
    breaker,
    {
      _tag: "Rejected",
      state: phase._tag === "open" ? "open" : "half-open",
      retryAfterMillis: phase._tag === "open" ? Math.max(0, phase.until - now) : undefined
    },
    now,
    true
  )
}

const waitingChanged = (breaker: Breaker) =>
  Effect.suspend(() => Metric.set(Metric.tagged(waitingGauge, "key", breaker.key), breaker.circuit.line.size))

/**
 * A new set of breakers (one per key, created on first use) from options already validated.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromValid = (options: ValidOptions): Effect.Effect<Service> =>
  Effect.sync(() => {
    const settings: Circuit.Settings = {
      failureRatio: options.failureRatio,
      windowMillis: Duration.toMillis(options.window),
      minimumCalls: options.minimumCalls,
      breakMillis: Duration.toMillis(options.breakDuration),
      maxBreakMillis: Duration.toMillis(options.maxBreakDuration),
      halfOpenCalls: options.halfOpenCalls
    }
    const breakers = new Map<string, Breaker>()
    const breakerOf = (key: string) => {
      let breaker = breakers.get(key)
      if (breaker === undefined) {
        breaker = { key, circuit: Circuit.make(), changed: freshSignal() }
        breakers.set(key, breaker)
      }
      return breaker
    }
    // A new key shows on the gauge as closed, so dashboards see every breaker.
    const known = (key: string) =>
      breakers.has(key)
        ? Effect.succeed(breakerOf(key))
        : Effect.as(Metric.set(Metric.tagged(stateGauge, "key", key), gaugeValue.closed), breakerOf(key))

    /** Ask to be let through; a transition wakes the waiting calls. */
    const ask = (breaker: Breaker, now: number): readonly [Circuit.Admission, Circuit.Transition] => {
      const asked = Circuit.admit(breaker.circuit, now, settings)
      if (asked[1] !== undefined) signal(breaker)
      return asked
    }

    const maxWaitMillis = Duration.toMillis(options.maxWait)

    /** When a call waiting for `breaker` must give up: `maxWait` after the breaker opened. */
    const waitLimitOf = (breaker: Breaker): number =>
      breaker.circuit.openedAt === undefined ? Infinity : breaker.circuit.openedAt + maxWaitMillis

    /**
     * Let the call through now, or fail with `onOpen`. `waitLimitReached`: the call would
     * wait, but the breaker has held calls for `maxWait` already.
     */
    const failFast = <E2>(
      breaker: Breaker,
      onOpen: (rejection: Rejection) => E2,
      waitLimitReached: boolean
    ): Effect.Effect<Circuit.Ticket, E2> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const [admission, transition] = ask(breaker, now)
        return Effect.zipRight(
          report(breaker.key, transition),
          admission._tag === "Admitted"
            ? Effect.succeed(admission.ticket)
            : Effect.fail(onOpen(rejectionOf(breaker, admission, now, waitLimitReached)))
        )
      })

    /**
     * Wait in line until the breaker lets the call through. The first in line sleeps out the
     * break, or waits for the probes' verdict; the others wait for something to happen. Only
     * the waits are interruptible, and a call that gives up leaves the line.
     */
    const waitInLine = <E2>(
      breaker: Breaker,
      restore: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>,
      until: Handlers<unknown, E2>["waitUntil"],
      onOpen: (rejection: Rejection) => E2
    ): Effect.Effect<Circuit.Ticket, E2> => {
      let position: number | undefined
      const leave = Effect.suspend(() => {
        if (position === undefined) return Effect.void
        if (Circuit.leave(breaker.circuit, position)) signal(breaker)
        position = undefined
        return waitingChanged(breaker)
      })
      // A wait ends at the caller's deadline, with the caller's error, or at the breaker's
      // wait limit (`maxWait` after it opened), with the breaker's rejection: whichever comes first.
      const bounded = (wait: Effect.Effect<void>, now: number): Effect.Effect<void, E2> => {
        const deadline = until?.at ?? Infinity
        const limit = waitLimitOf(breaker)
        const endsAt = Math.min(deadline, limit)
        if (endsAt === Infinity) return wait
        const expired = Effect.suspend(() =>
          Effect.flatMap(Clock.currentTimeMillis, (at) =>
            Effect.fail(limit <= deadline ? onOpen(rejectionNow(breaker, at)) : until!.onExpired()))
        )
        return endsAt <= now
          ? expired
          : Effect.raceFirst(wait, Effect.zipRight(Effect.sleep(Duration.millis(endsAt - now)), expired))
      }
      const turn: Effect.Effect<Circuit.Ticket, E2> = Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const [admission, transition] = Circuit.mayAsk(breaker.circuit, position)
          ? ask(breaker, now)
          : [undefined, undefined]
        // Read in the same step as the state: a later change completes this very signal.
        const changed = breaker.changed
        const reported = report(breaker.key, transition)
        if (admission?._tag === "Admitted") return reported.pipe(Effect.zipRight(leave), Effect.as(admission.ticket))
        const joining = position === undefined
        if (joining) position = Circuit.join(breaker.circuit)
        const wait = admission?.retryAfterMillis === undefined
          ? Deferred.await(changed)
          : Effect.sleep(Duration.millis(admission.retryAfterMillis))
        return reported.pipe(
          Effect.zipRight(joining ? waitingChanged(breaker) : Effect.void),
          Effect.zipRight(restore(bounded(wait, now))),
          Effect.zipRight(Effect.suspend(() => turn))
        )
      })
      return Effect.ensuring(turn, leave)
    }

    /** Count the outcome of an admitted call; answers whether it was a probe that failed. */
    const recorded = (breaker: Breaker, ticket: Circuit.Ticket, verdict: Verdict): Effect.Effect<boolean> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const transition = Circuit.record(breaker.circuit, ticket, verdict, now, settings)
        // A new state, or a probe that ended without one: its slot may be free again.
        if (transition !== undefined || Circuit.stateOf(breaker.circuit) === "half-open") signal(breaker)
        return Effect.as(report(breaker.key, transition), ticket.probe && verdict === "failure")
      })

    const guard: Service["guard"] = (key, effect, handlers) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.clockWith((clock) => {
          // The common case, on every call: a known breaker, closed, admits the call with no
          // transition and no wait, and only its outcome is left to count.
          const breaker = breakers.get(key)
          if (breaker === undefined || Circuit.stateOf(breaker.circuit) !== "closed") return guardSlow(key, effect, handlers, restore)
          const [admission] = Circuit.admit(breaker.circuit, clock.unsafeCurrentTimeMillis(), settings)
          if (admission._tag !== "Admitted") return guardSlow(key, effect, handlers, restore)
          return Effect.onExit(
            restore(effect),
            (exit) => recorded(breaker, admission.ticket, outcomeOf(exit, handlers.classify))
          )
        })
      )

    const guardSlow = <A, E, R, E2>(
      key: string,
      effect: Effect.Effect<A, E, R>,
      handlers: Handlers<E, E2>,
      restore: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
    ): Effect.Effect<A, E | E2, R> =>
        Effect.gen(function*() {
          const breaker = yield* known(key)
          const whenOpen = (yield* CurrentWhenOpen) ?? options.whenOpen
          while (true) {
            // Past the wait limit, a call that would wait fails at once instead (or is the probe).
            const waitedOut = whenOpen === "wait" && (yield* Clock.currentTimeMillis) >= waitLimitOf(breaker)
            const ticket = yield* (whenOpen === "fail" || waitedOut
              ? failFast(breaker, handlers.onOpen, waitedOut)
              : waitInLine(breaker, restore, handlers.waitUntil, handlers.onOpen))
            const exit = yield* Effect.exit(restore(effect))
            const probeFailed = yield* recorded(breaker, ticket, outcomeOf(exit, handlers.classify))
            // A waiting call's failed probe is the breaker's business, not the call's: it waits
            // again, unless the wait limit has passed (then its own failure is its answer).
            if (whenOpen === "fail" || waitedOut || !probeFailed) return yield* exit
          }
        })

    return {
      guard,
      // Asking creates nothing: a key first met by `guard` shows on the gauge then.
      state: (key) =>
        Effect.sync(() => {
          const breaker = breakers.get(key)
          return breaker === undefined ? "closed" : Circuit.stateOf(breaker.circuit)
        })
    }
  })

/**
 * A new set of breakers. Dies with {@link InvalidCircuitBreakerOptions} when an option is out
 * of range (use {@link validate} for options that are not literals in code).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: Options): Effect.Effect<Service> =>
  Effect.flatMap(Effect.orDie(validate(options)), fromValid)

/**
 * Breakers shared by everything the layer is provided to (e.g. several clients).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<CircuitBreaker, InvalidCircuitBreakerOptions> =>
  Layer.effect(CircuitBreaker, Effect.flatMap(validate(options), fromValid))

/**
 * No breaker: every call goes through, nothing is counted.
 *
 * @since 0.1.0
 */
export const disabled: Service = {
  guard: (_key, effect) => effect,
  state: () => Effect.succeed("closed")
}

/**
 * Turn breaking off for everything the layer is provided to.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerDisabled: Layer.Layer<CircuitBreaker> = Layer.succeed(CircuitBreaker, disabled)
