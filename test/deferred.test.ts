/**
 * Deferred completions: the simulator's route (202 while pending, 200 once, 404 after) and
 * `grok.chatDeferred`, which polls on a Schedule through the pipeline, over real loopback
 * sockets on the TestClock.
 */
import { describe, expect, it } from "@effect/vitest"
import type { HttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { type Duration, Effect, Either, Fiber, Schedule, type Scope, TestClock } from "effect"
import * as GrokClient from "../src/GrokClient.js"
import * as GrokConfig from "../src/GrokConfig.js"
import * as Chat from "../src/schema/Chat.js"
import type * as FaultPlan from "../src/simulator/FaultPlan.js"
import * as Simulator from "../src/simulator/Simulator.js"
import { drive, simulatorActivity } from "./support/drive.js"

const KEY = "xai-deferred-test-key-0123456789"
const REQUEST: GrokClient.ChatRequest = { model: "grok-4", messages: [{ role: "user", content: "Write a long essay" }] }

const loopback = <A, E>(body: Effect.Effect<A, E, Scope.Scope | HttpClient.HttpClient>) =>
  body.pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))

const setup = (options: { readonly deferredDelay: Duration.DurationInput; readonly faults?: FaultPlan.FaultPlan }) =>
  Effect.gen(function*() {
    const sim = yield* Simulator.make({ seed: 7, deferredDelay: options.deferredDelay, faults: options.faults })
    const grok = yield* GrokClient.make(Either.getOrThrow(GrokConfig.make({ apiKey: KEY, baseUrl: sim.url })))
    const driven = <A, E>(program: Effect.Effect<A, E>) =>
      Effect.flatMap(Effect.fork(program), (fiber) => drive(fiber, simulatorActivity(sim)))
    return { sim, grok, driven }
  })

interface Answer {
  readonly status: number
  readonly text: string
}

const send = (url: string, init: { readonly method: "GET" | "POST"; readonly body?: unknown }): Effect.Effect<Answer> =>
  Effect.tryPromise(async (signal) => {
    const response = await fetch(url, {
      method: init.method,
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      signal
    })
    return { status: response.status, text: await response.text() }
  }).pipe(Effect.orDie)

const requestIdOf = (answer: Answer): string => {
  const parsed: unknown = JSON.parse(answer.text)
  if (typeof parsed === "object" && parsed !== null && "request_id" in parsed && typeof parsed.request_id === "string") {
    return parsed.request_id
  }
  throw new Error(`no request_id in ${answer.text}`)
}

describe("simulator: deferred completions", () => {
  it.effect("answers with a request id, then 202 until the job is done, 200 once, 404 after", () =>
    loopback(Effect.gen(function*() {
      const sim = yield* Simulator.make({ seed: 1, deferredDelay: "5 seconds" })
      const submitted = yield* send(`${sim.url}/chat/completions`, { method: "POST", body: { ...REQUEST, deferred: true } })
      expect(submitted.status).toBe(200)
      const id = requestIdOf(submitted)
      const poll = send(`${sim.url}/chat/deferred-completion/${id}`, { method: "GET" })

      const early = yield* poll
      expect(early).toEqual({ status: 202, text: "" })
      yield* TestClock.adjust("4999 millis")
      expect((yield* poll).status).toBe(202)

      yield* TestClock.adjust("1 millis")
      const done = yield* poll
      expect(done.status).toBe(200)
      const completion = JSON.parse(done.text) as { object: string; model: string; choices: ReadonlyArray<{ message: { content: string } }> }
      expect(completion.object).toBe("chat.completion")
      expect(completion.model).toBe("grok-4")
      expect(completion.choices[0]?.message.content).toBe("Simulated reply to \"Write a long essay\".")

      expect((yield* poll).status).toBe(404)
      expect((yield* send(`${sim.url}/chat/deferred-completion/no-such-id`, { method: "GET" })).status).toBe(404)
      // The usage is logged once, on the submit; the polls carry none.
      const log = yield* sim.log
      expect(log.filter((entry) => entry.usage !== undefined).map((entry) => entry.method)).toEqual(["POST"])
    })))

  it.effect("refuses a deferred request that also asks to stream, and forgets jobs on reset", () =>
    loopback(Effect.gen(function*() {
      const sim = yield* Simulator.make({ deferredDelay: 0 })
      const streamed = yield* send(`${sim.url}/chat/completions`, { method: "POST", body: { ...REQUEST, deferred: true, stream: true } })
      expect(streamed.status).toBe(400)
      expect(streamed.text).toContain("cannot be streamed")

      const id = requestIdOf(yield* send(`${sim.url}/chat/completions`, { method: "POST", body: { ...REQUEST, deferred: true } }))
      yield* sim.reset
      expect((yield* send(`${sim.url}/chat/deferred-completion/${id}`, { method: "GET" })).status).toBe(404)
    })))

  it.effect("refuses an invalid deferredDelay at start-up", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.scoped(Simulator.make({ deferredDelay: Infinity })))
      expect(error._tag).toBe("SimulatorStartError")
      expect(error.message).toContain("deferredDelay")
    }))
})

describe("GrokClient.chatDeferred", () => {
  it.effect("polls through 202s on its schedule to the completion, holding no connection in between", () =>
    loopback(Effect.gen(function*() {
      const { driven, grok, sim } = yield* setup({ deferredDelay: "4500 millis" })
      const completion = yield* driven(grok.chatDeferred(REQUEST, { poll: Schedule.spaced("1 second") }))
      expect(Chat.contentOf(completion)).toBe("Simulated reply to \"Write a long essay\".")

      const log = yield* sim.log
      expect(log[0]).toMatchObject({ method: "POST", path: "/v1/chat/completions", status: 200 })
      const polls = log.slice(1)
      // Polls at 0, 1, 2, 3, 4 s are pending; the one at 5 s fetches the completion.
      expect(polls.map((entry) => entry.status)).toEqual([202, 202, 202, 202, 202, 200])
      expect(polls.map((entry) => entry.startedAt)).toEqual([0, 1000, 2000, 3000, 4000, 5000])
      expect(polls.every((entry) => entry.method === "GET" && entry.path.startsWith("/v1/chat/deferred-completion/"))).toBe(true)
    })))

  it.effect("gives up with a typed Timeout carrying the request id when the poll schedule ends", () =>
    loopback(Effect.gen(function*() {
      const { driven, grok, sim } = yield* setup({ deferredDelay: "1 minute" })
      const error = yield* driven(Effect.flip(grok.chatDeferred(REQUEST, { poll: Schedule.spaced("2 seconds").pipe(Schedule.intersect(Schedule.recurs(3))) })))
      expect(error._tag).toBe("Timeout")
      if (error._tag !== "Timeout") return
      expect(error.phase).toBe("deadline")
      expect(error.retryable).toBe(false)
      expect(error.message).toContain("still pending after 4 polls")
      const log = yield* sim.log
      const polls = log.filter((entry) => entry.method === "GET")
      expect(polls).toHaveLength(4)
      expect(error.requestId).toBe(polls[0]?.path.split("/").pop())
      expect(polls.map((entry) => entry.status)).toEqual([202, 202, 202, 202])
    })))

  it.effect("retries a failed poll through the pipeline like any attempt", () =>
    loopback(Effect.gen(function*() {
      // Request 2 is the first poll: a 503, retried after backoff like any attempt.
      const { driven, grok, sim } = yield* setup({ deferredDelay: "0 millis", faults: [{ nth: [2], fault: { kind: "status", status: 503 } }] })
      const completion = yield* driven(grok.chatDeferred(REQUEST, { poll: Schedule.spaced("1 second") }))
      expect(completion.object).toBe("chat.completion")
      expect((yield* sim.log).map((entry) => entry.status)).toEqual([200, 503, 200])

    })))

  it.effect("reports a job the server no longer knows as NotFound", () =>
    loopback(Effect.gen(function*() {
      const { driven, grok, sim } = yield* setup({ deferredDelay: "10 seconds" })
      const error = yield* driven(Effect.gen(function*() {
        const call = yield* Effect.fork(Effect.flip(grok.chatDeferred(REQUEST, { poll: Schedule.spaced("1 second") })))
        // Submit and first poll have arrived: forget the job, as an expired one would be.
        yield* sim.awaitRequests(2)
        yield* sim.reset
        return yield* Fiber.join(call)
      }))
      expect(error._tag).toBe("NotFound")
      expect(error.status).toBe(404)
    })))

  it.effect("refuses a request it cannot send, before sending anything", () =>
    loopback(Effect.gen(function*() {
      const { driven, grok, sim } = yield* setup({ deferredDelay: "1 second" })
      const error = yield* driven(Effect.flip(grok.chatDeferred({ messages: [] })))
      expect(error._tag).toBe("BadRequest")
      expect(yield* sim.requestCount).toBe(0)
    })))
})
