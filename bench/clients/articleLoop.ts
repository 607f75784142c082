/**
 * The loop of the article this project started from: 5 attempts, waiting 1 s * 2^n plus a
 * uniform 0-0.5 s after failure n, on 429, 5xx and network errors; no header is read.
 *
 * @since 0.1.0
 */
import { Effect, Random } from "effect"
import type { BenchClient, CallOutcome, ClientOptions } from "../clients.js"
import { failed, isRetryableStatus, kindOf, ok, postChat } from "./shared.js"

const attempts = 5

/** @since 0.1.0 */
export const make = (options: ClientOptions): Effect.Effect<BenchClient> =>
  Effect.succeed({
    call: (index) =>
      Effect.gen(function*() {
        let outcome: CallOutcome = failed("NoAttempt")
        for (let attempt = 0; attempt < attempts; attempt++) {
          const answer = yield* Effect.either(Effect.tryPromise(() => postChat(options, index)))
          if (answer._tag === "Right") {
            const { content, status } = answer.right
            if (status >= 200 && status < 300) return content === undefined ? failed("NoContent") : ok
            outcome = failed(`HTTP ${status}`)
            if (!isRetryableStatus(status)) return outcome
          } else {
            outcome = failed(kindOf(answer.left.error))
          }
          if (attempt < attempts - 1) yield* Effect.sleep(1000 * 2 ** attempt + (yield* Random.nextRange(0, 500)))
        }
        return outcome
      })
  })
