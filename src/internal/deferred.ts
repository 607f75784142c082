/**
 * Deferred chat completions on the shared pipeline: submit with `"deferred": true` (xAI
 * answers `{"request_id"}`), then poll `GET /chat/deferred-completion/{id}` on a Schedule
 * until the completion comes back (200) instead of 202 "pending".
 *
 * The submit and every poll are attempts like any other (breaker, limiter permit, timeout,
 * classification, retries under the policy and the deadline, attempt metrics); the whole
 * exchange is one call in the call metrics. No connection is held while the job runs.
 *
 * @internal
 */
import type { HttpClientRequest } from "@effect/platform"
import { Clock, Duration, Effect, Option, ParseResult, Schedule, Schema } from "effect"
import * as GrokError from "../GrokError.js"
import * as Chat from "../schema/Chat.js"
import type { CallTrace } from "../telemetry/internal/record.js"
import {
  type CallSettings,
  type ClientContext,
  decodeError,
  measured,
  readJsonBody,
  exchangeWithRetries,
  recordAnswer
} from "./pipeline.js"

const Accepted = Schema.Struct({ request_id: Schema.String })
const decodeAccepted = Schema.decodeUnknown(Accepted)
const decodeCompletion = Schema.decodeUnknown(Chat.ChatCompletion)

export interface DeferredSpec {
  readonly model: string
  /** `POST /chat/completions` with `"deferred": true`. */
  readonly submit: HttpClientRequest.HttpClientRequest
  /** The token estimate of the request, charged when it is submitted. */
  readonly tokens: number
  /** `GET /chat/deferred-completion/{id}`. */
  readonly poll: (requestId: string) => HttpClientRequest.HttpClientRequest
}

const decoded = <A>(what: string, decode: (u: unknown) => Effect.Effect<A, ParseResult.ParseError>) => (body: unknown) =>
  Effect.mapError(decode(body), (error) =>
    decodeError(`${what} did not match the expected shape: ${ParseResult.TreeFormatter.formatErrorSync(error)}`, JSON.stringify(body)))

const submit = (ctx: ClientContext, spec: DeferredSpec, settings: CallSettings, trace: CallTrace) =>
  exchangeWithRetries(ctx, {
    operation: "chat",
    model: spec.model,
    request: () => spec.submit,
    tokens: spec.tokens,
    handle: (response) =>
      readJsonBody(response).pipe(
        Effect.flatMap(decoded("the deferred completion's acknowledgement", decodeAccepted)),
        Effect.map((accepted) => accepted.request_id)
      )
  }, settings, trace)

/** One poll: `None` while pending (202), the completion once it is ready (200). */
const pollOnce = (ctx: ClientContext, spec: DeferredSpec, requestId: string, settings: CallSettings, trace: CallTrace) =>
  exchangeWithRetries(ctx, {
    operation: "chat",
    model: spec.model,
    request: () => spec.poll(requestId),
    // Tokens were charged when the request was submitted.
    tokens: 0,
    handle: (response, cell) =>
      response.status === 202
        ? Effect.as(Effect.ignore(response.text), Option.none<Chat.ChatCompletion>())
        : readJsonBody(response).pipe(
          Effect.flatMap(decoded("the deferred completion", decodeCompletion)),
          Effect.tap((completion) => recordAnswer(cell, completion)),
          Effect.map(Option.some)
        )
  }, settings, trace)

const stillPending = (requestId: string, polls: number, waited: Duration.Duration) =>
  new GrokError.Timeout({
    message: `deferred completion ${requestId} still pending after ${polls} poll${polls === 1 ? "" : "s"} over ${
      Duration.format(waited)
    }: the poll schedule ended (the id stays valid for 24 hours)`,
    status: null,
    retryable: false,
    requestId,
    phase: "deadline",
    after: waited
  })

/**
 * Submit, then poll on `schedule` (one poll at once, then one per recurrence) until the
 * completion is ready. When the schedule ends first, fail with `Timeout` (phase "deadline",
 * not retryable) carrying the request id.
 */
export const run = (
  ctx: ClientContext,
  spec: DeferredSpec,
  settings: CallSettings,
  schedule: Schedule.Schedule<unknown, void>
): Effect.Effect<Chat.ChatCompletion, GrokError.GrokError> =>
  measured(
    { operation: "chat", model: spec.model },
    (trace) => Effect.gen(function*() {
      const requestId = yield* submit(ctx, spec, settings, trace)
      const started = yield* Clock.currentTimeMillis
      const driver = yield* Schedule.driver(schedule)
      for (let polls = 1;; polls++) {
        const ready = yield* pollOnce(ctx, spec, requestId, settings, trace)
        if (Option.isSome(ready)) return ready.value
        const next = yield* Effect.option(driver.next(undefined))
        if (Option.isNone(next)) {
          const waited = Duration.millis((yield* Clock.currentTimeMillis) - started)
          return yield* Effect.fail(stillPending(requestId, polls, waited))
        }
      }
    })
  )
