/**
 * xAI's Batch API (`/v1/batches`), in the shapes captured from the live API (shared reference
 * `xai-batch.md`): create, list, get, add requests, request metadata, results, cancel.
 *
 * A request's fate is drawn when it is added (from the request's seeded `Random`): how long
 * it runs and whether it fails. Everything else is read off the clock: a request is pending
 * until its finish instant, then succeeded or failed; counters, request states and results are
 * computed when asked, so the TestClock moves a batch forward and nothing runs in the
 * background. A cancel leaves the requests due within `cancelRace` of it to land as
 * succeeded later (the counters go backwards, as observed); the others get xAI's
 * "Batch cancelled" result at once.
 *
 * What the whole add call is refused for (atomic, nothing admitted): a model not enabled for
 * batch (400), a duplicate id inside the call (400), an id already added with different
 * content (412), a file-based batch (412), a cancelled batch (403), and the add-call limit
 * (429 with Retry-After). Re-adding an id with identical content is accepted and changes
 * nothing.
 *
 * @internal
 */
import { Effect, Either, Random, Schema } from "effect"
import type { Usage } from "../Simulator.js"
import { chatCompletion, complete, type Message } from "./completions.js"
import { uuid } from "./ids.js"
import { describeIssues } from "./issues.js"
import type { Headers } from "./quotaHeaders.js"
import * as Reply from "./reply.js"
import { messagesOf, ResponsesRequest } from "./responsesRequest.js"
import type { Route, RouteContext } from "./routes.js"
import { decodeBody } from "./routes.js"

/** How a failed line's error is written in its result. */
export type ErrorForm = "string" | "status" | "error_message"

export interface Settings {
  readonly addCallLimit: number
  readonly addCallWindowMillis: number
  readonly createPerSecond: number
  readonly minProcessingMillis: number
  readonly maxProcessingMillis: number
  readonly failureRate: number
  readonly errorForm: ErrorForm
  readonly models: ReadonlySet<string>
  readonly cancelRaceMillis: number
  readonly expireAfterMillis: number
  /** How a 429 says when to come back (the simulator's `retryAfter` mode). */
  readonly retryAfter: (waitMillis: number, nowMillis: number) => Headers
}

/** The models xAI accepted for batch in 2026-08 (shared reference, §1.4). */
export const DEFAULT_MODELS: ReadonlyArray<string> = [
  "grok-4.3",
  "grok-4.20-0309-reasoning",
  "grok-4.20-0309-non-reasoning",
  "grok-4.20-multi-agent-0309"
]

/** The largest single request an add call takes (xAI: 25 MB per request). */
export const MAX_REQUEST_BYTES = 25 * 1024 * 1024

const MAX_PAGE = 1000
const DEFAULT_PAGE = 100
const DAY_MILLIS = 86_400_000

/** Batch prices: 20% off every token type on the models batch takes (late-2026 pricing). */
const BATCH_PRICE = 0.8

type Outcome =
  | { readonly _tag: "Success"; readonly endpoint: string; readonly body: unknown; readonly usage: Usage }
  | { readonly _tag: "Failure"; readonly code: number; readonly message: string }

interface SimRequest {
  readonly id: string
  /** The `batch_request` object as sent, as JSON text: a re-add must be identical. */
  readonly content: string
  readonly endpoint: string
  readonly model: string
  readonly addedAt: number
  readonly finishAt: number
  readonly outcome: Outcome
}

interface SimBatch {
  readonly id: string
  readonly name: string
  readonly createdAt: number
  readonly inputFileId: string | undefined
  readonly cancelByXai: string | undefined
  cancelledAt: number | undefined
  readonly requests: Map<string, SimRequest>
  /** Items received in accepted add calls, re-adds included. */
  submitted: number
}

/** A batch as tests see it. */
export interface Summary {
  readonly batchId: string
  readonly name: string
  readonly requests: number
  /** Items received in accepted add calls: above `requests` when the same request was sent again. */
  readonly itemsSubmitted: number
  readonly cancelled: boolean
}

type State = "pending" | "succeeded" | "failed" | "cancelled"

interface Seen {
  readonly state: State
  /** The result line, once it is readable. */
  readonly result: unknown
  readonly finishedAt: number | undefined
}

const isoDate = (millis: number) => new Date(millis).toISOString().slice(0, 10)
const isoTime = (millis: number) => new Date(millis).toISOString()

const error = (status: number, code: string, message: string, headers: Headers = {}) =>
  Reply.json(status, { code, error: message }, headers)

export const make = (settings: Settings) => {
  const batches = new Map<string, SimBatch>()
  let addCalls: Array<number> = []
  let creates: Array<number> = []

  /** Calls still in the window at `now`, oldest first. */
  const inWindow = (calls: ReadonlyArray<number>, now: number, windowMillis: number) =>
    calls.filter((at) => at > now - windowMillis)

  const expiresAt = (batch: SimBatch) => batch.createdAt + settings.expireAfterMillis

  const resultLine = (request: SimRequest, outcome: Outcome) => {
    if (outcome._tag === "Success") {
      return { batch_request_id: request.id, batch_result: { response: { [outcome.endpoint]: outcome.body } } }
    }
    switch (settings.errorForm) {
      case "string":
        return { batch_request_id: request.id, batch_result: { error: outcome.message } }
      case "status":
        return { batch_request_id: request.id, batch_result: { error: { code: outcome.code, message: outcome.message } } }
      case "error_message":
        return { batch_request_id: request.id, error_message: outcome.message }
    }
  }

  const cancelledOutcome: Outcome = { _tag: "Failure", code: 1, message: "Batch cancelled" }

  const finished = (request: SimRequest): Seen => ({
    state: request.outcome._tag === "Success" ? "succeeded" : "failed",
    result: resultLine(request, request.outcome),
    finishedAt: request.finishAt
  })

  /** Where a request stands at `now`. */
  const seen = (batch: SimBatch, request: SimRequest, now: number): Seen => {
    const ended = batch.cancelledAt ?? (now >= expiresAt(batch) ? expiresAt(batch) : undefined)
    if (ended === undefined || request.finishAt <= ended) {
      return now < request.finishAt ? { state: "pending", result: undefined, finishedAt: undefined } : finished(request)
    }
    // In flight at the cancel: counted as cancelled, then it lands.
    if (batch.cancelledAt !== undefined && request.finishAt - ended <= settings.cancelRaceMillis) {
      return now < request.finishAt ? { state: "cancelled", result: undefined, finishedAt: undefined } : finished(request)
    }
    return { state: "cancelled", result: resultLine(request, cancelledOutcome), finishedAt: ended }
  }

  const counters = (batch: SimBatch, now: number) => {
    const state = { num_requests: batch.requests.size, num_pending: 0, num_success: 0, num_error: 0, num_cancelled: 0 }
    for (const request of batch.requests.values()) {
      switch (seen(batch, request, now).state) {
        case "pending":
          state.num_pending++
          break
        case "succeeded":
          state.num_success++
          break
        case "failed":
          state.num_error++
          break
        case "cancelled":
          state.num_cancelled++
      }
    }
    return state
  }

  const batchObject = (batch: SimBatch, now: number) => ({
    batch_id: batch.id,
    name: batch.name,
    create_time: isoDate(batch.createdAt),
    expire_time: isoDate(expiresAt(batch)),
    create_api_key_id: "simulator-key",
    cancel_time: batch.cancelledAt === undefined ? null : isoTime(batch.cancelledAt),
    cancel_by_xai_message: batch.cancelByXai ?? null,
    state: counters(batch, now),
    ...(batch.inputFileId === undefined ? {} : { input_file_id: batch.inputFileId })
  })

  const find = (context: RouteContext): Effect.Effect<SimBatch, Reply.Reply> => {
    const id = context.params["id"] ?? ""
    const batch = batches.get(id)
    return batch === undefined
      ? Effect.fail(error(404, "not-found", `Batch ${id} not found.`))
      : Effect.succeed(batch)
  }

  const readable = (context: RouteContext): Effect.Effect<SimBatch, Reply.Reply> =>
    Effect.flatMap(find(context), (batch) =>
      context.nowMillis >= expiresAt(batch)
        ? Effect.fail(error(404, "not-found", `Batch ${batch.id} expired on ${isoDate(expiresAt(batch))}; its results can no longer be read.`))
        : Effect.succeed(batch))

  /** `limit` and `pagination_token` of a list call. */
  const page = (context: RouteContext, defaultLimit: number): Effect.Effect<{ limit: number; token: string | undefined }, Reply.Reply> => {
    const raw = context.query.get("limit")
    const limit = raw === null ? defaultLimit : Number(raw)
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
      return Effect.fail(error(400, "invalid-argument", `limit must be a whole number from 1 to ${MAX_PAGE}, got ${raw}.`))
    }
    const token = context.query.get("pagination_token")
    return Effect.succeed({ limit, token: token === null || token === "" ? undefined : token })
  }

  const encodeToken = (value: string) => Buffer.from(value, "utf8").toString("base64url")
  const decodeToken = (token: string): Effect.Effect<string, Reply.Reply> => {
    const value = Buffer.from(token, "base64url").toString("utf8")
    return value.startsWith("@")
      ? Effect.succeed(value.slice(1))
      : Effect.fail(error(400, "invalid-argument", `Invalid pagination_token ${JSON.stringify(token)}.`))
  }

  /** One page of `items` after the position the token names, and the token of the next page. */
  const pageOf = <A>(
    items: ReadonlyArray<A>,
    keyOf: (item: A) => string,
    request: { readonly limit: number; readonly token: string | undefined }
  ): Effect.Effect<{ readonly items: ReadonlyArray<A>; readonly next: string | null }, Reply.Reply> =>
    Effect.map(request.token === undefined ? Effect.succeed(undefined) : decodeToken(request.token), (after) => {
      const start = after === undefined ? 0 : items.findIndex((item) => keyOf(item) > after)
      const slice = start < 0 ? [] : items.slice(start, start + request.limit)
      const last = slice[slice.length - 1]
      const more = start >= 0 && start + request.limit < items.length
      return { items: slice, next: more && last !== undefined ? encodeToken(`@${keyOf(last)}`) : null }
    })

  const create: Route = {
    method: "POST",
    path: "/v1/batches",
    handle: (context) =>
      Effect.gen(function*() {
        const body = yield* decodeBody(context, CreateRequest)
        const now = context.nowMillis
        creates = inWindow(creates, now, 1000)
        if (creates.length >= settings.createPerSecond) {
          const oldest = creates[0] ?? now
          return yield* Effect.fail(error(
            429,
            "resource-exhausted",
            `Too many requests: batch creation is limited to ${settings.createPerSecond} per second for your team.`,
            settings.retryAfter(oldest + 1000 - now, now)
          ))
        }
        creates.push(now)
        const id = `batch_${yield* uuid}`
        const batch: SimBatch = {
          id,
          name: body.name,
          createdAt: now,
          inputFileId: body.input_file_id ?? undefined,
          // No files API here: a file-based batch fails its validation, as xAI reports it.
          cancelByXai: body.input_file_id == null
            ? undefined
            : `JSONL file validation failed: file ${body.input_file_id} was not found.`,
          cancelledAt: undefined,
          requests: new Map(),
          submitted: 0
        }
        batches.set(id, batch)
        return Reply.json(200, batchObject(batch, now))
      })
  }

  const list: Route = {
    method: "GET",
    path: "/v1/batches",
    handle: (context) =>
      Effect.gen(function*() {
        const request = yield* page(context, DEFAULT_PAGE)
        const all = [...batches.values()]
        const { items, next } = yield* pageOf(all, (batch) => `${String(batch.createdAt).padStart(16, "0")}:${batch.id}`, request)
        return Reply.json(200, { batches: items.map((batch) => batchObject(batch, context.nowMillis)), pagination_token: next })
      })
  }

  const get: Route = {
    method: "GET",
    path: "/v1/batches/:id",
    handle: (context) => Effect.map(find(context), (batch) => Reply.json(200, batchObject(batch, context.nowMillis)))
  }

  /** `POST /v1/batches/{id}:cancel`: the id segment carries the verb. */
  const cancel: Route = {
    method: "POST",
    path: "/v1/batches/:id",
    handle: (context) => {
      const segment = context.params["id"] ?? ""
      if (!segment.endsWith(":cancel")) {
        return Effect.fail(error(404, "not-found", `No route matches POST /v1/batches/${segment}.`))
      }
      return Effect.map(find({ ...context, params: { id: segment.slice(0, -":cancel".length) } }), (batch) => {
        if (batch.cancelledAt === undefined) batch.cancelledAt = context.nowMillis
        return Reply.json(200, batchObject(batch, context.nowMillis))
      })
    }
  }

  /** What a request will do, drawn now: its duration, and its result. */
  const fate = (
    context: RouteContext,
    endpoint: string,
    body: unknown,
    addedAt: number
  ): Effect.Effect<{ readonly finishAt: number; readonly outcome: Outcome }> =>
    Effect.gen(function*() {
      const span = settings.maxProcessingMillis - settings.minProcessingMillis
      const finishAt = addedAt + settings.minProcessingMillis + Math.round((yield* Random.next) * span)
      const failed = settings.failureRate > 0 && (yield* Random.next) < settings.failureRate
      const completionId = yield* uuid
      if (failed) {
        return { finishAt, outcome: { _tag: "Failure", code: 13, message: "Internal error while processing the batch request. [WKE=internal]" } }
      }
      const messages = messagesFor(endpoint, body)
      if (Either.isLeft(messages)) return { finishAt, outcome: { _tag: "Failure", code: 3, message: messages.left } }
      const request = messages.right
      const served = context.catalog.servedBy(request.model)
      const completion = yield* complete({ messages: request.messages, maxTokens: request.maxTokens, reasoning: context.catalog.reasoningOf(served) })
      const answer = chatCompletion({ id: completionId, created: Math.floor(finishAt / 1000), model: served }, completion)
      const discounted = { ...answer, usage: { ...answer.usage, cost_in_usd_ticks: Math.round(answer.usage.cost_in_usd_ticks * BATCH_PRICE) } }
      // Responses lines are run as chat completions and answered as one (observed).
      return { finishAt, outcome: { _tag: "Success", endpoint: "chat_get_completion", body: discounted, usage: completion.usage } }
    })

  const add: Route = {
    method: "POST",
    path: "/v1/batches/:id/requests",
    handle: (context) =>
      Effect.gen(function*() {
        const batch = yield* find(context)
        const now = context.nowMillis
        addCalls = inWindow(addCalls, now, settings.addCallWindowMillis)
        if (addCalls.length >= settings.addCallLimit) {
          const oldest = addCalls[0] ?? now
          return yield* Effect.fail(error(
            429,
            "resource-exhausted",
            `Too many requests: add calls to batches are limited to ${settings.addCallLimit} per ${settings.addCallWindowMillis / 1000} seconds ` +
              `for your team (actual/limit: ${addCalls.length + 1}/${settings.addCallLimit}).`,
            settings.retryAfter(oldest + settings.addCallWindowMillis - now, now)
          ))
        }
        addCalls.push(now)
        if (batch.inputFileId !== undefined) {
          return yield* Effect.fail(error(412, "failed-precondition", "Cannot add inline requests to a file-based batch."))
        }
        if (batch.cancelledAt !== undefined || batch.cancelByXai !== undefined) {
          return yield* Effect.fail(error(403, "permission-denied", `Batch ${batch.id} was cancelled: it accepts no more requests.`))
        }
        if (now >= expiresAt(batch)) {
          return yield* Effect.fail(error(403, "permission-denied", `Batch ${batch.id} has expired: it accepts no more requests.`))
        }
        const body = yield* decodeBody(context, AddRequests)
        const seenInCall = new Set<string>()
        const admitted: Array<{ readonly id: string; readonly content: string; readonly endpoint: string; readonly model: string; readonly body: unknown }> = []
        for (const [index, item] of body.batch_requests.entries()) {
          const id = item.batch_request_id ?? `batch_request_${yield* uuid}`
          const where = `batch_requests[${index}] ('${id}')`
          const keys = Object.keys(item.batch_request)
          const endpoint = keys[0]
          if (keys.length !== 1 || endpoint === undefined) {
            return yield* Effect.fail(error(400, "invalid-argument", `${where}: batch_request must hold exactly one of chat_get_completion, responses, image_generation, image_edit, video_generation, video_extension.`))
          }
          if (endpoint !== "chat_get_completion" && endpoint !== "responses") {
            return yield* Effect.fail(error(400, "invalid-argument", `${where}: ${endpoint} requests are not supported by this simulator.`))
          }
          const payload = item.batch_request[endpoint]
          const model = isRecord(payload) && typeof payload["model"] === "string" ? payload["model"] : undefined
          if (model === undefined || model === "") {
            return yield* Effect.fail(error(400, "invalid-argument", `${where}: the request has no model.`))
          }
          if (!settings.models.has(model)) {
            return yield* Effect.fail(error(400, "invalid-argument", `Model ${model} is not supported for batch processing.`))
          }
          const content = JSON.stringify(item.batch_request)
          if (Buffer.byteLength(content, "utf8") > MAX_REQUEST_BYTES) {
            return yield* Effect.fail(error(400, "invalid-argument", `${where}: the request is larger than ${MAX_REQUEST_BYTES} bytes.`))
          }
          if (seenInCall.has(id)) {
            return yield* Effect.fail(error(400, "invalid-argument", `Duplicate batch_request_id '${id}' in the request.`))
          }
          seenInCall.add(id)
          const existing = batch.requests.get(id)
          if (existing !== undefined && existing.content !== content) {
            return yield* Effect.fail(error(412, "failed-precondition", `batch_request_id '${id}' content differs from originally submitted`))
          }
          admitted.push({ id, content, endpoint, model, body: payload })
        }
        for (const item of admitted) {
          batch.submitted++
          if (batch.requests.has(item.id)) continue
          const drawn = yield* fate(context, item.endpoint, item.body, now)
          batch.requests.set(item.id, { ...item, addedAt: now, ...drawn })
        }
        return Reply.json(200, {})
      })
  }

  const requestStates: Route = {
    method: "GET",
    path: "/v1/batches/:id/requests",
    handle: (context) =>
      Effect.gen(function*() {
        const batch = yield* readable(context)
        const request = yield* page(context, DEFAULT_PAGE)
        const { items, next } = yield* pageOf([...batch.requests.values()], (item) => `${String(item.addedAt).padStart(16, "0")}:${item.id}`, request)
        return Reply.json(200, {
          batch_request_metadata: items.map((item) => {
            const now = seen(batch, item, context.nowMillis)
            return {
              batch_request_id: item.id,
              endpoint: "xai_api.Chat/GetCompletion",
              model: item.model,
              state: now.state,
              create_time: isoTime(item.addedAt),
              finish_time: now.finishedAt === undefined ? null : isoTime(now.finishedAt)
            }
          }),
          pagination_token: next
        })
      })
  }

  const results: Route = {
    method: "GET",
    path: "/v1/batches/:id/results",
    handle: (context) =>
      Effect.gen(function*() {
        const batch = yield* readable(context)
        const request = yield* page(context, DEFAULT_PAGE)
        // Sorted by batch_request_id, as observed; a result that appears later may sort before
        // the pages already read.
        const lines = [...batch.requests.values()]
          .map((item) => ({ id: item.id, result: seen(batch, item, context.nowMillis).result }))
          .filter((line) => line.result !== undefined)
          .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
        const { items, next } = yield* pageOf(lines, (line) => line.id, request)
        return Reply.json(200, { results: items.map((line) => line.result), pagination_token: next })
      })
  }

  return {
    routes: [create, list, get, cancel, add, requestStates, results] as ReadonlyArray<Route>,
    summaries: (): ReadonlyArray<Summary> =>
      [...batches.values()].map((batch) => ({
        batchId: batch.id,
        name: batch.name,
        requests: batch.requests.size,
        itemsSubmitted: batch.submitted,
        cancelled: batch.cancelledAt !== undefined
      })),
    clear: () => {
      batches.clear()
      addCalls = []
      creates = []
    }
  }
}

export type BatchStore = ReturnType<typeof make>

const isRecord = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const CreateRequest = Schema.Struct({
  name: Schema.String.pipe(Schema.nonEmptyString()),
  input_file_id: Schema.optional(Schema.NullOr(Schema.String))
})

const AddRequests = Schema.Struct({
  batch_requests: Schema.Array(Schema.Struct({
    batch_request_id: Schema.optional(Schema.String.pipe(Schema.nonEmptyString())),
    batch_request: Schema.Record({ key: Schema.String, value: Schema.Unknown })
  }))
})

const PositiveInt = Schema.Int.pipe(Schema.positive())

/** A batched chat body, checked when it runs: what fails here fails that line only. */
const ChatBody = Schema.Struct({
  model: Schema.String,
  messages: Schema.Array(Schema.Struct({ role: Schema.String, content: Schema.optional(Schema.Unknown) })).pipe(Schema.minItems(1)),
  max_tokens: Schema.optional(Schema.NullOr(Schema.Number)),
  max_completion_tokens: Schema.optional(Schema.NullOr(Schema.Number))
})

interface Runnable {
  readonly model: string
  readonly messages: ReadonlyArray<Message>
  readonly maxTokens: number | undefined
}

/** The conversation a line asks about, or the error its result reports (xAI's wording where known). */
const messagesFor = (endpoint: string, body: unknown): Either.Either<Runnable, string> => {
  if (endpoint === "responses") {
    return Either.match(Schema.decodeUnknownEither(ResponsesRequest)(body), {
      onLeft: (issues) => Either.left(`Invalid request: ${describeIssues(issues)}`),
      onRight: (request) => Either.right({ model: request.model, messages: messagesOf(request), maxTokens: request.max_output_tokens ?? undefined })
    })
  }
  return Either.flatMap(
    Either.mapLeft(Schema.decodeUnknownEither(ChatBody)(body), (issues) => `Invalid request: ${describeIssues(issues)}`),
    (request) => {
      const maxTokens = request.max_completion_tokens ?? request.max_tokens ?? undefined
      if (maxTokens !== undefined && !Schema.is(PositiveInt)(maxTokens)) {
        return Either.left(`Maximum number of tokens max_tokens must be positive but max_tokens = ${maxTokens}`)
      }
      return Either.right({ model: request.model, messages: request.messages, maxTokens })
    }
  )
}

/** When the simulator's options leave them out. */
export const defaults = {
  addCallLimit: 1000,
  addCallWindowMillis: 30_000,
  createPerSecond: 2,
  minProcessingMillis: 1_000,
  maxProcessingMillis: 10_000,
  cancelRaceMillis: 20_000,
  expireAfterMillis: 30 * DAY_MILLIS
} as const
