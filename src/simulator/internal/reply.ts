/**
 * An answer before it is written: a complete body, or the events of an SSE stream. Faults
 * that corrupt delivery (cut, slowed, dropped) work on this value, so every route gets them
 * for free.
 *
 * @internal
 */
import type { Usage } from "../Simulator.js"
import type { Headers } from "./quotaHeaders.js"

export type Reply =
  | {
    readonly _tag: "Body"
    readonly status: number
    readonly headers: Headers
    readonly text: string
    readonly usage?: Usage | undefined
  }
  | {
    readonly _tag: "Stream"
    readonly headers: Headers
    /** `data:` payloads without the final `[DONE]`. */
    readonly events: ReadonlyArray<string>
    readonly usage?: Usage | undefined
  }

/** Header names in lower case, so that a caller's `Content-Type` replaces the default one. */
const lowerCased = (headers: Headers): Headers =>
  Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]))

/** Statuses that carry no body (RFC 9110): nothing is written after their headers. */
export const hasNoBody = (status: number): boolean => status === 204 || status === 304

export const json = (status: number, body: unknown, headers: Headers = {}, usage?: Usage): Reply => ({
  _tag: "Body",
  status,
  headers: hasNoBody(status) ? lowerCased(headers) : { "content-type": "application/json", ...lowerCased(headers) },
  text: hasNoBody(status) ? "" : JSON.stringify(body),
  usage
})

export const text = (status: number, body: string, headers: Headers = {}): Reply => ({
  _tag: "Body",
  status,
  headers: hasNoBody(status) ? lowerCased(headers) : { "content-type": "text/plain; charset=utf-8", ...lowerCased(headers) },
  text: hasNoBody(status) ? "" : body
})

export const stream = (events: ReadonlyArray<string>, headers: Headers = {}, usage?: Usage): Reply => ({
  _tag: "Stream",
  headers: { ...streamHeaders, ...lowerCased(headers) },
  events,
  usage
})

export const streamHeaders: Headers = { "content-type": "text/event-stream", "cache-control": "no-cache" }

export const isSuccess = (reply: Reply): boolean => reply._tag === "Stream" || reply.status < 300
