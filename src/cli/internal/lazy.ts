/**
 * Command handlers loaded when their command runs.
 *
 * A command's module (`chat.ts`, `load.ts`, ...) holds only its flags and description, all
 * that `--help` and the parser need; its handler lives in `handlers/` and is imported when
 * the command runs. The CLI is bundled with code splitting, so each handler and what only it
 * uses (the simulator for `demo` and `simulate`, undici for `load`, ...) is a chunk of its
 * own, read from disk and compiled only by the command that needs it.
 *
 * @internal
 */
import { Effect } from "effect"

/** A handler module: what `handlers/<command>.ts` exports. */
export interface HandlerModule<Flags, E, R> {
  readonly handler: (flags: Flags) => Effect.Effect<void, E, R>
}

/** The handler of a command, imported (once) when the command runs. */
export const lazyHandler = <Flags, E, R>(load: () => Promise<HandlerModule<Flags, E, R>>) => (flags: Flags): Effect.Effect<void, E, R> =>
  Effect.flatMap(Effect.promise(load), (module) => module.handler(flags))
