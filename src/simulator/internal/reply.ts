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

export const json = (status: number, body: unknown, headers: Headers = {}, usage?: Usage): Reply => ({
  _tag: "Body",
  status,
  headers: { "content-type": "application/json", ...headers },
  text: JSON.stringify(body),
  usage
})

export const text = (status: number, body: string, headers: Headers = {}): Reply => ({
  _tag: "Body",
  status,
  headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  text: body
})

export const stream = (events: ReadonlyArray<string>, headers: Headers = {}, usage?: Usage): Reply => ({
  _tag: "Stream",
  headers: { ...streamHeaders, ...headers },
  events,
  usage
})

export const streamHeaders: Headers = { "content-type": "text/event-stream", "cache-control": "no-cache" }

export const isSuccess = (reply: Reply): boolean => reply._tag === "Stream" || reply.status < 300
