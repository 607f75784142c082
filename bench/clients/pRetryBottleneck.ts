/**
 * `p-retry` (its defaults: 10 retries, 1 s doubling, no jitter) around a `bottleneck` queue
 * spaced to the quota (`minTime`), the way bottleneck's README sets it up for a known rate.
 * The quota is given up front, which no other client gets; retries go through the queue too.
 *
 * @since 0.1.0
 */
import Bottleneck from "bottleneck"
import { Effect } from "effect"
import pRetry, { AbortError } from "p-retry"
import type { BenchClient, ClientOptions } from "../clients.js"
import { fromPromise, isRetryableStatus, postChat } from "./shared.js"

/** @since 0.1.0 */
export const make = (options: ClientOptions): Effect.Effect<BenchClient> =>
  Effect.sync(() => {
    const limiter = new Bottleneck(
      options.quotaPerSecond === undefined ? {} : { minTime: Math.ceil(1000 / options.quotaPerSecond) }
    )
    const once = async (index: number) => {
      const answer = await postChat(options, index)
      if (answer.status >= 200 && answer.status < 300) {
        if (answer.content === undefined) throw new AbortError("no content in the answer")
        return true
      }
      const error = new Error(`HTTP ${answer.status}`)
      throw isRetryableStatus(answer.status) ? error : new AbortError(error)
    }
    return { call: (index) => fromPromise(() => pRetry(() => limiter.schedule(() => once(index)))) }
  })
