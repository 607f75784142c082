/**
 * SIGINT and SIGTERM for a command that must stop cleanly: say what it did, then exit 130
 * (SIGINT) or 143 (SIGTERM), as shells report a process ended by the signal.
 *
 * The runtime (`NodeRuntime.runMain`) already turns either signal into an interruption of the
 * main fiber; a command's `onInterrupt` finalizer does the clean stop. This module only tells
 * it which signal came ({@link watch}) and carries the exit code it chooses to the process's
 * teardown ({@link exitCodeAfterSignal}, read by `bin.ts`). A second signal while the command
 * is stopping ends the process at once.
 *
 * @internal
 */
import { Effect, type Scope } from "effect"

export type Signal = "SIGINT" | "SIGTERM"

/** The exit code shells give a process ended by `signal`: 128 + its number. */
export const exitCodeOf = (signal: Signal): number => (signal === "SIGINT" ? 130 : 143)

let chosenExitCode: number | undefined

/** The exit code a command chose after a signal, for the process's teardown. */
export const exitCodeAfterSignal = (): number | undefined => chosenExitCode

/** Have the process exit with `code` once the interrupted command has finished stopping. */
export const exitWith = (code: number): Effect.Effect<void> =>
  Effect.sync(() => {
    chosenExitCode = code
  })

/**
 * Listen for SIGINT and SIGTERM for the life of the scope: `received()` says which came
 * first (`undefined` while none has).
 */
export const watch: Effect.Effect<{ readonly received: () => Signal | undefined }, never, Scope.Scope> = Effect.map(
  Effect.acquireRelease(
    Effect.sync(() => {
      const state: { first: Signal | undefined } = { first: undefined }
      const on = (signal: Signal) => () => {
        if (state.first !== undefined) process.exit(exitCodeOf(state.first))
        state.first = signal
      }
      const onInt = on("SIGINT")
      const onTerm = on("SIGTERM")
      process.on("SIGINT", onInt)
      process.on("SIGTERM", onTerm)
      return { state, onInt, onTerm }
    }),
    ({ onInt, onTerm }) =>
      Effect.sync(() => {
        process.off("SIGINT", onInt)
        process.off("SIGTERM", onTerm)
      })
  ),
  ({ state }) => ({ received: () => state.first })
)
