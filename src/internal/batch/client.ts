/**
 * The batch client: the Batch API's calls, a job's submission (find or create, then add what
 * the batch lacks) and the results stream.
 *
 * Adding never sends a request twice: before adding to a batch that already has requests,
 * its request list is read and the requests it holds are skipped; an add call answered 429
 * was refused (nothing admitted) and is sent again after its Retry-After; an add call that
 * may have reached the server (no answer, a 5xx) is followed, before it is sent again, by
 * another read of the list, and only what is still missing goes.
 *
 * Results are read in passes over every page: xAI lists them in no order that new results
 * would extend (they come sorted by id), so a page already read can gain results. A pass
 * runs whenever the counters say requests finished; the stream ends when every expected
 * request has its outcome, or after a pass that began once the batch had finished.
 *
 * @internal
 */
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Chunk, Clock, Duration, Effect, Either, Exit, Option, Schedule, Schema, Stream } from "effect"
import { BatchAddRejected, type BatchError, BatchIncomplete, type IncompleteReason } from "../../BatchError.js"
import type * as GrokBatch from "../../GrokBatch.js"
import type * as GrokError from "../../GrokError.js"
import * as RetryPolicy from "../../resilience/RetryPolicy.js"
import * as Batch from "../../schema/Batch.js"
import * as Chat from "../../schema/Chat.js"
import * as Record from "../../telemetry/internal/record.js"
import * as Http from "./http.js"
import { outcomeOf } from "./outcomes.js"
import * as Requests from "./requests.js"

export const defaultPoll: Schedule.Schedule<unknown, void> = Schedule.exponential("1 second", 1.5).pipe(
  Schedule.union(Schedule.spaced("1 minute")),
  Schedule.asVoid
)

const DEFAULT_MAX_REQUESTS = 100
const DEFAULT_MAX_BYTES = 10 * 1024 * 1024
const DEFAULT_CANCEL_GRACE = Duration.minutes(1)
/** An add call refused for the add-call limit waits up to this long for the window (xAI's is 30 s). */
const ADD_RETRY_AFTER_CAP = Duration.minutes(2)
const MAX_PAGE = 1000

const decodeBatch = Http.decodeWith(Batch.Batch, "the batch")
const decodeBatchList = Http.decodeWith(Batch.BatchList, "the batch list")
const decodeMetadata = Http.decodeWith(Batch.RequestMetadataList, "the batch's request list")
const decodeResults = Http.decodeWith(Batch.ResultList, "the batch's results")
const decodeCompletion = Schema.decodeUnknownOption(Chat.ChatCompletion)

/** A request this run expects a result for: the caller's id and the model it asked for. */
interface Expected {
  readonly id: string
  readonly model: string
}

/** The next page's token: `null`, `undefined` and `""` all mean "no more pages". */
const nextToken = (token: string | null | undefined): string | undefined => (token == null || token === "" ? undefined : token)

const query = (limit: number, token: string | undefined) =>
  `?limit=${limit}${token === undefined ? "" : `&pagination_token=${encodeURIComponent(token)}`}`

/** Every page of a paginated list, fetched one after the other. */
const pages = <A>(
  fetch: (token: string | undefined) => Effect.Effect<{ readonly items: ReadonlyArray<A>; readonly next: string | undefined }, GrokError.GrokError>
): Stream.Stream<A, GrokError.GrokError> =>
  Stream.paginateChunkEffect(Option.none<string>(), (token) =>
    Effect.map(fetch(Option.getOrUndefined(token)), (page) => [
      Chunk.fromIterable(page.items),
      // An empty page ends the list too, whatever its token says.
      page.items.length === 0 ? Option.none() : Option.map(Option.fromNullable(page.next), Option.some)
    ]))

/** Whether a refusal of an add call is about its requests (named by the server), not about the key or the team. */
const isRefusal = (error: BatchError): error is GrokError.BadRequest | GrokError.PermissionDenied | GrokError.ContextTooLong =>
  error._tag === "BadRequest" || error._tag === "PermissionDenied" || error._tag === "ContextTooLong"

/** The request of `refused` that the server's message points at: by its quoted id, or by its model. */
const offending = (message: string, refused: ReadonlyArray<Requests.Encoded>): Requests.Encoded | undefined => {
  for (const [, quoted] of message.matchAll(/'([^']+)'/g)) {
    const found = refused.find((request) => request.batchRequestId === quoted)
    if (found !== undefined) return found
  }
  const model = /model (\S+) is not supported/i.exec(message)?.[1]
  return model === undefined ? undefined : refused.find((request) => request.model === model)
}

const rejected = (batchId: string, refused: ReadonlyArray<Requests.Encoded>, cause: GrokError.GrokError): BatchAddRejected => {
  const culprit = offending(cause.message, refused)
  return new BatchAddRejected({
    message: `an add call to batch ${batchId} was refused whole (none of its ${refused.length} requests was admitted)` +
      `${culprit === undefined ? "" : `, because of request ${culprit.id}`}: ${cause.message}`,
    status: cause.status,
    retryable: false,
    batchId,
    id: culprit?.id,
    batchRequestId: culprit?.batchRequestId,
    rejected: refused.map((request) => request.id),
    cause
  })
}

/** A batch that can be resumed: neither cancelled nor expired. */
const isOpen = (batch: Batch.Batch, now: number) => !Batch.isCancelled(batch) && !Batch.isExpired(batch, now)

export const make = (ctx: Http.Context): GrokBatch.Service => {
  const path = (batchId: string) => Http.url(ctx, `/batches/${encodeURIComponent(batchId)}`)

  const createOnce = (name: string) =>
    Http.attempt(ctx, "create", HttpClientRequest.post(Http.url(ctx, "/batches")).pipe(HttpClientRequest.bodyUnsafeJson({ name })), decodeBatch)

  /** Retried only when the server said it created nothing (a create may not be repeated blindly). */
  const create: GrokBatch.Service["create"] = (name) =>
    RetryPolicy.retry(createOnce(name), {
      ...Http.retrying(ctx),
      policy: Schedule.whileInput(ctx.retry.policy, (error: GrokError.GrokError) => !Http.isAmbiguous(error))
    })

  const get: GrokBatch.Service["get"] = (batchId) => Http.idempotent(ctx, "get", HttpClientRequest.get(path(batchId)), decodeBatch)

  const list: GrokBatch.Service["list"] = pages((token) =>
    Effect.map(
      Http.idempotent(ctx, "list", HttpClientRequest.get(Http.url(ctx, `/batches${query(100, token)}`)), decodeBatchList),
      (page) => ({ items: page.batches, next: nextToken(page.pagination_token) })
    ))

  const find: GrokBatch.Service["find"] = (name) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Stream.runFold(list, Option.none<Batch.Batch>(), (best, batch) =>
        batch.name !== name || !isOpen(batch, now)
          ? best
          : Option.isSome(best) && Batch.countersOf(best.value).requests > Batch.countersOf(batch).requests
          ? best
          : Option.some(batch)))

  const requestStates: GrokBatch.Service["requestStates"] = (batchId) =>
    pages((token) =>
      Effect.map(
        Http.idempotent(ctx, "requests", HttpClientRequest.get(`${path(batchId)}/requests${query(MAX_PAGE, token)}`), decodeMetadata),
        (page) => ({ items: page.batch_request_metadata, next: nextToken(page.pagination_token) })
      ))

  /** The `batch_request_id`s the batch holds. */
  const presentIds = (batchId: string) =>
    Stream.runFold(requestStates(batchId), new Set<string>(), (ids, request) => ids.add(request.batch_request_id))

  const cancel: GrokBatch.Service["cancel"] = (batchId) =>
    Http.idempotent(ctx, "cancel", HttpClientRequest.post(`${path(batchId)}:cancel`), decodeBatch)

  interface AddStats {
    addCalls: number
    throttled: number
  }

  /** One add call's requests, sent until every one is admitted; their number. */
  const addCall = (batchId: string, call: ReadonlyArray<Requests.Encoded>, policy: RetryPolicy.RetryPolicy, stats: AddStats) => {
    let pending = call
    let ambiguous = false
    const once: Effect.Effect<number, BatchError> = Effect.gen(function*() {
      if (ambiguous) {
        const present = yield* presentIds(batchId)
        pending = pending.filter((request) => !present.has(request.batchRequestId))
        ambiguous = false
      }
      if (pending.length === 0) return call.length
      const sending = pending
      stats.addCalls++
      const body = { batch_requests: sending.map((request) => request.item) }
      return yield* Http.attempt(ctx, "add", HttpClientRequest.post(`${path(batchId)}/requests`).pipe(HttpClientRequest.bodyUnsafeJson(body)), Http.ignoreBody).pipe(
        // Those no longer pending were admitted by an earlier attempt of this call.
        Effect.as(call.length),
        Effect.mapError((error): BatchError => {
          if (error._tag === "RateLimited") stats.throttled++
          if (Http.isAmbiguous(error)) ambiguous = true
          return isRefusal(error) ? rejected(batchId, sending, error) : error
        })
      )
    })
    return RetryPolicy.retry(once, { policy, retryAfterCap: ADD_RETRY_AFTER_CAP })
  }

  /** Add the requests the batch lacks (`listFirst`: read its list first; a new batch has none). */
  const fill = (
    batchId: string,
    requests: ReadonlyArray<Requests.Encoded>,
    options: GrokBatch.AddOptions | undefined,
    listFirst: boolean
  ): Effect.Effect<GrokBatch.AddSummary, BatchError> =>
    Effect.gen(function*() {
      const present = listFirst ? yield* presentIds(batchId) : new Set<string>()
      const missing = requests.filter((request) => !present.has(request.batchRequestId))
      const calls = Requests.chunks(missing, options?.maxRequestsPerAdd ?? DEFAULT_MAX_REQUESTS, options?.maxBytesPerAdd ?? DEFAULT_MAX_BYTES)
      const stats: AddStats = { addCalls: 0, throttled: 0 }
      let added = 0
      for (const call of calls) {
        added += yield* addCall(batchId, call, options?.addRetry ?? defaultAddRetry, stats)
        if (options?.onAdded !== undefined) yield* options.onAdded(added, missing.length)
      }
      return { added, alreadyPresent: requests.length - missing.length, addCalls: stats.addCalls, throttled: stats.throttled }
    })

  const encode = (requests: ReadonlyArray<GrokBatch.BatchRequest>) =>
    Either.match(Requests.encode(ctx.config.model, requests), { onLeft: Effect.fail, onRight: Effect.succeed })

  const add: GrokBatch.Service["add"] = (batchId, requests, options) =>
    Effect.flatMap(encode(requests), (encoded) => fill(batchId, encoded, options, true))

  /**
   * The job's batch: the open one with its name, or a new one. A create that may have reached
   * the server (no answer, a 5xx) is followed by a look for the batch before it is sent again.
   */
  const openBatch = (name: string): Effect.Effect<{ readonly batch: Batch.Batch; readonly resumed: boolean }, GrokError.GrokError> =>
    Effect.flatMap(find(name), (found) => {
      if (Option.isSome(found)) return Effect.succeed({ batch: found.value, resumed: true })
      let ambiguous = false
      const once: Effect.Effect<{ readonly batch: Batch.Batch; readonly resumed: boolean }, GrokError.GrokError> = Effect.gen(function*() {
        if (ambiguous) {
          ambiguous = false
          const made = yield* find(name)
          if (Option.isSome(made)) return { batch: made.value, resumed: false }
        }
        const batch = yield* Effect.tapError(createOnce(name), (error) =>
          Effect.sync(() => {
            if (Http.isAmbiguous(error)) ambiguous = true
          }))
        return { batch, resumed: false }
      })
      return RetryPolicy.retry(once, Http.retrying(ctx))
    })

  const submitEncoded = (job: GrokBatch.Job, encoded: ReadonlyArray<Requests.Encoded>, options: GrokBatch.AddOptions | undefined) =>
    Effect.gen(function*() {
      const { batch, resumed } = yield* openBatch(job.name)
      const summary = yield* fill(batch.batch_id, encoded, options, resumed && Batch.countersOf(batch).requests > 0)
      return { batch, resumed, ...summary }
    })

  const submit: GrokBatch.Service["submit"] = (job, options) =>
    Effect.flatMap(encode(job.requests), (encoded) =>
      Effect.flatMap(submitEncoded(job, encoded, options), (submitted) =>
        submitted.added === 0 ? Effect.succeed(submitted) : Effect.map(get(submitted.batch.batch_id), (batch) => ({ ...submitted, batch }))))

  const resultsPage = (batchId: string, token: string | undefined, pageSize: number) =>
    Http.idempotent(ctx, "results", HttpClientRequest.get(`${path(batchId)}/results${query(pageSize, token)}`), decodeResults)

  /** An outcome read: its metric, and a success's usage, model and tier as any answer's. */
  const recorded = (outcome: GrokBatch.Outcome, requestedModel: string | undefined): Effect.Effect<void> => {
    const counted = Record.batchResultRead(outcome._tag.toLowerCase())
    if (outcome._tag !== "Succeeded" || outcome.endpoint !== "chat_get_completion") return counted
    return Option.match(decodeCompletion(outcome.body), {
      onNone: () => counted,
      onSome: (completion) => Effect.zipRight(counted, Record.answerRecorded(requestedModel ?? completion.model, "batch", completion, undefined))
    })
  }

  /**
   * The results of `batchId` as they arrive: all of them (`expected` undefined, outcomes carry
   * the `batch_request_id`), or those of `expected`'s requests with the caller's ids.
   */
  const resultsOf = (
    batchId: string,
    expected: ReadonlyMap<string, Expected> | undefined,
    options: GrokBatch.ResultsOptions | undefined
  ): Stream.Stream<GrokBatch.Outcome, BatchError> =>
    Stream.unwrap(Effect.gen(function*() {
      const pageSize = options?.pageSize ?? MAX_PAGE
      const grace = Duration.toMillis(Duration.decode(options?.cancelGrace ?? DEFAULT_CANCEL_GRACE))
      const driver = yield* Schedule.driver(options?.poll ?? defaultPoll)
      /** `batch_request_id`s whose outcome was emitted. */
      const emitted = new Set<string>()
      let phase: "look" | "page" | "ended" = "look"
      let token: string | undefined
      let looked = false
      let progressed = false
      let lastDone = -1
      let batch: Batch.Batch | undefined
      /** Whether the pass under way began after the batch was seen finished. */
      let passAfterFinish = false
      let cancelSeenAt: number | undefined

      const missing = () => expected === undefined ? [] : [...expected].filter(([key]) => !emitted.has(key)).map(([, request]) => request.id)

      const incomplete = (reason: IncompleteReason, detail: string) => {
        const ids = missing()
        return new BatchIncomplete({
          message: `batch ${batchId}: ${detail}${ids.length === 0 ? "" : `; ${ids.length} request${ids.length === 1 ? " has" : "s have"} no result`}`,
          status: null,
          retryable: false,
          batchId,
          reason,
          missing: ids
        })
      }

      /** After a complete pass: whether the stream is done (or failed). */
      const afterPass = (now: number): Effect.Effect<boolean, BatchIncomplete> => {
        if (expected !== undefined && emitted.size >= expected.size) return Effect.succeed(true)
        if (!passAfterFinish || batch === undefined) return Effect.succeed(false)
        const everyResult = expected === undefined && emitted.size >= Batch.countersOf(batch).requests
        if (everyResult) return Effect.succeed(true)
        if (Batch.isCancelled(batch)) {
          if (cancelSeenAt !== undefined && now - cancelSeenAt < grace) return Effect.succeed(false)
          return expected === undefined
            ? Effect.succeed(true)
            : Effect.fail(incomplete("cancelled", `the batch was cancelled${batch.cancel_by_xai_message == null ? "" : ` by xAI: ${batch.cancel_by_xai_message}`}`))
        }
        return expected === undefined ? Effect.succeed(true) : Effect.fail(incomplete("finished", "the batch finished"))
      }

      const look: Effect.Effect<Chunk.Chunk<GrokBatch.Outcome>, BatchError> = Effect.gen(function*() {
        if (looked) {
          if (progressed) yield* driver.reset
          progressed = false
          const next = yield* Effect.option(driver.next(undefined))
          if (Option.isNone(next)) return yield* Effect.fail(incomplete("poll-ended", "the poll schedule ended before the batch finished"))
        }
        looked = true
        const current = yield* expiredIf404(get(batchId))
        batch = current
        if (options?.onProgress !== undefined) yield* options.onProgress(current)
        const now = yield* Clock.currentTimeMillis
        if (Batch.isExpired(current, now)) {
          return yield* Effect.fail(incomplete("expired", `the batch expired (${String(current.expire_time)}): its results can no longer be read`))
        }
        const finished = Batch.isFinished(current, now)
        if (finished && Batch.isCancelled(current) && cancelSeenAt === undefined) cancelSeenAt = now
        const counters = Batch.countersOf(current)
        const done = counters.succeeded + counters.failed + counters.cancelled
        if (done !== lastDone || finished) {
          lastDone = done
          passAfterFinish = finished
          phase = "page"
          token = undefined
        }
        return Chunk.empty()
      })

      /** A batch that answers 404 on the day it expires has expired. */
      const expiredIf404 = <A>(effect: Effect.Effect<A, GrokError.GrokError>): Effect.Effect<A, BatchError> =>
        Effect.catchTag(effect, "NotFound", (error) =>
          Effect.flatMap(Clock.currentTimeMillis, (now): Effect.Effect<A, BatchError> =>
            batch !== undefined && Batch.mayHaveExpired(batch, now)
              ? Effect.fail(incomplete("expired", `the batch expired (${String(batch.expire_time)}): its results can no longer be read`))
              : Effect.fail(error)))

      const page: Effect.Effect<Chunk.Chunk<GrokBatch.Outcome>, BatchError> = Effect.gen(function*() {
        const read = yield* expiredIf404(resultsPage(batchId, token, pageSize))
        const out: Array<GrokBatch.Outcome> = []
        for (const line of read.results) {
          const key = line.batch_request_id
          if (emitted.has(key)) continue
          const request = expected === undefined ? { id: key, model: undefined } : expected.get(key)
          if (request === undefined) continue
          emitted.add(key)
          const outcome = outcomeOf(line, request.id)
          yield* recorded(outcome, request.model)
          out.push(outcome)
        }
        if (out.length > 0) progressed = true
        token = nextToken(read.pagination_token)
        if (token === undefined || read.results.length === 0) {
          phase = (yield* afterPass(yield* Clock.currentTimeMillis)) ? "ended" : "look"
        }
        return Chunk.unsafeFromArray(out)
      })

      const step: Effect.Effect<Chunk.Chunk<GrokBatch.Outcome>, Option.Option<BatchError>> = Effect.suspend(() =>
        phase === "ended" ? Effect.fail(Option.none()) : Effect.mapError(phase === "look" ? look : page, Option.some)
      )
      return Stream.repeatEffectChunkOption(step)
    }))

  const results: GrokBatch.Service["results"] = (batchId, options) => resultsOf(batchId, undefined, options)

  const run: GrokBatch.Service["run"] = (job, options) =>
    Stream.unwrapScoped(Effect.gen(function*() {
      const encoded = yield* encode(job.requests)
      if (encoded.length === 0) return Stream.empty
      const { batch, resumed } = yield* openBatch(job.name)
      if (options?.onProgress !== undefined) yield* options.onProgress(batch)
      if (options?.cancelOnInterrupt === true) {
        yield* Effect.addFinalizer((exit) => Exit.isInterrupted(exit) ? Effect.ignore(cancel(batch.batch_id)) : Effect.void)
      }
      yield* fill(batch.batch_id, encoded, options, resumed && Batch.countersOf(batch).requests > 0)
      const expected = new Map(encoded.map((request) => [request.batchRequestId, { id: request.id, model: request.model }]))
      return resultsOf(batch.batch_id, expected, options)
    }))

  return { create, get, list, find, add, requestStates, results, cancel, submit, run }
}

/** The default retry of an add call (see `GrokBatch.defaultAddRetry`), built here to keep the public module free of a cycle. */
const defaultAddRetry: RetryPolicy.RetryPolicy = RetryPolicy.make({
  maxRetries: 8,
  base: "1 second",
  cap: "30 seconds",
  retryAfterCap: "2 minutes"
})

export { defaultAddRetry }
