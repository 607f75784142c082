/**
 * The latency summary behind `--json`'s `latencyMs`, with known latencies: 100 calls over
 * real loopback sockets whose answers the simulator delays by 10, 20, ..., 1000 ms of
 * TestClock time, across two models. Its own file: the summary is per process, and these
 * must be the only latencies in it.
 *
 * The bug this guards: labels built as plain objects hashed differently on every update, so
 * each call made its own registry entry holding one sample, and the summary's quantiles
 * were all that sample; the totals took the largest (p50 == p99 == the slowest call).
 */
import { describe, expect, it } from "@effect/vitest"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Either, Metric, MetricState, Option } from "effect"
import * as GrokClient from "../src/GrokClient.js"
import * as GrokConfig from "../src/GrokConfig.js"
import * as RateLimiter from "../src/resilience/RateLimiter.js"
import * as Simulator from "../src/simulator/Simulator.js"
import * as Metrics from "../src/telemetry/Metrics.js"
import { drive, simulatorActivity } from "./support/drive.js"

describe("latency quantiles from known values", () => {
  it.effect("100 calls taking 10..1000 ms on two models: p50 500, p90 900, p95 950, p99 990", () =>
    Effect.gen(function*() {
      const sim = yield* Effect.orDie(Simulator.make({
        faults: Array.from({ length: 100 }, (_, i) => ({
          nth: [i + 1, i + 1] as const,
          fault: { kind: "latency" as const, millis: (i + 1) * 10 }
        }))
      }))
      const config = Either.getOrThrow(GrokConfig.make({ apiKey: "k", baseUrl: sim.url }))
      const grok = yield* GrokClient.make(config).pipe(Effect.provideService(RateLimiter.RateLimiter, RateLimiter.unlimited))
      const before = yield* Metrics.snapshotTotals
      const calls = Effect.forEach(
        Array.from({ length: 100 }, (_, i) => i),
        (i) => grok.chat({ model: i % 2 === 0 ? "grok-4" : "grok-3-mini", messages: [{ role: "user", content: "hi" }] }),
        { concurrency: "unbounded" }
      )
      yield* Effect.flatMap(Effect.fork(calls), (fiber) => drive(fiber, simulatorActivity(sim)))

      const log = yield* sim.log
      expect(log.map((entry) => (entry.endedAt ?? 0) - entry.startedAt).sort((a, b) => a - b)).toEqual(
        Array.from({ length: 100 }, (_, i) => (i + 1) * 10)
      )
      const totals = Metrics.diffTotals(before, yield* Metrics.snapshotTotals)
      expect(totals.requests).toBe(100)
      expect(totals.latencyMs).toEqual({ p50: 500, p99: 990 })

      const summary = yield* Metric.value(Metrics.latencyMillis)
      expect(summary.count).toBe(100)
      expect(summary.min).toBe(10)
      expect(summary.max).toBe(1000)
      expect(summary.quantiles.map(([q, value]) => [q, Option.getOrUndefined(value)])).toEqual([
        [0.5, 500],
        [0.9, 900],
        [0.95, 950],
        [0.99, 990]
      ])
      // One series for every model and operation, not one per call.
      const series = (yield* Metric.snapshot).filter((pair) =>
        pair.metricKey.name === "effect_grok.latency_ms" && MetricState.isSummaryState(pair.metricState)
      )
      expect(series).toHaveLength(1)
    }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici)))
})
