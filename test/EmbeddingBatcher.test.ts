/**
 * EmbeddingBatcher: concurrent single-text embeds become few API calls (counted in the
 * simulator's log), duplicates are asked once, vectors go back to the right caller, and a
 * failed call fails every text it carried with the same typed error. Real loopback sockets,
 * TestClock for the batching window.
 */
import { describe, expect, it } from "@effect/vitest"
import type { HttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Either, Fiber, type Scope, TestClock } from "effect"
import * as EmbeddingBatcher from "../src/EmbeddingBatcher.js"
import * as GrokClient from "../src/GrokClient.js"
import * as GrokConfig from "../src/GrokConfig.js"
import type * as FaultPlan from "../src/simulator/FaultPlan.js"
import * as Simulator from "../src/simulator/Simulator.js"
import { drive, simulatorActivity } from "./support/drive.js"

const KEY = "xai-embed-test-key-0123456789"
const MODEL = "grok-embed"

const loopback = <A, E>(body: Effect.Effect<A, E, Scope.Scope | HttpClient.HttpClient>) =>
  body.pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))

const setup = (options: EmbeddingBatcher.Options, faults: FaultPlan.FaultPlan = []) =>
  Effect.gen(function*() {
    const sim = yield* Simulator.make({ seed: 3, faults })
    const grok = yield* GrokClient.make(Either.getOrThrow(GrokConfig.make({ apiKey: KEY, baseUrl: sim.url, model: MODEL })))
    const batcher = yield* EmbeddingBatcher.make(options).pipe(Effect.provideService(GrokClient.GrokClient, grok))
    const driven = <A, E>(program: Effect.Effect<A, E>) =>
      Effect.flatMap(Effect.fork(program), (fiber) => drive(fiber, simulatorActivity(sim)))
    const embedCalls = Effect.map(sim.log, (log) => log.filter((entry) => entry.path === "/v1/embeddings"))
    return { sim, grok, batcher, driven, embedCalls }
  })

const texts = (n: number) => Array.from({ length: n }, (_, i) => `text number ${i}`)

describe("EmbeddingBatcher", () => {
  it.effect("makes ceil(N / maxBatchSize) API calls for N concurrent embeds, each caller getting its own vector", () =>
    loopback(Effect.gen(function*() {
      const { batcher, driven, embedCalls, grok } = yield* setup({ maxBatchSize: 4 })
      const inputs = texts(10)
      const vectors = yield* driven(Effect.forEach(inputs, (text) => batcher.embed(text), { concurrency: "unbounded" }))
      expect(yield* embedCalls).toHaveLength(3)

      // The same vectors as one direct call with every text, in the callers' order.
      const direct = yield* driven(grok.embed({ input: inputs }))
      expect(vectors).toEqual(direct.data.map((item) => item.embedding))
    })))

  it.effect("asks once for identical texts", () =>
    loopback(Effect.gen(function*() {
      const { batcher, driven, embedCalls } = yield* setup({ maxBatchSize: 4 })
      // 8, 12 and 16 characters: 2, 3 and 4 tokens in the simulator (4 characters a token).
      const distinct = ["a".repeat(8), "b".repeat(12), "c".repeat(16)]
      const asked = [...distinct, ...distinct, ...distinct]
      const vectors = yield* driven(Effect.forEach(asked, (text) => batcher.embed(text), { concurrency: "unbounded" }))

      const calls = yield* embedCalls
      expect(calls).toHaveLength(1)
      expect(calls[0]?.usage?.promptTokens).toBe(2 + 3 + 4)
      expect(vectors.slice(3, 6)).toEqual(vectors.slice(0, 3))
      expect(vectors.slice(6, 9)).toEqual(vectors.slice(0, 3))
      expect(new Set(vectors.slice(0, 3).map((vector) => vector[0])).size).toBe(3)
    })))

  it.effect("waits at most its window: texts asked later go in the next call", () =>
    loopback(Effect.gen(function*() {
      const { batcher, driven, embedCalls } = yield* setup({ maxBatchSize: 100, window: "50 millis" })
      yield* driven(Effect.gen(function*() {
        const first = yield* Effect.fork(Effect.all([batcher.embed("one"), batcher.embed("two")], { concurrency: "unbounded" }))
        yield* TestClock.adjust("60 millis")
        const later = yield* Effect.fork(batcher.embed("three"))
        yield* Fiber.join(first)
        yield* Fiber.join(later)
      }))
      const calls = yield* embedCalls
      expect(calls).toHaveLength(2)
      expect(calls.map((call) => call.startedAt)).toEqual([50, 110])
    })))

  it.effect("never mixes models or dimensions in one call", () =>
    loopback(Effect.gen(function*() {
      const { batcher, driven, embedCalls } = yield* setup({})
      const vectors = yield* driven(Effect.all([
        batcher.embed("same text"),
        batcher.embed("same text", { model: "other-embed" }),
        batcher.embed("same text", { dimensions: 8 })
      ], { concurrency: "unbounded" }))
      expect((yield* embedCalls).map((call) => call.model).sort()).toEqual([MODEL, MODEL, "other-embed"])
      expect(vectors[2]).toHaveLength(8)
      expect(vectors[0]).not.toEqual(vectors[1])
    })))

  it.effect("fails every text of a failed call with the same typed error, and only those", () =>
    loopback(Effect.gen(function*() {
      const { batcher, driven } = yield* setup({}, [{ model: "down-embed", fault: { kind: "status", status: 400 } }])
      const results = yield* driven(Effect.all([
        Effect.either(batcher.embed("a", { model: "down-embed" })),
        Effect.either(batcher.embed("b", { model: "down-embed" })),
        Effect.either(batcher.embed("c"))
      ], { concurrency: "unbounded" }))
      const [a, b, c] = results
      expect(a && Either.isLeft(a) ? a.left._tag : "ok").toBe("BadRequest")
      expect(b && Either.isLeft(b) ? b.left : undefined).toBe(a && Either.isLeft(a) ? a.left : "different")
      expect(c && Either.isRight(c)).toBe(true)
    })))

  it.effect("sends batches through the client's pipeline: a 503 is retried for the whole batch", () =>
    loopback(Effect.gen(function*() {
      const { batcher, driven, embedCalls } = yield* setup({}, [{ nth: [1], fault: { kind: "status", status: 503 } }])
      const vectors = yield* driven(Effect.forEach(texts(3), (text) => batcher.embed(text), { concurrency: "unbounded" }))
      expect(vectors).toHaveLength(3)
      expect((yield* embedCalls).map((call) => call.status)).toEqual([503, 200])
    })))

  it("refuses options out of range", () => {
    expect(Either.isLeft(EmbeddingBatcher.validate({ maxBatchSize: 0 }))).toBe(true)
    expect(Either.isLeft(EmbeddingBatcher.validate({ maxBatchSize: 2.5 }))).toBe(true)
    expect(Either.isLeft(EmbeddingBatcher.validate({ window: Infinity }))).toBe(true)
    expect(EmbeddingBatcher.validate({})).toEqual(Either.right(EmbeddingBatcher.defaults))
  })
})
