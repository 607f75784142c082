/**
 * The Vercel AI SDK with its defaults (2 retries), on the xAI provider's chat-completions
 * model (`xai.chat`, which is also what `xai(id)` gives in @ai-sdk/xai 3).
 *
 * @since 0.1.0
 */
import { createXai } from "@ai-sdk/xai"
import { generateText } from "ai"
import { Effect } from "effect"
import type { BenchClient, ClientOptions } from "../clients.js"
import { model, promptOf } from "../scenarios.js"
import { fromPromise } from "./shared.js"

/** @since 0.1.0 */
export const make = (options: ClientOptions): Effect.Effect<BenchClient> =>
  Effect.sync(() => {
    const xai = createXai({ baseURL: options.url, apiKey: options.apiKey })
    return {
      call: (index) =>
        fromPromise(async () => {
          const result = await generateText({ model: xai.chat(model), prompt: promptOf(index), maxOutputTokens: 64 })
          return result.text !== ""
        })
    }
  })
