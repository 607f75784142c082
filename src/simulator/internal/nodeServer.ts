/**
 * A raw `node:http` server as a scoped resource. Raw, because the simulator's faults live
 * below HTTP: it must be able to reset a socket, keep one silent, or cut a stream.
 *
 * Closing the scope destroys every open socket (keep-alive ones included) and closes the
 * server, so no handle outlives it.
 *
 * @internal
 */
import { Effect } from "effect"
import type { Scope } from "effect"
import * as Http from "node:http"
import type * as Net from "node:net"

export type RequestListener = (request: Http.IncomingMessage, response: Http.ServerResponse) => void

export interface Listening {
  readonly port: number
}

export const serve = (
  options: { readonly host: string; readonly port: number },
  listener: RequestListener
): Effect.Effect<Listening, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ readonly server: Http.Server; readonly sockets: Set<Net.Socket>; readonly port: number }, Error>(
      (resume) => {
        const server = Http.createServer(listener)
        const sockets = new Set<Net.Socket>()
        server.on("connection", (socket) => {
          sockets.add(socket)
          socket.once("close", () => sockets.delete(socket))
        })
        const onError = (error: Error) => resume(Effect.fail(error))
        server.once("error", onError)
        server.listen(options.port, options.host, () => {
          server.off("error", onError)
          const address = server.address()
          const port = typeof address === "object" && address !== null ? address.port : options.port
          resume(Effect.succeed({ server, sockets, port }))
        })
        return Effect.sync(() => {
          server.off("error", onError)
          server.close()
        })
      }
    ),
    ({ server, sockets }) =>
      Effect.async<void>((resume) => {
        for (const socket of sockets) socket.destroy()
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ port }) => ({ port })))
