/**
 * What each piece of a resilient call costs on the call path: the raw `HttpClient` call with
 * one piece added, measured in pairs against the raw call alone, exactly as the overhead
 * scenario measures a client (median of the pairs' differences, alternating which goes
 * first). A piece measured in a loop costs a few microseconds; between network waits, with
 * the CPU's caches cold, it costs several times that, and this is the figure a call pays.
 *
 * Run by `npm run bench` (`--only overhead-pieces`) against a simulator in the parent
 * process, or directly: `node .bench-build/bench/pieces.js http://127.0.0.1:PORT/v1`.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Console, Context, Effect, Fiber, Layer, Metric, MetricLabel, Schema } from "effect"
import { pathToFileURL } from "node:url"
import * as RateLimitHeaders from "../src/resilience/RateLimitHeaders.js"
import * as Chat from "../src/schema/Chat.js"
import * as PlainChat from "../src/schema/internal/plainChat.js"
import * as Metrics from "../src/telemetry/Metrics.js"
import * as EffectHttp from "./clients/effectHttp.js"
import { requestBody } from "./clients/shared.js"
import { median } from "./load.js"

/** Microseconds a piece adds to a raw call (median of 1,000 pairs after 200 to warm up). @since 0.1.0 */
export type PiecesBench = Readonly<Record<string, number>>

type Piece = (call: Effect.Effect<unknown>, index: number) => Effect.Effect<unknown>

const decodeRequest = Schema.decodeUnknownEither(Chat.ChatCompletionRequest)
const decodeCompletion = Schema.decodeUnknownEither(Chat.ChatCompletion)
const label = [MetricLabel.make("gen_ai.request.model", "overhead-pieces")]
const calls = Metric.taggedWithLabels(Metrics.requests, label)
const duration = Metric.taggedWithLabels(Metrics.operationDuration, label)
const tokens = Metric.taggedWithLabels(Metrics.tokens, label)

const chatBody = (index: number) => ({ ...requestBody(index), stream: false })

/** `f` run on the call's parsed answer. */
const onAnswer = (call: Effect.Effect<unknown>, f: (json: unknown) => unknown) =>
  Effect.map(call, (json) => {
    f(json)
    return json
  })

const pieces: ReadonlyArray<readonly [string, Piece]> = [
  ["nothing (the noise floor)", (call) => call],
  ["200 Effect.flatMap steps", (call) => {
    let effect = call
    for (let i = 0; i < 200; i++) effect = Effect.flatMap(effect, Effect.succeed)
    return effect
  }],
  ["a forked fiber, awaited", (call) => Effect.flatMap(Effect.fork(call), Fiber.join)],
  ["Effect.timeout (60 s)", (call) => Effect.orDie(Effect.timeout(call, "60 seconds"))],
  ["the request validated by its Schema", (call, index) => Effect.zipRight(Effect.sync(() => decodeRequest(chatBody(index))), call)],
  ["the request validated by hand checks", (call, index) => Effect.zipRight(Effect.sync(() => PlainChat.isPlainRequest(chatBody(index))), call)],
  ["the answer decoded by its Schema", (call) => onAnswer(call, decodeCompletion)],
  ["the answer decoded by hand checks", (call) => onAnswer(call, PlainChat.isPlainCompletion)],
  ["the rate-limit headers read", (call) =>
    Effect.clockWith((clock) =>
      onAnswer(call, () => RateLimitHeaders.parse({ "x-request-id": "r", "content-type": "application/json" }, clock.unsafeCurrentTimeMillis()))
    )],
  ["three metrics updated", (call) =>
    onAnswer(call, () => {
      calls.unsafeUpdate(1, [])
      duration.unsafeUpdate(0.001, [])
      tokens.unsafeUpdate(39, [])
    })]
]

const timed = (call: Effect.Effect<unknown>) =>
  Effect.suspend(() => {
    const start = process.hrtime.bigint()
    return Effect.map(call, () => Number(process.hrtime.bigint() - start) / 1e3)
  })

const pieceCost = (raw: (index: number) => Effect.Effect<unknown>, piece: Piece, count: number) =>
  Effect.gen(function*() {
    const differences: Array<number> = []
    for (let i = 0; i < count; i++) {
      const withPiece = timed(piece(raw(i), i))
      const alone = timed(raw(i))
      if (i % 2 === 0) {
        const pieceMicros = yield* withPiece
        differences.push(pieceMicros - (yield* alone))
      } else {
        const aloneMicros = yield* alone
        differences.push((yield* withPiece) - aloneMicros)
      }
    }
    return median(differences)
  })

const measure = (url: string) =>
  Effect.scoped(Effect.gen(function*() {
    const http = Context.get(yield* Layer.build(NodeHttpClient.layerUndici), HttpClient.HttpClient)
    const raw = (index: number) => Effect.orDie(EffectHttp.rawAnswer(http, { url, apiKey: "bench-key" }, index))
    const result: Record<string, number> = {}
    for (const [name, piece] of pieces) {
      yield* pieceCost(raw, piece, 200)
      result[name] = Math.round(yield* pieceCost(raw, piece, 1_000))
    }
    return result
  }))

/**
 * Measure every piece against the server at `url` (with `/v1`).
 *
 * @since 0.1.0
 */
export const benchPieces = (url: string): Promise<PiecesBench> => Effect.runPromise(measure(url))

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const url = process.argv[2]
  if (url === undefined) {
    process.stderr.write("usage: node .bench-build/bench/pieces.js http://127.0.0.1:PORT/v1\n")
    process.exitCode = 2
  } else {
    Effect.runPromise(Effect.flatMap(measure(url), (result) => Console.log(JSON.stringify(result, null, 2))))
  }
}
