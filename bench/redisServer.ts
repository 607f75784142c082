/**
 * A throwaway `redis-server` for the benchmark: on a free loopback port, without
 * persistence, stopped when its scope closes. `None` when `redis-server` is not on the PATH.
 *
 * @since 0.1.0
 */
import { Deferred, Effect, Exit, Option, Scope } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { createServer } from "node:net"
import { delimiter, join } from "node:path"

const onPath = (command: string): boolean =>
  (process.env["PATH"] ?? "").split(delimiter).some((dir) => dir !== "" && existsSync(join(dir, command)))

/** A port the kernel just handed out on 127.0.0.1 (free a moment ago). */
const freePort = Effect.async<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

/**
 * A redis-server on `port`, stopped when the scope closes; `true` once it accepts connections,
 * `false` if it exited or did not come up within 10 seconds.
 */
const serve = (port: number): Effect.Effect<{ readonly child: ChildProcess; readonly up: boolean }, never, Scope.Scope> =>
  Effect.gen(function*() {
    const ready = yield* Deferred.make<boolean>()
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
          stdio: ["ignore", "pipe", "pipe"]
        })
      ),
      (child) =>
        Effect.sync(() => {
          // A frozen server ignores SIGTERM until it is thawed.
          child.kill("SIGCONT")
          child.kill("SIGTERM")
        })
    )
    child.stdout.on("data", (chunk: Buffer) => {
      if (chunk.toString("utf8").includes("Ready to accept connections")) Deferred.unsafeDone(ready, Exit.succeed(true))
    })
    child.on("exit", () => Deferred.unsafeDone(ready, Exit.succeed(false)))
    child.on("error", () => Deferred.unsafeDone(ready, Exit.succeed(false)))
    const up = yield* Deferred.await(ready).pipe(
      Effect.timeoutTo({ duration: "10 seconds", onSuccess: (ok) => ok, onTimeout: () => false })
    )
    return { child, up }
  })

/**
 * Start a redis-server and answer its URL once it accepts connections (`None` when there is
 * no redis-server to start, or it did not come up within 10 seconds).
 *
 * @since 0.1.0
 */
export const start: Effect.Effect<Option.Option<string>, never, Scope.Scope> = Effect.gen(function*() {
  if (!onPath("redis-server")) return Option.none()
  const port = yield* freePort
  const { up } = yield* serve(port)
  return up ? Option.some(`redis://127.0.0.1:${port}`) : Option.none()
})

/**
 * A redis-server the benchmark can take away mid-run, as an operator or a crash would.
 *
 * @since 0.1.0
 */
export interface ControlledRedis {
  readonly url: string
  /** SIGKILL: every connection drops at once and the state is lost. */
  readonly kill: Effect.Effect<void>
  /** A new, empty redis-server on the same port; `false` if it did not come up. */
  readonly restart: Effect.Effect<boolean>
  /** SIGSTOP: connections stay open and nothing answers (a hang, not a refusal). */
  readonly freeze: Effect.Effect<void>
  /** SIGCONT: the frozen server answers again, its state intact. */
  readonly thaw: Effect.Effect<void>
}

/**
 * Start a {@link ControlledRedis}, stopped (whichever process it is by then) when the scope
 * closes. `None` as for {@link start}.
 *
 * @since 0.1.0
 */
export const startControlled: Effect.Effect<Option.Option<ControlledRedis>, never, Scope.Scope> = Effect.gen(
  function*() {
    if (!onPath("redis-server")) return Option.none()
    const port = yield* freePort
    const scope = yield* Effect.scope
    const first = yield* serve(port)
    if (!first.up) return Option.none()
    let current = first.child
    const signal = (name: NodeJS.Signals) => Effect.sync(() => void current.kill(name))
    const exited = (child: ChildProcess) =>
      Effect.async<void>((resume) => {
        if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
        child.once("exit", () => resume(Effect.void))
      })
    return Option.some({
      url: `redis://127.0.0.1:${port}`,
      kill: Effect.suspend(() => {
        const child = current
        child.kill("SIGKILL")
        return exited(child)
      }),
      restart: Effect.map(Scope.extend(serve(port), scope), (next) => {
        current = next.child
        return next.up
      }),
      freeze: signal("SIGSTOP"),
      thaw: signal("SIGCONT")
    })
  }
)
