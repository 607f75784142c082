/**
 * docs/recipes.md: the tasks a newcomer meets, one recipe each. Imports are the package's
 * entry points, as in your app. Type-checked by `npm test`, and RUN by test/recipes.test.ts
 * against the simulator, which checks what each recipe promises.
 */
import { Config, Duration, Effect, Layer, LogLevel, Metric, MetricState, type Redacted, Schedule } from "effect"
import { Chat, CircuitBreaker, GrokClient, Logging, Metrics, RateLimiter, RateLimiterMemory, RetryPolicy } from "effect-grok"
import { NodeGrokClient } from "effect-grok/node"
import { RateLimiterRedis } from "effect-grok/redis"
import { GrokSimulator } from "effect-grok/simulator"

/** One question to Grok, its answer's text. Every recipe below builds on it. */
export const ask = (question: string, options?: GrokClient.CallOptions) =>
  Effect.flatMap(GrokClient.GrokClient, (grok) =>
    Effect.map(grok.chat({ messages: [{ role: "user", content: question }] }, options), Chat.contentOf))

// --- 0. A first call, on the local simulator: no key, no network (README) ---------------------

export const sayHi = Effect.gen(function*() {
  const grok = yield* GrokClient.GrokClient
  const reply = yield* grok.chat({ messages: [{ role: "user", content: "Say hi in Portuguese" }] })
  return Chat.contentOf(reply)
})

// A local xAI-compatible server and a GrokClient pointed at it, in one layer.
export const firstCall = sayHi.pipe(Effect.provide(GrokSimulator.layerClient()))

// --- 1. Your own Schedule -------------------------------------------------------------------------

/** Every 200 ms, at most 4 retries. Any `Schedule` is a retry policy. */
export const every200ms = Schedule.spaced("200 millis").pipe(Schedule.intersect(Schedule.recurs(4)))

/** For one call... */
export const askPatiently = (question: string) => ask(question, { retry: every200ms })

/** ...or for every call under the layer. */
export const PatientRetries = RetryPolicy.layer({ policy: every200ms })

// --- 2. A deadline --------------------------------------------------------------------------------

/** One call: every attempt and every wait between them within 5 seconds. */
export const askWithin5s = (question: string) => ask(question, { deadline: "5 seconds" })

/** Every call under the layer (or XAI_DEADLINE=5s in the environment). */
export const FiveSecondCalls = RetryPolicy.layer({ deadline: "5 seconds" })

// --- 3. One limiter for several clients of one process --------------------------------------------

/** The app's limiter. Provided once, above every client, it paces all their calls together. */
export const AppLimiter = RateLimiterMemory.layer({ limits: { requestsPerSecond: 2 } })

/** Two parts of one app, each with its own client (here both from XAI_API_KEY and friends). */
export const supportBot = Effect.forEach(["Where is my order?", "Can I change my address?", "Do you ship abroad?"], (q) => ask(q), {
  concurrency: "unbounded"
}).pipe(Effect.provide(NodeGrokClient.layerConfig()))

export const nightlyDigest = Effect.forEach(["Summarise ticket 1", "Summarise ticket 2", "Summarise ticket 3"], (q) => ask(q), {
  concurrency: "unbounded"
}).pipe(Effect.provide(NodeGrokClient.layerConfig()))

export const wholeApp = Effect.all([supportBot, nightlyDigest], { concurrency: "unbounded" }).pipe(Effect.provide(AppLimiter))

// --- 4. One limiter for several processes: Redis --------------------------------------------------

/** Every process of the fleet provides it once, on the same Redis: one quota for the fleet. */
export const FleetLimiter = Layer.unwrapEffect(
  Effect.map(Config.redacted("REDIS_URL"), (url) => RateLimiterRedis.layer({ url, limits: { requestsPerSecond: 2 } }))
)

/** What one process runs. */
export const worker = Effect.forEach(["Classify ticket A", "Classify ticket B", "Classify ticket C"], (q) => ask(q), {
  concurrency: "unbounded"
}).pipe(Effect.provide(NodeGrokClient.layerConfig()), Effect.provide(FleetLimiter))

// --- 5. Several API keys of one team share one quota -------------------------------------------------

/**
 * xAI limits per team and model, not per key: give every client of the team the same
 * `rateLimitKey` (or XAI_RATE_LIMIT_KEY=team-7 in each process's environment). `baseUrl`: xAI's
 * unless given (the simulator's in tests).
 */
export const TeamClient = (apiKey: Redacted.Redacted<string>, baseUrl?: string) =>
  NodeGrokClient.layer({ apiKey, rateLimitKey: "team-7", baseUrl })

/** Two keys of one team, their calls paced together by the limiter above them. */
export const teamWork = (keyA: Redacted.Redacted<string>, keyB: Redacted.Redacted<string>, baseUrl?: string) =>
  Effect.all([
    Effect.forEach(["A1", "A2"], (q) => ask(q), { concurrency: "unbounded" }).pipe(Effect.provide(TeamClient(keyA, baseUrl))),
    Effect.forEach(["B1", "B2"], (q) => ask(q), { concurrency: "unbounded" }).pipe(Effect.provide(TeamClient(keyB, baseUrl)))
  ], { concurrency: "unbounded" }).pipe(Effect.provide(AppLimiter))

// --- 6. Catch errors by tag, log them readably ------------------------------------------------------

/** What the user reads when Grok cannot answer; the log gets the whole error. */
export const answerOrExcuse = (question: string) =>
  ask(question).pipe(
    Effect.catchTags({
      // Sent and refused: the server said when to come back.
      RateLimited: (error) =>
        Effect.as(
          Effect.logWarning("Grok refused the call", error),
          error.resetAt === undefined ? "Busy, try again later." : `Busy until ${new Date(error.resetAt).toISOString()}.`
        ),
      // Never sent: our own limiter could not fit it in its deadline (or its queue was full).
      QueueRejected: (error) => Effect.as(Effect.logWarning("not sent", error), `Too busy (${error.reason}), nothing was sent.`),
      // No answer within the deadline.
      Timeout: (error) => Effect.as(Effect.logWarning("no answer", error), `No answer within ${Duration.format(error.after)}.`)
    })
  )

// --- 7. Read the metrics -----------------------------------------------------------------------------

/** A job and what it cost: calls, attempts, retries, 429s, tokens, latency. */
export const measured = <A, E, R>(job: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const before = yield* Metrics.snapshotTotals
    const value = yield* job
    const totals = Metrics.diffTotals(before, yield* Metrics.snapshotTotals)
    return { value, totals }
  })

/** Any one series by its name, summed over its labels (models, error types, ...). */
export const counterTotal = (name: string): Effect.Effect<number> =>
  Effect.map(Metric.snapshot, (pairs) =>
    pairs.reduce(
      (sum, pair) =>
        pair.metricKey.name === name && MetricState.isCounterState(pair.metricState) ? sum + Number(pair.metricState.count) : sum,
      0
    ))

/** Calls that ended with an error they could have retried, because the retry budget was spent. */
export const budgetRefusals = counterTotal("effect_grok.retry_budget.refusals")

// --- 8. Turn features off ---------------------------------------------------------------------------

/** No circuit breaker: every attempt goes to the server, the retry policy alone decides. */
export const NoBreaker = CircuitBreaker.layerDisabled

/** No retry budget: every call may use all its retries, whatever the others do. */
export const NoRetryBudget = RetryPolicy.layer({ budget: false })

/** No retries at all (one RetrySettings layer: later ones replace earlier ones). */
export const NoRetries = RetryPolicy.layer({ policy: RetryPolicy.make({ maxRetries: 0 }), budget: false })

/** No rate limiter: every call goes at once, nothing paces or queues it. */
export const NoLimiter = RateLimiter.layerUnlimited

/** effect-grok's own log lines: off; or raised from Debug to Info to see them. */
export const QuietLogs = Logging.layer(LogLevel.None)
export const VisibleLogs = Logging.layer(LogLevel.Info)

/** All of it, for the whole program: provided once, around it. */
export const bare = <A, E, R>(program: Effect.Effect<A, E, R>) =>
  program.pipe(Effect.provide(Layer.mergeAll(NoBreaker, NoRetries, NoLimiter, QuietLogs)))

// --- 9. Test your own code against the simulator -------------------------------------------------

/** A simulator whose first two requests fail with 503, and a client on it. */
export const FlakyStart = GrokSimulator.layerClient({ faults: [{ nth: [1, 2], fault: { kind: "status", status: 503 } }] })

/** A test body: your code, then what the server saw; `reset` starts the next case afresh. */
export const flakyStartCase = Effect.gen(function*() {
  const sim = yield* GrokSimulator.GrokSimulator
  const answer = yield* ask("hello") // your code under test
  const statuses = (yield* sim.log).map((request) => request.status) // [503, 503, 200]
  // The log, the counters and the fault plan as at start; the client's own breaker, limiter
  // and retry budget rebuilt: one case's faults do not slow the next.
  yield* sim.reset
  return { answer, statuses }
})
