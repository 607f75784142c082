/**
 * The simulator's Batch API over real loopback sockets, on the TestClock: the shapes of
 * xAI's `/v1/batches` (batch object, counters, request metadata, results), pagination,
 * per-line failures in each error form, the whole-call refusals (400, 403, 412), the
 * add-call limit answered with 429 and Retry-After, the cancel race, expiry, and
 * determinism under a seed.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, type Scope, TestClock } from "effect"
import * as Simulator from "../src/simulator/Simulator.js"

const KEY = "xai-batch-test-key-0123456789"

interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly json: unknown
}

const call = (url: string, init: { readonly method?: string; readonly body?: unknown } = {}): Effect.Effect<Answer> =>
  Effect.tryPromise(async (signal) => {
    const response = await fetch(url, {
      method: init.method ?? (init.body === undefined ? "GET" : "POST"),
      headers: { "content-type": "application/json", authorization: `Bearer ${KEY}` },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      signal
    })
    const text = await response.text()
    return { status: response.status, headers: response.headers, json: text === "" ? undefined : JSON.parse(text) as unknown }
  }).pipe(Effect.orDie)

interface BatchJson {
  readonly batch_id: string
  readonly name: string
  readonly create_time: string
  readonly expire_time: string
  readonly cancel_time: string | null
  readonly cancel_by_xai_message: string | null
  readonly state: {
    readonly num_requests: number
    readonly num_pending: number
    readonly num_success: number
    readonly num_error: number
    readonly num_cancelled: number
  }
}

interface ResultsJson {
  readonly results: ReadonlyArray<{ readonly batch_request_id: string; readonly batch_result?: unknown; readonly error_message?: string }>
  readonly pagination_token: string | null
}

interface MetadataJson {
  readonly batch_request_metadata: ReadonlyArray<{ readonly batch_request_id: string; readonly state: string; readonly model: string; readonly finish_time: string | null }>
  readonly pagination_token: string | null
}

const chatItem = (id: string, extra: Record<string, unknown> = {}) => ({
  batch_request_id: id,
  batch_request: { chat_get_completion: { model: "grok-4.3", messages: [{ role: "user", content: `Classify ${id}` }], ...extra } }
})

const simulator = (options: Simulator.SimulatorOptions = {}): Effect.Effect<Simulator.Service, never, Scope.Scope> =>
  Effect.orDie(Simulator.make({ seed: 7, ...options }))

const createBatch = (sim: Simulator.Service, name = "job") =>
  Effect.map(call(`${sim.url}/batches`, { body: { name } }), (answer) => {
    expect(answer.status).toBe(200)
    return answer.json as BatchJson
  })

const getBatch = (sim: Simulator.Service, id: string) => Effect.map(call(`${sim.url}/batches/${id}`), (answer) => answer.json as BatchJson)

const addItems = (sim: Simulator.Service, id: string, items: ReadonlyArray<unknown>) =>
  call(`${sim.url}/batches/${id}/requests`, { body: { batch_requests: items } })

const allResults = (sim: Simulator.Service, id: string, limit: number) =>
  Effect.gen(function*() {
    const lines: Array<ResultsJson["results"][number]> = []
    let token: string | null = null
    let pages = 0
    do {
      const query: string = `limit=${limit}${token === null ? "" : `&pagination_token=${token}`}`
      const page = (yield* call(`${sim.url}/batches/${id}/results?${query}`)).json as ResultsJson
      lines.push(...page.results)
      token = page.pagination_token
      pages++
    } while (token !== null)
    return { lines, pages }
  })

const ids = (n: number, prefix = "r") => Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(3, "0")}`)

describe("simulator: /v1/batches", () => {
  it.scoped("a batch goes from pending to done on the clock: counters, request states, results", () =>
    Effect.gen(function*() {
      const sim = yield* simulator({ batch: { processing: { min: "2 seconds", max: "10 seconds" } } })
      const created = yield* createBatch(sim, "classify")
      expect(created.batch_id).toMatch(/^batch_[0-9a-f-]{36}$/)
      expect(created).toMatchObject({ name: "classify", create_time: "1970-01-01", expire_time: "1970-01-31", cancel_time: null, cancel_by_xai_message: null })
      expect(created.state).toEqual({ num_requests: 0, num_pending: 0, num_success: 0, num_error: 0, num_cancelled: 0 })

      const added = yield* addItems(sim, created.batch_id, ids(20).map((id) => chatItem(id)))
      expect(added).toMatchObject({ status: 200, json: {} })
      expect((yield* getBatch(sim, created.batch_id)).state).toEqual({ num_requests: 20, num_pending: 20, num_success: 0, num_error: 0, num_cancelled: 0 })

      yield* TestClock.adjust("6 seconds")
      const midway = (yield* getBatch(sim, created.batch_id)).state
      expect(midway.num_pending).toBeGreaterThan(0)
      expect(midway.num_success).toBeGreaterThan(0)
      expect(midway.num_pending + midway.num_success).toBe(20)
      const early = yield* allResults(sim, created.batch_id, 1000)
      expect(early.lines).toHaveLength(midway.num_success)

      const states = (yield* call(`${sim.url}/batches/${created.batch_id}/requests?limit=1000`)).json as MetadataJson
      expect(states.batch_request_metadata.filter((m) => m.state === "succeeded")).toHaveLength(midway.num_success)
      expect(states.batch_request_metadata.every((m) => m.model === "grok-4.3" && (m.state === "pending") === (m.finish_time === null))).toBe(true)

      yield* TestClock.adjust("4 seconds")
      expect((yield* getBatch(sim, created.batch_id)).state).toEqual({ num_requests: 20, num_pending: 0, num_success: 20, num_error: 0, num_cancelled: 0 })
      const done = yield* allResults(sim, created.batch_id, 1000)
      expect(done.lines.map((line) => line.batch_request_id)).toEqual(ids(20))
      const first = done.lines[0]?.batch_result as { response: { chat_get_completion: { object: string; model: string; usage: { cost_in_usd_ticks: number } } } }
      expect(first.response.chat_get_completion).toMatchObject({ object: "chat.completion", model: "grok-4.3" })
      expect(first.response.chat_get_completion.usage.cost_in_usd_ticks).toBeGreaterThan(0)
    }))

  it.scoped("results are sorted by batch_request_id and paginated; a token resumes after the last id", () =>
    Effect.gen(function*() {
      const sim = yield* simulator({ batch: { processing: { min: "1 second", max: "1 second" } } })
      const batch = yield* createBatch(sim)
      const shuffled = ["m", "c", "x", "a", "q", "f", "z", "b", "k", "d", "t"]
      yield* addItems(sim, batch.batch_id, shuffled.map((id) => chatItem(id)))
      yield* TestClock.adjust("1 second")
      const { lines, pages } = yield* allResults(sim, batch.batch_id, 4)
      expect(pages).toBe(3)
      expect(lines.map((line) => line.batch_request_id)).toEqual([...shuffled].sort())
      const bad = yield* call(`${sim.url}/batches/${batch.batch_id}/results?limit=1001`)
      expect(bad.status).toBe(400)
      const forged = yield* call(`${sim.url}/batches/${batch.batch_id}/results?pagination_token=nonsense`)
      expect(forged.status).toBe(400)
    }))

  it.scoped("a failed line's error comes in the form asked for: a bare string, {code, message}, error_message", () =>
    Effect.gen(function*() {
      const read = (errorForm: "string" | "status" | "error_message") =>
        Effect.scoped(Effect.gen(function*() {
          const sim = yield* simulator({ batch: { errorForm, processing: { min: 0, max: 0 } } })
          const batch = yield* createBatch(sim)
          yield* addItems(sim, batch.batch_id, [chatItem("neg", { max_tokens: -5 })])
          const { lines } = yield* allResults(sim, batch.batch_id, 10)
          expect((yield* getBatch(sim, batch.batch_id)).state).toMatchObject({ num_error: 1, num_pending: 0 })
          return lines[0]
        }))
      const message = "Maximum number of tokens max_tokens must be positive but max_tokens = -5"
      expect(yield* read("string")).toEqual({ batch_request_id: "neg", batch_result: { error: message } })
      expect(yield* read("status")).toEqual({ batch_request_id: "neg", batch_result: { error: { code: 3, message } } })
      expect(yield* read("error_message")).toEqual({ batch_request_id: "neg", error_message: message })
    }))

  it.scoped("failureRate fails that share of the lines, the same ones under the same seed", () =>
    Effect.gen(function*() {
      const failedIds = Effect.scoped(Effect.gen(function*() {
        const sim = yield* simulator({ seed: 3, batch: { failureRate: 0.3, processing: { min: 0, max: 0 } } })
        const batch = yield* createBatch(sim)
        yield* addItems(sim, batch.batch_id, ids(100).map((id) => chatItem(id)))
        const { lines } = yield* allResults(sim, batch.batch_id, 1000)
        return { batchId: batch.batch_id, failed: lines.filter((line) => "error" in (line.batch_result as object)).map((line) => line.batch_request_id) }
      }))
      const first = yield* failedIds
      const second = yield* failedIds
      expect(first.failed.length).toBeGreaterThan(15)
      expect(first.failed.length).toBeLessThan(45)
      expect(second).toEqual(first)
    }))

  it.scoped("whole add calls are refused: 400 for a model batch does not take or a duplicate id, 412 for changed content, nothing admitted", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const batch = yield* createBatch(sim)
      const model = yield* addItems(sim, batch.batch_id, [chatItem("a"), { ...chatItem("b"), batch_request: { chat_get_completion: { model: "grok-4.5", messages: [{ role: "user", content: "x" }] } } }])
      expect(model).toMatchObject({ status: 400, json: { code: "invalid-argument", error: "Model grok-4.5 is not supported for batch processing." } })
      const duplicate = yield* addItems(sim, batch.batch_id, [chatItem("a"), chatItem("a")])
      expect(duplicate).toMatchObject({ status: 400, json: { error: "Duplicate batch_request_id 'a' in the request." } })
      expect((yield* getBatch(sim, batch.batch_id)).state.num_requests).toBe(0)

      expect((yield* addItems(sim, batch.batch_id, [chatItem("a")])).status).toBe(200)
      // The same content again: accepted, nothing added.
      expect((yield* addItems(sim, batch.batch_id, [chatItem("a"), chatItem("b")])).status).toBe(200)
      const changed = yield* addItems(sim, batch.batch_id, [chatItem("c"), chatItem("a", { temperature: 1 })])
      expect(changed).toMatchObject({ status: 412, json: { error: "batch_request_id 'a' content differs from originally submitted" } })
      expect((yield* getBatch(sim, batch.batch_id)).state.num_requests).toBe(2)
      expect(yield* sim.batches).toEqual([{ batchId: batch.batch_id, name: "job", requests: 2, itemsSubmitted: 3, cancelled: false }])
    }))

  it.scoped("a file-based batch is sealed (412) and, without a files API here, cancelled by xAI; an unknown batch is 404", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const file = (yield* call(`${sim.url}/batches`, { body: { name: "from-file", input_file_id: "file_1" } })).json as BatchJson & { input_file_id: string }
      expect(file.input_file_id).toBe("file_1")
      expect(file.cancel_by_xai_message).toMatch(/JSONL file validation failed/)
      expect((yield* addItems(sim, file.batch_id, [chatItem("a")])).status).toBe(412)
      expect((yield* call(`${sim.url}/batches/batch_nope`)).status).toBe(404)
      expect((yield* call(`${sim.url}/batches`, { body: { name: "" } })).status).toBe(422)
    }))

  it.scoped("the add-call limit is answered 429 with Retry-After until the window has room", () =>
    Effect.gen(function*() {
      const sim = yield* simulator({ batch: { addCallLimit: 2, addCallWindow: "30 seconds" } })
      const batch = yield* createBatch(sim)
      expect((yield* addItems(sim, batch.batch_id, [chatItem("a")])).status).toBe(200)
      yield* TestClock.adjust("10 seconds")
      expect((yield* addItems(sim, batch.batch_id, [chatItem("b")])).status).toBe(200)
      const refused = yield* addItems(sim, batch.batch_id, [chatItem("c")])
      expect(refused.status).toBe(429)
      expect(refused.headers.get("retry-after")).toBe("20")
      expect(refused.json).toMatchObject({ code: "resource-exhausted", error: expect.stringMatching(/^Too many requests/) })
      yield* TestClock.adjust("20 seconds")
      expect((yield* addItems(sim, batch.batch_id, [chatItem("c")])).status).toBe(200)
      expect((yield* getBatch(sim, batch.batch_id)).state.num_requests).toBe(3)
    }))

  it.scoped("creating more than 2 batches a second is answered 429", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      yield* createBatch(sim, "one")
      yield* createBatch(sim, "two")
      expect((yield* call(`${sim.url}/batches`, { body: { name: "three" } })).status).toBe(429)
      yield* TestClock.adjust("1 second")
      yield* createBatch(sim, "three")
      const listed = (yield* call(`${sim.url}/batches?limit=2`)).json as { batches: ReadonlyArray<BatchJson>; pagination_token: string | null }
      expect(listed.batches.map((b) => b.name)).toEqual(["one", "two"])
      const rest = (yield* call(`${sim.url}/batches?limit=2&pagination_token=${listed.pagination_token}`)).json as { batches: ReadonlyArray<BatchJson>; pagination_token: string | null }
      expect(rest).toMatchObject({ batches: [{ name: "three" }], pagination_token: null })
    }))

  it.scoped("cancel: pending requests get \"Batch cancelled\", those in flight land later (counters go backwards), adds get 403", () =>
    Effect.gen(function*() {
      const sim = yield* simulator({ batch: { processing: { min: "10 seconds", max: "100 seconds" }, cancelRace: "20 seconds" } })
      const batch = yield* createBatch(sim)
      yield* addItems(sim, batch.batch_id, ids(40).map((id) => chatItem(id)))
      yield* TestClock.adjust("30 seconds")
      const before = (yield* getBatch(sim, batch.batch_id)).state
      const cancelled = (yield* call(`${sim.url}/batches/${batch.batch_id}:cancel`, { method: "POST" })).json as BatchJson
      expect(cancelled.cancel_time).toBe("1970-01-01T00:00:30.000Z")
      expect(cancelled.state).toMatchObject({ num_pending: 0, num_success: before.num_success, num_cancelled: before.num_pending })
      const inFlight = (yield* allResults(sim, batch.batch_id, 1000)).lines
      const cancelledLines = inFlight.filter((line) => JSON.stringify(line.batch_result) === JSON.stringify({ error: "Batch cancelled" }))
      expect(cancelledLines.length).toBeGreaterThan(0)
      expect((yield* addItems(sim, batch.batch_id, [chatItem("late")])).status).toBe(403)

      yield* TestClock.adjust("20 seconds")
      const after = (yield* getBatch(sim, batch.batch_id)).state
      expect(after.num_success).toBeGreaterThan(before.num_success)
      expect(after.num_cancelled).toBeLessThan(cancelled.state.num_cancelled)
      expect(after.num_success + after.num_cancelled).toBe(40)
      expect((yield* allResults(sim, batch.batch_id, 1000)).lines).toHaveLength(40)
      // Cancelling again changes nothing.
      expect(((yield* call(`${sim.url}/batches/${batch.batch_id}:cancel`, { method: "POST" })).json as BatchJson).cancel_time).toBe(cancelled.cancel_time)
    }))

  it.scoped("after expiry the results are gone (404) and unfinished requests were cancelled", () =>
    Effect.gen(function*() {
      const sim = yield* simulator({ batch: { processing: { min: "10 minutes", max: "10 minutes" }, expireAfter: "1 hour" } })
      const batch = yield* createBatch(sim)
      yield* addItems(sim, batch.batch_id, [chatItem("a")])
      yield* TestClock.adjust("55 minutes")
      yield* addItems(sim, batch.batch_id, [chatItem("b")])
      yield* TestClock.adjust("5 minutes")
      expect((yield* getBatch(sim, batch.batch_id)).state).toMatchObject({ num_success: 1, num_cancelled: 1, num_pending: 0 })
      expect((yield* call(`${sim.url}/batches/${batch.batch_id}/results`)).status).toBe(404)
    }))

  it.effect("bad batch options fail at start", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.scoped(Simulator.make({ batch: { addCallLimit: 0 } })))
      expect(error.message).toMatch(/batch.addCallLimit/)
      const order = yield* Effect.flip(Effect.scoped(Simulator.make({ batch: { processing: { min: "2 seconds", max: "1 second" } } })))
      expect(order.message).toMatch(/max is below min/)
    }))
})
