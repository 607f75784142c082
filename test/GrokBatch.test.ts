/**
 * GrokBatch against the simulator's Batch API over real loopback sockets, on the TestClock:
 * chunked adds and the add-call limit (429 waited out with Retry-After), polling and results
 * that arrive over time, pagination and reordering, a job interrupted and run again (one
 * batch, nothing added twice), adds and creates whose answer was lost, cancel (and that an
 * interruption does not cancel), failed lines in each error form, and typed failures.
 */
import { describe, expect, it } from "@effect/vitest"
import type { HttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Chunk, Clock, Effect, Either, Fiber, Metric, Option, Schedule, type Scope, Stream } from "effect"
import type * as BatchError from "../src/BatchError.js"
import * as GrokBatch from "../src/GrokBatch.js"
import * as GrokConfig from "../src/GrokConfig.js"
import * as Batch from "../src/schema/Batch.js"
import * as Simulator from "../src/simulator/Simulator.js"
import * as Metrics from "../src/telemetry/Metrics.js"
import { drive, simulatorActivity } from "./support/drive.js"

const KEY = "xai-batch-client-key-0123456789"

const loopback = <A, E>(body: Effect.Effect<A, E, Scope.Scope | HttpClient.HttpClient>) =>
  body.pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))

interface Setup {
  readonly sim: Simulator.Service
  readonly batches: GrokBatch.Service
  /** Run `program` in a fiber, letting loopback I/O settle and moving the TestClock from timer to timer. */
  readonly driven: <A, E>(program: Effect.Effect<A, E>) => Effect.Effect<A, E>
}

const setup = (options: Simulator.SimulatorOptions = {}): Effect.Effect<Setup, never, Scope.Scope | HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const sim = yield* Effect.orDie(Simulator.make({ seed: 11, ...options }))
    const batches = yield* GrokBatch.make(Either.getOrThrow(GrokConfig.make({ apiKey: KEY, baseUrl: sim.url })))
    return {
      sim,
      batches,
      driven: (program) => Effect.flatMap(Effect.fork(program), (fiber) => drive(fiber, simulatorActivity(sim)))
    }
  })

const ask = (id: string): GrokBatch.BatchRequest => ({ id, chat: { messages: [{ role: "user", content: `Classify ticket ${id}` }] } })

const job = (name: string, n: number, idOf: (i: number) => string = (i) => `t-${String(i).padStart(4, "0")}`): GrokBatch.Job => ({
  name,
  requests: Array.from({ length: n }, (_, i) => ask(idOf(i)))
})

const collect = <A, E>(stream: Stream.Stream<A, E>) => Effect.map(Stream.runCollect(stream), Chunk.toReadonlyArray)

/** The add calls the simulator received, in order: status and arrival time. */
const addCalls = (sim: Simulator.Service) =>
  Effect.map(sim.log, (log) => log.filter((entry) => entry.method === "POST" && entry.path.endsWith("/requests")))

const idsOf = (outcomes: ReadonlyArray<GrokBatch.Outcome>) => outcomes.map((outcome) => outcome.id)

const sorted = (ids: ReadonlyArray<string>) => [...ids].sort()

const expectOnceEach = (outcomes: ReadonlyArray<GrokBatch.Outcome>, expected: GrokBatch.Job) => {
  expect(sorted(idsOf(outcomes))).toEqual(sorted(expected.requests.map((request) => request.id)))
}

const fast = Schedule.spaced("1 second")

describe("GrokBatch: adding", () => {
  it.effect("requests go in add calls of at most maxRequestsPerAdd, and of at most maxBytesPerAdd", () =>
    loopback(Effect.gen(function*() {
      const { batches, driven, sim } = yield* setup()
      const submitted = yield* driven(batches.submit(job("chunked", 250), { maxRequestsPerAdd: 100 }))
      expect(submitted).toMatchObject({ resumed: false, added: 250, alreadyPresent: 0, addCalls: 3, throttled: 0 })
      expect(Batch.countersOf(submitted.batch)).toMatchObject({ requests: 250 })
      expect((yield* addCalls(sim)).map((call) => call.status)).toEqual([200, 200, 200])

      // Each request is 150 bytes as JSON: an add call of 500 bytes holds 3 of them.
      const bytes = yield* driven(batches.submit(job("by-size", 10), { maxBytesPerAdd: 500 }))
      expect(bytes).toMatchObject({ added: 10, addCalls: 4 })
      expect((yield* sim.batches).map((batch) => [batch.name, batch.requests, batch.itemsSubmitted])).toEqual([["chunked", 250, 250], ["by-size", 10, 10]])
    })))

  it.effect("the add-call limit: each 429 is waited out for its Retry-After, and every request is added once", () =>
    loopback(Effect.gen(function*() {
      const { batches, driven, sim } = yield* setup({ batch: { addCallLimit: 2, addCallWindow: "30 seconds" } })
      const refusedBefore = yield* Metric.value(Metric.tagged(Metric.tagged(Metrics.batchCalls, "operation", "add"), "http.response.status_code", "429"))
      const submitted = yield* driven(batches.submit(job("throttled", 50), { maxRequestsPerAdd: 10 }))
      expect(submitted).toMatchObject({ added: 50, throttled: 2, addCalls: 7 })
      const calls = yield* addCalls(sim)
      expect(calls.map((call) => call.status)).toEqual([200, 200, 429, 200, 200, 429, 200])
      // Each call after a 429 came no sooner than the Retry-After (the window's oldest call leaves at +30 s).
      calls.forEach((call, i) => {
        if (call.status === 429) expect(calls[i + 1]!.startedAt - call.startedAt).toBeGreaterThanOrEqual(30_000)
      })
      expect(yield* sim.batches).toMatchObject([{ requests: 50, itemsSubmitted: 50 }])
      const refusedAfter = yield* Metric.value(Metric.tagged(Metric.tagged(Metrics.batchCalls, "operation", "add"), "http.response.status_code", "429"))
      expect(refusedAfter.count - refusedBefore.count).toBe(2)
    })))

  it.effect("an add whose answer was lost is not sent again for the requests the batch now lists", () =>
    loopback(Effect.gen(function*() {
      const { batches, driven, sim } = yield* setup()
      const batch = yield* driven(batches.create("lost-answer"))
      // The server admits the first add call (after the look at the batch's list), then cuts its answer mid-body.
      yield* sim.setFaults([{ path: `/v1/batches/${batch.batch_id}/requests`, nth: [(yield* sim.requestCount) + 2], fault: { kind: "dropStream", afterChunks: 0 } }])
      const summary = yield* driven(batches.add(batch.batch_id, job("", 30).requests, { maxRequestsPerAdd: 20 }))
      expect(summary).toMatchObject({ added: 30, alreadyPresent: 0, addCalls: 2 })
      expect(yield* sim.batches).toMatchObject([{ requests: 30, itemsSubmitted: 30 }])
      const log = yield* sim.log
      expect(log.map((entry) => `${entry.method} ${entry.path.replace(batch.batch_id, "B")} ${entry.outcome}`)).toEqual([
        "POST /v1/batches completed",
        "GET /v1/batches/B/requests completed",
        "POST /v1/batches/B/requests aborted",
        // The answer never fully arrived: the batch's list says which requests it holds.
        "GET /v1/batches/B/requests completed",
        "POST /v1/batches/B/requests completed"
      ])
    })))

  it.effect("an add answered 200 with an empty body (xAI does not document the body) is admitted", () =>
    loopback(Effect.gen(function*() {
      const { batches, driven, sim } = yield* setup()
      const batch = yield* driven(batches.create("empty-answer"))
      yield* sim.setFaults([{ path: `/v1/batches/${batch.batch_id}/requests`, nth: [(yield* sim.requestCount) + 2], fault: { kind: "status", status: 200, body: "" } }])
      expect(yield* driven(batches.add(batch.batch_id, [ask("a")]))).toMatchObject({ added: 1, addCalls: 1 })
    })))

  it.effect("a create whose answer was lost is looked for before it is sent again: one batch", () =>
    loopback(Effect.gen(function*() {
      const { batches, driven, sim } = yield* setup({ faults: [{ path: "/v1/batches", nth: [2], fault: { kind: "dropStream", afterChunks: 0 } }] })
      const submitted = yield* driven(batches.submit(job("created-once", 5)))
      expect(submitted).toMatchObject({ resumed: false, added: 5 })
      expect(yield* sim.batches).toMatchObject([{ name: "created-once", requests: 5 }])
    })))

  it.effect("an add refused whole is a BatchAddRejected naming the offending request; nothing of it was admitted", () =>
    loopback(Effect.gen(function*() {
      const { batches, driven, sim } = yield* setup()
      const requests: ReadonlyArray<GrokBatch.BatchRequest> = [
        ask("fine-1"),
        { id: "old-model", chat: { model: "grok-4.5", messages: [{ role: "user", content: "hi" }] } },
        ask("fine-2")
      ]
      const error = yield* driven(Effect.flip(batches.submit({ name: "refused", requests })))
      expect(error._tag).toBe("BatchAddRejected")
      const rejected = error as BatchError.BatchAddRejected
      expect(rejected).toMatchObject({ status: 400, id: "old-model", batchRequestId: "old-model", rejected: ["fine-1", "old-model", "fine-2"], retryable: false })
      expect(rejected.message).toMatch(/because of request old-model: .*Model grok-4\.5 is not supported for batch processing/)
      expect(yield* sim.batches).toMatchObject([{ requests: 0 }])

      // 412: the server says an id was already sent with other content.
      const batch = (yield* sim.batches)[0]!
      yield* sim.setFaults([{
        path: `/v1/batches/${batch.batchId}/requests`,
        // After the look at the batch's list.
        nth: [(yield* sim.requestCount) + 2],
        fault: { kind: "status", status: 412, body: { code: "failed-precondition", error: "batch_request_id 'fine-2' content differs from originally submitted" } }
      }])
      const changed = yield* driven(Effect.flip(batches.add(batch.batchId, [ask("fine-1"), ask("fine-2")])))
      expect(changed).toMatchObject({ _tag: "BatchAddRejected", status: 412, id: "fine-2", rejected: ["fine-1", "fine-2"] })
    })))

  it.effect("unusable requests are refused before anything is sent, every one named", () =>
    loopback(Effect.gen(function*() {
      const { batches, driven, sim } = yield* setup()
      // A body read from a file may carry what the type leaves out.
      const streamed = { messages: [{ role: "user" as const, content: "x" }], stream: true }
      const error = yield* driven(Effect.flip(batches.submit({
        name: "invalid",
        requests: [
          ask("a"),
          ask("a"),
          { id: "", chat: { messages: [{ role: "user", content: "x" }] } },
          { id: "hot", chat: { messages: [{ role: "user", content: "x" }], temperature: 3 } },
          { id: "streamed", chat: streamed },
          { id: "big", chat: { messages: [{ role: "user", content: "x".repeat(26 * 1024 * 1024) }] } }
        ]
      })))
      expect(error._tag).toBe("BatchInvalidRequest")
      const issues = (error as BatchError.BatchInvalidRequest).issues
      expect(issues.map((issue) => issue.id)).toEqual(["a", "#3", "hot", "streamed", "big"])
      expect(issues[2]!.message).toMatch(/temperature/)
      expect(issues[3]!.message).toMatch(/cannot stream/)
      expect(issues[4]!.message).toMatch(/over xAI's 26214400 per request/)
      expect(yield* sim.requestCount).toBe(0)
    })))
})

describe("GrokBatch: results", () => {
  it.effect("results stream in as requests finish, polled on the schedule; each request once, with its caller's id", () =>
    loopback(Effect.gen(function*() {
      const { batches, driven, sim } = yield* setup({ batch: { processing: { min: "10 seconds", max: "100 seconds" } } })
      const theJob = job("progress", 40)
      const arrivals: Array<readonly [string, number]> = []
      const outcomes = yield* driven(collect(batches.run(theJob, { poll: Schedule.spaced("5 seconds") }).pipe(
        Stream.tap((outcome) => Effect.map(Clock.currentTimeMillis, (now) => void arrivals.push([outcome.id, now])))
      )))
      expectOnceEach(outcomes, theJob)
      expect(outcomes.every((outcome) => outcome._tag === "Succeeded")).toBe(true)
      // They arrived over time, not all at the end.
      const times = [...new Set(arrivals.map(([, at]) => at))]
      expect(times.length).toBeGreaterThan(5)
      expect(Math.min(...times)).toBeLessThan(30_000)
      expect(Math.max(...times)).toBeLessThanOrEqual(105_000)
      // Looks at the batch, 5 s apart.
      const looks = (yield* sim.log).filter((entry) => entry.method === "GET" && /^\/v1\/batches\/[^/]+$/.test(entry.path))
      const gaps = looks.slice(1).map((look, i) => look.startedAt - looks[i]!.startedAt)
      expect(new Set(gaps)).toEqual(new Set([5_000]))
      const first = GrokBatch.completionOf(outcomes[0]!)
      expect(Option.map(first, (completion) => completion.model)).toEqual(Option.some("grok-4.3"))
    })))

  it.effect("pagination and reordering: results sorted by id on small pages, found over several passes, matched to their requests", () =>
    loopback(Effect.gen(function*() {
      const { batches, driven, sim } = yield* setup({ batch: { processing: { min: "1 second", max: "60 seconds" } } })
      // Ids that are not plain are sent as hashes: the outcomes still carry the caller's.
      const theJob = job("pages", 30, (i) => (i % 3 === 0 ? `ticket #${29 - i} «é»` : `z-${29 - i}`))
      const outcomes = yield* driven(collect(batches.run(theJob, { pageSize: 7, poll: fast })))
      expectOnceEach(outcomes, theJob)
      expect(outcomes.find((outcome) => outcome.id === "ticket #29 «é»")?.batchRequestId).toBe(GrokBatch.batchRequestId("ticket #29 «é»"))
      expect(GrokBatch.batchRequestId("ticket #29 «é»")).toMatch(/^id-sha256-[0-9a-f]{40}$/)
      // Arrival order is neither submission order nor id order.
      expect(idsOf(outcomes)).not.toEqual(theJob.requests.map((request) => request.id))
      const resultReads = (yield* sim.log).filter((entry) => entry.path.endsWith("/results"))
      expect(resultReads.length).toBeGreaterThan(5)
    })))

  it.effect("a failed line's error is read in each form: a bare string, {code, message}, error_message", () =>
    loopback(Effect.gen(function*() {
      for (const errorForm of ["string", "status", "error_message"] as const) {
        yield* Effect.scoped(Effect.gen(function*() {
          const { batches, driven } = yield* setup({ batch: { failureRate: 0.5, errorForm, processing: { min: 0, max: "5 seconds" } } })
          const theJob = job(`forms-${errorForm}`, 20)
          const outcomes = yield* driven(collect(batches.run(theJob, { poll: fast })))
          expectOnceEach(outcomes, theJob)
          const failed = outcomes.filter((outcome): outcome is GrokBatch.Failed => outcome._tag === "Failed")
          expect(failed.length).toBeGreaterThan(3)
          expect(failed.length).toBeLessThan(17)
          for (const outcome of failed) {
            expect(outcome).toMatchObject({ code: "internal", message: expect.stringMatching(/^Internal error while processing the batch request/) })
          }
        }))
      }
    })))

  it.effect("results of a batch read without its job: every result, with its batch_request_id, until the batch is done", () =>
    loopback(Effect.gen(function*() {
      const { batches, driven } = yield* setup({ batch: { processing: { min: "1 second", max: "20 seconds" } } })
      const { batch } = yield* driven(batches.submit(job("raw", 12)))
      const outcomes = yield* driven(collect(batches.results(batch.batch_id, { poll: fast })))
      expect(sorted(idsOf(outcomes))).toEqual(sorted(job("raw", 12).requests.map((r) => GrokBatch.batchRequestId(r.id))))
      const states = yield* driven(collect(batches.requestStates(batch.batch_id)))
      expect(states.map((state) => state.state)).toEqual(Array(12).fill("succeeded"))
    })))

  it.effect("a poll schedule that ends first is a BatchIncomplete naming what has no result", () =>
    loopback(Effect.gen(function*() {
      const { batches, driven } = yield* setup({ batch: { processing: { min: "1 minute", max: "1 minute" } } })
      const error = yield* driven(Effect.flip(collect(batches.run(job("short", 3), { poll: Schedule.recurs(2).pipe(Schedule.addDelay(() => "1 second"), Schedule.asVoid) }))))
      expect(error).toMatchObject({ _tag: "BatchIncomplete", reason: "poll-ended", missing: ["t-0000", "t-0001", "t-0002"] })
    })))
})

describe("GrokBatch: resuming and cancelling", () => {
  it.effect("a job interrupted while adding, run again: the same batch, nothing added twice, every result once", () =>
    loopback(Effect.gen(function*() {
      const { batches, driven, sim } = yield* setup({ batch: { processing: { min: "5 seconds", max: "30 seconds" } } })
      const theJob = job("resumable", 300)
      const first = yield* Effect.fork(collect(batches.run(theJob, { maxRequestsPerAdd: 50, poll: fast })))
      // find, create, then three add calls answered: interrupt the run there.
      yield* sim.awaitCompleted(5)
      yield* Fiber.interrupt(first)
      const partial = (yield* sim.batches)[0]!
      expect(partial.requests).toBeGreaterThanOrEqual(150)
      expect(partial.requests).toBeLessThan(300)
      expect(partial.cancelled).toBe(false)

      const outcomes = yield* driven(collect(batches.run(theJob, { maxRequestsPerAdd: 50, poll: fast })))
      expectOnceEach(outcomes, theJob)
      const server = yield* sim.batches
      expect(server).toHaveLength(1)
      expect(server[0]).toMatchObject({ name: "resumable", requests: 300, itemsSubmitted: 300, cancelled: false })
      expect((yield* sim.log).some((entry) => entry.path.endsWith(":cancel"))).toBe(false)

      // Once more after it finished: nothing is added, every result is read again.
      const again = yield* driven(batches.submit(theJob))
      expect(again).toMatchObject({ resumed: true, added: 0, alreadyPresent: 300, addCalls: 0 })
      expect(yield* sim.batches).toMatchObject([{ requests: 300, itemsSubmitted: 300 }])
    })))

  it.effect("interrupting a run never cancels the batch, unless cancelOnInterrupt asks", () =>
    loopback(Effect.gen(function*() {
      const { batches, driven, sim } = yield* setup({ batch: { processing: { min: "1 minute", max: "2 minutes" } } })
      const keep = yield* Effect.fork(collect(batches.run(job("kept", 5), { poll: fast })))
      yield* sim.awaitCompleted(4) // find, create, add, first look
      yield* Fiber.interrupt(keep)
      const cancelOnInterrupt = yield* Effect.fork(collect(batches.run(job("dropped", 5), { poll: fast, cancelOnInterrupt: true })))
      yield* sim.awaitCompleted(8)
      yield* Fiber.interrupt(cancelOnInterrupt)
      yield* driven(Effect.void)
      expect((yield* sim.batches).map((batch) => [batch.name, batch.cancelled])).toEqual([["kept", false], ["dropped", true]])
      // The kept batch goes on: its results are there later.
      const kept = (yield* sim.batches)[0]!
      const outcomes = yield* driven(collect(batches.results(kept.batchId, { poll: fast })))
      expect(outcomes.map((outcome) => outcome._tag)).toEqual(Array(5).fill("Succeeded"))
    })))

  it.effect("cancel: pending requests end as Cancelled, those in flight land as Succeeded, each once", () =>
    loopback(Effect.gen(function*() {
      const { batches, driven, sim } = yield* setup({ batch: { processing: { min: "10 seconds", max: "200 seconds" }, cancelRace: "20 seconds" } })
      const theJob = job("to-cancel", 60)
      const submitted = yield* driven(batches.submit(theJob))
      const outcomes: Array<GrokBatch.Outcome> = []
      const reading = batches.run(theJob, { poll: fast }).pipe(
        Stream.tap((outcome) => Effect.sync(() => void outcomes.push(outcome))),
        Stream.tap(() => outcomes.length === 10 ? batches.cancel(submitted.batch.batch_id) : Effect.void),
        Stream.runDrain
      )
      yield* driven(reading)
      expectOnceEach(outcomes, theJob)
      const tags = outcomes.map((outcome) => outcome._tag)
      expect(tags.filter((tag) => tag === "Cancelled").length).toBeGreaterThan(10)
      // Some were in flight at the cancel and landed after it.
      expect(tags.slice(10).includes("Succeeded")).toBe(true)
      expect(yield* sim.batches).toMatchObject([{ cancelled: true, requests: 60 }])
      // A cancelled batch is not resumed: the next run of the job gets a new one.
      const again = yield* driven(batches.find("to-cancel"))
      expect(Option.isNone(again)).toBe(true)
    })))

  it.effect("a batch that expires before its requests run: BatchIncomplete (expired)", () =>
    loopback(Effect.gen(function*() {
      const { batches, driven } = yield* setup({ batch: { processing: { min: "2 days", max: "2 days" }, expireAfter: "1 day" } })
      const error = yield* driven(Effect.flip(collect(batches.run(job("expiring", 2), { poll: Schedule.spaced("1 hour") }))))
      expect(error).toMatchObject({ _tag: "BatchIncomplete", reason: "expired", missing: ["t-0000", "t-0001"] })
    })))

  it.effect("reads are retried on a 503 like any idempotent call", () =>
    loopback(Effect.gen(function*() {
      const { batches, driven, sim } = yield* setup()
      const created = yield* driven(batches.create("flaky"))
      yield* sim.setFaults([{ path: `/v1/batches/${created.batch_id}`, nth: [(yield* sim.requestCount) + 1], fault: { kind: "status", status: 503 } }])
      const got = yield* driven(batches.get(created.batch_id))
      expect(got.batch_id).toBe(created.batch_id)
      expect((yield* sim.log).map((entry) => entry.status)).toEqual([200, 503, 200])
    })))
})
