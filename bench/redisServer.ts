/**
 * A throwaway `redis-server` for the benchmark: on a free loopback port, without
 * persistence, stopped when its scope closes. `None` when `redis-server` is not on the PATH.
 *
 * @since 0.1.0
 */
import { Deferred, Effect, Exit, Option, type Scope } from "effect"
import { spawn } from "node:child_process"
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
 * Start a redis-server and answer its URL once it accepts connections (`None` when there is
 * no redis-server to start, or it did not come up within 10 seconds).
 *
 * @since 0.1.0
 */
export const start: Effect.Effect<Option.Option<string>, never, Scope.Scope> = Effect.gen(function*() {
  if (!onPath("redis-server")) return Option.none()
  const port = yield* freePort
  const ready = yield* Deferred.make<boolean>()
  const server = yield* Effect.acquireRelease(
    Effect.sync(() =>
      spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
        stdio: ["ignore", "pipe", "pipe"]
      })
    ),
    (server) => Effect.sync(() => server.kill("SIGTERM"))
  )
  server.stdout.on("data", (chunk: Buffer) => {
    if (chunk.toString("utf8").includes("Ready to accept connections")) Deferred.unsafeDone(ready, Exit.succeed(true))
  })
  server.on("exit", () => Deferred.unsafeDone(ready, Exit.succeed(false)))
  server.on("error", () => Deferred.unsafeDone(ready, Exit.succeed(false)))
  const up = yield* Deferred.await(ready).pipe(Effect.timeoutTo({ duration: "10 seconds", onSuccess: (ok) => ok, onTimeout: () => false }))
  return up ? Option.some(`redis://127.0.0.1:${port}`) : Option.none()
})
