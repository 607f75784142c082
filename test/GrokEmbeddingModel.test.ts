/**
 * GrokEmbeddingModel through @effect/ai's `EmbeddingModel`, against the simulator over real
 * loopback sockets, on the TestClock: texts asked together become few calls (counted in the
 * simulator's log), each caller gets its own vector, settings reach the request, and a
 * failure is an AiError whose cause is the GrokError.
 */
import { EmbeddingModel } from "@effect/ai"
import { describe, expect, it } from "@effect/vitest"
import type { HttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Either, Layer, type Scope } from "effect"
import * as GrokEmbeddingModel from "../src/ai/GrokEmbeddingModel.js"
import * as GrokLanguageModel from "../src/ai/GrokLanguageModel.js"
import * as GrokClient from "../src/GrokClient.js"
import * as GrokConfig from "../src/GrokConfig.js"
import type * as FaultPlan from "../src/simulator/FaultPlan.js"
import * as Simulator from "../src/simulator/Simulator.js"
import { drive, simulatorActivity } from "./support/drive.js"

const KEY = "xai-embedding-model-test-key-0123456789"
const MODEL = "grok-embed"

const loopback = <A, E>(body: Effect.Effect<A, E, Scope.Scope | HttpClient.HttpClient>) =>
  body.pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))

const setup = (config: GrokEmbeddingModel.Config.Batched = {}, faults: FaultPlan.FaultPlan = []) =>
  Effect.gen(function*() {
    const sim = yield* Effect.orDie(Simulator.make({ seed: 5, faults }))
    const grok = yield* GrokClient.make(Either.getOrThrow(GrokConfig.make({ apiKey: KEY, baseUrl: sim.url, model: "grok-4" })))
    const client = Layer.succeed(GrokClient.GrokClient, grok)
    const run = <A, E>(program: Effect.Effect<A, E, EmbeddingModel.EmbeddingModel>) =>
      Effect.flatMap(
        Effect.fork(program.pipe(Effect.provide(GrokEmbeddingModel.model(MODEL, config)), Effect.provide(client))),
        (fiber) => drive(fiber, simulatorActivity(sim))
      )
    const calls = Effect.map(sim.log, (log) => log.filter((entry) => entry.path === "/v1/embeddings"))
    return { sim, grok, run, calls }
  })

// @effect/ai 0.37 has no accessors for EmbeddingModel: through the service.
const embed = (input: string) => Effect.flatMap(EmbeddingModel.EmbeddingModel, (model) => model.embed(input))
const embedMany = (inputs: ReadonlyArray<string>) => Effect.flatMap(EmbeddingModel.EmbeddingModel, (model) => model.embedMany(inputs))

const texts = (n: number) => Array.from({ length: n }, (_, i) => `text number ${i}`)

describe("EmbeddingModel on GrokEmbeddingModel", () => {
  it.effect("embedMany: ceil(N / maxBatchSize) calls, the vectors of one direct call in the same order", () =>
    loopback(Effect.gen(function*() {
      const { calls, grok, run, sim } = yield* setup({ maxBatchSize: 4 })
      const inputs = texts(10)
      const vectors = yield* run(embedMany(inputs))
      const made = yield* calls
      expect(made).toHaveLength(3)
      expect(made.map((call) => call.model)).toEqual([MODEL, MODEL, MODEL])
      const direct = yield* drive(yield* Effect.fork(grok.embed({ model: MODEL, input: inputs })), simulatorActivity(sim))
      expect(vectors).toEqual(direct.data.map((item) => item.embedding))
    })))

  it.effect("embed from many fibers at once: one call", () =>
    loopback(Effect.gen(function*() {
      const { calls, run } = yield* setup()
      const vectors = yield* run(Effect.forEach(texts(5), (text) => embed(text), { concurrency: "unbounded" }))
      expect(vectors).toHaveLength(5)
      expect(new Set(vectors.map((vector) => vector[0])).size).toBe(5)
      expect(yield* calls).toHaveLength(1)
    })))

  it.effect("dimensions from the model's settings, and per call with withConfigOverride", () =>
    loopback(Effect.gen(function*() {
      const { run } = yield* setup({ dimensions: 8 })
      const [own, overridden] = yield* run(Effect.all([
        embed("hello"),
        embed("hello").pipe(GrokEmbeddingModel.withConfigOverride({ dimensions: 4 }))
      ]))
      expect([own?.length, overridden?.length]).toEqual([8, 4])
    })))

  it.effect("a 503 is retried; a 422 fails every text of the call with an AiError whose cause is the GrokError", () =>
    loopback(Effect.gen(function*() {
      const retried = yield* setup({}, [{ nth: [1], fault: { kind: "status", status: 503 } }])
      expect(yield* retried.run(embedMany(texts(3)))).toHaveLength(3)
      expect((yield* retried.calls).map((call) => call.status)).toEqual([503, 200])

      const refused = yield* setup({}, [{ fault: { kind: "status", status: 422 } }])
      const results = yield* refused.run(
        Effect.forEach(texts(3), (text) => Effect.either(embed(text)), { concurrency: "unbounded" })
      )
      for (const result of results) {
        if (Either.isRight(result)) throw new Error("expected a failure")
        expect(result.left._tag).toBe("UnknownError")
        const cause = GrokLanguageModel.grokError(result.left)
        expect([cause?._tag, cause?.status, cause?.retryable]).toEqual(["BadRequest", 422, false])
      }
      expect(yield* refused.calls).toHaveLength(1)
    })))
})
