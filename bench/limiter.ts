/**
 * Benchmark of the in-memory rate limiter: decisions per second, memory per queued call,
 * memory for 100,000 keys, and whether idle keys are evicted.
 *
 * Memory is read from `process.memoryUsage().heapUsed` after a full collection when Node runs
 * with `--expose-gc` (otherwise best effort: the numbers then include garbage not yet
 * collected). Run directly (`node --expose-gc .bench-build/bench/limiter.js`) it prints its results.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import { Clock, Console, Context, Deferred, Duration, Effect, Fiber, Layer, Stream } from "effect"
import { pathToFileURL } from "node:url"
import * as GrokClient from "../src/GrokClient.js"
import { type Engine, makeEngine } from "../src/resilience/internal/limiterEngine.js"
import * as MemoryStore from "../src/resilience/internal/memoryStore.js"
import * as RateLimiterMemory from "../src/resilience/RateLimiterMemory.js"
import type { LimiterOptions } from "../src/resilience/RateLimiterMemory.js"

/** @since 0.1.0 */
export interface LimiterMemoryBench {
  /** acquire + release pairs per second, sequential, on one key with generous limits (paced, token-counted). */
  readonly decisionsPerSecond: number
  /** The same on a key with no limits at all. */
  readonly unlimitedDecisionsPerSecond: number
  /** Heap per queued call, the caller's fiber included. */
  readonly bytesPerQueued: number
  /**
   * Heap per queued call beyond what a fiber parked on a `Deferred` costs (the cheapest way an
   * Effect fiber waits, about 3.2 KB on effect 3.22): the limiter's own share.
   */
  readonly limiterBytesPerQueued: number
  /**
   * Heap per `GrokClient.chat` call waiting in the queue, its caller's fiber included: the
   * call waits for its first permit before anything else is set up, so this is the caller's
   * fiber, the call's request and settings, and the limiter's entry.
   */
  readonly clientBytesPerQueued: number
  /** The same beyond a fiber parked on a `Deferred`: what a waiting call adds to its caller's fiber. */
  readonly clientBytesAboveFiber: number
  /**
   * Heap per `GrokClient.chatStream` run (`Stream.runDrain`) waiting in the queue, its fiber
   * included. Effect's Stream machinery is most of it: a `Stream.unwrapScoped` run parked on a
   * `Deferred` costs about 28 KB on effect 3.22.
   */
  readonly streamBytesPerQueued: number
  /** Heap held by 100,000 keys that each made one call (engine and store state). */
  readonly bytesFor100kKeys: number
  /** Keys (engine + store) still held once they have been idle longer than `idleKeyTtl`. */
  readonly keysLeftAfterIdle: number
  /** Whether memory figures come after a full collection (`--expose-gc`). */
  readonly exactMemory: boolean
}

const generous: LimiterOptions = { limits: { requestsPerSecond: 1e9, tokensPerMinute: 1e15 }, startSlow: false }

const collect = (globalThis as { gc?: () => void }).gc

/** Heap in use, after a full collection when one can be asked for. */
const heapUsed = Effect.sync(() => {
  collect?.()
  collect?.()
  return process.memoryUsage().heapUsed
})

const elapsedSeconds = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeNanos
    yield* effect
    return Number((yield* Clock.currentTimeNanos) - start) / 1e9
  })

/** A limiter over the memory store, with what the benchmark inspects. */
const limiter = (options: LimiterOptions) =>
  Effect.gen(function*() {
    const store = yield* MemoryStore.make({ idleKeyTtlMillis: 1000 })
    const engine = yield* makeEngine({ idleKeyTtl: "1 second", ...options }, store)
    return { engine, store }
  })

const decisionsPerSecond = (engine: Engine, key: string, decisions: number) =>
  Effect.gen(function*() {
    const decide = Effect.flatMap(engine.acquire({ key, tokens: 100, priority: "normal" }), (permit) =>
      permit.release({ status: 200, usedTokens: 100 }))
    yield* Effect.forEach(Array.from({ length: 20_000 }), () => decide, { discard: true })
    const seconds = yield* elapsedSeconds(
      Effect.forEach(Array.from({ length: decisions }), () => decide, { discard: true })
    )
    return Math.round(decisions / seconds)
  })

/** Heap per fiber for `count` fibers parked in `park`, interrupted afterwards. */
const bytesPerParked = <A, E>(count: number, park: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const before = yield* heapUsed
    const fibers = yield* Effect.forEach(Array.from({ length: count }), () => Effect.fork(park))
    yield* Effect.sleep("50 millis")
    const after = yield* heapUsed
    yield* Fiber.interruptAll(fibers)
    return (after - before) / count
  })

const queuedCost = (count: number) =>
  Effect.scoped(Effect.gen(function*() {
    const { engine } = yield* limiter({ limits: { maxConcurrency: 1 }, startSlow: false, maxQueued: count })
    const holder = yield* engine.acquire({ key: "queue", tokens: 1, priority: "normal" })
    const withLimiter = yield* bytesPerParked(count, engine.acquire({ key: "queue", tokens: 1, priority: "normal" }))
    yield* holder.release({ status: 200 })
    // Not `Effect.never`: it parks on a `setInterval`, whose timer would count against the fiber.
    const bare = yield* bytesPerParked(count, Deferred.await(yield* Deferred.make<void>()))
    return { bytesPerQueued: withLimiter, limiterBytesPerQueued: withLimiter - bare }
  }))

/**
 * `count` `GrokClient.chat` calls queued behind one that holds the key's only slot on a server
 * that never answers, after a first round (so that compiled code is not counted), and what a
 * bare parked fiber costs next to them.
 */
const clientQueuedCost = (count: number) =>
  Effect.zipRight(
    Effect.all([clientQueuedRound(Math.min(count, 1000), chatCall), clientQueuedRound(Math.min(count, 1000), streamCall)]),
    Effect.all({
      client: clientQueuedRound(count, chatCall),
      stream: clientQueuedRound(count, streamCall),
      fiber: bareFiberCost(count)
    })
  )

const hi: GrokClient.ChatRequest = { messages: [{ role: "user", content: "hi" }] }
const chatCall = (grok: GrokClient.Service) => Effect.asVoid(grok.chat(hi))
const streamCall = (grok: GrokClient.Service) => Stream.runDrain(grok.chatStream(hi))

const bareFiberCost = (count: number) =>
  Effect.flatMap(Deferred.make<void>(), (never) => bytesPerParked(count, Deferred.await(never)))

const clientQueuedRound = (count: number, callOf: (grok: GrokClient.Service) => Effect.Effect<void, unknown>) =>
  Effect.scoped(Effect.gen(function*() {
    const silent = HttpClient.make(() => Effect.never)
    const context = yield* Layer.build(GrokClient.layer({ apiKey: "xai-bench-queued" }).pipe(
      Layer.provide(Layer.succeed(HttpClient.HttpClient, silent)),
      Layer.provide(RateLimiterMemory.layer({ limits: { maxConcurrency: 1 }, startSlow: false, maxQueued: count + 1 }))
    ))
    const grok = Context.get(context, GrokClient.GrokClient)
    const call = callOf(grok)
    const holder = yield* Effect.fork(call)
    yield* Effect.sleep("50 millis")
    const bytes = yield* bytesPerParked(count, call)
    yield* Fiber.interrupt(holder)
    return bytes
  })).pipe(Effect.orDie)

const keysCost = (keys: number) =>
  Effect.scoped(Effect.gen(function*() {
    const { engine, store } = yield* limiter(generous)
    const before = yield* heapUsed
    for (let i = 0; i < keys; i++) {
      const permit = yield* engine.acquire({ key: `key-${i}`, tokens: 100, priority: "normal" })
      yield* permit.release({ status: 200 })
    }
    const after = yield* heapUsed
    // idleKeyTtl is 1 second: evictions run every half TTL.
    yield* Effect.sleep(Duration.millis(1600))
    return { bytesFor100kKeys: after - before, keysLeftAfterIdle: engine.trackedKeys() + store.size() }
  }))

/**
 * The benchmark as an Effect.
 *
 * @since 0.1.0
 */
export const limiterMemory: Effect.Effect<LimiterMemoryBench> = Effect.gen(function*() {
  const speed = yield* Effect.scoped(Effect.gen(function*() {
    const { engine } = yield* limiter(generous)
    const paced = yield* decisionsPerSecond(engine, "generous", 300_000)
    const { engine: free } = yield* limiter({ startSlow: false })
    return { paced, unlimited: yield* decisionsPerSecond(free, "unlimited", 300_000) }
  }))
  const queued = yield* queuedCost(10_000)
  const clientQueued = yield* clientQueuedCost(10_000)
  const keys = yield* keysCost(100_000)
  return {
    decisionsPerSecond: speed.paced,
    unlimitedDecisionsPerSecond: speed.unlimited,
    bytesPerQueued: Math.round(queued.bytesPerQueued),
    limiterBytesPerQueued: Math.round(queued.limiterBytesPerQueued),
    clientBytesPerQueued: Math.round(clientQueued.client),
    clientBytesAboveFiber: Math.round(clientQueued.client - clientQueued.fiber),
    streamBytesPerQueued: Math.round(clientQueued.stream),
    bytesFor100kKeys: keys.bytesFor100kKeys,
    keysLeftAfterIdle: keys.keysLeftAfterIdle,
    exactMemory: collect !== undefined
  }
}).pipe(Effect.orDie)

/**
 * Run the benchmark (for `npm run bench`).
 *
 * @since 0.1.0
 */
export const benchLimiterMemory = (): Promise<LimiterMemoryBench> => Effect.runPromise(limiterMemory)

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  Effect.runPromise(Effect.flatMap(limiterMemory, (result) => Console.log(JSON.stringify(result, null, 2))))
}
