/**
 * docs/examples/effectAi.ts run as a user would: the agent with one tool, on the simulator
 * (whose first answer is a 503), through @effect/ai and `effect-grok/ai`, on the TestClock.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { runOnSimulator } from "../docs/examples/effectAi.js"
import { drive } from "./support/drive.js"

describe("docs/examples/effectAi.ts", () => {
  it.effect("the agent calls its tool, gets the result back to the model, and answers with it", () =>
    Effect.gen(function*() {
      const answer = yield* drive(yield* Effect.fork(runOnSimulator))
      expect(answer).toBe(
        "Simulated reply to \"What is the weather in Lisbon?\" with tool result {\"city\":\"What is the weather in Lisbon?\",\"celsius\":21}."
      )
    }))
})
