/**
 * Child processes of the benchmark: spawned with a hard timeout, their stdout read line by
 * line, killed when their scope closes.
 *
 * @since 0.1.0
 */
import { Deferred, Duration, Effect, Exit, Option, type Scope } from "effect"
import { spawn } from "node:child_process"
import { createInterface } from "node:readline"
import { goLine, readyLine } from "./protocol.js"

/** @since 0.1.0 */
export interface ChildRun {
  /** Every line the child printed on stdout. */
  readonly lines: ReadonlyArray<string>
  /** The end of what it printed on stderr. */
  readonly stderr: string
  /** Its exit code; `null` when it was killed. */
  readonly code: number | null
  readonly timedOut: boolean
}

/** @since 0.1.0 */
export interface ChildOptions {
  readonly timeout: Duration.DurationInput
  readonly env?: Readonly<Record<string, string>> | undefined
  /**
   * The handshake: once the child prints `ready`, run this, then write `go` to its stdin.
   * Without it the child is left alone.
   */
  readonly onReady?: Effect.Effect<void> | undefined
}

const stderrLimit = 4_000

/**
 * Run `node args...` to its end, or kill it at the timeout.
 *
 * @since 0.1.0
 */
export const runNode = (args: ReadonlyArray<string>, options: ChildOptions): Effect.Effect<ChildRun, never, Scope.Scope> =>
  Effect.gen(function*() {
    const ready = yield* Deferred.make<void>()
    const closed = yield* Deferred.make<number | null>()
    const lines: Array<string> = []
    let stderr = ""
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(process.execPath, args, { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, ...options.env } })
      ),
      (child) => Effect.sync(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"))
    )
    createInterface({ input: child.stdout }).on("line", (line) => {
      lines.push(line)
      if (line === readyLine) Deferred.unsafeDone(ready, Exit.void)
    })
    child.stderr.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString("utf8")).slice(-stderrLimit)
    })
    // "close" comes after the child's stdout and stderr are fully read.
    child.on("close", (code) => Deferred.unsafeDone(closed, Exit.succeed(code)))
    child.on("error", (error) => {
      stderr += String(error)
      Deferred.unsafeDone(closed, Exit.succeed(null))
    })
    if (options.onReady !== undefined) {
      const onReady = options.onReady
      yield* Effect.forkScoped(
        Deferred.await(ready).pipe(
          Effect.zipRight(onReady),
          Effect.zipRight(Effect.sync(() => child.stdin.write(`${goLine}\n`)))
        )
      )
    }
    const code = yield* Deferred.await(closed).pipe(Effect.timeoutOption(options.timeout))
    if (Option.isNone(code)) {
      child.kill("SIGKILL")
      return { lines, stderr, code: null, timedOut: true }
    }
    return { lines, stderr, code: code.value, timedOut: false }
  })

/**
 * The last line of `run` that parses as a JSON object, if any.
 *
 * @since 0.1.0
 */
export const lastJson = (run: ChildRun): unknown => {
  for (let i = run.lines.length - 1; i >= 0; i--) {
    const line = run.lines[i]?.trim() ?? ""
    if (!line.startsWith("{")) continue
    try {
      return JSON.parse(line)
    } catch {
      continue
    }
  }
  return undefined
}

/** @since 0.1.0 */
export const describeFailure = (run: ChildRun, timeout: Duration.DurationInput): string =>
  run.timedOut
    ? `killed after ${Duration.format(Duration.decode(timeout))}`
    : `exited with code ${run.code}: ${run.stderr.trim().split("\n").slice(-3).join(" / ")}`
