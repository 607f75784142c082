/**
 * Bulk work through xAI's Batch API: requests that do not count toward rate limits, are
 * billed at a discount on the current models, and finish within 24 hours (best effort).
 *
 * ```ts
 * const program = Effect.gen(function*() {
 *   const batches = yield* GrokBatch.GrokBatch
 *   const job = { name: "classify-2026-10", requests: tickets.map((t) => ({ id: t.id, chat: { messages: [...] } })) }
 *   // Creates the batch (or finds it again after a crash), adds what it lacks, and streams
 *   // the results as they arrive: one outcome per request, matched by the caller's id.
 *   yield* batches.run(job).pipe(Stream.runForEach((outcome) => save(outcome)))
 * }).pipe(Effect.provide(NodeGrokBatch.layerConfig())) // from "effect-grok/node"; or GrokBatch.layerConfig() on any HttpClient
 * ```
 *
 * - **Idempotent and resumable.** A request's `batch_request_id` is derived from the caller's
 *   id, and a job is found again by its `name`: running the same job after a crash or an
 *   interruption resumes the same batch, adds only the requests it does not have yet, and
 *   reads every result again (results stay readable until the batch expires).
 * - **Adds respect the add-call limits**: requests go in calls of at most 100 requests and
 *   10 MB (xAI takes 25 MB per request); an add refused for the add-call limit (429) waits
 *   its Retry-After; a call that may have reached the server (no answer, a 5xx) is retried
 *   only for the requests the batch does not list.
 * - **Results as a Stream**, read page by page while the batch runs (polled on a `Schedule`)
 *   and matched by `batch_request_id`: they come in no guaranteed order.
 * - **Interrupting the caller never cancels the server-side work**, unless `cancelOnInterrupt`
 *   asks for it: the batch keeps running and the next run picks it up.
 *
 * @since 0.2.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import { type Config, type ConfigError, Context, type Duration, Effect, Layer, Option, type Schedule, Schema, type Stream } from "effect"
import * as ApiKeyProvider from "./ApiKeyProvider.js"
import type * as BatchError from "./BatchError.js"
import type * as GrokClient from "./GrokClient.js"
import * as GrokConfig from "./GrokConfig.js"
import type * as GrokError from "./GrokError.js"
import * as Client from "./internal/batch/client.js"
import * as Requests from "./internal/batch/requests.js"
import * as RetryPolicy from "./resilience/RetryPolicy.js"
import type * as Batch from "./schema/Batch.js"
import * as Chat from "./schema/Chat.js"

/**
 * One request of a job: the caller's `id` (unique within the job) and the request for one
 * endpoint, whose `model` defaults to the client's. The id's `batch_request_id` is
 * {@link batchRequestId}.
 *
 * @since 0.2.0
 * @category models
 */
export type BatchRequest =
  | { readonly id: string; readonly chat: GrokClient.ChatRequest }
  | { readonly id: string; readonly responses: GrokClient.ResponsesRequest }

/**
 * A batch job: its requests, and the name its batch is found by when the job runs again.
 *
 * @since 0.2.0
 * @category models
 */
export interface Job {
  /**
   * The batch's name. A run finds the open batch with this name (not cancelled, not expired)
   * and resumes it; without one it creates it. Derive it from what makes the job this job
   * (an input file's digest, a date): two jobs that share a name share a batch.
   */
  readonly name: string
  readonly requests: ReadonlyArray<BatchRequest>
}

/**
 * A request that succeeded: the endpoint that answered (`chat_get_completion` for chat and,
 * as xAI runs them, for Responses requests too) and its answer as sent.
 *
 * @since 0.2.0
 * @category models
 */
export interface Succeeded {
  readonly _tag: "Succeeded"
  /** The caller's id (the `batch_request_id` itself for a batch read without its job). */
  readonly id: string
  readonly batchRequestId: string
  readonly endpoint: string
  /** The answer as xAI sent it (a chat completion for `chat_get_completion`: see {@link completionOf}). */
  readonly body: unknown
}

/**
 * A request that failed while the batch ran (its error read from whichever form the server
 * used: a bare string, `{code, message}`, or `error_message`).
 *
 * @since 0.2.0
 * @category models
 */
export interface Failed {
  readonly _tag: "Failed"
  readonly id: string
  readonly batchRequestId: string
  /** The server's code when it sent one (`[WKE=...]` in a bare message counts), else `undefined`. */
  readonly code: string | undefined
  readonly message: string
}

/**
 * A request the batch's cancellation (or expiry) stopped before it ran.
 *
 * @since 0.2.0
 * @category models
 */
export interface Cancelled {
  readonly _tag: "Cancelled"
  readonly id: string
  readonly batchRequestId: string
  readonly message: string
}

/**
 * What became of one request: exactly one per request.
 *
 * @since 0.2.0
 * @category models
 */
export type Outcome = Succeeded | Failed | Cancelled

/**
 * What adding did.
 *
 * @since 0.2.0
 * @category models
 */
export interface AddSummary {
  /** Requests sent and admitted by this run. */
  readonly added: number
  /** Requests the batch already had (from an earlier run), not sent again. */
  readonly alreadyPresent: number
  /** Add calls made, retries included. */
  readonly addCalls: number
  /** Add calls answered 429 (the add-call limit), each waited out. */
  readonly throttled: number
}

/**
 * What submitting a job did: its batch, found again or created, and what was added.
 *
 * @since 0.2.0
 * @category models
 */
export interface Submitted extends AddSummary {
  readonly batch: Batch.Batch
  /** `true` when the batch existed (an earlier run of the job made it). */
  readonly resumed: boolean
}

/**
 * Options of {@link Service.add}.
 *
 * @since 0.2.0
 * @category models
 */
export interface AddOptions {
  /** Requests per add call, at most. Default {@link defaultMaxRequestsPerAdd}. */
  readonly maxRequestsPerAdd?: number | undefined
  /** Bytes per add call, at most (a single larger request goes alone). Default {@link defaultMaxBytesPerAdd}. */
  readonly maxBytesPerAdd?: number | undefined
  /** Retries of one add call (429s included; Retry-After is a floor). Default {@link defaultAddRetry}. */
  readonly addRetry?: RetryPolicy.RetryPolicy | undefined
  /** Told after each admitted add call: requests added so far by this run, and how many it had to add. */
  readonly onAdded?: ((added: number, toAdd: number) => Effect.Effect<void>) | undefined
}

/**
 * Options of {@link Service.results}.
 *
 * @since 0.2.0
 * @category models
 */
export interface ResultsOptions {
  /**
   * When to look at the batch again while it runs (input: nothing). Restarted whenever a look
   * brought results. When it ends first, the stream fails with `BatchIncomplete`
   * (`poll-ended`). Default {@link defaultPoll}.
   */
  readonly poll?: Schedule.Schedule<unknown, void> | undefined
  /** Results per page (1 to 1000). Default 1000. */
  readonly pageSize?: number | undefined
  /** Told each time the batch is looked at (by `run`, also when it was found or created): its counters. */
  readonly onProgress?: ((batch: Batch.Batch) => Effect.Effect<void>) | undefined
  /**
   * After a cancel, how long to keep reading for requests that were in flight and may still
   * land. Default 1 minute.
   */
  readonly cancelGrace?: Duration.DurationInput | undefined
}

/**
 * Options of {@link Service.run}.
 *
 * @since 0.2.0
 * @category models
 */
export interface RunOptions extends AddOptions, ResultsOptions {
  /** Cancel the batch on the server when the run is interrupted. Default `false`: the work goes on. */
  readonly cancelOnInterrupt?: boolean | undefined
}

/**
 * @since 0.2.0
 * @category models
 */
export interface Service {
  /** Create a batch (empty; add requests with {@link Service.add}). */
  readonly create: (name: string) => Effect.Effect<Batch.Batch, GrokError.GrokError>
  readonly get: (batchId: string) => Effect.Effect<Batch.Batch, GrokError.GrokError>
  /** Every batch of the team, page by page. */
  readonly list: Stream.Stream<Batch.Batch, GrokError.GrokError>
  /** The open batch (not cancelled, not expired) named `name`; with several, the one with the most requests. */
  readonly find: (name: string) => Effect.Effect<Option.Option<Batch.Batch>, GrokError.GrokError>
  /**
   * Add requests to a batch: validated first (nothing is sent if any is unusable), then those
   * the batch does not list yet, in add calls that respect the limits.
   */
  readonly add: (
    batchId: string,
    requests: ReadonlyArray<BatchRequest>,
    options?: AddOptions
  ) => Effect.Effect<AddSummary, BatchError.BatchError>
  /** The state of each request of a batch (`pending`, `succeeded`, `failed`, `cancelled`), page by page. */
  readonly requestStates: (batchId: string) => Stream.Stream<Batch.RequestMetadata, GrokError.GrokError>
  /**
   * Every result of a batch, once each, as it arrives; the stream ends when the batch has
   * finished and every result was read. Outcomes carry the `batch_request_id` as their id.
   */
  readonly results: (batchId: string, options?: ResultsOptions) => Stream.Stream<Outcome, BatchError.BatchError>
  /** Cancel a batch: pending requests are not run; results already produced stay readable. */
  readonly cancel: (batchId: string) => Effect.Effect<Batch.Batch, GrokError.GrokError>
  /** Find the job's batch or create it, then add what it lacks. */
  readonly submit: (job: Job, options?: AddOptions) => Effect.Effect<Submitted, BatchError.BatchError>
  /**
   * The whole job: {@link Service.submit}, then the results of its requests as they arrive,
   * one outcome per request, with the caller's ids. Fails with `BatchIncomplete` when the
   * batch ends without some of them.
   */
  readonly run: (job: Job, options?: RunOptions) => Stream.Stream<Outcome, BatchError.BatchError>
}

/**
 * @since 0.2.0
 * @category tags
 */
export class GrokBatch extends Context.Tag("effect-grok/GrokBatch")<GrokBatch, Service>() {}

/**
 * Requests per add call by default: progress is saved in small steps (an interrupted run
 * loses at most one call's worth of certainty), and a call refused whole refuses few.
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultMaxRequestsPerAdd = 100

/**
 * Bytes per add call by default: well under the 25 MB that xAI takes per request (earlier
 * docs said per add call).
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultMaxBytesPerAdd = 10 * 1024 * 1024

/**
 * Retries of one add call by default: up to 8, 1 s doubling to 30 s with full jitter, never
 * sooner than the server's Retry-After (up to 2 minutes; xAI's add-call window is 30 s).
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultAddRetry: RetryPolicy.RetryPolicy = Client.defaultAddRetry

/**
 * Polling by default: after 1 s, 1.5 times longer each time up to once a minute, for ever
 * (a batch may take up to 24 hours; it ends by finishing, a cancel or its expiry).
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultPoll: Schedule.Schedule<unknown, void> = Client.defaultPoll

/**
 * The `batch_request_id` a caller's id is sent as: the id itself when it is plain (letters,
 * digits, `._:@-`, at most 128 characters), otherwise `id-sha256-` and 40 hex digits of its
 * hash. The same id always gives the same `batch_request_id`.
 *
 * @since 0.2.0
 * @category utils
 */
export const batchRequestId: (id: string) => string = Requests.batchRequestId

const decodeCompletion = Schema.decodeUnknownOption(Chat.ChatCompletion)

/**
 * The chat completion a successful outcome carries (`None` for other endpoints, or a body
 * that is not one).
 *
 * @since 0.2.0
 * @category getters
 */
export const completionOf = (outcome: Outcome): Option.Option<Chat.ChatCompletion> =>
  outcome._tag === "Succeeded" && outcome.endpoint === "chat_get_completion" ? decodeCompletion(outcome.body) : Option.none()

/**
 * Build the batch client over an `HttpClient`. Reads, when provided, `ApiKeyProvider` (default:
 * the configured key) and `RetryPolicy.RetrySettings` (the retries of reads and cancels, and
 * the attempt timeout).
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (config: GrokConfig.GrokConfig): Effect.Effect<Service, never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const http = yield* HttpClient.HttpClient
    const keys = Option.getOrElse(yield* Effect.serviceOption(ApiKeyProvider.ApiKeyProvider), () => ApiKeyProvider.fixed(config.apiKey))
    const retry = yield* RetryPolicy.RetrySettings
    return Client.make({ config, http, keys, retry })
  })

/**
 * @since 0.2.0
 * @category layers
 */
export const layer = (input: GrokConfig.GrokConfigInput): Layer.Layer<GrokBatch, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.effect(GrokBatch, Effect.flatMap(GrokConfig.make(input), make))

/**
 * Read the settings from `Config` (by default the environment: `XAI_API_KEY`, `XAI_BASE_URL`,
 * `XAI_MODEL`, `XAI_TIMEOUT`). A missing key fails here, at start-up.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config<GrokConfig.GrokConfig> = GrokConfig.fromEnv
): Layer.Layer<GrokBatch, ConfigError.ConfigError, HttpClient.HttpClient> => Layer.effect(GrokBatch, Effect.flatMap(config, make))
