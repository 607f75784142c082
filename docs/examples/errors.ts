/**
 * docs/errors.md, "Handling errors": classify an HTTP answer, then handle the classes the
 * app cares about and let the rest fail typed.
 */
import { Clock, Duration, Effect } from "effect"
import * as GrokError from "../../src/GrokError.js"

/** A raw answer as an Effect: the body on success, the matching GrokError otherwise. */
const fromAnswer = (status: number, headers: Record<string, string>, body: string) =>
  Effect.gen(function*() {
    const nowMillis = yield* Clock.currentTimeMillis
    const error = GrokError.classifyResponse({ status, headers, body, nowMillis })
    return error === undefined ? body : yield* Effect.fail(error)
  })

const answer = fromAnswer(
  429,
  { "retry-after": "2", "x-request-id": "req_42" },
  JSON.stringify({ code: "resource-exhausted", error: "Too many requests for team t and model grok-4." })
)

/** Handle what the app can act on; every other class stays in the error channel, typed. */
export const program: Effect.Effect<string, GrokError.GrokError> = answer.pipe(
  Effect.catchTags({
    // Waiting will not help: tell the user.
    QuotaExhausted: () => Effect.succeed("Out of credits: top up at console.x.ai."),
    // The server said when to come back.
    RateLimited: (e) =>
      Effect.succeed(`Busy (${e.limit}); try again in ${e.retryAfter ? Duration.format(e.retryAfter) : "a moment"}.`),
    // A configuration bug: stop the app loudly.
    AuthenticationFailed: (e) => Effect.die(e)
  })
)

/** For logs and metrics: the tag names the class, `retryable` says whether to try again. */
export const label = (error: GrokError.GrokError): `${GrokError.GrokError.Tag}:${"retry" | "final"}` =>
  `${error._tag}:${error.retryable ? "retry" : "final"}`

/** What a log line or `JSON.stringify` shows of an error: durations as `2s`, `resetAt` as an ISO date. */
export const logged: Effect.Effect<string> = Effect.match(answer, {
  onFailure: (error) => JSON.stringify(error),
  onSuccess: (body) => body
})
