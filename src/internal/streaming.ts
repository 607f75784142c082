/**
 * Streaming calls (chat completions and responses) on the shared pipeline.
 *
 * A stream is retried transparently only until its first content event: up to then nothing
 * has reached the caller, so a new attempt loses nothing. After it, a failure ends the
 * stream with a typed error that carries the partial output received, because a retry would
 * duplicate text the caller already consumed.
 *
 * Two timeouts protect against stalls: the first-token timeout bounds one attempt's wait for
 * its first content event (and is retryable), the idle timeout bounds the silence between
 * events once content flows.
 *
 * @internal
 */
import type { HttpClientResponse } from "@effect/platform"
import { Cause, type Chunk, Duration, Effect, Exit, Option, Scope, Stream, type Tracer } from "effect"
import * as GrokError from "../GrokError.js"
import * as Record from "../telemetry/internal/record.js"
import {
  admittingFirst,
  attempt,
  attemptsUntil,
  callEnded,
  type CallSettings,
  callSpanName,
  callSpanOptions,
  type ClientContext,
  decodeError,
  type FirstAdmission,
  isJson,
  type Operation,
  type OutcomeCell,
  type AnswerLike,
  readJsonBody
} from "./pipeline.js"
import type { HttpClientRequest } from "@effect/platform"

export interface StreamSettings extends CallSettings {
  readonly firstTokenTimeout: Duration.Duration
  readonly idleTimeout: Duration.Duration
}

/** How one streaming endpoint reads its events. */
export interface StreamSpec<A> {
  readonly operation: Operation
  readonly model: string
  readonly request: HttpClientRequest.HttpClientRequest
  readonly tokens: number
  /** Decode a 2xx event-stream body into events; transport and decode failures already mapped. */
  readonly events: (response: HttpClientResponse.HttpClientResponse) => Stream.Stream<A, GrokError.GrokError>
  /** Whether an event carries content the caller would see (text, reasoning, a tool call). */
  readonly isContent: (event: A) => boolean
  /** Add an event's content to the partial output. */
  readonly track: (partial: MutablePartial, event: A) => void
  /**
   * What an event says of the whole answer, if it does (the last chunk with `include_usage`,
   * the final response): its usage, the model that answered, the service tier granted.
   */
  readonly answerOf: (event: A) => AnswerLike | undefined
  /** Whether an event marks a complete answer; a stream that ends without one was cut. */
  readonly isFinal: (event: A) => boolean
  /** A failure the server reports as an event (e.g. `response.failed`). */
  readonly failureOf: (event: A) => GrokError.GrokError | undefined
}

export interface MutablePartial {
  content: string
  reasoning: string
  chunks: number
}

const snapshot = (partial: MutablePartial): GrokError.PartialOutput => ({ ...partial })

interface Opened<A> {
  readonly scope: Scope.CloseableScope
  readonly pull: Effect.Effect<Chunk.Chunk<A>, Option.Option<GrokError.GrokError>>
  readonly buffered: ReadonlyArray<A>
  readonly ended: boolean
  readonly final: boolean
  readonly partial: MutablePartial
  readonly cell: OutcomeCell
}

const pullUntilContent = <A>(
  spec: StreamSpec<A>,
  response: HttpClientResponse.HttpClientResponse,
  cell: OutcomeCell
) =>
  Effect.gen(function*() {
    if (isJson(response)) {
      // A 200 JSON answer to a stream request is an xAI error (e.g. "Timed out waiting for
      // first token"); readJsonBody turns it into ErrorInBody. Anything else is malformed.
      const body = yield* readJsonBody(response)
      return yield* Effect.fail(decodeError("expected an event stream, got a JSON body", JSON.stringify(body), response))
    }
    const pull = yield* Stream.toPull(spec.events(response))
    const buffered: Array<A> = []
    const partial: MutablePartial = { content: "", reasoning: "", chunks: 0 }
    let final = false
    while (true) {
      const next = yield* Effect.either(pull)
      if (next._tag === "Left") {
        if (Option.isNone(next.left)) return { pull, buffered, ended: true, final, partial, cell }
        return yield* Effect.fail(next.left.value)
      }
      let sawContent = false
      for (const event of next.right) {
        const failure = spec.failureOf(event)
        if (failure !== undefined) return yield* Effect.fail(failure)
        buffered.push(event)
        spec.track(partial, event)
        const usage = spec.answerOf(event)?.usage
        if (usage?.total_tokens != null) cell.usedTokens = usage.total_tokens
        if (spec.isFinal(event)) final = true
        if (spec.isContent(event)) sawContent = true
      }
      if (sawContent) return { pull, buffered, ended: false, final, partial, cell }
    }
  })

/** Open one attempt: its resources live in a scope that outlives the attempt on success. */
const open = <A>(
  ctx: ClientContext,
  spec: StreamSpec<A>,
  settings: StreamSettings,
  apiKey: Parameters<typeof attempt>[3],
  deadlineAt: number,
  trace: Record.CallTrace,
  first: FirstAdmission | undefined
): Effect.Effect<Opened<A>, GrokError.GrokError> =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const opened = yield* attempt(
      ctx,
      {
        operation: spec.operation,
        model: spec.model,
        request: () => spec.request,
        tokens: spec.tokens,
        handle: (response, cell) => pullUntilContent(spec, response, cell),
        onTimeout: (after) =>
          new GrokError.FirstTokenTimeout({
            message: `no content within ${Duration.format(after)} of sending the request`,
            status: null,
            retryable: true,
            after
          })
      },
      { ...settings, attemptTimeout: settings.firstTokenTimeout },
      apiKey,
      deadlineAt,
      trace,
      first
    ).pipe(
      Scope.extend(scope),
      Effect.onExit((exit) => (Exit.isSuccess(exit) ? Effect.void : Scope.close(scope, exit)))
    )
    return { ...opened, scope }
  })

/** The call's metrics and span outcome when the stream ends (its scope closes), as for `measured`. */
const recordEnd = (trace: Record.CallTrace, span: Tracer.Span, started: number, exit: Exit.Exit<unknown, unknown>) =>
  Exit.isInterrupted(exit)
    ? Effect.void
    : callEnded(
      trace,
      span,
      started,
      Exit.isFailure(exit) ? Option.filter(Cause.failureOption(exit.cause), GrokError.isGrokError) : Option.none(),
      Exit.isFailure(exit)
    )

/**
 * A streaming call on the shared pipeline. Like a plain call, it asks for its first permit
 * before it sets up anything else (`admittingFirst`), so that a stream waiting in the
 * limiter's queue holds little beyond Effect's own Stream machinery.
 */
export const stream = <A>(
  ctx: ClientContext,
  spec: StreamSpec<A>,
  settings: StreamSettings
): Stream.Stream<A, GrokError.GrokError> =>
  Stream.unwrapScoped(admittingFirst(ctx, spec, settings, opening))

/** Open the stream once its first admission is settled: retried until the first content. */
const opening = <A>(
  ctx: ClientContext,
  spec: StreamSpec<A>,
  settings: StreamSettings,
  started: number,
  deadlineAt: number,
  first: FirstAdmission | undefined
): Effect.Effect<Stream.Stream<A, GrokError.GrokError>, GrokError.GrokError, Scope.Scope> =>
  Effect.gen(function*() {
    // The call's span lives as long as the stream; its attempts are children.
    const span = yield* Effect.makeSpanScoped(callSpanName(spec), callSpanOptions(spec))
    const trace = Record.makeTrace(spec.operation, spec.model)
    // Added first so that it runs last (before the span ends), and also for a call that never got its first content.
    yield* Effect.addFinalizer((exit) => recordEnd(trace, span, started, exit))
    const opened = yield* attemptsUntil(ctx, settings, spec, deadlineAt, trace, first, (apiKey, admission) =>
      open(ctx, spec, settings, apiKey, deadlineAt, trace, admission)).pipe(Effect.withParentSpan(span))
    const { partial, cell } = opened
    let final = opened.final
    yield* Effect.addFinalizer((exit) => Scope.close(opened.scope, exit))
    const observe = (event: A): Effect.Effect<void, GrokError.GrokError> => {
      const failure = spec.failureOf(event)
      if (failure !== undefined) {
        return Effect.fail(
          new GrokError.StreamBroken({
            message: `the stream failed after content started: ${failure.message}`,
            status: failure.status,
            retryable: false,
            requestId: failure.requestId,
            partial: snapshot(partial),
            cause: failure
          })
        )
      }
      spec.track(partial, event)
      if (spec.isFinal(event)) final = true
      const answer = spec.answerOf(event)
      if (answer === undefined) return Effect.void
      if (answer.usage?.total_tokens != null) cell.usedTokens = answer.usage.total_tokens
      return Record.answerRecorded(spec.model, spec.operation, answer, span)
    }
    const buffered = Stream.fromIterable(opened.buffered).pipe(
      Stream.tap((event) => {
        const answer = spec.answerOf(event)
        return answer === undefined ? Effect.void : Record.answerRecorded(spec.model, spec.operation, answer, span)
      })
    )
    const rest: Stream.Stream<A, GrokError.GrokError> = opened.ended
      ? Stream.empty
      : Stream.repeatEffectChunkOption(
        opened.pull.pipe(
          Effect.timeoutFail({
            duration: settings.idleTimeout,
            onTimeout: () =>
              Option.some<GrokError.GrokError>(
                new GrokError.IdleTimeout({
                  message: `the stream was silent for ${Duration.format(settings.idleTimeout)} after content started`,
                  status: null,
                  retryable: false,
                  after: settings.idleTimeout,
                  partial: snapshot(partial)
                })
              )
          }),
          Effect.mapError(Option.map((error): GrokError.GrokError =>
            error._tag === "IdleTimeout" || error._tag === "StreamBroken"
              ? error
              : new GrokError.StreamBroken({
                message: `the stream broke after content started: ${error.message}`,
                status: error.status,
                retryable: false,
                requestId: error.requestId,
                partial: snapshot(partial),
                cause: error
              })
          ))
        )
      ).pipe(Stream.tap(observe))
    const completeness = Stream.fromEffect(
      Effect.suspend(() =>
        final
          ? Effect.void
          : Effect.fail(
            new GrokError.StreamBroken({
              message: "the stream ended before the answer was complete",
              status: cell.status,
              retryable: false,
              partial: snapshot(partial)
            })
          )
      )
    ).pipe(Stream.drain)
    return Stream.concat(Stream.concat(buffered, rest), completeness)
  })
