/**
 * docs/simulator.md: a fault plan as data, the simulator and a GrokClient on it in one layer,
 * a test on the TestClock, runtime control, and any OpenAI-compatible SDK.
 * Type-checked by `npm test` (tsc --noEmit covers docs/examples).
 */
import { Effect, Fiber, Layer, TestClock } from "effect"
import { GrokClient } from "effect-grok"
import { NodeGrokClient } from "effect-grok/node"
import { GrokSimulator } from "effect-grok/simulator"
import OpenAI from "openai"

// --- 1. A fault plan is plain data: the CLI's --faults reads the same JSON ------------------

export const flakyStart: GrokSimulator.FaultPlan = [
  // the first two requests fail with 503, then the service is healthy
  { nth: [1, 2], fault: { kind: "status", status: 503 } },
  // grok-3-mini's first request is refused for an hour (its number counts grok-3-mini requests)
  { model: "grok-3-mini", nth: [1], fault: { kind: "status", status: 429, headers: { "retry-after": "3600" } } },
  // an outage: every connection is reset between 60 s and 90 s after start
  { afterMillis: 60_000, untilMillis: 90_000, fault: { kind: "reset" } },
  // one stream in twenty breaks after three chunks
  { probability: 0.05, fault: { kind: "dropStream", afterChunks: 3 } }
]

// --- 2. A simulator and a GrokClient pointed at it, in one layer ---------------------------------

export const SimulatorWithClient = GrokSimulator.layerClient({
  rateLimit: { requestsPerMinute: 60, tokensPerMinute: 100_000 },
  models: { "grok-3-mini": { rateLimit: { requestsPerSecond: 1 } } },
  faults: flakyStart,
  seed: 42,
  client: { model: "grok-4", deadline: "2 minutes" }
})

export const program = Effect.gen(function*() {
  const grok = yield* GrokClient.GrokClient
  const sim = yield* GrokSimulator.GrokSimulator
  const reply = yield* grok.chat({ messages: [{ role: "user", content: "hello" }] })
  // the log shows what the server saw: with the default retry policy, [503, 503, 200]
  const log = yield* sim.log
  return { reply, statuses: log.map((request) => request.status) }
}).pipe(Effect.provide(SimulatorWithClient))

/** The simulator alone, and a client of your choice on its URL (here on undici). */
export const SimulatorLive = GrokSimulator.layer({ rateLimit: { requestsPerMinute: 60 }, seed: 42 })

export const ClientOnSimulator = Layer.unwrapEffect(
  Effect.map(GrokSimulator.GrokSimulator, (sim) => NodeGrokClient.layer({ apiKey: "any-key", baseUrl: sim.url }))
).pipe(Layer.provideMerge(SimulatorLive))

// --- 3. A test on the TestClock: fork the call, wait for it to arrive, move time, join -----

/** Run with `it.effect`: the layer is built inside the test, so the simulator uses its TestClock. */
export const latencyTest = Effect.gen(function*() {
  const sim = yield* GrokSimulator.GrokSimulator
  yield* sim.setFaults([{ fault: { kind: "latency", millis: 5_000 } }])
  const call = yield* Effect.fork(
    Effect.promise(() => fetch(`${sim.url}/models`, { headers: { authorization: "Bearer test" } }))
  )
  yield* sim.awaitRequests(1) // an event, not a sleep
  yield* TestClock.adjust("5 seconds")
  const response = yield* Fiber.join(call)
  const [entry] = yield* sim.log
  return { status: response.status, tookMillis: (entry?.endedAt ?? 0) - (entry?.startedAt ?? 0) } // 200, 5000
}).pipe(Effect.provide(GrokSimulator.layer()))

/** Rate limits and faults change at runtime; `reset` restores the options' state. */
export const rateLimitTest = Effect.gen(function*() {
  const sim = yield* GrokSimulator.GrokSimulator
  yield* sim.setRateLimit("grok-4", { requestsPerSecond: 2 })
  const send = Effect.promise(() =>
    fetch(`${sim.url}/chat/completions`, {
      method: "POST",
      headers: { authorization: "Bearer test", "content-type": "application/json" },
      body: JSON.stringify({ model: "grok-4", messages: [{ role: "user", content: "hi" }] })
    })
  )
  yield* send
  yield* send
  const refused = yield* send // 429, retry-after: 1, x-ratelimit-remaining-requests: 0
  yield* TestClock.adjust("500 millis")
  const admitted = yield* send // 200: the window refilled on the TestClock
  yield* sim.reset
  return [refused.status, refused.headers.get("retry-after"), admitted.status]
}).pipe(Effect.provide(GrokSimulator.layer({ headers: "openai", retryAfter: "seconds" })))

// --- 4. Any OpenAI-compatible SDK works unchanged ------------------------------------------

export const withOpenAiSdk = Effect.gen(function*() {
  const sim = yield* GrokSimulator.GrokSimulator
  const client = new OpenAI({ baseURL: sim.url, apiKey: "any-key", maxRetries: 0 })
  return yield* Effect.promise(() =>
    client.chat.completions.create({ model: "grok-4", messages: [{ role: "user", content: "Say hi" }] })
  )
}).pipe(Effect.provide(GrokSimulator.layer()))
