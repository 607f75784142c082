/**
 * Ctrl-C (SIGINT) and SIGTERM, one mechanism for every command.
 *
 * The process's first signal does not kill the command: it requests a {@link Stop}, which the
 * running command sees and answers its own way (`chat` cancels its call, `load` and `demo`
 * start no new call and let the attempts on the wire end, `simulate` closes its port), prints
 * what happened so far, and ends with {@link interruptedExit}: 130 after SIGINT, 143 after
 * SIGTERM, the codes shells give a process ended by the signal. A second signal exits at once.
 *
 * A command says when it answers a stop itself by running under {@link handling} (or
 * {@link interruptOnStop}, which does it for a single piece of work). A signal that comes
 * while no command handles it interrupts the command (its finalizers run) and the process
 * exits 130 or 143 all the same: a command that does not plug in still stops, only without
 * its summary.
 *
 * ```ts
 * // one piece of work, cancelled by a stop
 * const answer = yield* Signals.interruptOnStop(call)
 * if (Either.isLeft(answer)) return yield* Effect.zipRight(printPartial, Effect.fail(Signals.interruptedExit(answer.left)))
 * // many: watch for the stop, stop taking work, end what is under way, then report
 * Signals.handling(Effect.gen(function*() { ... yield* Signals.received ... }))
 * ```
 *
 * Tests run commands in process with a {@link Stop} of their own ({@link make}) and request
 * the stop themselves.
 *
 * @internal
 */
import { Cause, Context, Deferred, Effect, Either, Exit, FiberId, Option } from "effect"
import { CliExit } from "../output.js"

/** The signals a command stops on. */
export type Signal = "SIGINT" | "SIGTERM"

/** The exit code shells give a process ended by `signal`: 128 + its number. */
export const exitCodeOf = (signal: Signal): number => (signal === "SIGINT" ? 130 : 143)

/** The end of a command stopped by `signal`, once it has said what it did. */
export const interruptedExit = (signal: Signal): CliExit => new CliExit({ code: exitCodeOf(signal) })

/** A stop the user asked for, as the running command sees it. */
export interface Service {
  /** Completes with the first signal. */
  readonly requested: Effect.Effect<Signal>
  /** The first signal, if one came. */
  readonly received: Effect.Effect<Option.Option<Signal>>
  /**
   * Request a stop, as the first signal does. Answers whether a command handles it (it runs
   * under {@link handling}); when none does, the caller interrupts the command.
   */
  readonly request: (signal: Signal) => Effect.Effect<boolean>
  /** Run `effect` as a stretch in which the command answers a stop itself. */
  readonly handling: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

/** A stop that is requested once, by {@link Service.request}. */
export const unsafeMake = (): Service => {
  const signal = Deferred.unsafeMake<Signal>(FiberId.none)
  let handlers = 0
  return {
    requested: Deferred.await(signal),
    received: Deferred.poll(signal).pipe(
      Effect.flatMap(Option.match({ onNone: () => Effect.succeedNone, onSome: Effect.asSome }))
    ),
    request: (received) => Effect.suspend(() => Effect.as(Deferred.succeed(signal, received), handlers > 0)),
    handling: (effect) =>
      Effect.acquireUseRelease(
        Effect.sync(() => {
          handlers++
        }),
        () => effect,
        () =>
          Effect.sync(() => {
            handlers--
          })
      )
  }
}

/** @see unsafeMake */
export const make: Effect.Effect<Service> = Effect.sync(unsafeMake)

/** Outside the real process (`run` in tests) nothing requests a stop unless a test provides one. */
const never: Service = {
  requested: Effect.never,
  received: Effect.succeedNone,
  request: () => Effect.succeed(false),
  handling: (effect) => effect
}

/** The current stop: the process's signals in `bin.ts` (see {@link runMain}). */
export class Stop extends Context.Reference<Stop>()("effect-grok/cli/Stop", { defaultValue: () => never }) {}

/** Completes with the first signal. */
export const requested: Effect.Effect<Signal> = Effect.flatMap(Stop, (stop) => stop.requested)

/** The first signal, if one came. */
export const received: Effect.Effect<Option.Option<Signal>> = Effect.flatMap(Stop, (stop) => stop.received)

/** Run `effect` as a stretch in which the command answers a stop itself. */
export const handling = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.flatMap(Stop, (stop) => stop.handling(effect))

/**
 * Run `effect` until it ends or a stop is requested, whichever comes first: on a stop it is
 * interrupted (its finalizers run) and the answer is the signal.
 */
export const interruptOnStop = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<Either.Either<A, Signal>, E, R> =>
  handling(Effect.raceFirst(Effect.map(effect, Either.right), Effect.map(requested, Either.left)))

/**
 * The exit code of a process whose reader went away (`effect-grok demo | head`): shells report
 * 141 (128 + SIGPIPE) for a tool that SIGPIPE ended, the default for a Unix tool; Node ignores
 * SIGPIPE, and its write fails with EPIPE instead.
 */
export const brokenPipeExitCode = 141

/**
 * Run the CLI's `program` (its answer is the exit code) in this process, with the process's
 * SIGINT and SIGTERM as its {@link Stop}. The process ends when nothing is left to do: no
 * socket or timer of a command may outlive it (tests check), so none is forced closed here,
 * except by a second signal, which exits at once, or by the reader of stdout or stderr going
 * away, after which nothing the command prints can be read.
 */
export const runMain = (program: Effect.Effect<number>): void => {
  const stop = unsafeMake()
  const fiber = Effect.runFork(Effect.provideService(program, Stop, stop))
  // The main fiber may wait on nothing that holds the event loop (a Deferred): keep it up.
  const keepAlive = setInterval(() => {}, 2 ** 31 - 1)
  let first: Signal | undefined
  const onSignal = (signal: Signal) => {
    if (first !== undefined) {
      process.exit(exitCodeOf(signal))
    }
    first = signal
    if (!Effect.runSync(stop.request(signal))) fiber.unsafeInterruptAsFork(FiberId.none)
  }
  const onSigint = () => onSignal("SIGINT")
  const onSigterm = () => onSignal("SIGTERM")
  process.on("SIGINT", onSigint)
  process.on("SIGTERM", onSigterm)
  const onWriteError = (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(brokenPipeExitCode)
    throw error
  }
  process.stdout.on("error", onWriteError)
  process.stderr.on("error", onWriteError)
  fiber.addObserver((exit) => {
    clearInterval(keepAlive)
    process.exitCode = Exit.isSuccess(exit)
      ? exit.value
      : first !== undefined && Cause.isInterruptedOnly(exit.cause)
      ? exitCodeOf(first)
      : 1
  })
}
