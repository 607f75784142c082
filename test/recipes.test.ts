/**
 * docs/recipes.md's recipes (docs/examples/recipes.ts), run against the simulator over real
 * loopback sockets: each test checks what its recipe promises. Time is the TestClock's, except
 * for the Redis recipe (Redis decides with its own clock), which runs on real time.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, ConfigProvider, Effect, Either, type Fiber, Layer, Logger, LogLevel, Redacted, type Scope } from "effect"
import { readFileSync } from "node:fs"
import { inject } from "vitest"
import { RateLimiterMemory } from "effect-grok"
import { NodeGrokClient } from "effect-grok/node"
import { type FaultPlan, GrokSimulator } from "effect-grok/simulator"
import * as Recipes from "../docs/examples/recipes.js"
import { drive, simulatorActivity } from "./support/drive.js"

/** The environment a recipe reads (XAI_API_KEY and friends), pointed at `sim`. */
const env = (sim: GrokSimulator.Service, variables: Record<string, string> = {}) =>
  Effect.withConfigProvider(
    ConfigProvider.fromMap(new Map(Object.entries({ XAI_API_KEY: "xai-recipes", XAI_BASE_URL: sim.url, ...variables })))
  )

/** Run `program` in a fiber, moving the TestClock from timer to timer once loopback I/O is quiet. */
const driven = <A, E, R>(sim: GrokSimulator.Service, program: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.flatMap(Effect.fork(program), (fiber: Fiber.RuntimeFiber<A, E>) => drive(fiber, simulatorActivity(sim)))

/** When each request arrived, in ms after the first, in order. */
const arrivals = (sim: GrokSimulator.Service) =>
  Effect.map(sim.log, (log) => log.map((entry) => entry.startedAt - log[0]!.startedAt).sort((a, b) => a - b))

const simulator = (options: GrokSimulator.SimulatorOptions = {}): Effect.Effect<GrokSimulator.Service, never, Scope.Scope> =>
  Effect.orDie(GrokSimulator.make(options))

const status = (code: number, headers?: Record<string, string>): FaultPlan.Fault =>
  ({ kind: "status", status: code, ...(headers === undefined ? {} : { headers }) })

/** The error of a failed `Either`; a success fails the test. */
const leftOf = <A, E>(result: Either.Either<A, E>): E => {
  if (Either.isRight(result)) throw new Error(`expected a failure, got ${String(result.right)}`)
  return result.left
}

/** A logger writing each line, as `format` prints it, into `lines`; every level passes. */
const capturing = (lines: Array<string>, format: Logger.Logger<unknown, string> = Logger.logfmtLogger) =>
  Layer.merge(
    Logger.replace(Logger.defaultLogger, Logger.map(format, (line) => void lines.push(line))),
    Logger.minimumLogLevel(LogLevel.All)
  )

/** The error logged (as its `toJSON` prints it) with `message`, from JSON log lines. */
const loggedError = (lines: ReadonlyArray<string>, message: string): unknown => {
  const entry = lines.map((line) => JSON.parse(line) as { readonly message: ReadonlyArray<unknown> }).find((e) => e.message[0] === message)
  return entry?.message[1]
}

const reply = (question: string) => `Simulated reply to "${question}".`

describe("the recipes as the docs show them", () => {
  /** A line as compared: trimmed, without `export`. */
  const normal = (line: string) => line.trim().replace(/^export /, "")
  const source = new Set(readFileSync("docs/examples/recipes.ts", "utf8").split("\n").map(normal))
  /** The lines of `markdown`'s ts blocks that are not in recipes.ts, imports and the run line aside. */
  const notInSource = (markdown: string) =>
    [...markdown.matchAll(/```ts\n([\s\S]*?)```/g)]
      .flatMap((block) => block[1]!.split("\n").map(normal))
      .filter((line) => line !== "" && !/^(import |Effect\.runPromise\(|\/\/ Simulated reply)/.test(line) && !source.has(line))

  it("docs/recipes.md and README's first call show the code that runs here", () => {
    expect(notInSource(readFileSync("docs/recipes.md", "utf8"))).toEqual([])
    const readme = readFileSync("README.md", "utf8")
    const firstCall = readme.slice(readme.indexOf("## A first call, on the simulator"), readme.indexOf("## Use it"))
    expect(firstCall).toContain("GrokSimulator.layerClient()")
    expect(notInSource(firstCall)).toEqual([])
  })
})

describe("recipe 0: a first call on the simulator", () => {
  it.effect("answers, with no key and no network", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(Recipes.firstCall)
      expect(yield* drive(fiber)).toBe(reply("Say hi in Portuguese"))
    }))
})

describe("recipe 1: your own Schedule", () => {
  it.scoped("retries on the schedule's delays; a Retry-After stays the floor, a 422 is never retried", () =>
    Effect.gen(function*() {
      const sim = yield* simulator({
        faults: [
          { nth: [1, 2], fault: status(503) },
          { nth: [4], fault: status(503, { "retry-after": "2" }) },
          { nth: [6], fault: status(422) }
        ]
      })
      const client = NodeGrokClient.layer({ apiKey: "xai-recipes", baseUrl: sim.url })

      // Two 503s, then an answer: attempts 200 ms apart, as the schedule says.
      expect(yield* driven(sim, Recipes.askPatiently("hi").pipe(Effect.provide(client)))).toBe(reply("hi"))
      expect(yield* arrivals(sim)).toEqual([0, 200, 400])

      // A 503 asking for 2 s: the retry waits 2 s, not 200 ms.
      yield* sim.reset
      yield* sim.setFaults([{ nth: [1], fault: status(503, { "retry-after": "2" }) }])
      expect(yield* driven(sim, Recipes.askPatiently("hi").pipe(Effect.provide(client)))).toBe(reply("hi"))
      expect(yield* arrivals(sim)).toEqual([0, 2000])

      // A 422 cannot succeed by trying again: one request, whatever the schedule allows.
      yield* sim.reset
      yield* sim.setFaults([{ fault: status(422) }])
      const error = leftOf(yield* driven(sim, Effect.either(Recipes.askPatiently("hi").pipe(Effect.provide(client)))))
      expect(error).toMatchObject({ _tag: "BadRequest", status: 422, retryable: false })
      expect(yield* sim.requestCount).toBe(1)
    }))

  it.scoped("the same schedule for every call, as a layer", () =>
    Effect.gen(function*() {
      const sim = yield* simulator({ faults: [{ nth: [1, 2, 3, 4], fault: status(503) }] })
      const client = NodeGrokClient.layer({ apiKey: "xai-recipes", baseUrl: sim.url })
      const answer = yield* driven(sim, Recipes.ask("hi").pipe(Effect.provide(client), Effect.provide(Recipes.PatientRetries)))
      expect(answer).toBe(reply("hi"))
      // Four retries, 200 ms apart: more than the default policy's three.
      expect(yield* arrivals(sim)).toEqual([0, 200, 400, 600, 800])
    }))
})

describe("recipe 2: a deadline", () => {
  it.scoped("a call with no answer in 5 s fails at 5 s with Timeout (deadline), per call or for every call", () =>
    Effect.gen(function*() {
      const sim = yield* simulator({ faults: [{ fault: { kind: "latency", millis: 60_000 } }] })
      const client = NodeGrokClient.layer({ apiKey: "xai-recipes", baseUrl: sim.url })
      for (const call of [Recipes.askWithin5s("hi"), Recipes.ask("hi").pipe(Effect.provide(Recipes.FiveSecondCalls))]) {
        const started = yield* Clock.currentTimeMillis
        const error = leftOf(yield* driven(sim, Effect.either(call.pipe(Effect.provide(client)))))
        expect(error).toMatchObject({ _tag: "Timeout", phase: "deadline", retryable: false, message: "call deadline of 5s exceeded" })
        expect((yield* Clock.currentTimeMillis) - started).toBe(5000)
      }
    }))

  it.scoped("XAI_DEADLINE=5s in the environment does the same", () =>
    Effect.gen(function*() {
      const sim = yield* simulator({ faults: [{ fault: { kind: "latency", millis: 60_000 } }] })
      const error = leftOf(
        yield* driven(sim, Effect.either(Recipes.ask("hi").pipe(Effect.provide(NodeGrokClient.layerConfig()), env(sim, { XAI_DEADLINE: "5s" }))))
      )
      expect(error).toMatchObject({ _tag: "Timeout", phase: "deadline" })
      expect(yield* Clock.currentTimeMillis).toBe(5000)
    }))
})

describe("recipe 3: one limiter for several clients of one process", () => {
  it.scoped("provided once above two clients, it paces all their calls together", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const [support, digest] = yield* driven(sim, Recipes.wholeApp.pipe(env(sim)))
      expect(support).toEqual(["Where is my order?", "Can I change my address?", "Do you ship abroad?"].map(reply))
      expect(digest).toHaveLength(3)
      // 2 per second for the six calls of both clients: one every 500 ms (less the limiter's 4 ms of timer slack).
      expect(yield* arrivals(sim)).toEqual([0, 496, 996, 1496, 1996, 2496])

      // What the recipe warns against: the layer provided to each client separately builds
      // one limiter per client, and each client gets the whole quota.
      yield* sim.reset
      const separately = Effect.all([
        Recipes.supportBot.pipe(Effect.provide(Recipes.AppLimiter)),
        Recipes.nightlyDigest.pipe(Effect.provide(Recipes.AppLimiter))
      ], { concurrency: "unbounded" })
      yield* driven(sim, separately.pipe(env(sim)))
      expect(yield* arrivals(sim)).toEqual([0, 0, 496, 496, 996, 996])
    }))
})

describe("recipe 4: one limiter for several processes, on Redis", () => {
  const redisUrl = inject("redisUrl")

  it.scopedLive("two workers, each with its own limiter on one Redis, share one quota", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      // Each worker builds its own client and its own limiter (its own connection), as two
      // processes would; only Redis is shared. A fresh key keeps this run apart from others.
      const workerEnv = env(sim, { REDIS_URL: redisUrl, XAI_API_KEY: `xai-recipes-${Math.random()}` })
      const [a, b] = yield* Effect.all([Recipes.worker, Recipes.worker], { concurrency: "unbounded" }).pipe(workerEnv)
      expect([...a, ...b]).toHaveLength(6)
      // 2 per second for both: the sixth call goes about 2.5 s after the first (each process
      // alone would have sent its three within 1 s).
      const times = yield* arrivals(sim)
      expect(times).toHaveLength(6)
      expect(times[5]!).toBeGreaterThanOrEqual(2000)
    }), { timeout: 20_000 })
})

describe("recipe 5: several API keys of one team share one quota", () => {
  it.scoped("two keys with one rateLimitKey are paced together; without it each key is its own quota", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const keyA = Redacted.make("xai-team-key-a")
      const keyB = Redacted.make("xai-team-key-b")
      const answers = yield* driven(sim, Recipes.teamWork(keyA, keyB, sim.url))
      expect(answers.flat()).toEqual(["A1", "A2", "B1", "B2"].map(reply))
      expect(yield* arrivals(sim)).toEqual([0, 496, 996, 1496])

      // The safe default: without a rateLimitKey, each key is its own quota in the limiter.
      yield* sim.reset
      const perKey = (apiKey: Redacted.Redacted<string>) =>
        Effect.forEach(["1", "2"], (q) => Recipes.ask(q), { concurrency: "unbounded" }).pipe(
          Effect.provide(NodeGrokClient.layer({ apiKey, baseUrl: sim.url }))
        )
      yield* driven(sim, Effect.all([perKey(keyA), perKey(keyB)], { concurrency: "unbounded" }).pipe(Effect.provide(Recipes.AppLimiter)))
      expect(yield* arrivals(sim)).toEqual([0, 0, 496, 496])
    }))
})

describe("recipe 6: catch errors by tag, log them readably", () => {
  it.scoped("a 429 asking for an hour: the user reads when, the log reads 1h and an ISO date", () =>
    Effect.gen(function*() {
      const sim = yield* simulator({
        faults: [{
          fault: {
            kind: "status",
            status: 429,
            headers: { "retry-after": "3600" },
            body: { code: "resource-exhausted", error: "Too many requests for team t and model grok-4." }
          }
        }]
      })
      const lines: Array<string> = []
      const client = NodeGrokClient.layer({ apiKey: "xai-recipes", baseUrl: sim.url })
      const answer = yield* driven(sim, Recipes.answerOrExcuse("hi").pipe(Effect.provide(client), Effect.provide(capturing(lines, Logger.jsonLogger))))
      expect(answer).toBe("Busy until 1970-01-01T01:00:00.000Z.")
      // Longer than the 60 s Retry-After cap: not waited for, one request.
      expect(yield* sim.requestCount).toBe(1)
      expect(loggedError(lines, "Grok refused the call")).toMatchObject({
        _tag: "RateLimited",
        status: 429,
        limit: "requests",
        retryAfter: "1h",
        resetAt: "1970-01-01T01:00:00.000Z",
        message: expect.stringContaining("retry after 1h")
      })
      const warning = lines.find((line) => line.includes("Grok refused the call"))!
      expect(JSON.parse(warning)).toMatchObject({ logLevel: "WARN" })
      expect(warning).not.toContain("_id")
    }))

  it.scoped("no answer within the deadline, or no room in the limiter before it: each says so", () =>
    Effect.gen(function*() {
      const sim = yield* simulator({ faults: [{ nth: [1], fault: { kind: "latency", millis: 60_000 } }] })
      const lines: Array<string> = []
      const client = NodeGrokClient.layer({ apiKey: "xai-recipes", baseUrl: sim.url, deadline: "1500 millis" })
      const logs = capturing(lines, Logger.jsonLogger)
      const answer = yield* driven(sim, Recipes.answerOrExcuse("hi").pipe(Effect.provide(client), Effect.provide(logs)))
      expect(answer).toBe("No answer within 1s 500ms.")
      expect(loggedError(lines, "no answer")).toMatchObject({ _tag: "Timeout", phase: "deadline", after: "1s 500ms" })

      // One call a second: the third of three would go 2 s after the first, past its 1.5 s deadline.
      yield* sim.reset
      yield* sim.setFaults([])
      const oneASecond = Layer.orDie(RateLimiterMemory.layer({ limits: { requestsPerSecond: 1 } }))
      const answers = yield* driven(
        sim,
        Effect.forEach(["1", "2", "3"], Recipes.answerOrExcuse, { concurrency: "unbounded" }).pipe(
          Effect.provide(client),
          Effect.provide(oneASecond),
          Effect.provide(logs)
        )
      )
      expect(answers).toEqual([reply("1"), reply("2"), "Too busy (deadline), nothing was sent."])
      expect(yield* sim.requestCount).toBe(2)
      expect(loggedError(lines, "not sent")).toMatchObject({
        _tag: "QueueRejected",
        reason: "deadline",
        retryable: false,
        deadline: "1s 500ms",
        predictedWait: "1s 996ms"
      })
    }))
})

describe("recipe 7: read the metrics", () => {
  it.scoped("a job's calls, attempts, retries and tokens, read from the registry", () =>
    Effect.gen(function*() {
      const sim = yield* simulator({ faults: [{ nth: [1], fault: status(503) }] })
      const client = NodeGrokClient.layer({ apiKey: "xai-recipes", baseUrl: sim.url })
      const { totals, value } = yield* driven(
        sim,
        Recipes.measured(Effect.forEach(["a", "b", "c"], (q) => Recipes.ask(q))).pipe(Effect.provide(client))
      )
      expect(value).toEqual(["a", "b", "c"].map(reply))
      expect(totals).toMatchObject({ requests: 3, attempts: 4, retries: 1, status429: 0 })
      const used = (yield* sim.log).reduce((sum, entry) => sum + (entry.usage?.totalTokens ?? 0), 0)
      expect(used).toBeGreaterThan(0)
      expect(totals.tokens.total).toBe(used)
    }))
})

describe("recipe 8: turn features off", () => {
  /** Each call meets one 503, then its retry succeeds: requests 1, 3, 5, ... fail. */
  const oddRequestsFail: FaultPlan.FaultPlan = [{ nth: Array.from({ length: 16 }, (_, i) => 2 * i + 1), fault: status(503) }]
  const sixteenCalls = Effect.forEach(Array.from({ length: 16 }), () => Effect.either(Recipes.ask("hi")))

  it.effect("the retry budget: by default it stops the 12th call's retry, saying so; NoRetryBudget lets all 16 through", () =>
    Effect.gen(function*() {
      const sim = yield* GrokSimulator.GrokSimulator
      const refusalsBefore = yield* Recipes.budgetRefusals
      const withBudget = yield* driven(sim, sixteenCalls.pipe(Effect.provide(Recipes.NoBreaker)))
      expect(withBudget.findIndex(Either.isLeft)).toBe(11)
      const stopped = withBudget.filter(Either.isLeft).map(leftOf)
      for (const error of stopped) {
        expect(error).toMatchObject({ _tag: "ServerError", status: 503, retryBudgetExhausted: true })
        expect(error.message).toContain("the retry budget is spent")
      }
      expect((yield* Recipes.budgetRefusals) - refusalsBefore).toBe(stopped.length)

      // reset: the initial fault plan again, and the client's own budget full again.
      yield* sim.reset
      const refusalsNow = yield* Recipes.budgetRefusals
      const withoutBudget = yield* driven(sim, sixteenCalls.pipe(Effect.provide(Recipes.NoBreaker), Effect.provide(Recipes.NoRetryBudget)))
      expect(withoutBudget.filter(Either.isRight)).toHaveLength(16)
      expect(yield* Recipes.budgetRefusals).toBe(refusalsNow)
    }).pipe(Effect.provide(GrokSimulator.layerClient({ faults: oddRequestsFail }))))

  it.effect("the breaker: with it, an outage makes the 11th call wait for a probe; with NoBreaker every call goes at once", () =>
    Effect.gen(function*() {
      const sim = yield* GrokSimulator.GrokSimulator
      // A 3 s deadline each, so that a call held back by the breaker gives up soon.
      const elevenCalls = Effect.forEach(Array.from({ length: 11 }), () => Effect.either(Recipes.ask("hi", { deadline: "3 seconds" })))
      const noRetries = Effect.provide(Recipes.NoRetries)
      yield* driven(sim, elevenCalls.pipe(noRetries))
      // Ten failures opened the client's breaker: the eleventh waited for its break to end.
      expect(yield* Clock.currentTimeMillis).toBeGreaterThan(0)

      yield* sim.reset
      const before = yield* Clock.currentTimeMillis
      const results = yield* driven(sim, elevenCalls.pipe(noRetries, Effect.provide(Recipes.NoBreaker)))
      expect(results.map((result) => leftOf(result)._tag)).toEqual(Array(11).fill("ServerError"))
      expect(yield* sim.requestCount).toBe(11)
      expect(yield* Clock.currentTimeMillis).toBe(before)
    }).pipe(Effect.provide(GrokSimulator.layerClient({ faults: [{ fault: status(503) }] }))))

  it.effect("the limiter: with NoLimiter, calls above a limiter's pace all go at once", () =>
    Effect.gen(function*() {
      const sim = yield* GrokSimulator.GrokSimulator
      const fiveCalls = Effect.forEach(["1", "2", "3", "4", "5"], (q) => Recipes.ask(q), { concurrency: "unbounded" })
      yield* driven(sim, fiveCalls.pipe(Effect.provide(Recipes.AppLimiter)))
      expect(yield* arrivals(sim)).toEqual([0, 496, 996, 1496, 1996])
      yield* sim.reset
      // The innermost limiter is the one calls use: NoLimiter wins over the app's limiter around it.
      yield* driven(sim, fiveCalls.pipe(Effect.provide(Recipes.NoLimiter), Effect.provide(Recipes.AppLimiter)))
      expect(yield* arrivals(sim)).toEqual([0, 0, 0, 0, 0])
    }).pipe(Effect.provide(GrokSimulator.layerClient())))

  it.effect("logs: effect-grok's lines are Debug by default, Info with VisibleLogs, gone with QuietLogs", () =>
    Effect.gen(function*() {
      const sim = yield* GrokSimulator.GrokSimulator
      const retried = (lines: Array<string>, levels?: Layer.Layer<never>) =>
        Effect.gen(function*() {
          yield* sim.reset
          const call = Recipes.ask("hi").pipe(Effect.provide(capturing(lines)))
          yield* driven(sim, levels === undefined ? call : call.pipe(Effect.provide(levels)))
          return lines.filter((line) => line.includes("retrying Grok call"))
        })
      const byDefault = yield* retried([])
      expect(byDefault).toHaveLength(1)
      expect(byDefault[0]).toContain("level=DEBUG")
      // Numbers are rounded: a whole number of milliseconds.
      expect(byDefault[0]).toMatch(/delayMs=\d+( |$)/)
      const visible = yield* retried([], Recipes.VisibleLogs)
      expect(visible).toHaveLength(1)
      expect(visible[0]).toContain("level=INFO")
      expect(yield* retried([], Recipes.QuietLogs)).toEqual([])
    }).pipe(Effect.provide(GrokSimulator.layerClient({ faults: [{ nth: [1], fault: status(503) }] }))))

  it.effect("bare: no breaker, no retries, no limiter, no logs of ours", () =>
    Effect.gen(function*() {
      const sim = yield* GrokSimulator.GrokSimulator
      const lines: Array<string> = []
      const results = yield* driven(
        sim,
        Recipes.bare(Effect.forEach(Array.from({ length: 12 }), () => Effect.either(Recipes.ask("hi")), { concurrency: 4 })).pipe(
          Effect.provide(capturing(lines))
        )
      )
      expect(results.map((result) => leftOf(result)._tag)).toEqual(Array(12).fill("ServerError"))
      // One request per call, all at once: nothing retried, held back or paced.
      expect(yield* sim.requestCount).toBe(12)
      expect(yield* Clock.currentTimeMillis).toBe(0)
      expect(lines.filter((line) => line.includes("Grok call"))).toEqual([])
    }).pipe(Effect.provide(GrokSimulator.layerClient({ faults: [{ fault: status(503) }] }))))
})

describe("recipe 9: test your own code against the simulator", () => {
  it.effect("the flaky start is retried through; after reset the next case meets it again, from an empty log", () =>
    Effect.gen(function*() {
      const sim = yield* GrokSimulator.GrokSimulator
      const first = yield* driven(sim, Recipes.flakyStartCase)
      expect(first).toEqual({ answer: reply("hello"), statuses: [503, 503, 200] })
      expect(yield* sim.requestCount).toBe(0)
      const second = yield* driven(sim, Recipes.flakyStartCase)
      expect(second).toEqual(first)
    }).pipe(Effect.provide(Recipes.FlakyStart)))
})
