/**
 * Embeddings asked one text at a time, sent many texts at a time.
 *
 * Concurrent {@link Service.embed} calls that arrive within `window` of each other are
 * gathered and resolved through Effect's `RequestResolver`: identical requests (same text,
 * model and dimensions) are asked once (the request cache of the batch), the rest are cut
 * into API calls of at most `maxBatchSize` inputs (`RequestResolver.batchN`), one
 * `POST /embeddings` per model and dimensions. Every call goes through the client's pipeline
 * (limiter, breaker, retries, metrics); when it fails, every text it carried fails with the
 * same `GrokError`.
 *
 * ```ts
 * const vectors = yield* Effect.forEach(texts, (text) => batcher.embed(text), { concurrency: "unbounded" })
 * ```
 *
 * @since 0.1.0
 */
import {
  Context,
  Data,
  Deferred,
  Duration,
  Effect,
  Either,
  FiberSet,
  Layer,
  Queue,
  Request,
  RequestResolver,
  type Scope
} from "effect"
import type { NonEmptyArray } from "effect/Array"
import * as GrokClient from "./GrokClient.js"
import * as GrokError from "./GrokError.js"

/**
 * @since 0.1.0
 */
export interface Options {
  /** Most inputs in one API call (a whole number >= 1). Default 64. */
  readonly maxBatchSize?: number | undefined
  /** How long the first text of a batch waits for company before it is sent (finite, >= 0). Default 10 ms. */
  readonly window?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 */
export interface ValidOptions {
  readonly maxBatchSize: number
  readonly window: Duration.Duration
}

/**
 * 64 inputs per call, a 10 ms window: a burst of texts becomes a few calls, and a lone
 * text waits 10 ms, nothing next to an embeddings round trip.
 *
 * @since 0.1.0
 */
export const defaults: ValidOptions = { maxBatchSize: 64, window: Duration.millis(10) }

/**
 * An option was out of range.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidEmbeddingBatcherOptions extends Data.TaggedError("InvalidEmbeddingBatcherOptions")<{
  readonly option: string
  readonly message: string
}> {}

/**
 * Check options without building anything.
 *
 * @since 0.1.0
 */
export const validate = (options: Options = {}): Either.Either<ValidOptions, InvalidEmbeddingBatcherOptions> => {
  const maxBatchSize = options.maxBatchSize ?? defaults.maxBatchSize
  if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) {
    return Either.left(new InvalidEmbeddingBatcherOptions({ option: "maxBatchSize", message: `maxBatchSize: must be a whole number >= 1, got ${maxBatchSize}` }))
  }
  if (options.window === undefined) return Either.right({ maxBatchSize, window: defaults.window })
  const window = Duration.decodeUnknown(options.window)
  if (window._tag === "None" || !Duration.isFinite(window.value)) {
    return Either.left(new InvalidEmbeddingBatcherOptions({ option: "window", message: `window: must be a finite duration, got ${String(options.window)}` }))
  }
  return Either.right({ maxBatchSize, window: window.value })
}

/**
 * Per-text settings; texts with different ones never share a call.
 *
 * @since 0.1.0
 */
export interface EmbedOptions {
  /** Default: the client's model. */
  readonly model?: string | undefined
  readonly dimensions?: number | undefined
}

/**
 * @since 0.1.0
 */
export interface Service {
  /** The vector of one text, asked together with the texts embedded at the same time. */
  readonly embed: (input: string, options?: EmbedOptions) => Effect.Effect<ReadonlyArray<number>, GrokError.GrokError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class EmbeddingBatcher extends Context.Tag("effect-grok/EmbeddingBatcher")<EmbeddingBatcher, Service>() {}

/** One text to embed; structurally equal requests are resolved once per batch. */
class EmbedText extends Request.TaggedClass("EmbedText")<ReadonlyArray<number>, GrokError.GrokError, {
  readonly input: string
  readonly model: string
  readonly dimensions: number | undefined
}> {}

interface Pending {
  readonly request: EmbedText
  readonly done: Deferred.Deferred<ReadonlyArray<number>, GrokError.GrokError>
}

const missingVector = (index: number) =>
  new GrokError.DecodeError({
    message: `the embeddings response has no vector for input ${index}`,
    status: 200,
    retryable: false
  })

/** One API call for texts of the same model and dimensions. */
const embedGroup = (grok: GrokClient.Service, requests: NonEmptyArray<EmbedText>) => {
  const [{ dimensions, model }] = requests
  return grok.embed({ model, input: requests.map((request) => request.input), ...(dimensions === undefined ? {} : { dimensions }) }).pipe(
    Effect.matchEffect({
      onFailure: (error) => Effect.forEach(requests, (request) => Request.fail(request, error), { discard: true }),
      onSuccess: (response) => {
        const vectors = new Map(response.data.map((item) => [item.index, item.embedding]))
        return Effect.forEach(requests, (request, index) => {
          const vector = vectors.get(index)
          return vector === undefined ? Request.fail(request, missingVector(index)) : Request.succeed(request, vector)
        }, { discard: true })
      }
    })
  )
}

const groupKey = (request: EmbedText) => `${request.model}\u0000${request.dimensions ?? ""}`

const resolverOf = (grok: GrokClient.Service, maxBatchSize: number) =>
  RequestResolver.makeBatched((requests: NonEmptyArray<EmbedText>) => {
    const groups = new Map<string, NonEmptyArray<EmbedText>>()
    for (const request of requests) {
      const group = groups.get(groupKey(request))
      if (group === undefined) groups.set(groupKey(request), [request])
      else group.push(request)
    }
    return Effect.forEach(groups.values(), (group) => embedGroup(grok, group), { concurrency: "unbounded", discard: true })
  }).pipe(RequestResolver.batchN(maxBatchSize))

/**
 * A batcher over the `GrokClient` in context, from options already validated; it stops with
 * its scope (texts still waiting are interrupted).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromValid = (options: ValidOptions): Effect.Effect<Service, never, GrokClient.GrokClient | Scope.Scope> =>
  Effect.gen(function*() {
    const grok = yield* GrokClient.GrokClient
    const resolver = resolverOf(grok, options.maxBatchSize)
    const queue = yield* Queue.unbounded<Pending>()
    const running = yield* FiberSet.make()

    /** One window's texts: duplicates share the batch's request cache, the resolver cuts the rest into calls. */
    const resolve = (batch: ReadonlyArray<Pending>) =>
      Effect.flatMap(Request.makeCache({ capacity: batch.length, timeToLive: Duration.minutes(1) }), (cache) =>
        Effect.forEach(
          batch,
          ({ done, request }) => Effect.flatMap(Effect.exit(Effect.request(request, resolver)), (exit) => Deferred.done(done, exit)),
          { batching: true, discard: true }
        ).pipe(Effect.withRequestCaching(true), Effect.withRequestCache(cache))).pipe(
          Effect.onInterrupt(() => Effect.forEach(batch, ({ done }) => Deferred.interrupt(done), { discard: true }))
        )

    const collect = Effect.gen(function*() {
      const first = yield* Queue.take(queue)
      if ((yield* Queue.size(queue)) < options.maxBatchSize - 1) yield* Effect.sleep(options.window)
      const rest = yield* Queue.takeAll(queue)
      yield* FiberSet.run(running, resolve([first, ...rest]))
    })
    yield* Effect.forkScoped(Effect.forever(collect))
    yield* Effect.addFinalizer(() =>
      Effect.flatMap(Queue.takeAll(queue), (left) => Effect.forEach(left, ({ done }) => Deferred.interrupt(done), { discard: true }))
    )

    return {
      embed: (input, embedOptions) =>
        Effect.flatMap(Deferred.make<ReadonlyArray<number>, GrokError.GrokError>(), (done) =>
          Queue.offer(queue, {
            request: new EmbedText({ input, model: embedOptions?.model ?? grok.config.model, dimensions: embedOptions?.dimensions }),
            done
          }).pipe(Effect.zipRight(Deferred.await(done))))
    }
  })

/**
 * A batcher over the `GrokClient` in context. Dies with {@link InvalidEmbeddingBatcherOptions}
 * when an option is out of range (use {@link validate} for options from configuration).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: Options): Effect.Effect<Service, never, GrokClient.GrokClient | Scope.Scope> =>
  Effect.flatMap(Effect.orDie(validate(options)), fromValid)

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<EmbeddingBatcher, InvalidEmbeddingBatcherOptions, GrokClient.GrokClient> =>
  Layer.scoped(EmbeddingBatcher, Effect.flatMap(validate(options), fromValid))
