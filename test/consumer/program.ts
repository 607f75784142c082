/**
 * A small app of someone else's, as the consumer check installs it: its own `effect` and
 * `@effect/platform` (the lowest versions effect-grok's peer ranges accept), its own Schedules
 * and Layers, and effect-grok from the packed tarball. It exits 0 only when every check holds.
 */
import { FetchHttpClient } from "@effect/platform"
import { Effect, Layer, Schedule } from "effect"
import { Chat, GrokClient, RateLimiterMemory, RetryPolicy } from "effect-grok"
import { GrokSimulator } from "effect-grok/simulator"

// The app's own Schedule and Layers, mixed with effect-grok's.
const appRetries: Schedule.Schedule<unknown, unknown> = Schedule.exponential("100 millis").pipe(Schedule.intersect(Schedule.recurs(4)))

const Simulator = GrokSimulator.layer({ faults: [{ nth: [1], fault: { kind: "status", status: 503 } }] })

const Client = Layer.unwrapEffect(
  Effect.map(GrokSimulator.GrokSimulator, (sim) => GrokClient.layer({ apiKey: "consumer-key", baseUrl: sim.url }))
).pipe(
  Layer.provide(RetryPolicy.layer({ policy: appRetries, deadline: "30 seconds" })),
  Layer.provide(RateLimiterMemory.layer({ limits: { requestsPerSecond: 50 } })),
  Layer.provide(FetchHttpClient.layer),
  Layer.provideMerge(Simulator)
)

const program = Effect.gen(function*() {
  const grok = yield* GrokClient.GrokClient
  const sim = yield* GrokSimulator.GrokSimulator
  const reply = yield* grok.chat({ messages: [{ role: "user", content: "Say hi" }] })
  const text = Chat.contentOf(reply)
  if (!text.includes("Say hi")) return yield* Effect.dieMessage(`unexpected reply: ${text}`)
  // A 422 is never retried, even under a plain Schedule.recurs(3).
  yield* sim.setFaults([{ fault: { kind: "status", status: 422 } }])
  const before = yield* sim.requestCount
  const refused = yield* Effect.flip(grok.chat({ messages: [{ role: "user", content: "again" }] }, { retry: Schedule.recurs(3) }))
  const sent = (yield* sim.requestCount) - before
  if (refused._tag !== "BadRequest" || sent !== 1) {
    return yield* Effect.dieMessage(`a 422 should fail once as BadRequest, got ${refused._tag} after ${sent} requests`)
  }
  yield* Effect.log(`consumer check: "${text}", a 503 retried, a 422 sent once (${refused._tag})`)
})

Effect.runPromise(program.pipe(Effect.provide(Client))).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  }
)
