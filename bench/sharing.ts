/**
 * Sharing one quota between clients, measured: 24 chat calls from two clients against a
 * simulator that allows 5 requests per second (burst 1, with rate-limit headers and
 * Retry-After), in real time, for each way an app may wire its limiter:
 *
 * - `one limiter around both`: one `RateLimiterMemory` layer provided once, above both
 *   clients (the way docs/rate-limiting.md gives);
 * - `a limiter per client`: the same layer provided to each client in its own
 *   `Effect.provide` (two limiters: the trap, now warned about);
 * - `two keys, one rateLimitKey`: two API keys of one team, `rateLimitKey` set, one limiter;
 * - `two keys, no rateLimitKey`: the same without it (two quotas as far as the limiter knows).
 *
 * The simulator counts the 429s; the time is from the first call to the last answer.
 *
 * @since 0.2.0
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Clock, Effect, Layer } from "effect"
import * as GrokClient from "../src/GrokClient.js"
import * as RateLimiterMemory from "../src/resilience/RateLimiterMemory.js"
import * as Simulator from "../src/simulator/Simulator.js"

/** @since 0.2.0 */
export interface SharingResult {
  readonly setup: string
  readonly ok: number
  readonly status429: number
  readonly seconds: number
}

const calls = 24
const hello = { messages: [{ role: "user" as const, content: "Say hi" }] }

/** Half the calls on each client, all at once; `provideEach` wires each client's calls. */
const run = (
  setup: string,
  keys: readonly [string, string],
  rateLimitKey: string | undefined,
  provideEach: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>,
  provideAll: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
) =>
  Effect.scoped(Effect.gen(function*() {
    const sim = yield* Effect.orDie(Simulator.make({ rateLimit: { requestsPerSecond: 5, burst: 1 }, seed: 1 }))
    const client = (apiKey: string) => GrokClient.layer({ apiKey, baseUrl: sim.url, ...(rateLimitKey === undefined ? {} : { rateLimitKey }) })
    const half = (apiKey: string) =>
      provideEach(
        Effect.flatMap(GrokClient.GrokClient, (grok) =>
          Effect.forEach(Array.from({ length: calls / 2 }), () => Effect.either(grok.chat(hello)), { concurrency: "unbounded" })).pipe(
            Effect.provide(client(apiKey))
          )
      )
    const started = yield* Clock.currentTimeMillis
    const results = yield* provideAll(Effect.all([half(keys[0]), half(keys[1])], { concurrency: "unbounded" }))
    const seconds = ((yield* Clock.currentTimeMillis) - started) / 1000
    const log = yield* sim.log
    return {
      setup,
      ok: results.flat().filter((result) => result._tag === "Right").length,
      status429: log.filter((entry) => entry.status === 429).length,
      seconds: Number(seconds.toFixed(1))
    } satisfies SharingResult
  })).pipe(Effect.provide(NodeHttpClient.layerUndici))

const limiter = () => Layer.orDie(RateLimiterMemory.layer({}))
const none = <A, E, R>(effect: Effect.Effect<A, E, R>) => effect

/**
 * The four setups, one after the other.
 *
 * @since 0.2.0
 */
export const benchSharing = (): Promise<{ readonly setups: ReadonlyArray<SharingResult> }> =>
  Effect.runPromise(Effect.map(Effect.all([
    run("one limiter around both", ["team-key", "team-key"], undefined, none, (effect) => Effect.provide(effect, limiter())),
    run("a limiter per client", ["team-key", "team-key"], undefined, (effect) => Effect.provide(effect, limiter()), none),
    run("two keys, one rateLimitKey, one limiter", ["key-a", "key-b"], "team-7", none, (effect) => Effect.provide(effect, limiter())),
    run("two keys, no rateLimitKey, one limiter", ["key-a", "key-b"], undefined, none, (effect) => Effect.provide(effect, limiter()))
  ]), (setups) => ({ setups })))
