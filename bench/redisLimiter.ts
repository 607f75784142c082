/**
 * Benchmark of the Redis rate limiter's admission decisions, in one process.
 *
 * It measures what Redis adds to a call: decisions go through the same client settings and
 * the same store as `RateLimiterRedis.layer`, on a handful of hot keys whose limits admit
 * everything (so every decision runs the whole script and writes its state).
 *
 * Round trips are counted on the client, from ioredis's `ioredis:command` diagnostics channel
 * (every command written to the socket), so nothing needs MONITOR and nothing inside the
 * scripts is mistaken for a round trip.
 *
 * @since 0.1.0
 */
import { subscribe, unsubscribe } from "node:diagnostics_channel"
import { Chunk, Clock, Duration, Effect, Redacted } from "effect"
import type { AdmissionStore, Limits, StoreUnavailable } from "../src/resilience/internal/admissionStore.js"
import * as RedisClient from "../src/resilience/internal/redisClient.js"
import * as RedisStore from "../src/resilience/internal/redisStore.js"

/** @since 0.1.0 */
export interface DecisionRun {
  readonly decisions: number
  /** How many decisions were in flight at once. */
  readonly concurrency: number
  readonly decisionsPerSecond: number
  readonly p50Millis: number
  readonly p99Millis: number
  readonly roundTripsPerDecision: number
}

/** @since 0.1.0 */
export interface RedisLimiterBench {
  /** Throughput with many decisions in flight: what one process can get from Redis. */
  readonly decisionsPerSecond: number
  /** 99th percentile latency of one decision with nothing else in flight. */
  readonly p99Millis: number
  /** Commands sent to Redis per decision, over both runs (1 is the target). */
  readonly roundTripsPerDecision: number
  readonly sequential: DecisionRun
  readonly concurrent: DecisionRun
}

const commandChannel = "tracing:ioredis:command:start"
const timeouts = { commandTimeout: Duration.millis(250), connectTimeout: Duration.seconds(2) }
const limits: Limits = { requestsPerSecond: 1e9, requestBurst: 1e9, tokensPerMinute: 1e12 }
const hotKeys = 8

const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0

const round = (n: number, digits: number): number => Number(n.toFixed(digits))

/** Time `effect` in milliseconds on the live clock. */
const timed = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<number, E> =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeNanos
    yield* effect
    return Number((yield* Clock.currentTimeNanos) - start) / 1e6
  })

const measure = (store: AdmissionStore, decisions: number, concurrency: number): Effect.Effect<DecisionRun, StoreUnavailable> =>
  Effect.gen(function*() {
    let commands = 0
    const onCommand = () => void commands++
    const decide = (i: number) => timed(store.tryAdmit(`bench-${i % hotKeys}`, 100, limits))
    const start = yield* Clock.currentTimeNanos
    const latencies = yield* Effect.acquireUseRelease(
      Effect.sync(() => subscribe(commandChannel, onCommand)),
      () => Effect.forEach(Chunk.range(1, decisions), decide, { concurrency }),
      () => Effect.sync(() => unsubscribe(commandChannel, onCommand))
    )
    const seconds = Number((yield* Clock.currentTimeNanos) - start) / 1e9
    const sorted = [...latencies].sort((a, b) => a - b)
    return {
      decisions,
      concurrency,
      decisionsPerSecond: Math.round(decisions / seconds),
      p50Millis: round(percentile(sorted, 0.5), 3),
      p99Millis: round(percentile(sorted, 0.99), 3),
      roundTripsPerDecision: round(commands / decisions, 3)
    }
  })

/**
 * Run the benchmark against the Redis at `url`: 3 000 decisions one after another, then
 * 20 000 with 32 in flight (after a warm-up that loads the script and lets the JIT settle).
 *
 * @since 0.1.0
 */
export const benchLimiterRedis = (url: string): Promise<RedisLimiterBench> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function*() {
        const client = yield* RedisClient.connect(Redacted.make(url), timeouts)
        const prefix = `effect-grok-bench:${process.pid}:${yield* Clock.currentTimeMillis}`
        const store = RedisStore.make({ client, prefix, commandTimeout: timeouts.commandTimeout })
        // Warm up: load the script, let the JIT compile the hot path.
        yield* measure(store, 2_000, 1)
        yield* measure(store, 5_000, 32)
        const sequential = yield* measure(store, 3_000, 1)
        const concurrent = yield* measure(store, 20_000, 32)
        const decisions = sequential.decisions + concurrent.decisions
        return {
          decisionsPerSecond: concurrent.decisionsPerSecond,
          p99Millis: sequential.p99Millis,
          roundTripsPerDecision: round(
            (sequential.roundTripsPerDecision * sequential.decisions +
              concurrent.roundTripsPerDecision * concurrent.decisions) / decisions,
            3
          ),
          sequential,
          concurrent
        }
      })
    )
  )
