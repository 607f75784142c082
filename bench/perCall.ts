/**
 * What one call costs in Effect's own currency, counted rather than timed: Effect operations
 * run, fibers started and bytes allocated per call, for `GrokClient.chat` and for a raw
 * `HttpClient` call, both against an in-memory `HttpClient` that answers at once (so only the
 * client's own work is counted, not the network's).
 *
 * The overhead scenario times calls over loopback, and on a shared 2-core machine its figure
 * moves by tens of microseconds from run to run. These counts do not move: they show whether
 * a change to the call path made it lighter. Operations are counted by a `Supervisor` with
 * op supervision on; allocation by V8's sampling heap profiler, keeping the objects already
 * collected (a sample, so within a few per cent).
 *
 * Run directly (`node .bench-build/bench/perCall.js`) it prints its results.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { Console, Context, Effect, Layer, RuntimeFlags, RuntimeFlagsPatch, Supervisor } from "effect"
import { Session } from "node:inspector/promises"
import { pathToFileURL } from "node:url"
import * as GrokClient from "../src/GrokClient.js"
import * as EffectHttp from "./clients/effectHttp.js"
import { requestBody } from "./clients/shared.js"

/** @since 0.1.0 */
export interface CallCost {
  readonly operations: number
  readonly fibers: number
  readonly allocatedKB: number
}

/** @since 0.1.0 */
export interface PerCallBench {
  readonly effectGrok: CallCost
  readonly rawHttpClient: CallCost
}

/** A chat completion in the shape xAI sends (and the simulator mimics). */
const completion = JSON.stringify({
  id: "2d6f0c1e-0000-0000-0000-000000000000",
  object: "chat.completion",
  created: 1796587916,
  model: "grok-4",
  choices: [{ index: 0, message: { role: "assistant", content: "A resilient system degrades, it does not fall.", refusal: null }, finish_reason: "stop" }],
  usage: {
    prompt_tokens: 17,
    completion_tokens: 13,
    total_tokens: 39,
    prompt_tokens_details: { text_tokens: 17, audio_tokens: 0, image_tokens: 0, cached_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 9, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
    num_sources_used: 0,
    cost_in_usd_ticks: 144000
  },
  system_fingerprint: "fp_bench"
})

const answering = HttpClient.make((request) =>
  Effect.sync(() =>
    HttpClientResponse.fromWeb(
      request,
      new Response(completion, { status: 200, headers: { "content-type": "application/json", "x-request-id": "bench" } })
    )
  )
)

// Loopback, so that the configuration check (https off loopback) passes; nothing is sent.
const baseUrl = "http://127.0.0.1:9/v1"

type Call = (index: number) => Effect.Effect<unknown>

/** The overhead scenario's raw call, on the answering client. */
const raw: Call = EffectHttp.rawCall(answering, { url: baseUrl, apiKey: "bench-key" })

class Counter extends Supervisor.AbstractSupervisor<void> {
  operations = 0
  fibers = 0
  get value() {
    return Effect.void
  }
  override onStart() {
    this.fibers++
  }
  override onEffect() {
    this.operations++
  }
}

const sequentially = (call: Call, from: number, count: number) =>
  Effect.gen(function*() {
    for (let i = from; i < from + count; i++) yield* call(i)
  })

const costOf = (call: Call, session: Session, count: number): Effect.Effect<CallCost> =>
  Effect.gen(function*() {
    // Warm up: first calls build caches (limiter key, metric series) a steady call does not.
    yield* sequentially(call, 0, 500)
    const counter = new Counter()
    yield* Effect.supervised(
      Effect.withRuntimeFlagsPatch(sequentially(call, 500, count), RuntimeFlagsPatch.enable(RuntimeFlags.OpSupervision)),
      counter
    )
    yield* Effect.promise(() =>
      session.post("HeapProfiler.startSampling", {
        samplingInterval: 512,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true
      })
    )
    yield* sequentially(call, 500 + count, count)
    const { profile } = yield* Effect.promise(() => session.post("HeapProfiler.stopSampling"))
    let bytes = 0
    const walk = (node: typeof profile.head): void => {
      bytes += node.selfSize
      for (const child of node.children) walk(child)
    }
    walk(profile.head)
    return {
      operations: Math.round((counter.operations / count) * 10) / 10,
      fibers: Math.round((counter.fibers / count) * 100) / 100,
      allocatedKB: Math.round(bytes / count / 1024)
    }
  })

const perCall = (count: number) =>
  Effect.scoped(Effect.gen(function*() {
    const session = new Session()
    session.connect()
    yield* Effect.addFinalizer(() => Effect.sync(() => session.disconnect()))
    const context = yield* Layer.build(
      GrokClient.layer({ apiKey: "bench-key", baseUrl }).pipe(Layer.provide(Layer.succeed(HttpClient.HttpClient, answering)))
    )
    const grok = Context.get(context, GrokClient.GrokClient)
    const effectGrok = yield* costOf((index) => Effect.ignore(grok.chat(requestBody(index))), session, count)
    const rawHttpClient = yield* costOf(raw, session, count)
    return { effectGrok, rawHttpClient }
  })).pipe(Effect.orDie)

/**
 * Count what a call costs (for `npm run bench`): `count` calls of each, one at a time.
 *
 * @since 0.1.0
 */
export const benchPerCall = (count = 2_000): Promise<PerCallBench> => Effect.runPromise(perCall(count))

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  Effect.runPromise(Effect.flatMap(perCall(2_000), (result) => Console.log(JSON.stringify(result, null, 2))))
}
