/**
 * The ioredis connection of the Redis rate limiter, configured so that a dead Redis can never
 * hang or pile up calls. ioredis's defaults would: commands issued while disconnected wait in
 * an unbounded offline queue, and commands in flight when the connection drops are re-sent 20
 * reconnections later (by then the caller has given up, and a re-sent admission would debit a
 * quota nobody uses).
 *
 * @internal
 */
import * as Logging from "../../Logging.js"
import { Duration, Effect, Redacted, Runtime, type Scope } from "effect"
import { Redis } from "ioredis"

export interface ClientTimeouts {
  readonly commandTimeout: Duration.Duration
  readonly connectTimeout: Duration.Duration
}

/**
 * How long a connection may answer nothing before it is dropped and rebuilt (ioredis's socket
 * timeout): a few command timeouts, so that one slow reply does not cost the connection.
 */
export const silentConnectionMillis = (commandTimeout: Duration.Duration): number => Duration.toMillis(commandTimeout) * 4

/** Reconnection delay after the n-th failed attempt: quick at first, then once a second, forever. */
const reconnectDelay = (attempt: number): number => Math.min(attempt * 50, 1_000)

const describe = (cause: unknown): string => cause instanceof Error ? cause.message : String(cause)

/**
 * Open a connection to `url`, closed with the scope. Waits for it up to the connect timeout;
 * if Redis is not reachable yet the limiter still starts (its `onUnavailable` policy applies)
 * and the client keeps reconnecting in the background.
 */
export const connect = (
  url: Redacted.Redacted<string>,
  timeouts: ClientTimeouts
): Effect.Effect<Redis, never, Scope.Scope> =>
  Effect.gen(function*() {
    const runtime = yield* Effect.runtime<never>()
    const log = (effect: Effect.Effect<void>) => void Runtime.runFork(runtime)(effect)
    const commandMillis = Duration.toMillis(timeouts.commandTimeout)
    const client = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const client = new Redis(Redacted.value(url), {
          lazyConnect: true,
          // Refuse at once while disconnected instead of queueing without bound.
          enableOfflineQueue: false,
          // Fail commands in flight when the connection drops, and never re-send them.
          maxRetriesPerRequest: 0,
          autoResendUnfulfilledCommands: false,
          // No ioredis `commandTimeout`: the store bounds every command itself, and unlike
          // ioredis it reads a reply that arrived while the event loop was busy before calling
          // the command timed out (ioredis's timer would reject it first).
          // A connection that answers nothing for a few command timeouts is dropped and
          // rebuilt: meanwhile calls are refused at once instead of each waiting out its timeout.
          socketTimeout: silentConnectionMillis(timeouts.commandTimeout),
          connectTimeout: Duration.toMillis(timeouts.connectTimeout),
          // How long closing waits for the socket to close before destroying it. ioredis arms
          // this timer even for a socket that closed long ago (Redis gone, reconnecting), where
          // nothing clears it: its default (2 s) would hold a process that is done that long.
          disconnectTimeout: commandMillis,
          retryStrategy: reconnectDelay
        })
        // Connection errors repeat on every reconnection attempt; the fallback store reports
        // the outage once. Without a listener ioredis would print each one to the console.
        client.on("error", (error: unknown) => log(Logging.log(`Redis connection: ${describe(error)}`)))
        return client
      }),
      (client) => Effect.sync(() => client.disconnect())
    )
    yield* Effect.tryPromise({ try: () => client.connect(), catch: (cause) => new Error(describe(cause)) }).pipe(
      Effect.timeoutFail({ duration: timeouts.connectTimeout, onTimeout: () => new Error("connect timed out") }),
      Effect.catchAll((error) =>
        Logging.log(
          `Redis not reachable at start-up (${describe(error)}); retrying in the background`
        )
      )
    )
    return client
  })
