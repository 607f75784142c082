import { describe, expect, it } from "@effect/vitest"
import { Cause, Clock, Duration, Effect, Either, Exit, Fiber, Option, Schedule, TestClock } from "effect"
import { Cluster, Redis, type RedisOptions } from "ioredis"
import { inject } from "vitest"
import type { Admission, AdmissionStore, Limits } from "../src/resilience/internal/admissionStore.js"
import * as RedisStore from "../src/resilience/internal/redisStore.js"
import type { Permit, Priority, RateLimiterRejected, Service, Ticket } from "../src/resilience/RateLimiter.js"
import * as RateLimiterRedis from "../src/resilience/RateLimiterRedis.js"
import { bundleLimiterProgram } from "./support/processes.js"
import { freePort, freshPrefix, type RedisServer, startRedisCluster, startRedisServer } from "./support/redis.js"

const redisUrl = inject("redisUrl")

/** A connection closed with the test's scope (refusing commands while disconnected, unless `options` say otherwise). */
const connect = (url: string = redisUrl, options: RedisOptions = { enableOfflineQueue: false, maxRetriesPerRequest: 0 }) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const client = new Redis(url, { lazyConnect: true, ...options })
      await client.connect()
      return client
    }),
    (client) => Effect.sync(() => client.disconnect())
  )

const storeOn = (client: Redis, prefix: string): AdmissionStore =>
  RedisStore.make({ client, prefix, commandTimeout: Duration.seconds(2) })

/** `count` stores, each on its own connection, sharing one prefix: separate "processes". */
const stores = (count: number, prefix: string = freshPrefix()) =>
  Effect.forEach(Array.from({ length: count }), () => Effect.map(connect(), (client) => storeOn(client, prefix)))

const perMinute = (n: number) => n / 60

const limits = (overrides: Partial<Limits>): Limits => ({
  requestsPerSecond: Infinity,
  requestBurst: 1,
  tokensPerMinute: Infinity,
  ...overrides
})

const admitted = (decisions: ReadonlyArray<Admission>) => decisions.filter((d) => d._tag === "Admitted").length

const waitOf = (decision: Admission): number => decision._tag === "Wait" ? decision.retryInMillis : 0

/** Fire `count` decisions at once, spread over the stores. */
const burst = (all: ReadonlyArray<AdmissionStore>, count: number, key: string, tokens: number, l: Limits) =>
  Effect.forEach(
    Array.from({ length: count }, (_, i) => all[i % all.length]!),
    (store) => store.tryAdmit(key, tokens, l),
    { concurrency: "unbounded" }
  )

const tokenLevel = (client: Redis, prefix: string, key: string) =>
  Effect.promise(() => client.hget(RedisStore.keysFor(prefix, key).tokens, "l")).pipe(
    Effect.map((level) => level === null ? undefined : Number(level))
  )

describe("Redis admission store", () => {
  describe("atomic decisions under concurrency", () => {
    it.scopedLive("admits exactly the burst when 200 calls from 4 connections race for it", () =>
      Effect.gen(function*() {
        const all = yield* stores(4)
        // One request per minute: nothing refills while the test runs, so the burst is all there is.
        const decisions = yield* burst(all, 200, "race", 0, limits({ requestsPerSecond: perMinute(1), requestBurst: 17 }))
        expect(admitted(decisions)).toBe(17)
        expect(decisions.filter((d) => d._tag === "Wait").every((d) => waitOf(d) > 0)).toBe(true)
      }))

    it.scopedLive("never overdraws tokens when 200 calls from 4 connections race for them", () =>
      Effect.gen(function*() {
        const prefix = freshPrefix()
        const client = yield* connect()
        const all = yield* stores(4, prefix)
        // 600 tokens a minute = 10 a second: the 13th call of 50 tokens would need 5 s of refill.
        const decisions = yield* burst(all, 200, "tokens", 50, limits({ tokensPerMinute: 600 }))
        expect(admitted(decisions)).toBe(12)
        const level = yield* tokenLevel(client, prefix, "tokens")
        expect(level).toBeGreaterThanOrEqual(0)
        expect(level).toBeLessThan(50)
      }))

    it.scopedLive("debits requests and tokens together, and neither when one does not fit", () =>
      Effect.gen(function*() {
        const prefix = freshPrefix()
        const client = yield* connect()
        const all = yield* stores(3, prefix)
        // Requests would allow 10 at once, tokens only 6 of 100.
        const l = limits({ requestsPerSecond: perMinute(1), requestBurst: 10, tokensPerMinute: 600 })
        const decisions = yield* burst(all, 60, "both", 100, l)
        expect(admitted(decisions)).toBe(6)
        // The request state was debited 6 times (6 intervals of one minute ahead), not 60.
        const requestTtl = yield* Effect.promise(() => client.pttl(RedisStore.keysFor(prefix, "both").request))
        expect(requestTtl).toBeGreaterThan(5 * 60_000)
        expect(requestTtl).toBeLessThanOrEqual(6 * 60_000)
        // Requests still have room for 4 more: a call costing no tokens goes through.
        expect((yield* all[0]!.tryAdmit("both", 0, l))._tag).toBe("Admitted")
      }))
  })

  describe("pacing on the Redis server's clock", () => {
    it.scopedLive("spaces requests by the emission interval once the burst is spent", () =>
      Effect.gen(function*() {
        const [store] = yield* stores(1)
        const l = limits({ requestsPerSecond: perMinute(2), requestBurst: 3 })
        const decisions = yield* Effect.forEach([1, 2, 3, 4], () => store!.tryAdmit("spacing", 0, l))
        expect(decisions.map((d) => d._tag)).toEqual(["Admitted", "Admitted", "Admitted", "Wait"])
        // Two a minute: the 4th may go 30 s after the burst began.
        expect(waitOf(decisions[3]!)).toBeGreaterThan(29_000)
        expect(waitOf(decisions[3]!)).toBeLessThanOrEqual(30_000)
      }))

    it.scoped("ignores the caller's clock: moving it an hour ahead frees nothing", () =>
      Effect.gen(function*() {
        const [store] = yield* stores(1)
        const l = limits({ requestsPerSecond: perMinute(1), requestBurst: 1, tokensPerMinute: 100 })
        expect((yield* store!.tryAdmit("clock", 100, l))._tag).toBe("Admitted")
        yield* TestClock.adjust("1 hour")
        const next = yield* store!.tryAdmit("clock", 100, l)
        expect(next._tag).toBe("Wait")
        expect(waitOf(next)).toBeGreaterThan(59_000)
      }))
  })

  describe("token reconciliation", () => {
    it.scopedLive("a refund lets waiting calls through; a debit beyond the estimate makes them wait longer", () =>
      Effect.gen(function*() {
        const [store] = yield* stores(1)
        // 600 tokens a minute: 10 tokens a second.
        const l = limits({ tokensPerMinute: 600 })
        expect((yield* store!.tryAdmit("usage", 600, l))._tag).toBe("Admitted")
        const before = yield* store!.tryAdmit("usage", 100, l)
        expect(waitOf(before)).toBeGreaterThan(9_000)
        // The call used 300 tokens fewer than estimated.
        yield* store!.adjustTokens("usage", -300, l)
        expect((yield* store!.tryAdmit("usage", 100, l))._tag).toBe("Admitted")
        // Another used 1000 more than estimated: the bucket is ~800 in debt, 90 s of refill.
        yield* store!.adjustTokens("usage", 1_000, l)
        const after = yield* store!.tryAdmit("usage", 100, l)
        expect(waitOf(after)).toBeGreaterThan(85_000)
        expect(waitOf(after)).toBeLessThanOrEqual(90_000)
      }))

    it.scopedLive("a refund never fills the bucket beyond one minute's worth", () =>
      Effect.gen(function*() {
        const [store] = yield* stores(1)
        const l = limits({ tokensPerMinute: 600 })
        yield* store!.adjustTokens("cap", -10_000, l)
        const decisions = yield* Effect.forEach([1, 2], () => store!.tryAdmit("cap", 400, l))
        expect(decisions.map((d) => d._tag)).toEqual(["Admitted", "Wait"])
      }))
  })

  describe("command timeout", () => {
    it.scopedLive("a reply that came while the process was too busy to read it is not taken for a timeout", () =>
      Effect.gen(function*() {
        const client = yield* connect()
        const store = RedisStore.make({ client, prefix: freshPrefix(), commandTimeout: Duration.millis(50) })
        const l = limits({ requestsPerSecond: 10, requestBurst: 1 })
        // The script is loaded once per connection: load it first, so what follows is one round trip.
        expect((yield* store.tryAdmit("warm", 0, l))._tag).toBe("Admitted")
        const decision = yield* Effect.fork(store.tryAdmit("busy", 0, l))
        yield* Effect.yieldNow()
        // The command is out; the process now holds its event loop for 4 command timeouts (as a
        // long garbage collection or a burst of work would), while Redis answers in a millisecond.
        const until = performance.now() + 200
        while (performance.now() < until) {
          // busy
        }
        expect((yield* Fiber.join(decision))._tag).toBe("Admitted")
      }))
  })

  describe("shared cooldown", () => {
    it.scopedLive("is seen by every process and blocks calls that fit the limits", () =>
      Effect.gen(function*() {
        const [a, b] = yield* stores(2)
        const l = limits({ requestsPerSecond: 1_000, requestBurst: 100, tokensPerMinute: 1_000_000 })
        yield* a!.startCooldown("cool", 5_000)
        const decision = yield* b!.tryAdmit("cool", 1, l)
        expect(decision._tag).toBe("Wait")
        expect(waitOf(decision)).toBeGreaterThan(4_000)
        expect(waitOf(decision)).toBeLessThanOrEqual(5_000)
      }))

    it.scopedLive("is extended by a longer cooldown and never shortened by a shorter one", () =>
      Effect.gen(function*() {
        const [a, b] = yield* stores(2)
        const l = limits({})
        yield* a!.startCooldown("extend", 5_000)
        yield* b!.startCooldown("extend", 100)
        expect(waitOf(yield* a!.tryAdmit("extend", 0, l))).toBeGreaterThan(4_000)
        yield* b!.startCooldown("extend", 20_000)
        expect(waitOf(yield* a!.tryAdmit("extend", 0, l))).toBeGreaterThan(19_000)
      }))
  })

  describe("keys", () => {
    const everyKeyOf = (client: Redis, prefix: string) =>
      Effect.promise(() => client.keys(`${prefix}:*`))

    it.scopedLive("every key written expires: state is dropped once it no longer matters", () =>
      Effect.gen(function*() {
        const prefix = freshPrefix()
        const client = yield* connect()
        const [store] = yield* stores(1, prefix)
        const l = limits({ requestsPerSecond: 1, requestBurst: 5, tokensPerMinute: 10_000 })
        yield* store!.tryAdmit("ttl", 500, l)
        yield* store!.adjustTokens("ttl", 200, l)
        yield* store!.startCooldown("ttl", 10_000)
        const keys = yield* everyKeyOf(client, prefix)
        expect(keys.sort()).toEqual(Object.values(RedisStore.keysFor(prefix, "ttl")).sort())
        for (const key of keys) {
          expect(yield* Effect.promise(() => client.pttl(key))).toBeGreaterThan(0)
        }
        // The token bucket lives as long as it takes to refill (700 tokens at 10_000 a minute: 4.2 s).
        const tokensTtl = yield* Effect.promise(() => client.pttl(RedisStore.keysFor(prefix, "ttl").tokens))
        expect(tokensTtl).toBeLessThanOrEqual(4_200)
      }))

    it.scopedLive("share one hash tag per limit key and never contain an API key or braces", () =>
      Effect.gen(function*() {
        const prefix = freshPrefix()
        const client = yield* connect()
        const [store] = yield* stores(1, prefix)
        const l = limits({ requestsPerSecond: 10, tokensPerMinute: 10_000 })
        // A made-up key of xAI's shape, built at run time so secret scanners see no literal key.
        const apiKey = `xai-${"AbCdEfGhIjKlMnOpQrStUvWxYz"}${"0123456789"}`
        const limitKeys = [`${apiKey}:grok-4`, "{tenant}:grok-4", "hash-7f3a:grok-4"]
        for (const key of limitKeys) {
          yield* store!.tryAdmit(key, 10, l)
          yield* store!.startCooldown(key, 1_000)
        }
        const keys = yield* everyKeyOf(client, prefix)
        expect(keys).toHaveLength(3 * limitKeys.length)
        for (const key of keys) {
          expect(key).not.toContain("xai-")
          expect(key).not.toContain("tenant")
          // Exactly one `{...}` section: the hash tag Redis Cluster places the key by.
          expect(key.slice(prefix.length).match(/[{}]/g)).toEqual(["{", "}"])
        }
        const tags = new Set(keys.map((key) => key.slice(key.indexOf("{"), key.indexOf("}") + 1)))
        expect(tags.size).toBe(limitKeys.length)
        expect(tags.has("{hash-7f3a:grok-4}")).toBe(true)
      }))
  })

  describe("Redis Cluster", () => {
    const oneNodeCluster = Effect.acquireRelease(
      Effect.promise(() => startRedisCluster()),
      (server) => Effect.promise(() => server.kill())
    )
    const clusterClient = (port: number) =>
      Effect.acquireRelease(
        Effect.promise(async () => {
          // Give up (instead of retrying forever) if the cluster cannot be reached.
          const cluster = new Cluster([{ host: "127.0.0.1", port }], {
            lazyConnect: true,
            clusterRetryStrategy: (attempt) => attempt > 20 ? null : 50
          })
          await cluster.connect()
          return cluster
        }),
        (cluster) => Effect.sync(() => cluster.disconnect())
      )

    it.scopedLive("decides on a cluster node, which accepts a script only when all its keys share a slot", () =>
      Effect.gen(function*() {
        const server = yield* oneNodeCluster
        const cluster = yield* clusterClient(server.port)
        // The node enforces the rule our keys must follow.
        const crossSlot = yield* Effect.flip(Effect.tryPromise(() => cluster.eval("return 1", 2, "a", "b")))
        expect(String(crossSlot.error)).toContain("CROSSSLOT")

        const prefix = freshPrefix()
        const store = RedisStore.make({ client: cluster, prefix, commandTimeout: Duration.seconds(2) })
        const l = limits({ requestsPerSecond: perMinute(1), requestBurst: 5, tokensPerMinute: 1_000 })
        for (const key of ["hash-1:grok-4", "{team}:grok-4", `xai-${"AbCdEfGhIjKlMnOpQrStUvWx"}:grok-3`]) {
          const decisions = yield* burst([store], 8, key, 10, l)
          expect(admitted(decisions)).toBe(5)
          yield* store.adjustTokens(key, -10, l)
          yield* store.startCooldown(key, 5_000)
          expect(waitOf(yield* store.tryAdmit(key, 0, l))).toBeGreaterThan(4_000)
          const slots = yield* Effect.forEach(
            Object.values(RedisStore.keysFor(prefix, key)),
            (redisKey) => Effect.promise(() => cluster.cluster("KEYSLOT", redisKey))
          )
          expect(new Set(slots).size).toBe(1)
        }
      }))
  })
})

// --- the layer: engine + Redis store ---------------------------------------------------------

const ticket = (key: string, tokens: number): Ticket => ({ key, tokens, priority: "normal" })

/** Fire `count` acquires at once, spread over the limiters; each result says which limiter. */
const acquireAll = (limiters: ReadonlyArray<Service>, count: number, t: Ticket) =>
  Effect.forEach(
    Array.from({ length: count }, (_, i) => i % limiters.length),
    (index) => Effect.map(Effect.either(limiters[index]!.acquire(t)), (result) => ({ index, result })),
    { concurrency: "unbounded" }
  )

const permitsOf = (results: ReadonlyArray<{ readonly result: Either.Either<Permit, RateLimiterRejected> }>) =>
  results.flatMap(({ result }) => Either.isRight(result) ? [result.right] : [])

const reasonsOf = (results: ReadonlyArray<{ readonly result: Either.Either<Permit, RateLimiterRejected> }>) =>
  new Set(results.flatMap(({ result }) => Either.isLeft(result) ? [result.left.reason] : []))

/** Engine options that make counts exact: no slow start, and a call that cannot go soon is refused at once. */
const exact = { startSlow: false, maxWait: "200 millis" } as const

const privateRedis = (port?: number) =>
  Effect.acquireRelease(Effect.promise(() => startRedisServer(port)), (server) => Effect.promise(() => server.kill()))

/** Retry `effect` every 50 ms for up to 10 s: for what waits on a real reconnection. */
const eventually = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.retry(effect, Schedule.intersect(Schedule.spaced("50 millis"), Schedule.recurs(200)))

/** Hang detector: a call against a dead Redis must settle well within this. */
const settles = <A, E>(effect: Effect.Effect<A, E>) => Effect.timeoutFail(effect, {
  duration: "5 seconds",
  onTimeout: () => new Error("the call hung")
})

const tokenLevelAt = (server: RedisServer, prefix: string, key: string) =>
  Effect.flatMap(connect(server.url), (client) => tokenLevel(client, prefix, key))

/** Wait (on real time: Redis's) until `effect` answers something `holds`; fail after 10 s. */
const until = <A, E, R>(effect: Effect.Effect<A, E, R>, holds: (a: A) => boolean, what: string) =>
  eventually(Effect.filterOrFail(effect, holds, () => new Error(`still waiting for ${what}`)))

interface QueuedCall {
  readonly name: string
  readonly priority: Priority
  /** Milliseconds from now (the limiter's clock) to the call's own deadline. */
  readonly deadlineIn?: number
}

/**
 * Calls on key `k` of a limiter whose only slot (`maxConcurrency: 1`) the test holds, so that
 * they queue until it lets go. Each call, once granted, records its name and releases its
 * permit at once; `exits` says how each ended, in the order they were made.
 */
const callsOn = (limiter: Service) => {
  const granted: Array<string> = []
  const fibers: Array<Fiber.RuntimeFiber<Exit.Exit<void, RateLimiterRejected>>> = []
  const call = (c: QueuedCall) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const deadline = c.deadlineIn === undefined ? undefined : now + c.deadlineIn
      fibers.push(
        yield* Effect.fork(Effect.exit(Effect.flatMap(
          limiter.acquire({ key: "k", tokens: 0, priority: c.priority, deadline }),
          (permit) => Effect.zipRight(Effect.sync(() => granted.push(c.name)), permit.release({ status: 200 }))
        )))
      )
    })
  return {
    granted,
    /** Make the calls, and wait until they are all in the queue. */
    queue: (calls: ReadonlyArray<QueuedCall>) =>
      Effect.zipRight(
        Effect.forEach(calls, call, { discard: true }),
        until(limiter.stats("k"), (stats) => stats.queued === fibers.length, "the calls to queue")
      ),
    call,
    /** How every call ended (a hang would fail the test: `settles`). */
    outcomes: Effect.suspend(() =>
      Effect.timeoutFail(Effect.forEach(fibers, (fiber) => Effect.map(Fiber.join(fiber), reasonOfExit)), {
        duration: "20 seconds",
        onTimeout: () => new Error("a call hung")
      })
    )
  }
}

const reasonOfExit = (exit: Exit.Exit<unknown, RateLimiterRejected>): string =>
  Exit.isSuccess(exit) ? "granted" : Option.getOrElse(
    Option.map(Cause.failureOption(exit.cause), (error) => error.reason),
    () => Cause.pretty(exit.cause)
  )

/**
 * Wait until a call of 100 tokens on key `k` is debited in Redis (a limiter of 6000 tokens a
 * minute, refilling 100 a second): until then its decisions are taken locally.
 */
const decidedInRedisAgain = (limiter: Service, admin: Redis, prefix: string) =>
  until(
    Effect.gen(function*() {
      const before = (yield* tokenLevel(admin, prefix, "k")) ?? 6_000
      const permit = yield* limiter.acquire(ticket("k", 100))
      yield* permit.release({ status: 200, usedTokens: 100 })
      return before - ((yield* tokenLevel(admin, prefix, "k")) ?? 6_000)
    }),
    (spent) => spent > 90 && spent <= 100,
    "a decision taken in Redis"
  )

/**
 * Pause Redis's clients for `millis` (`CLIENT PAUSE ... ALL`: commands hang, connections stay
 * open), through `admin`. Answers whether Redis has answered again: a PING sent right after the
 * pause is answered only when it ends.
 */
const pauseClients = (admin: Redis, millis: number) =>
  Effect.gen(function*() {
    yield* Effect.promise(() => admin.call("CLIENT", "PAUSE", String(millis), "ALL"))
    let answered = false
    yield* Effect.forkScoped(Effect.promise(() => admin.ping().then(() => void (answered = true))))
    return () => answered
  })

describe("RateLimiterRedis", () => {
  describe("options", () => {
    const refusal = (options: RateLimiterRedis.Options) => Effect.flip(Effect.scoped(RateLimiterRedis.make(options)))

    it.effect("refuses a malformed URL without echoing it (it may hold a password)", () =>
      Effect.gen(function*() {
        const notRedis = yield* refusal({ url: "https://user:s3cret@cache.internal:6379" })
        expect(notRedis._tag).toBe("RedisOptionsError")
        expect(notRedis.message).toContain("redis://")
        expect(notRedis.message).not.toContain("s3cret")
        const noHost = yield* refusal({ url: "redis://:s3cret@" })
        expect(noHost.message).not.toContain("s3cret")
        expect((yield* refusal({ url: "not a url" }))._tag).toBe("RedisOptionsError")
      }))

    it.effect("refuses impossible settings with a message naming the option", () =>
      Effect.gen(function*() {
        const url = "redis://127.0.0.1:1"
        const client = new Redis({ lazyConnect: true })
        const messages = yield* Effect.forEach([
          refusal({ url, client } as unknown as RateLimiterRedis.Options),
          refusal({ url, onUnavailable: { fallback: { share: 0 } } }),
          refusal({ url, onUnavailable: { fallback: { share: 1.5 } } }),
          refusal({ url, prefix: "app{1}" }),
          refusal({ url, commandTimeout: 0 }),
          refusal({ url, connectTimeout: "forever" as Duration.DurationInput })
        ], (refused) => Effect.map(refused, (error) => error.message))
        expect(messages).toEqual([
          expect.stringContaining("exactly one of `url` and `client`"),
          expect.stringContaining("onUnavailable.fallback.share"),
          expect.stringContaining("onUnavailable.fallback.share"),
          expect.stringContaining("prefix"),
          expect.stringContaining("commandTimeout"),
          expect.stringContaining("connectTimeout")
        ])
        // The engine's options are checked too, with the memory limiter's error.
        const engine = yield* refusal({ url, maxQueued: -1 })
        expect(engine._tag).toBe("InvalidLimiterOptions")
      }))
  })

  describe("one quota for several processes", () => {
    it.scopedLive("two limiters (own connections, own engines) admit together only what the quota allows", () =>
      Effect.gen(function*() {
        const options = { url: redisUrl, prefix: freshPrefix(), limits: { tokensPerMinute: 1_000 }, ...exact }
        const a = yield* RateLimiterRedis.make(options)
        const b = yield* RateLimiterRedis.make(options)
        const early = yield* acquireAll([a], 4, ticket("shared", 100))
        const racing = yield* acquireAll([a, b], 20, ticket("shared", 100))
        // 1000 tokens, 100 a call: 10 in all, however the race between A and B went.
        expect(permitsOf(early)).toHaveLength(4)
        expect(permitsOf(racing)).toHaveLength(6)
        expect(reasonsOf(racing)).toEqual(new Set(["queue-timeout"]))

        // A's first calls used no tokens: their refund lets B through, exactly as far as it goes.
        for (const permit of permitsOf(early)) yield* permit.release({ status: 200, usedTokens: 0 })
        expect(permitsOf(yield* acquireAll([b], 10, ticket("shared", 100)))).toHaveLength(4)
      }))

    it.scopedLive("a 429 seen by one limiter pauses the key in the other", () =>
      Effect.gen(function*() {
        const options = { url: redisUrl, prefix: freshPrefix(), limits: { requestsPerSecond: 100 }, ...exact }
        const a = yield* RateLimiterRedis.make(options)
        const b = yield* RateLimiterRedis.make(options)
        const permit = yield* a.acquire(ticket("busy", 0))
        yield* permit.release({ status: 429, rateLimited: true, retryAfter: Duration.seconds(30) })
        const refused = yield* Effect.flip(b.acquire(ticket("busy", 0)))
        expect(refused.reason).toBe("queue-timeout")
        // Another key is not affected.
        yield* b.acquire(ticket("calm", 0))
      }))

    it.scopedLive("a limiter still slow starting, held back by another's cooldown, serves its queue once the cooldown ends", () =>
      Effect.gen(function*() {
        const options = { url: redisUrl, prefix: freshPrefix(), maxWait: "2 seconds" } as const
        const a = yield* RateLimiterRedis.make(options)
        const b = yield* RateLimiterRedis.make({ ...options, startSlow: false })
        const refused = yield* b.acquire(ticket("cool", 0))
        yield* refused.release({ status: 429, rateLimited: true, refusedFor: "requests", retryAfter: Duration.millis(300) })
        // A knows no rate yet: one call at a time. The first asks Redis (and holds that one slot
        // meanwhile), the others queue behind it; Redis says "wait for the cooldown".
        const calls = yield* Effect.forEach(
          Array.from({ length: 5 }),
          () => Effect.either(Effect.flatMap(a.acquire(ticket("cool", 0)), (permit) => permit.release({ status: 200 }))),
          { concurrency: "unbounded" }
        )
        // Every call goes after the 300 ms cooldown; none sits out maxWait and times out.
        expect(calls.filter(Either.isLeft)).toEqual([])
      }))

    it.live("three real processes share one quota and never exceed it together", () =>
      Effect.gen(function*() {
        const program = yield* Effect.acquireRelease(
          Effect.promise(() => bundleLimiterProgram()),
          (program) => Effect.promise(() => program.remove())
        )
        // 1200 tokens a minute, 200 per call: 6 calls, and the 7th would need 10 s of refill.
        const input = {
          url: redisUrl,
          prefix: freshPrefix(),
          key: "fleet",
          calls: 10,
          tokensPerCall: 200,
          tokensPerMinute: 1_200
        }
        const outputs = yield* Effect.promise(() => Promise.all([1, 2, 3].map(() => program.run(input))))
        expect(outputs.reduce((sum, output) => sum + output.admitted, 0)).toBe(6)
        for (const output of outputs) {
          // Named on failure: any reason but a queue timeout means a process did not share the quota.
          expect(Object.keys(output.refused).filter((reason) => reason !== "queue-timeout")).toEqual([])
        }
      }).pipe(Effect.scoped))

    it.scopedLive("takes one round trip per decision", () =>
      Effect.gen(function*() {
        const server = yield* privateRedis()
        const admin = yield* connect(server.url)
        const limiter = yield* RateLimiterRedis.make({
          url: server.url,
          limits: { requestsPerSecond: 10_000, tokensPerMinute: 10_000_000 },
          ...exact
        })
        const scriptCalls = Effect.promise(async () => {
          const stats = await admin.info("commandstats")
          return [...stats.matchAll(/cmdstat_(?:eval|evalsha):calls=(\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0)
        })
        // The first decision on a connection may also load the script (EVALSHA, NOSCRIPT, EVAL).
        yield* Effect.flatMap(limiter.acquire(ticket("warm-up", 100)), (permit) => permit.release({ status: 200 }))
        const before = yield* scriptCalls
        for (let i = 0; i < 50; i++) {
          const permit = yield* limiter.acquire(ticket(`trip-${i % 5}`, 100))
          // Usage as estimated: nothing to reconcile.
          yield* permit.release({ status: 200, usedTokens: 100 })
        }
        expect((yield* scriptCalls) - before).toBe(50)
      }))
  })

  describe("when Redis stops", () => {
    const failing = (url: string, prefix: string) =>
      RateLimiterRedis.make({
        url,
        prefix,
        onUnavailable: "fail",
        commandTimeout: "250 millis",
        limits: { tokensPerMinute: 6_000 },
        ...exact
      })

    it.scopedLive("with \"fail\", calls are refused as unavailable; once Redis is back they are shared again", () =>
      Effect.gen(function*() {
        const server = yield* privateRedis()
        const prefix = freshPrefix()
        const limiter = yield* failing(server.url, prefix)
        yield* limiter.acquire(ticket("k", 100))

        yield* Effect.promise(() => server.kill())
        const refused = yield* settles(Effect.flip(limiter.acquire(ticket("k", 100))))
        expect(refused.reason).toBe("unavailable")
        expect(refused.retryable).toBe(true)

        // Same port, empty state: the limiter reconnects by itself and decides in Redis again.
        const restarted = yield* privateRedis(server.port)
        yield* eventually(limiter.acquire(ticket("k", 100)))
        expect(yield* tokenLevelAt(restarted, prefix, "k")).toBeCloseTo(5_900, -1)
      }))

    it.scopedLive("with \"fail\", a Redis that hangs refuses calls within the command timeout instead of hanging them", () =>
      Effect.gen(function*() {
        const server = yield* privateRedis()
        const limiter = yield* failing(server.url, freshPrefix())
        yield* limiter.acquire(ticket("k", 100))
        server.freeze()
        const refused = yield* settles(Effect.flip(limiter.acquire(ticket("k", 100)))).pipe(
          Effect.ensuring(Effect.sync(() => server.thaw()))
        )
        expect(refused.reason).toBe("unavailable")
      }))

    it.scopedLive("a client of your own, even with ioredis defaults, cannot hang a call when Redis hangs", () =>
      Effect.gen(function*() {
        const server = yield* privateRedis()
        // ioredis defaults: offline queue on, no command timeout, 20 retries per request.
        const client = yield* connect(server.url, {})
        const limiter = yield* RateLimiterRedis.make({
          client,
          onUnavailable: "fail",
          commandTimeout: "250 millis",
          limits: { tokensPerMinute: 6_000 },
          ...exact
        })
        yield* limiter.acquire(ticket("k", 100))
        server.freeze()
        const refused = yield* settles(Effect.flip(limiter.acquire(ticket("k", 100)))).pipe(
          Effect.ensuring(Effect.sync(() => server.thaw()))
        )
        expect(refused.reason).toBe("unavailable")
        expect(refused.message).toContain("did not answer")
      }))

    it.scopedLive("with a fallback, each process keeps to its share locally, then returns to Redis, which counts what it spent", () =>
      Effect.gen(function*() {
        const server = yield* privateRedis()
        const prefix = freshPrefix()
        const limiter = yield* RateLimiterRedis.make({
          url: server.url,
          prefix,
          onUnavailable: { fallback: { share: 0.5 } },
          commandTimeout: "250 millis",
          limits: { tokensPerMinute: 1_000 },
          ...exact
        })
        expect(permitsOf(yield* acquireAll([limiter], 3, ticket("k", 100)))).toHaveLength(3)
        expect(yield* tokenLevelAt(server, prefix, "k")).toBeCloseTo(700, -1)

        yield* Effect.promise(() => server.kill())
        // Half of 1000 tokens a minute: 5 calls of 100.
        const local = yield* settles(acquireAll([limiter], 10, ticket("k", 100)))
        expect(permitsOf(local)).toHaveLength(5)
        expect(reasonsOf(local)).toEqual(new Set(["queue-timeout"]))

        // Same port, empty state. The local bucket is empty (100 tokens take 12 s to refill at
        // half rate): the next admission can only come from Redis, once the limiter is back on it.
        // Going back, it handed over the 500 tokens it spent alone: 1000 - 500 - 100, refilling
        // 1000 a minute since (without the hand-over: 900).
        const restarted = yield* privateRedis(server.port)
        yield* eventually(limiter.acquire(ticket("k", 100)))
        const level = yield* tokenLevelAt(restarted, prefix, "k")
        expect(level).toBeGreaterThanOrEqual(395)
        expect(level).toBeLessThan(500)
      }))

    it.scopedLive("a Redis unreachable at start-up does not stop the application", () =>
      Effect.gen(function*() {
        const url = `redis://127.0.0.1:${yield* Effect.promise(() => freePort())}`
        const local = yield* RateLimiterRedis.make({ url, connectTimeout: "500 millis", ...exact })
        yield* local.acquire(ticket("k", 100))
        const failing = yield* RateLimiterRedis.make({ url, connectTimeout: "500 millis", onUnavailable: "fail" })
        expect((yield* Effect.flip(failing.acquire(ticket("k", 100)))).reason).toBe("unavailable")
      }))
  })

  describe("Redis lost while calls are queued", () => {
    /**
     * One process's limiter: 14 calls a second (7 at the default local share: one every 1000/7
     * ms, no whole number), one at a time, queued calls waiting up to 20 s.
     */
    const paced = (url: string, onUnavailable?: RateLimiterRedis.OnUnavailable) =>
      RateLimiterRedis.make({
        url,
        prefix: freshPrefix(),
        ...(onUnavailable === undefined ? {} : { onUnavailable }),
        commandTimeout: "250 millis",
        limits: { requestsPerSecond: 14, maxConcurrency: 1 },
        startSlow: false,
        maxWait: "20 seconds"
      })

    const mixedQueue: ReadonlyArray<QueuedCall> = [
      { name: "background", priority: "background" },
      { name: "normal-1", priority: "normal" },
      // Third in line once Redis is gone, 143 ms apart at the local pace: its turn comes at
      // least 286 ms after the slot is let go, later than its own deadline.
      { name: "normal-250ms", priority: "normal", deadlineIn: 250 },
      { name: "critical", priority: "critical" },
      { name: "normal-2", priority: "normal" }
    ]

    it.scopedLive("killed: with the default fallback, the queue is served locally in priority order, each call under its own deadline", () =>
      Effect.gen(function*() {
        const server = yield* privateRedis()
        const limiter = yield* paced(server.url)
        const holder = yield* limiter.acquire(ticket("k", 0))
        const calls = callsOn(limiter)
        yield* calls.queue(mixedQueue)
        yield* Effect.promise(() => server.kill())
        yield* holder.release({ status: 200 })
        // A call made after the loss is decided by the same policy: it queues by its priority.
        yield* calls.call({ name: "critical-after-loss", priority: "critical" })
        expect(yield* calls.outcomes).toEqual(["granted", "granted", "deadline", "granted", "granted", "granted"])
        expect(calls.granted).toEqual(["critical", "critical-after-loss", "normal-1", "normal-2", "background"])
      }))

    it.scopedLive("killed: with \"fail\", each queued call and each later one is refused as unavailable; back, they are shared again", () =>
      Effect.gen(function*() {
        const server = yield* privateRedis()
        const limiter = yield* paced(server.url, "fail")
        const holder = yield* limiter.acquire(ticket("k", 0))
        const calls = callsOn(limiter)
        yield* calls.queue(mixedQueue.filter((call) => call.deadlineIn === undefined))
        yield* Effect.promise(() => server.kill())
        yield* holder.release({ status: 200 })
        yield* calls.call({ name: "after-loss", priority: "critical" })
        expect(yield* calls.outcomes).toEqual(["unavailable", "unavailable", "unavailable", "unavailable", "unavailable"])
        expect(calls.granted).toEqual([])

        yield* privateRedis(server.port)
        yield* eventually(Effect.flatMap(limiter.acquire(ticket("k", 0)), (permit) => permit.release({ status: 200 })))
      }))

    it.scopedLive("restarted: the fleet is back on Redis within seconds, and Redis holds the pause a process was told while alone", () =>
      Effect.gen(function*() {
        const server = yield* privateRedis()
        const prefix = freshPrefix()
        // 1200 tokens a minute (20 a second); 600 locally.
        const options = { url: server.url, prefix, commandTimeout: "250 millis", limits: { tokensPerMinute: 1_200 }, ...exact } as const
        const limiter = yield* RateLimiterRedis.make(options)
        const spend = Effect.flatMap(limiter.acquire(ticket("k", 200)), (permit) => permit.release({ status: 200, usedTokens: 200 }))
        yield* spend

        yield* Effect.promise(() => server.kill())
        // Alone (the default fallback), the process spends 400 tokens and is told to pause 30 s.
        yield* spend
        yield* spend
        const refused = yield* limiter.acquire(ticket("k", 200))
        yield* refused.release({ status: 429, rateLimited: true, retryAfter: Duration.seconds(30) })

        // Same port, empty state. The first decision back on Redis hands over the pause and the
        // 400 tokens still unrefilled: another process, which never saw the 429, waits too.
        const restarted = yield* privateRedis(server.port)
        const admin = yield* connect(restarted.url)
        const coolingMillis = Effect.promise(() => admin.pttl(RedisStore.keysFor(prefix, "k").cooldown))
        yield* until(
          Effect.zipRight(Effect.either(limiter.acquire(ticket("k", 200))), coolingMillis),
          (millis) => millis > 0,
          "the pause to reach Redis"
        )
        expect(yield* coolingMillis).toBeGreaterThan(20_000)
        expect(yield* coolingMillis).toBeLessThanOrEqual(30_000)
        // 1200 - 400, refilling 20 a second since (a fresh Redis would say 1200).
        const level = yield* tokenLevel(admin, prefix, "k")
        expect(level).toBeGreaterThanOrEqual(795)
        expect(level).toBeLessThan(1_000)
        const otherProcess = yield* RateLimiterRedis.make(options)
        expect((yield* Effect.flip(otherProcess.acquire(ticket("k", 100)))).reason).toBe("queue-timeout")
      }))

    it.scopedLive("paused (CLIENT PAUSE, a hang): the queue is served locally while Redis hangs, then decisions are shared again", () =>
      Effect.gen(function*() {
        const server = yield* privateRedis()
        const prefix = freshPrefix()
        const limiter = yield* RateLimiterRedis.make({
          url: server.url,
          prefix,
          commandTimeout: "250 millis",
          limits: { requestsPerSecond: 14, tokensPerMinute: 6_000, maxConcurrency: 1 },
          startSlow: false,
          maxWait: "20 seconds"
        })
        const holder = yield* limiter.acquire(ticket("k", 0))
        const calls = callsOn(limiter)
        yield* calls.queue(mixedQueue.filter((call) => call.deadlineIn === undefined))
        const redisAnswers = yield* pauseClients(yield* connect(server.url), 6_000)
        yield* holder.release({ status: 200 })
        expect(yield* calls.outcomes).toEqual(["granted", "granted", "granted", "granted"])
        expect(calls.granted).toEqual(["critical", "normal-1", "normal-2", "background"])
        // All of them while Redis still answered nothing: each decision waited at most the
        // command timeout for it, then was taken locally.
        expect(redisAnswers()).toBe(false)

        // Once Redis answers, a call's tokens are debited there again.
        yield* decidedInRedisAgain(limiter, yield* connect(server.url), prefix)
      }))

    it.scopedLive("paused (CLIENT PAUSE, a hang): with \"fail\", each queued call is refused within the command timeout, none hangs", () =>
      Effect.gen(function*() {
        const server = yield* privateRedis()
        const limiter = yield* paced(server.url, "fail")
        const holder = yield* limiter.acquire(ticket("k", 0))
        const calls = callsOn(limiter)
        yield* calls.queue(mixedQueue.filter((call) => call.deadlineIn === undefined))
        const redisAnswers = yield* pauseClients(yield* connect(server.url), 6_000)
        yield* holder.release({ status: 200 })
        expect(yield* calls.outcomes).toEqual(["unavailable", "unavailable", "unavailable", "unavailable"])
        expect(redisAnswers()).toBe(false)
      }))

    it.scopedLive("frozen (SIGSTOP): calls made while Redis hangs are served locally; thawed, decisions are shared again", () =>
      Effect.gen(function*() {
        const server = yield* privateRedis()
        const prefix = freshPrefix()
        const limiter = yield* RateLimiterRedis.make({
          url: server.url,
          prefix,
          commandTimeout: "250 millis",
          limits: { tokensPerMinute: 6_000 },
          ...exact
        })
        yield* Effect.flatMap(limiter.acquire(ticket("k", 100)), (permit) => permit.release({ status: 200, usedTokens: 100 }))
        server.freeze()
        const whileFrozen = yield* settles(acquireAll([limiter], 5, ticket("k", 100))).pipe(
          Effect.ensuring(Effect.sync(() => server.thaw()))
        )
        expect(permitsOf(whileFrozen)).toHaveLength(5)
        for (const permit of permitsOf(whileFrozen)) yield* permit.release({ status: 200, usedTokens: 100 })
        yield* decidedInRedisAgain(limiter, yield* connect(server.url), prefix)
      }))
  })
})
