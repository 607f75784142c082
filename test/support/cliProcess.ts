/**
 * The built CLI (`node dist/cli/bin.js`) as a child process, for tests that need the real
 * thing: signals, exit codes, what is left running. Waits are on the child's events (a line
 * it printed, its exit), never on time.
 */
import { Effect, type Scope } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..")
const bin = join(root, "dist", "cli", "bin.js")

export interface Exited {
  /** The exit code; `null` when a signal ended the child. */
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

export interface CliProcess {
  readonly child: ChildProcess
  readonly stdout: () => string
  readonly stderr: () => string
  /** The first line on `stream` that `test` accepts (already printed or to come); dies if the child exits first. */
  readonly line: (stream: "stdout" | "stderr", test: (line: string) => boolean) => Effect.Effect<string>
  /** Completes once `stream` holds `text`, even mid-line; dies if the child exits first. */
  readonly printed: (stream: "stdout" | "stderr", text: string) => Effect.Effect<void>
  /** Completes when the child has exited and its output is fully read. */
  readonly exited: Effect.Effect<Exited>
  readonly kill: (signal: NodeJS.Signals) => Effect.Effect<void>
}

/**
 * `effect-grok <args>` in a child process, with only `env` (and PATH) as its environment;
 * killed with SIGKILL when the scope closes if it is still running.
 */
export const spawnCli = (
  args: ReadonlyArray<string>,
  env: Record<string, string> = {}
): Effect.Effect<CliProcess, never, Scope.Scope> =>
  Effect.gen(function*() {
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(process.execPath, [bin, ...args], { env: { PATH: process.env["PATH"] ?? "", ...env }, stdio: ["ignore", "pipe", "pipe"] })
      ),
      (child) => Effect.sync(() => (child.exitCode === null && child.signalCode === null ? child.kill("SIGKILL") : undefined))
    )
    const out = { stdout: "", stderr: "" }
    const listeners = new Set<() => void>()
    let ended: Exited | undefined
    const notify = () => {
      for (const listener of [...listeners]) listener()
    }
    child.stdout?.on("data", (chunk: Buffer) => {
      out.stdout += chunk.toString("utf8")
      notify()
    })
    child.stderr?.on("data", (chunk: Buffer) => {
      out.stderr += chunk.toString("utf8")
      notify()
    })
    // "close" comes after stdout and stderr are fully read.
    child.on("close", (code, signal) => {
      ended = { code, signal }
      notify()
    })
    const waitFor = <A>(check: () => A | undefined, onEnd: () => Effect.Effect<A>): Effect.Effect<A> =>
      Effect.async<A>((resume) => {
        const listener = () => {
          const found = check()
          if (found !== undefined) {
            listeners.delete(listener)
            resume(Effect.succeed(found))
          } else if (ended !== undefined) {
            listeners.delete(listener)
            resume(onEnd())
          }
        }
        listeners.add(listener)
        listener()
        return Effect.sync(() => listeners.delete(listener))
      })
    return {
      child,
      stdout: () => out.stdout,
      stderr: () => out.stderr,
      line: (stream, test) =>
        waitFor(
          () => out[stream].split("\n").slice(0, -1).find(test),
          () => Effect.dieMessage(`the CLI exited (${JSON.stringify(ended)}) before printing the line awaited on ${stream}:\n${out[stream]}\n${out.stderr}`)
        ),
      printed: (stream, text) =>
        waitFor(
          () => (out[stream].includes(text) ? true : undefined),
          () => Effect.dieMessage(`the CLI exited (${JSON.stringify(ended)}) before printing ${JSON.stringify(text)} on ${stream}`)
        ),
      exited: waitFor(() => ended, () => Effect.succeed(ended as Exited)),
      kill: (signal) => Effect.sync(() => void child.kill(signal))
    }
  })
