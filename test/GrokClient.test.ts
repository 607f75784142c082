import { describe, expect, it } from "@effect/vitest"
import { NodeHttpClient } from "@effect/platform-node"
import { Clock, Effect, Either, Scope } from "effect"
import type { HttpClient } from "@effect/platform"
import * as GrokClient from "../src/GrokClient.js"
import * as GrokConfig from "../src/GrokConfig.js"
import * as RetryPolicy from "../src/resilience/RetryPolicy.js"
import * as Chat from "../src/schema/Chat.js"
import * as Simulator from "../src/simulator/Simulator.js"
import { drive, simulatorActivity } from "./support/drive.js"

const KEY = "xai-test-key-0123456789"

const loopback = <A, E>(body: Effect.Effect<A, E, Scope.Scope | HttpClient.HttpClient>) =>
  body.pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))

const driven = <A, E>(sim: Simulator.Service, program: Effect.Effect<A, E>) =>
  Effect.flatMap(Effect.fork(program), (fiber) => drive(fiber, simulatorActivity(sim)))

describe("probe", () => {
  it.effect("chat works", () =>
    loopback(Effect.gen(function*() {
      const sim = yield* Simulator.make({ faults: [{ nth: [1], fault: { kind: "status", status: 503 } }] })
      const grok = yield* GrokClient.make(Either.getOrThrow(GrokConfig.make({ apiKey: KEY, baseUrl: sim.url })))
      const t0 = yield* Clock.currentTimeMillis
      const reply = yield* driven(sim, grok.chat({ messages: [{ role: "user", content: "hi" }] }))
      const t1 = yield* Clock.currentTimeMillis
      console.log(Chat.contentOf(reply), t1 - t0, (yield* sim.log).map((r) => [r.status, r.startedAt]))
    })))
})
