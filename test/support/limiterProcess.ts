/**
 * A separate Node process using `RateLimiterRedis`: the multi-process test bundles this file
 * (see `bundleLimiterProcess`) and runs several copies against one Redis.
 *
 * Input: one JSON argument ({@link LimiterProcessInput}). Output: one JSON line on stdout
 * ({@link LimiterProcessOutput}): how many of its calls were admitted, and why the others
 * were refused.
 */
import { Effect } from "effect"
import type { Priority } from "../../src/resilience/RateLimiter.js"
import * as RateLimiterRedis from "../../src/resilience/RateLimiterRedis.js"

export interface LimiterProcessInput {
  readonly url: string
  readonly prefix: string
  readonly key: string
  readonly calls: number
  readonly tokensPerCall: number
  readonly tokensPerMinute: number
}

export interface LimiterProcessOutput {
  readonly admitted: number
  readonly refused: Record<string, number>
}

const run = (input: LimiterProcessInput) =>
  Effect.scoped(Effect.gen(function*() {
    const limiter = yield* RateLimiterRedis.make({
      url: input.url,
      prefix: input.prefix,
      onUnavailable: "fail",
      // Generous: a cold child on a loaded 2-core CI machine must not read as "Redis unavailable";
      // what this test checks is the shared quota, not the timeouts (tested elsewhere).
      commandTimeout: "5 seconds",
      connectTimeout: "10 seconds",
      limits: { tokensPerMinute: input.tokensPerMinute },
      startSlow: false,
      maxWait: "200 millis"
    })
    const ticket = { key: input.key, tokens: input.tokensPerCall, priority: "normal" as Priority }
    const results = yield* Effect.forEach(
      Array.from({ length: input.calls }),
      () => Effect.either(limiter.acquire(ticket)),
      { concurrency: "unbounded" }
    )
    const refused: Record<string, number> = {}
    let admitted = 0
    for (const result of results) {
      if (result._tag === "Right") admitted++
      else refused[result.left.reason] = (refused[result.left.reason] ?? 0) + 1
    }
    const output: LimiterProcessOutput = { admitted, refused }
    return output
  }))

const [argument] = process.argv.slice(2)
if (argument !== undefined) {
  const input = JSON.parse(argument) as LimiterProcessInput
  Effect.runPromise(run(input)).then(
    (output) => {
      process.stdout.write(`${JSON.stringify(output)}\n`)
      process.exit(0)
    },
    (error: unknown) => {
      process.stderr.write(`${String(error)}\n`)
      process.exit(1)
    }
  )
}
