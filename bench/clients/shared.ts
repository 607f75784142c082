/**
 * What every benchmark client shares: the request, what counts as a usable answer, how a
 * failure is named. Imports nothing heavy, so that each client process loads only its own
 * library.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import type { CallOutcome } from "../clients.js"
import { model, promptOf } from "../scenarios.js"

/** @since 0.1.0 */
export const ok: CallOutcome = { ok: true }

/** @since 0.1.0 */
export const failed = (kind: string): CallOutcome => ({ ok: false, kind })

/** An error's tag, else its class name. @since 0.1.0 */
export const kindOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "_tag" in error && typeof error._tag === "string"
    ? error._tag
    : error instanceof Error
    ? error.constructor.name
    : typeof error

/**
 * The text of the first choice of a chat completion body, if it has one: a 200 whose body
 * is an xAI error (it happens) has none.
 *
 * @since 0.1.0
 */
export const contentOf = (body: unknown): string | undefined => {
  if (typeof body !== "object" || body === null || !("choices" in body) || !Array.isArray(body.choices)) return undefined
  const first: unknown = body.choices[0]
  if (typeof first !== "object" || first === null || !("message" in first)) return undefined
  const message: unknown = first.message
  if (typeof message !== "object" || message === null || !("content" in message)) return undefined
  return typeof message.content === "string" && message.content !== "" ? message.content : undefined
}

/** The body of chat call number `index`. @since 0.1.0 */
export const requestBody = (index: number) => ({
  model,
  messages: [{ role: "user" as const, content: promptOf(index) }],
  max_tokens: 64
})

/** A promise-based call: `true` for a usable answer; a rejection is named by {@link kindOf}. @since 0.1.0 */
export const fromPromise = (run: () => Promise<boolean>): Effect.Effect<CallOutcome> =>
  Effect.tryPromise(run).pipe(
    Effect.map((usable) => (usable ? ok : failed("NoContent"))),
    Effect.catchAll((error) => Effect.succeed(failed(kindOf(error.error))))
  )

/** Status codes hand-written loops retry. @since 0.1.0 */
export const isRetryableStatus = (status: number): boolean => status === 429 || status >= 500

/**
 * One POST with `fetch`, as hand-written clients do: the status, and the answer's text when
 * the body holds one.
 *
 * @since 0.1.0
 */
export const postChat = async (
  target: { readonly url: string; readonly apiKey: string },
  index: number
): Promise<{ readonly status: number; readonly content: string | undefined }> => {
  const response = await fetch(`${target.url}/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${target.apiKey}`, "content-type": "application/json" },
    body: JSON.stringify(requestBody(index))
  })
  const text = await response.text()
  try {
    return { status: response.status, content: contentOf(JSON.parse(text)) }
  } catch {
    return { status: response.status, content: undefined }
  }
}
