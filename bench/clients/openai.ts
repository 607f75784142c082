/**
 * The `openai` SDK with its defaults: 2 retries, Retry-After honoured.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import OpenAI from "openai"
import type { BenchClient, ClientOptions } from "../clients.js"
import { contentOf, fromPromise, requestBody } from "./shared.js"

/** @since 0.1.0 */
export const make = (options: ClientOptions): Effect.Effect<BenchClient> =>
  Effect.sync(() => {
    const client = new OpenAI({ baseURL: options.url, apiKey: options.apiKey })
    return {
      call: (index) => fromPromise(async () => contentOf(await client.chat.completions.create(requestBody(index))) !== undefined)
    }
  })
