import { describe, expect, it } from "@effect/vitest"
import { Cause, ConfigProvider, Duration, Effect, Either, Exit, Redacted } from "effect"
import * as GrokConfig from "../src/GrokConfig.js"

/** `GrokConfig.fromEnv` read from these variables. */
const fromVariables = (variables: Record<string, string>) =>
  Effect.exit(GrokConfig.fromEnv.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(variables))))))

const problem = (exit: Exit.Exit<unknown, unknown>): string =>
  Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "no failure"

describe("GrokConfig from the environment", () => {
  it.effect("reads durations as people write them, as the CLI's flags do", () =>
    Effect.gen(function*() {
      for (const [raw, millis] of [["30s", 30_000], ["500ms", 500], ["2m", 120_000], ["45", 45_000], ["30 seconds", 30_000]] as const) {
        const exit = yield* fromVariables({ XAI_API_KEY: "k", XAI_TIMEOUT: raw, XAI_DEADLINE: raw })
        expect(Exit.isSuccess(exit) && Duration.toMillis(exit.value.attemptTimeout!)).toBe(millis)
        expect(Exit.isSuccess(exit) && Duration.toMillis(exit.value.deadline!)).toBe(millis)
      }
      const negative = yield* fromVariables({ XAI_API_KEY: "k", XAI_TIMEOUT: "-3s" })
      expect(problem(negative)).toContain("XAI_TIMEOUT")
      expect(problem(negative)).toContain("expected a positive duration such as 30s")
    }))

  it.effect("a missing key says what to do, not \"<redacted>\"; the key stays redacted when present", () =>
    Effect.gen(function*() {
      const missing = problem(yield* fromVariables({}))
      expect(missing).toContain("XAI_API_KEY")
      expect(missing).toContain("not set")
      expect(missing).not.toContain("<redacted>")
      const present = yield* fromVariables({ XAI_API_KEY: "xai-secret" })
      expect(Exit.isSuccess(present) && Redacted.value(present.value.apiKey)).toBe("xai-secret")
      expect(Exit.isSuccess(present) && String(present.value.apiKey)).toBe("<redacted>")
    }))

  it.effect("XAI_RATE_LIMIT_KEY names who the quota belongs to; empty is refused", () =>
    Effect.gen(function*() {
      const team = yield* fromVariables({ XAI_API_KEY: "k", XAI_RATE_LIMIT_KEY: " team-7 " })
      expect(Exit.isSuccess(team) && team.value.rateLimitKey).toBe("team-7")
      const none = yield* fromVariables({ XAI_API_KEY: "k" })
      expect(Exit.isSuccess(none) && none.value.rateLimitKey).toBeUndefined()
      expect(Either.isLeft(GrokConfig.make({ apiKey: "k", rateLimitKey: "  " }))).toBe(true)
    }))
})
