/**
 * A circuit breaker per key: while a dependency is down, calls to it fail at once instead of
 * waiting for timeouts, queueing in the rate limiter and adding load to a server that is
 * trying to recover.
 *
 * - **closed**: calls go through; their outcomes fill a sliding window. When the window holds
 *   at least `minimumCalls` outcomes and at least `failureRatio` of them are failures, the
 *   breaker opens.
 * - **open**: calls are rejected without running (the caller's `onOpen` error, carrying the
 *   time until the breaker half-opens) for `breakDuration`.
 * - **half-open**: up to `halfOpenCalls` probes go through; one failure opens the breaker
 *   again, `halfOpenCalls` successes close it.
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
import { Clock, Context, Data, Duration, Effect, Either, Exit, Layer, Metric } from "effect"
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
 * Why a call was not let through.
 *
 * @since 0.1.0
 */
export interface Rejection {
  readonly key: string
  readonly state: "open" | "half-open"
  /** Time until the breaker half-opens; `undefined` when it is half-open and its probes are all out. */
  readonly retryAfter: Duration.Duration | undefined
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
  /** How long the breaker stays open before probing (finite, above zero). Default 15 seconds. */
  readonly breakDuration?: Duration.DurationInput | undefined
  /** Probes let through while half-open, and successes needed to close (a whole number >= 1). Default 2. */
  readonly halfOpenCalls?: number | undefined
}

/**
 * @since 0.1.0
 */
export interface ValidOptions {
  readonly failureRatio: number
  readonly window: Duration.Duration
  readonly minimumCalls: number
  readonly breakDuration: Duration.Duration
  readonly halfOpenCalls: number
}

/**
 * The defaults, adapted to LLM traffic: 0.5 over 30 seconds, at least 10 calls, open for
 * 15 seconds, 2 probes. `docs/degradation.md` explains each number.
 *
 * @since 0.1.0
 */
export const defaults: ValidOptions = {
  failureRatio: 0.5,
  window: Duration.seconds(30),
  minimumCalls: 10,
  breakDuration: Duration.seconds(15),
  halfOpenCalls: 2
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
    return {
      failureRatio,
      window: yield* positiveDuration("window", options.window, defaults.window),
      minimumCalls: yield* wholeAtLeastOne("minimumCalls", options.minimumCalls, defaults.minimumCalls),
      breakDuration: yield* positiveDuration("breakDuration", options.breakDuration, defaults.breakDuration),
      halfOpenCalls: yield* wholeAtLeastOne("halfOpenCalls", options.halfOpenCalls, defaults.halfOpenCalls)
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
  /** The error a rejected call fails with instead of running. */
  readonly onOpen: (rejection: Rejection) => E2
}

/**
 * @since 0.1.0
 */
export interface Service {
  /**
   * Run `effect` under the breaker of `key`, or fail with `handlers.onOpen` without running
   * it. Interruptions and defects are not counted.
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
 * The state of every breaker, tagged by `key`: 0 closed, 1 half-open, 2 open.
 *
 * @since 0.1.0
 */
export const stateGauge = Metric.gauge("effect_grok.circuit.state", {
  description: "Circuit breaker state by key: 0 closed, 1 half-open, 2 open"
})

const gaugeValue: Record<State, number> = { closed: 0, "half-open": 1, open: 2 }

const report = (key: string, transition: Circuit.Transition): Effect.Effect<void> => {
  if (transition === undefined) return Effect.void
  const gauge = Metric.set(Metric.tagged(stateGauge, "key", key), gaugeValue[transition.to])
  const log = transition.to === "open"
    ? Effect.logWarning("circuit breaker opened").pipe(
      Effect.annotateLogs(transition.calls === undefined ? {} : { failures: transition.failures, calls: transition.calls })
    )
    : Effect.logInfo(`circuit breaker ${transition.to}`)
  return Effect.zipRight(gauge, log.pipe(Effect.annotateLogs({ circuit: key })))
}

const outcomeOf = <A, E>(exit: Exit.Exit<A, E>, classify: (error: E) => Verdict): Verdict => {
  if (Exit.isSuccess(exit)) return "success"
  return exit.cause._tag === "Fail" ? classify(exit.cause.error) : "ignore"
}

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
      halfOpenCalls: options.halfOpenCalls
    }
    const circuits = new Map<string, Circuit.Circuit>()
    const circuitOf = (key: string) => {
      let circuit = circuits.get(key)
      if (circuit === undefined) {
        circuit = Circuit.make()
        circuits.set(key, circuit)
      }
      return circuit
    }
    // A new key shows on the gauge as closed, so dashboards see every breaker.
    const known = (key: string) =>
      circuits.has(key)
        ? Effect.succeed(circuitOf(key))
        : Effect.as(Metric.set(Metric.tagged(stateGauge, "key", key), gaugeValue.closed), circuitOf(key))

    const guard: Service["guard"] = (key, effect, handlers) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const circuit = yield* known(key)
          const now = yield* Clock.currentTimeMillis
          const [admission, transition] = Circuit.admit(circuit, now, settings)
          yield* report(key, transition)
          if (admission._tag === "Rejected") {
            return yield* Effect.fail(handlers.onOpen({
              key,
              state: admission.state,
              retryAfter: admission.retryAfterMillis === undefined ? undefined : Duration.millis(admission.retryAfterMillis)
            }))
          }
          return yield* restore(effect).pipe(
            Effect.onExit((exit) =>
              Effect.flatMap(Clock.currentTimeMillis, (end) =>
                report(key, Circuit.record(circuit, admission.ticket, outcomeOf(exit, handlers.classify), end, settings)))
            )
          )
        })
      )

    return {
      guard,
      state: (key) => Effect.sync(() => Circuit.stateOf(circuitOf(key)))
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
