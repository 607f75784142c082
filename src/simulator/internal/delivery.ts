/**
 * Writing a {@link Reply} to the socket, honestly or with a delivery fault: cut JSON, a
 * stream dropped after some chunks, a slow first token and slow chunks.
 *
 * Every wait is a deadline measured from the request's start on Effect's `Clock`, so a
 * test that moves the `TestClock` past a deadline before the writer reaches it does not
 * make the writer wait again.
 *
 * @internal
 */
import { Clock, Duration, Effect } from "effect"
import type * as Http from "node:http"
import type { Headers } from "./quotaHeaders.js"
import type { Reply } from "./reply.js"
import { hasNoBody, isSuccess } from "./reply.js"

export type Shaping =
  | { readonly _tag: "Normal" }
  | { readonly _tag: "Malformed" }
  | { readonly _tag: "Drop"; readonly afterChunks: number }
  | { readonly _tag: "Slow"; readonly firstTokenMillis: number; readonly chunkMillis: number }

export const normal: Shaping = { _tag: "Normal" }

/** How a delivery ended: the whole answer was written, or the simulator cut the connection. */
export type Ending = "completed" | "aborted"

export const sleepUntil = (deadlineMillis: number): Effect.Effect<void> =>
  Effect.flatMap(
    Clock.currentTimeMillis,
    (now) => (deadlineMillis > now ? Effect.sleep(Duration.millis(deadlineMillis - now)) : Effect.void)
  )

export const writeHead = (response: Http.ServerResponse, status: number, headers: Headers) =>
  Effect.sync(() => {
    response.writeHead(status, headers)
    response.flushHeaders()
  })

/** Writes and waits for the socket to drain when its buffer is full. */
export const write = (response: Http.ServerResponse, text: string): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (response.write(text)) return resume(Effect.void)
    const done = () => {
      response.off("drain", done)
      response.off("close", done)
      resume(Effect.void)
    }
    response.on("drain", done)
    response.on("close", done)
    return Effect.sync(() => {
      response.off("drain", done)
      response.off("close", done)
    })
  })

/** Ends the response and waits until it is handed to the OS. */
export const end = (response: Http.ServerResponse, text?: string): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    response.end(text ?? "", () => resume(Effect.void))
  })

/**
 * The socket of one response. `cut` closes it mid-answer (a FIN after what was written),
 * `reset` aborts it (an RST); both tell the request's close watcher that the simulator,
 * not the client, hung up.
 */
export interface Connection {
  readonly response: Http.ServerResponse
  readonly cut: Effect.Effect<void>
  readonly reset: Effect.Effect<void>
}

/** The first half of the text: never valid JSON for an object or array. */
const truncate = (text: string) => text.slice(0, Math.ceil(text.length / 2))

const deliverBody = (
  connection: Connection,
  reply: Extract<Reply, { _tag: "Body" }>,
  shaping: Shaping,
  startMillis: number,
  onHead: (status: number) => void
): Effect.Effect<Ending> =>
  Effect.gen(function*() {
    const response = connection.response
    if (shaping._tag === "Slow") yield* sleepUntil(startMillis + shaping.firstTokenMillis)
    const text = shaping._tag === "Malformed" && isSuccess(reply) ? truncate(reply.text) : reply.text
    yield* writeHead(
      response,
      reply.status,
      hasNoBody(reply.status) ? reply.headers : { ...reply.headers, "content-length": String(Buffer.byteLength(text)) }
    )
    onHead(reply.status)
    if (shaping._tag === "Drop") {
      yield* write(response, truncate(text))
      yield* connection.cut
      return "aborted"
    }
    yield* end(response, text)
    return "completed"
  })

const deliverStream = (
  connection: Connection,
  reply: Extract<Reply, { _tag: "Stream" }>,
  shaping: Shaping,
  startMillis: number,
  onHead: (status: number) => void
): Effect.Effect<Ending> =>
  Effect.gen(function*() {
    const response = connection.response
    yield* writeHead(response, 200, reply.headers)
    onHead(200)
    const corrupted = shaping._tag === "Malformed" ? Math.min(1, reply.events.length - 1) : -1
    const sent = shaping._tag === "Drop" ? reply.events.slice(0, shaping.afterChunks) : reply.events
    const frames = sent.map((event, i) => `data: ${i === corrupted ? truncate(event) : event}\n\n`)
    if (shaping._tag === "Slow") {
      for (let i = 0; i < frames.length; i++) {
        yield* sleepUntil(startMillis + shaping.firstTokenMillis + i * shaping.chunkMillis)
        yield* write(response, frames[i] ?? "")
      }
    } else if (frames.length > 0) {
      // without delays, one write: the client sees the same bytes, the kernel one syscall
      yield* write(response, frames.join(""))
    }
    if (shaping._tag === "Drop") {
      yield* connection.cut
      return "aborted"
    }
    yield* end(response, "data: [DONE]\n\n")
    return "completed"
  })

/**
 * Writes the reply shaped by a delivery fault. `onHead` learns the status once the status
 * line is sent. `startMillis` is the instant the answer was ready (for slow streams).
 */
export const deliver = (
  connection: Connection,
  reply: Reply,
  shaping: Shaping,
  startMillis: number,
  onHead: (status: number) => void
): Effect.Effect<Ending> =>
  reply._tag === "Body"
    ? deliverBody(connection, reply, shaping, startMillis, onHead)
    : deliverStream(connection, reply, shaping, startMillis, onHead)
